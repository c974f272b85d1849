//! `check` on repositories as they are bootstrapped today: Flux Operator (FluxInstance sync and
//! version, ResourceSets), Flux from the `flux-manifests` artifact, CRDs installed by bootstraps
//! outside the Flux tree, explicit `wait: false`, and charts read as data.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use gitops_harness::check::{self, CheckOptions, Severity, codes};
use gitops_harness::crds::CrdCatalog;
use gitops_harness::repo::{ChartDirs, LoadOptions, Repo};

fn crds() -> Option<CrdCatalog> {
    Some(CrdCatalog::load_dir(&common::crds_dir()).unwrap())
}

fn check_repo(repo: &Repo) -> check::Report {
    check::run(repo, &CheckOptions { crds: crds(), ..Default::default() })
}

fn load(case: &str) -> Repo {
    Repo::load(&common::fixtures().join(case), None).unwrap_or_else(|e| panic!("{case}: {e}"))
}

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn ks(name: &str, path: &str, extra: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  prune: true\n  path: {path}\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}"
    )
}

/// A FluxInstance's sync is the bootstrap: its source (named after the namespace) is this repo,
/// its Kustomization the root, and `distribution.version: 2.x` the newest known Flux.
#[test]
fn flux_instance_sync_is_the_bootstrap() {
    let repo = load("quiet/flux-operator-git-sync");
    assert_eq!(repo.root_kustomization().to_string(), "Kustomization flux-system/flux-system");
    let src = repo.sources().iter().find(|s| s.key.kind == "GitRepository" && s.key.name == "flux-system").unwrap();
    assert!(src.local_root.is_some() && src.url.contains("fleet.git"), "{src:?}");
    let r = check_repo(&repo);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.flux.version.to_string(), "2.9");
    assert_eq!(r.flux.pinned_by.as_deref(), Some("clusters/prod/flux-system/flux-instance.yaml:8"));
    assert_eq!(r.summary.bootstrapped_by.as_deref(), Some("FluxInstance flux-system/flux"));
    let wave = |n: &str| r.plan.waves.iter().position(|w| w.iter().any(|k| k.name == n)).unwrap();
    assert!(wave("flux-system") < wave("infra") && wave("infra") < wave("apps"), "{:?}", r.plan.waves_short());
}

/// A FluxInstance outside the tree, syncing an OCI artifact: its path is the cluster directory
/// when none is given, and `2.4.x` pins Flux 2.4 (whose `v1beta2` OCIRepository 2.9 removed).
#[test]
fn flux_instance_outside_the_tree_and_a_version_range() {
    let repo = load("quiet/flux-operator-oci-sync");
    assert_eq!(repo.cluster_dir, Path::new("fleet/edge"));
    assert!(repo.flux_kustomizations().iter().any(|k| k.key.name == "apps"), "the sync's OCIRepository is this repo: followed");
    let r = check_repo(&repo);
    assert_eq!(r.flux.version.to_string(), "2.4");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let r29 = check::run(&repo, &CheckOptions { flux_version: Some("2.9".parse().unwrap()), crds: None });
    assert_eq!(r29.with_code(codes::API_VERSION_REMOVED).len(), 1, "{:#?}", r29.findings);
    // A removed API under the pinned range is an error.
    let r = check_repo(&load("broken/api-version-removed-flux-instance"));
    assert_eq!(r.flux.version.to_string(), "2.8");
    assert_eq!(r.with_code(codes::API_VERSION_REMOVED).len(), 1);
}

/// The `flux-instance` chart installed by a helmfile before Flux (its values file behind a
/// `{{ requiredEnv "ROOT_DIR" }}` prefix), then managed by a HelmRelease of the same chart: the
/// values' sync path is the cluster directory and their version range the pin.
#[test]
fn flux_instance_chart_values_from_a_helmfile_and_a_helm_release() {
    let repo = load("quiet/flux-instance-chart");
    assert_eq!(repo.cluster_dir, Path::new("kubernetes/flux/cluster"));
    let declared: Vec<&str> = repo.flux_instances().iter().map(|i| i.declared_as.as_str()).collect();
    assert!(declared.iter().any(|d| d.contains("helmfile bootstrap/helmfile.yaml.gotmpl release flux-instance")), "{declared:?}");
    assert!(declared.iter().any(|d| d.contains("HelmRelease flux-system/flux-instance")), "valuesFrom of the HelmRelease: {declared:?}");
    let r = check_repo(&repo);
    assert_eq!(r.errors() + r.warnings(), 0, "{:#?}", r.findings);
    assert_eq!(r.flux.version.to_string(), "2.5");
    assert_eq!(r.flux.pinned_by.as_deref(), Some("kubernetes/apps/flux-system/flux-instance/app/helm/values.yaml:3"));
    assert!(repo.flux_kustomizations().iter().any(|k| k.key.name == "flux-instance"), "the tree under the sync path is followed");
    assert_eq!(r.summary.explicit_no_wait, 1);
}

