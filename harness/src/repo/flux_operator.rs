//! Flux Operator `FluxInstance`s: the cluster's own sync (the bootstrap) and the Flux version.
//!
//! Facts from the operator's documentation: a `FluxInstance` (named `flux`, in the operator's
//! namespace) installs `spec.distribution.version` (an exact version or a semver range such as
//! `2.x`), and with `spec.sync` generates a source of `sync.kind` (`GitRepository`,
//! `OCIRepository`, `Bucket`) and a Kustomization (interval 10m, `prune: true`, `path:
//! sync.path`), both named `sync.name` or else the instance's namespace, in that namespace. The
//! `flux-instance` Helm chart renders one from its values under `instance`, in the release's
//! namespace.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::model::{ObjectRef, Origin};
use crate::yaml_docs::{self, Generated, YamlDoc};

/// `spec.sync` of a FluxInstance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sync {
    /// Source kind.
    pub kind: String,
    /// Source URL (an endpoint for a Bucket).
    pub url: String,
    /// Git ref, OCI tag or bucket name.
    pub reference: String,
    /// The path the generated Kustomization applies.
    pub path: String,
    /// Name of the generated source and Kustomization.
    pub name: String,
    /// Where `spec.sync` is written.
    pub origin: Origin,
}

/// A FluxInstance the repository declares (as an object, or as values of the `flux-instance`
/// chart in a HelmRelease or a helmfile release).
#[derive(Debug, Clone)]
pub struct FluxInstance {
    /// `FluxInstance <namespace>/<name>`.
    pub key: ObjectRef,
    /// How it is declared, for messages (`FluxInstance flux-system/flux`, `flux-instance chart
    /// values of helmfile release flux-instance`).
    pub declared_as: String,
    /// `spec.distribution.version` and where.
    pub version: Option<(String, Origin)>,
    /// `spec.sync`.
    pub sync: Option<Sync>,
    /// The document the instance (or its values) is written in, and the path of its spec there.
    pub doc: YamlDoc,
    /// Dotted path of the FluxInstance spec inside `doc` (`spec`, or `instance` for values).
    pub spec_path: String,
}

fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() { rest.to_string() } else { format!("{prefix}.{rest}") }
}

/// A FluxInstance from its spec at `spec_path` of `doc`.
pub fn from_spec(doc: &YamlDoc, spec_path: &str, name: &str, namespace: &str, declared_as: String) -> Option<FluxInstance> {
    let spec = if spec_path.is_empty() { Some(&doc.value) } else { yaml_docs::value_at(&doc.value, spec_path) }?;
    if !spec.is_object() {
        return None;
    }
    let version = spec
        .pointer("/distribution/version")
        .and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_f64().map(|f| f.to_string())))
        .map(|v| (v, Origin::at(doc, &join(spec_path, "distribution.version"))));
    let sync = spec.get("sync").filter(|s| s.is_object()).map(|s| {
        let str_of = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let name = s.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or(namespace).to_string();
        Sync {
            kind: str_of("kind"),
            url: str_of("url"),
            reference: str_of("ref"),
            path: str_of("path"),
            name,
            origin: Origin::at(doc, &join(spec_path, "sync")),
        }
    });
    Some(FluxInstance {
        key: ObjectRef::of_kind("FluxInstance", Some(namespace), name),
        declared_as,
        version,
        sync,
        doc: doc.clone(),
        spec_path: spec_path.to_string(),
    })
}

/// A `FluxInstance` document.
pub fn from_object(doc: &YamlDoc, default_ns: Option<&str>) -> Option<FluxInstance> {
    let name = doc.str_at("metadata.name").unwrap_or("flux");
    let ns = doc.str_at("metadata.namespace").or(default_ns).unwrap_or("flux-system");
    from_spec(doc, "spec", name, ns, format!("FluxInstance {ns}/{name}"))
}

/// Values of the `flux-instance` chart (`instance:` holds the FluxInstance spec).
pub fn from_chart_values(doc: &YamlDoc, prefix: &str, namespace: &str, declared_as: String) -> Option<FluxInstance> {
    from_spec(doc, &join(prefix, "instance"), "flux", namespace, declared_as)
}

/// A HelmRelease of the `flux-instance` chart with its instance in `spec.values` (its
/// `valuesFrom` are read once the tree is loaded).
pub fn from_release(doc: &YamlDoc) -> Option<FluxInstance> {
    if doc.str_at("kind") != Some("HelmRelease") || !doc.str_at("apiVersion").is_some_and(|a| a.starts_with("helm.toolkit.fluxcd.io/")) {
        return None;
    }
    let chart = doc.str_at("spec.chart.spec.chart").or(doc.str_at("spec.chartRef.name")).unwrap_or("");
    if super::charts::chart_name_of(chart) != "flux-instance" {
        return None;
    }
    let ns = doc.str_at("spec.targetNamespace").or(doc.str_at("metadata.namespace")).unwrap_or("flux-system");
    let name = doc.str_at("metadata.name").unwrap_or("flux-instance");
    let declared = format!("flux-instance chart values of HelmRelease {ns}/{name}");
    from_chart_values(doc, "spec.values", ns, declared).filter(|i| i.sync.is_some() || i.version.is_some())
}

/// Whether a document is a FluxInstance.
pub fn is_instance(doc: &YamlDoc) -> bool {
    doc.str_at("kind") == Some("FluxInstance") && doc.str_at("apiVersion").is_some_and(|a| a.starts_with("fluxcd.controlplane.io/"))
}

impl FluxInstance {
    /// The Kustomization its sync generates (positions point at `spec.sync`).
    pub fn sync_kustomization(&self, sync: &Sync) -> YamlDoc {
        let ns = self.key.namespace.clone().unwrap_or_default();
        let value = serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": sync.name, "namespace": ns},
            "spec": {"interval": "10m0s", "path": sync.path, "prune": true, "sourceRef": {"kind": sync.kind, "name": sync.name}},
        });
        let text = serde_norway::to_string(&value).unwrap_or_default();
        YamlDoc {
            file: self.doc.file.clone(),
            line: self.doc.line,
            index: self.doc.index,
            value,
            text,
            generated: Some(Arc::new(Generated {
                text: Arc::from(self.doc.text.as_str()),
                line: self.doc.line,
                prefix: join(&self.spec_path, "sync"),
                exact: false,
                note: Arc::from(format!("the Kustomization the sync of {} generates", self.declared_as)),
            })),
        }
    }

    /// Whether its sync applies `dir` (relative to the root).
    pub fn syncs(&self, dir: &Path) -> bool {
        self.sync.as_ref().is_some_and(|s| super::paths::normalize(Path::new(&s.path)) == dir)
    }
}
