//! Cleanup in one place: what an interrupted or failed run leaves and how to remove it, `down`
//! (one cluster the harness created, and only that) and `reap` (what crashed runs left, across
//! every backend). Each backend decides what it may remove; nothing here names one.

use crate::cluster::{self, AnyBackend, BackendKind, ClusterBackend, ClusterError, DeleteReport};
use crate::labels::Selector;

/// What is left when `up` stops early (a signal or an error), and how to remove it.
pub fn leftovers(name: &str, existed_before: bool) -> Option<String> {
    let state = cluster::load_state(name)?;
    if existed_before {
        return Some(format!("cluster {name} ({}) was there before and is kept", state.backend));
    }
    Some(format!(
        "cluster {name} ({}) was created and is still running; remove it with `gitops-harness down --name {name}` (or `gitops-harness reap` for everything a crashed run left)",
        state.backend
    ))
}

/// Undo what an interrupted or failed run created, when its backend says it cannot outlive the
/// run (a half-started sim cluster); other backends keep it and [`leftovers`] says how to remove
/// it. Returns what was removed.
pub fn abort_created(name: &str, existed_before: bool) -> Option<Vec<String>> {
    if existed_before {
        return None;
    }
    cluster::recorded_backend(name)?.abort_created(name)
}

/// `down`: delete the cluster (only if the harness created it) and its state.
pub async fn down(name: &str) -> Result<DeleteReport, ClusterError> {
    match cluster::recorded_backend(name) {
        Some(backend) => backend.delete(name).await,
        // No record: the default backend looks for labelled objects of that name.
        None => AnyBackend::new(BackendKind::K3s).delete(name).await,
    }
}

/// `reap`: every backend removes what crashed runs left (matching `sel`).
pub async fn reap(sel: &Selector, dry_run: bool) -> Result<DeleteReport, ClusterError> {
    let mut all = DeleteReport::default();
    for kind in BackendKind::ALL {
        let r = AnyBackend::new(kind).reap(sel, dry_run).await?;
        all.removed.extend(r.removed);
        all.failed.extend(r.failed);
        all.kept.extend(r.kept);
    }
    Ok(all)
}
