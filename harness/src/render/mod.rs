//! Rendering Flux Kustomizations with the real `kubectl kustomize`, the way kustomize-controller
//! builds them: `--load-restrictor LoadRestrictionsNone`, a generated kustomization.yaml for plain
//! directories, and the Flux Kustomization's own `targetNamespace`/`patches`/`images`/
//! `namePrefix`/`nameSuffix`/`commonMetadata` applied as an overlay; and HelmReleases whose chart
//! is reachable offline with `helm template`, as helm-controller renders them ([`helm`]).
//!
//! Nothing is copied and the user's files are never written: each build runs from a small
//! [`Workspace`] (a temporary directory holding only the generated kustomization.yaml, which
//! reaches the repo by relative paths: kustomize refuses absolute directory paths); symlinks in
//! the repo stay as they are. A worker reuses its workspace for every build it runs, and
//! [`render_all`] runs one worker per core. `postBuild` variables are substituted into the output
//! as kustomize-controller does. Remote kustomize resources are found before the build: the result
//! names them, and with `offline` the build is refused. Each build has a timeout, and an
//! interrupt ([`interrupt`], from a SIGINT/SIGTERM handler) stops the running builds; every
//! workspace is removed either way.

mod helm;
mod pool;
mod process;
mod remote;

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

pub use helm::render_helm_release;
pub use pool::{Target, render_all};

use crate::repo::{FluxKustomization, ObjectRef, Repo, Vars};
use crate::tools::{self, Tool, ToolError};
use crate::yaml_docs;

/// Default time one `kubectl kustomize` may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ask running and future builds to stop (async-signal-safe: one atomic store).
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether [`interrupt`] was called.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The manifests one Flux Kustomization builds to.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The Flux Kustomization.
    pub key: ObjectRef,
    /// The objects, in kustomize's output order.
    pub objects: Vec<Value>,
    /// kustomize's YAML output (after postBuild substitution).
    pub yaml: String,
    /// `substituteFrom` objects the repo does not hold: their variables were left as written.
    /// (For a HelmRelease: `valuesFrom` objects the repo does not hold, left out of the values.)
    pub unresolved_vars: Vec<String>,
    /// Remote kustomize resources the build fetched (`url (file:line)`).
    pub remote: Vec<String>,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// kubectl is missing.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// kustomize failed (its message names the broken file).
    #[error("{what}: kubectl kustomize {dir} failed: {stderr}")]
    Kustomize {
        /// The Kustomization or directory.
        what: String,
        /// The directory built.
        dir: PathBuf,
        /// kustomize's message.
        stderr: String,
    },
    /// The Kustomization's source is not this repo.
    #[error("{0}: its source is external (not served from this repo); it can only be built once Flux fetches it")]
    External(ObjectRef),
    /// Copying or writing the build directory failed.
    #[error("preparing the build of {what} in {path}: {source}")]
    Io {
        /// What was being built.
        what: String,
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// kustomize's output did not parse (should not happen).
    #[error("{what}: kustomize output is not valid YAML: {message}")]
    Output {
        /// What was built.
        what: String,
        /// Parser message.
        message: String,
    },
    /// The build took longer than its timeout.
    #[error("{what}: kubectl kustomize {dir} did not finish within {secs} s; stopped (raise --timeout if the repo is that large)")]
    Timeout {
        /// What was built.
        what: String,
        /// The directory built.
        dir: PathBuf,
        /// The timeout.
        secs: u64,
    },
    /// Interrupted (SIGINT/SIGTERM).
    #[error("{0}: interrupted")]
    Interrupted(String),
    /// postBuild substitution failed, as it would in kustomize-controller.
    #[error("{what}: postBuild substitution: {message}")]
    Substitute {
        /// What was built.
        what: String,
        /// Why.
        message: String,
    },
    /// `--offline` and the build would fetch kustomize resources from the network.
    #[error("{what}: refused with --offline: kustomize would fetch {} from the network; vendor it into the repo or render without --offline", .entries.join(", "))]
    Remote {
        /// What was built.
        what: String,
        /// The remote entries, each `url (file:line)`.
        entries: Vec<String>,
    },
    /// `helm template` failed (its message names the template or value at fault).
    #[error("{what}: helm template of chart {chart} failed: {stderr}")]
    Helm {
        /// The HelmRelease.
        what: String,
        /// The chart directory.
        chart: PathBuf,
        /// helm's message.
        stderr: String,
    },
    /// A HelmRelease whose chart is not reachable offline.
    #[error(
        "{0}: its chart is not reachable offline (not in git, not in a --charts directory); it can only be rendered once Flux fetches it"
    )]
    ChartUnavailable(ObjectRef),
}

