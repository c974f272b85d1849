//! The objects the loader models: keys, origins, Flux Kustomizations, HelmReleases, Canaries,
//! Deployments, sources and kustomize files.

use std::collections::BTreeMap;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

pub use crate::flux::object::{group_of, version_of};
pub use crate::flux::{FLUX_SYSTEM, ObjectRef, SourceRef};
use crate::yaml_docs::YamlDoc;

/// Where an object or entry is written: file relative to the repo root, 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// File relative to the repository root.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// For a generated object: what generated it and from which input (findings name it).
    pub via: Option<Arc<str>>,
}

impl Origin {
    /// A file and line.
    pub fn new(file: impl Into<PathBuf>, line: usize) -> Origin {
        Origin { file: file.into(), line, via: None }
    }

    /// The line of the field at `path` (dotted, numeric segments index lists) of a document, from
    /// the parser's positions; for a generated document, the line of its template in the
    /// generating ResourceSet.
    pub fn at(doc: &YamlDoc, path: &str) -> Origin {
        Origin { file: doc.file.clone(), line: doc.line_at(path), via: doc.generated_note().cloned() }
    }
}

/// Any object found in the repo, as Flux would apply it.
#[derive(Debug, Clone)]
pub struct Object {
    /// `apiVersion`.
    pub api_version: String,
    /// Key with the namespace kustomize / Flux would give it.
    pub key: ObjectRef,
    /// The Flux Kustomization that applies it (`None` for what the bootstrap itself applies).
    pub applied_by: Option<ObjectRef>,
    /// The raw document (after `postBuild` substitution, when its Kustomization has one).
    pub doc: YamlDoc,
    /// Some `${var}` of its Kustomization's `postBuild` could not be resolved from the repo
    /// (a `substituteFrom` object that is not in git): field values may be placeholders.
    pub unresolved_vars: bool,
}

impl Object {
    /// API group (empty for core).
    pub fn group(&self) -> &str {
        group_of(&self.api_version)
    }

    /// Where it is written: the document's first node (past leading comments).
    pub fn origin(&self) -> Origin {
        Origin::at(&self.doc, "")
    }

    /// The document's `spec` (null when absent).
    pub fn spec(&self) -> &Value {
        self.doc.value.get("spec").unwrap_or(&Value::Null)
    }
}

/// One `spec.postBuild.substituteFrom` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstituteRef {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// Name, in the Kustomization's namespace.
    pub name: String,
    /// `optional: true`: a missing object is not an error.
    pub optional: bool,
}

/// `spec.postBuild` of a Flux Kustomization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostBuild {
    /// `substitute` (inline variables; they win over `substituteFrom`).
    pub substitute: BTreeMap<String, String>,
    /// `substituteFrom`.
    pub substitute_from: Vec<SubstituteRef>,
}

/// A Flux `Kustomization` (kustomize.toolkit.fluxcd.io).
#[derive(Debug, Clone)]
pub struct FluxKustomization {
    /// Its key.
    pub key: ObjectRef,
    /// `apiVersion`.
    pub api_version: String,
    /// `spec.path` (as written; default `./`).
    pub path: String,
    /// `spec.sourceRef`.
    pub source_ref: Option<SourceRef>,
    /// `spec.dependsOn`, namespaced as Flux does.
    pub depends_on: Vec<ObjectRef>,
    /// `spec.wait`.
    pub wait: bool,
    /// `spec.wait: false` written explicitly (the author's decision not to wait).
    pub explicit_no_wait: bool,
    /// Flux objects that must be Ready before it is applied, beyond `dependsOn` (the `dependsOn`
    /// of the ResourceSet that generates it).
    pub after: Vec<ObjectRef>,
    /// `spec.healthChecks` (raw).
    pub health_checks: Vec<Value>,
    /// `spec.targetNamespace`.
    pub target_namespace: Option<String>,
    /// `spec.patches` (raw).
    pub patches: Vec<Value>,
    /// `spec.components` (kustomize Components, relative to `path`).
    pub components: Vec<String>,
    /// `spec.ignoreMissingComponents`.
    pub ignore_missing_components: bool,
    /// `spec.postBuild`, when set.
    pub post_build: Option<PostBuild>,
    /// `spec.suspend`.
    pub suspend: bool,
    /// Who applies it.
    pub applied_by: Option<ObjectRef>,
    /// The raw document.
    pub doc: YamlDoc,
}

impl FluxKustomization {
    /// Whether a health check of this Kustomization names `key` (its namespace defaulting to the
    /// Kustomization's, as kustomize-controller does).
    pub fn health_checks_name(&self, key: &ObjectRef) -> bool {
        self.health_checks.iter().any(|h| {
            let ns = h.get("namespace").and_then(Value::as_str).or(self.key.namespace.as_deref());
            h.get("kind").and_then(Value::as_str) == Some(key.kind.as_str())
                && h.get("name").and_then(Value::as_str) == Some(key.name.as_str())
                && (key.namespace.is_none() || key.namespace.as_deref() == ns)
        })
    }
}

