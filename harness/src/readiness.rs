//! Readiness of a bootstrap: the state of every Flux Kustomization and HelmRelease, followed
//! wave by wave, with the blocking dependency, failures, a timeline, and our own deadline.
//!
//! The [`Tracker`] is pure: it is fed objects (as the API returns them) with the time they were
//! seen, from live watchers ([`watch`]) or from recorded watch events ([`replay`]), so the same
//! logic is proven here on recordings and used against a live cluster.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::flux::{ObjectRef, Revision, SourceRef, api, conditions};
use crate::graph::Plan;

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

/// The key of a Kustomization/HelmRelease object.
pub fn key_of(obj: &Value) -> Option<ObjectRef> {
    ObjectRef::of(obj)
}

/// What the tracker knows of one component.
#[derive(Debug, Clone)]
pub struct Track {
    /// Current state.
    pub state: ComponentState,
    /// When it was first seen.
    pub first_seen: Option<Duration>,
    /// When it started reconciling (left Pending/Blocked).
    pub started: Option<Duration>,
    /// When it became Ready (the last time).
    pub ready_at: Option<Duration>,
    /// Since when it has been failing: set by its first failure and kept while Flux retries
    /// (a retry shows Reconciling/Progressing between failures); cleared by Ready or by a new
    /// generation of its spec.
    pub failing_since: Option<Duration>,
    /// The last failure seen (reported when the grace ends, even mid-retry).
    pub last_failure: Option<ComponentState>,
    /// The generation that was failing.
    failing_generation: Option<i64>,
    /// Its own grace: one retry interval (`spec.retryInterval`, else `spec.interval`) plus a
    /// margin, so a failure that survives Flux's retry ends the wait; capped by the tracker's.
    pub grace: Option<Duration>,
    /// Its plan wave, if it is in the plan.
    pub wave: Option<usize>,
    /// Whether it decides the verdict (in the plan, or required explicitly). Other objects on
    /// the cluster (an existing cluster's own apps) are shown but neither fail nor hold up a run.
    pub required: bool,
}

impl Track {
    fn new(wave: Option<usize>, required: bool) -> Track {
        Track {
            state: ComponentState::Pending,
            first_seen: None,
            started: None,
            ready_at: None,
            failing_since: None,
            last_failure: None,
            failing_generation: None,
            grace: None,
            wave,
            required,
        }
    }
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

/// How long a failure of `obj` may last before it counts: one retry interval plus 10 s.
fn own_grace(obj: &Value) -> Option<Duration> {
    let spec = obj.get("spec")?;
    let retry = spec.get("retryInterval").or_else(|| spec.get("interval")).and_then(Value::as_str).and_then(parse_go_duration)?;
    Some(retry.max(Duration::from_secs(5)) + Duration::from_secs(10))
}

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

/// A revision Kustomizations must have applied to count as Ready (an upgrade: Ready at the old
/// revision is not converged yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionWant {
    /// The GitRepository (`namespace`, `name`) that carries the revision; Kustomizations with
    /// another source are not held to it.
    pub source: (String, String),
    /// Branch.
    pub branch: String,
    /// Commit.
    pub sha: String,
}

impl RevisionWant {
    /// `sha` on `branch` of the bootstrap's own source, `flux-system/flux-system`.
    pub fn root(branch: &str, sha: &str) -> RevisionWant {
        RevisionWant { source: ("flux-system".into(), "flux-system".into()), branch: branch.to_string(), sha: sha.to_string() }
    }

    /// Whether `obj` (a Kustomization) builds from this source.
    fn covers(&self, obj: &Value) -> bool {
        SourceRef::of_kustomization(obj).is_some_and(|s| s.is_git_repository(&self.source.0, &self.source.1))
    }

    /// A Ready state at another revision is still converging.
    fn hold(&self, obj: &Value, state: ComponentState) -> ComponentState {
        if obj.get("kind").and_then(Value::as_str) != Some("Kustomization") || !self.covers(obj) {
            return state;
        }
        match state {
            ComponentState::Ready { revision, .. }
                if !Revision::parse(revision.as_deref().unwrap_or("")).is_commit(&self.branch, &self.sha) =>
            {
                ComponentState::Reconciling {
                    message: format!(
                        "at {}, waiting for {}@sha1:{}",
                        revision.as_deref().unwrap_or("no revision"),
                        self.branch,
                        &self.sha[..self.sha.len().min(12)]
                    ),
                }
            }
            other => other,
        }
    }
}

