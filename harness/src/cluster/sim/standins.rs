//! What sim answers itself, honestly and visibly: Flagger's HTTP traffic (its Prometheus queries
//! and its webhooks) reaches this stand-in as Flagger's HTTP proxy, since nothing runs behind
//! the cluster's Services.
//!
//! - **Load tester** (any webhook to a `flagger-loadtester` host): answered `200` as the real
//!   load tester does; the command it was asked to run is recorded (log line), and the canary is
//!   marked as having load for five minutes.
//! - **Prometheus** (`/api/v1/query` on any host): answers come from a model of the workload
//!   declared in git. The success rate of a canary's target is `100 - ERROR_FRACTION` (the env
//!   var Faces reads, from the target Deployment's pod template; absent: 0 errors); latency is
//!   the largest `DELAY_BUCKETS` value in ms (absent: 0). With no load requested there are no
//!   samples, as on a real cluster: an empty result, which Flagger counts as a failed check.
//!   `vector(1)` (Flagger's online check) answers 1. A query the model does not know gets an
//!   error and a log line, never a made-up number.
//! - **Anything else**: `502` with a log line (sim has no data plane), and `CONNECT` is refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

/// How long a load-test webhook call counts as load on its canary (the fixture's `hey -z 2m`,
/// with margin).
const LOAD_WINDOW: Duration = Duration::from_secs(300);

/// Shared state of the stand-ins.
#[derive(Clone)]
pub struct StandIns {
    client: kube::Client,
    /// (namespace, canary) -> last load-test webhook call.
    load: Arc<Mutex<BTreeMap<(String, String), Instant>>>,
}

impl std::fmt::Debug for StandIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIns").finish_non_exhaustive()
    }
}

fn log(mut event: Value) {
    // One JSON object per line on stdout (the process log), for people and tests.
    if let Some(m) = event.as_object_mut() {
        m.insert("ts".into(), Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
    }
    println!("{event}");
}

fn canary_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("flagger.app", "v1beta1", "Canary"), "canaries");
    Api::namespaced_with(client.clone(), ns, &ar)
}

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

fn prom_vector(value: Option<f64>) -> Value {
    let result = match value {
        Some(v) => json!([{ "metric": {}, "value": [chrono::Utc::now().timestamp(), format!("{v}")] }]),
        None => json!([]),
    };
    json!({"status": "success", "data": {"resultType": "vector", "result": result}})
}

impl StandIns {
    /// Stand-ins answering for the cluster of `client`.
    pub fn new(client: kube::Client) -> StandIns {
        StandIns { client, load: Arc::default() }
    }

    /// The canary (name, target Deployment) that a query's subject belongs to.
    async fn canary_for(&self, ns: &str, matches: impl Fn(&Value) -> bool) -> Option<(String, String)> {
        let list = canary_api(&self.client, ns).list(&Default::default()).await.ok()?;
        list.items.into_iter().find_map(|c| {
            let v = serde_json::to_value(&c).ok()?;
            if !matches(&v) {
                return None;
            }
            let target = v.pointer("/spec/targetRef/name")?.as_str()?.to_string();
            Some((c.metadata.name.clone()?, target))
        })
    }

    async fn workload(&self, ns: &str, deployment: &str) -> Option<Workload> {
        let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(self.client.clone(), ns);
        let d = api.get(deployment).await.ok()?;
        Some(workload_of(&serde_json::to_value(d).ok()?))
    }

    fn has_load(&self, ns: &str, canary: &str) -> bool {
        let load = self.load.lock().unwrap_or_else(|e| e.into_inner());
        load.get(&(ns.to_string(), canary.to_string())).is_some_and(|t| t.elapsed() < LOAD_WINDOW)
    }

