//! The readiness tracker replayed on recorded watch events (fixtures/recorded/readiness).

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gitops_harness::crds::CrdCatalog;
use gitops_harness::graph;
use gitops_harness::readiness::{self, ComponentState, Outcome};
use gitops_harness::repo::{ObjectRef, Repo};
use gitops_harness::reports::progress::Progress;

fn plan() -> graph::Plan {
    let repo = Repo::load(&common::fixtures().join("gitops-linkerd"), Some(std::path::Path::new("clusters/my-cluster"))).unwrap();
    graph::plan(&repo).unwrap()
}

fn recording(name: &str) -> Vec<readiness::RecordedEvent> {
    readiness::load_recording(&common::fixtures().join("recorded/readiness").join(name)).unwrap()
}

#[test]
fn recordings_match_the_crd_schemas() {
    let crds = CrdCatalog::load_dir(&common::crds_dir()).unwrap();
    for f in ["all-ready.jsonl", "linkerd-missing-trust-anchor.jsonl", "helm-install-failed.jsonl", "stuck-reconciling.jsonl"] {
        for (i, ev) in recording(f).iter().enumerate() {
            let errors = crds.validate_with_status(&ev.object).unwrap_or_else(|| panic!("{f}:{}: no CRD for {}", i + 1, ev.object["kind"]));
            assert!(errors.is_empty(), "{f}:{}: {errors:?}", i + 1);
        }
    }
    // The status really is checked: a malformed condition is caught.
    let mut bad = recording("all-ready.jsonl").pop().unwrap().object;
    bad["status"]["conditions"][0]["status"] = serde_json::json!("Maybe");
    assert!(!crds.validate_with_status(&bad).unwrap().is_empty());
}

#[test]
fn all_ready_in_plan_order_with_timeline() {
    let plan = plan();
    let (outcome, tracker) = readiness::replay(&plan, &recording("all-ready.jsonl"), Duration::from_secs(900), |_, _| {});
    assert!(matches!(outcome, Outcome::AllReady { .. }), "{outcome}");
    let rows = tracker.timeline();
    let pos = |name: &str| rows.iter().position(|r| r.key.name == name && r.key.kind == "Kustomization").unwrap();
    assert!(pos("cert-manager") < pos("linkerd") && pos("linkerd") < pos("flagger") && pos("ingress-nginx") < pos("apps"));
    assert!(rows.iter().all(|r| r.ready.is_some()));
    let table = readiness::render_timeline(&rows);
    assert!(table.contains("Kustomization flux-system/apps") && table.contains("duration"), "{table}");
}

#[test]
fn blocked_components_name_their_dependency() {
    let mut blocked = Vec::new();
    readiness::replay(&plan(), &recording("all-ready.jsonl"), Duration::from_secs(900), |c, _| {
        if let ComponentState::Blocked { on } = &c.state {
            blocked.push((c.key.name.clone(), on.clone()));
        }
    });
    assert!(blocked.contains(&("linkerd".to_string(), "flux-system/cert-manager".to_string())), "{blocked:?}");
    assert!(blocked.contains(&("linkerd-control-plane".to_string(), "linkerd/linkerd-crds".to_string())), "{blocked:?}");
}

#[test]
fn build_failure_names_component_and_kustomize_message() {
    let (outcome, _) = readiness::replay(&plan(), &recording("linkerd-missing-trust-anchor.jsonl"), Duration::from_secs(900), |_, _| {});
    match &outcome {
        Outcome::Failed { key, state: ComponentState::Failed { reason, message }, .. } => {
            assert_eq!(key.name, "linkerd");
            assert_eq!(reason, "BuildFailed");
            assert!(message.contains("ca.crt"), "{message}");
        }
        other => panic!("expected a failure, got {other}"),
    }
    assert!(outcome.to_string().contains("Kustomization flux-system/linkerd failed"));
}

#[test]
fn stalled_helm_release_fails_at_once() {
    let (outcome, _) = readiness::replay(&plan(), &recording("helm-install-failed.jsonl"), Duration::from_secs(900), |_, _| {});
    match &outcome {
        Outcome::Failed { key, state: ComponentState::Stalled { reason, message }, elapsed, .. } => {
            assert_eq!(key.to_string(), "HelmRelease flagger-system/flagger");
            assert_eq!(reason, "RetriesExceeded");
            assert!(message.contains("Helm install failed") && message.contains("context deadline exceeded"), "{message}");
            assert!(*elapsed < Duration::from_secs(450), "failed when Stalled, not at the deadline: {elapsed:?}");
        }
        other => panic!("expected Stalled, got {other}"),
    }
}

