//! Helm charts as data: where a chart is found offline, which CRD groups it installs, its default
//! values and its `values.schema.json`.
//!
//! A chart is found in git (a HelmRelease whose chart is a path in this repository's source) or
//! through a [`ChartSource`]: a lookup by name/version/repository that `check --charts DIR`
//! fills with [`ChartDirs`], and the sim's source cassette with `sources::charts::CassetteCharts`.
//! When neither has it, the CRD groups of a few well-known charts come from a table.
//!
//! CRDs are read from the chart itself: its `crds/` directory (installed unless `install.crds:
//! Skip`) and templates that are CRDs. A template whose whole content sits under one `{{ if …
//! }}` (cert-manager's `crds.enabled`, Linkerd's `installGatewayAPI`) counts only when that
//! condition holds for the release's values merged over the chart's defaults; a condition this
//! reader cannot evaluate counts as true.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::paths::{Resolved, resolve};
use super::rset::{template, value::TVal};
use crate::yaml_docs;

/// What a HelmRelease (or a bootstrap) asks for.
#[derive(Debug, Clone, Copy)]
pub struct ChartRef<'a> {
    /// Chart name.
    pub name: &'a str,
    /// Version or semver range, when given.
    pub version: Option<&'a str>,
    /// The chart repository's URL (HelmRepository or OCIRepository), when known.
    pub repository: Option<&'a str>,
}

/// Where charts that are not in git can be found offline.
pub trait ChartSource: fmt::Debug + Send + Sync {
    /// The unpacked chart directory (holding `Chart.yaml`) for `chart`, if this source has it.
    fn find(&self, chart: &ChartRef<'_>) -> Option<PathBuf>;
    /// What this source is, for messages (`--charts ../charts`).
    fn describe(&self) -> String;
}

/// The chart sources a load consults, in order.
pub type ChartSources = Vec<Arc<dyn ChartSource>>;

/// Directories of unpacked charts: `<dir>/<name>-<version>/`, `<dir>/<name>/<version>/` or
/// `<dir>/<name>/`, each holding a `Chart.yaml` whose `name` is the chart's.
#[derive(Debug, Clone)]
pub struct ChartDirs {
    dirs: Vec<PathBuf>,
}

impl ChartDirs {
    /// Look in these directories.
    pub fn new(dirs: Vec<PathBuf>) -> ChartDirs {
        ChartDirs { dirs }
    }
}

impl ChartSource for ChartDirs {
    fn find(&self, chart: &ChartRef<'_>) -> Option<PathBuf> {
        let safe = !chart.name.is_empty() && !chart.name.contains(['/', '\\']) && chart.name != "..";
        if !safe {
            return None;
        }
        for d in &self.dirs {
            let mut candidates = Vec::new();
            if let Some(v) = chart.version.filter(|v| !v.contains(['/', '\\', '*', ' '])) {
                candidates.push(d.join(format!("{}-{}", chart.name, v.trim_start_matches('v'))));
                candidates.push(d.join(chart.name).join(v.trim_start_matches('v')));
            }
            candidates.push(d.join(chart.name));
            for c in candidates {
                if chart_yaml_name_at(&c).as_deref() == Some(chart.name) {
                    return Some(c);
                }
            }
        }
        None
    }

    fn describe(&self) -> String {
        self.dirs.iter().map(|d| format!("--charts {}", d.display())).collect::<Vec<_>>().join(", ")
    }
}

/// The first source that has the chart.
pub fn find(sources: &[Arc<dyn ChartSource>], chart: &ChartRef<'_>) -> Option<PathBuf> {
    sources.iter().find_map(|s| s.find(chart))
}

/// Where a chart's CRDs come from, which decides whether `install.crds: Skip` turns them off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrdPlace {
    /// The chart's `crds/` directory (Helm installs it unless `install.crds: Skip`).
    CrdsDir,
    /// The chart's templates (installed like any other object).
    Templates,
}

/// A chart from a chart repository that installs CRDs: its name, the groups, where they sit and
/// (for charts that gate them behind a value) which value turns them on.
struct KnownChart {
    chart: &'static str,
    groups: &'static [&'static str],
    place: CrdPlace,
    /// Dotted value paths, any of which set to `true` installs the CRDs; empty: always.
    enabled_by: &'static [&'static str],
}