/// A helmfile found by its content whose releases get their chart from a template: each is the
/// chart of the cluster's HelmRelease of that name. The FluxInstance is a HelmRelease of the
/// `flux-instance` chart with its sync in `spec.values`.
#[test]
fn helmfile_releases_whose_chart_a_template_supplies() {
    let repo = load("quiet/helmfile-templated-releases");
    assert_eq!(repo.cluster_dir, Path::new("kubernetes/flux/cluster"));
    let b = repo.bootstraps().iter().find(|b| b.file == Path::new("bootstrap/helmfile/crds.yaml")).unwrap();
    let got: Vec<(&str, usize)> = b.installs.iter().map(|(g, o)| (g.as_str(), o.line)).collect();
    assert_eq!(got, vec![("monitoring.coreos.com", 8)]);
    let r = check_repo(&repo);
    assert_eq!(r.errors() + r.warnings(), 0, "{:#?}", r.findings);
    assert_eq!(r.flux.version.to_string(), "2.7");
    assert_eq!(r.summary.bootstrapped_by.as_deref(), Some("flux-instance chart values of HelmRelease flux-system/flux-instance"));
}

/// The `flux-manifests` OCI artifact's tag pins Flux like gotk-components.yaml does.
#[test]
fn flux_manifests_tag_pins_flux() {
    let r = check_repo(&load("quiet/flux-manifests-pin"));
    assert_eq!(r.flux.version.to_string(), "2.4");
    assert_eq!(r.flux.pinned_by.as_deref(), Some("clusters/c/flux.yaml:10"));
    assert_eq!(r.errors() + r.warnings(), 0, "{:#?}", r.findings);
}

/// ResourceSet objects join the plan and every rule; the shared source is generated once.
#[test]
fn resourceset_objects_join_the_plan() {
    let repo = load("quiet/resourceset-tenants");
    let generated: Vec<String> = repo.objects().iter().filter(|o| o.doc.generated.is_some()).map(|o| o.key.to_string()).collect();
    for want in [
        "Namespace team-alpha",
        "Namespace team-gamma",
        "Kustomization flux-system/team-beta",
        "Kustomization flux-system/team-gamma",
        "GitRepository flux-system/team-charts",
    ] {
        assert!(generated.contains(&want.to_string()), "{want} not in {generated:?}");
    }
    assert_eq!(generated.len(), 7, "{generated:?}");
    let ns = repo.objects().iter().find(|o| o.key.name == "team-beta" && o.key.kind == "Namespace").unwrap();
    assert_eq!(ns.doc.value["metadata"]["labels"]["size"], "small");
    let r = check_repo(&repo);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.summary.generated_objects, 7);
    let wave = |n: &str| r.plan.waves.iter().position(|w| w.iter().any(|k| k.name == n)).unwrap();
    assert!(wave("tenants") < wave("team-gamma"), "{:?}", r.plan.waves_short());
    // Each generated Kustomization's path was followed.
    assert!(repo.objects().iter().any(|o| o.key.kind == "ConfigMap" && o.doc.value["data"]["team"] == "gamma"));
}

/// A finding in a generated object points at the ResourceSet's template line and names the input
/// (the fields that tell it from the other inputs first).
#[test]
fn generated_findings_point_at_the_resourceset() {
    let r = check_repo(&load("broken/resourceset-path-missing"));
    let f = &r.with_code(codes::PATH_MISSING)[0];
    assert_eq!((f.file.as_path(), f.line), (Path::new("regions/rset.yaml"), 23), "{f:?}");
    assert!(
        f.message.contains("region-apac")
            && f.message.contains("ResourceSet flux-system/regions from its inputs[1] {region: apac, cluster: prod}"),
        "{}",
        f.message
    );
    let r = check_repo(&load("broken/resourceset-invalid"));
    let f = &r.findings[0];
    assert_eq!((f.code, f.file.as_path(), f.line), (codes::RESOURCESET_INVALID, Path::new("teams/rset.yaml"), 10));
    assert!(f.message.contains("map has no entry for key \"team\""), "{}", f.message);
}