/// Options of a build.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Time one `kubectl kustomize` (or `helm template`) may take.
    pub timeout: Duration,
    /// Refuse builds that would fetch kustomize resources from the network.
    pub offline: bool,
    /// Builds run side by side by [`render_all`] (0: one per core).
    pub jobs: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { timeout: DEFAULT_TIMEOUT, offline: false, jobs: 0 }
    }
}

/// A worker's build directory, reused for every build it runs and removed when dropped.
#[derive(Debug)]
pub struct Workspace {
    /// Kept for its drop, which removes the directory.
    _tmp: tempfile::TempDir,
    /// The directory, canonical (builds reach the repo relative to it).
    dir: PathBuf,
}

impl Workspace {
    /// A fresh temporary build directory.
    pub fn new() -> Result<Workspace, RenderError> {
        let tmp = tempfile::Builder::new().prefix("gitops-harness-render-").tempdir().map_err(io("a build", &std::env::temp_dir()))?;
        let dir = std::fs::canonicalize(tmp.path()).map_err(io("a build", tmp.path()))?;
        Ok(Workspace { _tmp: tmp, dir })
    }

    /// The build directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Remove what the last build left, keeping the directory.
    fn clear(&self) -> Result<(), RenderError> {
        let entries = std::fs::read_dir(&self.dir).map_err(io("a build", &self.dir))?;
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            let r = if p.is_dir() && !p.is_symlink() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            r.map_err(io("a build", &p))?;
        }
        Ok(())
    }
}

/// Run `kubectl kustomize --load-restrictor LoadRestrictionsNone DIR` and return its YAML.
pub fn kustomize_build(dir: &Path, what: &str) -> Result<String, RenderError> {
    kustomize_build_timed(dir, what, DEFAULT_TIMEOUT)
}

/// Like [`kustomize_build`], killed after `timeout` or on [`interrupt`].
pub fn kustomize_build_timed(dir: &Path, what: &str, timeout: Duration) -> Result<String, RenderError> {
    kustomize_in(dir, what, dir, None, timeout)
}

/// `kubectl kustomize` of `build` (errors name `user_dir`, with `temp` stripped from messages).
fn kustomize_in(build: &Path, what: &str, user_dir: &Path, temp: Option<&Path>, timeout: Duration) -> Result<String, RenderError> {
    let kubectl = tools::find(Tool::Kubectl)?;
    let args: Vec<OsString> = vec!["kustomize".into(), "--load-restrictor".into(), "LoadRestrictionsNone".into(), build.into()];
    let out = process::run(&kubectl, &args, &process::Job { what, dir: user_dir, temp, helm: false }, timeout)?;
    String::from_utf8(out).map_err(|e| RenderError::Output { what: what.to_string(), message: e.to_string() })
}

fn parse_output(yaml: &str, what: &str) -> Result<Vec<Value>, RenderError> {
    yaml_docs::parse_str(Path::new("kustomize-output.yaml"), yaml)
        .map(|docs| docs.into_iter().map(|d| d.value).collect())
        .map_err(|e| RenderError::Output { what: what.to_string(), message: e.to_string() })
}

