//! The gitops repository model: what a Flux bootstrap of a cluster directory would apply.
//!
//! [`Repo::load`] starts at a cluster directory (what `flux bootstrap --path` points the root
//! Kustomization at), reads it the way kustomize / kustomize-controller would, and follows every
//! Flux `Kustomization`'s `path` on its source when that source is this repository. Problems on
//! the way (missing files, broken YAML, references out of the repo, cycles) become
//! [`LoadIssue`]s for `check` to report; only an unusable root is an error.
//!
//! Modules: [`model`] (the objects), [`issues`] (what can go wrong), [`paths`] (confinement to the
//! root, cluster directory), `loader` (the walk), `objects` (documents → model), [`charts`],
//! [`sources`] (which sources are this repo), `elsewhere` (CRDs installed outside the Flux tree).

mod artifacts;
mod bootstraps;
pub mod charts;
mod elsewhere;
pub mod flux_operator;
pub mod helm_values;
pub mod issues;
mod loader;
pub mod model;
mod objects;
mod patches;
pub mod paths;
pub mod rset;
pub mod sources;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use bootstraps::Bootstrap;
pub use charts::{ChartDirs, ChartRef, ChartSource, ChartSources};
pub use flux_operator::FluxInstance;
pub use issues::{LoadIssue, RepoError};
pub use loader::{is_remote, kustomization_file};
pub use model::{
    Canary, ContainerPort, Deployment, FLUX_SYSTEM, FluxKustomization, HelmRelease, KustomizeFile, Object, ObjectRef, Origin, PostBuild,
    SourceDecl, SourceRef, SubstituteRef, group_of, version_of,
};
pub use paths::normalize;

use crate::envsubst::{self, EnvsubstError, Unknown};

/// The loaded repository.
#[derive(Debug, Clone)]
pub struct Repo {
    /// Repository root (absolute, canonical).
    pub root: PathBuf,
    /// Cluster directory, relative to the root.
    pub cluster_dir: PathBuf,
    root_key: ObjectRef,
    objects: Vec<Object>,
    flux_kustomizations: Vec<FluxKustomization>,
    helm_releases: Vec<HelmRelease>,
    canaries: Vec<Canary>,
    deployments: Vec<Deployment>,
    sources: Vec<SourceDecl>,
    kustomize_files: Vec<KustomizeFile>,
    issues: Vec<LoadIssue>,
    crds_elsewhere: BTreeMap<String, Origin>,
    files_read: BTreeSet<PathBuf>,
    bootstraps: Vec<Bootstrap>,
    flux_instances: Vec<FluxInstance>,
    bootstrapped_by: Option<String>,
    charts: ChartSources,
}

/// How to load a repository.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Where charts that are not in git are found offline (`check --charts DIR`, the sim's
    /// source cassette).
    pub charts: ChartSources,
}

/// Variables a Flux Kustomization's `postBuild` substitutes, as far as the repo defines them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    /// Name → value (`substitute` over `substituteFrom`).
    pub vars: BTreeMap<String, String>,
    /// `substituteFrom` objects the repo does not hold (or holds encrypted), e.g. `Secret/cluster-secrets`:
    /// their variables are unknown here.
    pub missing: Vec<String>,
}

impl Vars {
    /// How unknown variables are treated: as Flux does when every source is known, else kept as
    /// written (their values are only known in the cluster).
    pub fn unknown(&self) -> Unknown {
        if self.missing.is_empty() { Unknown::Empty } else { Unknown::Keep }
    }

    /// Substitute into one resource's YAML text, as kustomize-controller does after the build.
    pub fn apply(&self, text: &str) -> Result<String, EnvsubstError> {
        envsubst::substitute(text, &self.vars, self.unknown())
    }
}

impl Repo {
    /// Load the repo at `root` as a bootstrap of `cluster_dir` would apply it.
    ///
    /// `cluster_dir` defaults to the only directory under `clusters/`, else the root; with
    /// several directories under `clusters/` one must be chosen. It must be inside the root.
    pub fn load(root: &Path, cluster_dir: Option<&Path>) -> Result<Repo, RepoError> {
        Repo::load_with(root, cluster_dir, &LoadOptions::default())
    }

