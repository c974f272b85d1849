//! The tracker: follows every component of a plan and decides the verdict (all Ready, a
//! failure that outlived Flux's retry, or our deadline), with a timeline.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Change, ComponentState, Outcome, Verdict, classify, key_of, parse_go_duration};
use crate::flux::{ObjectRef, Revision, SourceRef};
use crate::graph::Plan;

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

/// How long a failure of `obj` may last before it counts: one retry interval plus 10 s.
fn own_grace(obj: &Value) -> Option<Duration> {
    let spec = obj.get("spec")?;
    let retry = spec.get("retryInterval").or_else(|| spec.get("interval")).and_then(Value::as_str).and_then(parse_go_duration)?;
    Some(retry.max(Duration::from_secs(5)) + Duration::from_secs(10))
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

    /// When the earliest failure's grace ends (replays let the clock run to it).
    pub(super) fn next_failure_deadline(&self) -> Option<Duration> {
        self.tracks.values().filter_map(|t| t.failing_since.map(|s| s + self.grace_of(t))).min()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::blocking_dependency;

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
