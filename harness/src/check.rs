//! `check`: preflight analysis of a gitops repository before any cluster exists.
//!
//! Every finding has a stable code (see [`codes`]), a severity, a message that says what to do,
//! and the file:line it is about.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::crds::CrdCatalog;
use crate::flux_versions::{self, ApiStatus, FluxVersion};
use crate::graph::{self, GraphError, Plan};
use crate::repo::{LoadIssue, ObjKey, Origin, Repo, group_of};

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
    /// Flagger with Linkerd viz's Prometheus but without the chart's AuthorizationPolicy.
    pub const FLAGGER_LINKERD_AUTH_POLICY: &str = "flagger-linkerd-auth-policy";
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
    fn new(severity: Severity, code: &'static str, origin: &Origin, message: String) -> Finding {
        Finding { severity, code, message, file: origin.file.clone(), line: origin.line }
    }
}

/// Options of a check run.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Flux release to check API versions against.
    pub flux_version: FluxVersion,
    /// CRDs to validate objects with (none: schema validation skipped, with an info finding).
    pub crds: Option<CrdCatalog>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { flux_version: flux_versions::LATEST, crds: None }
    }
}

/// The result of a check run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Findings, errors first, then by file and line.
    pub findings: Vec<Finding>,
    /// The bootstrap plan (empty waves when the graph has a cycle).
    #[serde(serialize_with = "serialize_plan")]
    pub plan: Plan,
}

fn serialize_plan<S: serde::Serializer>(plan: &Plan, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(3))?;
    m.serialize_entry("waves", &plan.waves_short())?;
    m.serialize_entry("critical_path", &plan.critical_path.iter().map(ObjKey::short).collect::<Vec<_>>())?;
    let waited: Vec<String> = plan.nodes.iter().filter(|n| n.wait || n.health_checks > 0).map(|n| n.key.short()).collect();
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

/// CRD groups installed by well-known Helm charts (chart name → groups).
const CHART_CRD_GROUPS: &[(&str, &[&str])] = &[
    ("cert-manager", &["cert-manager.io", "acme.cert-manager.io"]),
    ("linkerd-crds", &["linkerd.io", "policy.linkerd.io", "gateway.networking.k8s.io", "workload.linkerd.io"]),
    ("linkerd-smi", &["split.smi-spec.io", "specs.smi-spec.io", "access.smi-spec.io"]),
    ("flagger", &["flagger.app"]),
    ("kube-prometheus-stack", &["monitoring.coreos.com"]),
];

/// Groups whose CRDs the Flux bootstrap itself installs.
fn installed_by_bootstrap(group: &str) -> bool {
    group.ends_with(".toolkit.fluxcd.io")
}

/// Run every check.
pub fn run(repo: &Repo, opts: &CheckOptions) -> Report {
    let mut findings = Vec::new();
    load_issues(repo, &mut findings);
    let plan = match graph::plan(repo) {
        Ok(p) => p,
        Err(GraphError::Cycle(cycle)) => {
            let first = cycle.first().cloned();
            let origin = first.as_ref().and_then(|k| origin_of(repo, k)).unwrap_or(Origin { file: repo.cluster_dir.clone(), line: 1 });
            findings.push(Finding::new(
                Severity::Error,
                codes::DEPENDS_ON_CYCLE,
                &origin,
                format!("dependsOn cycle: {}; Flux would wait forever: remove one of these dependsOn entries", graph::render_cycle(&cycle)),
            ));
            Plan::default()
        }
    };
    depends_on(repo, &mut findings);
    sources(repo, &mut findings);
    canaries(repo, &mut findings);
    crd_ordering(repo, &mut findings);
    api_versions(repo, opts.flux_version, &mut findings);
    leaves(repo, &mut findings);
    schemas(repo, opts.crds.as_ref(), &mut findings);
    findings.extend(crate::flagger_setup::linkerd_auth_policy(repo));
    findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.file.cmp(&b.file)).then(a.line.cmp(&b.line)).then(a.code.cmp(b.code)));
    findings.dedup();
    Report { findings, plan }
}

fn origin_of(repo: &Repo, key: &ObjKey) -> Option<Origin> {
    repo.objects().iter().find(|o| &o.key == key).map(|o| o.origin())
}