    /// Like [`Repo::load`], with options (chart sources). Without `cluster_dir` and without a
    /// `clusters/` directory, the path a FluxInstance of the repo syncs is the cluster directory.
    pub fn load_with(root: &Path, cluster_dir: Option<&Path>, opts: &LoadOptions) -> Result<Repo, RepoError> {
        let root = match std::fs::canonicalize(root) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(RepoError::NotFound(root.to_path_buf())),
            Err(_) => return Err(RepoError::NotADirectory(root.to_path_buf())),
        };
        if !root.is_dir() {
            return Err(RepoError::NotADirectory(root));
        }
        let scan = elsewhere::scan(&root, &opts.charts);
        let synced: Vec<PathBuf> = scan.instances.iter().filter_map(|i| i.sync.as_ref()).map(|s| normalize(Path::new(&s.path))).collect();
        let cluster_dir = paths::cluster_dir_or_synced(&root, cluster_dir, &synced)?;
        let repo = Repo {
            root,
            cluster_dir,
            root_key: ObjectRef::of_kind("Kustomization", Some(FLUX_SYSTEM), FLUX_SYSTEM),
            objects: Vec::new(),
            flux_kustomizations: Vec::new(),
            helm_releases: Vec::new(),
            canaries: Vec::new(),
            deployments: Vec::new(),
            sources: Vec::new(),
            kustomize_files: Vec::new(),
            issues: Vec::new(),
            crds_elsewhere: BTreeMap::new(),
            files_read: BTreeSet::new(),
            bootstraps: Vec::new(),
            flux_instances: Vec::new(),
            bootstrapped_by: None,
            charts: opts.charts.clone(),
        };
        let mut scan = scan;
        let texts = std::mem::take(&mut scan.texts);
        let mut repo = loader::load(repo, &scan.instances, texts);
        repo.resolve_charts();
        scan.resolve_pending(&repo.helm_releases);
        repo.crds_elsewhere = scan.crd_groups(&repo.files_read);
        repo.bootstraps = scan.bootstraps;
        repo.flux_instances = scan.instances;
        repo.instances_from_releases();
        Ok(repo)
    }

    /// Every object found, in load order.
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }
    /// Flux Kustomizations (the first definition of each key).
    pub fn flux_kustomizations(&self) -> &[FluxKustomization] {
        &self.flux_kustomizations
    }
    /// HelmReleases (the first definition of each key).
    pub fn helm_releases(&self) -> &[HelmRelease] {
        &self.helm_releases
    }
    /// Flagger Canaries.
    pub fn canaries(&self) -> &[Canary] {
        &self.canaries
    }
    /// Deployments.
    pub fn deployments(&self) -> &[Deployment] {
        &self.deployments
    }
    /// Sources, the bootstrap's own GitRepository included.
    pub fn sources(&self) -> &[SourceDecl] {
        &self.sources
    }
    /// kustomize files read.
    pub fn kustomize_files(&self) -> &[KustomizeFile] {
        &self.kustomize_files
    }
    /// Problems met while loading.
    pub fn issues(&self) -> &[LoadIssue] {
        &self.issues
    }
    /// Number of YAML files read.
    pub fn files_read(&self) -> usize {
        self.files_read.len()
    }
    /// The root Kustomization: the cluster directory's sync (`flux-system/flux-system` unless the
    /// sync manifest names another).
    pub fn root_kustomization(&self) -> &ObjectRef {
        &self.root_key
    }
    /// CRD groups defined in the repo outside what the cluster directory applies (installed by a
    /// bootstrap step before Flux, or in another cluster directory), with where.
    pub fn crds_elsewhere(&self) -> &BTreeMap<String, Origin> {
        &self.crds_elsewhere
    }

    /// Bootstrap steps outside the Flux tree (helmfiles, task runners, `bootstrap/` directories),
    /// with what they install.
    pub fn bootstraps(&self) -> &[Bootstrap] {
        &self.bootstraps
    }
    /// FluxInstances the repository declares (objects, and `flux-instance` chart values).
    pub fn flux_instances(&self) -> &[FluxInstance] {
        &self.flux_instances
    }
    /// When a FluxInstance's sync is the bootstrap of the cluster directory: how it is declared.
    pub fn bootstrapped_by(&self) -> Option<&str> {
        self.bootstrapped_by.as_deref()
    }
    /// The chart sources the load consulted.
    pub fn chart_sources(&self) -> &ChartSources {
        &self.charts
    }

    /// Find each HelmRelease's chart as data: in git (already), else through the chart sources,
    /// by the chart's name, version and its source's URL.
    fn resolve_charts(&mut self) {
        let mut found = Vec::new();
        for (i, h) in self.helm_releases.iter().enumerate() {
            let src = h.chart_source.as_ref().and_then(|s| self.source(&s.key()));
            // A chartRef to an OCIRepository names the artifact; the chart is the URL's last part.
            let (name, version) = match (&h.chart_source, src) {
                (Some(s), Some(d)) if s.kind == "OCIRepository" && h.doc.value.pointer("/spec/chartRef").is_some() => {
                    let name = charts::chart_name_of(&d.url).to_string();
                    let spec = d.doc.as_ref().map(|doc| doc.value.clone()).unwrap_or(Value::Null);
                    let v = spec.pointer("/spec/ref/tag").or(spec.pointer("/spec/ref/semver")).and_then(Value::as_str).map(str::to_string);
                    (name, v)
                }
                _ => (h.chart.clone(), h.chart_version.clone()),
            };
            let url = src.map(|d| d.url.clone()).filter(|u| !u.is_empty());
            let chart_ref = ChartRef { name: &name, version: version.as_deref(), repository: url.as_deref() };
            let hit =
                if h.chart_found.is_some() { None } else { self.charts.iter().find_map(|s| s.find(&chart_ref).map(|d| (d, s.describe()))) };
            found.push((i, name, version, hit));
        }
        for (i, name, version, hit) in found {
            let h = &mut self.helm_releases[i];
            if !name.is_empty() {
                h.chart = name;
            }
            if h.chart_version.is_none() {
                h.chart_version = version;
            }
            if hit.is_some() {
                h.chart_found = hit;
            }
        }
    }

    /// HelmReleases of the `flux-instance` chart declare a FluxInstance in their values (the
    /// highest `valuesFrom`/`spec.values` layer that has `instance` wins).
    fn instances_from_releases(&mut self) {
        let mut found = Vec::new();
        for h in self.helm_releases.iter().filter(|h| h.chart == "flux-instance") {
            let ns = h.release_namespace().unwrap_or(FLUX_SYSTEM).to_string();
            let values = helm_values::release_values(self, h);
            let declared = format!("flux-instance chart values of {}", h.key);
            let hit = values.layers.iter().rev().filter(|l| l.target.is_empty()).find_map(|l| {
                flux_operator::from_chart_values(&l.doc, &l.base, &ns, declared.clone()).filter(|i| i.version.is_some() || i.sync.is_some())
            });
            found.extend(hit);
        }
        self.flux_instances.extend(found);
    }

    /// Find a source by key.
    pub fn source(&self, key: &ObjectRef) -> Option<&SourceDecl> {
        self.sources.iter().find(|s| &s.key == key)
    }

    /// Whether a Flux Kustomization's source is this repository.
    pub fn is_local(&self, ks: &FluxKustomization) -> bool {
        ks.source_ref.as_ref().and_then(|s| self.source(&s.key())).is_some_and(|d| d.local_root.is_some())
    }

    /// The local directory (relative to the root) a Flux Kustomization's path points at, when its
    /// source is served from this repo and the path stays inside it.
    pub fn local_path_of(&self, ks: &FluxKustomization) -> Option<PathBuf> {
        let src = ks.source_ref.as_ref()?;
        let base = self.source(&src.key())?.local_root.as_ref()?;
        match paths::resolve(&self.root, base, &ks.path) {
            paths::Resolved::Inside(rel) => Some(rel),
            paths::Resolved::Outside(_) => None,
        }
    }

    /// The variables a Flux Kustomization's `postBuild` substitutes (`None` without `postBuild`).
    pub fn postbuild_vars(&self, ks: &FluxKustomization) -> Option<Result<Vars, EnvsubstError>> {
        let pb = ks.post_build.as_ref()?;
        let mut raw: Vec<(String, String)> = Vec::new();
        let mut missing = Vec::new();
        for r in &pb.substitute_from {
            let key = ObjectRef::of_kind(&r.kind, ks.key.namespace.as_deref(), &r.name);
            let obj = self.objects.iter().find(|o| o.key == key);
            match obj.map(|o| secret_or_config_data(&o.doc.value)) {
                Some(Some(data)) => raw.extend(data),
                // Encrypted (SOPS) or absent: known only in the cluster. An optional one that is
                // absent is simply skipped, as Flux does.
                Some(None) => missing.push(format!("{}/{}", r.kind, r.name)),
                None if r.optional => {}
                None => missing.push(format!("{}/{}", r.kind, r.name)),
            }
        }
        raw.extend(pb.substitute.iter().map(|(k, v)| (k.clone(), v.clone())));
        Some(envsubst::vars(raw).map(|vars| Vars { vars, missing }))
    }

    fn issue(&mut self, issue: LoadIssue) {
        if !self.issues.contains(&issue) {
            self.issues.push(issue);
        }
    }
}

/// The string data of a ConfigMap or Secret (Secret `data` base64-decoded, `stringData` merged as
/// the API server does); `None` when it is SOPS-encrypted.
fn secret_or_config_data(v: &Value) -> Option<Vec<(String, String)>> {
    use base64::Engine as _;
    if v.get("sops").is_some() {
        return None;
    }
    let mut out = Vec::new();
    let strings = |m: Option<&Value>| -> Vec<(String, String)> {
        m.and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
            .unwrap_or_default()
    };
    if v.get("kind").and_then(Value::as_str) == Some("Secret") {
        for (k, b64) in strings(v.get("data")) {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
            out.push((k, String::from_utf8_lossy(&bytes).into_owned()));
        }
        out.extend(strings(v.get("stringData")));
    } else {
        out.extend(strings(v.get("data")));
    }
    Some(out)
}

#[cfg(test)]
mod tests;