/// Dynamic input providers are only known in the cluster: said as info, the rest expands.
#[test]
fn dynamic_providers_are_info() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(r, "clusters/c/previews.yaml", &ks("previews", "./previews", "  wait: true\n"));
    put(
        r,
        "previews/all.yaml",
        "apiVersion: fluxcd.controlplane.io/v1\nkind: ResourceSetInputProvider\nmetadata:\n  name: prs\n  namespace: flux-system\nspec:\n  type: GitHubPullRequest\n  url: https://github.com/org/app\n---\napiVersion: fluxcd.controlplane.io/v1\nkind: ResourceSet\nmetadata:\n  name: previews\n  namespace: flux-system\nspec:\n  inputsFrom:\n    - name: prs\n  resources:\n    - apiVersion: v1\n      kind: Namespace\n      metadata:\n        name: preview-<< inputs.id >>\n",
    );
    let report = check_repo(&Repo::load(r, None).unwrap());
    let info = report.with_code(codes::RESOURCESET_PARTIAL);
    assert_eq!(info.len(), 1, "{:#?}", report.findings);
    assert_eq!(info[0].severity, Severity::Info);
    assert!(info[0].message.contains("prs (GitHubPullRequest)"), "{}", info[0].message);
    assert_eq!(report.errors() + report.warnings(), 0, "{:#?}", report.findings);
}

/// CRDs installed before Flux by a helmfile or a task runner count as installed first; when the
/// finding still fires it names the bootstrap it looked at.
#[test]
fn bootstraps_outside_the_tree_install_crds_first() {
    let repo = load("quiet/crd-installed-by-helmfile");
    let b = repo.bootstraps().iter().find(|b| b.file == Path::new("bootstrap/helmfile.yaml")).unwrap();
    let groups: Vec<&str> = b.installs.iter().map(|(g, _)| g.as_str()).collect();
    assert!(groups.contains(&"cert-manager.io") && groups.contains(&"monitoring.coreos.com"), "{groups:?}");
    assert!(check_repo(&repo).findings.is_empty());
    let repo = load("quiet/crd-installed-by-task-runner");
    let b = repo.bootstraps().iter().find(|b| b.what == "justfile").unwrap();
    assert_eq!(b.installs.first().map(|(g, o)| (g.as_str(), o.line)), Some(("gateway.networking.k8s.io", 5)));
    let repo = load("quiet/crd-installed-by-taskfile");
    let b = repo.bootstraps().iter().find(|b| b.file == Path::new(".taskfiles/bootstrap/Taskfile.yaml")).unwrap();
    let got: Vec<(&str, usize)> = b.installs.iter().map(|(g, o)| (g.as_str(), o.line)).collect();
    assert_eq!(got, vec![("gateway.networking.k8s.io", 7), ("external-secrets.io", 9)], "remote URL, then {{{{.BOOTSTRAP_DIR}}}}/crds");
    let r = check_repo(&repo);
    assert_eq!(r.errors() + r.warnings(), 0, "{:#?}", r.findings);
    let r = check_repo(&load("broken/crd-not-ordered-after-bootstrap"));
    let m = &r.with_code(codes::CRD_NOT_ORDERED)[0].message;
    assert!(
        m.contains("bootstrap steps looked at: bootstrap/helmfile.yaml (helmfile)")
            && m.contains("none installs CRDs of monitoring.coreos.com"),
        "{m}"
    );
    // Without any bootstrap, the finding says none was found.
    let r = check_repo(&load("broken/crd-not-ordered"));
    assert!(r.findings[0].message.contains("no bootstrap step outside the Flux tree"), "{}", r.findings[0].message);
}

/// `wait: false` is the author's decision: counted, not reported; a parent of judged children is
/// not a leaf.
#[test]
fn wait_false_is_counted_not_reported() {
    let r = check_repo(&load("quiet/wait-false-and-parents"));
    assert!(r.with_code(codes::LEAF_NOT_WAITED).is_empty(), "{:#?}", r.findings);
    assert_eq!(r.summary.explicit_no_wait, 1);
    let human = check::render_human(&r, Path::new("x"));
    assert!(human.contains("1 Kustomization(s) set `wait: false` explicitly"), "{human}");
}

