//! Availability during an upgrade: no Deployment may have fewer ready replicas than its rollout
//! strategy allows (`replicas - maxUnavailable`, resolved the way the Deployment controller
//! does), and, where requests can travel (Docker tier), an HTTP probe through the ingress.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;
use kube::api::{Api, ListParams};
use serde::Serialize;
use tokio::sync::watch;

/// Resolve `maxUnavailable` for `replicas` as the Deployment controller does: percentages of
/// maxUnavailable round down, of maxSurge up, and when both come to 0 one pod may be unavailable.
/// `Recreate` takes every pod down.
pub fn max_unavailable(d: &Deployment) -> i64 {
    let spec = d.spec.as_ref();
    let replicas = i64::from(spec.and_then(|s| s.replicas).unwrap_or(1));
    let strategy = spec.and_then(|s| s.strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return replicas;
    }
    let ru = strategy.and_then(|s| s.rolling_update.as_ref());
    // Unset is 25%, like the API server's default.
    let resolve = |v: Option<&IntOrString>, round_up: bool| {
        let pct = match v {
            Some(IntOrString::Int(i)) => return i64::from(*i),
            Some(IntOrString::String(s)) => s.trim_end_matches('%').parse::<i64>().unwrap_or(25),
            None => 25,
        };
        if round_up { (replicas * pct + 99) / 100 } else { replicas * pct / 100 }
    };
    let unavailable = resolve(ru.and_then(|r| r.max_unavailable.as_ref()), false);
    let surge = resolve(ru.and_then(|r| r.max_surge.as_ref()), true);
    if unavailable == 0 && surge == 0 { 1 } else { unavailable }
}

/// A Deployment that went below what its strategy allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dip {
    /// `ns/name`.
    pub deployment: String,
    /// Ready replicas it must keep.
    pub required: i64,
    /// The fewest ready seen.
    pub lowest_ready: i64,
    /// Seconds (since the upgrade started) when it first went below.
    pub from_s: u64,
    /// Seconds when it was last seen below.
    pub until_s: u64,
}

/// Follows Deployments sample by sample.
#[derive(Debug, Default)]
pub struct AvailabilityTracker {
    /// Ready count when last fully available, per Deployment: a Deployment only counts once it
    /// was fully available during the upgrade (one created or scaled up by it, like a canary
    /// Flagger scales from zero, is not held to a count it never had).
    available_at: BTreeMap<String, i64>,
    open: BTreeMap<String, Dip>,
    closed: Vec<Dip>,
    /// Samples taken.
    pub samples: u64,
}

impl AvailabilityTracker {
    /// Feed one listing of Deployments, taken `at` after the start.
    pub fn observe(&mut self, at: Duration, deployments: &[Deployment]) {
        self.samples += 1;
        for d in deployments {
            let (Some(ns), Some(name)) = (&d.metadata.namespace, &d.metadata.name) else { continue };
            let key = format!("{ns}/{name}");
            let replicas = i64::from(d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1));
            let ready = i64::from(d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0));
            if replicas > 0 && ready >= replicas {
                self.available_at.insert(key.clone(), replicas);
            }
            let Some(had) = self.available_at.get(&key).copied() else { continue };
            // Scaling down on purpose (Flagger parks a canary at zero) lowers what must be kept.
            let required = (replicas.min(had) - max_unavailable(d)).max(0);
            if ready < required {
                let dip = self.open.entry(key.clone()).or_insert(Dip {
                    deployment: key.clone(),
                    required,
                    lowest_ready: ready,
                    from_s: at.as_secs(),
                    until_s: at.as_secs(),
                });
                dip.lowest_ready = dip.lowest_ready.min(ready);
                dip.until_s = at.as_secs();
            } else if let Some(dip) = self.open.remove(&key) {
                self.closed.push(dip);
            }
        }
    }

    /// Every dip seen, closed or still open.
    pub fn dips(&self) -> Vec<Dip> {
        let mut all = self.closed.clone();
        all.extend(self.open.values().cloned());
        all.sort_by_key(|d| (d.from_s, d.deployment.clone()));
        all
    }
}

