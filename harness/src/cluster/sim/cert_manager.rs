//! cert-manager on sim: cert-manager's own controllers (issuers, clusterissuers, the certificates
//! controllers, CertificateRequest approval, the CA and SelfSigned signers, the ingress/gateway
//! shims) as one host process. `scripts/sim-tools.sh` builds it from the launcher module in
//! `harness/sim-go/cert-manager` at `CERT_MANAGER_VERSION`: cert-manager's `cmd/controller` is a
//! nested module the Go module proxy does not serve, so the launcher (a module under
//! `github.com/cert-manager/cert-manager/`, which Go's internal-package rule admits) does its
//! wiring. ACME, Vault and Venafi are not linked (Venafi's client module is not served; the
//! others need a network sim does not have): the launcher names them in its log when enabled.
//!
//! [`from_deployment`] turns the live controller Deployment (as the chart renders it) into the
//! process: its args and env, with out-of-cluster settings (kubeconfig, no leader election,
//! loopback ports) in place of the in-cluster ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Secret, Volume};
use kube::api::Api;

use super::components::{BLACKHOLE_PROXY, Layout, NO_PROXY};
use super::container::{container_env_and_args, drop_flags, image_tag};
use super::process::ProcessSpec;
use super::toolset::{Component, Toolset};

/// The controller's container in the cert-manager chart's Deployment (`<chart>-controller`).
pub const CONTAINER: &str = "cert-manager-controller";
/// The launcher's program in the tool cache.
pub const PROGRAM: &str = "cert-manager-controller";
/// The process name (its log is `logs/cert-manager.log`).
pub const PROCESS: &str = "cert-manager";

/// Loopback ports of the controller's servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Prometheus metrics (`--metrics-listen-address`).
    pub metrics: u16,
    /// `/livez` (`--internal-healthz-listen-address`).
    pub healthz: u16,
}

/// Where a mounted ConfigMap or Secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A ConfigMap.
    ConfigMap,
    /// A Secret.
    Secret,
}

/// A ConfigMap or Secret volume an arg points into: its files must be written to `dir` (with
/// [`write_volumes`]) before the process starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFiles {
    /// ConfigMap or Secret.
    pub source: VolumeSource,
    /// Its namespace (the Deployment's).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `items` of the volume (key → relative path); empty: every key under its own name.
    pub items: Vec<(String, String)>,
    /// Whether the volume is `optional`.
    pub optional: bool,
    /// The directory that stands for the mount path.
    pub dir: PathBuf,
}

/// The process for a controller Deployment, and what must be done or said first.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The process.
    pub spec: ProcessSpec,
    /// Volumes whose files the args refer to.
    pub volumes: Vec<VolumeFiles>,
    /// What the sim does differently from the Deployment, for the user (image tag, settings it
    /// cannot carry over).
    pub warnings: Vec<String>,
}

