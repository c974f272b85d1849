//! A sim cluster on disk: its record of processes and ports (`sim.json`), its layout, its logs,
//! and which recorded clusters are leftovers of a crashed run.

use super::*;

/// The record of a sim cluster's processes and ports (`sim.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SimRecord {
    /// Cluster name.
    pub name: String,
    /// Run that created it.
    pub run_id: String,
    /// Ports.
    pub ports: Ports,
    /// Processes, in start order.
    pub processes: Vec<ProcessRecord>,
    /// Number of kwok nodes.
    pub nodes: usize,
    /// Flagger's settings, when it runs.
    #[serde(default)]
    pub flagger: Option<flagger::FlaggerSettings>,
    /// Token every process of the cluster is started with (`process::OWNER_ENV`), written here
    /// before the first one starts: what finds a process spawned but not yet recorded.
    #[serde(default)]
    pub owner: String,
    /// Operators started from a live Deployment (process name → a fingerprint of that
    /// Deployment's containers): one whose Deployment changes is restarted.
    #[serde(default)]
    pub operators: std::collections::BTreeMap<String, String>,
}

impl SimRecord {
    /// Read the record of cluster `name`, if any.
    pub fn load(name: &str) -> Option<SimRecord> {
        let text = std::fs::read_to_string(layout(name).record()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Write it (atomically: a crash never leaves half a record).
    pub fn save(&self) -> Result<(), SimError> {
        let path = layout(&self.name).record();
        let tmp = path.with_extension("json.tmp");
        let io = |source| SimError::Io { path: path.clone(), source };
        let json = serde_json::to_string_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// The first recorded process that is no longer running, with how it ended.
    pub fn first_dead(&self) -> Option<SimError> {
        self.processes.iter().find(|p| !p.is_alive()).map(died)
    }

    /// Stop every recorded process still running, in three phases so each stops quickly: the
    /// controllers, kwok and the git server together, then kube-apiserver (its watchers gone),
    /// then etcd. Returns what was stopped.
    pub fn stop_all(&self) -> Vec<String> {
        let phase = |p: &ProcessRecord| match p.name.as_str() {
            "etcd" => 2,
            "kube-apiserver" => 1,
            _ => 0,
        };
        let mut out = Vec::new();
        for n in 0..3 {
            let handles: Vec<_> = self
                .processes
                .iter()
                .rev()
                .filter(|p| phase(p) == n && p.is_alive())
                .map(|p| {
                    let p = p.clone();
                    std::thread::spawn(move || {
                        let killed = p.stop(STOP_GRACE);
                        format!("process {} (pid {}){}", p.name, p.pid, if killed { ", killed after the grace period" } else { "" })
                    })
                })
                .collect();
            out.extend(handles.into_iter().filter_map(|h| h.join().ok()));
        }
        // Started but never recorded (`up` killed between spawn and save): found by the token.
        for p in process::carrying_owner(&self.owner) {
            let killed = p.stop(STOP_GRACE);
            out.push(format!(
                "unrecorded process {} (pid {}){}",
                p.name,
                p.pid,
                if killed { ", killed after the grace period" } else { "" }
            ));
        }
        out
    }

    /// A new owner token: the cluster's name, this run and the time, so no two clusters share one.
    pub fn new_owner_token(name: &str) -> String {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        format!("{name}.{}.{}.{nanos}", crate::labels::run_id(), std::process::id())
    }
}

pub(crate) fn died(p: &ProcessRecord) -> SimError {
    SimError::Died {
        name: p.name.clone(),
        status: p.exit_status().unwrap_or_else(|| "it is no longer running".to_string()),
        log: p.log.clone(),
        tail: p.log_tail(20),
    }
}

/// The state layout of sim cluster `name`.
pub fn layout(name: &str) -> Layout {
    Layout { root: crate::state::ClusterPaths::of(name).dir }
}

/// Copy the process logs of sim cluster `name` into `dest` (for artifacts); best effort.
pub fn copy_logs(name: &str, dest: &Path) {
    let src = layout(name).logs();
    let Ok(rd) = std::fs::read_dir(&src) else { return };
    if std::fs::create_dir_all(dest).is_err() {
        return;
    }
    for e in rd.filter_map(|e| e.ok()) {
        let _ = std::fs::copy(e.path(), dest.join(e.file_name()));
    }
}

/// Why a recorded sim cluster is a leftover of a crashed run (what `reap` removes), or `None`
/// when it is complete and every process runs (`down` removes that one).
pub fn leftover_reason(record: &SimRecord) -> Option<String> {
    if crate::cluster::load_state(&record.name).is_none() {
        return Some("its creation never finished".to_string());
    }
    if record.processes.is_empty() {
        return Some("it has no processes".to_string());
    }
    record.processes.iter().find(|p| !p.is_alive()).map(|p| format!("its process {} is not running", p.name))
}

/// Every sim cluster with a process record (for `reap`).
pub fn recorded_clusters() -> Vec<SimRecord> {
    records_under(&crate::state::clusters_dir())
}

/// The sim records in a clusters directory (`<dir>/<name>/sim.json`), by name.
pub fn records_under(clusters: &Path) -> Vec<SimRecord> {
    let mut out: Vec<SimRecord> = std::fs::read_dir(clusters)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path().join("sim.json")).ok())
                .filter_map(|t| serde_json::from_str(&t).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a: &SimRecord, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process started with the cluster's owner token but never recorded (`up` killed between
    /// spawn and save) is stopped with the cluster, and only it: one with another token stays.
    #[test]
    fn stop_all_stops_an_unrecorded_process_by_its_owner_token() {
        let dir = tempfile::tempdir().unwrap();
        let spawn = |token: &str| {
            let spec =
                ProcessSpec::new("sleeper", PathBuf::from("/bin/sleep"), vec!["30".into()], dir.path()).env(process::OWNER_ENV, token);
            process::spawn(&spec, &dir.path().join("sleep.log")).unwrap()
        };
        let mine = SimRecord::new_owner_token("t1");
        let other = SimRecord::new_owner_token("t2");
        assert_ne!(mine, other);
        let lost = spawn(&mine);
        let kept = spawn(&other);
        let found: Vec<u32> = process::carrying_owner(&mine).iter().map(|p| p.pid).collect();
        assert_eq!(found, vec![lost.pid]);
        let record = SimRecord { name: "t1".into(), owner: mine.clone(), ..SimRecord::default() };
        let stopped = record.stop_all();
        assert_eq!(stopped.len(), 1, "{stopped:?}");
        assert!(stopped[0].starts_with("unrecorded process sleep (pid "), "{stopped:?}");
        assert!(!lost.is_alive());
        assert!(kept.is_alive(), "another cluster's process is not touched");
        assert!(process::carrying_owner("").is_empty(), "an old record without a token finds nothing");
        kept.stop(Duration::from_secs(5));
    }
}
