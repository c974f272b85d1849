//! Loader tests: Flux semantics and bounded behaviour on hostile layouts.

use std::path::{Path, PathBuf};

use super::*;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn ks(name: &str, path: &str, extra: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  path: {path}\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}"
    )
}

#[test]
fn follows_paths_and_namespaces_like_flux() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "clusters/c1/infra.yaml", &ks("infra", "./infra", ""));
    write(
        r,
        "infra/kustomization.yaml",
        "namespace: tools\nresources:\n  # a comment naming missing.yaml\n  - release.yaml\n  - missing.yaml\n",
    );
    write(
        r,
        "infra/release.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: tool\nspec:\n  dependsOn:\n    - name: other\n  chart:\n    spec:\n      chart: tool\n      sourceRef:\n        kind: HelmRepository\n        name: tools\n",
    );
    let repo = Repo::load(r, None).unwrap();
    assert_eq!(repo.cluster_dir, PathBuf::from("clusters/c1"));
    assert_eq!(repo.flux_kustomizations().len(), 1);
    let hr = &repo.helm_releases()[0];
    assert_eq!(hr.key.short(), "tools/tool");
    assert_eq!(hr.depends_on[0].short(), "tools/other");
    assert_eq!(hr.applied_by.as_ref().unwrap().short(), "flux-system/infra");
    // The parser's position of the entry, not the comment that mentions it.
    assert!(
        matches!(&repo.issues()[0], LoadIssue::MissingResource { entry, origin, .. } if entry == "missing.yaml" && origin.line == 5),
        "{:?}",
        repo.issues()
    );
}

#[test]
fn symlink_loops_do_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "clusters/c/a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n");
    std::os::unix::fs::symlink("..", r.join("clusters/c/up")).unwrap();
    let repo = Repo::load(r, Some(Path::new("clusters/c"))).unwrap();
    assert_eq!(repo.objects().len(), 1);
    assert!(matches!(&repo.issues()[0], LoadIssue::Unreadable { origin, .. } if origin.file.ends_with("up")));
}

/// `a` ↔ `b` and `..` cycles are findings with the cycle's path, not a stack overflow.
#[test]
fn resource_cycles_are_issues_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "clusters/c/ks.yaml", &ks("apps", "./apps/a", ""));
    write(r, "apps/a/kustomization.yaml", "resources:\n  - ../b\n");
    write(r, "apps/b/kustomization.yaml", "resources:\n  - ../a\n  - cm.yaml\n");
    write(r, "apps/b/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n");
    let repo = Repo::load(r, None).unwrap();
    let cycles: Vec<_> = repo
        .issues()
        .iter()
        .filter_map(|i| if let LoadIssue::ResourceCycle { cycle, origin } = i { Some((cycle, origin)) } else { None })
        .collect();
    assert_eq!(cycles.len(), 1, "{:?}", repo.issues());
    assert_eq!(cycles[0].0, &vec![PathBuf::from("apps/a"), PathBuf::from("apps/b"), PathBuf::from("apps/a")]);
    assert_eq!(cycles[0].1.file, PathBuf::from("apps/b/kustomization.yaml"));
    assert_eq!(cycles[0].1.line, 2);
    assert_eq!(repo.objects().iter().filter(|o| o.key.kind == "ConfigMap").count(), 1);
}

/// `../../..`, absolute paths and symlinks out are refused, never read.
#[test]
fn references_out_of_the_repo_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "clusters/c/ks.yaml", &ks("apps", "./apps", ""));
    write(r, "apps/kustomization.yaml", "resources:\n  - ../../../../..\n  - /etc/passwd\n  - out.yaml\n");
    std::os::unix::fs::symlink("/etc/hostname", r.join("apps/out.yaml")).unwrap();
    write(r, "clusters/c/far.yaml", &ks("far", "../../../..", ""));
    let repo = Repo::load(r, None).unwrap();
    let outside: Vec<&String> =
        repo.issues().iter().filter_map(|i| if let LoadIssue::OutsideRepo { entry, .. } = i { Some(entry) } else { None }).collect();
    assert_eq!(outside.len(), 4, "{:?}", repo.issues());
    assert!(repo.objects().iter().all(|o| o.key.kind == "Kustomization"), "nothing from outside was read");
}

