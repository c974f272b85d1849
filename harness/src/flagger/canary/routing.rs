//! Routing objects by provider (TrafficSplit, HTTPRoute, NGINX canary Ingress) and where each
//! sends traffic.

use std::fmt;

use serde_json::Value;

use super::*;
use crate::flagger::quantity;

/// Which routing object a canary's provider uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingKind {
    /// SMI TrafficSplit (`split.smi-spec.io`), linkerd/smi providers.
    Smi,
    /// Gateway API HTTPRoute; the version from `gatewayapi:<version>` (None: server's preferred).
    GatewayApi {
        /// `v1`, `v1beta1`.
        version: Option<String>,
    },
    /// NGINX ingress canary annotations on `<ingress>-canary`.
    Nginx {
        /// `spec.ingressRef.name`.
        ingress: String,
    },
    /// A provider this observer does not read routing for.
    Unsupported(String),
}

impl fmt::Display for RoutingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoutingKind::Smi => f.write_str("TrafficSplit"),
            RoutingKind::GatewayApi { version: Some(v) } => write!(f, "HTTPRoute ({v})"),
            RoutingKind::GatewayApi { version: None } => f.write_str("HTTPRoute"),
            RoutingKind::Nginx { ingress } => write!(f, "Ingress {ingress}-canary"),
            RoutingKind::Unsupported(p) => write!(f, "unsupported provider {p}"),
        }
    }
}

/// The routing kind for a canary; `default_provider` is Flagger's `meshProvider` (used when the
/// canary has no `spec.provider`).
pub fn routing_for(canary: &Value, default_provider: &str) -> RoutingKind {
    let provider = canary.pointer("/spec/provider").and_then(Value::as_str).unwrap_or(default_provider);
    match provider {
        "linkerd" | "smi" | "smi:v1alpha1" | "smi:v1alpha2" | "smi:v1alpha3" => RoutingKind::Smi,
        p if p == "gatewayapi" || p.starts_with("gatewayapi:") => {
            RoutingKind::GatewayApi { version: p.split_once(':').map(|(_, v)| v.to_string()) }
        }
        "nginx" => {
            RoutingKind::Nginx { ingress: canary.pointer("/spec/ingressRef/name").and_then(Value::as_str).unwrap_or_default().to_string() }
        }
        other => RoutingKind::Unsupported(other.to_string()),
    }
}

/// Where traffic goes according to the routing object.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// Percent of (unmatched) traffic to `<name>-primary`.
    pub primary: f64,
    /// Percent of (unmatched) traffic to `<name>-canary`.
    pub canary: f64,
    /// A/B: requests matching this header (`name=value`) go to the canary.
    pub header_match: Option<String>,
}

impl fmt::Display for Routed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", fmt_num(self.primary), fmt_num(self.canary))?;
        if let Some(h) = &self.header_match {
            write!(f, " +{h}→canary")?;
        }
        Ok(())
    }
}

pub(crate) fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 { format!("{}", v.round() as i64) } else { format!("{v:.1}") }
}

/// The header match of an HTTPRoute rule (`name=value`), if the rule matches on a header.
pub(crate) fn rule_header_match(rule: &Value) -> Option<String> {
    rule.get("matches").and_then(Value::as_array)?.iter().find_map(|m| {
        let h = m.get("headers").and_then(Value::as_array)?.first()?;
        Some(format!("{}={}", h.get("name").and_then(Value::as_str)?, h.get("value").and_then(Value::as_str).unwrap_or("")))
    })
}