/// Beside a HelmRelease (its own verdict), only a Kustomization's own workloads make it a leaf to
/// report; a release with `disableWait` is no verdict, and custom resources alone still count.
/// The finding names what `wait` would wait for.
#[test]
fn leaves_beside_judged_releases() {
    let hr = |name: &str, extra: &str| {
        format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {name}\nspec:\n  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: chart\n{extra}---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: chart\nspec:\n  interval: 1h\n  url: oci://ghcr.io/example/chart\n  ref:\n    tag: 1.0.0\n"
        )
    };
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sidecar\nspec:\n  selector:\n    matchLabels: {app: s}\n  template:\n    metadata:\n      labels: {app: s}\n    spec:\n      containers: [{name: s, image: s}]\n";
    let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n";
    let cert = "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: web\nspec:\n  secretName: web\n  issuerRef: {name: ca, kind: ClusterIssuer}\n  dnsNames: [web.example.com]\n";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (name, files) in [
        ("quiet", vec![hr("a", ""), pvc.to_string()]),
        ("with-deploy", vec![hr("b", ""), deploy.to_string(), pvc.to_string()]),
        ("no-wait-release", vec![hr("c", "  install:\n    disableWait: true\n"), pvc.to_string()]),
        ("only-cert", vec![cert.to_string()]),
    ] {
        put(root, &format!("clusters/c/{name}.yaml"), &ks(name, &format!("./{name}"), &format!("  targetNamespace: {name}\n")));
        put(root, &format!("{name}/all.yaml"), &files.join("---\n"));
    }
    let r = check_repo(&Repo::load(root, None).unwrap());
    let mut got: Vec<String> = r.with_code(codes::LEAF_NOT_WAITED).iter().map(|f| f.message.clone()).collect();
    got.sort();
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got[0].contains("flux-system/no-wait-release") && got[0].contains("HelmRelease no-wait-release/c"), "{}", got[0]);
    assert!(got[1].contains("only-cert") && got[1].contains("(Certificate only-cert/web)"), "{}", got[1]);
    assert!(got[2].contains("with-deploy") && got[2].contains("(Deployment with-deploy/sidecar)"), "{}", got[2]);
}

