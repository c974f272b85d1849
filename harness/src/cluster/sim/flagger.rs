//! Flagger on sim: the real Flagger as a host process, configured from the values of the
//! repo's Flagger HelmRelease (as the chart would run it), with its HTTP traffic (metrics and
//! webhooks) sent to the harness stand-ins through its proxy settings.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Container;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::components::{Layout, NO_PROXY};
use super::process::ProcessSpec;
use super::toolset::{Component, Toolset};
use crate::repo::helm_values::release_values;
use crate::repo::{HelmRelease, Repo};

/// Flagger's own default for `-mesh-provider` (v1.44 `cmd/flagger`), which applies when nothing
/// passes the flag: the Flagger chart passes none while `meshProvider` is empty (its default).
pub const FLAGGER_DEFAULT_MESH_PROVIDER: &str = "istio";
/// The Flagger chart's `metricsServer` default (also Flagger's own `-metrics-server` default).
pub const CHART_DEFAULT_METRICS_SERVER: &str = "http://prometheus:9090";

/// How Flagger runs: the flags its chart (or the repo's own Flagger Deployment) passes, so sim
/// starts it the way the repo would on a real cluster. `None`: the flag is not passed and
/// Flagger's own default applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlaggerSettings {
    /// `-mesh-provider`.
    pub mesh_provider: Option<String>,
    /// `-metrics-server` (the chart always passes one); reached through the stand-ins.
    pub metrics_server: String,
    /// `-selector-labels`.
    pub selector_labels: Option<String>,
    /// `-namespace`: the one namespace Flagger watches.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `-include-label-prefix`.
    #[serde(default)]
    pub include_label_prefix: Option<String>,
    /// `-ingress-annotations-prefix`.
    #[serde(default)]
    pub ingress_annotations_prefix: Option<String>,
    /// Where these come from, for `up` to say (a HelmRelease or Deployment and its file:line, or
    /// the chart's defaults).
    #[serde(default)]
    pub from: String,
    /// The repository installs Flagger (its chart or a Deployment): sim starts it from the live
    /// Deployment when the cluster has it ([`from_deployment`]), these settings only say what to
    /// expect. `false`: nothing installs Flagger, sim starts it with these at `up`.
    #[serde(default)]
    pub deployed: bool,
}

impl FlaggerSettings {
    /// The settings the repo gives Flagger, when it uses Flagger at all (a Flagger HelmRelease,
    /// a Flagger Deployment, or any Canary); `None` otherwise. A HelmRelease of the `flagger`
    /// chart decides as the chart's templates do with its merged values (`valuesFrom` and
    /// `spec.values`); else a Deployment running Flagger's image, by its args; else the chart's
    /// defaults, as a plain `helm install flagger` would run it.
    pub fn from_repo(repo: &Repo) -> Option<FlaggerSettings> {
        if let Some(hr) = repo.helm_releases().iter().find(|h| h.chart == "flagger") {
            return Some(Self::from_release(repo, hr));
        }
        if let Some((d, args)) = repo.deployments().iter().find_map(|d| flagger_container_args(d).map(|a| (d, a))) {
            let mut s = Self::from_args(&args, format!("the args of {} ({}:{})", d.key, d.doc.file.display(), d.doc.line));
            s.deployed = true;
            return Some(s);
        }
        if repo.canaries().is_empty() {
            return None;
        }
        Some(Self::from_values(
            &Value::Null,
            "flagger",
            "the Flagger chart's defaults (the repo has Canaries but installs no Flagger: no HelmRelease of the flagger chart, no Flagger Deployment)".to_string(),
        ))
    }

    /// As the chart's `templates/deployment.yaml` renders its args from a release's values.
    fn from_release(repo: &Repo, hr: &HelmRelease) -> FlaggerSettings {
        let values = release_values(repo, hr);
        let at = |pointer: &str| values.origin_of(pointer).map(|o| format!("{}:{}", o.file.display(), o.line));
        let mesh = match at("/meshProvider").filter(|_| values.merged.get("meshProvider").is_some()) {
            Some(o) => format!("meshProvider at {o}"),
            None => format!("{}:{}, which sets no meshProvider", hr.doc.file.display(), hr.doc.line),
        };
        let mut s = Self::from_values(&values.merged, &hr.release_name(), format!("{} ({mesh})", hr.key));
        s.deployed = true;
        s
    }

