//! Temporary directories that name their owner process, so `reap` can remove the ones a killed
//! run left (an extracted embedded repository, a test's harness state) and never one still in
//! use: the owner is recorded by pid and kernel start time, as the sim's processes are.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cluster::sim::process;

/// The marker file inside an owned directory.
pub const OWNER_FILE: &str = ".gitops-harness-owner";
/// Prefix of the embedded repository's extraction in the temp directory.
pub const EMBEDDED_PREFIX: &str = "gitops-harness-repo-";
/// Prefix of a test's harness state directory in the temp directory.
pub const TEST_HOME_PREFIX: &str = "gitops-harness-test-home-";

/// The process that owns a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Its pid.
    pub pid: u32,
    /// Its kernel start time (with the pid, its identity).
    pub start_ticks: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        let pid = std::process::id();
        Owner { pid, start_ticks: process::start_ticks(pid).unwrap_or(0) }
    }

    /// Mark `dir` as owned by this process.
    pub fn claim(dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string(&Owner::me()).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(OWNER_FILE), json)
    }

    /// The owner recorded in `dir`, if any.
    pub fn of(dir: &Path) -> Option<Owner> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(OWNER_FILE)).ok()?).ok()
    }

    /// Whether the owner still runs.
    pub fn alive(&self) -> bool {
        process::running(self.pid, self.start_ticks)
    }
}

/// Directories named `<prefix>*` directly in `parent` whose recorded owner is gone (a
/// directory without an owner file is not ours to judge, and is left alone).
pub fn orphans(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(parent) else { return Vec::new() };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix) && e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|d| Owner::of(d).is_some_and(|o| !o.alive()))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_directories_whose_owner_is_gone_are_orphans() {
        let tmp = tempfile::tempdir().unwrap();
        let mine = tmp.path().join(format!("{EMBEDDED_PREFIX}mine"));
        let gone = tmp.path().join(format!("{EMBEDDED_PREFIX}gone"));
        let unmarked = tmp.path().join(format!("{EMBEDDED_PREFIX}unmarked"));
        for d in [&mine, &gone, &unmarked] {
            std::fs::create_dir(d).unwrap();
        }
        Owner::claim(&mine).unwrap();
        // A pid with another start time: a process that ended (or a reused pid).
        let dead = Owner { pid: std::process::id(), start_ticks: Owner::me().start_ticks + 1 };
        std::fs::write(gone.join(OWNER_FILE), serde_json::to_string(&dead).unwrap()).unwrap();
        assert!(Owner::me().alive() && !dead.alive());
        assert_eq!(orphans(tmp.path(), EMBEDDED_PREFIX), vec![gone]);
    }
}
