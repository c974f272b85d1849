//! Helm charts the repo's HelmReleases install: chart names from `Chart.yaml` and which CRD
//! groups a chart installs (from a chart in git, read; from a chart repository, a table of
//! well-known charts).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::paths::{Resolved, resolve};
use crate::yaml_docs;

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
];

/// The CRD groups a chart from a chart repository installs, with the given values.
pub fn known_chart_crd_groups(chart: &str, values: &Value, installs_crds_dir: bool) -> Vec<String> {
    let Some(k) = KNOWN_CHARTS.iter().find(|k| k.chart == chart) else { return Vec::new() };
    if k.place == CrdPlace::CrdsDir && !installs_crds_dir {
        return Vec::new();
    }
    let on = k.enabled_by.is_empty() || k.enabled_by.iter().any(|p| yaml_docs::value_at(values, p).and_then(Value::as_bool) == Some(true));
    if on { k.groups.iter().map(|g| g.to_string()).collect() } else { Vec::new() }
}

/// The CRD groups of a chart directory in the repo: `crds/` (when installed) and templates whose
/// documents are CRDs (template lines dropped, as Helm would render the rest).
pub fn chart_dir_crd_groups(root: &Path, chart_dir: &Path, installs_crds_dir: bool) -> Vec<String> {
    let mut groups = Vec::new();
    let mut dirs = vec![chart_dir.join("templates")];
    if installs_crds_dir {
        dirs.push(chart_dir.join("crds"));
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(root.join(&dir)) else { continue };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| yaml_docs::is_yaml(p)).collect();
        files.sort();
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else { continue };
            if !text.contains("CustomResourceDefinition") {
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

/// The chart directory (relative to the root) of a chart given as a path in the repo's own git
/// source, if it stays inside the repo.
pub fn chart_dir(root: &Path, path: &str) -> Option<PathBuf> {
    match resolve(root, Path::new(""), path) {
        Resolved::Inside(rel) if root.join(&rel).join("Chart.yaml").is_file() => Some(rel),
        _ => None,
    }
}

/// The `name` in `<root>/<dir>/Chart.yaml`.
pub fn chart_yaml_name(root: &Path, dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join(dir).join("Chart.yaml")).ok()?;
    let v: Value = serde_norway::from_str(&text).ok()?;
    v.get("name").and_then(Value::as_str).map(str::to_string)
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
}
