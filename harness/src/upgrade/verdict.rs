//! The upgrade's assertions, each decided on its own evidence (pure functions of what was
//! observed, so each is tested without a cluster).

use serde::Serialize;

use super::availability::AvailabilityReport;
use super::snapshot::Snapshot;
use crate::check::{self, Finding, Severity};
use crate::readiness::{ComponentState, Outcome};

/// How an assertion came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Held.
    Pass,
    /// A regression.
    Fail,
    /// Held, with something a reviewer should read.
    Warn,
    /// Not decidable here (the reason is in the summary).
    Skipped,
}

impl Status {
    /// A mark for tables.
    pub fn mark(self) -> &'static str {
        match self {
            Status::Pass => "✅ pass",
            Status::Fail => "❌ FAIL",
            Status::Warn => "⚠️ warn",
            Status::Skipped => "⏭️ skipped",
        }
    }
}

/// One assertion and its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Assertion {
    /// Stable id (`ready-at-target`, `pods-kept`, …), the JUnit case name.
    pub id: &'static str,
    /// What it asserts.
    pub title: &'static str,
    /// Result.
    pub status: Status,
    /// One line.
    pub summary: String,
    /// The evidence, one fact per line.
    pub evidence: Vec<String>,
}

impl Assertion {
    fn new(id: &'static str, title: &'static str, status: Status, summary: impl Into<String>, evidence: Vec<String>) -> Assertion {
        Assertion { id, title, status, summary: summary.into(), evidence }
    }
}

/// Every component of the target plan Ready at the target revision.
pub fn ready_at_target(outcome: &Outcome, components: usize, revision: &str) -> Assertion {
    const T: &str = "every component of the target plan is Ready at the target revision";
    match outcome {
        Outcome::AllReady { elapsed } => Assertion::new(
            "ready-at-target",
            T,
            Status::Pass,
            format!("{components} components Ready at {revision} after {:.0}s", elapsed.as_secs_f64()),
            vec![],
        ),
        Outcome::Failed { key, state, elapsed } => Assertion::new(
            "ready-at-target",
            T,
            Status::Fail,
            format!("{key} failed at {revision} after {:.0}s: {}", elapsed.as_secs_f64(), state.detail()),
            vec![format!("{key}: {} {}", state.label(), state.detail())],
        ),
        Outcome::TimedOut { after, not_ready } => Assertion::new(
            "ready-at-target",
            T,
            Status::Fail,
            format!("{} of {components} components not Ready at {revision} after {}s", not_ready.len(), after.as_secs()),
            not_ready.iter().map(|(k, s)| format!("{k}: {} {}", s.label(), not_ready_detail(s))).collect(),
        ),
    }
}

fn not_ready_detail(s: &ComponentState) -> String {
    match s {
        ComponentState::Pending => "(never seen: not created, or its parent did not apply it)".to_string(),
        other => other.detail(),
    }
}

/// What happened to the workloads: those the upgrade changed, and pods lost or restarted in
/// those it did not change.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkloadChanges {
    /// Workloads whose pod template changed (rolled on purpose).
    pub touched: Vec<String>,
    /// Workloads that appeared.
    pub added: Vec<String>,
    /// Workloads that went away.
    pub removed: Vec<String>,
    /// Regressions: pods replaced or restarted in a workload whose template did not change.
    pub regressions: Vec<String>,
}

/// Compare the workloads before and after.
pub fn workload_changes(before: &Snapshot, after: &Snapshot) -> WorkloadChanges {
    let mut out = WorkloadChanges::default();
    for (key, b) in &before.workloads {
        let Some(a) = after.workloads.get(key) else {
            out.removed.push(key.clone());
            continue;
        };
        if a.template != b.template {
            out.touched.push(key.clone());
            continue;
        }
        // Scaling down on purpose removes pods; more than that is a regression.
        let allowed_gone = (b.replicas - a.replicas).max(0) as usize;
        let gone: Vec<_> = b.pods.iter().filter(|(uid, _)| !a.pods.contains_key(*uid)).collect();
        if gone.len() > allowed_gone {
            for (uid, p) in &gone {
                out.regressions.push(format!("{key}: pod {} (uid {uid}) was replaced although the workload did not change", p.name));
            }
        }
        for (uid, p) in &b.pods {
            if let Some(now) = a.pods.get(uid)
                && now.restarts > p.restarts
            {
                out.regressions.push(format!("{key}: pod {} restarted {} time(s) during the upgrade", p.name, now.restarts - p.restarts));
            }
        }
    }
    out.added = after.workloads.keys().filter(|k| !before.workloads.contains_key(*k)).cloned().collect();
    out
}

