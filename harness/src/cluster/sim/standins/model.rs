//! The metrics model behind the Prometheus stand-in: what it knows about a workload (from its
//! Deployment's pod template) and which of Flagger's built-in queries it understands.

use serde_json::{Value, json};

/// What the model knows about a workload: its error percentage and latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workload {
    /// Percent of requests that fail (`ERROR_FRACTION`).
    pub error_percent: f64,
    /// p99 latency in ms (largest `DELAY_BUCKETS` value).
    pub latency_ms: f64,
}

/// The model of a Deployment's pod template (pure: tested without a cluster).
pub fn workload_of(deployment: &Value) -> Workload {
    let containers = deployment.pointer("/spec/template/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let env = |name: &str| {
        containers.iter().flat_map(|c| c.get("env").and_then(Value::as_array).cloned().unwrap_or_default()).find_map(|e| {
            (e.get("name").and_then(Value::as_str) == Some(name)).then(|| e.get("value").and_then(Value::as_str).unwrap_or("").to_string())
        })
    };
    let error_percent = env("ERROR_FRACTION").and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0).clamp(0.0, 100.0);
    let latency_ms =
        env("DELAY_BUCKETS").map(|v| v.split(',').filter_map(|x| x.trim().parse::<f64>().ok()).fold(0.0, f64::max)).unwrap_or(0.0);
    Workload { error_percent, latency_ms }
}

/// A query the model understands.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// `vector(1)`.
    Online,
    /// Success rate (percent) of a Linkerd target Deployment.
    LinkerdSuccessRate {
        /// Namespace.
        namespace: String,
        /// Target Deployment (a regex in the query; Flagger puts the name).
        target: String,
    },
    /// p99 latency (ms) of a Linkerd target Deployment.
    LinkerdLatency {
        /// Namespace.
        namespace: String,
        /// Target Deployment.
        target: String,
    },
    /// Success rate (percent) of the canary behind an NGINX ingress.
    NginxSuccessRate {
        /// Namespace.
        namespace: String,
        /// Ingress name.
        ingress: String,
    },
    /// Average latency (ms) of the canary behind an NGINX ingress.
    NginxLatency {
        /// Namespace.
        namespace: String,
        /// Ingress name.
        ingress: String,
    },
}

fn label(query: &str, name: &str) -> Option<String> {
    let re = regex::Regex::new(&format!(r#"\b{name}\s*=~?\s*"([^"]*)""#)).ok()?;
    re.captures(query).and_then(|c| c.get(1)).map(|m| m.as_str().to_string())
}

/// Recognise one of Flagger's built-in queries (whitespace already collapsed by Flagger).
pub fn parse_query(query: &str) -> Option<Query> {
    let q = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if q == "vector(1)" {
        return Some(Query::Online);
    }
    let ns = label(&q, "namespace");
    if q.contains("response_total") && q.contains("classification!=\"failure\"") {
        return Some(Query::LinkerdSuccessRate { namespace: ns?, target: label(&q, "deployment")? });
    }
    if q.contains("response_latency_ms_bucket") {
        return Some(Query::LinkerdLatency { namespace: ns?, target: label(&q, "deployment")? });
    }
    if q.contains("nginx_ingress_controller_requests") {
        return Some(Query::NginxSuccessRate { namespace: ns?, ingress: label(&q, "ingress")? });
    }
    if q.contains("nginx_ingress_controller_response_duration_seconds") {
        return Some(Query::NginxLatency { namespace: ns?, ingress: label(&q, "ingress")? });
    }
    None
}

pub(super) fn prom_vector(value: Option<f64>) -> Value {
    let result = match value {
        Some(v) => json!([{ "metric": {}, "value": [chrono::Utc::now().timestamp(), format!("{v}")] }]),
        None => json!([]),
    };
    json!({"status": "success", "data": {"resultType": "vector", "result": result}})
}

pub(super) fn url_query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flagger_linkerd_queries_are_recognised() {
        let q = r#"sum( rate( response_total{ namespace="faces", deployment=~"face", classification!="failure", direction="inbound" }[1m] ) ) / sum( rate( response_total{ namespace="faces", deployment=~"face", direction="inbound" }[1m] ) ) * 100"#;
        assert_eq!(parse_query(q), Some(Query::LinkerdSuccessRate { namespace: "faces".into(), target: "face".into() }));
        let lat = r#"histogram_quantile( 0.99, sum( rate( response_latency_ms_bucket{ namespace="faces", deployment=~"face", direction="inbound" }[1m] ) ) by (le) )"#;
        assert_eq!(parse_query(lat), Some(Query::LinkerdLatency { namespace: "faces".into(), target: "face".into() }));
        assert_eq!(parse_query("vector(1)"), Some(Query::Online));
        assert_eq!(parse_query("up"), None);
    }

    #[test]
    fn nginx_queries_are_recognised() {
        let q = r#"sum( rate( nginx_ingress_controller_requests{ namespace="faces", ingress="faces-gui", canary!="", status!~"5.*" }[1m] ) ) / sum( rate( nginx_ingress_controller_requests{ namespace="faces", ingress="faces-gui", canary!="" }[1m] ) ) * 100"#;
        assert_eq!(parse_query(q), Some(Query::NginxSuccessRate { namespace: "faces".into(), ingress: "faces-gui".into() }));
    }

    #[test]
    fn the_model_reads_error_fraction_and_delay_buckets() {
        let d = json!({"spec": {"template": {"spec": {"containers": [{"name": "face", "env": [
            {"name": "ERROR_FRACTION", "value": "75"}, {"name": "DELAY_BUCKETS", "value": "0,5,10,1500"}]}]}}}});
        assert_eq!(workload_of(&d), Workload { error_percent: 75.0, latency_ms: 1500.0 });
        assert_eq!(workload_of(&json!({})), Workload { error_percent: 0.0, latency_ms: 0.0 });
    }

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(url_query_param("query=vector%281%29", "query").as_deref(), Some("vector(1)"));
        assert_eq!(url_query_param("a=1&query=sum+%28x%29", "query").as_deref(), Some("sum (x)"));
        assert_eq!(percent_decode("100%"), "100%");
    }
}