#[test]
fn stuck_reconciling_hits_our_deadline_with_last_states() {
    let (outcome, _) = readiness::replay(&plan(), &recording("stuck-reconciling.jsonl"), Duration::from_secs(600), |_, _| {});
    match &outcome {
        Outcome::TimedOut { after, not_ready } => {
            assert_eq!(*after, Duration::from_secs(600));
            let cp = not_ready.iter().find(|(k, _)| k.name == "linkerd-control-plane").expect("control plane listed");
            assert!(matches!(&cp.1, ComponentState::Reconciling { message } if message.contains("install")), "{cp:?}");
            assert!(not_ready.iter().any(|(k, s)| k.name == "apps" && matches!(s, ComponentState::Blocked { .. })));
        }
        other => panic!("expected a timeout, got {other}"),
    }
    let text = outcome.to_string();
    assert!(text.contains("not Ready within 600s") && text.contains("HelmRelease linkerd/linkerd-control-plane: reconciling"), "{text}");
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn plain_progress_renders_each_change() {
    let buf = Buf::default();
    let mut progress = Progress::plain(Box::new(buf.clone()));
    let (outcome, _) = readiness::replay(&plan(), &recording("linkerd-missing-trust-anchor.jsonl"), Duration::from_secs(900), |c, _| {
        progress.on_change(c)
    });
    progress.finish(&outcome);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        // cert-manager waits (wait: true) for its HelmRelease (wave 1), so linkerd is wave 2.
        text.contains("wave 2 Kustomization flux-system/linkerd") && text.contains("waiting     waiting for flux-system/cert-manager"),
        "{text}"
    );
    assert!(text.contains("failed      BuildFailed: kustomize build failed"), "{text}");
    assert!(text.lines().last().unwrap().starts_with("✘ Kustomization flux-system/linkerd failed"), "{text}");
}

/// A watch event for `(kind, namespace, name)` with Ready `(status, reason, message)`.
fn event(
    t: f64,
    (kind, ns, name): (&str, &str, &str),
    (ready, reason, message): (&str, &str, &str),
    stalled: bool,
) -> readiness::RecordedEvent {
    let api = if kind == "Kustomization" { "kustomize.toolkit.fluxcd.io/v1" } else { "helm.toolkit.fluxcd.io/v2" };
    let mut conditions = vec![serde_json::json!({"type": "Ready", "status": ready, "reason": reason, "message": message,
        "lastTransitionTime": "2026-11-20T10:00:05Z", "observedGeneration": 1})];
    if stalled {
        conditions.push(serde_json::json!({"type": "Stalled", "status": "True", "reason": reason, "message": message,
            "lastTransitionTime": "2026-11-20T10:00:05Z", "observedGeneration": 1}));
    }
    serde_json::from_value(serde_json::json!({"t": t, "type": "MODIFIED", "object": {"apiVersion": api, "kind": kind,
        "metadata": {"name": name, "namespace": ns, "generation": 1},
        "status": {"observedGeneration": 1, "conditions": conditions}}}))
    .unwrap()
}

#[test]
fn objects_outside_the_plan_neither_fail_nor_hold_up_the_run() {
    // An existing cluster's own app, broken and stuck, next to a bootstrap that succeeds.
    let mut events = vec![
        event(1.0, ("Kustomization", "team-a", "legacy"), ("False", "BuildFailed", "kustomize build failed: accumulating resources"), true),
        event(2.0, ("HelmRelease", "team-b", "slow"), ("Unknown", "Progressing", "Running 'install' action with timeout of 5m0s"), false),
    ];
    events.extend(recording("all-ready.jsonl"));
    events.sort_by(|a, b| a.t.total_cmp(&b.t));
    let (outcome, tracker) = readiness::replay(&plan(), &events, Duration::from_secs(900), |_, _| {});
    assert!(matches!(outcome, Outcome::AllReady { .. }), "{outcome}");
    // Still shown (progress and timeline), just not deciding.
    let legacy = tracker.tracks().iter().find(|(k, _)| k.name == "legacy").expect("tracked");
    assert!(!legacy.1.required && matches!(legacy.1.state, ComponentState::Stalled { .. }));
}

#[test]
fn a_required_root_kustomization_outside_the_plan_fails_at_once() {
    // The bootstrap's root Kustomization cannot fetch the repo from the harness git server.
    let root = ObjectRef::of_kind("Kustomization", Some("flux-system"), "flux-system");
    let msg = "failed to checkout and determine revision: unable to clone 'http://172.17.0.1:8765/repo.git': connection refused";
    let events = vec![event(5.0, ("Kustomization", "flux-system", "flux-system"), ("False", "ArtifactFailed", msg), true)];
    let tracker = readiness::Tracker::new(&plan()).require(root.clone());
    let (outcome, _) = readiness::replay_with(tracker, &events, Duration::from_secs(900), |_, _| {});
    match &outcome {
        Outcome::Failed { key, state: ComponentState::Stalled { message, .. }, elapsed, .. } => {
            assert_eq!(key, &root);
            assert!(message.contains("connection refused"), "{message}");
            assert_eq!(*elapsed, Duration::from_secs(5));
        }
        other => panic!("expected the root to fail, got {other}"),
    }
    // Without requiring it, the same recording only times out.
    let (outcome, _) = readiness::replay(&plan(), &events, Duration::from_secs(900), |_, _| {});
    assert!(matches!(outcome, Outcome::TimedOut { .. }), "{outcome}");
}