/// Workloads the diff did not touch keep their pods.
pub fn pods_kept(changes: &WorkloadChanges, workloads: usize) -> Assertion {
    const T: &str = "workloads the upgrade did not change keep their pods (UIDs, restart counts)";
    let untouched = workloads.saturating_sub(changes.touched.len() + changes.removed.len());
    let mut evidence: Vec<String> = changes.regressions.clone();
    evidence.extend(changes.touched.iter().map(|k| format!("{k}: rolled (its pod template changed)")));
    evidence.extend(changes.added.iter().map(|k| format!("{k}: added")));
    evidence.extend(changes.removed.iter().map(|k| format!("{k}: removed")));
    if changes.regressions.is_empty() {
        Assertion::new(
            "pods-kept",
            T,
            Status::Pass,
            format!("{untouched} unchanged workloads kept every pod; {} rolled on purpose", changes.touched.len()),
            evidence,
        )
    } else {
        Assertion::new(
            "pods-kept",
            T,
            Status::Fail,
            format!("{} unexpected pod replacement(s) or restart(s)", changes.regressions.len()),
            evidence,
        )
    }
}

/// How one Canary ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanaryOutcome {
    /// `ns/name`.
    pub canary: String,
    /// Phase at the end.
    pub phase: String,
    /// Whether the upgrade started a rollout of it.
    pub triggered: bool,
    /// Flagger's last word on it (its last event), for a failure.
    pub reason: Option<String>,
    /// Seconds from publishing to its end.
    pub took_s: Option<u64>,
}

/// Canaries the diff triggered reach Succeeded.
pub fn canaries(outcomes: &[CanaryOutcome]) -> Assertion {
    const T: &str = "canaries the upgrade triggered are promoted (Succeeded)";
    if outcomes.is_empty() {
        return Assertion::new("canaries", T, Status::Pass, "no Canary in the cluster", vec![]);
    }
    let evidence = outcomes
        .iter()
        .map(|o| {
            let mut line = format!(
                "{}: {}{}",
                o.canary,
                if o.triggered { "rolled out, " } else { "not triggered, " },
                if o.phase.is_empty() { "no phase" } else { &o.phase }
            );
            if let Some(t) = o.took_s {
                line.push_str(&format!(" after {t}s"));
            }
            if let Some(r) = &o.reason {
                line.push_str(&format!(" — Flagger: {r}"));
            }
            line
        })
        .collect();
    let failed: Vec<&CanaryOutcome> = outcomes.iter().filter(|o| o.triggered && o.phase != "Succeeded").collect();
    let triggered = outcomes.iter().filter(|o| o.triggered).count();
    match failed.as_slice() {
        [] => Assertion::new("canaries", T, Status::Pass, format!("{triggered} triggered, all Succeeded"), evidence),
        [one, ..] => Assertion::new(
            "canaries",
            T,
            Status::Fail,
            format!(
                "{} of {triggered} triggered canaries did not succeed; {} ended {}{}",
                failed.len(),
                one.canary,
                one.phase,
                one.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
            ),
            evidence,
        ),
    }
}

/// No drift after convergence.
pub fn no_drift(report: Result<&crate::scenarios::drift::DriftReport, String>) -> Assertion {
    const T: &str = "no drift between git and the cluster after convergence";
    match report {
        Err(e) => Assertion::new("no-drift", T, Status::Fail, format!("drift could not be computed: {e}"), vec![]),
        Ok(r) if r.has_drift() => Assertion::new(
            "no-drift",
            T,
            Status::Fail,
            format!("{} object(s) drifted", r.items.iter().filter(|i| i.kind.is_drift()).count()),
            r.table().lines().map(str::to_string).collect(),
        ),
        Ok(r) => Assertion::new("no-drift", T, Status::Pass, format!("{} objects compared, none drifted", r.objects_checked), vec![]),
    }
}