/// Follows components and decides the overall verdict.
#[derive(Debug, Clone)]
pub struct Tracker {
    tracks: BTreeMap<ObjectRef, Track>,
    /// How long a failure may persist before the bootstrap counts as failed (Flux retries).
    pub failure_grace: Duration,
    now: Duration,
    want: Option<RevisionWant>,
}

impl Tracker {
    /// A tracker expecting every node of `plan`.
    pub fn new(plan: &Plan) -> Tracker {
        let mut tracks = BTreeMap::new();
        for (i, wave) in plan.waves.iter().enumerate() {
            for k in wave {
                tracks.insert(k.clone(), Track::new(Some(i), true));
            }
        }
        Tracker { tracks, failure_grace: Duration::from_secs(120), now: Duration::ZERO, want: None }
    }

    /// Also require `key` (not in the plan, e.g. the root `flux-system` Kustomization that the
    /// bootstrap creates) to be Ready; its failure fails the run.
    pub fn require(mut self, key: ObjectRef) -> Tracker {
        self.tracks.entry(key).or_insert(Track::new(None, true)).required = true;
        self
    }

    /// Count Kustomizations built from `want.source` as Ready only once they applied `want`'s
    /// commit (an upgrade in place).
    pub fn at_revision(mut self, want: RevisionWant) -> Tracker {
        self.want = Some(want);
        self
    }

    /// The tracks that decide the verdict: the required ones, or all when none is required.
    fn deciding(&self) -> impl Iterator<Item = (&ObjectRef, &Track)> {
        let any_required = self.tracks.values().any(|t| t.required);
        self.tracks.iter().filter(move |(_, t)| t.required || !any_required)
    }

    /// Feed one object seen at `at`; returns the change if its state changed.
    pub fn observe(&mut self, at: Duration, obj: &Value) -> Option<Change> {
        self.now = self.now.max(at);
        let key = key_of(obj)?;
        let state = match &self.want {
            Some(w) => w.hold(obj, classify(obj)),
            None => classify(obj),
        };
        let track = self.tracks.entry(key.clone()).or_insert(Track::new(None, false));
        track.first_seen.get_or_insert(at);
        track.grace = own_grace(obj);
        let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
        if track.failing_generation.is_some() && track.failing_generation != generation {
            // A new spec is a new attempt: its failures start their own grace.
            track.failing_since = None;
            track.last_failure = None;
            track.failing_generation = None;
        }
        if matches!(state, ComponentState::Reconciling { .. } | ComponentState::Ready { .. } | ComponentState::Failed { .. }) {
            track.started.get_or_insert(at);
        }
        match &state {
            ComponentState::Ready { .. } => {
                if !matches!(track.state, ComponentState::Ready { .. }) {
                    track.ready_at = Some(at);
                }
                track.failing_since = None;
                track.last_failure = None;
                track.failing_generation = None;
            }
            ComponentState::Failed { .. } | ComponentState::Stalled { .. } => {
                track.failing_since.get_or_insert(at);
                track.last_failure = Some(state.clone());
                track.failing_generation = generation;
                track.ready_at = None;
            }
            _ => {
                // Reconciling between retries does not end a failure: keep its start.
                track.ready_at = None;
            }
        }
        if track.state == state {
            return None;
        }
        track.state = state.clone();
        Some(Change { at, key, wave: track.wave, state })
    }

    /// Advance the clock without an event (for the deadline and the failure grace).
    pub fn tick(&mut self, now: Duration) {
        self.now = self.now.max(now);
    }

