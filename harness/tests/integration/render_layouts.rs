//! `render` beyond plain Kustomizations: HelmReleases with the real `helm template` as
//! helm-controller renders them, remote kustomize resources (`--offline`), builds side by side,
//! and the Flux Operator's generated root. Needs kubectl and helm (`make tools`): these tests
//! fail with the install hint when they are missing rather than pass without building anything.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use gitops_harness::render::{self, RenderError, RenderOptions, Target};
use gitops_harness::repo::{ChartDirs, LoadOptions, Repo};

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn ks(name: &str, path: &str, extra: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 1m\n  prune: true\n  wait: true\n  path: {path}\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}"
    )
}

fn one(repo: &Repo, t: Target<'_>, opts: &RenderOptions) -> Result<render::Rendered, RenderError> {
    let mut out = None;
    render::render_all(repo, &[t], opts, |_, r| out = Some(r));
    out.expect("one result")
}

/// A chart in git, rendered as helm-controller would: release name `[targetNamespace-]name`,
/// the release namespace, values from `valuesFrom` then `spec.values`, a post-renderer's
/// patch, commonMetadata and the origin labels; the chart's CRDs unless `install.crds: Skip`.
#[test]
fn helm_release_from_a_chart_in_git() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(r, "charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n");
    put(r, "charts/web/values.yaml", "replicaCount: 1\ncolor: blue\n");
    put(
        r,
        "charts/web/templates/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\nspec:\n  replicas: {{ .Values.replicaCount }}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n      annotations:\n        color: {{ .Values.color }}\n    spec:\n      containers:\n        - name: web\n          image: registry.example.org/web:1.0.0\n",
    );
    put(
        r,
        "charts/web/crds/widgets.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.org\nspec:\n  group: example.org\n  names:\n    kind: Widget\n    plural: widgets\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n",
    );
    put(r, "clusters/c/apps.yaml", &ks("apps", "./apps", ""));
    put(
        r,
        "apps/kustomization.yaml",
        "resources:\n  - release.yaml\nconfigMapGenerator:\n  - name: web-values\n    namespace: apps\n    files:\n      - values.yaml=web-values.yaml\n",
    );
    put(r, "apps/web-values.yaml", "color: green\nreplicaCount: 2\n");
    let release = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  interval: 10m\n  targetNamespace: shop\n  chart:\n    spec:\n      chart: ./charts/web\n      sourceRef:\n        kind: GitRepository\n        name: flux-system\n        namespace: flux-system\n  commonMetadata:\n    labels:\n      team: shop\n  valuesFrom:\n    - kind: ConfigMap\n      name: web-values\n  values:\n    replicaCount: 3\n  postRenderers:\n    - kustomize:\n        patches:\n          - target:\n              kind: Deployment\n            patch: |\n              - op: add\n                path: /spec/template/spec/priorityClassName\n                value: high\n";
    put(r, "apps/release.yaml", release);
    let repo = Repo::load(r, None).unwrap();
    let hr = &repo.helm_releases()[0];
    assert_eq!(hr.release_name(), "shop-web");
    let out = one(&repo, Target::HelmRelease(hr), &RenderOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let deploy = out.objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(deploy["metadata"]["name"], "shop-web");
    assert_eq!(deploy["metadata"]["namespace"], "shop");
    assert_eq!(deploy["spec"]["replicas"], 3, "spec.values over valuesFrom");
    assert_eq!(deploy["spec"]["template"]["metadata"]["annotations"]["color"], "green", "valuesFrom over the chart's defaults");
    assert_eq!(deploy["spec"]["template"]["spec"]["priorityClassName"], "high", "the post-renderer's patch");
    assert_eq!(deploy["metadata"]["labels"]["team"], "shop");
    assert_eq!(deploy["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"], "web");
    assert_eq!(deploy["metadata"]["labels"]["helm.toolkit.fluxcd.io/namespace"], "apps");
    assert!(out.objects.iter().any(|o| o["kind"] == "CustomResourceDefinition"), "install.crds defaults to Create");
    put(r, "apps/release.yaml", &release.replace("  interval: 10m\n", "  interval: 10m\n  install:\n    crds: Skip\n"));
    let repo = Repo::load(r, None).unwrap();
    let out = one(&repo, Target::HelmRelease(&repo.helm_releases()[0]), &RenderOptions::default()).unwrap();
    assert!(!out.objects.iter().any(|o| o["kind"] == "CustomResourceDefinition"), "install.crds: Skip");
    // Nothing was written into the user's repository.
    let names = |d: &str| -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(r.join(d)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(names("apps"), vec!["kustomization.yaml", "release.yaml", "web-values.yaml"]);
    assert_eq!(names("charts/web"), vec!["Chart.yaml", "crds", "templates", "values.yaml"]);
}

/// An upstream chart from a chart directory (Flagger's, with its `crds/`), and a HelmRelease
/// whose chart is not reachable: skipped with the reason.
#[test]
fn helm_release_from_a_chart_directory_and_the_unreachable_one() {
    let repo_dir = common::fixtures().join("gitops-linkerd");
    let opts = LoadOptions { charts: vec![Arc::new(ChartDirs::new(vec![common::shared_reference().join("charts")]))] };
    let repo = Repo::load_with(&repo_dir, Some(Path::new("clusters/my-cluster")), &opts).unwrap();
    let flagger = repo.helm_releases().iter().find(|h| h.chart == "flagger").unwrap();
    let out = one(&repo, Target::HelmRelease(flagger), &RenderOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = out.objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert!(kinds.contains(&"Deployment") && kinds.contains(&"CustomResourceDefinition"), "{kinds:?}");
    let d = out.objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(d["metadata"]["namespace"], "flagger-system");
    let container = d["spec"]["template"]["spec"]["containers"][0].to_string();
    assert!(container.contains("-mesh-provider=linkerd"), "the release's values reach the chart: {container}");
    let bare = Repo::load(&repo_dir, Some(Path::new("clusters/my-cluster"))).unwrap();
    let flagger = bare.helm_releases().iter().find(|h| h.chart == "flagger").unwrap();
    assert!(matches!(one(&bare, Target::HelmRelease(flagger), &RenderOptions::default()), Err(RenderError::ChartUnavailable(_))));
}

/// A remote kustomize resource is named; `--offline` refuses the build with the entry and its
/// line, and builds nothing from the network.
#[test]
fn offline_refuses_remote_resources() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(r, "clusters/c/apps.yaml", &ks("apps", "./apps", ""));
    put(r, "apps/kustomization.yaml", "resources:\n  - base\n");
    put(r, "apps/base/kustomization.yaml", "resources:\n  - cm.yaml\n  - https://github.com/org/repo//deploy?ref=v1.0.0\n");
    put(r, "apps/base/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
    let repo = Repo::load(r, None).unwrap();
    let apps = repo.flux_kustomizations().iter().find(|k| k.key.name == "apps").unwrap();
    let err = one(&repo, Target::Kustomization(apps), &RenderOptions { offline: true, ..Default::default() }).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RenderError::Remote { .. }), "{msg}");
    assert!(
        msg.contains("https://github.com/org/repo//deploy?ref=v1.0.0 (apps/base/kustomization.yaml:3)") && msg.contains("--offline"),
        "{msg}"
    );
    let out = Command::new(common::bin()).args(["render", "--offline"]).arg(r).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED   Kustomization flux-system/apps") && stdout.contains("refused with --offline"), "{stdout}");
}