/// Build a kustomize directory as it is (it must contain a kustomization.yaml).
pub fn render_dir(dir: &Path) -> Result<Vec<Value>, RenderError> {
    let what = dir.display().to_string();
    let yaml = kustomize_build(dir, &what)?;
    parse_output(&yaml, &what)
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> RenderError {
    let (what, path) = (what.to_string(), path.to_path_buf());
    move |source| RenderError::Io { what, path, source }
}

/// `to` relative to the directory `from` (both absolute): how the generated kustomization
/// reaches the repo.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// What kustomize-controller generates for a directory without kustomization.yaml: every YAML
/// file below it (each must decode as Kubernetes objects, or the build fails as in Flux), and
/// sub-directories that have their own kustomization.yaml as a whole. Symlinked directories are
/// not descended into, as Flux's walk does not.
fn generated_resources(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let shown = p.strip_prefix(root).unwrap_or(&p).display().to_string();
        let meta = std::fs::symlink_metadata(&p).map_err(|e| format!("{shown}: {e}"))?;
        if meta.is_dir() {
            if ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|f| p.join(f).is_file()) {
                out.push(p);
            } else {
                generated_resources(root, &p, out)?;
            }
        } else if yaml_docs::is_yaml(&p) && !p.is_dir() {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{shown}: {e}"))?;
            let docs = yaml_docs::parse_str(Path::new(&shown), &text)
                .map_err(|e| format!("failed to decode Kubernetes YAML from {shown}: {e}"))?;
            if let Some(d) = docs.iter().find(|d| d.str_at("apiVersion").is_none() || d.str_at("kind").is_none()) {
                return Err(format!(
                    "failed to decode Kubernetes YAML from {shown}: missing Resource metadata (line {}: no apiVersion/kind); kustomize-controller fails the same way: move non-manifest YAML out of the directory or list it in .sourceignore",
                    d.line
                ));
            }
            out.push(p);
        }
    }
    Ok(())
}

/// Build one Flux Kustomization as kustomize-controller would.
pub fn render_kustomization(repo: &Repo, ks: &FluxKustomization) -> Result<Rendered, RenderError> {
    render_kustomization_with(repo, ks, &RenderOptions::default())
}

/// Build one Flux Kustomization as kustomize-controller would, with options (in a workspace of
/// its own).
pub fn render_kustomization_with(repo: &Repo, ks: &FluxKustomization, opts: &RenderOptions) -> Result<Rendered, RenderError> {
    let ws = Workspace::new()?;
    render_kustomization_in(repo, ks, opts, &ws)
}

/// Build one Flux Kustomization in a worker's workspace.
pub fn render_kustomization_in(repo: &Repo, ks: &FluxKustomization, opts: &RenderOptions, ws: &Workspace) -> Result<Rendered, RenderError> {
    let what = ks.key.to_string();
    if interrupted() {
        return Err(RenderError::Interrupted(what));
    }
    let rel = repo.local_path_of(ks).ok_or_else(|| RenderError::External(ks.key.clone()))?;
    let dir = repo.root.join(&rel);
    if !dir.exists() {
        return Err(RenderError::Kustomize { what, dir, stderr: "no such file or directory in the source".to_string() });
    }
    ws.clear()?;
    let build_dir = ws.path().to_path_buf();
    let to = |abs: &Path| relative(&build_dir, abs).to_string_lossy().into_owned();
    let resources: Vec<String> =
        if dir.is_file() || ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|f| dir.join(f).is_file()) {
            vec![to(&dir)]
        } else {
            let mut found = Vec::new();
            generated_resources(&repo.root, &dir, &mut found).map_err(|stderr| RenderError::Kustomize {
                what: what.clone(),
                dir: dir.clone(),
                stderr,
            })?;
            found.iter().map(|p| to(p)).collect()
        };
    let component_dirs: Vec<PathBuf> = ks
        .components
        .iter()
        .map(|c| crate::repo::normalize(&dir.join(c)))
        .filter(|c| c.exists() || !ks.ignore_missing_components)
        .collect();
    let mut built_dirs = vec![if dir.is_file() { dir.parent().map(Path::to_path_buf).unwrap_or_else(|| dir.clone()) } else { dir.clone() }];
    built_dirs.extend(component_dirs.iter().cloned());
    let remote = remote::remote_entries(&repo.root, &built_dirs);
    if opts.offline && !remote.is_empty() {
        return Err(RenderError::Remote { what, entries: remote });
    }
    let components: Vec<String> = component_dirs.iter().map(|c| to(c)).collect();
    let k = kustomization(ks, resources, components);
    let text = serde_norway::to_string(&k).map_err(|e| RenderError::Output { what: what.clone(), message: e.to_string() })?;
    std::fs::write(build_dir.join("kustomization.yaml"), text).map_err(io(&what, &build_dir))?;
    // Errors name the user's directory, not the temporary one.
    let yaml = kustomize_in(&build_dir, &what, &dir, Some(&build_dir), opts.timeout)?;
    let (yaml, objects, unresolved_vars) = match repo.postbuild_vars(ks) {
        Some(Ok(vars)) if !(vars.vars.is_empty() && vars.missing.is_empty()) => {
            let (yaml, objects) = substitute_output(&yaml, &vars, &what)?;
            (yaml, objects, vars.missing)
        }
        Some(Err(e)) => return Err(RenderError::Substitute { what, message: e.to_string() }),
        _ => {
            let objects = parse_output(&yaml, &what)?;
            (yaml, objects, Vec::new())
        }
    };
    Ok(Rendered { key: ks.key.clone(), objects, yaml, unresolved_vars, remote })
}

