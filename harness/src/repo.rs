//! The gitops repository model: what a Flux bootstrap of a cluster directory would apply.
//!
//! [`Repo::load`] starts at a cluster directory (what `flux bootstrap --path` points the root
//! Kustomization at), reads it the way kustomize / kustomize-controller would, and follows every
//! Flux `Kustomization`'s `path` on its source. Problems on the way (missing files, broken YAML)
//! become [`LoadIssue`]s for `check` to report; only an unusable root is an error.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::yaml_docs::{self, YamlDoc, YamlError};

/// Identity of a Kubernetes object: kind, namespace (none for cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    /// Kind, e.g. `Kustomization`, `HelmRelease`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjKey {
    /// Build a key.
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> ObjKey {
        ObjKey { kind: kind.to_string(), namespace: namespace.map(str::to_string), name: name.to_string() }
    }

    /// `namespace/name` (or `name` when cluster-scoped), as Flux prints it.
    pub fn short(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for ObjKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.short())
    }
}

/// Where an object or entry is written: file relative to the repo root, 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// File relative to the repository root.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

/// A reference from a Flux object to a source object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    /// Source kind (`GitRepository`, `OCIRepository`, `Bucket`, `HelmRepository`, `HelmChart`).
    pub kind: String,
    /// Source name.
    pub name: String,
    /// Source namespace (defaults to the referrer's namespace).
    pub namespace: String,
}

impl SourceRef {
    /// The key of the referenced source.
    pub fn key(&self) -> ObjKey {
        ObjKey::new(&self.kind, Some(&self.namespace), &self.name)
    }
}

/// Any object found in the repo, as Flux would apply it.
#[derive(Debug, Clone)]
pub struct Object {
    /// `apiVersion`.
    pub api_version: String,
    /// Key with the namespace kustomize / Flux would give it.
    pub key: ObjKey,
    /// The Flux Kustomization that applies it (`None` for what the bootstrap itself applies).
    pub applied_by: Option<ObjKey>,
    /// The raw document.
    pub doc: YamlDoc,
}

impl Object {
    /// API group (empty for core).
    pub fn group(&self) -> &str {
        group_of(&self.api_version)
    }

    /// Where it is written.
    pub fn origin(&self) -> Origin {
        Origin { file: self.doc.file.clone(), line: self.doc.line }
    }

    /// The document's `spec` (null when absent).
    pub fn spec(&self) -> &Value {
        self.doc.value.get("spec").unwrap_or(&Value::Null)
    }
}

/// A Flux `Kustomization` (kustomize.toolkit.fluxcd.io).
#[derive(Debug, Clone)]
pub struct FluxKustomization {
    /// Its key.
    pub key: ObjKey,
    /// `apiVersion`.
    pub api_version: String,
    /// `spec.path` (as written; default `./`).
    pub path: String,
    /// `spec.sourceRef`.
    pub source_ref: Option<SourceRef>,
    /// `spec.dependsOn`, namespaced as Flux does.
    pub depends_on: Vec<ObjKey>,
    /// `spec.wait`.
    pub wait: bool,
    /// `spec.healthChecks` (raw).
    pub health_checks: Vec<Value>,
    /// `spec.targetNamespace`.
    pub target_namespace: Option<String>,
    /// `spec.patches` (raw).
    pub patches: Vec<Value>,
    /// `spec.suspend`.
    pub suspend: bool,
    /// Who applies it.
    pub applied_by: Option<ObjKey>,
    /// The raw document.
    pub doc: YamlDoc,
}

