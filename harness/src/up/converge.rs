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
    // One display for the watch's changes and the backend's notes (they take turns in this task).
    let progress = std::cell::RefCell::new(Progress::for_stderr(&tracker));
    let (notes, mut noted) = tokio::sync::mpsc::unbounded_channel();
    let watch = readiness::watch_with(client.clone(), tracker, deadline, |c, _| progress.borrow_mut().on_change(c));
    let lost = backend.lost(name, notes);
    tokio::pin!(watch, lost);
    let (outcome, tracker) = loop {
        tokio::select! {
            r = &mut watch => break r?,
            lost = &mut lost => return Err(ConvergeError::Lost(lost)),
            Some(line) = noted.recv() => progress.borrow_mut().note(&line),
        }
    };
    progress.borrow_mut().finish(&outcome);
    Ok((outcome, tracker))
}

/// Save what explains a failure under `dir`: the objects `keys` (those not Ready, the Canaries
/// that failed) and the events and pods of their namespaces (plus `namespaces`), and the
/// backend's own logs under `dir/processes`. Returns the folder, or why nothing could be saved.
pub async fn failure_evidence(
    client: &kube::Client,
    backend: &AnyBackend,
    name: &str,
    dir: &Path,
    title: &str,
    keys: &[ObjectRef],
    namespaces: &[String],
) -> Result<PathBuf, String> {
    let mut ns: Vec<String> = keys.iter().filter_map(|k| k.namespace.clone()).chain(namespaces.iter().cloned()).collect();
    ns.sort();
    ns.dedup();
    let saved = crate::reports::artifacts::collect(client.clone(), dir, title, keys, &ns).await;
    backend.collect_logs(name, &dir.join("processes"));
    saved.map(|s| s.dir).map_err(|e| format!("could not save: {e}"))
}
