//! Flagger's part of `up`'s verdict: ready only once Flagger has initialized every Canary
//! (primary created, routing in place). A Canary Flagger keeps saying it cannot initialize (its
//! target does not exist, lacks the selector labels Flagger accepts, …) ends the wait with
//! Flagger's own words after a few of its analysis ticks, not at the global deadline.

use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use serde_json::Value;

use crate::flagger::canary::live::canary_events;
use crate::flux::{ObjectRef, api, conditions};

/// How many times Flagger must repeat the same warning about a Canary it has not initialized
/// before the wait ends (Flagger says it once per analysis tick).
pub const STUCK_REPEATS: i32 = 3;

/// Where the cluster's Canaries stand for `up`'s verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanariesState {
    /// Every Canary is Initialized (or later: Succeeded, Waiting for a change); how many.
    Ready(usize),
    /// Flagger has not initialized these yet, with their phase (`""`: no status yet).
    Pending(Vec<(ObjectRef, String)>),
    /// Flagger gave up on these, with its message.
    Failed(Vec<(ObjectRef, String)>),
}

/// Classify Canaries as the API lists them. Flagger sets `Initialized` once the primary
/// Deployment is ready and routing is in place; `Failed` before that is final.
pub fn canaries_state(items: &[Value]) -> CanariesState {
    let key = |c: &Value| {
        ObjectRef::of_kind(
            "Canary",
            c.pointer("/metadata/namespace").and_then(Value::as_str),
            c.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""),
        )
    };
    let phase = |c: &Value| c.pointer("/status/phase").and_then(Value::as_str).unwrap_or("").to_string();
    let failed: Vec<(ObjectRef, String)> = items
        .iter()
        .filter(|c| phase(c) == "Failed")
        .map(|c| {
            let msg = conditions::all(c).map(|x| x.message).find(|m| !m.is_empty()).unwrap_or("no message");
            (key(c), msg.to_string())
        })
        .collect();
    if !failed.is_empty() {
        return CanariesState::Failed(failed);
    }
    let pending: Vec<(ObjectRef, String)> = items
        .iter()
        .filter(|c| !matches!(phase(c).as_str(), "Initialized" | "Succeeded" | "Waiting"))
        .map(|c| (key(c), phase(c)))
        .collect();
    if pending.is_empty() { CanariesState::Ready(items.len()) } else { CanariesState::Pending(pending) }
}

/// How a wait for Canaries failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// Flagger set them `Failed`.
    Failed,
    /// Flagger kept warning about them without initializing them.
    Stuck,
    /// They were still not initialized when the wait's time ran out.
    TimedOut(Duration),
}

/// Canaries Flagger did not initialize, each with Flagger's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CanaryFailure {
    /// Which Canaries, with Flagger's last warning (or their phase).
    pub canaries: Vec<(ObjectRef, String)>,
    /// How the wait ended.
    pub kind: FailureKind,
}

impl std::fmt::Display for CanaryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            FailureKind::Failed => write!(f, "Flagger gave up on {} Canary(ies):", self.canaries.len())?,
            FailureKind::Stuck => {
                write!(f, "Flagger cannot initialize {} Canary(ies) (it said so {STUCK_REPEATS} times):", self.canaries.len())?
            }
            FailureKind::TimedOut(d) => {
                write!(f, "Flagger did not initialize {} Canary(ies) within {}s:", self.canaries.len(), d.as_secs())?
            }
        }
        for (k, why) in &self.canaries {
            write!(f, "\n  {k}: {why}")?;
        }
        write!(f, "\nsee `kubectl describe canary -A` and Flagger's log")
    }
}

/// How many times an event was said (aggregated events carry a count or a series).
fn repeats(e: &Event) -> i32 {
    e.series.as_ref().and_then(|s| s.count).unwrap_or(0).max(e.count.unwrap_or(1))
}

/// Flagger's newest warning about a Canary, with how often it said it.
pub fn last_warning(events: &[Event]) -> Option<(String, i32)> {
    let e = events.iter().rev().find(|e| e.type_.as_deref() == Some("Warning"))?;
    Some((e.message.clone().unwrap_or_default(), repeats(e)))
}

