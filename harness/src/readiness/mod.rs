//! Readiness of a bootstrap: the state of every Flux Kustomization and HelmRelease, followed
//! wave by wave, with the blocking dependency, failures, a timeline, and our own deadline.
//!
//! The [`Tracker`] is pure: it is fed objects (as the API returns them) with the time they were
//! seen, from live watchers ([`watch`]) or from recorded watch events ([`replay`]), so the same
//! logic is proven on recordings and used against a live cluster. [`classify`] reads one
//! object's state the way Flux writes it.

mod classify;
mod replay;
mod tracker;
mod watch;

use std::time::Duration;

use crate::flux::ObjectRef;

pub use classify::{ComponentState, blocking_dependency, classify, key_of, parse_go_duration};
pub use replay::{RecordedEvent, load_recording, replay, replay_with};
pub use tracker::{RevisionWant, TimelineRow, Track, Tracker, render_timeline};
pub use watch::{watch, watch_with};

/// A state change, for progress output.
#[derive(Debug, Clone)]
pub struct Change {
    /// When.
    pub at: Duration,
    /// Which component.
    pub key: ObjectRef,
    /// Its plan wave.
    pub wave: Option<usize>,
    /// The new state.
    pub state: ComponentState,
}

/// The overall verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still going.
    InProgress,
    /// Everything Ready.
    AllReady,
    /// A component failed for good.
    Failed {
        /// Which.
        key: ObjectRef,
        /// Its state (Failed or Stalled).
        state: ComponentState,
    },
}

/// The end of a readiness wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything Ready.
    AllReady {
        /// How long it took.
        elapsed: Duration,
    },
    /// A component failed.
    Failed {
        /// Which.
        key: ObjectRef,
        /// Its state.
        state: ComponentState,
        /// When we gave up.
        elapsed: Duration,
    },
    /// Our deadline passed first.
    TimedOut {
        /// The deadline.
        after: Duration,
        /// Every component not Ready, with its state.
        not_ready: Vec<(ObjectRef, ComponentState)>,
    },
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::AllReady { elapsed } => write!(f, "all components Ready after {:.0}s", elapsed.as_secs_f64()),
            Outcome::Failed { key, state, elapsed } => write!(f, "{key} failed after {:.0}s: {}", elapsed.as_secs_f64(), state.detail()),
            Outcome::TimedOut { after, not_ready } => {
                write!(f, "not Ready within {:.0}s:", after.as_secs_f64())?;
                for (k, s) in not_ready {
                    write!(f, "\n  {k}: {} {}", s.label(), s.detail())?;
                }
                Ok(())
            }
        }
    }
}

/// Errors of readiness waits.
#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    /// A recording could not be read.
    #[error("recording {path}:{line}: {message}")]
    Recording {
        /// File.
        path: std::path::PathBuf,
        /// Line.
        line: usize,
        /// Why.
        message: String,
    },
    /// The cluster API failed.
    #[error("watching {what}: {source}; is the cluster reachable and Flux installed?")]
    Watch {
        /// What was watched.
        what: String,
        /// Cause.
        source: kube::runtime::watcher::Error,
    },
}
