//! What a repo's Flagger setup needs to work on a real cluster, beyond what the schemas say:
//! the chart's Linkerd authorization policy (without it Linkerd viz's Prometheus refuses every
//! query of Flagger's) and load on each canary before its first metric check.
//!
//! Facts from the Flagger chart (`charts/flagger`): `linkerdAuthPolicy.create` (default `false`)
//! renders a `policy.linkerd.io` AuthorizationPolicy `prometheus-admin-flagger` in
//! `linkerdAuthPolicy.namespace` (default `linkerd-viz`) that lets Flagger's ServiceAccount reach
//! viz's `prometheus-admin` Server; the chart's README says it is required from Linkerd 2.12 on.

use serde_json::Value;

use crate::check::{Finding, Severity, codes};
use crate::repo::{Canary, HelmRelease, Repo};

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

/// Whether a Flagger HelmRelease uses the Linkerd provider with Linkerd viz's Prometheus
/// (the case that needs the authorization policy).
fn reads_viz_prometheus(values: &Value) -> bool {
    let linkerd = values.get("meshProvider").and_then(Value::as_str).is_some_and(|p| p == "linkerd" || p.starts_with("linkerd:"));
    let viz_ns = values.pointer("/linkerdAuthPolicy/namespace").and_then(Value::as_str).unwrap_or(DEFAULT_VIZ_NAMESPACE);
    let metrics = values.get("metricsServer").and_then(Value::as_str).unwrap_or("");
    linkerd && metrics_namespace(metrics) == Some(viz_ns)
}

/// `values.linkerdAuthPolicy.create` is `true` (a YAML boolean or the string Helm's `--set` gives).
fn creates_auth_policy(values: &Value) -> bool {
    match values.pointer("/linkerdAuthPolicy/create") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn is_flagger(h: &HelmRelease) -> bool {
    h.chart == "flagger" || h.chart.ends_with("/flagger")
}

/// `flagger-linkerd-auth-policy`: a Flagger HelmRelease with the Linkerd provider that reads
/// Linkerd viz's Prometheus but does not set `linkerdAuthPolicy.create: true`.
pub fn linkerd_auth_policy(repo: &Repo) -> Vec<Finding> {
    repo.helm_releases()
        .iter()
        .filter(|h| is_flagger(h) && reads_viz_prometheus(&h.values) && !creates_auth_policy(&h.values))
        .map(|h| {
            let from = if h.doc.value.pointer("/spec/valuesFrom").is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty())) {
                " (if your valuesFrom sets it, this warning does not apply)"
            } else {
                ""
            };
            Finding {
                severity: Severity::Warning,
                code: codes::FLAGGER_LINKERD_AUTH_POLICY,
                message: format!(
                    "{}: Flagger uses the Linkerd provider and Linkerd viz's Prometheus ({}), but does not set \
                     `linkerdAuthPolicy.create: true`; viz's Prometheus refuses Flagger's queries (403), so every \
                     canary analysis fails: add `linkerdAuthPolicy: {{create: true}}` to spec.values{from}",
                    h.key,
                    h.values.get("metricsServer").and_then(Value::as_str).unwrap_or(""),
                ),
                file: h.doc.file.clone(),
                line: h.doc.line_at("spec.values.meshProvider"),
            }
        })
        .collect()
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

    #[test]
    fn only_linkerd_with_viz_prometheus_needs_the_policy() {
        let v = |s: &str| -> Value { serde_norway::from_str(s).unwrap() };
        assert!(reads_viz_prometheus(&v("{meshProvider: linkerd, metricsServer: 'http://prometheus.linkerd-viz:9090'}")));
        // Its own Prometheus elsewhere: viz's policy is not in the way.
        assert!(!reads_viz_prometheus(&v("{meshProvider: linkerd, metricsServer: 'http://prometheus.monitoring:9090'}")));
        assert!(!reads_viz_prometheus(&v("{meshProvider: istio, metricsServer: 'http://prometheus.linkerd-viz:9090'}")));
        // viz installed into another namespace, and the policy told so.
        assert!(reads_viz_prometheus(&v(
            "{meshProvider: linkerd, metricsServer: 'http://prometheus.viz:9090', linkerdAuthPolicy: {namespace: viz}}"
        )));
        assert!(creates_auth_policy(&v("{linkerdAuthPolicy: {create: true}}")));
        assert!(creates_auth_policy(&v("{linkerdAuthPolicy: {create: 'true'}}")));
        assert!(!creates_auth_policy(&v("{linkerdAuthPolicy: {create: false}}")));
        assert!(!creates_auth_policy(&v("{}")));
    }
}
