//! The records of the clusters the harness created (`owner.json`, `kubeconfig` in each cluster's
//! state directory): the proof of ownership `down` and `reap` require.

use std::path::Path;

use super::{BackendKind, ClusterError, ClusterHandle, ClusterInfo};
use crate::state::{self, ClusterPaths};

/// Record a created cluster (kubeconfig + owner file).
pub fn save_state(handle: &ClusterHandle, kubeconfig: &str) -> Result<(), ClusterError> {
    let dir = ClusterPaths::of(&handle.name).dir;
    std::fs::create_dir_all(&dir).map_err(|source| ClusterError::Io { path: dir.clone(), source })?;
    if handle.backend != BackendKind::Existing {
        write_private(&handle.kubeconfig_path, kubeconfig)
            .map_err(|source| ClusterError::Io { path: handle.kubeconfig_path.clone(), source })?;
    }
    let json = serde_json::to_string_pretty(handle).map_err(|e| ClusterError::Invalid(e.to_string()))?;
    let owner = ClusterPaths::of(&handle.name).owner();
    std::fs::write(&owner, json).map_err(|source| ClusterError::Io { path: owner, source })
}

/// Write a credentials file readable by its owner only (created 0600; an existing file is made
/// 0600 too, since the mode given at creation does not apply to it).
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())
}

/// The recorded handle of a harness cluster, if the harness created one of that name.
pub fn load_state(name: &str) -> Option<ClusterHandle> {
    let text = std::fs::read_to_string(ClusterPaths::of(name).owner()).ok()?;
    serde_json::from_str(&text).ok()
}

/// The kubeconfig the harness keeps for cluster `name`.
pub fn state_kubeconfig(name: &str) -> Result<String, ClusterError> {
    std::fs::read_to_string(ClusterPaths::of(name).kubeconfig()).map_err(|_| ClusterError::NotFound(name.to_string()))
}

/// Refuse to act on a cluster the harness has no record of creating with `backend`.
pub fn require_record(name: &str, backend: BackendKind) -> Result<(), ClusterError> {
    match load_state(name) {
        Some(h) if h.backend == backend => Ok(()),
        _ => Err(ClusterError::NotOwned { name: name.to_string(), why: format!("no {backend} record in the harness state directory") }),
    }
}

/// Recorded clusters of one backend, as `status` lists them.
pub fn recorded_infos(backend: BackendKind) -> Vec<ClusterInfo> {
    recorded()
        .into_iter()
        .filter(|h| h.backend == backend)
        .map(|h| ClusterInfo { name: h.name, backend: h.backend, containers: vec![], api_url: Some(h.api_url), created: Some(h.created) })
        .collect()
}

/// Every recorded harness cluster.
pub fn recorded() -> Vec<ClusterHandle> {
    let mut out: Vec<ClusterHandle> = std::fs::read_dir(state::clusters_dir())
        .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| load_state(&e.file_name().to_string_lossy())).collect())
        .unwrap_or_default();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Forget a cluster's state directory.
pub fn remove_state(name: &str) -> Result<(), ClusterError> {
    let dir = ClusterPaths::of(name).dir;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|source| ClusterError::Io { path: dir, source })?;
    }
    Ok(())
}
