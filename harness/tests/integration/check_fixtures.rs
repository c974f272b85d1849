//! `check` on the project's fixtures: the clean repo passes, each broken variant gives exactly its finding.

use crate::common;

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

/// What the fixture's Flagger setup needs on a real cluster (issue 12): the chart's Linkerd
/// authorization policy, load before each canary's first metric check, and a current
/// linkerd-smi chart line.
#[test]
fn fixture_flagger_setup_works_on_a_real_cluster() {
    use gitops_harness::flagger_setup;
    for dir in ["clusters/my-cluster", "clusters/sim"] {
        let repo = Repo::load(&common::fixtures().join("gitops-linkerd"), Some(Path::new(dir))).unwrap();
        assert!(check::linkerd_auth_policy(&repo).is_empty(), "{dir}");
        let cold: Vec<String> = flagger_setup::canaries_without_warmup(&repo).iter().map(|c| c.key.to_string()).collect();
        assert!(cold.is_empty(), "{dir}: canaries without load before analysis: {cold:?}");
        assert_eq!(repo.canaries().len(), 4, "{dir}");
    }
    let repo = Repo::load(&common::fixtures().join("gitops-linkerd"), Some(Path::new("clusters/my-cluster"))).unwrap();
    let smi = repo.helm_releases().iter().find(|h| h.chart == "linkerd-smi").unwrap();
    let version = smi.doc.value.pointer("/spec/chart/spec/version").and_then(|v| v.as_str()).unwrap();
    assert_eq!(version, "1.x", "the 0.x line is the 2021 chart");
}

/// Common layouts that must stay quiet: no error, no warning (info is allowed).
#[test]
fn quiet_fixtures_give_no_errors_or_warnings() {
    let dir = common::fixtures().join("quiet");
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for case in &entries {
        let r = run(case);
        let loud: Vec<_> = r.findings.iter().filter(|f| f.severity != Severity::Info).collect();
        assert!(loud.is_empty(), "{}: {loud:#?}", case.display());
    }
    assert!(entries.len() >= 5, "only {} quiet fixtures", entries.len());
}

/// The sync's own names, postBuild variables (inline and substituteFrom) and components.
#[test]
fn sync_names_postbuild_and_components_are_understood() {
    let root = common::fixtures().join("quiet/sync-named-otherwise");
    let repo = Repo::load(&root, None).unwrap();
    assert_eq!(repo.root_kustomization().short(), "gitops/cluster");
    let names: Vec<String> = repo.objects().iter().map(|o| format!("{}/{}", o.key.kind, o.key.name)).collect();
    assert!(names.contains(&"Kustomization/web-eu-west-1".to_string()), "{names:?}");
    assert!(names.contains(&"ConfigMap/monitoring".to_string()), "component loaded: {names:?}");
    assert!(names.contains(&"ConfigMap/web".to_string()), "nested path ./apps/web-${{env}} followed: {names:?}");
}

/// The repo's pinned Flux version is the default target; an explicit one still wins.
#[test]
fn pinned_flux_version_is_the_default() {
    let root = common::fixtures().join("quiet/flux-pinned-2-4");
    let r = run(&root);
    assert_eq!(r.flux.version.to_string(), "2.4");
    assert_eq!(r.flux.pinned_by.as_deref(), Some("clusters/c/flux-system/gotk-components.yaml:3"));
    let repo = Repo::load(&root, None).unwrap();
    let r29 = check::run(&repo, &CheckOptions { flux_version: Some("2.9".parse().unwrap()), crds: None });
    assert_eq!(r29.with_code(check::codes::API_VERSION_REMOVED).len(), 1, "{:#?}", r29.findings);
}

/// ExternalArtifact sources from an ArtifactGenerator are declared (external), not undeclared.
#[test]
fn external_artifacts_are_declared() {
    let r = run(&common::fixtures().join("quiet/external-artifact"));
    let codes: Vec<&str> = r.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, vec![check::codes::SOURCE_EXTERNAL], "{:#?}", r.findings);
    assert!(r.findings[0].message.contains("generated by ArtifactGenerator flux-system/apps"), "{}", r.findings[0].message);
    assert!(r.findings[0].message.contains("vendor-prod"), "{}", r.findings[0].message);
    // The artifact copied from this repository keeping its layout is read in place.
    let repo = Repo::load(&common::fixtures().join("quiet/external-artifact"), None).unwrap();
    let cm = repo.objects().iter().find(|o| o.key.kind == "ConfigMap").expect("the artifact's ConfigMap is loaded");
    assert_eq!(cm.applied_by.as_ref().map(|k| k.short()).as_deref(), Some("flux-system/apps"));
}

/// A Kustomization with `wait: true` is Ready only once its HelmReleases are: what depends on it
/// comes after them in the plan.
#[test]
fn plan_counts_helm_releases_a_waiting_parent_applies() {
    let r = run(&common::fixtures().join("quiet/crd-from-chart-in-git"));
    let wave = |kind: &str, name: &str| r.plan.waves.iter().position(|w| w.iter().any(|k| k.kind == kind && k.name == name)).unwrap();
    assert!(wave("HelmRelease", "monitoring") < wave("Kustomization", "apps"), "{:?}", r.plan.waves_short());
}

/// Findings point at the exact field, from the parser's positions.
#[test]
fn findings_point_at_the_field() {
    let at = |case: &str| {
        let r = run(&common::fixtures().join("broken").join(case));
        let f = r.findings[0].clone();
        (f.file.display().to_string(), f.line, f.message)
    };
    let (file, line, msg) = at("kustomize-resource-cycle");
    assert_eq!((file.as_str(), line), ("apps/b/kustomization.yaml", 2), "{msg}");
    assert!(msg.contains("apps/a -> apps/b -> apps/a"), "{msg}");
    let (file, line, _) = at("path-outside-repo");
    assert_eq!((file.as_str(), line), ("apps/kustomization.yaml", 2));
    let (file, line, msg) = at("path-outside-repo-absolute");
    assert_eq!((file.as_str(), line), ("apps/kustomization.yaml", 3), "{msg}");
    let (file, line, msg) = at("duplicate-object");
    assert_eq!((file.as_str(), line), ("clusters/my-cluster/apps.yaml", 1), "{msg}");
    assert!(msg.contains("apps-copy.yaml:1"), "{msg}");
    let (file, line, _) = at("health-check-missing");
    assert_eq!((file.as_str(), line), ("clusters/my-cluster/apps.yaml", 15));
    let (_, _, msg) = at("crd-not-ordered");
    assert!(msg.contains("{name: infra, namespace: flux-system}"), "the fix names the namespace: {msg}");
    let (_, line, msg) = at("path-missing");
    assert!(msg.contains("no such file or directory"), "{msg}");
    assert!(line > 1);
}

/// `--cluster-dir` outside the repository is refused (exit 2), naming the choices.
#[test]
fn cluster_dir_outside_the_repo_is_refused() {
    let root = common::fixtures().join("gitops-linkerd");
    for dir in ["../broken", "/etc"] {
        let out = Command::new(common::bin()).args(["check", root.to_str().unwrap(), "--cluster-dir", dir]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("outside the repository") && err.contains("clusters/my-cluster"), "{err}");
    }
}