/// A parent's `spec.patches` reach the child Kustomizations it applies (`wait: true` for all).
#[test]
fn parent_patches_reach_children() {
    let repo = load("quiet/parent-patches-children");
    let web = repo.flux_kustomizations().iter().find(|k| k.key.name == "web").unwrap();
    assert!(web.wait, "the parent's patch sets wait");
    let r = check_repo(&repo);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

/// Values against the chart's values.schema.json, at the line of the offending value: in
/// `spec.values`, and in the file a `valuesFrom` generator reads.
#[test]
fn helm_values_against_the_chart_schema() {
    let r = check_repo(&load("broken/helm-values-invalid"));
    let f = &r.findings[0];
    assert_eq!((f.code, f.file.as_path(), f.line), (codes::HELM_VALUES_INVALID, Path::new("infra/release.yaml"), 18), "{f:?}");
    assert!(f.message.contains("/replicaCount") && f.message.contains("\"three\""), "{}", f.message);

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in [
        "charts/web/Chart.yaml",
        "charts/web/values.yaml",
        "charts/web/values.schema.json",
        "clusters/c/apps.yaml",
        "apps/kustomization.yaml",
        "apps/release.yaml",
    ] {
        put(root, f, &std::fs::read_to_string(common::fixtures().join("quiet/chart-values-schema").join(f)).unwrap());
    }
    put(root, "apps/web-values.yaml", "# from the generator\nimage:\n  tag: 110\n");
    let r = check_repo(&Repo::load(root, None).unwrap());
    let f = &r.with_code(codes::HELM_VALUES_INVALID)[0];
    assert_eq!((f.file.as_path(), f.line), (Path::new("apps/web-values.yaml"), 3), "{f:?}");
    assert!(f.message.contains("/image/tag"), "{}", f.message);
}

/// Charts from a chart directory (`--charts`): CRDs from the chart itself (its template guards
/// evaluated with the values), values against its schema; without it, one note in the summary.
#[test]
fn charts_from_a_chart_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "clusters/c/infra.yaml", &ks("infra", "./infra", "  wait: true\n"));
    put(root, "clusters/c/apps.yaml", &ks("apps", "./apps", "  wait: true\n"));
    put(
        root,
        "infra/cert-manager.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: cert-manager\n  namespace: cert-manager\nspec:\n  interval: 1h\n  chart:\n    spec:\n      chart: cert-manager\n      sourceRef:\n        kind: HelmRepository\n        name: jetstack\n  values:\n    crds:\n      enabled: true\n    replicaCount: two\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: jetstack\n  namespace: cert-manager\nspec:\n  interval: 1h\n  url: https://charts.jetstack.io\n",
    );
    put(root, "apps/issuer.yaml", "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: ca\nspec:\n  selfSigned: {}\n");
    let charts = common::shared_reference().join("charts");
    let opts = LoadOptions { charts: vec![Arc::new(ChartDirs::new(vec![charts.clone()]))] };
    let repo = Repo::load_with(root, None, &opts).unwrap();
    let hr = &repo.helm_releases()[0];
    assert_eq!(hr.chart_found.as_ref().map(|(d, _)| d.clone()), Some(charts.join("cert-manager")));
    let r = check_repo(&repo);
    let bad = r.with_code(codes::HELM_VALUES_INVALID);
    assert_eq!(bad.len(), 1, "{:#?}", r.findings);
    assert_eq!((bad[0].file.as_path(), bad[0].line), (Path::new("infra/cert-manager.yaml"), 17));
    let order = r.with_code(codes::CRD_NOT_ORDERED);
    assert_eq!(order.len(), 1, "{:#?}", r.findings);
    assert!(order[0].message.contains("read from --charts"), "{}", order[0].message);
    assert!(r.summary.chart_unavailable.is_none());
    assert_eq!(r.summary.charts_read, 1);
    // The chart's own guard: with crds.enabled false, its CRD templates are not installed.
    put(
        root,
        "infra/cert-manager.yaml",
        &std::fs::read_to_string(root.join("infra/cert-manager.yaml")).unwrap().replace("enabled: true", "enabled: false"),
    );
    let r = check_repo(&Repo::load_with(root, None, &opts).unwrap());
    assert!(r.with_code(codes::CRD_NOT_ORDERED).is_empty(), "{:#?}", r.findings);
    // Without the chart: one note, no per-release finding.
    let r = check_repo(&Repo::load(root, None).unwrap());
    let note = r.summary.chart_unavailable.clone().unwrap_or_default();
    assert!(note.contains("cert-manager/cert-manager (cert-manager)") && note.contains("--charts DIR"), "{note}");
    assert!(r.with_code(codes::HELM_VALUES_INVALID).is_empty());
    assert!(check::render_human(&r, root).contains("info[chart-unavailable]"));
}

/// The workshop fixture with the upstream charts read as data: their CRDs and the values the
/// fixture sets pass (cert-manager's real values.schema.json included).
#[test]
fn workshop_fixture_with_its_real_charts() {
    let charts = common::shared_reference().join("charts");
    let opts = LoadOptions { charts: vec![Arc::new(ChartDirs::new(vec![charts]))] };
    let repo = Repo::load_with(&common::fixtures().join("gitops-linkerd"), Some(Path::new("clusters/my-cluster")), &opts).unwrap();
    let r = check_repo(&repo);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert!(r.summary.charts_read >= 6, "{:?}", r.summary);
}

/// A kustomize resource fetched from the network is said (info), not silently skipped.
#[test]
fn remote_kustomize_resources_are_said() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(r, "clusters/c/apps.yaml", &ks("apps", "./apps", "  wait: true\n"));
    put(r, "apps/kustomization.yaml", "resources:\n  - https://github.com/org/repo/deploy?ref=v1.0.0\n  - cm.yaml\n");
    put(r, "apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\n");
    let report = check_repo(&Repo::load(r, None).unwrap());
    let f = report.with_code(codes::KUSTOMIZE_REMOTE_RESOURCE);
    assert_eq!(f.len(), 1, "{:#?}", report.findings);
    assert_eq!((f[0].severity, f[0].line), (Severity::Info, 2));
    assert!(f[0].message.contains("--offline"), "{}", f[0].message);
}

