//! Replaying recorded object sequences (JSON lines: one full Canary, routing object or
//! Deployment per line, as the API server returns them) through the same timeline builder and
//! deadline logic the live observer uses.

use std::path::Path;

use chrono::Duration;
use serde_json::Value;

use super::{CanaryError, Timeline, TimelineBuilder};

/// After the terminal phase, objects written within this time still belong to the rollout
/// (the watches of Canary, routing object and primary can deliver out of order).
pub const SETTLE: Duration = Duration::seconds(2);

/// Read a `.jsonl` recording: one JSON object per non-blank line.
pub fn load(path: &Path) -> Result<Vec<Value>, CanaryError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| CanaryError::Recording {
        file: file.clone(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| CanaryError::Recording {
            file: file.clone(),
            line: i + 1,
            message: format!("not a JSON object: {e}"),
        })?;
        if !v.is_object() || v.get("kind").is_none() {
            return Err(CanaryError::Recording {
                file: file.clone(),
                line: i + 1,
                message: "expected a Kubernetes object with `kind`".into(),
            });
        }
        out.push(v);
    }
    Ok(out)
}

/// Feed `objects` in order until a new rollout finishes; `deadline` is measured in the objects'
/// own update times from the first one (our deadline, independent of Flagger's).
pub fn replay(
    objects: &[Value],
    namespace: &str,
    name: &str,
    default_provider: &str,
    deadline: Option<Duration>,
) -> Result<Timeline, CanaryError> {
    replay_until(objects, namespace, name, default_provider, deadline, Timeline::finished)
}

/// Like [`replay`], but stop as soon as `done(timeline)` holds (as the live `observe_until`).
pub fn replay_until(
    objects: &[Value],
    namespace: &str,
    name: &str,
    default_provider: &str,
    deadline: Option<Duration>,
    done: impl Fn(&Timeline) -> bool,
) -> Result<Timeline, CanaryError> {
    let mut b = TimelineBuilder::new(namespace, name, default_provider);
    let mut start = None;
    let mut finished_at = None;
    for obj in objects {
        let at = super::object_time(obj);
        if let Some(done) = finished_at {
            match at {
                Some(at) if at - done <= SETTLE => {}
                _ => return Ok(b.timeline()),
            }
        }
        if let (Some(d), Some(s), Some(at)) = (deadline, start, at)
            && at - s > d
        {
            return Err(b.timeout(d.num_seconds().max(0) as u64, None));
        }
        b.observe(obj, None)?;
        if start.is_none() {
            start = b.timeline().rows.first().map(|r| r.at);
        }
        if finished_at.is_none() {
            let t = b.timeline();
            if done(&t) {
                if !t.finished() {
                    return Ok(t);
                }
                finished_at = Some(t.last().map(|r| r.at).unwrap_or_else(chrono::Utc::now));
            }
        }
    }
    if finished_at.is_some() {
        return Ok(b.timeline());
    }
    Err(b.incomplete())
}

/// [`load`] + [`replay`].
pub fn replay_file(
    path: &Path,
    namespace: &str,
    name: &str,
    default_provider: &str,
    deadline: Option<Duration>,
) -> Result<Timeline, CanaryError> {
    replay(&load(path)?, namespace, name, default_provider, deadline)
}
