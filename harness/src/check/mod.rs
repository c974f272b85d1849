//! `check`: preflight analysis of a gitops repository before any cluster exists.
//!
//! Every finding has a stable code (see [`codes`]), a severity, a message that says what to do,
//! and the file:line it is about (from the YAML parser's positions of that document and field).
//!
//! One module per rule family: `load` (what the loader met), `deps` (dependsOn), `sources`,
//! `canaries`, `flagger` (the chart's Linkerd authorization policy), `crd_order`, `api` (API
//! versions), `waits` (leaves and health checks), `schema`, `size` (ConfigMap/Secret limits),
//! `helm` (values against the chart's schema).

mod api;
mod canaries;
mod crd_order;
mod deps;
mod flagger;
mod helm;
mod load;
mod schema;
mod size;
mod sources;
mod waits;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use canaries::flagger_selector_labels;
pub use flagger::linkerd_auth_policy;

use crate::crds::CrdCatalog;
use crate::flux_versions::{self, FluxVersion, Pinned};
use crate::graph::{self, GraphError, Plan};
use crate::repo::{ObjectRef, Origin, Repo};

/// Stable finding codes.
pub mod codes {
    /// A file does not parse.
    pub const YAML_INVALID: &str = "yaml-invalid";
    /// A file or directory cannot be read.
    pub const FILE_UNREADABLE: &str = "file-unreadable";
    /// dependsOn names an object not in the repo.
    pub const DEPENDS_ON_MISSING: &str = "depends-on-missing";
    /// dependsOn cycle.
    pub const DEPENDS_ON_CYCLE: &str = "depends-on-cycle";
    /// Flux Kustomization path missing in its source.
    pub const PATH_MISSING: &str = "path-missing";
    /// sourceRef to an undeclared source.
    pub const SOURCE_UNDECLARED: &str = "source-undeclared";
    /// path on an external source (cannot be checked).
    pub const SOURCE_EXTERNAL: &str = "source-external";
    /// kustomize resources entry missing.
    pub const KUSTOMIZE_RESOURCE_MISSING: &str = "kustomize-resource-missing";
    /// kustomize patch file missing.
    pub const KUSTOMIZE_PATCH_MISSING: &str = "kustomize-patch-missing";
    /// generator file missing.
    pub const KUSTOMIZE_GENERATOR_FILE_MISSING: &str = "kustomize-generator-file-missing";
    /// HelmRelease chart source undeclared.
    pub const HELM_SOURCE_UNDECLARED: &str = "helm-source-undeclared";
    /// Canary target not in repo.
    pub const CANARY_TARGET_MISSING: &str = "canary-target-missing";
    /// Canary target may come from an external source.
    pub const CANARY_TARGET_EXTERNAL: &str = "canary-target-external";
    /// Canary ports do not match the target's container ports.
    pub const CANARY_PORT_MISMATCH: &str = "canary-port-mismatch";
    /// Deployment selector not covered by Flagger's selectorLabels.
    pub const CANARY_SELECTOR_LABEL: &str = "canary-selector-label";
    /// provider nginx without ingressRef.
    pub const CANARY_INGRESS_REF_MISSING: &str = "canary-ingress-ref-missing";
    /// Custom resource applied before its CRD's Kustomization.
    pub const CRD_NOT_ORDERED: &str = "crd-not-ordered";
    /// API version removed in the target Flux.
    pub const API_VERSION_REMOVED: &str = "api-version-removed";
    /// API version deprecated in the target Flux.
    pub const API_VERSION_DEPRECATED: &str = "api-version-deprecated";
    /// Leaf Kustomization nothing waits on.
    pub const LEAF_NOT_WAITED: &str = "leaf-not-waited";
    /// Object fails its CRD schema.
    pub const SCHEMA_INVALID: &str = "schema-invalid";
    /// Schema validation was skipped (no CRDs found).
    pub const SCHEMA_SKIPPED: &str = "schema-skipped";
    /// A reference climbs above the repository root (`..`, absolute path, symlink out).
    pub const PATH_OUTSIDE_REPO: &str = "path-outside-repo";
    /// kustomize `resources`/`components` form a cycle.
    pub const KUSTOMIZE_RESOURCE_CYCLE: &str = "kustomize-resource-cycle";
    /// Two documents define the same Flux Kustomization or HelmRelease.
    pub const DUPLICATE_OBJECT: &str = "duplicate-object";
    /// A Kustomization path holds a `${var}` the repo does not define (info).
    pub const PATH_UNRESOLVED: &str = "path-unresolved";
    /// A healthChecks entry names an object nothing defines.
    pub const HEALTH_CHECK_MISSING: &str = "health-check-missing";
    /// A ConfigMap or Secret over the API server's 1 MiB limit.
    pub const OBJECT_TOO_LARGE: &str = "object-too-large";
    /// Flagger with Linkerd viz's Prometheus but without the chart's AuthorizationPolicy.
    pub const FLAGGER_LINKERD_AUTH_POLICY: &str = "flagger-linkerd-auth-policy";
    /// A ResourceSet the Flux Operator cannot build (template or output error).
    pub const RESOURCESET_INVALID: &str = "resourceset-invalid";
    /// Part of a ResourceSet's output is only known in the cluster (info).
    pub const RESOURCESET_PARTIAL: &str = "resourceset-partial";
    /// HelmRelease values that fail the chart's `values.schema.json`.
    pub const HELM_VALUES_INVALID: &str = "helm-values-invalid";
    /// Charts not reachable offline: CRDs from a table, values not validated (said once, in the
    /// report's summary).
    pub const CHART_UNAVAILABLE: &str = "chart-unavailable";
    /// A kustomize resource fetched from the network at build time (info).
    pub const KUSTOMIZE_REMOTE_RESOURCE: &str = "kustomize-remote-resource";
}