    fn from_values(values: &Value, release_name: &str, from: String) -> FlaggerSettings {
        let non_empty = |k: &str| values.get(k).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string);
        let prometheus_install = values.pointer("/prometheus/install").and_then(Value::as_bool).unwrap_or(false);
        let metrics_server = if prometheus_install {
            format!("http://{}-prometheus:9090", chart_fullname(values, release_name))
        } else {
            values.get("metricsServer").and_then(Value::as_str).unwrap_or(CHART_DEFAULT_METRICS_SERVER).to_string()
        };
        FlaggerSettings {
            mesh_provider: non_empty("meshProvider"),
            metrics_server,
            selector_labels: non_empty("selectorLabels"),
            namespace: non_empty("namespace"),
            include_label_prefix: non_empty("includeLabelPrefix"),
            ingress_annotations_prefix: non_empty("ingressAnnotationsPrefix"),
            from,
            deployed: false,
        }
    }

    /// From a Flagger container's args (`-flag=value` or `--flag value`), as Flagger parses them.
    fn from_args(args: &[String], from: String) -> FlaggerSettings {
        let flag = |name: &str| -> Option<String> {
            let mut it = args.iter();
            let mut found = None;
            while let Some(a) = it.next() {
                let bare = a.trim_start_matches('-');
                if !a.starts_with('-') {
                    continue;
                }
                if let Some(v) = bare.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                    found = Some(v.to_string());
                } else if bare == name {
                    found = it.next().cloned();
                }
            }
            found
        };
        FlaggerSettings {
            mesh_provider: flag("mesh-provider"),
            metrics_server: flag("metrics-server").unwrap_or_else(|| CHART_DEFAULT_METRICS_SERVER.to_string()),
            selector_labels: flag("selector-labels"),
            namespace: flag("namespace"),
            include_label_prefix: flag("include-label-prefix"),
            ingress_annotations_prefix: flag("ingress-annotations-prefix"),
            from,
            deployed: false,
        }
    }

    /// The mesh provider Flagger uses: the flag's, else its default.
    pub fn effective_mesh_provider(&self) -> &str {
        self.mesh_provider.as_deref().unwrap_or(FLAGGER_DEFAULT_MESH_PROVIDER)
    }

    /// What `up` says: the mesh provider and why, and what else differs from Flagger's defaults.
    pub fn describe(&self) -> String {
        let mesh = match &self.mesh_provider {
            Some(m) => format!("mesh provider {m}, from {}", self.from),
            None => format!(
                "mesh provider {FLAGGER_DEFAULT_MESH_PROVIDER} (Flagger's default: no -mesh-provider is passed, as with {})",
                self.from
            ),
        };
        let mut extra = vec![format!("metrics server {}", self.metrics_server)];
        if let Some(l) = &self.selector_labels {
            extra.push(format!("selector labels {l}"));
        }
        if let Some(n) = &self.namespace {
            extra.push(format!("watching namespace {n} only"));
        }
        format!("{mesh}; {}", extra.join(", "))
    }
}

/// The chart's `flagger.fullname`: `fullnameOverride`, else the release name when it contains
/// the chart name (or `nameOverride`), else `<release>-<name>`; at most 63 characters.
fn chart_fullname(values: &Value, release_name: &str) -> String {
    let s = |k: &str| values.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    let full = match s("fullnameOverride") {
        Some(f) => f.to_string(),
        None => {
            let name = s("nameOverride").unwrap_or("flagger");
            if release_name.contains(name) { release_name.to_string() } else { format!("{release_name}-{name}") }
        }
    };
    full.chars().take(63).collect::<String>().trim_end_matches('-').to_string()
}

/// The args of a Deployment's Flagger container (image `…/flagger:<tag>`, not the load tester),
/// with its `command` after the program when args are given there.
fn flagger_container_args(d: &crate::repo::Deployment) -> Option<Vec<String>> {
    let containers = d.doc.value.pointer("/spec/template/spec/containers")?.as_array()?;
    let c = containers.iter().find(|c| c.get("image").and_then(Value::as_str).is_some_and(is_flagger_image))?;
    let strings = |k: &str| -> Vec<String> {
        c.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default()
    };
    let mut args: Vec<String> = strings("command").into_iter().skip(1).collect();
    args.extend(strings("args"));
    Some(args)
}