/// Wait until every Canary in the cluster is Initialized; a cluster without Flagger's CRD has
/// none to wait for. Other list errors (an API server still settling) are retried.
pub async fn wait_canaries_initialized(
    client: &kube::Client,
    within: Duration,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(), CanaryFailure> {
    use kube::api::{Api, DynamicObject};
    let canaries: Api<DynamicObject> = Api::all_with(client.clone(), &api::CANARY.api_resource());
    let deadline = tokio::time::Instant::now() + within;
    let mut announced = false;
    loop {
        let state = match canaries.list(&Default::default()).await {
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => CanariesState::Pending(vec![(ObjectRef::of_kind("Canary", None, "*"), format!("the Canary list ({e})"))]),
            Ok(list) => canaries_state(&list.items.iter().filter_map(|c| serde_json::to_value(c).ok()).collect::<Vec<_>>()),
        };
        let pending = match state {
            CanariesState::Ready(n) => {
                if announced || n > 0 {
                    log(&format!("flagger: {n} canaries initialized"));
                }
                return Ok(());
            }
            CanariesState::Failed(which) => return Err(CanaryFailure { canaries: which, kind: FailureKind::Failed }),
            CanariesState::Pending(which) => which,
        };
        if !announced {
            log(&format!("flagger: waiting for {} canaries to be initialized", pending.len()));
            announced = true;
        }
        // What Flagger says about each: a warning it keeps repeating is its verdict.
        let mut said = Vec::new();
        for (key, phase) in &pending {
            let warning = match &key.namespace {
                Some(ns) => canary_events(client, ns, &key.name).await.ok().and_then(|e| last_warning(&e)),
                None => None,
            };
            said.push((key.clone(), phase.clone(), warning));
        }
        let stuck: Vec<(ObjectRef, String)> = said
            .iter()
            .filter_map(|(k, _, w)| w.as_ref().filter(|(_, n)| *n >= STUCK_REPEATS).map(|(m, _)| (k.clone(), m.clone())))
            .collect();
        if !stuck.is_empty() {
            return Err(CanaryFailure { canaries: stuck, kind: FailureKind::Stuck });
        }
        if tokio::time::Instant::now() >= deadline {
            let canaries = said
                .into_iter()
                .map(|(k, phase, w)| {
                    let phase = if phase.is_empty() { "no status yet".to_string() } else { phase };
                    (k, w.map(|(m, _)| format!("{phase}; Flagger: {m}")).unwrap_or(phase))
                })
                .collect();
            return Err(CanaryFailure { canaries, kind: FailureKind::TimedOut(within) });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canary(name: &str, phase: Option<&str>) -> Value {
        let mut c = json!({"metadata": {"namespace": "faces", "name": name}});
        if let Some(p) = phase {
            c["status"] = json!({"phase": p, "conditions": [{"type": "Promoted", "status": "Unknown", "message": format!("{p} message")}]});
        }
        c
    }

    fn key(name: &str) -> ObjectRef {
        ObjectRef::of_kind("Canary", Some("faces"), name)
    }

    /// Ready only when Flagger has initialized every Canary; a Failed one ends the wait.
    #[test]
    fn canaries_decide_ready() {
        assert_eq!(canaries_state(&[]), CanariesState::Ready(0));
        let all = [canary("face", Some("Initialized")), canary("smiley", Some("Succeeded")), canary("color", Some("Waiting"))];
        assert_eq!(canaries_state(&all), CanariesState::Ready(3));
        let some = [canary("face", Some("Initialized")), canary("smiley", Some("Initializing")), canary("color", None)];
        assert_eq!(
            canaries_state(&some),
            CanariesState::Pending(vec![(key("smiley"), "Initializing".into()), (key("color"), String::new())])
        );
        let failed = [canary("face", Some("Initialized")), canary("smiley", Some("Failed"))];
        assert_eq!(canaries_state(&failed), CanariesState::Failed(vec![(key("smiley"), "Failed message".to_string())]));
    }

    /// Flagger's words: the newest warning and how often it was said.
    #[test]
    fn the_newest_warning_and_its_repeats() {
        let ev = |type_: &str, msg: &str, count: i32| Event {
            type_: Some(type_.into()),
            message: Some(msg.into()),
            count: Some(count),
            ..Default::default()
        };
        let events =
            [ev("Warning", "old", 9), ev("Normal", "Initialization done", 1), ev("Warning", "deployments.apps \"x\" not found", 4)];
        assert_eq!(last_warning(&events), Some(("deployments.apps \"x\" not found".to_string(), 4)));
        assert_eq!(last_warning(&[ev("Normal", "ok", 1)]), None);
        let f = CanaryFailure { canaries: vec![(key("x"), "deployments.apps \"x\" not found".into())], kind: FailureKind::Stuck };
        assert!(f.to_string().contains("Canary faces/x: deployments.apps \"x\" not found"), "{f}");
    }
}