fn load_issues(repo: &Repo, out: &mut Vec<Finding>) {
    for issue in repo.issues() {
        let f = match issue {
            LoadIssue::InvalidYaml { origin, message } => Finding::new(
                Severity::Error,
                codes::YAML_INVALID,
                origin,
                format!("invalid YAML: {message}; Flux cannot build this directory until it parses"),
            ),
            LoadIssue::Unreadable { origin, message } => Finding::new(
                Severity::Error,
                codes::FILE_UNREADABLE,
                origin,
                format!("cannot read {}: {message}; fix the file (or its permissions) or remove it", origin.file.display()),
            ),
            LoadIssue::MissingResource { origin, entry } => Finding::new(
                Severity::Error,
                codes::KUSTOMIZE_RESOURCE_MISSING,
                origin,
                format!("kustomize resource `{entry}` does not exist; create it or remove it from `resources`"),
            ),
            LoadIssue::MissingPatch { origin, entry } => Finding::new(
                Severity::Error,
                codes::KUSTOMIZE_PATCH_MISSING,
                origin,
                format!("kustomize patch file `{entry}` does not exist; create it or remove the patch"),
            ),
            LoadIssue::MissingGeneratorFile { origin, generator, file } => {
                let hint = if file.ends_with("ca.crt") || file.ends_with("ca.key") {
                    " (the Linkerd trust anchor: create it with `step certificate create root.linkerd.cluster.local ca.crt ca.key --profile root-ca --no-password --insecure`; `gitops-harness up` generates it into its served copy)"
                } else {
                    ""
                };
                Finding::new(
                    Severity::Error,
                    codes::KUSTOMIZE_GENERATOR_FILE_MISSING,
                    origin,
                    format!("generator `{generator}` reads `{file}`, which does not exist{hint}; kustomize build fails until it is there"),
                )
            }
            LoadIssue::MissingPath { key, origin, path } => Finding::new(
                Severity::Error,
                codes::PATH_MISSING,
                origin,
                format!("{key}: path `{path}` does not exist in its source (this repo); fix spec.path"),
            ),
        };
        out.push(f);
    }
}

fn depends_on(repo: &Repo, out: &mut Vec<Finding>) {
    let ks: BTreeSet<&ObjKey> = repo.flux_kustomizations().iter().map(|k| &k.key).collect();
    let hrs: BTreeSet<&ObjKey> = repo.helm_releases().iter().map(|h| &h.key).collect();
    let mut check = |key: &ObjKey, deps: &[ObjKey], known: &BTreeSet<&ObjKey>, doc: &crate::yaml_docs::YamlDoc| {
        for d in deps {
            if !known.contains(d) {
                let origin = Origin { file: doc.file.clone(), line: doc.line_of(&format!("name: {}", d.name)) };
                let similar: Vec<String> = known.iter().filter(|k| k.name == d.name).map(|k| k.short()).collect();
                let hint = if similar.is_empty() {
                    format!("add the {} or fix the name", d.kind)
                } else {
                    format!("did you mean {} (set dependsOn[].namespace)?", similar.join(", "))
                };
                out.push(Finding::new(
                    Severity::Error,
                    codes::DEPENDS_ON_MISSING,
                    &origin,
                    format!("{key} depends on {d}, which is not in the repo; Flux will wait for it forever: {hint}"),
                ));
            }
        }
    };
    for k in repo.flux_kustomizations() {
        check(&k.key, &k.depends_on, &ks, &k.doc);
    }
    for h in repo.helm_releases() {
        check(&h.key, &h.depends_on, &hrs, &h.doc);
    }
}

