//! Which scenarios may share the cluster at the same time. Scenarios that drive different
//! canaries run side by side (each rollout takes minutes of Flagger's analysis intervals, not
//! CPU); scenarios that judge the whole cluster (all Ready, no drift) run alone.
//!
//! Lanes are advisory file locks (`flock`) beside the cluster's state, so they hold across the
//! processes nextest starts and across the threads of one `cargo test` process alike.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use anyhow::Context as _;
use nix::fcntl::{Flock, FlockArg};

/// How a scenario shares the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Alone: it judges the whole cluster, which a rollout elsewhere would disturb.
    Exclusive,
    /// Beside scenarios of other canaries, one at a time for this canary.
    Canary(&'static str),
}

/// The locks a running scenario holds (released on drop).
#[derive(Debug)]
pub struct LaneGuard {
    _locks: Vec<Flock<File>>,
}

fn lock_file(cluster: &str, name: &str) -> anyhow::Result<File> {
    let dir: PathBuf = gitops_harness::state::locks_dir(cluster);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating the lane lock directory {}", dir.display()))?;
    let path = dir.join(format!("{name}.lock"));
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lane lock {}", path.display()))
}

fn take(file: File, arg: FlockArg, what: &str) -> anyhow::Result<Flock<File>> {
    // Try first, so a wait is announced (a scenario that seems slow is queued, not stuck).
    let nonblocking = match arg {
        FlockArg::LockShared => FlockArg::LockSharedNonblock,
        _ => FlockArg::LockExclusiveNonblock,
    };
    match Flock::lock(file, nonblocking) {
        Ok(l) => Ok(l),
        Err((file, _)) => {
            eprintln!("lane: waiting for {what}");
            Flock::lock(file, arg).map_err(|(_, e)| anyhow::anyhow!("taking the lane lock for {what}: {e}"))
        }
    }
}

/// Take the locks of `lane` on cluster `cluster`, waiting as long as other scenarios hold them.
/// The cluster lock is always taken first, so lanes never wait on each other in a cycle.
pub fn acquire(cluster: &str, lane: Lane) -> anyhow::Result<LaneGuard> {
    let cluster_file = lock_file(cluster, "cluster")?;
    let locks = match lane {
        Lane::Exclusive => vec![take(cluster_file, FlockArg::LockExclusive, "the whole cluster (other scenarios to finish)")?],
        Lane::Canary(canary) => {
            let shared = take(cluster_file, FlockArg::LockShared, "a whole-cluster scenario to finish")?;
            let own = take(
                lock_file(cluster, &format!("canary-{canary}"))?,
                FlockArg::LockExclusive,
                &format!("the other scenario of canary {canary}"),
            )?;
            vec![shared, own]
        }
    };
    Ok(LaneGuard { _locks: locks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn canaries_share_the_cluster_and_exclusive_waits_for_them() {
        let home = tempfile::tempdir().unwrap();
        // SAFETY: set before any other thread of this test reads the environment.
        unsafe { std::env::set_var("GITOPS_HARNESS_HOME", home.path()) };
        let face = acquire("c", Lane::Canary("face")).unwrap();
        // Another canary runs beside it.
        let gui = acquire("c", Lane::Canary("faces-gui")).unwrap();
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _g = acquire("c", Lane::Exclusive).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "exclusive ran beside canaries");
        drop(face);
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "exclusive ran beside a canary");
        drop(gui);
        rx.recv_timeout(Duration::from_secs(5)).expect("exclusive runs once the canaries are done");
        waiter.join().unwrap();
        // The same canary twice: the second waits.
        let first = acquire("c", Lane::Canary("face")).unwrap();
        let (tx, rx) = mpsc::channel();
        let second = std::thread::spawn(move || {
            let _g = acquire("c", Lane::Canary("face")).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "one canary ran twice at once");
        drop(first);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        second.join().unwrap();
    }
}
