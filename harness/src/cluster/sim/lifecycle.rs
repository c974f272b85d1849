//! Watching and stopping a sim cluster's recorded processes.

use super::*;

/// Resolve when a process of sim cluster `name` exits (polled every second), with its name and
/// log tail. For racing against long waits in `up`.
pub async fn watch_processes(name: &str) -> SimError {
    loop {
        if let Some(e) = SimRecord::load(name).and_then(|r| r.first_dead()) {
            return e;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Stop the processes of sim cluster `name` and remove its state directory; only what the
/// record names is touched.
pub fn stop_and_forget(name: &str) -> Result<DeleteReport, ClusterError> {
    let Some(record) = SimRecord::load(name) else {
        return match crate::cluster::load_state(name) {
            Some(h) if h.backend == BackendKind::Sim => {
                crate::cluster::remove_state(name)?;
                Ok(DeleteReport { removed: vec![format!("state of {name}")], ..Default::default() })
            }
            _ => Err(ClusterError::NotFound(name.to_string())),
        };
    };
    let mut removed = record.stop_all();
    crate::cluster::remove_state(name)?;
    removed.push(format!("state directory {}", layout(name).root.display()));
    Ok(DeleteReport { removed, ..Default::default() })
}