/// Finding severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Will break the bootstrap.
    Error,
    /// Likely wrong, or will break with a newer version.
    Warning,
    /// Worth knowing.
    Info,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Severity.
    pub severity: Severity,
    /// Stable code.
    pub code: &'static str,
    /// What is wrong and what to do.
    pub message: String,
    /// File, relative to the repo root.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

impl Finding {
    /// A finding at `origin`; in an object a ResourceSet generated, the message says which
    /// ResourceSet and input (the line is the ResourceSet's template of it).
    pub(crate) fn new(severity: Severity, code: &'static str, origin: &Origin, message: String) -> Finding {
        let message = match &origin.via {
            Some(via) => format!("{message} [{via}]"),
            None => message,
        };
        Finding { severity, code, message, file: origin.file.clone(), line: origin.line }
    }
}

/// Options of a check run.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Flux release to check API versions against; `None`: what the repo pins
    /// ([`flux_versions::pinned`]), else [`flux_versions::LATEST`].
    pub flux_version: Option<FluxVersion>,
    /// CRDs to validate objects with (none: schema validation skipped, with an info finding).
    pub crds: Option<CrdCatalog>,
}

/// The Flux release a run targets and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetFlux {
    /// The release, e.g. `2.9`.
    #[serde(serialize_with = "serialize_display")]
    pub version: FluxVersion,
    /// `option` (asked for), `pinned` (the repo pins it) or `default`.
    pub from: &'static str,
    /// Where the repo pins it, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_by: Option<String>,
}

fn serialize_display<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl TargetFlux {
    /// Decide the target: the option, else the repo's pin, else the newest known release.
    pub fn decide(repo: &Repo, asked: Option<FluxVersion>) -> TargetFlux {
        if let Some(version) = asked {
            return TargetFlux { version, from: "option", pinned_by: None };
        }
        match flux_versions::pinned(repo) {
            Some(Pinned { version, origin, .. }) => {
                TargetFlux { version, from: "pinned", pinned_by: Some(format!("{}:{}", origin.file.display(), origin.line)) }
            }
            None => TargetFlux { version: flux_versions::LATEST, from: "default", pinned_by: None },
        }
    }
}