/// A Flux `HelmRelease` (helm.toolkit.fluxcd.io).
#[derive(Debug, Clone)]
pub struct HelmRelease {
    /// Its key.
    pub key: ObjKey,
    /// `apiVersion`.
    pub api_version: String,
    /// Chart name (`spec.chart.spec.chart`, or the `chartRef` name).
    pub chart: String,
    /// Where the chart comes from (`chart.spec.sourceRef` or `chartRef`).
    pub chart_source: Option<SourceRef>,
    /// `spec.dependsOn`, namespaced as Flux does.
    pub depends_on: Vec<ObjKey>,
    /// `spec.values` (null when absent).
    pub values: Value,
    /// `spec.targetNamespace`.
    pub target_namespace: Option<String>,
    /// Who applies it.
    pub applied_by: Option<ObjKey>,
    /// The raw document.
    pub doc: YamlDoc,
}

/// A Flagger `Canary` (flagger.app).
#[derive(Debug, Clone)]
pub struct Canary {
    /// Its key.
    pub key: ObjKey,
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
    pub applied_by: Option<ObjKey>,
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
    pub key: ObjKey,
    /// `spec.selector.matchLabels`.
    pub selector: BTreeMap<String, String>,
    /// Container ports of all containers.
    pub ports: Vec<ContainerPort>,
    /// `(container name, image)` pairs.
    pub images: Vec<(String, String)>,
    /// Who applies it.
    pub applied_by: Option<ObjKey>,
    /// The raw document.
    pub doc: YamlDoc,
}

/// A source declared in the repo (or implied by the bootstrap).
#[derive(Debug, Clone)]
pub struct SourceDecl {
    /// Its key.
    pub key: ObjKey,
    /// `spec.url` (empty when implicit).
    pub url: String,
    /// The local directory it stands for, when the harness serves it from this repo
    /// (the bootstrap's `flux-system` GitRepository); `None` for external sources.
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

/// Something wrong found while loading, for `check` to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadIssue {
    /// A YAML file does not parse.
    InvalidYaml {
        /// Where.
        origin: Origin,
        /// Parser message with location.
        message: String,
    },
    /// A file or directory cannot be read.
    Unreadable {
        /// Where.
        origin: Origin,
        /// Why.
        message: String,
    },
    /// A kustomize `resources` entry does not exist.
    MissingResource {
        /// The kustomization.yaml line naming it.
        origin: Origin,
        /// The entry as written.
        entry: String,
    },
    /// A kustomize patch file does not exist.
    MissingPatch {
        /// The kustomization.yaml line naming it.
        origin: Origin,
        /// The entry as written.
        entry: String,
    },
    /// A configMapGenerator/secretGenerator file does not exist.
    MissingGeneratorFile {
        /// The kustomization.yaml line naming it.
        origin: Origin,
        /// Generator name.
        generator: String,
        /// The file as written.
        file: String,
    },
    /// A Flux Kustomization's `path` does not exist in its (local) source.
    MissingPath {
        /// The Kustomization.
        key: ObjKey,
        /// Where it is written.
        origin: Origin,
        /// The path as written.
        path: String,
    },
}

/// Errors that make a repo unusable.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The root does not exist or is not a directory.
    #[error("{0}: not a directory; pass the root of a gitops repository")]
    NotADirectory(PathBuf),
    /// The cluster directory does not exist.
    #[error("cluster directory {dir} does not exist under {root}; pass --cluster-dir with one of: {choices}")]
    NoClusterDir {
        /// Root.
        root: PathBuf,
        /// The directory asked for.
        dir: PathBuf,
        /// Candidate directories under `clusters/`.
        choices: String,
    },
    /// Several cluster directories and none chosen: loading them together would mix clusters.
    #[error("{root} has several cluster directories ({choices}); pass --cluster-dir with the one to check")]
    AmbiguousClusterDir {
        /// Root.
        root: PathBuf,
        /// Candidate directories under `clusters/`.
        choices: String,
    },
}

/// The loaded repository.
#[derive(Debug, Clone)]
pub struct Repo {
    /// Repository root (absolute).
    pub root: PathBuf,
    /// Cluster directory, relative to the root.
    pub cluster_dir: PathBuf,
    objects: Vec<Object>,
    flux_kustomizations: Vec<FluxKustomization>,
    helm_releases: Vec<HelmRelease>,
    canaries: Vec<Canary>,
    deployments: Vec<Deployment>,
    sources: Vec<SourceDecl>,
    kustomize_files: Vec<KustomizeFile>,
    issues: Vec<LoadIssue>,
    files_read: usize,
}

