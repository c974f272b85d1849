//! `gitops-harness drift` end to end against saved live snapshots (no cluster can run here),
//! with real git and kubectl; exit codes like `flux diff`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gitops-harness"));
    // kubectl from scripts/install-tools.sh, as `make test` does.
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![tools];
    paths.extend(std::env::split_paths(&path));
    c.env("PATH", std::env::join_paths(paths).unwrap());
    c
}

fn drift_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/drift")
}

fn fixture_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

#[test]
fn manual_edit_snapshot_exits_1_with_table_and_json() {
    let snap = drift_dir().join("manual-edit");
    let repo = fixture_repo();
    let out = run(&["drift", "--repo", repo.to_str().unwrap(), "--live-snapshot", snap.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("edit  Namespace faces          metadata.annotations.linkerd.io/inject  enabled          disabled"),
        "{stdout}"
    );
    assert!(stdout.contains("2 drift finding(s) in 14 objects and 1 Kustomizations"), "{stdout}");

    let out = run(&["drift", "--repo", repo.to_str().unwrap(), "--live-snapshot", snap.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["drift"], true);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);

    let clean = drift_dir().join("clean");
    let out = run(&["drift", "--repo", repo.to_str().unwrap(), "--live-snapshot", clean.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn behind_head_is_built_at_the_applied_revision() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("served");
    for e in walkdir::WalkDir::new(fixture_repo()) {
        let e = e.unwrap();
        let dst = root.join(e.path().strip_prefix(fixture_repo()).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "initial"]);
    let applied = git(&root, &["rev-parse", "HEAD"]);
    // A newer commit Flux has not applied yet (ERROR_FRACTION 75 on face).
    let f = root.join("apps/faces/faces.yaml");
    let text = std::fs::read_to_string(&f).unwrap().replacen("          value: \"0\"", "          value: \"75\"", 1);
    std::fs::write(&f, text).unwrap();
    git(&root, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "75"]);
    let head = git(&root, &["rev-parse", "HEAD"]);

    // The clean cluster, whose Kustomization applied the first commit.
    let snap = tmp.path().join("snap");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::copy(drift_dir().join("clean/live.jsonl"), snap.join("live.jsonl")).unwrap();
    let ks = std::fs::read_to_string(drift_dir().join("clean/kustomizations.jsonl")).unwrap();
    let recorded_head = std::fs::read_to_string(drift_dir().join("clean/head")).unwrap();
    std::fs::write(snap.join("kustomizations.jsonl"), ks.replace(recorded_head.trim(), &applied)).unwrap();

    let out = run(&["drift", "--repo", root.to_str().unwrap(), "--live-snapshot", snap.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = v["items"].as_array().unwrap();
    // Only the revision gap: the manifests were built at the applied commit (ERROR_FRACTION 0),
    // so the cluster matches them; building the head would have reported an edit.
    assert_eq!(items.len(), 1, "{v:#}");
    assert_eq!(items[0]["kind"], "revision");
    assert_eq!(items[0]["git"], head.as_str());
    assert_eq!(items[0]["live"], format!("main@sha1:{applied}").as_str());
}

#[test]
fn unreachable_cluster_exits_2_with_the_reason() {
    let out = run(&["drift", "--repo", fixture_repo().to_str().unwrap(), "--kubeconfig", "/nonexistent/kubeconfig"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/kubeconfig"), "{stderr}");
    let out = run(&["drift", "--repo", "/nonexistent/repo", "--live-snapshot", "/tmp"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a directory"));
}
