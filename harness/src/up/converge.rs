//! Converging: one readiness watch with live progress, raced against the backend noticing the
//! cluster itself went away, shared by `up` (bootstrap) and `upgrade` (a published revision);
//! and the evidence saved when it does not converge.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cluster::{AnyBackend, ClusterBackend, ClusterError};
use crate::flux::ObjectRef;
use crate::readiness::{self, Outcome, Tracker};
use crate::reports::progress::Progress;

/// Why a wait for convergence ended without a verdict.
#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    /// The readiness watch itself failed.
    #[error(transparent)]
    Readiness(#[from] readiness::ReadinessError),
    /// The cluster went away underneath the wait (a sim process exited).
    #[error(transparent)]
    Lost(ClusterError),
}

/// Watch `tracker` until it decides or `deadline` passes, printing progress; ends at once when
/// `backend` reports cluster `name` lost.
pub async fn converge(
    client: &kube::Client,
    tracker: Tracker,
    deadline: Duration,
    backend: &AnyBackend,
    name: &str,
) -> Result<(Outcome, Tracker), ConvergeError> {
    let mut progress = Progress::for_stderr(&tracker);
    let watch = readiness::watch_with(client.clone(), tracker, deadline, |c, _| progress.on_change(c));
    let (outcome, tracker) = tokio::select! {
        r = watch => r?,
        lost = backend.lost(name) => return Err(ConvergeError::Lost(lost)),
    };
    progress.finish(&outcome);
    Ok((outcome, tracker))
}

/// Save what explains a failure under `dir`: the objects that are not Ready and the events and
/// pods of their namespaces (plus `namespaces`), and the backend's own logs under
/// `dir/processes`. Returns the folder, or why nothing could be saved.
pub async fn failure_evidence(
    client: &kube::Client,
    backend: &AnyBackend,
    name: &str,
    dir: &Path,
    title: &str,
    tracker: &Tracker,
    namespaces: &[String],
) -> Result<PathBuf, String> {
    let keys: Vec<ObjectRef> = tracker.not_ready().into_iter().map(|(k, _)| k).collect();
    let mut ns: Vec<String> = keys.iter().filter_map(|k| k.namespace.clone()).chain(namespaces.iter().cloned()).collect();
    ns.sort();
    ns.dedup();
    let saved = crate::reports::artifacts::collect(client.clone(), dir, title, &keys, &ns).await;
    backend.collect_logs(name, &dir.join("processes"));
    saved.map(|s| s.dir).map_err(|e| format!("could not save: {e}"))
}
