//! `check` on the project's fixtures: the clean repo passes, each broken variant gives exactly its finding.

mod common;

use std::path::Path;
use std::process::Command;

use gitops_harness::check::{self, CheckOptions, Severity};
use gitops_harness::crds::CrdCatalog;
use gitops_harness::repo::Repo;

fn run(root: &Path) -> check::Report {
    run_in(root, None)
}

fn run_in(root: &Path, cluster_dir: Option<&Path>) -> check::Report {
    let repo = Repo::load(root, cluster_dir).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let crds = CrdCatalog::load_dir(&common::crds_dir()).unwrap();
    check::run(&repo, &CheckOptions { crds: Some(crds), ..Default::default() })
}

#[test]
fn clean_fixture_has_no_findings() {
    let r = run_in(&common::fixtures().join("gitops-linkerd"), Some(Path::new("clusters/my-cluster")));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let names: Vec<Vec<String>> = r.plan.waves_short();
    assert_eq!(names[0], vec!["flux-system/cert-manager"], "{names:?}");
}

/// The sim cluster directory (same apps, infrastructure sim can provide) checks clean too.
#[test]
fn sim_cluster_dir_has_no_findings() {
    let r = run_in(&common::fixtures().join("gitops-linkerd"), Some(Path::new("clusters/sim")));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let names: Vec<Vec<String>> = r.plan.waves_short();
    assert_eq!(names[0], vec!["flux-system/linkerd"], "{names:?}");
    assert!(names.iter().flatten().any(|n| n == "flux-system/apps"), "{names:?}");
}

/// With several cluster directories and none chosen, loading asks which instead of mixing them.
#[test]
fn several_cluster_dirs_ask_which() {
    let err = Repo::load(&common::fixtures().join("gitops-linkerd"), None).unwrap_err().to_string();
    assert!(err.contains("clusters/my-cluster, clusters/sim") && err.contains("--cluster-dir"), "{err}");
}

#[test]
fn every_broken_fixture_gives_exactly_its_finding() {
    let dir = common::fixtures().join("broken");
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for case in entries {
        let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap();
        let code = expected.lines().next().unwrap().trim().to_string();
        let r = run(&case);
        let got: Vec<(&str, Severity)> = r.findings.iter().map(|f| (f.code, f.severity)).collect();
        assert_eq!(got.len(), 1, "{}: expected exactly [{code}], got {:#?}", case.display(), r.findings);
        assert_eq!(got[0].0, code, "{}: {:#?}", case.display(), r.findings);
        let f = &r.findings[0];
        assert!(f.line >= 1 && !f.file.as_os_str().is_empty(), "{f:?}");
        seen += 1;
    }
    assert!(seen >= 15, "only {seen} broken fixtures");
}

#[test]
fn bad_input_gets_clear_messages_not_panics() {
    let cycle = run(&common::fixtures().join("broken/depends-on-cycle"));
    let msg = &cycle.findings[0].message;
    assert!(msg.contains("flux-system/a -> ") && msg.contains("flux-system/b"), "{msg}");

    let yaml = run(&common::fixtures().join("broken/yaml-invalid"));
    let f = &yaml.findings[0];
    assert_eq!(f.file, Path::new("apps/deploy.yaml"));
    assert!(f.line >= 6 && f.message.contains("invalid YAML"), "{f:?}");

    let unreadable = run(&common::fixtures().join("broken/file-unreadable"));
    assert!(unreadable.findings[0].message.contains("apps/service.yaml"), "{:?}", unreadable.findings);
}

#[test]
fn cli_embedded_default_passes_and_bad_args_exit_2() {
    let out = Command::new(common::bin()).arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bootstrap plan"));

    let out = Command::new(common::bin()).args(["check", "/nonexistent/repo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file or directory"), "{}", String::from_utf8_lossy(&out.stderr));

    let out = Command::new(common::bin())
        .args(["check", common::fixtures().join("gitops-linkerd").to_str().unwrap(), "--cluster-dir", "clusters/nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("clusters/my-cluster"), "names the choices");
}

#[test]
fn embedded_repo_matches_fixture() {
    let embedded = gitops_harness::embedded::default_repo().unwrap();
    for rel in gitops_harness::embedded::files() {
        let a = std::fs::read(embedded.path().join(&rel)).unwrap();
        let b = std::fs::read(common::fixtures().join("gitops-linkerd").join(&rel)).unwrap();
        assert_eq!(a, b, "{}", rel.display());
    }
    assert!(gitops_harness::embedded::files().len() >= 20);
}