/// API versions in the target valid for the Flux version it will run.
pub fn api_versions(findings: &[Finding], flux: &str) -> Assertion {
    const T: &str = "API versions in the target are served by the Flux it will run";
    let api: Vec<&Finding> =
        findings.iter().filter(|f| f.code == check::codes::API_VERSION_REMOVED || f.code == check::codes::API_VERSION_DEPRECATED).collect();
    let evidence: Vec<String> = api.iter().map(|f| format!("{}:{}: {} ({})", f.file.display(), f.line, f.message, f.code)).collect();
    let removed = api.iter().filter(|f| f.severity == Severity::Error).count();
    if removed > 0 {
        Assertion::new(
            "api-versions",
            T,
            Status::Fail,
            format!("{removed} object(s) use an API version Flux {flux} no longer serves"),
            evidence,
        )
    } else if !api.is_empty() {
        Assertion::new("api-versions", T, Status::Warn, format!("{} deprecated API version(s) for Flux {flux}", api.len()), evidence)
    } else {
        Assertion::new("api-versions", T, Status::Pass, format!("every Flux API version in the target is served by Flux {flux}"), evidence)
    }
}

/// Availability during the upgrade.
pub fn availability(report: &AvailabilityReport) -> Assertion {
    const T: &str = "availability during the upgrade (no Deployment below replicas - maxUnavailable ready)";
    let mut evidence: Vec<String> = report
        .dips
        .iter()
        .map(|d| format!("{}: {} ready, {} required, from {}s to {}s", d.deployment, d.lowest_ready, d.required, d.from_s, d.until_s))
        .collect();
    let mut failed = !report.dips.is_empty();
    if let Some(p) = &report.probe {
        evidence.push(format!("HTTP probe {}: {} requests, {} errors, longest gap {} ms", p.url, p.requests, p.errors, p.longest_gap_ms));
        failed |= p.errors > 0;
    }
    if failed {
        Assertion::new("availability", T, Status::Fail, format!("{} Deployment(s) dipped below their floor", report.dips.len()), evidence)
    } else {
        Assertion::new("availability", T, Status::Pass, format!("{} samples, no Deployment below its floor", report.samples), evidence)
    }
}

