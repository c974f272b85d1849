//! The state the harness keeps on this machine, shared between its processes (`up`, `upgrade`,
//! `down`, `status`, `reap`, the scenario suites): every path in one place, and the ready marker
//! as a typed contract instead of loose JSON keys.
//!
//! Layout under [`home`] (`$GITOPS_HARNESS_HOME`, else `~/.local/state/gitops-harness`):
//! `clusters/<name>/` holds `kubeconfig`, `owner.json` (the cluster handle), `served-repo/` (the
//! copy Flux pulls), `ready` (the [`ReadyMarker`]) and, for sim, `sim.json` with `logs/`,
//! `pki/`, `etcd/`; `locks/` holds the suites' lane locks.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Root of the harness state.
pub fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("GITOPS_HARNESS_HOME") {
        return PathBuf::from(h);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("gitops-harness")
}

/// Where every cluster's state directory is.
pub fn clusters_dir() -> PathBuf {
    home().join("clusters")
}

/// Where the suites' lane locks of cluster `name` are.
pub fn locks_dir(name: &str) -> PathBuf {
    home().join("locks").join(name)
}

/// The paths of one cluster's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterPaths {
    /// The state directory.
    pub dir: PathBuf,
}

impl ClusterPaths {
    /// The paths of cluster `name`.
    pub fn of(name: &str) -> ClusterPaths {
        ClusterPaths { dir: clusters_dir().join(name) }
    }

    /// The kubeconfig the harness keeps for it.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The recorded cluster handle (proof that the harness created it).
    pub fn owner(&self) -> PathBuf {
        self.dir.join("owner.json")
    }

    /// The served copy of the repository (suites commit to it).
    pub fn served_repo(&self) -> PathBuf {
        self.dir.join("served-repo")
    }

    /// The ready marker.
    pub fn ready_marker(&self) -> PathBuf {
        self.dir.join("ready")
    }

    /// The sim backend's process record.
    pub fn sim_record(&self) -> PathBuf {
        self.dir.join("sim.json")
    }
}

/// What `up` hands to other processes once everything is Ready: written only by a run that
/// reached Ready, removed when any `up`/`upgrade` starts on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyMarker {
    /// The URL Flux clones the served copy from.
    pub git_url: String,
    /// The served copy.
    pub served_repo: PathBuf,
    /// Host port of the ingress.
    pub ingress_port: u16,
    /// Named demo URLs.
    pub urls: Vec<(String, String)>,
    /// Backend name (`k3s`, `sim`, …), for messages.
    pub backend: String,
    /// The cluster directory that was bootstrapped.
    pub cluster_dir: PathBuf,
    /// Whether requests reach workloads (no data plane on sim).
    pub data_plane: bool,
    /// Whether Flagger runs.
    pub flagger: bool,
    /// Files the harness wrote into the served copy (kept when an upgrade replaces the tree).
    #[serde(default)]
    pub harness_files: Vec<PathBuf>,
}

/// A ready marker that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    /// No marker: the cluster is not (or no longer) Ready.
    #[error("{0} does not exist: the cluster is not Ready (run `gitops-harness up`, or wait for the run in progress)")]
    Missing(PathBuf),
    /// The marker is not what this version of the harness writes.
    #[error("{path}: {message}; it was written by another version of gitops-harness: run `gitops-harness up --reuse` to write it again")]
    Invalid {
        /// File.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Writing or removing it failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl ReadyMarker {
    /// Read the marker of cluster `name`.
    pub fn load(name: &str) -> Result<ReadyMarker, MarkerError> {
        ReadyMarker::read(&ClusterPaths::of(name).ready_marker())
    }

    /// Read a marker file.
    pub fn read(path: &Path) -> Result<ReadyMarker, MarkerError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(MarkerError::Missing(path.to_path_buf())),
            Err(source) => return Err(MarkerError::Io { path: path.to_path_buf(), source }),
        };
        serde_json::from_str(&text).map_err(|e| MarkerError::Invalid { path: path.to_path_buf(), message: e.to_string() })
    }

    /// Write it for cluster `name` (atomically: a reader never sees half a marker).
    pub fn save(&self, name: &str) -> Result<(), MarkerError> {
        let path = ClusterPaths::of(name).ready_marker();
        let io = |source| MarkerError::Io { path: path.clone(), source };
        let json = serde_json::to_string_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// Remove the marker of cluster `name` (absent is fine): the cluster is no longer known Ready.
    pub fn remove(name: &str) -> Result<(), MarkerError> {
        let path = ClusterPaths::of(name).ready_marker();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(MarkerError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker() -> ReadyMarker {
        ReadyMarker {
            git_url: "http://127.0.0.1:1/repo.git".into(),
            served_repo: "/s".into(),
            ingress_port: 8081,
            urls: vec![("Faces GUI".into(), "http://faces.localhost:8081/".into())],
            backend: "sim".into(),
            cluster_dir: "clusters/my-cluster".into(),
            data_plane: false,
            flagger: true,
            harness_files: vec!["infrastructure/linkerd/ca.crt".into()],
        }
    }

    #[test]
    fn a_marker_round_trips_and_a_typo_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready");
        std::fs::write(&path, serde_json::to_string(&marker()).unwrap()).unwrap();
        assert_eq!(ReadyMarker::read(&path).unwrap(), marker());
        // A key spelled wrong (or missing) is not silently a default.
        std::fs::write(&path, serde_json::to_string(&marker()).unwrap().replace("git_url", "giturl")).unwrap();
        let err = ReadyMarker::read(&path).unwrap_err();
        assert!(matches!(err, MarkerError::Invalid { .. }) && err.to_string().contains("git_url"), "{err}");
        assert!(matches!(ReadyMarker::read(&dir.path().join("none")), Err(MarkerError::Missing(_))));
    }

    #[test]
    fn paths_live_under_one_directory() {
        let p = ClusterPaths { dir: PathBuf::from("/h/clusters/x") };
        for f in [p.kubeconfig(), p.owner(), p.served_repo(), p.ready_marker(), p.sim_record()] {
            assert!(f.starts_with(&p.dir), "{}", f.display());
        }
    }
}
