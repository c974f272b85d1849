//! What a repo's Flagger setup needs to work on a real cluster, beyond what the schemas say: load
//! on each canary before its first metric check, and where Flagger's Prometheus lives. The
//! `check` rule on the chart's Linkerd authorization policy is `check::linkerd_auth_policy`
//! (this module depends on the repo model only, never on `check`).

use serde_json::Value;

use crate::repo::{Canary, Repo};

/// Where the chart puts its AuthorizationPolicy unless told otherwise.
pub const DEFAULT_VIZ_NAMESPACE: &str = "linkerd-viz";

/// The namespace of a Prometheus URL's Service (`http://prometheus.linkerd-viz:9090` →
/// `linkerd-viz`), when the host names one.
pub fn metrics_namespace(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', ':']).next()?;
    let mut labels = host.split('.');
    labels.next()?;
    labels.next().filter(|ns| !ns.is_empty())
}

/// The load-test commands a Canary asks Flagger's load tester to run before its first metric
/// check (`pre-rollout` webhooks with a `metadata.cmd`).
pub fn warmup_commands(c: &Canary) -> Vec<String> {
    c.analysis
        .get("webhooks")
        .and_then(Value::as_array)
        .map(|hooks| {
            hooks
                .iter()
                .filter(|w| w.get("type").and_then(Value::as_str) == Some("pre-rollout"))
                .filter_map(|w| w.pointer("/metadata/cmd").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Canaries with metric checks but no load before the first check: Flagger calls `rollout`
/// webhooks at each analysis step just before querying, so the first queries find no samples
/// ("no values found"), and each counts as a failed check.
pub fn canaries_without_warmup(repo: &Repo) -> Vec<&Canary> {
    repo.canaries()
        .iter()
        .filter(|c| c.analysis.get("metrics").and_then(Value::as_array).is_some_and(|m| !m.is_empty()))
        .filter(|c| !warmup_commands(c).iter().any(|cmd| cmd.contains("hey ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_namespace_from_url() {
        assert_eq!(metrics_namespace("http://prometheus.linkerd-viz:9090"), Some("linkerd-viz"));
        assert_eq!(metrics_namespace("http://prometheus.linkerd-viz.svc.cluster.local:9090/"), Some("linkerd-viz"));
        assert_eq!(metrics_namespace("http://prometheus:9090"), None);
        assert_eq!(metrics_namespace("prometheus.monitoring"), Some("monitoring"));
    }
}