/// Counts a report gives instead of findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Kustomizations whose author set `wait: false` explicitly (not reported as leaves).
    pub explicit_no_wait: usize,
    /// What bootstraps the cluster directory when it is not a sync manifest (a FluxInstance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrapped_by: Option<String>,
    /// Objects generated by ResourceSets (checked like the others).
    pub generated_objects: usize,
    /// HelmReleases whose chart was read (CRDs, values schema).
    pub charts_read: usize,
    /// HelmReleases whose chart was not reachable offline.
    pub charts_unavailable: usize,
    /// `chart-unavailable`, said once: which charts could not be read and how to provide them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart_unavailable: Option<String>,
}

/// The result of a check run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The Flux release API versions were checked against.
    pub flux: TargetFlux,
    /// Counts (explicit `wait: false`, generated objects, charts read).
    pub summary: Summary,
    /// Findings, errors first, then by file and line.
    pub findings: Vec<Finding>,
    /// The bootstrap plan (empty waves when the graph has a cycle).
    #[serde(serialize_with = "serialize_plan")]
    pub plan: Plan,
}

/// A plan node in JSON: `{"kind","namespace","name"}`, so a Kustomization and a HelmRelease of
/// the same namespace/name stay two nodes.
#[derive(Serialize)]
struct NodeRef<'a> {
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
}

impl<'a> From<&'a ObjectRef> for NodeRef<'a> {
    fn from(k: &'a ObjectRef) -> Self {
        NodeRef { kind: &k.kind, namespace: k.namespace.as_deref(), name: &k.name }
    }
}

fn refs(keys: &[ObjectRef]) -> Vec<NodeRef<'_>> {
    keys.iter().map(NodeRef::from).collect()
}

fn serialize_plan<S: serde::Serializer>(plan: &Plan, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(3))?;
    m.serialize_entry("waves", &plan.waves.iter().map(|w| refs(w)).collect::<Vec<_>>())?;
    m.serialize_entry("critical_path", &refs(&plan.critical_path))?;
    let waited: Vec<NodeRef> = plan.nodes.iter().filter(|n| n.wait || n.health_checks > 0).map(|n| NodeRef::from(&n.key)).collect();
    m.serialize_entry("waits", &waited)?;
    m.end()
}

impl Report {
    /// Number of error findings.
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }
    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Warning).count()
    }
    /// Findings with a given code.
    pub fn with_code(&self, code: &str) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.code == code).collect()
    }
}

/// Flagger's default `selectorLabels`.
pub const FLAGGER_DEFAULT_SELECTOR_LABELS: &str = "app,name,app.kubernetes.io/name";

/// Run every check.
pub fn run(repo: &Repo, opts: &CheckOptions) -> Report {
    let flux = TargetFlux::decide(repo, opts.flux_version);
    let mut findings = Vec::new();
    load::issues(repo, &mut findings);
    let plan = match graph::plan(repo) {
        Ok(p) => p,
        Err(GraphError::Cycle(cycle)) => {
            let origin = cycle.first().and_then(|k| origin_of(repo, k)).unwrap_or(Origin::new(repo.cluster_dir.clone(), 1));
            findings.push(Finding::new(
                Severity::Error,
                codes::DEPENDS_ON_CYCLE,
                &origin,
                format!("dependsOn cycle: {}; Flux would wait forever: remove one of these dependsOn entries", graph::render_cycle(&cycle)),
            ));
            Plan::default()
        }
    };
    deps::depends_on(repo, &mut findings);
    sources::sources(repo, &mut findings);
    canaries::canaries(repo, &mut findings);
    crd_order::crd_ordering(repo, &mut findings);
    api::api_versions(repo, flux.version, &mut findings);
    waits::leaves(repo, &mut findings);
    waits::health_checks(repo, &mut findings);
    size::config_size(repo, &mut findings);
    schema::schemas(repo, opts.crds.as_ref(), &mut findings);
    let chart_unavailable = helm::charts(repo, &mut findings);
    findings.extend(flagger::linkerd_auth_policy(repo));
    findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.file.cmp(&b.file)).then(a.line.cmp(&b.line)).then(a.code.cmp(b.code)));
    findings.dedup();
    let summary = Summary {
        explicit_no_wait: waits::explicit_no_wait(repo),
        bootstrapped_by: repo.bootstrapped_by().map(str::to_string),
        generated_objects: repo.objects().iter().filter(|o| o.doc.generated.is_some() && o.key != *repo.root_kustomization()).count(),
        charts_read: repo.helm_releases().iter().filter(|h| h.chart_found.is_some()).count(),
        charts_unavailable: repo.helm_releases().iter().filter(|h| h.chart_found.is_none()).count(),
        chart_unavailable,
    };
    Report { flux, summary, findings, plan }
}

