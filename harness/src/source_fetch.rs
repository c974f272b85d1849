//! The cluster's first fetch of the served repo: `up` waits for the `flux-system`
//! GitRepository's verdict on the current spec before it watches anything else, so a cluster
//! that cannot reach the harness git server fails at once with source-controller's own clone
//! error instead of after the root Kustomization's retry grace.
//!
//! source-controller reports a failed clone as `Ready=False` (and `FetchFailed=True`) with
//! reason `GitOperationFailed`, and a fetched revision as `Ready=True` with `status.artifact`.

use std::time::Duration;

use serde_json::Value;

/// Where the first fetch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchState {
    /// No verdict on the current spec yet (controller starting, status from an older spec).
    Pending,
    /// Fetched this revision.
    Fetched(String),
    /// The clone failed; source-controller's message.
    CannotClone(String),
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?.as_array()?.iter().find(|c| c["type"] == type_)
}

/// Classify a GitRepository as the API returns it.
pub fn classify(obj: &Value) -> FetchState {
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    let observed = obj.pointer("/status/observedGeneration").and_then(Value::as_i64);
    // A status written for an older spec (e.g. the previous run's URL on `up --reuse`) says
    // nothing about this one.
    if generation.is_some() && observed != generation {
        return FetchState::Pending;
    }
    let failed =
        |c: Option<&Value>| c.filter(|c| c["reason"] == "GitOperationFailed").and_then(|c| c["message"].as_str().map(str::to_string));
    let ready = condition(obj, "Ready");
    match ready.and_then(|c| c["status"].as_str()) {
        Some("True") => FetchState::Fetched(obj.pointer("/status/artifact/revision").and_then(Value::as_str).unwrap_or("").to_string()),
        Some("False") => match failed(ready).or_else(|| failed(condition(obj, "FetchFailed").filter(|c| c["status"] == "True"))) {
            Some(message) => FetchState::CannotClone(message),
            None => FetchState::Pending,
        },
        _ => FetchState::Pending,
    }
}

/// Poll `flux-system/flux-system` until it has fetched or failed to clone, or `within` passes
/// (then [`FetchState::Pending`]: the readiness watch reports what is stuck).
pub async fn wait_first_fetch(client: &kube::Client, within: Duration) -> FetchState {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"), "gitrepositories");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &ar);
    let deadline = tokio::time::Instant::now() + within;
    loop {
        // A failed read (API server busy right after the Flux install) is retried like a pending state.
        if let Ok(obj) = api.get("flux-system").await
            && let Ok(v) = serde_json::to_value(&obj)
        {
            let state = classify(&v);
            if state != FetchState::Pending {
                return state;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return FetchState::Pending;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repo(generation: i64, observed: i64, conditions: Value, artifact: Option<&str>) -> Value {
        let mut v = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system", "generation": generation},
            "status": {"observedGeneration": observed, "conditions": conditions}});
        if let Some(rev) = artifact {
            v["status"]["artifact"] = json!({"revision": rev});
        }
        v
    }

    #[test]
    fn clone_failure_is_a_verdict_at_once() {
        let msg = "failed to checkout and determine revision: unable to clone 'http://172.18.0.1:40123/repo.git': dial tcp 172.18.0.1:40123: connect: connection refused";
        let obj = repo(
            1,
            1,
            json!([
                {"type": "Reconciling", "status": "True", "reason": "ProgressingWithRetry", "message": "building artifact"},
                {"type": "Ready", "status": "False", "reason": "GitOperationFailed", "message": msg},
                {"type": "FetchFailed", "status": "True", "reason": "GitOperationFailed", "message": msg}
            ]),
            None,
        );
        assert_eq!(classify(&obj), FetchState::CannotClone(msg.to_string()));
        // Ready still Unknown while retrying, the fetch failure already recorded.
        let retrying = repo(
            1,
            1,
            json!([{"type": "Ready", "status": "False", "reason": "Progressing", "message": "x"},
            {"type": "FetchFailed", "status": "True", "reason": "GitOperationFailed", "message": msg}]),
            None,
        );
        assert_eq!(classify(&retrying), FetchState::CannotClone(msg.to_string()));
    }

    #[test]
    fn fetched_pending_and_stale() {
        let ok = repo(
            2,
            2,
            json!([{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored artifact"}]),
            Some("main@sha1:0123"),
        );
        assert_eq!(classify(&ok), FetchState::Fetched("main@sha1:0123".into()));
        // The previous run's verdict (older generation) is not this run's.
        let stale = repo(
            3,
            2,
            json!([{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored artifact"}]),
            Some("main@sha1:0123"),
        );
        assert_eq!(classify(&stale), FetchState::Pending);
        let starting = json!({"metadata": {"generation": 1}});
        assert_eq!(classify(&starting), FetchState::Pending);
        let other = repo(1, 1, json!([{"type": "Ready", "status": "False", "reason": "StorageOperationFailed", "message": "disk"}]), None);
        assert_eq!(classify(&other), FetchState::Pending, "only clone failures end the wait early");
    }
}