/// A change of Flux itself: what the run did about it.
pub fn flux_version(from: &str, to: &str, upgraded_in_place: Option<bool>) -> Assertion {
    const T: &str = "Flux itself at the target's version";
    if from == to {
        return Assertion::new("flux-version", T, Status::Pass, format!("Flux {to} before and after (not part of this upgrade)"), vec![]);
    }
    match upgraded_in_place {
        Some(true) => Assertion::new("flux-version", T, Status::Pass, format!("Flux upgraded from {from} to {to}"), vec![]),
        Some(false) => Assertion::new("flux-version", T, Status::Fail, format!("the target pins Flux {to} but the controllers still run {from}"), vec![]),
        None => Assertion::new(
            "flux-version",
            T,
            Status::Skipped,
            format!("the target pins Flux {to} (from {from}); this backend runs one Flux version, so the invariants were checked on Flux {from}"),
            vec!["rehearse the Flux upgrade itself on the Docker tier, where the flux-system Kustomization upgrades the controllers in place".to_string()],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::ObjectRef;
    use crate::upgrade::snapshot::{PodState, Workload};
    use std::time::Duration;

    fn wl(template: &str, replicas: i64, pods: &[(&str, i64)]) -> Workload {
        Workload {
            template: template.into(),
            replicas,
            images: vec![],
            pods: pods.iter().map(|(u, r)| (u.to_string(), PodState { name: format!("pod-{u}"), restarts: *r })).collect(),
        }
    }

    fn snap(ws: &[(&str, Workload)]) -> Snapshot {
        Snapshot { workloads: ws.iter().map(|(k, w)| (k.to_string(), w.clone())).collect(), ..Default::default() }
    }

    #[test]
    fn rolled_workloads_are_touched_and_untouched_ones_must_keep_pods() {
        let before = snap(&[
            ("Deployment a/face", wl("t1", 1, &[("u1", 0)])),
            ("Deployment a/smiley", wl("s1", 1, &[("u2", 0)])),
            ("Deployment a/color", wl("c1", 2, &[("u3", 0), ("u4", 1)])),
            ("Deployment a/gone", wl("g", 1, &[("u5", 0)])),
        ]);
        let after = snap(&[
            ("Deployment a/face", wl("t2", 1, &[("u9", 0)])),
            ("Deployment a/smiley", wl("s1", 1, &[("u8", 0)])),
            ("Deployment a/color", wl("c1", 2, &[("u3", 0), ("u4", 3)])),
            ("Deployment a/new", wl("n", 1, &[])),
        ]);
        let c = workload_changes(&before, &after);
        assert_eq!(c.touched, vec!["Deployment a/face"]);
        assert_eq!(c.removed, vec!["Deployment a/gone"]);
        assert_eq!(c.added, vec!["Deployment a/new"]);
        assert_eq!(c.regressions.len(), 2, "{:?}", c.regressions);
        assert!(c.regressions[0].contains("a/color") && c.regressions[0].contains("restarted 2 time(s)"), "{:?}", c.regressions);
        assert!(c.regressions[1].contains("a/smiley") && c.regressions[1].contains("uid u2"), "{:?}", c.regressions);
        let a = pods_kept(&c, before.workloads.len());
        assert_eq!(a.status, Status::Fail);
        // Scaling down is not a regression.
        let down = workload_changes(
            &snap(&[("Deployment a/x", wl("x", 2, &[("u1", 0), ("u2", 0)]))]),
            &snap(&[("Deployment a/x", wl("x", 1, &[("u1", 0)]))]),
        );
        assert!(down.regressions.is_empty());
        assert_eq!(pods_kept(&down, 1).status, Status::Pass);
    }

    #[test]
    fn a_failed_triggered_canary_is_named_with_flaggers_reason() {
        let ok = CanaryOutcome { canary: "faces/face".into(), phase: "Succeeded".into(), triggered: true, reason: None, took_s: Some(120) };
        let idle =
            CanaryOutcome { canary: "faces/smiley".into(), phase: "Initialized".into(), triggered: false, reason: None, took_s: None };
        assert_eq!(canaries(&[ok.clone(), idle.clone()]).status, Status::Pass);
        let bad = CanaryOutcome { phase: "Failed".into(), reason: Some("Canary analysis failed, Deployment scaled to zero".into()), ..ok };
        let a = canaries(&[bad, idle]);
        assert_eq!(a.status, Status::Fail);
        assert!(a.summary.contains("faces/face ended Failed: Canary analysis failed"), "{}", a.summary);
    }

    #[test]
    fn ready_at_target_names_the_failing_component() {
        let key = ObjectRef::of_kind("Kustomization", Some("flux-system"), "apps");
        let o = Outcome::Failed {
            key: key.clone(),
            state: ComponentState::Failed { reason: "ReconciliationFailed".into(), message: "namespaces \"nope\" not found".into() },
            elapsed: Duration::from_secs(80),
        };
        let a = ready_at_target(&o, 5, "main@sha1:abc");
        assert_eq!(a.status, Status::Fail);
        assert!(a.summary.contains("Kustomization flux-system/apps") && a.summary.contains("not found"), "{}", a.summary);
        let t = Outcome::TimedOut { after: Duration::from_secs(300), not_ready: vec![(key, ComponentState::Pending)] };
        assert!(ready_at_target(&t, 5, "x").evidence[0].contains("never seen"));
    }

    #[test]
    fn availability_fails_on_a_dip_or_probe_errors() {
        let mut r = AvailabilityReport { samples: 10, ..Default::default() };
        assert_eq!(availability(&r).status, Status::Pass);
        r.dips.push(crate::upgrade::availability::Dip { deployment: "a/web".into(), required: 3, lowest_ready: 1, from_s: 2, until_s: 5 });
        let a = availability(&r);
        assert_eq!(a.status, Status::Fail);
        assert!(a.evidence[0].contains("a/web: 1 ready, 3 required"));
    }

    #[test]
    fn flux_version_change_is_skipped_where_only_one_flux_runs() {
        assert_eq!(flux_version("2.9", "2.9", None).status, Status::Pass);
        assert_eq!(flux_version("2.8", "2.9", None).status, Status::Skipped);
        assert_eq!(flux_version("2.8", "2.9", Some(false)).status, Status::Fail);
    }
}