/// Builds run side by side and come back in plan order; the result matches a build alone.
#[test]
fn builds_side_by_side_in_plan_order() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let mut cluster = String::new();
    for i in 0..12 {
        cluster.push_str(&format!("---\n{}", ks(&format!("app-{i}"), &format!("./apps/{i}"), "")));
        put(r, &format!("apps/{i}/cm.yaml"), &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n"));
    }
    put(r, "clusters/c/apps.yaml", &cluster);
    let repo = Repo::load(r, None).unwrap();
    let targets: Vec<Target> = repo.flux_kustomizations().iter().map(Target::Kustomization).collect();
    let mut seen = Vec::new();
    render::render_all(&repo, &targets, &RenderOptions { jobs: 4, ..Default::default() }, |i, res| {
        let out = res.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&out.key, targets[i].key());
        assert_eq!(out.objects[0]["metadata"]["name"], format!("cm-{}", targets[i].key().name.trim_start_matches("app-")));
        seen.push(i);
    });
    assert_eq!(seen, (0..12).collect::<Vec<_>>());
}

/// The root a FluxInstance's sync generates renders like any Kustomization (the cluster
/// directory); a ResourceSet's generated Kustomizations render from their paths.
#[test]
fn flux_operator_roots_and_generated_kustomizations_render() {
    let repo = Repo::load(&common::fixtures().join("quiet/resourceset-tenants"), None).unwrap();
    let gamma = repo.flux_kustomizations().iter().find(|k| k.key.name == "team-gamma").unwrap();
    let out = one(&repo, Target::Kustomization(gamma), &RenderOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.objects[0]["metadata"]["namespace"], "team-gamma", "its targetNamespace");
    let repo = Repo::load(&common::fixtures().join("quiet/flux-operator-git-sync"), None).unwrap();
    let root = repo.flux_kustomizations().iter().find(|k| &k.key == repo.root_kustomization()).unwrap();
    let out = one(&repo, Target::Kustomization(root), &RenderOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = out.objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert!(kinds.contains(&"FluxInstance") && kinds.contains(&"Kustomization"), "{kinds:?}");
}

/// `render --cassette` renders a HelmRelease whose chart the source cassette recorded (the
/// chart's CRD templates on, as its values ask); a cassette that is not there cannot run (2).
#[test]
fn helm_release_from_the_source_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("cassette");
    common::chart_cassette(&cassette);
    let root = dir.path().join("repo");
    put(&root, "clusters/c/infra.yaml", &ks("infra", "./infra", ""));
    put(
        &root,
        "infra/cert-manager.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: cert-manager\n  namespace: cert-manager\nspec:\n  interval: 1h\n  chart:\n    spec:\n      chart: cert-manager\n      version: 1.x\n      sourceRef:\n        kind: HelmRepository\n        name: jetstack\n  values:\n    crds:\n      enabled: true\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: jetstack\n  namespace: cert-manager\nspec:\n  interval: 1h\n  url: https://charts.jetstack.io\n",
    );
    let out_dir = dir.path().join("out");
    let out =
        Command::new(common::bin()).arg("render").arg(&root).arg("--cassette").arg(&cassette).arg("--out").arg(&out_dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok       HelmRelease cert-manager/cert-manager"), "{stdout}");
    let yaml = std::fs::read_to_string(out_dir.join("hr_cert-manager_cert-manager.yaml")).unwrap();
    assert!(yaml.contains("kind: CustomResourceDefinition") && yaml.contains("name: certificates.cert-manager.io"), "CRDs missing");
    assert!(yaml.contains("kind: Deployment") && yaml.contains("namespace: cert-manager"));
    let missing = Command::new(common::bin()).arg("render").arg(&root).arg("--cassette").arg(dir.path().join("nowhere")).output().unwrap();
    assert_eq!(missing.status.code(), Some(2), "{}", String::from_utf8_lossy(&missing.stderr));
}