const KNOWN_CHARTS: &[KnownChart] = &[
    KnownChart {
        chart: "cert-manager",
        groups: &["cert-manager.io", "acme.cert-manager.io"],
        place: CrdPlace::Templates,
        enabled_by: &["installCRDs", "crds.enabled"],
    },
    KnownChart {
        chart: "linkerd-crds",
        groups: &["linkerd.io", "policy.linkerd.io", "gateway.networking.k8s.io", "workload.linkerd.io"],
        place: CrdPlace::Templates,
        enabled_by: &[],
    },
    KnownChart {
        chart: "linkerd-smi",
        groups: &["split.smi-spec.io", "specs.smi-spec.io", "access.smi-spec.io"],
        place: CrdPlace::Templates,
        enabled_by: &[],
    },
    KnownChart { chart: "flagger", groups: &["flagger.app"], place: CrdPlace::Templates, enabled_by: &[] },
    KnownChart { chart: "kube-prometheus-stack", groups: &["monitoring.coreos.com"], place: CrdPlace::CrdsDir, enabled_by: &[] },
    KnownChart { chart: "prometheus-operator-crds", groups: &["monitoring.coreos.com"], place: CrdPlace::Templates, enabled_by: &[] },
    KnownChart { chart: "flux-operator", groups: &["fluxcd.controlplane.io"], place: CrdPlace::Templates, enabled_by: &[] },
    KnownChart {
        chart: "external-secrets",
        groups: &["external-secrets.io", "generators.external-secrets.io"],
        place: CrdPlace::Templates,
        enabled_by: &[],
    },
    KnownChart { chart: "snapshot-controller", groups: &["snapshot.storage.k8s.io"], place: CrdPlace::CrdsDir, enabled_by: &[] },
];

/// The CRD groups a chart from a chart repository installs, with the given values, from the table
/// of well-known charts (used when the chart itself is not reachable).
pub fn known_chart_crd_groups(chart: &str, values: &Value, installs_crds_dir: bool) -> Vec<String> {
    let Some(k) = KNOWN_CHARTS.iter().find(|k| k.chart == chart) else { return Vec::new() };
    if k.place == CrdPlace::CrdsDir && !installs_crds_dir {
        return Vec::new();
    }
    let on = k.enabled_by.is_empty() || k.enabled_by.iter().any(|p| yaml_docs::value_at(values, p).and_then(Value::as_bool) == Some(true));
    if on { k.groups.iter().map(|g| g.to_string()).collect() } else { Vec::new() }
}

/// Whether the table knows the chart (so a finding can say where its CRDs came from).
pub fn is_known_chart(chart: &str) -> bool {
    KNOWN_CHARTS.iter().any(|k| k.chart == chart)
}

/// `values.yaml` of a chart directory (null when absent or unreadable).
pub fn default_values(chart: &Path) -> Value {
    std::fs::read_to_string(chart.join("values.yaml"))
        .ok()
        .and_then(|t| serde_norway::from_str::<serde_norway::Value>(&t).ok())
        .map(yaml_docs::to_json)
        .unwrap_or(Value::Null)
}

