//! CRDs the repository installs outside what the cluster directory's Flux tree applies: manifests
//! a bootstrap step applies before Flux (`kubectl apply`, a helmfile of CRD charts), or another
//! cluster directory's. A custom resource whose CRD is there is not mis-ordered by Flux.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::charts;
use super::loader::MAX_FILE_BYTES;
use super::model::Origin;
use crate::yaml_docs;

/// Files looked at, at most (the walk stays bounded on any repository).
const MAX_FILES: usize = 50_000;

/// CRD group → where it is defined, for files the Flux tree did not read.
pub(super) fn crd_groups(root: &Path, read: &BTreeSet<PathBuf>) -> BTreeMap<String, Origin> {
    let mut out = BTreeMap::new();
    let walk = walkdir::WalkDir::new(root).follow_links(false).into_iter().filter_entry(|e| {
        let n = e.file_name().to_string_lossy();
        e.depth() == 0 || !(n.starts_with('.') || n == "node_modules" || n == "target")
    });
    for entry in walk.filter_map(Result::ok).filter(|e| e.file_type().is_file()).take(MAX_FILES) {
        let Ok(rel) = entry.path().strip_prefix(root).map(Path::to_path_buf) else { continue };
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let helmfile = name.starts_with("helmfile");
        if read.contains(&rel) || !(yaml_docs::is_yaml(&rel) || helmfile) {
            continue;
        }
        if entry.metadata().map(|m| m.len() > MAX_FILE_BYTES).unwrap_or(true) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        if helmfile {
            helmfile_crds(&rel, &text, &mut out);
        } else if text.contains("CustomResourceDefinition") {
            let plain: String = text.lines().filter(|l| !l.contains("{{")).map(|l| format!("{l}\n")).collect();
            for d in yaml_docs::parse_str(&rel, &plain).unwrap_or_default() {
                if d.str_at("kind") == Some("CustomResourceDefinition")
                    && let Some(g) = d.str_at("spec.group")
                {
                    out.entry(g.to_string()).or_insert_with(|| Origin::at(&d, ""));
                }
            }
        }
    }
    out
}

/// A helmfile's releases of well-known CRD charts (`chart: repo/prometheus-operator-crds`).
fn helmfile_crds(rel: &Path, text: &str, out: &mut BTreeMap<String, Origin>) {
    // Helmfiles enable the CRDs they install; assume the chart's CRD switches are on.
    let on = serde_json::json!({"installCRDs": true, "crds": {"enabled": true}});
    for (i, line) in text.lines().enumerate() {
        let Some(chart) = line.trim().strip_prefix("chart:") else { continue };
        let chart = chart.trim().trim_matches(|c| c == '"' || c == '\'');
        let name = chart.rsplit('/').next().unwrap_or(chart);
        for g in charts::known_chart_crd_groups(name, &on, true) {
            out.entry(g).or_insert_with(|| Origin::new(rel.to_path_buf(), i + 1));
        }
    }
}
