//! Rendering with the real `kubectl kustomize` (installed by `make tools`; these tests fail with
//! the install hint when it is missing rather than pass without building anything).

use crate::common;

use std::process::Command;

use gitops_harness::crds::CrdCatalog;
use gitops_harness::render::{self, RenderError};
use gitops_harness::repo::Repo;

#[test]
fn kubectl_is_there_with_kustomize_v5() {
    let kubectl = gitops_harness::tools::find(gitops_harness::tools::Tool::Kubectl).unwrap_or_else(|e| panic!("{e}"));
    let v = gitops_harness::tools::kubectl_version(&kubectl).unwrap();
    assert!(v.kustomize_major().unwrap_or(0) >= 5, "{v:?}");
}

#[test]
fn fixture_builds_and_objects_match_the_crds() {
    let repo = Repo::load(&common::fixtures().join("gitops-linkerd"), Some(std::path::Path::new("clusters/my-cluster"))).unwrap();
    let crds = CrdCatalog::load_dir(&common::crds_dir()).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for ks in repo.flux_kustomizations() {
        let r = render::render_kustomization(&repo, ks).unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.objects.is_empty(), "{} built nothing", ks.key);
        for o in &r.objects {
            kinds.insert(o["kind"].as_str().unwrap_or("").to_string());
            if let Some(errors) = crds.validate(o) {
                assert!(errors.is_empty(), "{} {}: {errors:?}", o["kind"], o["metadata"]["name"]);
            }
        }
    }
    for k in ["HelmRelease", "HelmRepository", "Canary", "Deployment", "Ingress", "Certificate", "Issuer"] {
        assert!(kinds.contains(k), "no {k} rendered: {kinds:?}");
    }
}

#[test]
fn faces_objects_land_in_the_faces_namespace() {
    let repo = Repo::load(&common::fixtures().join("gitops-linkerd"), Some(std::path::Path::new("clusters/my-cluster"))).unwrap();
    let apps = repo.flux_kustomizations().iter().find(|k| k.key.name == "apps").unwrap();
    let r = render::render_kustomization(&repo, apps).unwrap();
    let canaries: Vec<&serde_json::Value> = r.objects.iter().filter(|o| o["kind"] == "Canary").collect();
    assert_eq!(canaries.len(), 4);
    assert!(canaries.iter().all(|c| c["metadata"]["namespace"] == "faces"));
}

#[test]
fn reference_linkerd_fails_on_the_missing_trust_anchor() {
    let root = common::shared_reference().join("gitops-linkerd");
    let repo = Repo::load(&root, None).unwrap();
    let linkerd = repo.flux_kustomizations().iter().find(|k| k.key.name == "linkerd").unwrap();
    let err = render::render_kustomization(&repo, linkerd).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RenderError::Kustomize { .. }), "{msg}");
    assert!(msg.contains("infrastructure/linkerd") && msg.contains("ca.crt"), "{msg}");
    assert!(!msg.contains("gitops-harness-render-"), "names the user's dir, not the temp copy: {msg}");
    let faces = repo.flux_kustomizations().iter().find(|k| k.key.name == "faces").unwrap();
    assert!(matches!(render::render_kustomization(&repo, faces), Err(RenderError::External(_))));
}

#[test]
fn flux_patches_and_target_namespace_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("clusters/c")).unwrap();
    std::fs::create_dir_all(r.join("app")).unwrap();
    std::fs::write(r.join("clusters/c/ks.yaml"), "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  namespace: flux-system\nspec:\n  interval: 1m\n  prune: true\n  wait: true\n  targetNamespace: demo\n  path: ./app\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  patches:\n    - patch: |\n        - op: replace\n          path: /spec/replicas\n          value: 3\n      target:\n        kind: Deployment\n").unwrap();
    // No kustomization.yaml: kustomize-controller generates one from the YAML files.
    std::fs::write(r.join("app/deploy.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: nginx\n").unwrap();
    // A non-manifest YAML file in a plain directory fails the build, as in kustomize-controller.
    std::fs::write(r.join("app/values.yaml"), "replicaCount: 2\n").unwrap();
    let repo = Repo::load(r, None).unwrap();
    let err = render::render_kustomization(&repo, &repo.flux_kustomizations()[0]).unwrap_err().to_string();
    assert!(err.contains("failed to decode Kubernetes YAML from app/values.yaml"), "{err}");
    std::fs::remove_file(r.join("app/values.yaml")).unwrap();
    let out = render::render_kustomization(&repo, &repo.flux_kustomizations()[0]).unwrap();
    assert_eq!(out.objects.len(), 1);
    assert_eq!(out.objects[0]["metadata"]["namespace"], "demo");
    assert_eq!(out.objects[0]["spec"]["replicas"], 3);
    assert!(!r.join("app/kustomization.yaml").exists(), "the user's repo was written");
}