fn sources(repo: &Repo, out: &mut Vec<Finding>) {
    for k in repo.flux_kustomizations() {
        let Some(src) = &k.source_ref else { continue };
        let origin = Origin { file: k.doc.file.clone(), line: k.doc.line_of("sourceRef") };
        match repo.source(&src.key()) {
            None => out.push(Finding::new(
                Severity::Error,
                codes::SOURCE_UNDECLARED,
                &origin,
                format!(
                    "{} uses {} {}/{}, which is not declared in the repo; declare it or fix spec.sourceRef",
                    k.key, src.kind, src.namespace, src.name
                ),
            )),
            Some(decl) if decl.local_root.is_none() => out.push(Finding::new(
                Severity::Info,
                codes::SOURCE_EXTERNAL,
                &origin,
                format!(
                    "{} builds path `{}` of external source {} ({}); it cannot be checked before Flux fetches it",
                    k.key,
                    k.path,
                    decl.key,
                    if decl.url.is_empty() { "no url" } else { &decl.url }
                ),
            )),
            Some(_) => {}
        }
    }
    for h in repo.helm_releases() {
        let Some(src) = &h.chart_source else { continue };
        if repo.source(&src.key()).is_none() {
            let origin = Origin { file: h.doc.file.clone(), line: h.doc.line_of("sourceRef").max(h.doc.line_of("chartRef")) };
            out.push(Finding::new(
                Severity::Error,
                codes::HELM_SOURCE_UNDECLARED,
                &origin,
                format!(
                    "{} pulls chart `{}` from {} {}/{}, which is not declared in the repo; add the {} or fix the chart's sourceRef",
                    h.key, h.chart, src.kind, src.namespace, src.name, src.kind
                ),
            ));
        }
    }
}

