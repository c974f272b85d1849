//! Recorded watch events, replayed through a tracker (the same logic, proven without a cluster).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{Change, Outcome, ReadinessError, Tracker};
use crate::graph::Plan;

/// One recorded watch event.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedEvent {
    /// Seconds since the start of the recording.
    pub t: f64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The object.
    pub object: Value,
}

/// Read a JSON-lines recording.
pub fn load_recording(path: &Path) -> Result<Vec<RecordedEvent>, ReadinessError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReadinessError::Recording {
        path: path.to_path_buf(),
        line: 0,
        message: e.to_string(),
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| ReadinessError::Recording { path: path.to_path_buf(), line: i + 1, message: e.to_string() })
        })
        .collect()
}

/// Replay recorded events through a tracker until the outcome is decided or the recording ends
/// (then the deadline decides). `on_change` sees every state change, as progress output would.
pub fn replay(plan: &Plan, events: &[RecordedEvent], deadline: Duration, on_change: impl FnMut(&Change, &Tracker)) -> (Outcome, Tracker) {
    replay_with(Tracker::new(plan), events, deadline, on_change)
}

/// [`replay`] into a prepared tracker (e.g. with [`Tracker::require`]d components).
pub fn replay_with(
    mut tracker: Tracker,
    events: &[RecordedEvent],
    deadline: Duration,
    mut on_change: impl FnMut(&Change, &Tracker),
) -> (Outcome, Tracker) {
    for ev in events {
        let at = Duration::from_secs_f64(ev.t);
        if at > deadline {
            break;
        }
        // Time passing can decide a failure (grace) before this event.
        tracker.tick(at);
        if let Some(o) = tracker.outcome(deadline) {
            return (o, tracker);
        }
        if ev.event_type != "DELETED"
            && let Some(change) = tracker.observe(at, &ev.object)
        {
            on_change(&change, &tracker);
        }
        if let Some(o) = tracker.outcome(deadline) {
            return (o, tracker);
        }
    }
    // Nothing more happened: let the clock run to the deadline (a failure's grace may end first).
    let fail_at = tracker.next_failure_deadline();
    tracker.tick(fail_at.map(|f| f.min(deadline)).unwrap_or(deadline));
    if let Some(o) = tracker.outcome(deadline) {
        return (o, tracker);
    }
    tracker.tick(deadline);
    let o = tracker.outcome(deadline).unwrap_or(Outcome::TimedOut { after: deadline, not_ready: tracker.not_ready() });
    (o, tracker)
}
