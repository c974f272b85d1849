//! The canaries an upgrade triggers: which ones, and how each ended, with Flagger's own words.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::UpgradeError;
use super::snapshot::{self, Snapshot};
use super::verdict::CanaryOutcome;

/// Flagger's last word on a Canary: its newest event.
async fn flagger_reason(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let events = crate::flagger::canary::live::canary_events(client, ns, name).await.ok()?;
    // The halt reason is a Warning; otherwise the last word.
    let pick = events.iter().rev().find(|e| e.type_.as_deref() == Some("Warning")).or(events.last())?;
    pick.message.clone()
}

/// Wait for the canaries the upgrade triggered to end. A canary is triggered when its target's
/// pod template changed or Flagger starts analysing it (a changed ConfigMap or Secret it tracks);
/// Flagger notices within an analysis interval, so the wait lasts at least two of them.
pub(super) async fn settle(
    client: &kube::Client,
    before: &Snapshot,
    started: tokio::time::Instant,
    timeout: Duration,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<CanaryOutcome>, UpgradeError> {
    if before.canaries.is_empty() {
        return Ok(Vec::new());
    }
    let notice = Duration::from_secs(before.canaries.values().map(|c| c.interval_s).max().unwrap_or(60) * 2 + 5);
    let begin = tokio::time::Instant::now();
    let mut triggered: BTreeSet<String> = BTreeSet::new();
    let mut ended: BTreeMap<String, u64> = BTreeMap::new();
    let mut announced = BTreeSet::new();
    loop {
        let Snapshot { canaries: now, workloads: templates, .. } = snapshot::take(client, &BTreeMap::new()).await?;
        for (key, c) in &now {
            let Some(b) = before.canaries.get(key) else { continue };
            let target_changed = match (before.workloads.get(&b.target), templates.get(&b.target)) {
                (Some(x), Some(y)) => x.template != y.template,
                _ => false,
            };
            let active = !matches!(c.phase.as_str(), "Initialized" | "Succeeded" | "Failed" | "");
            if target_changed || active || c.last_applied_spec != b.last_applied_spec {
                triggered.insert(key.clone());
            }
            let done =
                matches!(c.phase.as_str(), "Succeeded" | "Failed") && (c.last_applied_spec != b.last_applied_spec || c.phase == "Failed");
            if triggered.contains(key) && done && !ended.contains_key(key) {
                ended.insert(key.clone(), started.elapsed().as_secs());
                log(&format!("flagger: {key} {}", c.phase));
            } else if triggered.contains(key) && announced.insert(key.clone()) {
                log(&format!("flagger: {key} is rolling out the change"));
            }
        }
        let waiting: Vec<&String> = triggered.iter().filter(|k| !ended.contains_key(*k)).collect();
        let timed_out = begin.elapsed() >= timeout;
        if (waiting.is_empty() && begin.elapsed() >= notice) || timed_out {
            let mut out = Vec::new();
            for (key, c) in &now {
                let is_triggered = triggered.contains(key);
                let (ns, name) = key.split_once('/').unwrap_or(("", key));
                let mut reason = None;
                if is_triggered && c.phase != "Succeeded" {
                    reason = flagger_reason(client, ns, name).await;
                    if timed_out && !ended.contains_key(key) {
                        reason = Some(format!(
                            "still {} after {}s{}",
                            c.phase,
                            timeout.as_secs(),
                            reason.map(|r| format!("; last event: {r}")).unwrap_or_default()
                        ));
                    }
                }
                out.push(CanaryOutcome {
                    canary: key.clone(),
                    phase: c.phase.clone(),
                    triggered: is_triggered,
                    reason,
                    took_s: ended.get(key).copied(),
                });
            }
            return Ok(out);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
