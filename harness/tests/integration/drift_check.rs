//! `drift::check` as the suites call it: the harness's served repo after the failing change,
//! against the cluster state a failed canary leaves (saved snapshot).

use std::path::Path;

use gitops_harness::git::ServedRepo;
use gitops_harness::scenarios::drift::live::LiveState;
use gitops_harness::scenarios::drift::{DriftKind, check};
use gitops_harness::scenarios::gitops_change::{Change, Edit, apply_and_commit};

#[test]
fn failed_canary_in_the_served_repo_is_rollback_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd");
    let served = ServedRepo::prepare(&src, &tmp.path().join("served")).unwrap();
    let c = apply_and_commit(
        &served,
        &Change {
            edits: vec![Edit::deployment_env("apps/faces/faces.yaml", "face", "face", "ERROR_FRACTION", "75")],
            message: "Force ERROR_FRACTION for face to 75%".into(),
        },
    )
    .unwrap();

    // The recorded cluster state after the failed canary; its Kustomization applied our commit.
    let snap = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/drift/after-failed-canary");
    let mut live = LiveState::load_snapshot(&snap).unwrap();
    let recorded_head = std::fs::read_to_string(snap.join("head")).unwrap();
    for ks in &mut live.kustomizations {
        let s = ks.to_string().replace(recorded_head.trim(), &c.sha);
        *ks = serde_json::from_str(&s).unwrap();
    }
    // Snapshots round-trip (suites save them as artifacts).
    let saved = tmp.path().join("artifacts/live");
    live.save_snapshot(&saved).unwrap();
    let reloaded = LiveState::load_snapshot(&saved).unwrap();
    assert_eq!((reloaded.objects.len(), reloaded.kustomizations.len()), (live.objects.len(), live.kustomizations.len()));

    let report = check(served.path(), Some(Path::new("clusters/my-cluster")), &reloaded).unwrap();
    let kinds: Vec<_> = report.items.iter().map(|i| (i.kind, i.object.as_str(), i.git.as_deref(), i.live.as_deref())).collect();
    assert_eq!(kinds, vec![(DriftKind::Rollback, "Deployment faces/face-primary", Some("75"), Some("0"))], "{}", report.table());
    assert_eq!(report.exit(), gitops_harness::exit::Exit::Failure);

    // One more commit Flux has not applied: revision drift too, still built at the applied commit.
    std::fs::write(served.path().join("README.md"), "changed\n").unwrap();
    let newer = served.commit_all("docs").unwrap();
    let report = check(served.path(), Some(Path::new("clusters/my-cluster")), &reloaded).unwrap();
    let kinds: Vec<_> = report.items.iter().map(|i| i.kind).collect();
    assert_eq!(kinds, vec![DriftKind::Rollback, DriftKind::Revision], "{}", report.table());
    assert_eq!(report.items[1].git.as_deref(), Some(newer.as_str()));
}

#[test]
fn missing_snapshot_names_the_file() {
    let err = LiveState::load_snapshot(Path::new("/nonexistent/snap")).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/snap/live.jsonl"), "{err}");
}