/// Where a routing object (TrafficSplit, HTTPRoute or NGINX canary Ingress) sends traffic for
/// the apex service `apex` (backends `<apex>-primary` and `<apex>-canary`). An HTTPRoute is read
/// per rule: the weights come from the default rule (the one without a header match), and a
/// header rule that sends to the canary is the A/B match (summing the rules would count an A/B
/// route's header rule as traffic).
pub fn read_routing(obj: &Value, apex: &str) -> Result<Routed, CanaryError> {
    let primary = format!("{apex}-primary");
    let canary = format!("{apex}-canary");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let (weights, header_match) = match kind {
        "TrafficSplit" => (quantity::traffic_split_weights(obj).map_err(|e| CanaryError::Shape(e.to_string()))?, None),
        "HTTPRoute" => {
            let rules = obj.pointer("/spec/rules").and_then(Value::as_array).cloned().unwrap_or_default();
            let default = rules.iter().position(|r| rule_header_match(r).is_none()).unwrap_or(0);
            let header = rules.iter().enumerate().find_map(|(i, r)| {
                let m = rule_header_match(r)?;
                let w = quantity::http_route_weights(obj, Some(i)).ok()?;
                (w.percent(&canary).unwrap_or(0.0) > 0.0).then_some(m)
            });
            (quantity::http_route_weights(obj, Some(default)).map_err(|e| CanaryError::Shape(e.to_string()))?, header)
        }
        "Ingress" => return Ok(nginx_routed(obj)),
        other => return Err(CanaryError::Shape(format!("unexpected routing kind {other}"))),
    };
    Ok(Routed { primary: weights.percent(&primary).unwrap_or(0.0), canary: weights.percent(&canary).unwrap_or(0.0), header_match })
}

pub(crate) const NGINX: &str = "nginx.ingress.kubernetes.io/";

/// Routed weights of an NGINX canary Ingress: `canary: "true"` enables it; `canary-weight` is
/// the share of unmatched traffic; `canary-by-header(+-value)` routes matching requests.
pub fn nginx_routed(ingress: &Value) -> Routed {
    let ann = |k: &str| ingress.pointer("/metadata/annotations").and_then(|a| a.get(format!("{NGINX}{k}"))).and_then(Value::as_str);
    let enabled = ann("canary") == Some("true");
    let weight = if enabled { ann("canary-weight").and_then(|w| quantity::parse(w).ok()).map(|q| q.value).unwrap_or(0.0) } else { 0.0 };
    let header_match = if enabled {
        ann("canary-by-header").map(|h| match ann("canary-by-header-value") {
            Some(v) => format!("{h}={v}"),
            None => format!("{h}=always"),
        })
    } else {
        None
    };
    Routed { primary: 100.0 - weight, canary: weight, header_match }
}

pub(crate) fn ab_header(canary: &Value) -> Option<String> {
    let matches = canary.pointer("/spec/analysis/match").and_then(Value::as_array)?;
    for m in matches {
        if let Some(h) = m.get("headers").and_then(Value::as_object) {
            for (k, v) in h {
                if let Some(exact) = v.get("exact").and_then(Value::as_str) {
                    return Some(format!("{k}={exact}"));
                }
            }
        }
    }
    None
}
#[cfg(test)]
mod routing_tests {
    use super::*;
    use serde_json::json;

    /// An A/B HTTPRoute as Flagger writes it: a header rule to the canary, a default rule to the
    /// primary. The weights are the default rule's, not the sum of both.
    #[test]
    fn http_route_is_read_per_rule() {
        let route = json!({"kind": "HTTPRoute", "metadata": {"name": "web", "namespace": "t"}, "spec": {"rules": [
            {"matches": [{"headers": [{"name": "x-user", "value": "test"}]}],
             "backendRefs": [{"name": "web-primary", "weight": 0}, {"name": "web-canary", "weight": 100}]},
            {"backendRefs": [{"name": "web-primary", "weight": 100}, {"name": "web-canary", "weight": 0}]}]}});
        let r = read_routing(&route, "web").unwrap();
        assert_eq!((r.primary, r.canary), (100.0, 0.0));
        assert_eq!(r.header_match.as_deref(), Some("x-user=test"));
    }

    /// The backends are named after `spec.service.name` when it differs from the target.
    #[test]
    fn apex_comes_from_the_service_name() {
        let canary = json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "podinfo", "namespace": "t"},
            "spec": {"provider": "linkerd", "targetRef": {"name": "podinfo"}, "service": {"name": "frontend", "port": 80}}});
        let ts = json!({"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit", "metadata": {"name": "frontend", "namespace": "t"},
            "spec": {"service": "frontend", "backends": [{"service": "frontend-primary", "weight": "90"}, {"service": "frontend-canary", "weight": "10"}]}});
        let mut b = TimelineBuilder::new("t", "podinfo", "linkerd");
        b.observe(&canary, None).unwrap();
        assert_eq!(b.observe(&ts, None).unwrap(), Role::Routing);
        let row = b.timeline().last().cloned().unwrap();
        let routed = row.routed.unwrap();
        assert_eq!((routed.primary, routed.canary), (90.0, 10.0));
    }
}