/// Whether an image is Flagger's (`…/flagger:<tag>`; not the load tester).
fn is_flagger_image(image: &str) -> bool {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = repo.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(repo, |(r, _)| r);
    repo.rsplit('/').next() == Some("flagger")
}

/// The process name (its log is `logs/flagger.log`).
pub const PROCESS: &str = "flagger";

/// Flags sim sets itself for Flagger on the host (out of cluster, one instance, loopback), and
/// the mesh kubeconfig, a file in the pod (sim has one API server); `true`: takes a value.
const OWNED_FLAGS: &[(&str, bool)] = &[
    ("kubeconfig", true),
    ("port", true),
    ("enable-leader-election", false),
    ("leader-election-namespace", true),
    ("kubeconfig-service-mesh", true),
];

/// Flagger for a live Deployment that runs it.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The process (the egress gateway's env is added by the caller).
    pub spec: ProcessSpec,
    /// What its args say, for the record and `up`.
    pub settings: FlaggerSettings,
    /// What sim does differently from the Deployment.
    pub warnings: Vec<String>,
}

/// The Flagger container of a live Deployment, if it runs one.
pub fn container_of(d: &Deployment) -> Option<&Container> {
    d.spec.as_ref()?.template.spec.as_ref()?.containers.iter().find(|c| c.image.as_deref().is_some_and(is_flagger_image))
}

/// Flagger as a live Deployment runs it: that container's args and env (resolved as the kubelet
/// does), with the sim kubeconfig, its HTTP port on loopback and leader election off; `None`
/// when the Deployment runs no Flagger.
pub fn from_deployment(tools: &Toolset, layout: &Layout, d: &Deployment, port: u16) -> Option<Launch> {
    let c = container_of(d)?;
    let id = format!("{}/{}", d.metadata.namespace.as_deref().unwrap_or("default"), d.metadata.name.as_deref().unwrap_or_default());
    let mut warnings = Vec::new();
    let built = Component::Flagger.version().trim_start_matches('v');
    match c.image.as_deref().and_then(super::container::image_tag) {
        Some(tag) if tag.trim_start_matches('v') == built => {}
        tag => warnings.push(format!(
            "Deployment {id} runs {}; sim runs Flagger {built} (the version the sim tools built)",
            match tag {
                Some(t) => format!("Flagger {t}"),
                None => c.image.clone().unwrap_or_default(),
            }
        )),
    }
    let (env, args) = super::container::container_env_and_args(d, c, &mut warnings);
    if args.iter().any(|a| a.trim_start_matches('-').starts_with("kubeconfig-service-mesh")) {
        warnings.push(format!(
            "Deployment {id}: -kubeconfig-service-mesh names a file in the pod; sim's Flagger uses its one API server for the mesh too"
        ));
    }
    let mut args = super::container::drop_flags(&args, OWNED_FLAGS);
    let mut settings = FlaggerSettings::from_args(&args, format!("the args of Deployment {id} (live)"));
    settings.deployed = true;
    args.extend([
        format!("-kubeconfig={}", layout.kubeconfig().display()),
        format!("-port={port}"),
        "-enable-leader-election=false".to_string(),
    ]);
    let mut spec = ProcessSpec::new(PROCESS, tools.bin(Component::Flagger, "flagger"), args, &layout.root);
    for (k, v) in env {
        if k.eq_ignore_ascii_case("http_proxy") || k.eq_ignore_ascii_case("https_proxy") || k.eq_ignore_ascii_case("no_proxy") {
            warnings.push(format!("Deployment {id}: env {k} is replaced by sim's egress gateway"));
        } else {
            spec = spec.env(&k, v);
        }
    }
    Some(Launch { spec: spec.env("NO_PROXY", NO_PROXY), settings, warnings })
}