    async fn answer(&self, query: &str) -> Result<Option<f64>, String> {
        let Some(parsed) = parse_query(query) else { return Err(format!("the sim metrics model does not know this query: {query}")) };
        let (ns, canary, target, want_latency) = match &parsed {
            Query::Online => return Ok(Some(1.0)),
            Query::LinkerdSuccessRate { namespace, target } | Query::LinkerdLatency { namespace, target } => {
                let t = target.clone();
                let (canary, target) = self
                    .canary_for(namespace, |c| c.pointer("/spec/targetRef/name").and_then(Value::as_str) == Some(t.as_str()))
                    .await
                    .ok_or_else(|| format!("no Canary in {namespace} targets {target}"))?;
                (namespace.clone(), canary, target, matches!(parsed, Query::LinkerdLatency { .. }))
            }
            Query::NginxSuccessRate { namespace, ingress } | Query::NginxLatency { namespace, ingress } => {
                let i = ingress.clone();
                let (canary, target) = self
                    .canary_for(namespace, |c| c.pointer("/spec/ingressRef/name").and_then(Value::as_str) == Some(i.as_str()))
                    .await
                    .ok_or_else(|| format!("no Canary in {namespace} uses ingress {ingress}"))?;
                (namespace.clone(), canary, target, matches!(parsed, Query::NginxLatency { .. }))
            }
        };
        if !self.has_load(&ns, &canary) {
            return Ok(None); // no load requested: no samples
        }
        let w = self.workload(&ns, &target).await.ok_or_else(|| format!("Deployment {ns}/{target} not found"))?;
        Ok(Some(if want_latency { w.latency_ms } else { 100.0 - w.error_percent }))
    }

    async fn prometheus(&self, uri: &axum::http::Uri) -> Response {
        let query = uri.query().and_then(|q| url_query_param(q, "query")).unwrap_or_default();
        match self.answer(&query).await {
            Ok(v) => {
                log(json!({"standin": "prometheus", "query": query, "answer": v}));
                axum::Json(prom_vector(v)).into_response()
            }
            Err(e) => {
                log(json!({"standin": "prometheus", "query": query, "error": e}));
                (StatusCode::BAD_REQUEST, axum::Json(json!({"status": "error", "errorType": "bad_data", "error": e}))).into_response()
            }
        }
    }

    async fn loadtester(&self, host: &str, path: &str, body: &[u8]) -> Response {
        let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let ns = payload.get("namespace").and_then(Value::as_str).unwrap_or("").to_string();
        let name = payload.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let cmd = payload.pointer("/metadata/cmd").and_then(Value::as_str).map(str::to_string);
        if cmd.is_some() {
            self.load.lock().unwrap_or_else(|e| e.into_inner()).insert((ns.clone(), name.clone()), Instant::now());
        }
        log(json!({"standin": "loadtester", "host": host, "path": path, "canary": format!("{ns}/{name}"),
            "phase": payload.get("phase"), "cmd": cmd, "answer": 200}));
        (StatusCode::OK, "ok").into_response()
    }

    /// Handle one proxied request.
    pub async fn handle(State(me): State<StandIns>, req: Request) -> Response {
        let uri = req.uri().clone();
        let host = uri
            .host()
            .map(str::to_string)
            .or_else(|| req.headers().get("host").and_then(|h| h.to_str().ok()).map(|h| h.split(':').next().unwrap_or(h).to_string()))
            .unwrap_or_default();
        if req.method() == Method::CONNECT {
            log(json!({"standin": "proxy", "refused": format!("CONNECT {uri}"), "why": "sim dials nothing off this machine"}));
            return (StatusCode::FORBIDDEN, "sim: CONNECT refused").into_response();
        }
        let path = uri.path().to_string();
        if path.ends_with("/api/v1/query") {
            return me.prometheus(&uri).await;
        }
        if host.starts_with("flagger-loadtester") {
            let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
            return me.loadtester(&host, &path, &body).await;
        }
        log(json!({"standin": "proxy", "refused": format!("{} {uri}", req.method()), "why": "nothing serves it on sim (no data plane)"}));
        Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(format!("sim: {host} is not reachable (no data plane); the stand-ins answer Prometheus queries and Flagger load tester webhooks only\n")))
            .unwrap_or_default()
    }
}

fn url_query_param(query: &str, key: &str) -> Option<String> {
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

/// Serve the stand-ins on `addr` until the process is stopped.
pub async fn serve(
    addr: SocketAddr,
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().fallback(StandIns::handle).with_state(StandIns::new(client));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    log(json!({"standin": "started", "addr": addr.to_string()}));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
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