/// Substitute postBuild variables into each built resource, as kustomize-controller does
/// (unless the resource opts out), reading each resource once: its text is substituted, then
/// parsed; only a resource that mentions the opt-out is parsed first to see whether it opts out.
fn substitute_output(yaml: &str, vars: &Vars, what: &str) -> Result<(String, Vec<Value>), RenderError> {
    let mut out = String::with_capacity(yaml.len());
    let mut objects = Vec::new();
    for (_, text) in yaml_docs::split_documents(yaml) {
        if text.trim().is_empty() {
            continue;
        }
        let opted_out =
            text.contains(crate::envsubst::DISABLE_KEY) && parse_output(&text, what)?.first().is_some_and(crate::envsubst::disabled);
        let text = if opted_out {
            text
        } else {
            vars.apply(&text).map_err(|e| RenderError::Substitute { what: what.to_string(), message: e.to_string() })?
        };
        objects.extend(parse_output(&text, what)?);
        out.push_str("---\n");
        out.push_str(&text);
    }
    Ok((out, objects))
}

/// The generated kustomization: the Flux Kustomization's path and components, and its own
/// transformations (`targetNamespace`, `namePrefix`/`nameSuffix`, `patches`, `images`,
/// `commonMetadata`).
fn kustomization(ks: &FluxKustomization, resources: Vec<String>, components: Vec<String>) -> Value {
    let spec = ks.doc.value.get("spec").cloned().unwrap_or(Value::Null);
    let mut k = serde_json::Map::new();
    k.insert("apiVersion".into(), "kustomize.config.k8s.io/v1beta1".into());
    k.insert("kind".into(), "Kustomization".into());
    if resources.is_empty() {
        // As kustomize-controller does, so an empty directory builds to nothing instead of failing.
        k.insert("namespace".into(), "_placeholder".into());
    }
    k.insert("resources".into(), serde_json::json!(resources));
    if !components.is_empty() {
        k.insert("components".into(), serde_json::json!(components));
    }
    if let Some(ns) = &ks.target_namespace {
        k.insert("namespace".into(), ns.clone().into());
    }
    for key in ["namePrefix", "nameSuffix"] {
        if let Some(v) = spec.get(key) {
            k.insert(key.into(), v.clone());
        }
    }
    if !ks.patches.is_empty() {
        k.insert("patches".into(), Value::Array(ks.patches.clone()));
    }
    if let Some(images) = spec.get("images") {
        k.insert("images".into(), images.clone());
    }
    if let Some(cm) = spec.get("commonMetadata") {
        if let Some(labels) = cm.get("labels") {
            k.insert("labels".into(), serde_json::json!([{"pairs": labels, "includeSelectors": false}]));
        }
        if let Some(ann) = cm.get("annotations") {
            k.insert("commonAnnotations".into(), ann.clone());
        }
    }
    Value::Object(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_then_descend() {
        assert_eq!(relative(Path::new("/tmp/b1"), Path::new("/work/repo/app")), PathBuf::from("../../work/repo/app"));
        assert_eq!(relative(Path::new("/tmp/b1"), Path::new("/tmp/repo")), PathBuf::from("../repo"));
    }
}
