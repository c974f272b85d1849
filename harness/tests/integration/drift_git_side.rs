//! The git side of drift: exporting the applied revision and building it like Flux, with the
//! real git and kubectl (installed by scripts/install-tools.sh; `make test` puts it on PATH).

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_harness::git::GitDir;
use gitops_harness::git::revisions::{export as export_revision, head};
use gitops_harness::render::render_dir;
use gitops_harness::scenarios::drift::{DriftKind, compute};
use gitops_harness::scenarios::gitops_change::{Change, Edit, apply_and_commit};
use gitops_harness::scenarios::yaml_edit::parse_all;
use serde_json::Value;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git").args(args).current_dir(dir).output().expect("git is installed");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn repo_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd");
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        let dst = root.join(e.path().strip_prefix(&src).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "initial"]);
    (tmp, root)
}

fn env_of(objs: &[Value], deploy: &str, var: &str) -> String {
    let d = objs.iter().find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == deploy).unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap().iter().find(|e| e["name"] == var).unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn applied_revision_is_rendered_not_the_head() {
    let (_tmp, root) = repo_copy();
    let first = head(&root).unwrap();
    let repo = GitDir::open(&root).unwrap();
    let c = apply_and_commit(
        &repo,
        &Change {
            edits: vec![Edit::deployment_env("apps/faces/faces.yaml", "face", "face", "ERROR_FRACTION", "75")],
            message: "ERROR_FRACTION 75".into(),
        },
    )
    .unwrap();
    assert_eq!(head(&root).as_deref(), Some(c.sha.as_str()));

    let old = export_revision(&root, &first).unwrap();
    let at_first = render_dir(&old.path().join("apps/faces")).unwrap();
    assert_eq!(env_of(&at_first, "face", "ERROR_FRACTION"), "0");
    let at_head = render_dir(&root.join("apps/faces")).unwrap();
    assert_eq!(env_of(&at_head, "face", "ERROR_FRACTION"), "75");

    // The drift fixture's rendered manifests are exactly what kubectl builds from the fixture repo.
    let recorded = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/drift/rendered-faces.yaml");
    let recorded: Vec<Value> =
        parse_all(&recorded, &std::fs::read_to_string(&recorded).unwrap()).unwrap().into_iter().filter(|v| !v.is_null()).collect();
    assert_eq!(
        at_first, recorded,
        "fixtures/recorded/drift/rendered-faces.yaml is stale: re-render it with `kubectl kustomize fixtures/gitops-linkerd/apps/faces`"
    );

    // Rendering the head against the cluster left by the failed canary: rollback drift.
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/drift/after-failed-canary");
    let jsonl =
        |f: &str| -> Vec<Value> { std::fs::read_to_string(d.join(f)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect() };
    let r = compute(&at_head, &jsonl("live.jsonl"), &[], "");
    assert_eq!(r.items.iter().map(|i| i.kind).collect::<Vec<_>>(), vec![DriftKind::Rollback], "{}", r.table());
}

#[test]
fn export_of_an_unknown_revision_says_what_to_do() {
    let (_tmp, root) = repo_copy();
    let err = export_revision(&root, "deadbeef").unwrap_err().to_string();
    assert!(err.contains("is revision deadbeef in this working copy?"), "{err}");
    // A directory inside another repository is not a working copy of its own.
    assert_eq!(head(&root.join("apps")), None);
}