/// The sync's own GitRepository and root Kustomization are recognised whatever their names, and
/// a GitRepository whose URL is this repo's remote is this repo too.
#[test]
fn own_git_repository_by_sync_or_url() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "clusters/c/sync.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: fleet\n  namespace: gitops\nspec:\n  url: ssh://git@example.com/org/fleet\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: cluster\n  namespace: gitops\nspec:\n  path: ./clusters/c\n  sourceRef:\n    kind: GitRepository\n    name: fleet\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: gitops\nspec:\n  path: ./apps\n  sourceRef:\n    kind: GitRepository\n    name: fleet\n",
    );
    write(r, "apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n");
    write(r, ".git/config", "[remote \"origin\"]\n\turl = https://example.com/org/other.git\n");
    write(
        r,
        "clusters/c/other.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: other\n  namespace: gitops\nspec:\n  url: git@example.com:org/other\n",
    );
    let repo = Repo::load(r, None).unwrap();
    assert_eq!(repo.root_kustomization().short(), "gitops/cluster");
    let cm = repo.objects().iter().find(|o| o.key.kind == "ConfigMap").expect("apps followed through GitRepository gitops/fleet");
    assert_eq!(cm.applied_by.as_ref().unwrap().short(), "gitops/apps");
    let apps = repo.flux_kustomizations().iter().find(|k| k.key.name == "apps").unwrap();
    assert_eq!(apps.applied_by.as_ref().unwrap().short(), "gitops/cluster");
    assert!(repo.source(&ObjectRef::of_kind("GitRepository", Some("gitops"), "other")).unwrap().local_root.is_some(), "URL is the remote");
    assert!(repo.source(&ObjectRef::of_kind("GitRepository", Some("flux-system"), "flux-system")).is_none());
    assert!(repo.issues().is_empty(), "{:?}", repo.issues());
}

/// postBuild variables reach what the Kustomization applies, nested Kustomizations' paths
/// included; `substitute: disabled` opts out; components are loaded.
#[test]
fn postbuild_substitution_and_components() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "clusters/c/ks.yaml",
        &ks(
            "apps",
            "./apps",
            "  components:\n    - ../components/extra\n  postBuild:\n    substitute:\n      env: prod\n    substituteFrom:\n      - kind: ConfigMap\n        name: vars\n",
        ),
    );
    write(
        r,
        "clusters/c/vars.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n  namespace: flux-system\ndata:\n  region: eu\n",
    );
    write(r, "apps/nested.yaml", &ks("nested-${env}", "./envs/${env}", ""));
    write(
        r,
        "apps/keep.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-${region}\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n",
    );
    write(r, "envs/prod/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: in-${region:=none}\n");
    write(
        r,
        "components/extra/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - svc.yaml\n",
    );
    write(r, "components/extra/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: extra\n");
    let repo = Repo::load(r, None).unwrap();
    let names: Vec<String> = repo.objects().iter().map(|o| o.key.name.clone()).collect();
    assert!(names.contains(&"nested-prod".to_string()), "{names:?}");
    assert!(names.contains(&"keep-${region}".to_string()), "{names:?}");
    assert!(names.contains(&"extra".to_string()), "{names:?}");
    // The nested Kustomization has no postBuild of its own: Flux substitutes nothing in what it
    // applies, so even the default form stays as written.
    assert!(names.contains(&"in-${region:=none}".to_string()), "{names:?}");
    assert!(repo.issues().is_empty(), "{:?}", repo.issues());
}

/// Two documents defining one Kustomization are an issue naming both.
#[test]
fn duplicate_kustomization_is_an_issue() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "clusters/c/a.yaml", &ks("apps", "./apps", ""));
    write(r, "clusters/c/b.yaml", &format!("# again\n{}", ks("apps", "./other", "")));
    write(r, "apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n");
    let repo = Repo::load(r, None).unwrap();
    assert!(
        matches!(repo.issues(), [LoadIssue::Duplicate { key, origin, first }] if key.name == "apps" && origin.file.ends_with("b.yaml") && origin.line == 2 && first.file.ends_with("a.yaml")),
        "{:?}",
        repo.issues()
    );
}

#[test]
fn missing_root_says_no_such_file() {
    let err = Repo::load(Path::new("/nonexistent/repo"), None).unwrap_err().to_string();
    assert!(err.contains("no such file or directory"), "{err}");
}