/// A Flux `HelmRelease` (helm.toolkit.fluxcd.io).
#[derive(Debug, Clone)]
pub struct HelmRelease {
    /// Its key.
    pub key: ObjectRef,
    /// `apiVersion`.
    pub api_version: String,
    /// Chart name (`spec.chart.spec.chart`, the `name` in Chart.yaml for a chart in git, or the
    /// `chartRef` name).
    pub chart: String,
    /// The chart's directory in this repo, when it comes from the repo's own GitRepository.
    pub chart_dir: Option<PathBuf>,
    /// Where the chart comes from (`chart.spec.sourceRef` or `chartRef`).
    pub chart_source: Option<SourceRef>,
    /// `spec.chart.spec.version` (or the chartRef OCIRepository's tag/semver).
    pub chart_version: Option<String>,
    /// The chart as data, when reachable offline: its unpacked directory (absolute) and where it
    /// was found (`git`, or the chart source's description).
    pub chart_found: Option<(PathBuf, String)>,
    /// Flux objects that must be Ready before it is applied, beyond `dependsOn` (the `dependsOn`
    /// of the ResourceSet that generates it).
    pub after: Vec<ObjectRef>,
    /// `spec.dependsOn`, namespaced as Flux does.
    pub depends_on: Vec<ObjectRef>,
    /// `spec.values` (null when absent).
    pub values: Value,
    /// `spec.install.crds` is not `Skip`: the chart's `crds/` directory is installed.
    pub installs_crds: bool,
    /// `spec.targetNamespace`.
    pub target_namespace: Option<String>,
    /// Who applies it.
    pub applied_by: Option<ObjectRef>,
    /// The raw document.
    pub doc: YamlDoc,
}

impl HelmRelease {
    /// The namespace the chart's objects go to (`targetNamespace`, else the release's).
    pub fn release_namespace(&self) -> Option<&str> {
        self.target_namespace.as_deref().or(self.key.namespace.as_deref())
    }

    /// The Helm release name, as helm-controller composes it: `spec.releaseName`, else
    /// `[targetNamespace-]name`.
    pub fn release_name(&self) -> String {
        if let Some(n) = self.doc.value.pointer("/spec/releaseName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            return n.to_string();
        }
        match &self.target_namespace {
            Some(t) if !t.is_empty() => format!("{t}-{}", self.key.name),
            _ => self.key.name.clone(),
        }
    }
}

/// A Flagger `Canary` (flagger.app).
#[derive(Debug, Clone)]
pub struct Canary {
    /// Its key.
    pub key: ObjectRef,
    /// `spec.provider` (Flagger's mesh provider when absent).
    pub provider: Option<String>,
    /// `spec.targetRef` kind and name.
    pub target: Option<(String, String)>,
    /// `spec.ingressRef` name.
    pub ingress_ref: Option<String>,
    /// `spec.service.port`.
    pub service_port: Option<i64>,
    /// `spec.service.targetPort` (number or name).
    pub target_port: Option<Value>,
    /// `spec.analysis` (raw).
    pub analysis: Value,
    /// Who applies it.
    pub applied_by: Option<ObjectRef>,
    /// The raw document.
    pub doc: YamlDoc,
}

/// A container port of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    /// Port name, if any.
    pub name: Option<String>,
    /// Port number.
    pub number: i64,
}

/// A `Deployment` (apps/v1), with the fields the checks need.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Its key.
    pub key: ObjectRef,
    /// `spec.selector.matchLabels`.
    pub selector: BTreeMap<String, String>,
    /// Container ports of all containers.
    pub ports: Vec<ContainerPort>,
    /// `(container name, image)` pairs.
    pub images: Vec<(String, String)>,
    /// Who applies it.
    pub applied_by: Option<ObjectRef>,
    /// The raw document.
    pub doc: YamlDoc,
}

/// A source declared in the repo (or implied by the bootstrap).
#[derive(Debug, Clone)]
pub struct SourceDecl {
    /// Its key.
    pub key: ObjectRef,
    /// `spec.url` (empty when implicit; for a generated `ExternalArtifact`, what generates it).
    pub url: String,
    /// The local directory it stands for, when it is this repository (the GitRepository the
    /// cluster directory's sync uses, or one whose URL is this repo's git remote); `None` for
    /// external sources.
    pub local_root: Option<PathBuf>,
    /// `None` when implied by the bootstrap rather than written in the repo.
    pub doc: Option<YamlDoc>,
}

/// A kustomize `kustomization.yaml` the loader read.
#[derive(Debug, Clone)]
pub struct KustomizeFile {
    /// Directory, relative to the repo root.
    pub dir: PathBuf,
    /// `namespace:` override.
    pub namespace: Option<String>,
    /// The raw document.
    pub doc: YamlDoc,
}

/// Kinds that are cluster-scoped (kustomize's namespace override leaves them alone).
pub(crate) fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "CustomResourceDefinition"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "ClusterIssuer"
            | "PriorityClass"
            | "StorageClass"
            | "PersistentVolume"
            | "IngressClass"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "APIService"
            | "GatewayClass"
            | "ClusterPolicy"
            | "ClusterSecretStore"
    )
}
