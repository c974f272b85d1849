//! Drift of a repository against live state, end to end: build each Flux Kustomization of the
//! repo at the revision it applied, then [`super::compute`]. Used by the CLI and the suites.

use std::collections::BTreeMap;
use std::path::Path;

use kube::Client;
use serde_json::Value;

use super::live::{LiveState, gather};
use super::{DriftError, DriftReport, compute};
use crate::flux::Revision;
use crate::git::revisions;
use crate::render;
use crate::repo::Repo;

/// Compare `repo_root` (the working copy Flux pulls from; `cluster_dir` as in `flux bootstrap
/// --path`) with `live`. When `repo_root` is the top of a git working copy, Kustomizations behind
/// its HEAD are built from an export of the revision they applied and revision drift is checked;
/// otherwise the files are built as they are.
pub fn check(repo_root: &Path, cluster_dir: Option<&Path>, live: &LiveState) -> Result<DriftReport, DriftError> {
    let repo = Repo::load(repo_root, cluster_dir)?;
    let head = revisions::head(repo_root);
    let mut exports: BTreeMap<String, (tempfile::TempDir, Repo)> = BTreeMap::new();
    let mut rendered = Vec::new();
    for ks in &live.kustomizations {
        let ns = ks.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        let name = ks.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let applied = Revision::parse(ks.pointer("/status/lastAppliedRevision").and_then(Value::as_str).unwrap_or("")).digest.to_string();
        let behind = matches!(&head, Some(h) if !applied.is_empty() && &applied != h);
        if behind && !exports.contains_key(&applied) {
            let dir = revisions::export(repo_root, &applied)?;
            let r = Repo::load(dir.path(), cluster_dir)?;
            exports.insert(applied.clone(), (dir, r));
        }
        let at_revision = if behind { exports.get(&applied).map(|(_, r)| r).unwrap_or(&repo) } else { &repo };
        let Some(fk) = at_revision.flux_kustomizations().iter().find(|k| k.key.namespace.as_deref() == Some(ns) && k.key.name == name)
        else {
            continue;
        };
        if at_revision.local_path_of(fk).is_none() {
            continue; // another source (an external GitRepository): not built from this repo
        }
        let built = render::render_kustomization(at_revision, fk)?;
        rendered.extend(built.objects.into_iter().filter(Value::is_object));
    }
    Ok(compute(&rendered, &live.objects, &live.kustomizations, head.as_deref().unwrap_or("")))
}

/// [`check`] against a cluster (live state gathered by inventory).
pub async fn check_cluster(client: &Client, repo_root: &Path, cluster_dir: Option<&Path>) -> Result<DriftReport, DriftError> {
    let live = gather(client).await?;
    let (root, dir) = (repo_root.to_path_buf(), cluster_dir.map(Path::to_path_buf));
    // Building runs git and kubectl: keep it off the async workers.
    tokio::task::spawn_blocking(move || check(&root, dir.as_deref(), &live))
        .await
        .unwrap_or_else(|e| Err(DriftError::Render { dir: repo_root.to_path_buf(), message: format!("build task failed: {e}") }))
}