/// The `-metrics-server` of a live Flagger Deployment (as JSON), Flagger's default when unset.
pub fn metrics_server_of(deployment: &Value) -> Option<String> {
    let d: Deployment = serde_json::from_value(deployment.clone()).ok()?;
    let c = container_of(&d)?;
    let args: Vec<String> = c.command.iter().flatten().skip(1).chain(c.args.iter().flatten()).cloned().collect();
    Some(FlaggerSettings::from_args(&args, String::new()).metrics_server)
}

/// The Flagger process; the backend sends its HTTP clients (metrics, webhooks) through the
/// egress gateway (`gateway::process_env`), and the API server on loopback is never proxied.
pub fn process(tools: &Toolset, layout: &Layout, settings: &FlaggerSettings, port: u16) -> ProcessSpec {
    let mut args = vec![format!("-kubeconfig={}", layout.kubeconfig().display())];
    for (flag, value) in [
        ("mesh-provider", &settings.mesh_provider),
        ("selector-labels", &settings.selector_labels),
        ("namespace", &settings.namespace),
        ("include-label-prefix", &settings.include_label_prefix),
        ("ingress-annotations-prefix", &settings.ingress_annotations_prefix),
    ] {
        if let Some(v) = value {
            args.push(format!("-{flag}={v}"));
        }
    }
    args.extend([
        format!("-metrics-server={}", settings.metrics_server),
        format!("-port={port}"),
        "-log-level=info".to_string(),
        "-enable-leader-election=false".to_string(),
    ]);
    ProcessSpec::new(PROCESS, tools.bin(Component::Flagger, "flagger"), args, &layout.root).env("NO_PROXY", NO_PROXY)
}

