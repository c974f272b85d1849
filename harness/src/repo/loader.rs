//! The walk: from the cluster directory through kustomize files, plain directories and every Flux
//! Kustomization whose source is this repository.
//!
//! Bounded on any input: every path is confined to the root (as kustomize-controller's secure
//! filesystem does), a kustomization directory on the current `resources` chain is a cycle
//! finding instead of a recursion, each (directory, applier, namespace) is expanded once, nesting
//! is capped and oversized files are not read.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;

use super::flux_operator::FluxInstance;
use super::issues::LoadIssue;
use super::model::{FluxKustomization, KustomizeFile, ObjectRef, Origin, SourceDecl};
use super::paths::{self, Resolved};
use super::{Repo, Vars, rset, sources};
use crate::yaml_docs::{self, YamlDoc, YamlError};

/// The names kustomize recognises for a kustomization file.
pub const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Files bigger than this are not read (a manifest this size is a mistake; memory stays bounded).
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Deepest chain of kustomize `resources` followed (kustomize has no limit; real repos stay
/// under 20).
const MAX_DEPTH: usize = 64;

/// ConfigMap/Secret data limit of the API server.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Work item: a directory (or file) to read, with what applies it and the namespace context.
#[derive(Debug, Clone)]
pub(super) struct Visit {
    pub path: PathBuf,
    pub applied_by: Option<ObjectRef>,
    /// Namespace forced by an enclosing kustomize `namespace:` or Flux `targetNamespace`.
    pub forced_ns: Option<String>,
    /// Namespace of the applying Flux Kustomization (default for namespace-less objects).
    pub default_ns: Option<String>,
    /// The applying Kustomization's `postBuild` variables.
    pub vars: Option<Rc<Vars>>,
    /// Extra ordering for the Flux objects met (a generating ResourceSet's `dependsOn`).
    pub after: Vec<ObjectRef>,
    /// The applying Flux Kustomization's `spec.patches`, applied to what it builds.
    pub patches: Option<Rc<Vec<serde_json::Value>>>,
}

/// A ResourceSet met on the way, expanded once the tree around it is loaded (its input
/// providers may come later in the walk).
#[derive(Debug, Clone)]
pub(super) struct PendingRset {
    pub doc: YamlDoc,
    pub key: ObjectRef,
    pub applied_by: Option<ObjectRef>,
}

pub(super) struct Loader {
    pub repo: Repo,
    /// Kustomizations found and not yet followed.
    pub pending: VecDeque<ObjectRef>,
    /// ResourceSets found and not yet expanded.
    pub rsets: Vec<PendingRset>,
    followed: BTreeSet<ObjectRef>,
    seen_files: BTreeSet<(PathBuf, Option<ObjectRef>)>,
    seen_units: BTreeSet<(PathBuf, Option<ObjectRef>, Option<String>)>,
    /// Kustomization directories on the current `resources` chain.
    stack: Vec<PathBuf>,
    remotes: Vec<String>,
    /// File texts the repository scan already read.
    texts: HashMap<PathBuf, String>,
}

/// ResourceSet expansion rounds at most (a ResourceSet may generate ResourceSets).
const MAX_RSET_ROUNDS: usize = 8;

/// Load everything a bootstrap of `repo.cluster_dir` applies; `instances` are the FluxInstances
/// the repository declares (one may be the bootstrap).
pub(super) fn load(repo: Repo, instances: &[FluxInstance], texts: HashMap<PathBuf, String>) -> Repo {
    let remotes = sources::git_remote_urls(&repo.root);
    let mut l = Loader {
        repo,
        pending: VecDeque::new(),
        rsets: Vec::new(),
        followed: BTreeSet::new(),
        seen_files: BTreeSet::new(),
        seen_units: BTreeSet::new(),
        stack: Vec::new(),
        remotes,
        texts,
    };
    let provisional = l.repo.root_key.clone();
    let first = Visit {
        path: l.repo.cluster_dir.clone(),
        applied_by: Some(provisional.clone()),
        forced_ns: None,
        default_ns: Some(super::FLUX_SYSTEM.to_string()),
        vars: None,
        after: Vec::new(),
        patches: None,
    };
    l.visit_unit(&first);
    l.adopt_sync(&provisional, instances);
    let mut rounds = 0;
    loop {
        while let Some(key) = l.pending.pop_front() {
            if !l.followed.insert(key.clone()) {
                continue;
            }
            if let Some(ks) = l.repo.flux_kustomizations.iter().find(|k| k.key == key).cloned() {
                l.follow(&ks);
            }
        }
        if l.rsets.is_empty() || rounds == MAX_RSET_ROUNDS {
            break;
        }
        rounds += 1;
        for r in std::mem::take(&mut l.rsets) {
            l.expand_rset(&r);
        }
    }
    l.repo
}

impl Loader {
    /// The cluster directory's sync: the Kustomization whose path is the cluster directory, or
    /// the sync of a FluxInstance that applies it. Its key is the root, its source is this repo
    /// (whatever their names and kinds).
    fn adopt_sync(&mut self, provisional: &ObjectRef, instances: &[FluxInstance]) {
        let cluster_dir = self.repo.cluster_dir.clone();
        let sync = self
            .repo
            .flux_kustomizations
            .iter()
            .find(|k| {
                k.applied_by.as_ref() == Some(provisional)
                    && k.source_ref.as_ref().is_some_and(|s| matches!(s.kind.as_str(), "GitRepository" | "OCIRepository" | "Bucket"))
                    && paths::normalize(Path::new(&k.path)) == cluster_dir
            })
            .map(|k| (k.key.clone(), k.source_ref.as_ref().map(|s| s.key())));
        // Every FluxInstance whose sync path is in this repo syncs from it.
        for i in instances {
            let Some(s) = &i.sync else { continue };
            let dir = paths::normalize(Path::new(&s.path));
            if !matches!(paths::resolve(&self.repo.root, Path::new(""), &dir.to_string_lossy()), Resolved::Inside(d) if self.repo.root.join(&d).is_dir())
            {
                continue;
            }
            let key = ObjectRef::of_kind(&s.kind, i.key.namespace.as_deref(), &s.name);
            match self.repo.sources.iter_mut().find(|d| d.key == key) {
                Some(decl) => decl.local_root = Some(PathBuf::new()),
                None => self.repo.sources.push(SourceDecl { key, url: s.url.clone(), local_root: Some(PathBuf::new()), doc: None }),
            }
        }
        let instance = instances.iter().find_map(|i| i.sync.clone().filter(|_| i.syncs(&cluster_dir)).map(|s| (i, s)));
        let adopted = sync.is_some() || instance.is_some();
        let (root_key, source_key) = match (sync, instance) {
            (Some(k), _) => k,
            (None, Some((i, s))) => {
                let doc = i.sync_kustomization(&s);
                let key = ObjectRef::of_kind("Kustomization", i.key.namespace.as_deref(), &s.name);
                let src = ObjectRef::of_kind(&s.kind, i.key.namespace.as_deref(), &s.name);
                if self.repo.flux_kustomizations.iter().all(|k| k.key != key) {
                    let visit = Visit {
                        path: cluster_dir.clone(),
                        applied_by: None,
                        forced_ns: None,
                        default_ns: i.key.namespace.clone(),
                        vars: None,
                        after: Vec::new(),
                        patches: None,
                    };
                    self.add_object(doc, &visit, false);
                }
                self.repo.bootstrapped_by = Some(i.declared_as.clone());
                (key, Some(src))
            }
            (None, None) => (provisional.clone(), None),
        };
        // Without a sync manifest, the bootstrap's GitRepository flux-system/flux-system.
        let source_key = source_key.unwrap_or_else(|| ObjectRef::of_kind("GitRepository", Some(super::FLUX_SYSTEM), super::FLUX_SYSTEM));
        match self.repo.sources.iter_mut().find(|s| s.key == source_key) {
            Some(decl) => decl.local_root = Some(PathBuf::new()),
            None => self.repo.sources.push(SourceDecl { key: source_key, url: String::new(), local_root: Some(PathBuf::new()), doc: None }),
        }
        if &root_key != provisional {
            let rename = |by: &mut Option<ObjectRef>| {
                if by.as_ref() == Some(provisional) {
                    *by = Some(root_key.clone());
                }
            };
            self.repo.objects.iter_mut().for_each(|o| rename(&mut o.applied_by));
            self.repo.flux_kustomizations.iter_mut().for_each(|o| rename(&mut o.applied_by));
            self.repo.helm_releases.iter_mut().for_each(|o| rename(&mut o.applied_by));
            self.repo.canaries.iter_mut().for_each(|o| rename(&mut o.applied_by));
            self.repo.deployments.iter_mut().for_each(|o| rename(&mut o.applied_by));
            self.rsets.iter_mut().for_each(|r| rename(&mut r.applied_by));
            self.repo.root_key = root_key.clone();
        }
        // The root was applied by the bootstrap, not by itself.
        if adopted && let Some(k) = self.repo.flux_kustomizations.iter_mut().find(|k| k.key == root_key) {
            k.applied_by = None;
        }
        // The sync re-applies the cluster directory: already loaded.
        self.followed.insert(root_key);
    }

    /// Expand a ResourceSet and load what it generates as if its Kustomization applied it.
    fn expand_rset(&mut self, r: &PendingRset) {
        let ns = r.key.namespace.clone().unwrap_or_else(|| super::FLUX_SYSTEM.to_string());
        let provider_objs: Vec<(String, Option<String>, YamlDoc)> = self
            .repo
            .objects
            .iter()
            .filter(|o| o.key.kind == "ResourceSetInputProvider" && o.group() == rset::GROUP)
            .map(|o| (o.key.name.clone(), o.key.namespace.clone(), o.doc.clone()))
            .collect();
        let providers: Vec<rset::Provider> =
            provider_objs.iter().map(|(n, ns, d)| rset::Provider { name: n, namespace: ns.as_deref(), doc: d }).collect();
        let e = rset::expand(&r.doc, &r.key.name, &ns, &providers);
        for (at, p) in e.problems {
            let origin = Origin::at(&r.doc, &at);
            let issue = match p {
                rset::Problem::Invalid(message) => LoadIssue::ResourceSetInvalid { key: r.key.clone(), origin, message },
                rset::Problem::Partial(message) => LoadIssue::ResourceSetPartial { key: r.key.clone(), origin, message },
            };
            self.repo.issue(issue);
        }
        // Its `dependsOn` entries that must be Ready and are Flux objects order what it generates.
        let after: Vec<ObjectRef> = r
            .doc
            .value
            .pointer("/spec/dependsOn")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter(|d| d.get("ready").and_then(serde_json::Value::as_bool).unwrap_or(false))
            .filter_map(|d| {
                let kind = d.get("kind").and_then(serde_json::Value::as_str)?;
                let name = d.get("name").and_then(serde_json::Value::as_str)?;
                let dns = d.get("namespace").and_then(serde_json::Value::as_str).unwrap_or(&ns);
                matches!(kind, "Kustomization" | "HelmRelease").then(|| ObjectRef::of_kind(kind, Some(dns), name))
            })
            .collect();
        let visit = Visit {
            path: r.doc.file.clone(),
            applied_by: r.applied_by.clone(),
            forced_ns: None,
            default_ns: Some(ns),
            vars: None,
            after,
            patches: None,
        };
        for d in e.docs {
            self.add_object(d, &visit, false);
        }
    }

    /// Whether a GitRepository URL is this repository's remote.
    pub(super) fn is_own_url(&self, url: &str) -> bool {
        !url.is_empty() && self.remotes.iter().any(|r| *r == sources::normalize_url(url))
    }

    /// Load the path of a Flux Kustomization whose source is this repo.
    fn follow(&mut self, ks: &FluxKustomization) {
        let Some(src) = &ks.source_ref else { return };
        self.resolve_artifact(&src.key());
        let Some(base) = self.repo.source(&src.key()).and_then(|d| d.local_root.clone()) else { return };
        let origin = Origin::at(&ks.doc, "spec.path");
        if ks.path.contains("${") {
            self.repo.issue(LoadIssue::UnresolvedPath { key: ks.key.clone(), origin, path: ks.path.clone() });
            return;
        }
        let rel = match paths::resolve(&self.repo.root, &base, &ks.path) {
            Resolved::Inside(rel) => rel,
            Resolved::Outside(target) => {
                self.repo.issue(LoadIssue::OutsideRepo { origin, entry: ks.path.clone(), target });
                return;
            }
        };
        if !self.repo.root.join(&rel).exists() {
            self.repo.issue(LoadIssue::MissingPath { key: ks.key.clone(), origin, path: ks.path.clone() });
            return;
        }
        let vars = match self.repo.postbuild_vars(ks) {
            Some(Ok(v)) => Some(Rc::new(v)),
            Some(Err(e)) => {
                let origin = Origin::at(&ks.doc, "spec.postBuild");
                self.repo.issue(LoadIssue::InvalidYaml { origin, message: format!("postBuild: {e}") });
                None
            }
            None => None,
        };
        let visit = Visit {
            path: rel.clone(),
            applied_by: Some(ks.key.clone()),
            forced_ns: ks.target_namespace.clone(),
            default_ns: ks.key.namespace.clone(),
            vars,
            after: Vec::new(),
            patches: (!ks.patches.is_empty()).then(|| Rc::new(ks.patches.clone())),
        };
        self.visit_unit(&visit);
        for (i, c) in ks.components.iter().enumerate() {
            let origin = Origin::at(&ks.doc, &format!("spec.components.{i}"));
            match paths::resolve(&self.repo.root, &rel, c) {
                Resolved::Outside(target) => self.repo.issue(LoadIssue::OutsideRepo { origin, entry: c.clone(), target }),
                Resolved::Inside(dir) if !self.repo.root.join(&dir).exists() => {
                    if !ks.ignore_missing_components {
                        self.repo.issue(LoadIssue::MissingResource { origin, entry: c.clone(), reason: "component does not exist" });
                    }
                }
                Resolved::Inside(dir) => self.kustomize_entry(&dir, c, origin, &Visit { path: dir.clone(), ..visit.clone() }),
            }
        }
    }

    /// A Flux Kustomization's path: a file, a kustomize directory or a plain directory.
    fn visit_unit(&mut self, visit: &Visit) {
        let abs = self.repo.root.join(&visit.path);
        if abs.is_file() {
            self.read_manifest_file(&visit.path, visit);
        } else if let Some(kfile) = kustomization_file(&abs).map(|f| visit.path.join(f)) {
            self.read_kustomization(&visit.path, &kfile, visit);
        } else {
            self.read_plain_dir(&visit.path, visit);
        }
    }

    /// A directory without kustomization.yaml: like kustomize-controller's generated one, every
    /// YAML file below it, and sub-directories with their own kustomization.yaml as a unit.
    fn read_plain_dir(&mut self, dir: &Path, visit: &Visit) {
        let entries = match std::fs::read_dir(self.repo.root.join(dir)) {
            Ok(e) => e,
            Err(e) => {
                self.repo.issue(LoadIssue::Unreadable { origin: Origin::new(dir.to_path_buf(), 1), message: e.to_string() });
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| dir.join(e.file_name())).collect();
        paths.sort();
        for p in paths {
            let abs = self.repo.root.join(&p);
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if abs.is_symlink() && abs.is_dir() {
                // kustomize-controller's walk does not descend into symlinked directories (it
                // could loop); what is behind it is not applied.
                self.repo.issue(LoadIssue::Unreadable {
                    origin: Origin::new(p.clone(), 1),
                    message: "symlinked directory not followed (Flux does not follow it either, so nothing behind it is applied); replace it with a kustomize resource entry".to_string(),
                });
            } else if abs.is_dir() {
                let sub = Visit { path: p.clone(), ..visit.clone() };
                match kustomization_file(&abs) {
                    Some(f) => self.read_kustomization(&p, &p.join(f), &sub),
                    None => self.read_plain_dir(&p, &sub),
                }
            } else if yaml_docs::is_yaml(&p) {
                self.read_manifest_file(&p, visit);
            } else if abs.is_symlink() && !abs.exists() {
                self.repo.issue(LoadIssue::Unreadable { origin: Origin::new(p.clone(), 1), message: "dangling symlink".to_string() });
            }
        }
    }

    /// One `resources`/`components` entry that is a directory: a kustomization to expand, or a
    /// cycle, or something kustomize cannot build.
    fn kustomize_entry(&mut self, dir: &Path, entry: &str, origin: Origin, visit: &Visit) {
        let abs = self.repo.root.join(dir);
        if abs.is_file() {
            self.read_manifest_file(dir, visit);
            return;
        }
        if let Some(pos) = self.stack.iter().position(|d| d == dir) {
            let mut cycle = self.stack[pos..].to_vec();
            cycle.push(dir.to_path_buf());
            self.repo.issue(LoadIssue::ResourceCycle { origin, cycle });
            return;
        }
        if self.stack.len() >= MAX_DEPTH {
            self.repo.issue(LoadIssue::Unreadable {
                origin,
                message: format!("kustomize resources nested deeper than {MAX_DEPTH} levels; not followed further (flatten the overlays)"),
            });
            return;
        }
        match kustomization_file(&abs) {
            Some(f) => self.read_kustomization(dir, &dir.join(f), visit),
            None => self.repo.issue(LoadIssue::MissingResource {
                origin,
                entry: entry.to_string(),
                reason: "is a directory without a kustomization.yaml, which kustomize cannot build",
            }),
        }
    }

    fn read_kustomization(&mut self, dir: &Path, kfile: &Path, visit: &Visit) {
        let unit = (dir.to_path_buf(), visit.applied_by.clone(), visit.forced_ns.clone());
        if !self.seen_units.insert(unit) {
            return;
        }
        let Some(doc) = self.read_yaml(kfile).and_then(|d| d.into_iter().next()) else { return };
        let v = doc.value.clone();
        let namespace = v.get("namespace").and_then(Value::as_str).map(str::to_string);
        // An outer namespace override wins over an inner one (kustomize applies it last).
        let inner = Visit { forced_ns: visit.forced_ns.clone().or(namespace.clone()), ..visit.clone() };
        self.repo.kustomize_files.push(KustomizeFile { dir: dir.to_path_buf(), namespace, doc: doc.clone() });
        self.stack.push(dir.to_path_buf());
        for key in ["resources", "bases", "components"] {
            for (i, entry) in strings(&v, key) {
                let origin = Origin::at(&doc, &format!("{key}.{i}"));
                if is_remote(&entry) {
                    self.repo.issue(LoadIssue::RemoteResource { origin, entry });
                    continue;
                }
                match paths::resolve(&self.repo.root, dir, &entry) {
                    Resolved::Outside(target) => self.repo.issue(LoadIssue::OutsideRepo { origin, entry, target }),
                    Resolved::Inside(target) if !self.repo.root.join(&target).exists() => {
                        let reason = if key == "components" { "component does not exist" } else { "does not exist" };
                        self.repo.issue(LoadIssue::MissingResource { origin, entry, reason });
                    }
                    Resolved::Inside(target) => {
                        let sub = Visit { path: target.clone(), ..inner.clone() };
                        self.kustomize_entry(&target, &entry, origin, &sub);
                    }
                }
            }
        }
        self.stack.pop();
        self.patch_files(dir, &doc);
        self.generator_files(dir, &doc);
    }

    /// patches[].path, patchesStrategicMerge (file entries), patchesJson6902[].path.
    fn patch_files(&mut self, dir: &Path, doc: &YamlDoc) {
        let v = &doc.value;
        let mut files: Vec<(String, String)> = Vec::new();
        for key in ["patches", "patchesJson6902"] {
            for (i, p) in v.get(key).and_then(Value::as_array).into_iter().flatten().enumerate() {
                if let Some(path) = p.get("path").and_then(Value::as_str) {
                    files.push((format!("{key}.{i}.path"), path.to_string()));
                }
            }
        }
        files.extend(
            strings(v, "patchesStrategicMerge")
                .into_iter()
                .filter(|(_, s)| !s.contains('\n'))
                .map(|(i, s)| (format!("patchesStrategicMerge.{i}"), s)),
        );
        for (at, entry) in files {
            let origin = Origin::at(doc, &at);
            match paths::resolve(&self.repo.root, dir, &entry) {
                Resolved::Outside(target) => self.repo.issue(LoadIssue::OutsideRepo { origin, entry, target }),
                Resolved::Inside(p) if !self.repo.root.join(&p).exists() => self.repo.issue(LoadIssue::MissingPatch { origin, entry }),
                Resolved::Inside(_) => {}
            }
        }
    }

    /// configMapGenerator/secretGenerator inputs: present, inside the repo, and within the 1 MiB an
    /// object may hold.
    fn generator_files(&mut self, dir: &Path, doc: &YamlDoc) {
        for gen_key in ["configMapGenerator", "secretGenerator"] {
            let Some(gens) = doc.value.get(gen_key).and_then(Value::as_array) else { continue };
            for (gi, g) in gens.iter().enumerate() {
                let gname = g.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                let mut files: Vec<(String, String)> = Vec::new();
                for k in ["files", "envs"] {
                    for (i, s) in strings(g, k) {
                        let path = s.split_once('=').map(|(_, p)| p.to_string()).unwrap_or(s);
                        files.push((format!("{gen_key}.{gi}.{k}.{i}"), path));
                    }
                }
                if let Some(env) = g.get("env").and_then(Value::as_str) {
                    files.push((format!("{gen_key}.{gi}.env"), env.to_string()));
                }
                let mut total = 0u64;
                for (at, f) in files {
                    let origin = Origin::at(doc, &at);
                    match paths::resolve(&self.repo.root, dir, &f) {
                        Resolved::Outside(target) => self.repo.issue(LoadIssue::OutsideRepo { origin, entry: f, target }),
                        Resolved::Inside(p) => match std::fs::metadata(self.repo.root.join(&p)) {
                            Ok(m) => total += m.len(),
                            Err(_) => self.repo.issue(LoadIssue::MissingGeneratorFile { origin, generator: gname.clone(), file: f }),
                        },
                    }
                }
                if total > MAX_CONFIG_BYTES {
                    let origin = Origin::at(doc, &format!("{gen_key}.{gi}"));
                    self.repo.issue(LoadIssue::GeneratorTooLarge { origin, generator: gname.clone(), bytes: total });
                }
            }
        }
    }

    /// Read and parse a YAML file inside the root; problems become issues.
    fn read_yaml(&mut self, file: &Path) -> Option<Vec<YamlDoc>> {
        if let Some(text) = self.texts.remove(file) {
            self.repo.files_read.insert(file.to_path_buf());
            return match yaml_docs::parse_str(file, &text) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.yaml_error(e);
                    None
                }
            };
        }
        let origin = Origin::new(file.to_path_buf(), 1);
        if let Resolved::Outside(target) = paths::confine(&self.repo.root, file.to_path_buf()) {
            self.repo.issue(LoadIssue::OutsideRepo { origin, entry: file.display().to_string(), target });
            return None;
        }
        if let Ok(m) = std::fs::metadata(self.repo.root.join(file))
            && m.len() > MAX_FILE_BYTES
        {
            let message = format!("{} bytes, over the {} MiB the loader reads; split it", m.len(), MAX_FILE_BYTES >> 20);
            self.repo.issue(LoadIssue::Unreadable { origin, message });
            return None;
        }
        self.repo.files_read.insert(file.to_path_buf());
        match yaml_docs::load_file(&self.repo.root, file) {
            Ok(d) => Some(d),
            Err(e) => {
                self.yaml_error(e);
                None
            }
        }
    }

    fn yaml_error(&mut self, e: YamlError) {
        let origin = Origin::new(e.file().to_path_buf(), e.line());
        match e {
            YamlError::Read { source, .. } => self.repo.issue(LoadIssue::Unreadable { origin, message: source.to_string() }),
            YamlError::Parse { message, .. } => self.repo.issue(LoadIssue::InvalidYaml { origin, message }),
        }
    }

    fn read_manifest_file(&mut self, file: &Path, visit: &Visit) {
        // The same file reached twice under the same applier is one set of objects.
        if !self.seen_files.insert((file.to_path_buf(), visit.applied_by.clone())) {
            return;
        }
        let Some(docs) = self.read_yaml(file) else { return };
        for doc in docs {
            let (doc, unresolved) = match &visit.vars {
                Some(vars) => match substitute_doc(doc, vars) {
                    Ok(d) => d,
                    Err(issue) => {
                        self.repo.issue(*issue);
                        continue;
                    }
                },
                None => (doc, false),
            };
            self.add_object(doc, visit, unresolved);
        }
    }
}