/// The HTTP probe's tally (Docker tier).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeTally {
    /// URL probed.
    pub url: String,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed (no answer or a 5xx).
    pub errors: u64,
    /// Longest run without a good answer, in milliseconds.
    pub longest_gap_ms: u64,
}

/// What the monitor saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AvailabilityReport {
    /// Samples of the Deployments.
    pub samples: u64,
    /// Deployments below their strategy's floor.
    pub dips: Vec<Dip>,
    /// The HTTP probe, when there was one.
    pub probe: Option<ProbeTally>,
}

/// Sample Deployments every `every` until `stop` turns true.
pub async fn monitor(client: Client, every: Duration, mut stop: watch::Receiver<bool>) -> AvailabilityReport {
    let api: Api<Deployment> = Api::all(client);
    let start = tokio::time::Instant::now();
    let mut tracker = AvailabilityTracker::default();
    loop {
        if let Ok(list) = api.list(&ListParams::default()).await {
            tracker.observe(start.elapsed(), &list.items);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
    }
    AvailabilityReport { samples: tracker.samples, dips: tracker.dips(), probe: None }
}

/// Probe `url` every `every` until `stop` turns true (Docker tier: through the ingress).
pub async fn probe(url: String, every: Duration, mut stop: watch::Receiver<bool>) -> ProbeTally {
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(2)).build() {
        Ok(c) => c,
        Err(_) => return ProbeTally { url, ..Default::default() },
    };
    let mut tally = ProbeTally { url: url.clone(), ..Default::default() };
    let mut last_good = tokio::time::Instant::now();
    loop {
        tally.requests += 1;
        let ok = matches!(http.get(&url).send().await, Ok(r) if !r.status().is_server_error());
        if ok {
            last_good = tokio::time::Instant::now();
        } else {
            tally.errors += 1;
            tally.longest_gap_ms = tally.longest_gap_ms.max(last_good.elapsed().as_millis() as u64);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(name: &str, replicas: i64, ready: i64, strategy: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": name},
            "spec": {"replicas": replicas, "selector": {}, "template": {}, "strategy": strategy},
            "status": {"readyReplicas": ready}}))
        .unwrap()
    }

    #[test]
    fn max_unavailable_like_the_deployment_controller() {
        assert_eq!(max_unavailable(&dep("a", 4, 4, json!({}))), 1); // 25% of 4
        assert_eq!(max_unavailable(&dep("a", 3, 3, json!({}))), 0); // 25% of 3 rounds down; surge rounds up to 1
        assert_eq!(max_unavailable(&dep("a", 1, 1, json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}))), 1);
        assert_eq!(max_unavailable(&dep("a", 10, 10, json!({"rollingUpdate": {"maxUnavailable": "50%"}}))), 5);
        assert_eq!(max_unavailable(&dep("a", 2, 2, json!({"type": "Recreate"}))), 2);
    }

    #[test]
    fn dips_only_after_being_available_and_below_the_floor() {
        let mut t = AvailabilityTracker::default();
        let s = Duration::from_secs;
        // A canary scaled up from zero is not held to a count it never had.
        t.observe(s(0), &[dep("canary", 1, 0, json!({})), dep("web", 4, 4, json!({}))]);
        // web may lose one (25% of 4), not two.
        t.observe(s(1), &[dep("canary", 1, 0, json!({})), dep("web", 4, 3, json!({}))]);
        assert!(t.dips().is_empty());
        t.observe(s(2), &[dep("web", 4, 2, json!({}))]);
        t.observe(s(3), &[dep("web", 4, 1, json!({}))]);
        t.observe(s(4), &[dep("web", 4, 4, json!({}))]);
        assert_eq!(t.dips(), vec![Dip { deployment: "ns/web".into(), required: 3, lowest_ready: 1, from_s: 2, until_s: 3 }]);
        // Scaled to zero on purpose: nothing is required.
        t.observe(s(5), &[dep("web", 0, 0, json!({}))]);
        assert_eq!(t.dips().len(), 1);
        assert_eq!(t.samples, 6);
    }
}