/// Helm's coalescing of user values over chart defaults: maps merge key by key, anything else
/// replaces, and a `null` removes the default.
pub fn coalesce(defaults: &Value, user: &Value) -> Value {
    match (defaults, user) {
        (Value::Object(d), Value::Object(u)) => {
            let mut out = d.clone();
            for (k, v) in u {
                match (out.get(k), v) {
                    (_, Value::Null) => {
                        out.remove(k);
                    }
                    (Some(dv @ Value::Object(_)), Value::Object(_)) => {
                        let merged = coalesce(dv, v);
                        out.insert(k.clone(), merged);
                    }
                    _ => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Object(out)
        }
        (_, Value::Null) => defaults.clone(),
        (_, u) => u.clone(),
    }
}

/// A chart's `values.schema.json`, when it has one.
pub fn values_schema(chart: &Path) -> Option<Result<Value, String>> {
    let text = std::fs::read_to_string(chart.join("values.schema.json")).ok()?;
    Some(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", chart.join("values.schema.json").display())))
}

/// Whether a template's guard (`{{ if COND }}` around the whole file) holds for `values`; `None`
/// when there is no such guard, `Some(true)` when it cannot be evaluated here.
fn guard_holds(text: &str, values: &Value) -> Option<bool> {
    let first = text.lines().find(|l| !l.trim().is_empty())?.trim();
    let inner = first.strip_prefix("{{")?.strip_suffix("}}")?.trim().trim_start_matches('-').trim_end_matches('-').trim();
    let cond = inner.strip_prefix("if ")?;
    let t = match template::parse_delims(&format!("{{{{ if {cond} }}}}1{{{{ end }}}}"), "{{", "}}") {
        Ok(t) => t,
        Err(_) => return Some(true),
    };
    let dot = TVal::Map([("Values".to_string(), TVal::from_input(values))].into_iter().collect());
    Some(t.execute_data(&dot).map(|o| o == "1").unwrap_or(true))
}

/// The CRD groups a chart directory installs with `values` (merged over its defaults): its
/// `crds/` directory (when `installs_crds_dir`) and templates that are CRDs and whose guard holds.
pub fn chart_crd_groups(chart: &Path, installs_crds_dir: bool, values: &Value) -> Vec<String> {
    let merged = coalesce(&default_values(chart), values);
    let mut groups: Vec<String> = Vec::new();
    let mut dirs = vec![(chart.join("templates"), true)];
    if installs_crds_dir {
        dirs.push((chart.join("crds"), false));
    }
    for (dir, templated) in dirs {
        let walk = walkdir::WalkDir::new(&dir).follow_links(false).max_depth(4).into_iter().filter_map(Result::ok).take(2000);
        let mut files: Vec<PathBuf> =
            walk.filter(|e| e.file_type().is_file() && yaml_docs::is_yaml(e.path())).map(|e| e.into_path()).collect();
        files.sort();
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else { continue };
            if !text.contains("CustomResourceDefinition") {
                continue;
            }
            if templated && guard_holds(&text, &merged) == Some(false) {
                continue;
            }
            let plain: String = text.lines().filter(|l| !l.contains("{{")).map(|l| format!("{l}\n")).collect();
            for d in yaml_docs::parse_str(&f, &plain).unwrap_or_default() {
                if d.str_at("kind") == Some("CustomResourceDefinition")
                    && let Some(g) = d.str_at("spec.group")
                    && !groups.iter().any(|x| x == g)
                {
                    groups.push(g.to_string());
                }
            }
        }
    }
    groups
}

/// The CRD groups of a chart directory in the repo (relative to `root`), with its default values.
pub fn chart_dir_crd_groups(root: &Path, chart_dir: &Path, installs_crds_dir: bool) -> Vec<String> {
    chart_crd_groups(&root.join(chart_dir), installs_crds_dir, &Value::Null)
}

/// The chart directory (relative to the root) of a chart given as a path in the repo's own git
/// source, if it stays inside the repo.
pub fn chart_dir(root: &Path, path: &str) -> Option<PathBuf> {
    match resolve(root, Path::new(""), path) {
        Resolved::Inside(rel) if root.join(&rel).join("Chart.yaml").is_file() => Some(rel),
        _ => None,
    }
}

fn chart_yaml_name_at(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("Chart.yaml")).ok()?;
    let v: Value = serde_norway::from_str(&text).ok()?;
    v.get("name").and_then(Value::as_str).map(str::to_string)
}

/// The `name` in `<root>/<dir>/Chart.yaml`.
pub fn chart_yaml_name(root: &Path, dir: &Path) -> Option<String> {
    chart_yaml_name_at(&root.join(dir))
}

/// The chart name in a helmfile/helm `chart` reference: `repo/name`, `oci://host/path/name`,
/// or a path (whose last component is the directory).
pub fn chart_name_of(reference: &str) -> &str {
    let r = reference.trim().trim_end_matches('/');
    let r = r.split_once(':').filter(|(scheme, _)| *scheme == "oci").map(|(_, rest)| rest).unwrap_or(r);
    r.rsplit('/').next().unwrap_or(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_manager_installs_crds_only_when_asked() {
        assert!(known_chart_crd_groups("cert-manager", &Value::Null, true).is_empty());
        let v = serde_json::json!({"crds": {"enabled": true}});
        assert_eq!(known_chart_crd_groups("cert-manager", &v, true).len(), 2);
        assert!(known_chart_crd_groups("kube-prometheus-stack", &Value::Null, false).is_empty(), "install.crds: Skip");
    }

    #[test]
    fn coalesce_like_helm() {
        let d = serde_json::json!({"a": {"b": 1, "c": 2}, "keep": true, "drop": 1});
        let u = serde_json::json!({"a": {"c": 3}, "drop": null, "new": "x"});
        assert_eq!(coalesce(&d, &u), serde_json::json!({"a": {"b": 1, "c": 3}, "keep": true, "new": "x"}));
        assert_eq!(chart_name_of("oci://ghcr.io/fluxcd/charts/flagger"), "flagger");
        assert_eq!(chart_name_of("jetstack/cert-manager"), "cert-manager");
        assert_eq!(chart_name_of("./charts/app"), "app");
    }

    #[test]
    fn template_guards_decide() {
        let text = "{{- if or .Values.crds.enabled .Values.installCRDs }}\nkind: CustomResourceDefinition\n{{- end }}\n";
        assert_eq!(guard_holds(text, &serde_json::json!({"crds": {"enabled": false}, "installCRDs": false})), Some(false));
        assert_eq!(guard_holds(text, &serde_json::json!({"crds": {"enabled": true}})), Some(true));
        assert_eq!(guard_holds("{{- if include \"x\" . }}\n", &Value::Null), Some(true), "not evaluable: counted");
        assert_eq!(guard_holds("kind: CustomResourceDefinition\n", &Value::Null), None);
    }
}