/// The SMI TrafficSplit CRD that Flagger's Linkerd provider writes (the linkerd-smi chart
/// installs it on a real cluster), with the upstream shapes: v1alpha1 stored with int-or-string
/// weights, v1alpha2 served with numeric weights, `service` and `backends` required, no
/// `matches` (unknown fields are pruned), no conversion webhook. `harness/tests/integration/crds_reference.rs`
/// compares it with the chart's CRD.
pub fn traffic_split_crd() -> Value {
    let version = |name: &str, storage: bool, weight: Value| {
        json!({"name": name, "served": true, "storage": storage,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
                "required": ["service", "backends"],
                "properties": {"service": {"type": "string"},
                    "backends": {"type": "array", "items": {"type": "object", "required": ["service", "weight"],
                        "properties": {"service": {"type": "string"}, "weight": weight}}}}}}}},
            "additionalPrinterColumns": [{"name": "Service", "type": "string", "jsonPath": ".spec.service"}]})
    };
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "trafficsplits.split.smi-spec.io", "labels": {"app.kubernetes.io/managed-by": "gitops-harness"}},
        "spec": {
            "group": "split.smi-spec.io",
            "scope": "Namespaced",
            "conversion": {"strategy": "None"},
            "preserveUnknownFields": false,
            "names": {"kind": "TrafficSplit", "listKind": "TrafficSplitList", "plural": "trafficsplits", "singular": "trafficsplit", "shortNames": ["ts"]},
            "versions": [
                version("v1alpha1", true, json!({"x-kubernetes-int-or-string": true})),
                version("v1alpha2", false, json!({"type": "number"})),
            ],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_flagger(image: &str, command: &[&str]) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "flagger", "namespace": "flagger-system"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [
                {"name": "flagger", "image": image, "command": command,
                 "env": [{"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}, {"name": "HTTPS_PROXY", "value": "http://corp:3128"}]}
            ]}}}
        }))
        .unwrap()
    }

    #[test]
    fn a_live_flagger_deployment_runs_with_its_own_args_on_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let tools = Toolset::for_tests(dir.path());
        let layout = Layout { root: dir.path().join("state") };
        let built = Component::Flagger.version().trim_start_matches('v');
        let d = live_flagger(
            &format!("ghcr.io/fluxcd/flagger:{built}"),
            &[
                "./flagger",
                "-log-level=info",
                "-mesh-provider=linkerd",
                "-metrics-server=http://prometheus.linkerd-viz:9090",
                "-enable-leader-election=true",
                "-leader-election-namespace=flagger-system",
                "-port",
                "8080",
            ],
        );
        let launch = from_deployment(&tools, &layout, &d, 4100).unwrap();
        let a = &launch.spec.args;
        for want in [
            "-log-level=info",
            "-mesh-provider=linkerd",
            "-metrics-server=http://prometheus.linkerd-viz:9090",
            "-port=4100",
            "-enable-leader-election=false",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing: {a:?}");
        }
        for gone in ["-enable-leader-election=true", "-leader-election-namespace=flagger-system", "8080"] {
            assert!(!a.iter().any(|x| x == gone), "{gone} must be dropped: {a:?}");
        }
        assert_eq!(launch.settings.mesh_provider.as_deref(), Some("linkerd"));
        assert!(launch.settings.deployed);
        assert!(launch.spec.env.iter().any(|(k, v)| k == "POD_NS" && v == "flagger-system"), "{:?}", launch.spec.env);
        assert!(!launch.spec.env.iter().any(|(k, _)| k == "HTTPS_PROXY"), "the pod's proxy is replaced by the gateway's");
        assert!(launch.warnings.iter().any(|w| w.contains("HTTPS_PROXY")), "{:?}", launch.warnings);
        assert!(!launch.warnings.iter().any(|w| w.contains("sim runs Flagger")), "same version: no warning {:?}", launch.warnings);
        let other = live_flagger("ghcr.io/fluxcd/flagger:1.40.0", &["./flagger"]);
        let w = from_deployment(&tools, &layout, &other, 4100).unwrap().warnings;
        assert!(w.iter().any(|w| w.contains("Flagger 1.40.0") && w.contains(built)), "{w:?}");
        assert!(from_deployment(&tools, &layout, &live_flagger("ghcr.io/fluxcd/flagger-loadtester:0.35.0", &[]), 1).is_none());
        assert_eq!(metrics_server_of(&serde_json::to_value(&other).unwrap()).as_deref(), Some(CHART_DEFAULT_METRICS_SERVER));
    }

    #[test]
    fn settings_come_from_the_fixture_release() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd");
        let repo = Repo::load(&root, Some(std::path::Path::new("clusters/sim"))).unwrap();
        let s = FlaggerSettings::from_repo(&repo).unwrap();
        assert_eq!(s.mesh_provider.as_deref(), Some("linkerd"));
        assert!(s.selector_labels.as_deref().unwrap_or_default().split(',').any(|l| l == "service"), "{s:?}");
        assert_eq!(s.metrics_server, "http://prometheus.linkerd-viz:9090");
    }

    fn repo_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let ks = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  path: ./apps\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n";
        let mut all = vec![("clusters/c1/apps.yaml", ks)];
        all.extend_from_slice(files);
        for (rel, text) in all {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let repo = Repo::load(dir.path(), None).unwrap();
        (dir, repo)
    }

    const CANARY: &str = "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: web\n  namespace: web\nspec:\n  targetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n  service:\n    port: 80\n";

    fn release(values: &str) -> String {
        format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: flagger\n  namespace: flagger-system\nspec:\n  chart:\n    spec:\n      chart: flagger\n      sourceRef:\n        kind: HelmRepository\n        name: flagger\n{values}"
        )
    }

    /// Without a Flagger release, Flagger runs as the chart's defaults run it: no
    /// -mesh-provider (so Flagger's own default, istio), no -selector-labels, the chart's
    /// metrics server. (sim used to pass -mesh-provider=kubernetes.)
    #[test]
    fn without_a_release_the_charts_defaults_apply() {
        let (_d, repo) = repo_with(&[("apps/kustomization.yaml", "resources:\n  - canary.yaml\n"), ("apps/canary.yaml", CANARY)]);
        let s = FlaggerSettings::from_repo(&repo).unwrap();
        assert_eq!(s.mesh_provider, None);
        assert_eq!(s.effective_mesh_provider(), "istio");
        assert_eq!(s.selector_labels, None);
        assert_eq!(s.metrics_server, "http://prometheus:9090");
        assert!(s.describe().starts_with("mesh provider istio (Flagger's default"), "{}", s.describe());
        assert!(s.describe().contains("the repo has Canaries but installs no Flagger"), "{}", s.describe());
        let tools = Toolset::for_tests(std::path::Path::new("/nonexistent"));
        let layout = Layout { root: "/state".into() };
        let args = process(&tools, &layout, &s, 1).args;
        assert!(!args.iter().any(|a| a.starts_with("-mesh-provider") || a.starts_with("-selector-labels")), "{args:?}");
        assert!(args.contains(&"-metrics-server=http://prometheus:9090".to_string()), "{args:?}");
    }

    #[test]
    fn no_flagger_and_no_canary_runs_no_flagger() {
        let (_d, repo) = repo_with(&[("apps/kustomization.yaml", "resources: []\n")]);
        assert_eq!(FlaggerSettings::from_repo(&repo), None);
    }

    /// The chart's templates: an empty meshProvider passes no flag; prometheus.install points
    /// Flagger at the chart's own Prometheus (`<fullname>-prometheus`); valuesFrom counts.
    #[test]
    fn a_release_decides_as_the_charts_templates_do() {
        let (_d, repo) = repo_with(&[
            ("apps/kustomization.yaml", "resources:\n  - release.yaml\n"),
            ("apps/release.yaml", &release("  values:\n    meshProvider: \"\"\n    prometheus:\n      install: true\n")),
        ]);
        let s = FlaggerSettings::from_repo(&repo).unwrap();
        assert_eq!(s.mesh_provider, None);
        assert_eq!(s.metrics_server, "http://flagger-prometheus:9090");
        assert!(s.describe().contains("HelmRelease flagger-system/flagger"), "{}", s.describe());

        let (_d, repo) = repo_with(&[
            ("apps/kustomization.yaml", "resources:\n  - release.yaml\n"),
            (
                "apps/release.yaml",
                &release(
                    "  targetNamespace: mesh\n  values:\n    meshProvider: linkerd\n    selectorLabels: app,service\n    prometheus:\n      install: true\n",
                ),
            ),
        ]);
        let s = FlaggerSettings::from_repo(&repo).unwrap();
        assert_eq!(s.mesh_provider.as_deref(), Some("linkerd"));
        assert_eq!(s.selector_labels.as_deref(), Some("app,service"));
        // Release name `mesh-flagger` contains the chart name: fullname is the release name.
        assert_eq!(s.metrics_server, "http://mesh-flagger-prometheus:9090");
        assert!(
            s.describe().starts_with("mesh provider linkerd, from HelmRelease flagger-system/flagger (meshProvider at apps/release.yaml:"),
            "{}",
            s.describe()
        );
    }

    #[test]
    fn a_flagger_deployment_decides_by_its_args() {
        let dep = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: flagger\n  namespace: linkerd\nspec:\n  selector:\n    matchLabels:\n      app: flagger\n  template:\n    metadata:\n      labels:\n        app: flagger\n    spec:\n      containers:\n        - name: flagger\n          image: ghcr.io/fluxcd/flagger:1.44.0\n          command:\n            - ./flagger\n            - -log-level=info\n            - -mesh-provider=linkerd\n            - -metrics-server=http://prometheus.linkerd-viz:9090\n";
        let (_d, repo) = repo_with(&[
            ("apps/kustomization.yaml", "resources:\n  - flagger.yaml\n  - canary.yaml\n"),
            ("apps/flagger.yaml", dep),
            ("apps/canary.yaml", CANARY),
        ]);
        let s = FlaggerSettings::from_repo(&repo).unwrap();
        assert_eq!(s.mesh_provider.as_deref(), Some("linkerd"));
        assert_eq!(s.metrics_server, "http://prometheus.linkerd-viz:9090");
        assert_eq!(s.from, "the args of Deployment linkerd/flagger (apps/flagger.yaml:1)");
    }

    #[test]
    fn chart_fullname_follows_the_helper() {
        assert_eq!(chart_fullname(&Value::Null, "flagger"), "flagger");
        assert_eq!(chart_fullname(&Value::Null, "canaries"), "canaries-flagger");
        assert_eq!(chart_fullname(&json!({"nameOverride": "fl"}), "canaries"), "canaries-fl");
        assert_eq!(chart_fullname(&json!({"fullnameOverride": "x-"}), "canaries"), "x");
    }
}
