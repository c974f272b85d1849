//! Observing a Flagger `Canary` together with its routing object and primary Deployment, as a
//! timeline of (time, phase, canaryWeight, failedChecks, iterations, routed weights), and
//! asserting on it.
//!
//! The same [`TimelineBuilder`] is fed by live kube watchers ([`live`]) or by recorded JSON lines
//! ([`replay`]); assertions ([`assert`]) only look at the timeline. Routing objects by provider:
//! `linkerd`/`smi` → SMI TrafficSplit named after the apex service; `gatewayapi:<v>` → Gateway
//! API HTTPRoute of that name; `nginx` → the `<ingressRef>-canary` Ingress and its canary
//! annotations.

pub mod assert;
pub mod live;
pub mod replay;
mod routing;
mod timeline;

use routing::*;
pub use routing::{Routed, RoutingKind, nginx_routed, read_routing, routing_for};
pub use timeline::{PrimarySpec, Role, Row, Timeline, TimelineBuilder, object_time, primary_spec};

use std::fmt;

/// Errors observing a canary.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    /// Our own deadline passed before the rollout finished.
    #[error(
        "canary {canary}: no terminal phase (Succeeded/Failed) of a new rollout within our deadline of {waited_s}s (Flagger's progressDeadlineSeconds is not relied on); last state: {last}\ntimeline:\n{timeline}"
    )]
    Timeout {
        /// `ns/name`.
        canary: String,
        /// How long we waited (seconds).
        waited_s: u64,
        /// The last row, rendered.
        last: String,
        /// The whole timeline, rendered as a table.
        timeline: String,
    },
    /// The recording (or watch) ended before the rollout finished.
    #[error(
        "canary {canary}: the observation ended before a new rollout reached Succeeded/Failed; last state: {last}\ntimeline:\n{timeline}"
    )]
    Incomplete {
        /// `ns/name`.
        canary: String,
        /// The last row, rendered.
        last: String,
        /// The timeline table.
        timeline: String,
    },
    /// A recorded file could not be read or has a bad line.
    #[error("{file}:{line}: {message}")]
    Recording {
        /// File.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An object does not have the shape the observer needs.
    #[error("{0}")]
    Shape(String),
    /// Talking to the cluster failed.
    #[error("canary {canary}: {action}: {source}")]
    Kube {
        /// `ns/name`.
        canary: String,
        /// What we were doing.
        action: String,
        /// The error.
        source: kube::Error,
    },
    /// A watch stream failed.
    #[error("canary {canary}: watching {what} failed: {message}; is the CRD installed and the cluster reachable?")]
    Watch {
        /// `ns/name`.
        canary: String,
        /// Which object.
        what: String,
        /// Error text.
        message: String,
    },
}

/// Flagger canary phases (`status.phase`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `""` or absent.
    None,
    /// `Initializing`.
    Initializing,
    /// `Initialized`.
    Initialized,
    /// `Waiting`.
    Waiting,
    /// `Progressing`.
    Progressing,
    /// `WaitingPromotion`.
    WaitingPromotion,
    /// `Promoting`.
    Promoting,
    /// `Finalising`.
    Finalising,
    /// `Succeeded`.
    Succeeded,
    /// `Failed`.
    Failed,
    /// `Terminating`.
    Terminating,
    /// `Terminated`.
    Terminated,
    /// Anything else (a newer Flagger).
    Other(String),
}

impl Phase {
    /// Parse `status.phase`.
    pub fn parse(s: &str) -> Phase {
        match s {
            "" => Phase::None,
            "Initializing" => Phase::Initializing,
            "Initialized" => Phase::Initialized,
            "Waiting" => Phase::Waiting,
            "Progressing" => Phase::Progressing,
            "WaitingPromotion" => Phase::WaitingPromotion,
            "Promoting" => Phase::Promoting,
            "Finalising" => Phase::Finalising,
            "Succeeded" => Phase::Succeeded,
            "Failed" => Phase::Failed,
            "Terminating" => Phase::Terminating,
            "Terminated" => Phase::Terminated,
            other => Phase::Other(other.to_string()),
        }
    }

    /// A rollout is under way (Flagger is analysing or promoting).
    pub fn is_active(&self) -> bool {
        matches!(self, Phase::Waiting | Phase::Progressing | Phase::WaitingPromotion | Phase::Promoting | Phase::Finalising)
    }

    /// The rollout ended.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Phase::None => "-",
            Phase::Initializing => "Initializing",
            Phase::Initialized => "Initialized",
            Phase::Waiting => "Waiting",
            Phase::Progressing => "Progressing",
            Phase::WaitingPromotion => "WaitingPromotion",
            Phase::Promoting => "Promoting",
            Phase::Finalising => "Finalising",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Terminating => "Terminating",
            Phase::Terminated => "Terminated",
            Phase::Other(s) => s,
        };
        f.write_str(s)
    }
}

/// Which object changed to produce a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The Canary.
    Canary,
    /// The routing object.
    Routing,
    /// The primary Deployment.
    Primary,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Canary => "canary",
            Trigger::Routing => "routing",
            Trigger::Primary => "primary",
        })
    }
}
