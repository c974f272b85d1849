//! The repository outside what the cluster directory's Flux tree applies: CRDs a bootstrap step
//! installs before Flux (manifests in a `bootstrap/` directory, helmfile releases, task runner
//! commands, another cluster directory's), and the FluxInstances declared there.
//!
//! One bounded walk reads every candidate file once; which of its CRD manifests are outside the
//! tree is decided after the tree is loaded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::bootstraps::{self, Bootstrap, Found};
use super::charts::ChartSources;
use super::flux_operator::{self, FluxInstance};
use super::loader::MAX_FILE_BYTES;
use super::model::Origin;
use crate::yaml_docs;

/// Files looked at, at most (the walk stays bounded on any repository).
const MAX_FILES: usize = 50_000;

/// Bytes of YAML text kept for the loader, at most (it reads the rest itself).
const MAX_CACHED_BYTES: usize = 64 * 1024 * 1024;

/// What the walk found.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// Manifest files with CRDs: file → (group, where).
    crd_files: Vec<(PathBuf, Vec<(String, Origin)>)>,
    /// Bootstrap steps (helmfiles, task runners, `bootstrap/` directories).
    pub bootstraps: Vec<Bootstrap>,
    /// FluxInstances (objects anywhere, and `flux-instance` chart values of bootstraps).
    pub instances: Vec<FluxInstance>,
    /// Helmfile releases whose chart is resolved after the tree is loaded.
    pending: Vec<bootstraps::Pending>,
    /// The text of the YAML files read (regular files reached without symlinks, so inside the
    /// root): the loader takes them from here instead of reading them again.
    pub texts: HashMap<PathBuf, String>,
}

/// Walk the repository.
pub(super) fn scan(root: &Path, sources: &ChartSources) -> Scan {
    let mut out = Scan::default();
    let mut found = Found::default();
    let mut bootstrap_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut cached = 0usize;
    let mut runners: Vec<bootstraps::RunnerFile> = Vec::new();
    let walk = walkdir::WalkDir::new(root).follow_links(false).into_iter().filter_entry(|e| {
        let n = e.file_name().to_string_lossy();
        e.depth() == 0 || n == ".taskfiles" || n == ".justfile" || !(n.starts_with('.') || n == "node_modules" || n == "target")
    });
    for entry in walk.filter_map(Result::ok).filter(|e| e.file_type().is_file()).take(MAX_FILES) {
        let Ok(rel) = entry.path().strip_prefix(root).map(Path::to_path_buf) else { continue };
        let helmfile = bootstraps::is_helmfile(&rel);
        let runner = bootstraps::task_runner_kind(&rel);
        let yaml = yaml_docs::is_yaml(&rel);
        if !(yaml || helmfile || runner.is_some()) {
            continue;
        }
        if entry.metadata().map(|m| m.len() > MAX_FILE_BYTES).unwrap_or(true) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        // A helmfile by content too (`bootstrap/helmfile/apps.yaml`): top-level `releases:` with
        // helmfile's own keys beside it.
        let helmfile = helmfile
            || (yaml
                && text.lines().any(|l| l.starts_with("releases:"))
                && text
                    .lines()
                    .any(|l| ["helmDefaults:", "repositories:", "bases:", "environments:", "templates:"].iter().any(|k| l.starts_with(k))));
        if helmfile {
            bootstraps::helmfile(root, &rel, &text, sources, &mut found);
            continue;
        }
        if let Some(what) = runner {
            runners.push((rel, text, what));
            continue;
        }
        if let Some(dir) = rel.ancestors().find(|a| a.file_name().is_some_and(|n| n == "bootstrap")) {
            bootstrap_dirs.insert(dir.to_path_buf());
        }
        let crds = text.contains("CustomResourceDefinition");
        let instance = text.contains("FluxInstance") || (text.contains("HelmRelease") && text.contains("flux-instance"));
        if !(crds || instance) {
            if cached + text.len() <= MAX_CACHED_BYTES {
                cached += text.len();
                out.texts.insert(rel, text);
            }
            continue;
        }
        let plain: String = text.lines().filter(|l| !l.contains("{{")).map(|l| format!("{l}\n")).collect();
        let docs = yaml_docs::parse_str(&rel, &plain).unwrap_or_default();
        let mut groups = Vec::new();
        for d in &docs {
            if d.str_at("kind") == Some("CustomResourceDefinition")
                && let Some(g) = d.str_at("spec.group")
            {
                groups.push((g.to_string(), Origin::at(d, "")));
            }
            if flux_operator::is_instance(d)
                && let Some(i) = flux_operator::from_object(d, None)
            {
                out.instances.push(i);
            }
            if let Some(i) = flux_operator::from_release(d) {
                out.instances.push(i);
            }
        }
        if !groups.is_empty() {
            out.crd_files.push((rel, groups));
        }
    }
    bootstraps::task_runners(root, &runners, sources, &mut found);
    for dir in bootstrap_dirs {
        let installs: Vec<(String, Origin)> =
            out.crd_files.iter().filter(|(f, _)| f.starts_with(&dir)).flat_map(|(_, g)| g.iter().cloned()).collect();
        out.bootstraps.push(Bootstrap { file: dir, what: "bootstrap directory", installs, remote: Vec::new() });
    }
    // Indices of pending releases point into `found.bootstraps`, which follow the directories.
    let offset = out.bootstraps.len();
    out.pending = found.pending.into_iter().map(|p| bootstraps::Pending { bootstrap: p.bootstrap + offset, ..p }).collect();
    out.bootstraps.extend(found.bootstraps);
    out.instances.extend(found.instances);
    out
}

impl Scan {
    /// Resolve the helmfile releases whose chart a template supplies, against the loaded tree.
    pub(super) fn resolve_pending(&mut self, releases: &[super::model::HelmRelease]) {
        bootstraps::resolve_pending(&self.pending, releases, &mut self.bootstraps);
    }

    /// CRD group → where, for CRDs defined outside what the tree read (`read`), and those the
    /// bootstrap steps install.
    pub(super) fn crd_groups(&self, read: &BTreeSet<PathBuf>) -> BTreeMap<String, Origin> {
        let mut out = BTreeMap::new();
        for (file, groups) in &self.crd_files {
            if read.contains(file) {
                continue;
            }
            for (g, o) in groups {
                out.entry(g.clone()).or_insert_with(|| o.clone());
            }
        }
        for b in &self.bootstraps {
            for (g, o) in &b.installs {
                out.entry(g.clone()).or_insert_with(|| o.clone());
            }
        }
        out
    }
}
