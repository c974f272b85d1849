//! One object's state as Flux writes it: Ready, Stalled, a dependency it waits for, a failure
//! Flux will retry.

use std::time::Duration;

use serde_json::Value;

use crate::flux::{ObjectRef, conditions};

/// Condition reasons that mean "this attempt failed" (Flux retries; the tracker fails the
/// bootstrap when one persists past the grace period, or at once when the object is Stalled).
const FAILURE_REASONS: &[&str] = &[
    "BuildFailed",
    "HealthCheckFailed",
    "ReconciliationFailed",
    "ArtifactFailed",
    "InstallFailed",
    "UpgradeFailed",
    "TestFailed",
    "RollbackFailed",
    "UninstallFailed",
    "ChartPullError",
    "GetLastReleaseFailed",
    "ValuesError",
    "PruneFailed",
];

/// The state of one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentState {
    /// Not seen yet, or no Ready condition yet.
    Pending,
    /// Waiting for a dependency.
    Blocked {
        /// The dependency it waits for (`ns/name`), from the condition message.
        on: String,
    },
    /// Being reconciled.
    Reconciling {
        /// Condition message.
        message: String,
    },
    /// Ready at its current generation.
    Ready {
        /// `lastAppliedRevision` (Kustomizations) or the chart version (HelmReleases).
        revision: Option<String>,
        /// Ready message.
        message: String,
    },
    /// The last attempt failed (Flux will retry).
    Failed {
        /// Condition reason.
        reason: String,
        /// Condition message.
        message: String,
    },
    /// The controller gave up.
    Stalled {
        /// Reason.
        reason: String,
        /// Message (the Ready message when it says more).
        message: String,
    },
}

impl ComponentState {
    /// Short label for progress output.
    pub fn label(&self) -> &'static str {
        match self {
            ComponentState::Pending => "pending",
            ComponentState::Blocked { .. } => "waiting",
            ComponentState::Reconciling { .. } => "reconciling",
            ComponentState::Ready { .. } => "ready",
            ComponentState::Failed { .. } => "failed",
            ComponentState::Stalled { .. } => "stalled",
        }
    }

    /// One-line detail (blocking dependency or message).
    pub fn detail(&self) -> String {
        match self {
            ComponentState::Pending => String::new(),
            ComponentState::Blocked { on } => format!("waiting for {on}"),
            ComponentState::Reconciling { message } | ComponentState::Ready { message, .. } => message.clone(),
            ComponentState::Failed { reason, message } | ComponentState::Stalled { reason, message } => format!("{reason}: {message}"),
        }
    }
}

/// The dependency named in a `DependencyNotReady` message (`dependency 'ns/name' is not ready`).
pub fn blocking_dependency(message: &str) -> Option<String> {
    let start = message.find("dependency '")? + "dependency '".len();
    let rest = &message[start..];
    Some(rest[..rest.find('\'')?].to_string())
}

/// Classify an object (Kustomization or HelmRelease, as the API returns it).
pub fn classify(obj: &Value) -> ComponentState {
    let Some(status) = obj.get("status") else { return ComponentState::Pending };
    let ready = conditions::ready(obj);
    if let Some(st) = conditions::find(obj, "Stalled").filter(|c| c.is_true()) {
        let message = ready.map(|r| r.message).filter(|m| !m.is_empty()).unwrap_or(st.message);
        return ComponentState::Stalled { reason: st.reason.to_string(), message: message.to_string() };
    }
    let Some(ready) = ready else { return ComponentState::Pending };
    let message = ready.message.to_string();
    // A Ready condition without observedGeneration is not trusted: Flux writes both together.
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
    let observed = status.get("observedGeneration").and_then(Value::as_i64).unwrap_or(-1);
    match ready.status {
        "True" if observed >= generation => {
            let revision = status
                .get("lastAppliedRevision")
                .or_else(|| status.get("lastAttemptedRevision"))
                .and_then(Value::as_str)
                .map(str::to_string);
            ComponentState::Ready { revision, message }
        }
        "True" => ComponentState::Reconciling { message: format!("generation {generation} not yet observed (at {observed})") },
        "False" if ready.reason == "DependencyNotReady" => {
            ComponentState::Blocked { on: blocking_dependency(&message).unwrap_or_else(|| message.clone()) }
        }
        "False" if FAILURE_REASONS.contains(&ready.reason) => ComponentState::Failed { reason: ready.reason.to_string(), message },
        "False" => ComponentState::Reconciling { message: format!("{}: {message}", ready.reason) },
        _ => ComponentState::Reconciling { message },
    }
}

/// The key of a Kustomization/HelmRelease object (the group from its `apiVersion`, or from its
/// kind when an object comes without one).
pub fn key_of(obj: &Value) -> Option<ObjectRef> {
    ObjectRef::of(obj).or_else(|| {
        Some(ObjectRef::of_kind(
            obj.get("kind")?.as_str()?,
            obj.pointer("/metadata/namespace").and_then(Value::as_str),
            obj.pointer("/metadata/name")?.as_str()?,
        ))
    })
}

/// A Go duration as Flux writes them (`1m`, `30s`, `1h30m`, `500ms`).
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}