/// Errors turning a Deployment into the controller process.
#[derive(Debug, thiserror::Error)]
pub enum CertManagerError {
    /// The Deployment has no cert-manager controller container.
    #[error(
        "Deployment {deployment} has no cert-manager controller container (looked for one named {CONTAINER} or running a cert-manager-controller image; it has: {containers}); sim can only run cert-manager's controller for it"
    )]
    NoController {
        /// `namespace/name`.
        deployment: String,
        /// Its containers.
        containers: String,
    },
    /// A ConfigMap or Secret the controller's args read is missing.
    #[error(
        "{kind} {namespace}/{name}, mounted into the cert-manager controller for its args, does not exist; create it (the chart does when its `config` value is set) or drop the arg"
    )]
    MissingVolume {
        /// ConfigMap or Secret.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Reading a ConfigMap or Secret failed.
    #[error("reading {what}: {source}")]
    Kube {
        /// What was read.
        what: String,
        /// Cause.
        source: kube::Error,
    },
    /// Writing a volume's files failed.
    #[error("writing {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Flags the sim sets itself (out of cluster, one instance, loopback), whatever the Deployment
/// says; `true` when the flag takes a value.
const OWNED_FLAGS: &[(&str, bool)] = &[
    ("kubeconfig", true),
    ("master", true),
    ("leader-elect", false),
    ("metrics-listen-address", true),
    ("internal-healthz-listen-address", true),
    ("profiler-address", true),
];

const PROXY_VARS: &[&str] = &["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY", "all_proxy"];

/// The controller process for `deployment` (the cert-manager chart's controller Deployment, as
/// it is live): its args and env, `$(VAR)` references expanded as the kubelet does, with the sim
/// kubeconfig, leader election off and the servers on `ports` of loopback. Args pointing into a
/// mounted ConfigMap or Secret (the chart's `--config`) point into `<state>/cert-manager/` instead.
pub fn from_deployment(tools: &Toolset, layout: &Layout, deployment: &Deployment, ports: Ports) -> Result<Launch, CertManagerError> {
    let namespace = deployment.metadata.namespace.clone().unwrap_or_else(|| "default".to_string());
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let id = format!("{namespace}/{name}");
    let pod = deployment.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    let containers = pod.map(|p| p.containers.as_slice()).unwrap_or_default();
    let container = controller_container(containers).ok_or_else(|| CertManagerError::NoController {
        deployment: id.clone(),
        containers: if containers.is_empty() {
            "none".to_string()
        } else {
            containers.iter().map(|c| format!("{} ({})", c.name, c.image.as_deref().unwrap_or("no image"))).collect::<Vec<_>>().join(", ")
        },
    })?;
    let mut warnings = Vec::new();
    if let Some(w) = image_warning(&id, container.image.as_deref()) {
        warnings.push(w);
    }

    let (env, mut args) = container_env_and_args(deployment, container, &mut warnings);
    args = drop_flags(&args, OWNED_FLAGS);

    let volumes_dir = layout.root.join("cert-manager");
    let mut volumes = Vec::new();
    let pod_volumes = pod.and_then(|p| p.volumes.as_deref()).unwrap_or_default();
    for mount in container.volume_mounts.iter().flatten() {
        let mount_path = mount.mount_path.trim_end_matches('/');
        let refers = |a: &String| value_of(a).is_some_and(|v| v == mount_path || v.starts_with(&format!("{mount_path}/")));
        if !args.iter().any(refers) {
            continue;
        }
        let dir = volumes_dir.join(&mount.name);
        match pod_volumes.iter().find(|v| v.name == mount.name).and_then(|v| volume_files(v, &namespace, &dir)) {
            Some(files) => {
                let sub = mount.sub_path.as_deref().filter(|s| !s.is_empty());
                let local = match sub {
                    Some(s) => dir.join(s),
                    None => dir.clone(),
                };
                args = args.iter().map(|a| rewrite_path(a, mount_path, &local)).collect();
                volumes.push(files);
            }
            None => warnings.push(format!(
                "{id}: an arg refers to {mount_path} (volume {}), which is not a ConfigMap or Secret: left as it is",
                mount.name
            )),
        }
    }

    args.extend([
        format!("--kubeconfig={}", layout.kubeconfig().display()),
        "--leader-elect=false".to_string(),
        format!("--metrics-listen-address=127.0.0.1:{}", ports.metrics),
        format!("--internal-healthz-listen-address=127.0.0.1:{}", ports.healthz),
        "--profiler-address=127.0.0.1:0".to_string(),
    ]);
    let mut spec = ProcessSpec::new(PROCESS, tools.bin(Component::CertManager, PROGRAM), args, &layout.root);
    for (k, v) in env {
        if PROXY_VARS.contains(&k.as_str()) {
            warnings.push(format!("{id}: env {k} is replaced by sim's own proxy setting"));
        } else {
            spec = spec.env(&k, v);
        }
    }
    // CA and SelfSigned issuers dial nothing; anything else must not leave the machine.
    spec = spec.env("HTTPS_PROXY", BLACKHOLE_PROXY).env("HTTP_PROXY", BLACKHOLE_PROXY).env("NO_PROXY", NO_PROXY);
    Ok(Launch { spec, volumes, warnings })
}

fn controller_container(containers: &[Container]) -> Option<&Container> {
    containers.iter().find(|c| c.name == CONTAINER).or_else(|| {
        containers.iter().find(|c| c.image.as_deref().map(image_repository).is_some_and(|r| r.ends_with("/cert-manager-controller")))
    })
}

/// `quay.io/jetstack/cert-manager-controller:v1.21.2@sha256:…` → `quay.io/jetstack/cert-manager-controller`.
fn image_repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

/// A warning when the Deployment runs another cert-manager version than the one sim built.
fn image_warning(id: &str, image: Option<&str>) -> Option<String> {
    let built = Component::CertManager.version();
    let image = image?;
    match image_tag(image) {
        Some(tag) if tag == built => None,
        Some(tag) => Some(format!(
            "{id} runs cert-manager {tag} ({image}); sim runs cert-manager's controllers at {built} (CERT_MANAGER_VERSION in harness/sim-versions.env)"
        )),
        None => Some(format!("{id} runs {image} (no tag to compare); sim runs cert-manager's controllers at {built}")),
    }
}

/// The value of `--flag=value`.
fn value_of(arg: &str) -> Option<&str> {
    arg.strip_prefix('-')
        .map(|a| a.trim_start_matches('-'))
        .and_then(|a| a.split_once('='))
        .map(|(_, v)| v)
        .or_else(|| (!arg.starts_with('-')).then_some(arg))
}

fn rewrite_path(arg: &str, mount_path: &str, local: &Path) -> String {
    let (prefix, value) = match arg.split_once('=') {
        Some((f, v)) if f.starts_with('-') => (format!("{f}="), v),
        _ if arg.starts_with('-') => return arg.to_string(),
        _ => (String::new(), arg),
    };
    match value.strip_prefix(mount_path) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            format!("{prefix}{}{rest}", local.display())
        }
        _ => arg.to_string(),
    }
}