/// `check --charts` on the CLI reads the charts; JSON carries the summary.
#[test]
fn cli_charts_option_and_summary() {
    let out = std::process::Command::new(common::bin())
        .args(["check"])
        .arg(common::fixtures().join("gitops-linkerd"))
        .args(["--cluster-dir", "clusters/my-cluster", "--format", "json", "--charts"])
        .arg(common::shared_reference().join("charts"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["summary"]["charts_read"].as_u64().unwrap_or(0) >= 6, "{}", v["summary"]);
}

/// Charts recorded in the source cassette (`sources record`) are read as data: a Helm
/// repository's archive (cert-manager: its CRD templates under `crds.enabled`, its schema), an
/// OCI chart (flagger, a HelmRepository of type `oci`: its `crds/`) and an OCIRepository holding
/// that chart (a `chartRef`).
#[test]
fn charts_from_the_source_cassette() {
    use gitops_harness::sources::charts::CassetteCharts;
    let dir = tempfile::tempdir().unwrap();
    let cassette_dir = dir.path().join("cassette");
    common::chart_cassette(&cassette_dir);
    let root = dir.path().join("repo");
    put(&root, "clusters/c/infra.yaml", &ks("infra", "./infra", ""));
    put(&root, "clusters/c/apps.yaml", &ks("apps", "./apps", "  wait: true\n"));
    put(
        &root,
        "infra/cert-manager.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: cert-manager\n  namespace: cert-manager\nspec:\n  interval: 1h\n  chart:\n    spec:\n      chart: cert-manager\n      version: 1.x\n      sourceRef:\n        kind: HelmRepository\n        name: jetstack\n  values:\n    crds:\n      enabled: true\n    replicaCount: two\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: jetstack\n  namespace: cert-manager\nspec:\n  interval: 1h\n  url: https://charts.jetstack.io\n",
    );
    put(
        &root,
        "infra/flagger.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: flagger\n  namespace: flagger-system\nspec:\n  interval: 1h\n  chart:\n    spec:\n      chart: flagger\n      version: 1.44.0\n      sourceRef:\n        kind: HelmRepository\n        name: flagger\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: flagger\n  namespace: flagger-system\nspec:\n  type: oci\n  interval: 1h\n  url: oci://ghcr.io/fluxcd/charts\n",
    );
    put(&root, "apps/issuer.yaml", "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: ca\nspec:\n  selfSigned: {}\n");
    put(
        &root,
        "infra/flagger-ref.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: flagger\n  namespace: canaries\nspec:\n  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: flagger\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: flagger\n  namespace: canaries\nspec:\n  interval: 1h\n  url: oci://ghcr.io/fluxcd/charts/flagger\n  ref:\n    tag: 1.44.0\n",
    );
    let source = Arc::new(CassetteCharts::open(&cassette_dir).unwrap());
    let repo = Repo::load_with(&root, None, &LoadOptions { charts: vec![source] }).unwrap();
    for hr in repo.helm_releases() {
        let (d, from) = hr.chart_found.clone().unwrap_or_else(|| panic!("{} not found in the cassette", hr.key));
        assert!(d.join("Chart.yaml").is_file() && from.contains("source cassette"), "{}: {} {from}", hr.key, d.display());
    }
    let r = check_repo(&repo);
    let bad = r.with_code(codes::HELM_VALUES_INVALID);
    assert_eq!(bad.len(), 1, "{:#?}", r.findings);
    assert_eq!((bad[0].file.as_path(), bad[0].line), (Path::new("infra/cert-manager.yaml"), 18));
    let order = r.with_code(codes::CRD_NOT_ORDERED);
    assert_eq!(order.len(), 1, "{:#?}", r.findings);
    assert!(order[0].message.contains("source cassette"), "{}", order[0].message);
    assert_eq!(r.summary.charts_read, 3);
    // Another version than the one recorded is not taken for it.
    put(&root, "infra/flagger.yaml", &std::fs::read_to_string(root.join("infra/flagger.yaml")).unwrap().replace("1.44.0", "1.45.0"));
    let source = Arc::new(CassetteCharts::open(&cassette_dir).unwrap());
    let repo = Repo::load_with(&root, None, &LoadOptions { charts: vec![source] }).unwrap();
    let flagger = repo.helm_releases().iter().find(|h| h.key.short() == "flagger-system/flagger").unwrap();
    assert!(flagger.chart_found.is_none());
}
