//! Cleanup in one place: what an interrupted or failed run leaves and how to remove it, `down`
//! (one cluster the harness created, and only that) and `reap` (what crashed runs left, across
//! every backend). Each backend decides what it may remove; nothing here names one.

use crate::cluster::{self, AnyBackend, BackendKind, ClusterBackend, ClusterError, DeleteReport};
use crate::labels::Selector;
use crate::lifecycle::owner;

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

/// `reap`: every backend removes what crashed runs left (matching `sel`); with no selector,
/// also the temporary directories of runs that were killed ([`reap_orphans`]).
pub async fn reap(sel: &Selector, dry_run: bool) -> Result<DeleteReport, ClusterError> {
    let mut all =
        if sel.cluster.is_none() && sel.run_id.is_none() { reap_orphans(&std::env::temp_dir(), dry_run) } else { DeleteReport::default() };
    for kind in BackendKind::ALL {
        let r = AnyBackend::new(kind).reap(sel, dry_run).await?;
        all.removed.extend(r.removed);
        all.failed.extend(r.failed);
        all.kept.extend(r.kept);
    }
    Ok(all)
}

/// Temporary directories under `tmp` whose owner process is gone: extracted embedded
/// repositories, and test harness state directories, whose recorded sim processes are stopped
/// first (by pid and start time, as `down` does).
pub fn reap_orphans(tmp: &std::path::Path, dry_run: bool) -> DeleteReport {
    let mut report = DeleteReport::default();
    for dir in owner::orphans(tmp, owner::EMBEDDED_PREFIX).into_iter().chain(owner::orphans(tmp, owner::TEST_HOME_PREFIX)) {
        if !dry_run {
            for record in crate::cluster::sim::records_under(&dir.join("clusters")) {
                report
                    .removed
                    .extend(record.stop_all().into_iter().map(|p| format!("{p} of sim cluster {} in {}", record.name, dir.display())));
            }
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                report.failed.push(format!("{}: {e}", dir.display()));
                continue;
            }
        }
        report.removed.push(format!("directory {} (its process is gone)", dir.display()));
    }
    report
}