/// Apply `postBuild` variables to one document as kustomize-controller does to each built
/// resource (unless it opts out); the line structure is kept, so positions stay exact.
fn substitute_doc(doc: YamlDoc, vars: &Vars) -> Result<(YamlDoc, bool), Box<LoadIssue>> {
    if crate::envsubst::disabled(&doc.value) || !doc.text.contains("${") || (vars.vars.is_empty() && vars.missing.is_empty()) {
        return Ok((doc, false));
    }
    let origin = Origin::at(&doc, "");
    let text = vars
        .apply(&doc.text)
        .map_err(|e| LoadIssue::InvalidYaml { origin: origin.clone(), message: format!("postBuild substitution: {e}") })?;
    let unresolved = text.contains("${");
    let mut parsed = yaml_docs::parse_str(&doc.file, &text).map_err(|e| {
        Box::new(LoadIssue::InvalidYaml {
            origin: origin.clone(),
            message: format!("after postBuild substitution the document no longer parses: {e}; quote the substituted value"),
        })
    })?;
    match parsed.pop() {
        Some(mut d) if parsed.is_empty() => {
            d.line = doc.line;
            d.index = doc.index;
            Ok((d, unresolved))
        }
        _ => Ok((doc, unresolved)),
    }
}

/// Whether a kustomize `resources` entry is fetched from the network (a URL, a git remote, a
/// `host/org/repo//path?ref=` reference).
pub fn is_remote(entry: &str) -> bool {
    let e = entry.trim();
    e.contains("://")
        || e.starts_with("git@")
        || e.contains("?ref=")
        || e.contains(".git//")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"].iter().any(|h| e.starts_with(h))
}

/// The kustomization file of a directory, if any.
pub fn kustomization_file(abs_dir: &Path) -> Option<&'static str> {
    KUSTOMIZATION_FILES.into_iter().find(|f| abs_dir.join(f).is_file())
}

/// `(index, string)` of the string items of a list field.
fn strings(v: &Value, key: &str) -> Vec<(usize, String)> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().enumerate().filter_map(|(i, s)| s.as_str().map(|s| (i, s.to_string()))).collect())
        .unwrap_or_default()
}