fn volume_files(v: &Volume, namespace: &str, dir: &Path) -> Option<VolumeFiles> {
    let items = |items: Option<&Vec<k8s_openapi::api::core::v1::KeyToPath>>| {
        items.map(|i| i.iter().map(|k| (k.key.clone(), k.path.clone())).collect()).unwrap_or_default()
    };
    if let Some(cm) = &v.config_map {
        return Some(VolumeFiles {
            source: VolumeSource::ConfigMap,
            namespace: namespace.to_string(),
            name: cm.name.clone(),
            items: items(cm.items.as_ref()),
            optional: cm.optional.unwrap_or(false),
            dir: dir.to_path_buf(),
        });
    }
    let s = v.secret.as_ref()?;
    Some(VolumeFiles {
        source: VolumeSource::Secret,
        namespace: namespace.to_string(),
        name: s.secret_name.clone().unwrap_or_default(),
        items: items(s.items.as_ref()),
        optional: s.optional.unwrap_or(false),
        dir: dir.to_path_buf(),
    })
}

/// Write the files of each volume from the cluster (as the kubelet would mount them).
pub async fn write_volumes(client: &kube::Client, volumes: &[VolumeFiles]) -> Result<(), CertManagerError> {
    for v in volumes {
        let files: BTreeMap<String, Vec<u8>> = match v.source {
            VolumeSource::ConfigMap => {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), &v.namespace);
                let what = format!("ConfigMap {}/{}", v.namespace, v.name);
                match api.get_opt(&v.name).await.map_err(|source| CertManagerError::Kube { what, source })? {
                    Some(cm) => cm
                        .data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, s)| (k, s.into_bytes()))
                        .chain(cm.binary_data.unwrap_or_default().into_iter().map(|(k, b)| (k, b.0)))
                        .collect(),
                    None if v.optional => BTreeMap::new(),
                    None => return Err(missing("ConfigMap", v)),
                }
            }
            VolumeSource::Secret => {
                let api: Api<Secret> = Api::namespaced(client.clone(), &v.namespace);
                let what = format!("Secret {}/{}", v.namespace, v.name);
                match api.get_opt(&v.name).await.map_err(|source| CertManagerError::Kube { what, source })? {
                    Some(s) => s.data.unwrap_or_default().into_iter().map(|(k, b)| (k, b.0)).collect(),
                    None if v.optional => BTreeMap::new(),
                    None => return Err(missing("Secret", v)),
                }
            }
        };
        std::fs::create_dir_all(&v.dir).map_err(|source| CertManagerError::Io { path: v.dir.clone(), source })?;
        let selected: Vec<(String, &Vec<u8>)> = if v.items.is_empty() {
            files.iter().map(|(k, b)| (k.clone(), b)).collect()
        } else {
            v.items.iter().filter_map(|(k, p)| files.get(k).map(|b| (p.clone(), b))).collect()
        };
        for (rel, bytes) in selected {
            // Keys and item paths are validated by the API server (no `..`); join stays inside.
            let path = v.dir.join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| CertManagerError::Io { path: parent.to_path_buf(), source })?;
            }
            std::fs::write(&path, bytes).map_err(|source| CertManagerError::Io { path, source })?;
        }
    }
    Ok(())
}

