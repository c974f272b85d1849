//! Flagger's part of `up`'s verdict: ready only once Flagger has initialized every Canary
//! (primary created, routing in place).

use std::time::Duration;

use serde_json::Value;

use super::UpError;
use crate::cluster::ClusterError;
use crate::flux::api;

/// Where the cluster's Canaries stand for `up`'s verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanariesState {
    /// Every Canary is Initialized (or later: Succeeded, Waiting for a change); how many.
    Ready(usize),
    /// Flagger has not initialized these yet (`ns/name (phase)`).
    Pending(Vec<String>),
    /// Flagger gave up on these (`ns/name: message`).
    Failed(Vec<String>),
}

/// Classify Canaries as the API lists them. Flagger sets `Initialized` once the primary
/// Deployment is ready and routing is in place; `Failed` before that is final.
pub fn canaries_state(items: &[Value]) -> CanariesState {
    let name = |c: &Value| {
        format!(
            "{}/{}",
            c.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""),
            c.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
        )
    };
    let phase = |c: &Value| c.pointer("/status/phase").and_then(Value::as_str).unwrap_or("").to_string();
    let failed: Vec<String> = items
        .iter()
        .filter(|c| phase(c) == "Failed")
        .map(|c| {
            let msg = c
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find_map(|x| x["message"].as_str()))
                .unwrap_or("no message");
            format!("{}: {msg}", name(c))
        })
        .collect();
    if !failed.is_empty() {
        return CanariesState::Failed(failed);
    }
    let pending: Vec<String> = items
        .iter()
        .filter(|c| !matches!(phase(c).as_str(), "Initialized" | "Succeeded" | "Waiting"))
        .map(|c| format!("{} ({})", name(c), if phase(c).is_empty() { "no status yet".to_string() } else { phase(c) }))
        .collect();
    if pending.is_empty() { CanariesState::Ready(items.len()) } else { CanariesState::Pending(pending) }
}

/// Wait until every Canary in the cluster is Initialized; a cluster without Flagger's CRD has
/// none to wait for. Other list errors (an API server still settling) are retried.
pub async fn wait_canaries_initialized(client: &kube::Client, within: Duration, log: &mut (dyn FnMut(&str) + Send)) -> Result<(), UpError> {
    use kube::api::{Api, DynamicObject};
    let canaries: Api<DynamicObject> = Api::all_with(client.clone(), &api::CANARY.api_resource());
    let deadline = tokio::time::Instant::now() + within;
    let mut announced = false;
    loop {
        let last = match canaries.list(&Default::default()).await {
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => CanariesState::Pending(vec![format!("the Canary list ({e})")]),
            Ok(list) => canaries_state(&list.items.iter().filter_map(|c| serde_json::to_value(c).ok()).collect::<Vec<_>>()),
        };
        match &last {
            CanariesState::Ready(n) => {
                if announced || *n > 0 {
                    log(&format!("flagger: {n} canaries initialized"));
                }
                return Ok(());
            }
            CanariesState::Failed(which) => {
                return Err(UpError::Cluster(ClusterError::Invalid(format!(
                    "Flagger could not initialize {}; see `kubectl describe canary -A` and Flagger's log",
                    which.join(", ")
                ))));
            }
            CanariesState::Pending(which) if !announced => {
                log(&format!("flagger: waiting for {} canaries to be initialized", which.len()));
                announced = true;
            }
            CanariesState::Pending(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            let CanariesState::Pending(which) = last else { return Ok(()) };
            return Err(UpError::Cluster(ClusterError::Timeout {
                what: format!("Flagger initializing canaries ({})", which.join(", ")),
                secs: within.as_secs(),
                hint: "check the Canaries' status and Flagger's log (`kubectl describe canary -A`)".to_string(),
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
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

    /// Ready only when Flagger has initialized every Canary; a Failed one ends the wait.
    #[test]
    fn canaries_decide_ready() {
        assert_eq!(canaries_state(&[]), CanariesState::Ready(0));
        let all = [canary("face", Some("Initialized")), canary("smiley", Some("Succeeded")), canary("color", Some("Waiting"))];
        assert_eq!(canaries_state(&all), CanariesState::Ready(3));
        let some = [canary("face", Some("Initialized")), canary("smiley", Some("Initializing")), canary("color", None)];
        assert_eq!(
            canaries_state(&some),
            CanariesState::Pending(vec!["faces/smiley (Initializing)".to_string(), "faces/color (no status yet)".to_string()])
        );
        let failed = [canary("face", Some("Initialized")), canary("smiley", Some("Failed"))];
        assert_eq!(canaries_state(&failed), CanariesState::Failed(vec!["faces/smiley: Failed message".to_string()]));
    }
}
