//! The canaries of an upgrade, each judged: one whose target changed rolls out and must be
//! promoted, one the upgrade adds must be initialized, one it removes is noted; a failure names
//! Flagger's own halt reasons.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::UpgradeError;
use super::snapshot::{self, CanaryState, Snapshot};
use super::verdict::{CanaryChange, CanaryOutcome};
use crate::up::canaries::{STUCK_REPEATS, last_warning};

/// Flagger's words on a Canary: the distinct reasons it halted advancement or rolled back, in
/// order (`Halt face.faces advancement success rate 50.00% < 99%`), else its last warning.
async fn flagger_reasons(client: &kube::Client, key: &str) -> Option<String> {
    let (ns, name) = key.split_once('/')?;
    let events = crate::flagger::canary::live::canary_events(client, ns, name).await.ok()?;
    let mut halts: Vec<String> = Vec::new();
    for e in events.iter().filter(|e| e.type_.as_deref() == Some("Warning")) {
        let m = e.message.clone().unwrap_or_default();
        if (m.starts_with("Halt ") || m.starts_with("Rolling back ")) && !halts.contains(&m) {
            halts.push(m);
        }
    }
    if halts.is_empty() { last_warning(&events).map(|(m, _)| m) } else { Some(halts.join("; ")) }
}

/// How a Canary took part in the upgrade.
fn change_of(before: &Snapshot, now: &BTreeMap<String, CanaryState>, templates: &Snapshot, key: &str) -> CanaryChange {
    let (Some(b), Some(c)) = (before.canaries.get(key), now.get(key)) else {
        return if before.canaries.contains_key(key) { CanaryChange::Removed } else { CanaryChange::Added };
    };
    let target_changed = match (before.workloads.get(&b.target), templates.workloads.get(&b.target)) {
        (Some(x), Some(y)) => x.template != y.template,
        _ => false,
    };
    let active = !matches!(c.phase.as_str(), "Initialized" | "Succeeded" | "Failed" | "");
    if target_changed || active || c.last_applied_spec != b.last_applied_spec { CanaryChange::Changed } else { CanaryChange::Unchanged }
}

/// Whether a Canary's part in the upgrade is over, and how.
fn ended(change: CanaryChange, before: Option<&CanaryState>, c: &CanaryState) -> bool {
    match change {
        // A rollout ends Succeeded (a new spec promoted) or Failed.
        CanaryChange::Changed => {
            matches!(c.phase.as_str(), "Succeeded" | "Failed")
                && (before.is_none_or(|b| c.last_applied_spec != b.last_applied_spec) || c.phase == "Failed")
        }
        // A new Canary is initialized (primary created, routing in place) or fails.
        CanaryChange::Added => matches!(c.phase.as_str(), "Initialized" | "Succeeded" | "Failed"),
        CanaryChange::Unchanged | CanaryChange::Removed => true,
    }
}

/// Wait for every Canary of the target to settle: those whose target changed (or whose spec
/// Flagger tracks changed) until they are promoted or fail, those the upgrade added until
/// Flagger initialized them or keeps warning about them. Flagger notices a change within an
/// analysis interval, so the wait lasts at least two of them.
pub(super) async fn settle(
    client: &kube::Client,
    before: &Snapshot,
    started: tokio::time::Instant,
    timeout: Duration,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<CanaryOutcome>, UpgradeError> {
    let begin = tokio::time::Instant::now();
    let mut changes: BTreeMap<String, CanaryChange> = BTreeMap::new();
    let mut done: BTreeMap<String, u64> = BTreeMap::new();
    let mut stuck: BTreeMap<String, String> = BTreeMap::new();
    let mut announced = BTreeSet::new();
    loop {
        let after = snapshot::take(client, &BTreeMap::new()).await?;
        if before.canaries.is_empty() && after.canaries.is_empty() {
            return Ok(Vec::new());
        }
        let interval = after.canaries.values().chain(before.canaries.values()).map(|c| c.interval_s).max().unwrap_or(60);
        let notice = Duration::from_secs(interval * 2 + 5);
        let keys: BTreeSet<&String> = before.canaries.keys().chain(after.canaries.keys()).collect();
        for key in keys {
            // Once changed or added, always so (a rollout ends back at Succeeded).
            let change = match (changes.get(key), change_of(before, &after.canaries, &after, key)) {
                (Some(CanaryChange::Changed | CanaryChange::Added), _) => changes[key],
                (_, c) => c,
            };
            changes.insert(key.clone(), change);
            let Some(c) = after.canaries.get(key) else { continue };
            if ended(change, before.canaries.get(key), c) {
                if matches!(change, CanaryChange::Changed | CanaryChange::Added) && !done.contains_key(key) {
                    done.insert(key.clone(), started.elapsed().as_secs());
                    log(&format!("flagger: {key} {}", c.phase));
                }
                continue;
            }
            if matches!(change, CanaryChange::Changed | CanaryChange::Added) && announced.insert(key.clone()) {
                let what = if change == CanaryChange::Added { "initializing the new canary" } else { "rolling out the change" };
                log(&format!("flagger: {key} is {what}"));
            }
            // A new Canary Flagger keeps warning about will not initialize: end it with its words.
            if change == CanaryChange::Added
                && let Some((ns, name)) = key.split_once('/')
                && let Ok(events) = crate::flagger::canary::live::canary_events(client, ns, name).await
                && let Some((m, n)) = last_warning(&events)
                && n >= STUCK_REPEATS
            {
                stuck.insert(key.clone(), m);
                done.entry(key.clone()).or_insert(started.elapsed().as_secs());
            }
        }
        let waiting = changes
            .iter()
            .filter(|(k, c)| {
                matches!(c, CanaryChange::Changed | CanaryChange::Added) && !done.contains_key(*k) && after.canaries.contains_key(*k)
            })
            .count();
        let timed_out = begin.elapsed() >= timeout;
        if (waiting == 0 && begin.elapsed() >= notice) || timed_out {
            let mut out = Vec::new();
            for (key, change) in &changes {
                let phase = after.canaries.get(key).map(|c| c.phase.clone()).unwrap_or_default();
                let ok = match change {
                    CanaryChange::Changed => phase == "Succeeded",
                    CanaryChange::Added => matches!(phase.as_str(), "Initialized" | "Succeeded") && !stuck.contains_key(key),
                    CanaryChange::Unchanged | CanaryChange::Removed => true,
                };
                let mut reason = None;
                if !ok {
                    reason = match stuck.get(key) {
                        Some(m) => Some(format!("Flagger cannot initialize it (said {STUCK_REPEATS} times): {m}")),
                        None => flagger_reasons(client, key).await,
                    };
                    if timed_out && !done.contains_key(key) {
                        reason = Some(format!(
                            "still {} after {}s{}",
                            if phase.is_empty() { "without status" } else { &phase },
                            timeout.as_secs(),
                            reason.map(|r| format!("; Flagger: {r}")).unwrap_or_default()
                        ));
                    }
                }
                out.push(CanaryOutcome {
                    canary: key.clone(),
                    phase,
                    change: *change,
                    triggered: matches!(change, CanaryChange::Changed | CanaryChange::Added),
                    passed: ok,
                    reason,
                    took_s: done.get(key).copied(),
                });
            }
            return Ok(out);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
