//! The git side of a drift comparison: the branch head, a read-only export of the revision a
//! Kustomization applied, and its manifests built the way kustomize-controller does
//! (`kubectl kustomize --load-restrictor LoadRestrictionsNone`; a directory without a
//! kustomization.yaml contributes its YAML files and sub-directories, as Flux's generator does).

use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_json::Value;

use super::DriftError;

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, DriftError> {
    let out = duct::cmd("git", args)
        .dir(dir)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| DriftError::Git { dir: dir.to_path_buf(), message: format!("cannot run git: {e}; install git") })?;
    if !out.status.success() {
        return Err(DriftError::Git {
            dir: dir.to_path_buf(),
            message: format!("`git {}`: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    Ok(out.stdout)
}

/// The commit checked out in `repo` (None when `repo` is not the top of a git working copy: a
/// directory inside some other repository does not have the revisions Flux applied).
pub fn head(repo: &Path) -> Option<String> {
    let top = git(repo, &["rev-parse", "--show-toplevel"]).ok()?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(repo).ok()? {
        return None;
    }
    git(repo, &["rev-parse", "HEAD"]).ok().map(|o| String::from_utf8_lossy(&o).trim().to_string())
}

/// Export commit `sha` of `repo` into a new temporary directory (the repo is not touched).
pub fn export_revision(repo: &Path, sha: &str) -> Result<tempfile::TempDir, DriftError> {
    let dir = tempfile::Builder::new()
        .prefix("gitops-harness-rev-")
        .tempdir()
        .map_err(|e| DriftError::Git { dir: repo.to_path_buf(), message: format!("cannot create a temp dir: {e}") })?;
    let tar = git(repo, &["archive", "--format=tar", sha]).map_err(|e| match e {
        DriftError::Git { dir, message } => DriftError::Git {
            dir,
            message: format!("{message}; is revision {sha} in this working copy? Pass the copy Flux pulls from (the harness's served repo) or fetch it"),
        },
        other => other,
    })?;
    let mut child = duct::cmd("tar", ["-x", "-C"])
        .before_spawn({
            let d = dir.path().to_path_buf();
            move |c| {
                c.arg(&d);
                Ok(())
            }
        })
        .stdin_bytes(tar)
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| DriftError::Git { dir: repo.to_path_buf(), message: format!("cannot run tar to extract {sha}: {e}") })?;
    if !child.status.success() {
        return Err(DriftError::Git {
            dir: repo.to_path_buf(),
            message: format!("extracting {sha}: {}", String::from_utf8_lossy(&std::mem::take(&mut child.stderr)).trim()),
        });
    }
    Ok(dir)
}

/// `kubectl`: `$PATH`, else `<repo>/.tools/bin/kubectl` (installed by scripts/install-tools.sh).
pub fn find_kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|p| p.join("kubectl"))
        .find(|p| p.is_file())
        .or_else(|| {
            let here = std::env::current_dir().ok()?;
            here.ancestors().map(|a| a.join(".tools/bin/kubectl")).find(|p| p.is_file())
        })
}

const KUSTOMIZATION_FILES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Kinds that are cluster-scoped (a `targetNamespace` does not apply to them).
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "StorageClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "PersistentVolume",
    "ClusterIssuer",
    "GatewayClass",
];

fn parse_stream(origin: &Path, text: &str) -> Result<Vec<Value>, DriftError> {
    let mut out = Vec::new();
    for de in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(de).map_err(|e| DriftError::Render { dir: origin.to_path_buf(), message: e.to_string() })?;
        if v.is_object() {
            out.push(v);
        }
    }
    Ok(out)
}

/// Build the manifests of a Flux Kustomization path; `target_namespace` as `spec.targetNamespace`.
/// (Flux `spec.patches`/`postBuild` substitutions are not applied here.)
pub fn render_path(kubectl: &Path, dir: &Path, target_namespace: Option<&str>) -> Result<Vec<Value>, DriftError> {
    let mut objs = render_dir(kubectl, dir)?;
    if let Some(ns) = target_namespace {
        for o in &mut objs {
            let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
            if !CLUSTER_SCOPED.contains(&kind)
                && let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.insert("namespace".into(), Value::String(ns.to_string()));
                }
        }
    }
    Ok(objs)
}

fn render_dir(kubectl: &Path, dir: &Path) -> Result<Vec<Value>, DriftError> {
    if KUSTOMIZATION_FILES.iter().any(|f| dir.join(f).is_file()) {
        let out = duct::cmd(kubectl, ["kustomize", "--load-restrictor", "LoadRestrictionsNone"])
            .before_spawn({
                let d = dir.to_path_buf();
                move |c| {
                    c.arg(&d);
                    Ok(())
                }
            })
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| DriftError::Render { dir: dir.to_path_buf(), message: format!("cannot run {}: {e}", kubectl.display()) })?;
        if !out.status.success() {
            return Err(DriftError::Render { dir: dir.to_path_buf(), message: String::from_utf8_lossy(&out.stderr).trim().to_string() });
        }
        return parse_stream(dir, &String::from_utf8_lossy(&out.stdout));
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DriftError::Render { dir: dir.to_path_buf(), message: e.to_string() })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            out.extend(render_dir(kubectl, &p)?);
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            let text = std::fs::read_to_string(&p).map_err(|e| DriftError::Render { dir: p.clone(), message: e.to_string() })?;
            // Flux's generator only takes Kubernetes objects.
            out.extend(parse_stream(&p, &text)?.into_iter().filter(|v| v.get("apiVersion").is_some() && v.get("kind").is_some()));
        }
    }
    Ok(out)
}