fn missing(kind: &'static str, v: &VolumeFiles) -> CertManagerError {
    CertManagerError::MissingVolume { kind, namespace: v.namespace.clone(), name: v.name.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::sim::container::expand;

    #[test]
    fn expansion_follows_the_kubelet() {
        let env = vec![("POD_NAMESPACE".to_string(), "cert-manager".to_string())];
        assert_eq!(expand("--cluster-resource-namespace=$(POD_NAMESPACE)", &env), "--cluster-resource-namespace=cert-manager");
        assert_eq!(expand("$(UNSET)/x", &env), "$(UNSET)/x");
        assert_eq!(expand("$$(POD_NAMESPACE)", &env), "$(POD_NAMESPACE)");
        assert_eq!(expand("a$b$(", &env), "a$b$(");
    }

    #[test]
    fn owned_flags_are_dropped_in_every_form() {
        let args: Vec<String> = [
            "--v=2",
            "--kubeconfig",
            "/x",
            "--leader-elect",
            "--master=https://10.0.0.1",
            "-metrics-listen-address=:9402",
            "--namespace=a",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(drop_flags(&args, OWNED_FLAGS), vec!["--v=2", "--namespace=a"]);
    }

    fn chart_like_deployment(image: &str) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cert-manager", "namespace": "cert-manager"},
            "spec": {"selector": {"matchLabels": {"app": "cert-manager"}}, "template": {
                "metadata": {"labels": {"app": "cert-manager"}},
                "spec": {
                    "serviceAccountName": "cert-manager",
                    "volumes": [{"name": "config", "configMap": {"name": "cert-manager"}}],
                    "containers": [{
                        "name": "cert-manager-controller",
                        "image": image,
                        "args": ["--v=2", "--config=/var/cert-manager/config/config.yaml",
                                 "--cluster-resource-namespace=$(POD_NAMESPACE)",
                                 "--leader-election-namespace=kube-system",
                                 "--acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:v1.21.2",
                                 "--max-concurrent-challenges=60"],
                        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                                {"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
                        "volumeMounts": [{"name": "config", "mountPath": "/var/cert-manager/config"}],
                    }],
                },
            }},
        }))
        .unwrap()
    }

    #[test]
    fn a_chart_deployment_becomes_a_loopback_process() {
        let dir = tempfile::tempdir().unwrap();
        let tools = Toolset::for_tests(dir.path());
        let layout = Layout { root: dir.path().join("state") };
        let version = Component::CertManager.version();
        let d = chart_like_deployment(&format!("quay.io/jetstack/cert-manager-controller:{version}"));
        let launch = from_deployment(&tools, &layout, &d, Ports { metrics: 4001, healthz: 4002 }).unwrap();
        let a = &launch.spec.args;
        let config = format!("--config={}", layout.root.join("cert-manager/config/config.yaml").display());
        for want in [
            "--v=2",
            config.as_str(),
            "--cluster-resource-namespace=cert-manager",
            "--leader-election-namespace=kube-system",
            "--leader-elect=false",
            "--metrics-listen-address=127.0.0.1:4001",
            "--internal-healthz-listen-address=127.0.0.1:4002",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
        }
        assert!(a.contains(&format!("--kubeconfig={}", layout.kubeconfig().display())));
        assert_eq!(launch.spec.program, tools.bin(Component::CertManager, PROGRAM));
        assert_eq!(
            launch.volumes,
            vec![VolumeFiles {
                source: VolumeSource::ConfigMap,
                namespace: "cert-manager".into(),
                name: "cert-manager".into(),
                items: vec![],
                optional: false,
                dir: layout.root.join("cert-manager/config"),
            }]
        );
        let env = &launch.spec.env;
        assert!(env.contains(&("POD_NAMESPACE".into(), "cert-manager".into())));
        assert!(env.contains(&("HTTPS_PROXY".into(), BLACKHOLE_PROXY.into())), "{env:?}");
        assert!(!env.iter().any(|(_, v)| v.contains("proxy:3128")), "the Deployment's proxy must not reach the process: {env:?}");
        assert_eq!(launch.warnings.len(), 1, "{:?}", launch.warnings);
        assert!(launch.warnings[0].contains("HTTPS_PROXY"));
    }

    #[test]
    fn another_image_version_is_named_with_the_built_one() {
        let dir = tempfile::tempdir().unwrap();
        let tools = Toolset::for_tests(dir.path());
        let layout = Layout { root: dir.path().to_path_buf() };
        let d = chart_like_deployment("quay.io/jetstack/cert-manager-controller:v1.19.0@sha256:abc");
        let launch = from_deployment(&tools, &layout, &d, Ports { metrics: 1, healthz: 2 }).unwrap();
        let w = launch.warnings.iter().find(|w| w.contains("v1.19.0")).expect("an image warning");
        assert!(w.contains(Component::CertManager.version()) && w.contains("cert-manager/cert-manager"), "{w}");
    }

    #[test]
    fn a_deployment_without_the_controller_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let tools = Toolset::for_tests(dir.path());
        let layout = Layout { root: dir.path().to_path_buf() };
        let mut d = chart_like_deployment("quay.io/jetstack/cert-manager-webhook:v1.21.2");
        d.spec.as_mut().unwrap().template.spec.as_mut().unwrap().containers[0].name = "cert-manager-webhook".into();
        let err = from_deployment(&tools, &layout, &d, Ports { metrics: 1, healthz: 2 }).unwrap_err().to_string();
        assert!(err.contains("cert-manager/cert-manager") && err.contains("cert-manager-webhook"), "{err}");
    }
}
