//! Flagger on sim: the real Flagger as a host process, configured from the values of the
//! repo's Flagger HelmRelease (as the chart would run it), with its HTTP traffic (metrics and
//! webhooks) sent to the harness stand-ins through its proxy settings.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::components::{Layout, NO_PROXY};
use super::process::ProcessSpec;
use super::toolset::{Component, Toolset};
use crate::repo::Repo;

/// How Flagger runs: what its chart's values say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlaggerSettings {
    /// `meshProvider` (default `kubernetes`).
    pub mesh_provider: String,
    /// `metricsServer` (default `http://prometheus:9090`); reached through the stand-ins.
    pub metrics_server: String,
    /// `selectorLabels` (default `app,name,app.kubernetes.io/name`).
    pub selector_labels: String,
}

impl FlaggerSettings {
    /// The settings the repo declares for Flagger (its HelmRelease's values), when it uses
    /// Flagger at all (a Flagger HelmRelease or any Canary); `None` otherwise.
    pub fn from_repo(repo: &Repo) -> Option<FlaggerSettings> {
        let release = repo.helm_releases().iter().find(|h| h.chart == "flagger");
        if release.is_none() && repo.canaries().is_empty() {
            return None;
        }
        let values = release.map(|h| h.values.clone()).unwrap_or(Value::Null);
        let get = |k: &str, default: &str| values.get(k).and_then(Value::as_str).unwrap_or(default).to_string();
        Some(FlaggerSettings {
            mesh_provider: get("meshProvider", "kubernetes"),
            metrics_server: get("metricsServer", "http://prometheus:9090"),
            selector_labels: crate::check::flagger_selector_labels(repo).join(","),
        })
    }
}

/// The Flagger process: its HTTP clients (metrics, webhooks) go through the stand-ins on
/// `standins_port`; the API server on loopback is never proxied.
pub fn process(tools: &Toolset, layout: &Layout, settings: &FlaggerSettings, port: u16, standins_port: u16) -> ProcessSpec {
    let proxy = format!("http://127.0.0.1:{standins_port}");
    ProcessSpec::new(
        "flagger",
        tools.bin(Component::Flagger, "flagger"),
        vec![
            format!("-kubeconfig={}", layout.kubeconfig().display()),
            format!("-mesh-provider={}", settings.mesh_provider),
            format!("-metrics-server={}", settings.metrics_server),
            format!("-selector-labels={}", settings.selector_labels),
            format!("-port={port}"),
            "-log-level=info".to_string(),
            "-enable-leader-election=false".to_string(),
        ],
        &layout.root,
    )
    .env("HTTP_PROXY", proxy.clone())
    .env("HTTPS_PROXY", proxy)
    .env("NO_PROXY", NO_PROXY)
}

/// The SMI TrafficSplit CRD that Flagger's Linkerd provider writes (the linkerd-smi chart
/// installs it on a real cluster), with the upstream shapes: v1alpha1 stored with int-or-string
/// weights, v1alpha2 served with numeric weights, `service` and `backends` required, no
/// `matches` (unknown fields are pruned), no conversion webhook. `harness/tests/crds_reference.rs`
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

    #[test]
    fn settings_come_from_the_fixture_release() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd");
        let repo = Repo::load(&root, Some(std::path::Path::new("clusters/sim"))).unwrap();
        let s = FlaggerSettings::from_repo(&repo).unwrap();
        assert_eq!(s.mesh_provider, "linkerd");
        assert!(s.selector_labels.split(',').any(|l| l == "service"), "{s:?}");
        assert_eq!(s.metrics_server, "http://prometheus.linkerd-viz:9090");
    }
}