/// The bootstrap's implicit root Kustomization / GitRepository name and namespace.
pub const FLUX_SYSTEM: &str = "flux-system";

/// API group of an `apiVersion` (empty for core `v1`).
pub fn group_of(api_version: &str) -> &str {
    match api_version.rsplit_once('/') {
        Some((g, _)) => g,
        None => "",
    }
}

/// Version part of an `apiVersion`.
pub fn version_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(_, v)| v).unwrap_or(api_version)
}

/// Kinds that are cluster-scoped (kustomize's namespace override leaves them alone).
fn cluster_scoped(kind: &str) -> bool {
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
    )
}

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Work item: a directory (or file) to read, with what applies it and the namespace context.
#[derive(Debug, Clone)]
struct Visit {
    path: PathBuf,
    applied_by: Option<ObjKey>,
    /// Namespace forced by an enclosing kustomize `namespace:` or Flux `targetNamespace`.
    forced_ns: Option<String>,
    /// Namespace of the applying Flux Kustomization (default for `dependsOn`-less references).
    default_ns: Option<String>,
}

impl Repo {
    /// Load the repo at `root` as a bootstrap of `cluster_dir` would apply it.
    ///
    /// `cluster_dir` defaults to the only directory under `clusters/`, else the root; with
    /// several directories under `clusters/` one must be chosen.
    pub fn load(root: &Path, cluster_dir: Option<&Path>) -> Result<Repo, RepoError> {
        let root = std::fs::canonicalize(root).map_err(|_| RepoError::NotADirectory(root.to_path_buf()))?;
        if !root.is_dir() {
            return Err(RepoError::NotADirectory(root));
        }
        let cluster_dir = match cluster_dir {
            Some(d) => {
                let rel = if d.is_absolute() { d.strip_prefix(&root).unwrap_or(d).to_path_buf() } else { d.to_path_buf() };
                if !root.join(&rel).is_dir() {
                    return Err(RepoError::NoClusterDir { root: root.clone(), dir: rel, choices: cluster_choices(&root) });
                }
                normalize(&rel)
            }
            None => default_cluster_dir(&root)?,
        };
        let mut repo = Repo {
            root: root.clone(),
            cluster_dir: cluster_dir.clone(),
            objects: Vec::new(),
            flux_kustomizations: Vec::new(),
            helm_releases: Vec::new(),
            canaries: Vec::new(),
            deployments: Vec::new(),
            sources: vec![SourceDecl {
                key: ObjKey::new("GitRepository", Some(FLUX_SYSTEM), FLUX_SYSTEM),
                url: String::new(),
                local_root: Some(PathBuf::new()),
                doc: None,
            }],
            kustomize_files: Vec::new(),
            issues: Vec::new(),
            files_read: 0,
        };
        let root_ks = ObjKey::new("Kustomization", Some(FLUX_SYSTEM), FLUX_SYSTEM);
        let mut queue = VecDeque::from([Visit {
            path: cluster_dir,
            applied_by: Some(root_ks),
            forced_ns: None,
            default_ns: Some(FLUX_SYSTEM.to_string()),
        }]);
        let mut seen_dirs: BTreeSet<(PathBuf, Option<ObjKey>)> = BTreeSet::new();
        let mut seen_files: BTreeSet<PathBuf> = BTreeSet::new();
        while let Some(visit) = queue.pop_front() {
            if !seen_dirs.insert((visit.path.clone(), visit.applied_by.clone())) {
                continue;
            }
            let mut followed = Vec::new();
            repo.visit(&visit, &mut seen_files, &mut followed);
            queue.extend(followed);
        }
        Ok(repo)
    }

