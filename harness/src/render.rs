//! Rendering Flux Kustomizations with the real `kubectl kustomize`, the way kustomize-controller
//! builds them: `--load-restrictor LoadRestrictionsNone`, a generated kustomization.yaml for plain
//! directories, and the Flux Kustomization's own `targetNamespace`/`patches`/`images`/
//! `namePrefix`/`nameSuffix`/`commonMetadata` applied as an overlay.
//!
//! Nothing is copied and the user's files are never written: each build runs from a small
//! temporary directory holding only the generated kustomization.yaml, which reaches the repo by
//! relative paths (kustomize refuses absolute directory paths); symlinks in the repo stay as they
//! are. `postBuild` variables are substituted into the output as kustomize-controller does. Each
//! build has a timeout, and an interrupt ([`interrupt`], from a SIGINT/SIGTERM handler) stops the
//! running build; its temporary directory is removed either way.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

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
    pub unresolved_vars: Vec<String>,
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
}

/// Options of a build.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Time one `kubectl kustomize` may take.
    pub timeout: Duration,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { timeout: DEFAULT_TIMEOUT }
    }
}

/// Run `kubectl kustomize --load-restrictor LoadRestrictionsNone DIR` and return its YAML.
pub fn kustomize_build(dir: &Path, what: &str) -> Result<String, RenderError> {
    kustomize_build_timed(dir, what, DEFAULT_TIMEOUT)
}

/// Like [`kustomize_build`], killed after `timeout` or on [`interrupt`].
pub fn kustomize_build_timed(dir: &Path, what: &str, timeout: Duration) -> Result<String, RenderError> {
    let kubectl = tools::find(Tool::Kubectl)?;
    let fail = |stderr: String| RenderError::Kustomize { what: what.to_string(), dir: dir.to_path_buf(), stderr };
    let handle = duct::cmd!(&kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", dir)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .start()
        .map_err(|e| fail(e.to_string()))?;
    let deadline = Instant::now() + timeout;
    let out = loop {
        match handle.try_wait() {
            Ok(Some(out)) => break out.clone(),
            Ok(None) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        if interrupted() || Instant::now() >= deadline {
            let _ = handle.kill();
            return Err(if interrupted() {
                RenderError::Interrupted(what.to_string())
            } else {
                RenderError::Timeout { what: what.to_string(), dir: dir.to_path_buf(), secs: timeout.as_secs() }
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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

/// Build one Flux Kustomization as kustomize-controller would, with options.
pub fn render_kustomization_with(repo: &Repo, ks: &FluxKustomization, opts: &RenderOptions) -> Result<Rendered, RenderError> {
    let what = ks.key.to_string();
    if interrupted() {
        return Err(RenderError::Interrupted(what));
    }
    let rel = repo.local_path_of(ks).ok_or_else(|| RenderError::External(ks.key.clone()))?;
    let dir = repo.root.join(&rel);
    if !dir.exists() {
        return Err(RenderError::Kustomize { what, dir, stderr: "no such file or directory in the source".to_string() });
    }
    let tmp = tempfile::Builder::new().prefix("gitops-harness-render-").tempdir().map_err(io(&what, &std::env::temp_dir()))?;
    let build_dir = std::fs::canonicalize(tmp.path()).map_err(io(&what, tmp.path()))?;
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
    let components: Vec<String> = ks
        .components
        .iter()
        .map(|c| crate::repo::normalize(&dir.join(c)))
        .filter(|c| c.exists() || !ks.ignore_missing_components)
        .map(|c| to(&c))
        .collect();
    let k = kustomization(ks, resources, components);
    let text = serde_norway::to_string(&k).map_err(|e| RenderError::Output { what: what.clone(), message: e.to_string() })?;
    std::fs::write(build_dir.join("kustomization.yaml"), text).map_err(io(&what, &build_dir))?;
    let yaml = kustomize_build_timed(&build_dir, &what, opts.timeout).map_err(|e| match e {
        // Name the user's directory, not the temporary one.
        RenderError::Kustomize { what, stderr, .. } => {
            RenderError::Kustomize { what, dir: dir.clone(), stderr: stderr.replace(&format!("{}/", build_dir.display()), "") }
        }
        RenderError::Timeout { what, secs, .. } => RenderError::Timeout { what, dir: dir.clone(), secs },
        other => other,
    })?;
    let (yaml, unresolved_vars) = match repo.postbuild_vars(ks) {
        Some(Ok(vars)) => (substitute_output(&yaml, &vars, &what)?, vars.missing),
        Some(Err(e)) => return Err(RenderError::Substitute { what, message: e.to_string() }),
        None => (yaml, Vec::new()),
    };
    let objects = parse_output(&yaml, &what)?;
    drop(tmp);
    Ok(Rendered { key: ks.key.clone(), objects, yaml, unresolved_vars })
}

/// Substitute postBuild variables into each built resource, as kustomize-controller does (when
/// there are variables at all, and unless the resource opts out).
fn substitute_output(yaml: &str, vars: &Vars, what: &str) -> Result<String, RenderError> {
    if vars.vars.is_empty() && vars.missing.is_empty() {
        return Ok(yaml.to_string());
    }
    let docs = yaml_docs::parse_str(Path::new("kustomize-output.yaml"), yaml)
        .map_err(|e| RenderError::Output { what: what.to_string(), message: e.to_string() })?;
    let mut out = String::with_capacity(yaml.len());
    for d in docs {
        let text = if crate::envsubst::disabled(&d.value) {
            d.text
        } else {
            vars.apply(&d.text).map_err(|e| RenderError::Substitute { what: what.to_string(), message: e.to_string() })?
        };
        out.push_str("---\n");
        out.push_str(&text);
    }
    Ok(out)
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
