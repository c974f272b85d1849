//! `flagger-linkerd-auth-policy`: what the Flagger chart needs to read Linkerd viz's Prometheus.
//!
//! Facts from the Flagger chart (`charts/flagger`): `linkerdAuthPolicy.create` (default `false`)
//! renders a `policy.linkerd.io` AuthorizationPolicy `prometheus-admin-flagger` in
//! `linkerdAuthPolicy.namespace` (default `linkerd-viz`) that lets Flagger's ServiceAccount reach
//! viz's `prometheus-admin` Server; the chart's README says it is required from Linkerd 2.12 on.

use serde_json::Value;

use super::{Finding, Severity, codes};
use crate::flagger_setup::{DEFAULT_VIZ_NAMESPACE, metrics_namespace};
use crate::repo::{HelmRelease, Origin, Repo};

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
            Finding::new(
                Severity::Warning,
                codes::FLAGGER_LINKERD_AUTH_POLICY,
                &Origin::at(&h.doc, "spec.values.meshProvider"),
                format!(
                    "{}: Flagger uses the Linkerd provider and Linkerd viz's Prometheus ({}), but does not set \
                     `linkerdAuthPolicy.create: true`; viz's Prometheus refuses Flagger's queries (403), so every \
                     canary analysis fails: add `linkerdAuthPolicy: {{create: true}}` to spec.values{from}",
                    h.key,
                    h.values.get("metricsServer").and_then(Value::as_str).unwrap_or(""),
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