fn origin_of(repo: &Repo, key: &ObjectRef) -> Option<Origin> {
    repo.objects().iter().find(|o| &o.key == key).map(|o| o.origin())
}

/// Render a report for humans, like a linter: `error[code]: message` then `  --> file:line`.
pub fn render_human(report: &Report, repo_root: &Path) -> String {
    let mut s = String::new();
    for f in &report.findings {
        s.push_str(&format!("{}[{}]: {}\n  --> {}:{}\n", f.severity, f.code, f.message, f.file.display(), f.line));
    }
    if !report.plan.waves.is_empty() {
        s.push_str("\nbootstrap plan:\n");
        for (i, w) in report.plan.waves.iter().enumerate() {
            let items: Vec<String> = w
                .iter()
                .map(|k| {
                    let waits = report.plan.nodes.iter().find(|n| &n.key == k).map(|n| n.wait || n.health_checks > 0).unwrap_or(false);
                    let kind = if k.kind == "HelmRelease" { "hr" } else { "ks" };
                    format!("{kind}:{}{}", k.short(), if waits { "" } else { " (no wait)" })
                })
                .collect();
            s.push_str(&format!("  wave {i}: {}\n", items.join(", ")));
        }
        let cp: Vec<String> = report.plan.critical_path.iter().map(ObjectRef::short).collect();
        s.push_str(&format!("  critical path: {}\n", cp.join(" -> ")));
    }
    let why = match (&report.flux.pinned_by, report.flux.from) {
        (Some(at), _) => format!("pinned by {at}"),
        (None, "option") => "--flux-version".to_string(),
        _ => "default; the repo pins none".to_string(),
    };
    let mut notes = Vec::new();
    if let Some(by) = &report.summary.bootstrapped_by {
        notes.push(format!("bootstrapped by the sync of {by}"));
    }
    if report.summary.generated_objects > 0 {
        notes.push(format!("{} object(s) generated by ResourceSets checked", report.summary.generated_objects));
    }
    if report.summary.explicit_no_wait > 0 {
        notes.push(format!("{} Kustomization(s) set `wait: false` explicitly (not reported as leaves)", report.summary.explicit_no_wait));
    }
    if report.summary.charts_read > 0 {
        notes.push(format!("{} chart(s) read", report.summary.charts_read));
    }
    s.push_str(&format!(
        "\n{}: {} error(s), {} warning(s), {} info (against Flux {}: {why})\n",
        repo_root.display(),
        report.errors(),
        report.warnings(),
        report.findings.len() - report.errors() - report.warnings(),
        report.flux.version
    ));
    for n in notes {
        s.push_str(&format!("  {n}\n"));
    }
    if let Some(note) = &report.summary.chart_unavailable {
        s.push_str(&format!("  info[{}]: {note}\n", codes::CHART_UNAVAILABLE));
    }
    s
}