/// Flagger's selectorLabels from the Flagger HelmRelease's values (or its default).
pub fn flagger_selector_labels(repo: &Repo) -> Vec<String> {
    let from_values = repo
        .helm_releases()
        .iter()
        .find(|h| h.chart == "flagger")
        .and_then(|h| h.values.get("selectorLabels").and_then(Value::as_str).map(str::to_string));
    from_values
        .unwrap_or_else(|| FLAGGER_DEFAULT_SELECTOR_LABELS.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn canaries(repo: &Repo, out: &mut Vec<Finding>) {
    let selector_labels = flagger_selector_labels(repo);
    for c in repo.canaries() {
        let origin = |needle: &str| Origin { file: c.doc.file.clone(), line: c.doc.line_of(needle) };
        if c.provider.as_deref() == Some("nginx") && c.ingress_ref.is_none() {
            out.push(Finding::new(
                Severity::Error,
                codes::CANARY_INGRESS_REF_MISSING,
                &origin("provider"),
                format!("{}: provider nginx needs spec.ingressRef naming the Ingress Flagger clones for the canary; add it", c.key),
            ));
        }
        let Some((kind, name)) = &c.target else { continue };
        let ns = c.key.namespace.clone();
        let target = repo.deployments().iter().find(|d| d.key.name == *name && d.key.namespace == ns);
        let Some(dep) = target else {
            // A Deployment may come from an external source built into the same namespace.
            let external = repo.flux_kustomizations().iter().any(|k| {
                let ext = k.source_ref.as_ref().and_then(|s| repo.source(&s.key())).map(|d| d.local_root.is_none()).unwrap_or(false);
                ext && (k.target_namespace == ns || k.target_namespace.is_none())
            });
            let (sev, code, what) = if external {
                (Severity::Info, codes::CANARY_TARGET_EXTERNAL, "may come from an external source, so it cannot be checked here")
            } else {
                (
                    Severity::Error,
                    codes::CANARY_TARGET_MISSING,
                    "is not in the repo; Flagger will wait for it: add the Deployment or fix spec.targetRef",
                )
            };
            out.push(Finding::new(
                sev,
                code,
                &origin("targetRef"),
                format!("{}: target {kind} {}/{name} {what}", c.key, ns.clone().unwrap_or_default()),
            ));
            continue;
        };
        // Ports: targetPort (default: port) must be a container port name or number.
        let want = c.target_port.clone().or(c.service_port.map(Value::from));
        if let Some(want) = want {
            let ok = match &want {
                Value::String(s) => match s.parse::<i64>() {
                    Ok(n) => dep.ports.iter().any(|p| p.number == n),
                    Err(_) => dep.ports.iter().any(|p| p.name.as_deref() == Some(s.as_str())),
                },
                Value::Number(n) => dep.ports.iter().any(|p| Some(p.number) == n.as_i64()),
                _ => true,
            };
            if !ok && !dep.ports.is_empty() {
                let have: Vec<String> = dep
                    .ports
                    .iter()
                    .map(|p| match &p.name {
                        Some(n) => format!("{n}/{}", p.number),
                        None => p.number.to_string(),
                    })
                    .collect();
                out.push(Finding::new(
                    Severity::Error,
                    codes::CANARY_PORT_MISMATCH,
                    &origin(if c.target_port.is_some() { "targetPort" } else { "port:" }),
                    format!(
                        "{}: service targetPort {} matches no container port of {} (has {}); fix spec.service.targetPort",
                        c.key,
                        want,
                        dep.key,
                        have.join(", ")
                    ),
                ));
            }
        }
        if !dep.selector.keys().any(|k| selector_labels.contains(k)) {
            let labels: Vec<&String> = dep.selector.keys().collect();
            out.push(Finding::new(
                Severity::Error,
                codes::CANARY_SELECTOR_LABEL,
                &Origin { file: dep.doc.file.clone(), line: dep.doc.line_of("matchLabels") },
                format!(
                    "{}: selector labels {:?} of {} are not among Flagger's selectorLabels ({}); add one of them to the Flagger HelmRelease values.selectorLabels",
                    c.key,
                    labels,
                    dep.key,
                    selector_labels.join(",")
                ),
            ));
        }
    }
}

/// Which Flux Kustomization (transitively) applies each Kustomization, HelmRelease and object.
fn ancestors(repo: &Repo, start: &Option<ObjKey>) -> Vec<ObjKey> {
    let parent: BTreeMap<&ObjKey, &Option<ObjKey>> = repo.flux_kustomizations().iter().map(|k| (&k.key, &k.applied_by)).collect();
    let mut out = Vec::new();
    let mut cur = start.clone();
    while let Some(k) = cur {
        if out.contains(&k) {
            break;
        }
        cur = parent.get(&k).and_then(|p| (*p).clone());
        out.push(k);
    }
    out
}

/// All Kustomizations `key` depends on, transitively (dependsOn of itself and of its ancestors).
fn dependency_closure(repo: &Repo, key: &ObjKey) -> BTreeSet<ObjKey> {
    let deps: BTreeMap<&ObjKey, &Vec<ObjKey>> = repo.flux_kustomizations().iter().map(|k| (&k.key, &k.depends_on)).collect();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<ObjKey> = ancestors(repo, &Some(key.clone()));
    while let Some(k) = stack.pop() {
        if !seen.insert(k.clone()) {
            continue;
        }
        if let Some(ds) = deps.get(&k) {
            for d in ds.iter() {
                stack.extend(ancestors(repo, &Some(d.clone())));
            }
        }
    }
    seen
}

fn crd_ordering(repo: &Repo, out: &mut Vec<Finding>) {
    // group -> Kustomization that installs its CRDs (via a CRD object or a known chart).
    let mut installer: BTreeMap<String, (ObjKey, String)> = BTreeMap::new();
    for o in repo.objects() {
        if o.key.kind == "CustomResourceDefinition"
            && let (Some(g), Some(by)) = (o.doc.str_at("spec.group"), &o.applied_by)
        {
            installer.entry(g.to_string()).or_insert((by.clone(), format!("CRD {}", o.key.name)));
        }
    }
    for h in repo.helm_releases() {
        if let (Some((_, groups)), Some(by)) = (CHART_CRD_GROUPS.iter().find(|(c, _)| *c == h.chart), &h.applied_by) {
            for g in *groups {
                installer.entry(g.to_string()).or_insert((by.clone(), format!("{} (chart {})", h.key, h.chart)));
            }
        }
    }
    for o in repo.objects() {
        let group = o.group();
        if group.is_empty() || installed_by_bootstrap(group) || o.key.kind == "CustomResourceDefinition" {
            continue;
        }
        let (Some((inst_ks, via)), Some(by)) = (installer.get(group), &o.applied_by) else { continue };
        // CRDs applied as objects in the same Kustomization are applied first by kustomize-controller.
        let same_ks_crd_object = inst_ks == by && via.starts_with("CRD ");
        if same_ks_crd_object {
            continue;
        }
        let closure = dependency_closure(repo, by);
        let ordered = inst_ks != by && closure.contains(inst_ks);
        if !ordered {
            let why = if inst_ks == by {
                format!(
                    "is applied by the same Kustomization that installs its CRD through {via}, so the dry-run fails before the chart is installed; move it to a Kustomization that dependsOn {}",
                    inst_ks.short()
                )
            } else {
                format!(
                    "has its CRD installed by {inst_ks} ({via}), which {by} does not depend on; add `dependsOn: [{{name: {}}}]` to {by}",
                    inst_ks.name
                )
            };
            out.push(Finding::new(Severity::Error, codes::CRD_NOT_ORDERED, &o.origin(), format!("{} ({}) {why}", o.key, o.api_version)));
        }
    }
}

fn api_versions(repo: &Repo, flux: FluxVersion, out: &mut Vec<Finding>) {
    for o in repo.objects() {
        let origin = Origin { file: o.doc.file.clone(), line: o.doc.line_of("apiVersion") };
        match flux_versions::status(&o.api_version, &o.key.kind, flux) {
            ApiStatus::Current => {}
            ApiStatus::Deprecated { since, removed_in, replacement } => out.push(Finding::new(
                Severity::Warning,
                codes::API_VERSION_DEPRECATED,
                &origin,
                format!(
                    "{} uses {}, deprecated since Flux {since}{}; change apiVersion to {replacement}",
                    o.key,
                    o.api_version,
                    removed_in.map(|r| format!(" and removed in Flux {r}")).unwrap_or_default()
                ),
            )),
            ApiStatus::Removed { since, replacement } => out.push(Finding::new(
                Severity::Error,
                codes::API_VERSION_REMOVED,
                &origin,
                format!("{} uses {}, which Flux {flux} no longer serves (removed in Flux {since}); change apiVersion to {replacement} (`flux migrate` rewrites stored objects)", o.key, o.api_version),
            )),
        }
    }
}

fn leaves(repo: &Repo, out: &mut Vec<Finding>) {
    let depended: BTreeSet<&ObjKey> = repo.flux_kustomizations().iter().flat_map(|k| k.depends_on.iter()).collect();
    for k in repo.flux_kustomizations() {
        // The bootstrap's root Kustomization is not an app.
        let is_root = k.key.name == crate::repo::FLUX_SYSTEM && Path::new(k.path.trim_start_matches("./")) == repo.cluster_dir.as_path();
        if is_root || depended.contains(&k.key) || k.wait || !k.health_checks.is_empty() {
            continue;
        }
        out.push(Finding::new(
            Severity::Warning,
            codes::LEAF_NOT_WAITED,
            &Origin { file: k.doc.file.clone(), line: k.doc.line },
            format!("{} is a leaf that nothing waits on: without `wait: true` or healthChecks Flux reports it Ready before its workloads are up; add `spec.wait: true`", k.key),
        ));
    }
}

fn schemas(repo: &Repo, crds: Option<&CrdCatalog>, out: &mut Vec<Finding>) {
    let Some(crds) = crds else {
        out.push(Finding::new(
            Severity::Info,
            codes::SCHEMA_SKIPPED,
            &Origin { file: repo.cluster_dir.clone(), line: 1 },
            "schema validation skipped: no CRDs found; pass --crds DIR (or set GITOPS_HARNESS_CRDS) to validate Flux and Flagger objects"
                .to_string(),
        ));
        return;
    };
    for o in repo.objects() {
        if crds.get(group_of(&o.api_version), &o.key.kind).is_none() {
            continue;
        }
        if let Some(errors) = crds.validate(&o.doc.value) {
            for e in errors.into_iter().take(5) {
                out.push(Finding::new(
                    Severity::Error,
                    codes::SCHEMA_INVALID,
                    &o.origin(),
                    format!("{} does not match the {} CRD schema: {e}; fix the field", o.key, o.api_version),
                ));
            }
        }
    }
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
        let cp: Vec<String> = report.plan.critical_path.iter().map(ObjKey::short).collect();
        s.push_str(&format!("  critical path: {}\n", cp.join(" -> ")));
    }
    s.push_str(&format!(
        "\n{}: {} error(s), {} warning(s), {} info\n",
        repo_root.display(),
        report.errors(),
        report.warnings(),
        report.findings.len() - report.errors() - report.warnings()
    ));
    s
}