#[test]
fn render_dir_error_names_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kustomization.yaml"), "resources:\n  - nope.yaml\n").unwrap();
    let msg = render::render_dir(dir.path()).unwrap_err().to_string();
    assert!(msg.contains(&dir.path().display().to_string()) && msg.contains("nope.yaml"), "{msg}");
}

#[test]
fn cli_exit_codes() {
    let ok = Command::new(common::bin())
        .args(["render"])
        .arg(common::fixtures().join("gitops-linkerd"))
        .args(["--cluster-dir", "clusters/my-cluster"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    let out = tempfile::tempdir().unwrap();
    let bad = Command::new(common::bin())
        .args(["render"])
        .arg(common::shared_reference().join("gitops-linkerd"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED   Kustomization flux-system/linkerd") && stdout.contains("skipped  Kustomization faces/faces"),
        "{stdout}"
    );
    assert!(out.path().join("flux-system_apps.yaml").is_file());
}

fn ks_doc(name: &str, path: &str, extra: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 1m\n  prune: true\n  wait: true\n  path: {path}\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}"
    )
}

fn put(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Unparseable YAML in a plain directory fails the build (it printed "ok" before).
#[test]
fn broken_yaml_in_a_plain_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(r, "clusters/c/ks.yaml", &ks_doc("app", "./app", ""));
    put(r, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: [unclosed\n");
    let repo = Repo::load(r, None).unwrap();
    let app = repo.flux_kustomizations().iter().find(|k| k.key.name == "app").unwrap();
    let err = render::render_kustomization(&repo, app).unwrap_err().to_string();
    assert!(err.contains("failed to decode Kubernetes YAML from app/cm.yaml"), "{err}");
}

/// Symlinks inside the repo are kept; components and postBuild variables are applied as
/// kustomize-controller does (`substitute: disabled` opts out).
#[test]
fn symlinks_components_and_postbuild() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(
        r,
        "clusters/c/ks.yaml",
        &ks_doc(
            "app",
            "./app",
            "  components:\n    - ../extra\n  postBuild:\n    substitute:\n      env: prod\n    substituteFrom:\n      - kind: ConfigMap\n        name: vars\n",
        ),
    );
    put(
        r,
        "clusters/c/vars.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n  namespace: flux-system\ndata:\n  region: eu\n",
    );
    put(r, "shared/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared-${env}-${region}\n");
    put(r, "app/kustomization.yaml", "resources:\n  - linked.yaml\n  - keep.yaml\n");
    std::os::unix::fs::symlink("../shared/cm.yaml", r.join("app/linked.yaml")).unwrap();
    put(
        r,
        "app/keep.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-${env}\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n",
    );
    put(r, "extra/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - svc.yaml\n");
    put(r, "extra/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: extra\nspec:\n  ports:\n    - port: 80\n");
    let repo = Repo::load(r, None).unwrap();
    let app = repo.flux_kustomizations().iter().find(|k| k.key.name == "app").unwrap();
    let out = render::render_kustomization(&repo, app).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = out.objects.iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"shared-prod-eu"), "{names:?}");
    assert!(names.contains(&"keep-${env}"), "{names:?}");
    assert!(names.contains(&"extra"), "{names:?}");
    assert!(out.unresolved_vars.is_empty());
}

/// SIGTERM in the middle of a render stops it (exit 143, as `Exit::Stopped` names SIGTERM) and leaves no temporary directory.
#[test]
fn sigterm_stops_render_and_removes_temp_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let mut cluster = String::new();
    for i in 0..200 {
        cluster.push_str(&format!("---\n{}", ks_doc(&format!("app-{i}"), "./app", "")));
    }
    put(r, "clusters/c/apps.yaml", &cluster);
    put(r, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
    let tmp = tempfile::tempdir().unwrap();
    let child =
        Command::new(common::bin()).arg("render").arg(r).env("TMPDIR", tmp.path()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(143), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "temporary directories left: {left:?}");
}

/// A build that hangs is stopped at its `--timeout`, named, and leaves no temporary directory.
#[test]
fn a_hanging_build_is_stopped_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(r, "clusters/c/apps.yaml", &ks_doc("apps", "./app", ""));
    put(r, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
    // A kubectl that never answers (exec: the kill reaches the sleeping process itself).
    let bin = tempfile::tempdir().unwrap();
    let stub = bin.path().join("kubectl");
    std::fs::write(&stub, "#!/bin/sh\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(common::bin())
        .arg("render")
        .arg(r)
        .args(["--timeout", "1"])
        .env("GITOPS_HARNESS_KUBECTL", &stub)
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}: {text}", started.elapsed());
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("did not finish within 1 s") && text.contains("--timeout"), "{text}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "temporary directories left: {left:?}");
}