    /// The verdict now.
    pub fn verdict(&self) -> Verdict {
        for (key, t) in self.deciding() {
            if let ComponentState::Stalled { .. } = t.state {
                return Verdict::Failed { key: key.clone(), state: t.state.clone() };
            }
            if let (Some(since), Some(failure)) = (t.failing_since, &t.last_failure)
                && self.now.saturating_sub(since) >= self.grace_of(t)
            {
                return Verdict::Failed { key: key.clone(), state: failure.clone() };
            }
        }
        let mut deciding = self.deciding().peekable();
        if deciding.peek().is_some() && deciding.all(|(_, t)| matches!(t.state, ComponentState::Ready { .. })) {
            Verdict::AllReady
        } else {
            Verdict::InProgress
        }
    }

    /// The grace of one track: its own, capped by the tracker's.
    fn grace_of(&self, t: &Track) -> Duration {
        t.grace.map(|g| g.min(self.failure_grace)).unwrap_or(self.failure_grace)
    }

    /// Every component's track.
    pub fn tracks(&self) -> &BTreeMap<ObjectRef, Track> {
        &self.tracks
    }

    /// Components that decide the verdict and are not Ready, with their states.
    pub fn not_ready(&self) -> Vec<(ObjectRef, ComponentState)> {
        self.deciding()
            .filter(|(_, t)| !matches!(t.state, ComponentState::Ready { .. }))
            .map(|(k, t)| (k.clone(), t.state.clone()))
            .collect()
    }

    /// The lowest plan wave that is not all Ready.
    pub fn current_wave(&self) -> Option<usize> {
        self.tracks.values().filter(|t| !matches!(t.state, ComponentState::Ready { .. })).filter_map(|t| t.wave).min()
    }

    /// Timeline rows (component, started, ready, duration), in order of readiness.
    pub fn timeline(&self) -> Vec<TimelineRow> {
        let mut rows: Vec<TimelineRow> = self
            .tracks
            .iter()
            .map(|(k, t)| TimelineRow {
                key: k.clone(),
                wave: t.wave,
                started: t.started.or(t.first_seen),
                ready: t.ready_at,
                state: t.state.label(),
            })
            .collect();
        rows.sort_by_key(|r| (r.ready.unwrap_or(Duration::MAX), r.started.unwrap_or(Duration::MAX)));
        rows
    }

    /// The outcome if it is decided now, or at the deadline.
    pub fn outcome(&self, deadline: Duration) -> Option<Outcome> {
        match self.verdict() {
            Verdict::AllReady => Some(Outcome::AllReady { elapsed: self.now }),
            Verdict::Failed { key, state } => Some(Outcome::Failed { key, state, elapsed: self.now }),
            Verdict::InProgress if self.now >= deadline => Some(Outcome::TimedOut { after: deadline, not_ready: self.not_ready() }),
            Verdict::InProgress => None,
        }
    }
}

/// One row of the timeline.
#[derive(Debug, Clone)]
pub struct TimelineRow {
    /// Component.
    pub key: ObjectRef,
    /// Plan wave.
    pub wave: Option<usize>,
    /// When it started reconciling.
    pub started: Option<Duration>,
    /// When it became Ready.
    pub ready: Option<Duration>,
    /// Final state label.
    pub state: &'static str,
}

/// Render the timeline as a table.
pub fn render_timeline(rows: &[TimelineRow]) -> String {
    let secs = |d: Option<Duration>| d.map(|d| format!("{:.0}s", d.as_secs_f64())).unwrap_or_else(|| "-".to_string());
    let mut s = format!("{:<50} {:>4} {:>8} {:>8} {:>9}\n", "component", "wave", "started", "ready", "duration");
    for r in rows {
        let duration = match (r.started, r.ready) {
            (Some(a), Some(b)) => format!("{:.0}s", b.saturating_sub(a).as_secs_f64()),
            _ => r.state.to_string(),
        };
        s.push_str(&format!(
            "{:<50} {:>4} {:>8} {:>8} {:>9}\n",
            r.key.to_string(),
            r.wave.map(|w| w.to_string()).unwrap_or_else(|| "-".into()),
            secs(r.started),
            secs(r.ready),
            duration
        ));
    }
    s
}

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
    let fail_at = tracker.tracks.values().filter_map(|t| t.failing_since.map(|s| s + tracker.grace_of(t))).min();
    tracker.tick(fail_at.map(|f| f.min(deadline)).unwrap_or(deadline));
    if let Some(o) = tracker.outcome(deadline) {
        return (o, tracker);
    }
    tracker.tick(deadline);
    let o = tracker.outcome(deadline).unwrap_or(Outcome::TimedOut { after: deadline, not_ready: tracker.not_ready() });
    (o, tracker)
}