    /// Every object found, in load order.
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }
    /// Flux Kustomizations.
    pub fn flux_kustomizations(&self) -> &[FluxKustomization] {
        &self.flux_kustomizations
    }
    /// HelmReleases.
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
    /// Sources, the bootstrap's implicit `flux-system` GitRepository included.
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
        self.files_read
    }

    /// Find a source by key.
    pub fn source(&self, key: &ObjKey) -> Option<&SourceDecl> {
        self.sources.iter().find(|s| &s.key == key)
    }

    /// The local directory (relative to the root) a Flux Kustomization's path points at, when its
    /// source is served from this repo.
    pub fn local_path_of(&self, ks: &FluxKustomization) -> Option<PathBuf> {
        let src = ks.source_ref.as_ref()?;
        let decl = self.source(&src.key())?;
        let base = decl.local_root.as_ref()?;
        Some(normalize(&base.join(ks.path.trim_start_matches("./"))))
    }

    fn issue(&mut self, issue: LoadIssue) {
        if !self.issues.contains(&issue) {
            self.issues.push(issue);
        }
    }

    fn visit(&mut self, visit: &Visit, seen_files: &mut BTreeSet<PathBuf>, followed: &mut Vec<Visit>) {
        let abs = self.root.join(&visit.path);
        if abs.is_file() {
            self.read_manifest_file(&visit.path, visit, seen_files, followed);
            return;
        }
        if let Some(kfile) = KUSTOMIZATION_FILES.iter().map(|f| visit.path.join(f)).find(|p| self.root.join(p).is_file()) {
            self.read_kustomization(&visit.path, &kfile, visit, seen_files, followed);
        } else {
            self.read_plain_dir(&visit.path, visit, seen_files, followed);
        }
    }

    /// A directory without kustomization.yaml: like kustomize-controller's generated one, every
    /// YAML file below it, and sub-directories with their own kustomization.yaml as a unit.
    fn read_plain_dir(&mut self, dir: &Path, visit: &Visit, seen_files: &mut BTreeSet<PathBuf>, followed: &mut Vec<Visit>) {
        let entries = match std::fs::read_dir(self.root.join(dir)) {
            Ok(e) => e,
            Err(e) => {
                self.issue(LoadIssue::Unreadable { origin: Origin { file: dir.to_path_buf(), line: 1 }, message: e.to_string() });
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| dir.join(e.file_name())).collect();
        paths.sort();
        for p in paths {
            let abs = self.root.join(&p);
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if abs.is_symlink() && abs.is_dir() {
                // A symlinked directory may point back up the tree; kustomize refuses those too.
                self.issue(LoadIssue::Unreadable {
                    origin: Origin { file: p.clone(), line: 1 },
                    message: "symlinked directory not followed (it could loop); replace it with a kustomize resource entry".to_string(),
                });
            } else if abs.is_dir() {
                let sub = Visit { path: p.clone(), ..visit.clone() };
                if KUSTOMIZATION_FILES.iter().any(|f| abs.join(f).is_file()) {
                    self.visit(&sub, seen_files, followed);
                } else {
                    self.read_plain_dir(&p, &sub, seen_files, followed);
                }
            } else if yaml_docs::is_yaml(&p) {
                self.read_manifest_file(&p, visit, seen_files, followed);
            } else if abs.is_symlink() && !abs.exists() {
                self.issue(LoadIssue::Unreadable { origin: Origin { file: p.clone(), line: 1 }, message: "dangling symlink".to_string() });
            }
        }
    }

    fn read_kustomization(
        &mut self,
        dir: &Path,
        kfile: &Path,
        visit: &Visit,
        seen_files: &mut BTreeSet<PathBuf>,
        followed: &mut Vec<Visit>,
    ) {
        self.files_read += 1;
        let docs = match yaml_docs::load_file(&self.root, kfile) {
            Ok(d) => d,
            Err(e) => {
                self.yaml_error(e);
                return;
            }
        };
        let Some(doc) = docs.into_iter().next() else { return };
        let v = doc.value.clone();
        let namespace = v.get("namespace").and_then(Value::as_str).map(str::to_string);
        // An outer namespace override wins over an inner one (kustomize applies it last).
        let forced_ns = visit.forced_ns.clone().or(namespace.clone());
        let inner = Visit { forced_ns, ..visit.clone() };
        self.kustomize_files.push(KustomizeFile { dir: dir.to_path_buf(), namespace, doc: doc.clone() });

        let strings = |key: &str| -> Vec<String> {
            v.get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default()
        };
        let mut entries = strings("resources");
        entries.extend(strings("bases"));
        entries.extend(strings("components"));
        for entry in entries {
            if is_remote(&entry) {
                continue;
            }
            let target = normalize(&dir.join(&entry));
            if !self.root.join(&target).exists() {
                let origin = Origin { file: kfile.to_path_buf(), line: doc.line_of(&entry) };
                self.issue(LoadIssue::MissingResource { origin, entry });
                continue;
            }
            let sub = Visit { path: target, ..inner.clone() };
            self.visit(&sub, seen_files, followed);
        }
        // Patch files: patches[].path, patchesStrategicMerge (file entries), patchesJson6902[].path.
        let mut patch_files: Vec<String> = Vec::new();
        for key in ["patches", "patchesJson6902"] {
            if let Some(arr) = v.get(key).and_then(Value::as_array) {
                patch_files.extend(arr.iter().filter_map(|p| p.get("path").and_then(Value::as_str)).map(str::to_string));
            }
        }
        patch_files.extend(strings("patchesStrategicMerge").into_iter().filter(|s| !s.contains('\n')));
        for entry in patch_files {
            if !self.root.join(dir).join(&entry).exists() {
                let origin = Origin { file: kfile.to_path_buf(), line: doc.line_of(&entry) };
                self.issue(LoadIssue::MissingPatch { origin, entry });
            }
        }
        for gen_key in ["configMapGenerator", "secretGenerator"] {
            let Some(gens) = v.get(gen_key).and_then(Value::as_array) else { continue };
            for g in gens {
                let gname = g.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                let mut files: Vec<String> = Vec::new();
                for k in ["files", "envs"] {
                    if let Some(a) = g.get(k).and_then(Value::as_array) {
                        files.extend(a.iter().filter_map(Value::as_str).map(|s| match s.split_once('=') {
                            Some((_, path)) => path.to_string(),
                            None => s.to_string(),
                        }));
                    }
                }
                if let Some(env) = g.get("env").and_then(Value::as_str) {
                    files.push(env.to_string());
                }
                for f in files {
                    if !self.root.join(dir).join(&f).exists() {
                        let origin = Origin { file: kfile.to_path_buf(), line: doc.line_of(&f) };
                        self.issue(LoadIssue::MissingGeneratorFile { origin, generator: gname.clone(), file: f });
                    }
                }
            }
        }
    }

    fn yaml_error(&mut self, e: YamlError) {
        let origin = Origin { file: e.file().to_path_buf(), line: e.line() };
        match e {
            YamlError::Read { source, .. } => self.issue(LoadIssue::Unreadable { origin, message: source.to_string() }),
            YamlError::Parse { message, .. } => self.issue(LoadIssue::InvalidYaml { origin, message }),
        }
    }

    fn read_manifest_file(&mut self, file: &Path, visit: &Visit, seen_files: &mut BTreeSet<PathBuf>, followed: &mut Vec<Visit>) {
        // The same file reached twice under the same applier is one set of objects.
        let marker = PathBuf::from(format!("{}#{}", file.display(), visit.applied_by.as_ref().map(|k| k.short()).unwrap_or_default()));
        if !seen_files.insert(marker) {
            return;
        }
        self.files_read += 1;
        let docs = match yaml_docs::load_file(&self.root, file) {
            Ok(d) => d,
            Err(e) => {
                self.yaml_error(e);
                return;
            }
        };
        for doc in docs {
            self.add_object(doc, visit, followed);
        }
    }

    fn add_object(&mut self, doc: YamlDoc, visit: &Visit, followed: &mut Vec<Visit>) {
        let (Some(api_version), Some(kind)) = (doc.str_at("apiVersion"), doc.str_at("kind")) else { return };
        let api_version = api_version.to_string();
        let kind = kind.to_string();
        let name = doc.str_at("metadata.name").unwrap_or("").to_string();
        if kind == "List" {
            return;
        }
        let namespace = if cluster_scoped(&kind) {
            None
        } else {
            visit.forced_ns.clone().or_else(|| doc.str_at("metadata.namespace").map(str::to_string)).or_else(|| visit.default_ns.clone())
        };
        let key = ObjKey { kind: kind.clone(), namespace: namespace.clone(), name };
        let group = group_of(&api_version).to_string();
        let ns = namespace.clone().unwrap_or_default();
        let spec = doc.value.get("spec").cloned().unwrap_or(Value::Null);
        let depends_on = |spec: &Value| -> Vec<ObjKey> {
            spec.get("dependsOn")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|d| {
                            let n = d.get("name").and_then(Value::as_str)?;
                            let dns = d.get("namespace").and_then(Value::as_str).unwrap_or(&ns);
                            Some(ObjKey::new(&kind, Some(dns), n))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let source_ref = |v: Option<&Value>| -> Option<SourceRef> {
            let v = v?;
            Some(SourceRef {
                kind: v.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
                name: v.get("name").and_then(Value::as_str)?.to_string(),
                namespace: v.get("namespace").and_then(Value::as_str).unwrap_or(&ns).to_string(),
            })
        };
        match (group.as_str(), kind.as_str()) {
            ("kustomize.toolkit.fluxcd.io", "Kustomization") => {
                let ks = FluxKustomization {
                    key: key.clone(),
                    api_version: api_version.clone(),
                    path: spec.get("path").and_then(Value::as_str).unwrap_or("./").to_string(),
                    source_ref: source_ref(spec.get("sourceRef")),
                    depends_on: depends_on(&spec),
                    wait: spec.get("wait").and_then(Value::as_bool).unwrap_or(false),
                    health_checks: spec.get("healthChecks").and_then(Value::as_array).cloned().unwrap_or_default(),
                    target_namespace: spec.get("targetNamespace").and_then(Value::as_str).map(str::to_string),
                    patches: spec.get("patches").and_then(Value::as_array).cloned().unwrap_or_default(),
                    suspend: spec.get("suspend").and_then(Value::as_bool).unwrap_or(false),
                    applied_by: visit.applied_by.clone(),
                    doc: doc.clone(),
                };
                self.follow(&ks, followed);
                if !self.flux_kustomizations.iter().any(|k| k.key == ks.key) {
                    self.flux_kustomizations.push(ks);
                }
            }
            ("helm.toolkit.fluxcd.io", "HelmRelease") => {
                let chart_spec = spec.get("chart").and_then(|c| c.get("spec"));
                let (chart, chart_source) = match (chart_spec, spec.get("chartRef")) {
                    (Some(cs), _) => {
                        let src = source_ref(cs.get("sourceRef"));
                        let chart = cs.get("chart").and_then(Value::as_str).unwrap_or("").to_string();
                        // From a GitRepository or Bucket the chart is a path; its name is in
                        // Chart.yaml (what source-controller packages).
                        let from_files = src.as_ref().is_some_and(|s| s.kind == "GitRepository" || s.kind == "Bucket");
                        let chart = if from_files { chart_yaml_name(&self.root, &chart).unwrap_or(chart) } else { chart };
                        (chart, src)
                    }
                    (None, Some(cr)) => (cr.get("name").and_then(Value::as_str).unwrap_or("").to_string(), source_ref(Some(cr))),
                    (None, None) => (String::new(), None),
                };
                if !self.helm_releases.iter().any(|h| h.key == key) {
                    self.helm_releases.push(HelmRelease {
                        key: key.clone(),
                        api_version: api_version.clone(),
                        chart,
                        chart_source,
                        depends_on: depends_on(&spec),
                        values: spec.get("values").cloned().unwrap_or(Value::Null),
                        target_namespace: spec.get("targetNamespace").and_then(Value::as_str).map(str::to_string),
                        applied_by: visit.applied_by.clone(),
                        doc: doc.clone(),
                    });
                }
            }
            ("source.toolkit.fluxcd.io", "GitRepository" | "OCIRepository" | "HelmRepository" | "Bucket" | "HelmChart") => {
                // A repo's own flux-system GitRepository (gotk-sync.yaml) is the bootstrap's source:
                // it keeps standing for this repo.
                if let Some(existing) = self.sources.iter_mut().find(|s| s.key == key && s.doc.is_none()) {
                    existing.doc = Some(doc.clone());
                    existing.url = spec.get("url").and_then(Value::as_str).unwrap_or("").to_string();
                } else if !self.sources.iter().any(|s| s.key == key) {
                    self.sources.push(SourceDecl {
                        key: key.clone(),
                        url: spec.get("url").and_then(Value::as_str).unwrap_or("").to_string(),
                        local_root: None,
                        doc: Some(doc.clone()),
                    });
                }
            }
            ("flagger.app", "Canary") => {
                let target = spec.get("targetRef").and_then(|t| {
                    Some((t.get("kind").and_then(Value::as_str)?.to_string(), t.get("name").and_then(Value::as_str)?.to_string()))
                });
                self.canaries.push(Canary {
                    key: key.clone(),
                    provider: spec.get("provider").and_then(Value::as_str).map(str::to_string),
                    target,
                    ingress_ref: spec.get("ingressRef").and_then(|i| i.get("name")).and_then(Value::as_str).map(str::to_string),
                    service_port: spec.get("service").and_then(|s| s.get("port")).and_then(Value::as_i64),
                    target_port: spec.get("service").and_then(|s| s.get("targetPort")).cloned(),
                    analysis: spec.get("analysis").cloned().unwrap_or(Value::Null),
                    applied_by: visit.applied_by.clone(),
                    doc: doc.clone(),
                });
            }
            ("apps", "Deployment") => {
                let selector = spec
                    .get("selector")
                    .and_then(|s| s.get("matchLabels"))
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
                    .unwrap_or_default();
                let containers = spec.pointer("/template/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
                let mut ports = Vec::new();
                let mut images = Vec::new();
                for c in &containers {
                    let cname = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                    if let Some(img) = c.get("image").and_then(Value::as_str) {
                        images.push((cname, img.to_string()));
                    }
                    for p in c.get("ports").and_then(Value::as_array).into_iter().flatten() {
                        if let Some(number) = p.get("containerPort").and_then(Value::as_i64) {
                            ports.push(ContainerPort { name: p.get("name").and_then(Value::as_str).map(str::to_string), number });
                        }
                    }
                }
                self.deployments.push(Deployment {
                    key: key.clone(),
                    selector,
                    ports,
                    images,
                    applied_by: visit.applied_by.clone(),
                    doc: doc.clone(),
                });
            }
            _ => {}
        }
        self.objects.push(Object { api_version, key, applied_by: visit.applied_by.clone(), doc });
    }

    /// Queue the path of a Flux Kustomization whose source is served from this repo.
    fn follow(&mut self, ks: &FluxKustomization, followed: &mut Vec<Visit>) {
        let Some(src) = &ks.source_ref else { return };
        // Only the bootstrap's GitRepository is this repo; anything else is external.
        if !(src.kind == "GitRepository" && src.name == FLUX_SYSTEM && src.namespace == FLUX_SYSTEM) {
            return;
        }
        let rel = normalize(Path::new(ks.path.trim_start_matches("./")));
        if rel.as_os_str().is_empty() && ks.key.name == FLUX_SYSTEM {
            return;
        }
        if !self.root.join(&rel).exists() {
            let origin = Origin { file: ks.doc.file.clone(), line: ks.doc.line_of("path:") };
            self.issue(LoadIssue::MissingPath { key: ks.key.clone(), origin, path: ks.path.clone() });
            return;
        }
        followed.push(Visit {
            path: rel,
            applied_by: Some(ks.key.clone()),
            forced_ns: ks.target_namespace.clone(),
            default_ns: ks.key.namespace.clone(),
        });
    }
}

fn is_remote(entry: &str) -> bool {
    entry.contains("://") || entry.starts_with("github.com/") || entry.starts_with("git@")
}

/// Lexically normalise a relative path (`a/./b/../c` → `a/c`).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.last(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

fn cluster_choices(root: &Path) -> String {
    let mut dirs: Vec<String> = std::fs::read_dir(root.join("clusters"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| format!("clusters/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    if dirs.is_empty() { "(no clusters/ directory; use .)".to_string() } else { dirs.join(", ") }
}

fn default_cluster_dir(root: &Path) -> Result<PathBuf, RepoError> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("clusters"))
        .map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| PathBuf::from("clusters").join(e.file_name())).collect())
        .unwrap_or_default();
    dirs.sort();
    match dirs.as_slice() {
        [only] => Ok(only.clone()),
        [] => Ok(PathBuf::new()),
        _ => Err(RepoError::AmbiguousClusterDir {
            root: root.to_path_buf(),
            choices: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// The `name` in `<root>/<path>/Chart.yaml`, for a chart given as a path in a git source.
fn chart_yaml_name(root: &Path, path: &str) -> Option<String> {
    let rel = Path::new(path.trim_start_matches("./"));
    if rel.is_absolute() || rel.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return None;
    }
    let text = std::fs::read_to_string(root.join(rel).join("Chart.yaml")).ok()?;
    let v: Value = serde_norway::from_str(&text).ok()?;
    v.get("name").and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn follows_paths_and_namespaces_like_flux() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(
            r,
            "clusters/c1/infra.yaml",
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: infra\n  namespace: flux-system\nspec:\n  path: ./infra\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
        );
        write(r, "infra/kustomization.yaml", "namespace: tools\nresources:\n  - release.yaml\n  - missing.yaml\n");
        write(
            r,
            "infra/release.yaml",
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: tool\nspec:\n  dependsOn:\n    - name: other\n  chart:\n    spec:\n      chart: tool\n      sourceRef:\n        kind: HelmRepository\n        name: tools\n",
        );
        let repo = Repo::load(r, None).unwrap();
        assert_eq!(repo.cluster_dir, PathBuf::from("clusters/c1"));
        assert_eq!(repo.flux_kustomizations().len(), 1);
        let hr = &repo.helm_releases()[0];
        assert_eq!(hr.key.short(), "tools/tool");
        assert_eq!(hr.depends_on[0].short(), "tools/other");
        assert_eq!(hr.applied_by.as_ref().unwrap().short(), "flux-system/infra");
        assert!(matches!(&repo.issues()[0], LoadIssue::MissingResource { entry, origin } if entry == "missing.yaml" && origin.line == 4));
    }

    #[test]
    fn symlink_loops_do_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "clusters/c/a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n");
        std::os::unix::fs::symlink("..", r.join("clusters/c/up")).unwrap();
        let repo = Repo::load(r, Some(Path::new("clusters/c"))).unwrap();
        assert_eq!(repo.objects().len(), 1);
        assert!(matches!(&repo.issues()[0], LoadIssue::Unreadable { origin, .. } if origin.file.ends_with("up")));
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize(Path::new("./a/./b/../c")), PathBuf::from("a/c"));
    }
}
