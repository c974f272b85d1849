//! Rendering Flux Kustomizations with the real `kubectl kustomize`, the way kustomize-controller
//! builds them: `--load-restrictor LoadRestrictionsNone`, a generated kustomization.yaml for plain
//! directories, and the Flux Kustomization's own `targetNamespace`/`patches`/`images`/
//! `namePrefix`/`nameSuffix`/`commonMetadata` applied as an overlay.
//!
//! The build runs in a temporary copy of the repo: the user's files are never written.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::repo::{FluxKustomization, ObjKey, Repo};
use crate::tools::{self, Tool, ToolError};
use crate::yaml_docs;

/// The manifests one Flux Kustomization builds to.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The Flux Kustomization.
    pub key: ObjKey,
    /// The objects, in kustomize's output order.
    pub objects: Vec<Value>,
    /// kustomize's YAML output.
    pub yaml: String,
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
    External(ObjKey),
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
}

/// Run `kubectl kustomize --load-restrictor LoadRestrictionsNone DIR` and return its YAML.
pub fn kustomize_build(dir: &Path, what: &str) -> Result<String, RenderError> {
    let kubectl = tools::find(Tool::Kubectl)?;
    let out = duct::cmd!(&kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", dir)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| RenderError::Kustomize { what: what.to_string(), dir: dir.to_path_buf(), stderr: e.to_string() })?;
    if !out.status.success() {
        return Err(RenderError::Kustomize {
            what: what.to_string(),
            dir: dir.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
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

/// Copy `src` to `dst`, skipping VCS and build directories.
fn copy_tree(src: &Path, dst: &Path, what: &str) -> Result<(), RenderError> {
    for entry in walkdir::WalkDir::new(src).into_iter().filter_entry(|e| {
        let n = e.file_name().to_string_lossy();
        !(e.depth() > 0 && (n == ".git" || n == "target" || n == ".tools"))
    }) {
        let entry = entry.map_err(|e| RenderError::Io { what: what.to_string(), path: src.to_path_buf(), source: e.into() })?;
        let rel = entry.path().strip_prefix(src).unwrap_or(entry.path());
        let to = dst.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).map_err(io(what, &to))?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &to).map_err(io(what, &to))?;
        }
    }
    Ok(())
}

/// What kustomize-controller generates for a directory without kustomization.yaml: every YAML
/// file below it, and sub-directories that have their own kustomization.yaml as a whole.
fn generated_resources(dir: &Path, base: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(base).unwrap_or(&p).to_string_lossy().into_owned();
        if p.is_dir() {
            if ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|f| p.join(f).is_file()) {
                out.push(rel);
            } else {
                generated_resources(&p, base, out)?;
            }
        } else if yaml_docs::is_yaml(&p) {
            // Only Kubernetes manifests: kustomize rejects other YAML (e.g. a values file).
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            if text.contains("apiVersion:") && text.contains("kind:") {
                out.push(rel);
            }
        }
    }
    Ok(())
}

/// Build one Flux Kustomization as kustomize-controller would.
pub fn render_kustomization(repo: &Repo, ks: &FluxKustomization) -> Result<Rendered, RenderError> {
    let what = ks.key.to_string();
    let rel = repo.local_path_of(ks).ok_or_else(|| RenderError::External(ks.key.clone()))?;
    let tmp = tempfile::Builder::new().prefix("gitops-harness-render-").tempdir().map_err(io(&what, &std::env::temp_dir()))?;
    let copy = tmp.path().join("src");
    copy_tree(&repo.root, &copy, &what)?;
    let dir = copy.join(&rel);
    if !dir.is_dir() {
        return Err(RenderError::Kustomize { what, dir: repo.root.join(&rel), stderr: "path does not exist in the source".to_string() });
    }
    if !["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|f| dir.join(f).is_file()) {
        let mut resources = Vec::new();
        generated_resources(&dir, &dir, &mut resources).map_err(io(&what, &dir))?;
        let k = serde_json::json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources});
        let text = serde_norway::to_string(&k).map_err(|e| RenderError::Output { what: what.clone(), message: e.to_string() })?;
        std::fs::write(dir.join("kustomization.yaml"), text).map_err(io(&what, &dir))?;
    }
    let build_dir = match overlay(ks, &rel) {
        Some(overlay) => {
            let odir = copy.join(".gitops-harness-overlay");
            std::fs::create_dir_all(&odir).map_err(io(&what, &odir))?;
            let text = serde_norway::to_string(&overlay).map_err(|e| RenderError::Output { what: what.clone(), message: e.to_string() })?;
            std::fs::write(odir.join("kustomization.yaml"), text).map_err(io(&what, &odir))?;
            odir
        }
        None => dir,
    };
    let yaml = kustomize_build(&build_dir, &what).map_err(|e| match e {
        // Name the user's directory, not the temporary copy.
        RenderError::Kustomize { what, stderr, .. } => {
            RenderError::Kustomize { what, dir: repo.root.join(&rel), stderr: stderr.replace(&format!("{}/", copy.display()), "") }
        }
        other => other,
    })?;
    let objects = parse_output(&yaml, &what)?;
    Ok(Rendered { key: ks.key.clone(), objects, yaml })
}

/// The overlay kustomization carrying the Flux Kustomization's own transformations, if any.
fn overlay(ks: &FluxKustomization, rel: &Path) -> Option<Value> {
    let spec = ks.doc.value.get("spec")?;
    let mut k = serde_json::Map::new();
    let base = Path::new("..").join(rel);
    k.insert("apiVersion".into(), "kustomize.config.k8s.io/v1beta1".into());
    k.insert("kind".into(), "Kustomization".into());
    k.insert("resources".into(), serde_json::json!([base.to_string_lossy()]));
    let mut any = false;
    if let Some(ns) = &ks.target_namespace {
        k.insert("namespace".into(), ns.clone().into());
        any = true;
    }
    for key in ["namePrefix", "nameSuffix"] {
        if let Some(v) = spec.get(key) {
            k.insert(key.into(), v.clone());
            any = true;
        }
    }
    if !ks.patches.is_empty() {
        k.insert("patches".into(), Value::Array(ks.patches.clone()));
        any = true;
    }
    if let Some(images) = spec.get("images") {
        k.insert("images".into(), images.clone());
        any = true;
    }
    if let Some(cm) = spec.get("commonMetadata") {
        if let Some(labels) = cm.get("labels") {
            k.insert("labels".into(), serde_json::json!([{"pairs": labels, "includeSelectors": false}]));
            any = true;
        }
        if let Some(ann) = cm.get("annotations") {
            k.insert("commonAnnotations".into(), ann.clone());
            any = true;
        }
    }
    any.then_some(Value::Object(k))
}