/// Watch the live cluster's Kustomizations and HelmReleases (all namespaces) until the plan is
/// Ready, a component fails, or `deadline` passes. Event-driven: no polling.
pub async fn watch(
    client: kube::Client,
    plan: &Plan,
    deadline: Duration,
    on_change: impl FnMut(&Change, &Tracker),
) -> Result<(Outcome, Tracker), ReadinessError> {
    watch_with(client, Tracker::new(plan), deadline, on_change).await
}

/// [`watch`] into a prepared tracker (e.g. with [`Tracker::require`]d components).
pub async fn watch_with(
    client: kube::Client,
    mut tracker: Tracker,
    deadline: Duration,
    mut on_change: impl FnMut(&Change, &Tracker),
) -> Result<(Outcome, Tracker), ReadinessError> {
    use futures::StreamExt;
    use kube::api::{Api, ApiResource, DynamicObject};
    use kube::runtime::{WatchStreamExt, watcher};

    let ks = api::KUSTOMIZATION.api_resource();
    let hr = api::HELM_RELEASE.api_resource();
    let stream_of = |ar: &ApiResource, idx: usize| {
        let watched: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        let ar = ar.clone();
        watcher(watched, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .map(move |r| (idx, r.map(|o| api::to_value(&o, &ar))))
    };
    let mut merged = futures::stream::select(stream_of(&ks, 0).boxed(), stream_of(&hr, 1).boxed());
    let start = tokio::time::Instant::now();
    // Wake up at least every few seconds so the failure grace and the deadline are honoured
    // even when nothing changes.
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    // Watch errors are usually transient (API server restart, expired resourceVersion, a CRD
    // not yet established right after the Flux install): the watcher re-lists after its
    // backoff, so keep going and let our deadline decide. Only an error that is still the
    // latest news of its stream when the deadline passes is reported: then the states are stale.
    let mut last_error: [Option<kube::runtime::watcher::Error>; 2] = [None, None];
    loop {
        tokio::select! {
            item = merged.next() => {
                let Some((idx, item)) = item else { break };
                match item {
                    Ok(obj) => {
                        last_error[idx] = None;
                        if let Some(change) = tracker.observe(start.elapsed(), &obj) {
                            on_change(&change, &tracker);
                        }
                    }
                    Err(e) => {
                        tracing::warn!("watching Flux Kustomizations and HelmReleases: {e} (retrying)");
                        last_error[idx] = Some(e);
                    }
                }
            }
            _ = ticker.tick() => tracker.tick(start.elapsed()),
        }
        if let Some(o) = tracker.outcome(deadline) {
            return finish(o, tracker, last_error);
        }
    }
    tracker.tick(start.elapsed().max(deadline));
    let outcome = tracker.outcome(deadline).unwrap_or(Outcome::TimedOut { after: deadline, not_ready: tracker.not_ready() });
    finish(outcome, tracker, last_error)
}

/// A timeout while the watch was failing is the watch's error, not a verdict on the components.
fn finish(
    outcome: Outcome,
    tracker: Tracker,
    last_error: [Option<kube::runtime::watcher::Error>; 2],
) -> Result<(Outcome, Tracker), ReadinessError> {
    match (outcome, last_error.into_iter().flatten().next()) {
        (Outcome::TimedOut { .. }, Some(source)) => {
            Err(ReadinessError::Watch { what: "Flux Kustomizations and HelmReleases".to_string(), source })
        }
        (outcome, _) => Ok((outcome, tracker)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_dependency_from_message() {
        assert_eq!(blocking_dependency("dependency 'flux-system/linkerd' is not ready").as_deref(), Some("flux-system/linkerd"));
        assert_eq!(blocking_dependency("something else"), None);
    }

    #[test]
    fn at_revision_holds_kustomizations_of_that_source_until_they_applied_it() {
        let want = RevisionWant::root("main", "abc123");
        let plan = Plan::default();
        let mut t = Tracker::new(&plan).require(ObjectRef::of_kind("Kustomization", Some("flux-system"), "apps")).at_revision(want);
        let ks = |rev: &str, source: &str| {
            serde_json::json!({"kind":"Kustomization","metadata":{"name":"apps","namespace":"flux-system","generation":1},
            "spec":{"sourceRef":{"kind":"GitRepository","name":source}},
            "status":{"observedGeneration":1,"lastAppliedRevision":rev,"conditions":[{"type":"Ready","status":"True","reason":"ReconciliationSucceeded","message":"ok"}]}})
        };
        t.observe(Duration::from_secs(1), &ks("main@sha1:old", "flux-system"));
        assert!(matches!(t.verdict(), Verdict::InProgress));
        let held = &t.tracks()[&ObjectRef::of_kind("Kustomization", Some("flux-system"), "apps")].state;
        assert!(held.detail().contains("waiting for main@sha1:abc123"), "{held:?}");
        t.observe(Duration::from_secs(2), &ks("main@sha1:abc123", "flux-system"));
        assert!(matches!(t.verdict(), Verdict::AllReady));
        // Another source is not held to the revision.
        assert!(matches!(
            RevisionWant::root("main", "abc").hold(
                &ks("main@sha1:old", "podinfo"),
                ComponentState::Ready { revision: Some("main@sha1:old".into()), message: String::new() }
            ),
            ComponentState::Ready { .. }
        ));
    }

    #[test]
    fn ready_needs_the_current_generation() {
        let obj = serde_json::json!({"kind":"Kustomization","metadata":{"name":"a","namespace":"flux-system","generation":2},
            "status":{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"ReconciliationSucceeded","message":"ok"}]}});
        assert!(matches!(classify(&obj), ComponentState::Reconciling { .. }));
    }

    fn ks(generation: i64, status: &str, reason: &str, message: &str) -> Value {
        serde_json::json!({"kind":"Kustomization","metadata":{"name":"app","namespace":"flux-system","generation":generation},
            "spec":{"interval":"10m","retryInterval":"20s"},
            "status":{"observedGeneration":generation,"conditions":[{"type":"Ready","status":status,"reason":reason,"message":message}]}})
    }

    fn tracker() -> Tracker {
        Tracker { tracks: BTreeMap::new(), failure_grace: Duration::from_secs(120), now: Duration::ZERO, want: None }
            .require(ObjectRef::of_kind("Kustomization", Some("flux-system"), "app"))
    }

    /// Flux retries a failure: Failed, then Progressing while it runs again, then Failed. The
    /// grace runs from the first failure (it used to restart at each retry, so a failure only
    /// ended at the global deadline).
    #[test]
    fn failure_grace_survives_retries() {
        let mut t = tracker();
        t.observe(Duration::from_secs(1), &ks(1, "False", "HealthCheckFailed", "timeout waiting for: [Deployment/x]"));
        t.observe(Duration::from_secs(21), &ks(1, "Unknown", "Progressing", "Running health checks"));
        t.tick(Duration::from_secs(25));
        assert!(matches!(t.verdict(), Verdict::InProgress));
        // retryInterval 20s + 10s: the failure is confirmed at 31s even though Flux is mid-retry.
        t.tick(Duration::from_secs(31));
        match t.verdict() {
            Verdict::Failed { state: ComponentState::Failed { reason, message }, .. } => {
                assert_eq!(reason, "HealthCheckFailed");
                assert!(message.contains("timeout waiting for"));
            }
            v => panic!("expected the failure after its own grace, got {v:?}"),
        }
    }

    #[test]
    fn ready_or_a_new_generation_clears_a_failure() {
        let mut t = tracker();
        t.observe(Duration::from_secs(1), &ks(1, "False", "BuildFailed", "kustomization path not found"));
        t.observe(Duration::from_secs(5), &ks(2, "Unknown", "Progressing", "new spec"));
        t.tick(Duration::from_secs(100));
        assert!(matches!(t.verdict(), Verdict::InProgress), "a new generation starts over");
        t.observe(Duration::from_secs(101), &ks(2, "True", "ReconciliationSucceeded", "Applied revision"));
        assert!(matches!(t.verdict(), Verdict::AllReady));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("10x"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
