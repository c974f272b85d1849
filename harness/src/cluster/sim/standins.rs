//! What sim answers itself, honestly and visibly: Flagger's HTTP traffic (its Prometheus queries
//! and its webhooks) reaches this stand-in as Flagger's HTTP proxy, since nothing runs behind
//! the cluster's Services. It answers only what the real thing would:
//!
//! - **Prometheus**, only at the address Flagger was started with (`-metrics-server`) or a
//!   MetricTemplate's `spec.provider.address` (type `prometheus`): `/api/v1/query` under that
//!   URL's host, port and path. Answers come from a model of the workload declared in git. The
//!   success rate of a canary's target is `100 - ERROR_FRACTION` (the env var Faces reads, from
//!   the target Deployment's pod template; absent: 0 errors); latency is the largest
//!   `DELAY_BUCKETS` value in ms (absent: 0). With no load on the canary there are no samples, as
//!   on a real cluster: an empty result, which Flagger counts as a failed check. `vector(1)`
//!   (Flagger's online check) answers 1. A query the model does not know gets an error and a log
//!   line, never a made-up number. A query to any other address is a `502` with a log line
//!   naming the host and the addresses Flagger was configured with.
//! - **Load tester** ([`loadtester`]), only for a host that names a Service which exists in the
//!   API server (`<svc>.<ns>[.svc[.cluster.local]]`, on one of its ports) and is a load tester;
//!   its gates and tasks behave as Flagger's load tester does. A call counts as load on its
//!   canary for five minutes only when its command sends requests to `<apex>-canary`.
//! - **Anything else**: `502` with a log line (sim has no data plane), and `CONNECT` is refused.

pub mod loadtester;
pub mod model;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

use loadtester::{Call, TaskAnswer};
pub use model::{Query, Workload, parse_query, workload_of};
use model::{prom_vector, url_query_param};

/// How long a load-test webhook call counts as load on its canary (the fixture's `hey -z 2m`,
/// with margin).
const LOAD_WINDOW: Duration = Duration::from_secs(300);

/// Where the stand-ins read the cluster's objects.
#[derive(Clone)]
enum Cluster {
    /// The sim cluster's API server.
    Live(kube::Client),
    /// A fixed set of objects (tests).
    Fixed(Arc<Vec<Value>>),
}

/// The kinds the stand-ins read: (group, version, kind, plural).
type Kind = (&'static str, &'static str, &'static str, &'static str);
const CANARY: Kind = ("flagger.app", "v1beta1", "Canary", "canaries");
const METRIC_TEMPLATE: Kind = ("flagger.app", "v1beta1", "MetricTemplate", "metrictemplates");
const SERVICE: Kind = ("", "v1", "Service", "services");
const DEPLOYMENT: Kind = ("apps", "v1", "Deployment", "deployments");
const INGRESS: Kind = ("networking.k8s.io", "v1", "Ingress", "ingresses");

impl Cluster {
    async fn list(&self, kind: Kind, ns: Option<&str>) -> Result<Vec<Value>, String> {
        let (group, version, k, plural) = kind;
        match self {
            Cluster::Fixed(objects) => Ok(objects
                .iter()
                .filter(|o| o.get("kind").and_then(Value::as_str) == Some(k))
                .filter(|o| {
                    let api = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                    if group.is_empty() { !api.contains('/') } else { api.starts_with(&format!("{group}/")) }
                })
                .filter(|o| ns.is_none() || o.pointer("/metadata/namespace").and_then(Value::as_str) == ns)
                .cloned()
                .collect()),
            Cluster::Live(client) => {
                let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, k), plural);
                let api: Api<DynamicObject> = match ns {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                    None => Api::all_with(client.clone(), &ar),
                };
                let list = api.list(&Default::default()).await.map_err(|e| format!("listing {plural}: {e}"))?;
                Ok(list.items.into_iter().filter_map(|o| serde_json::to_value(o).ok()).collect())
            }
        }
    }

    async fn get(&self, kind: Kind, ns: &str, name: &str) -> Result<Option<Value>, String> {
        if let Cluster::Live(client) = self {
            let (group, version, k, plural) = kind;
            let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, k), plural);
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
            let got = api.get_opt(name).await.map_err(|e| format!("reading {k} {ns}/{name}: {e}"))?;
            return Ok(got.and_then(|o| serde_json::to_value(o).ok()));
        }
        Ok(self.list(kind, Some(ns)).await?.into_iter().find(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)))
    }
}

/// Shared state of the stand-ins.
#[derive(Clone)]
pub struct StandIns {
    cluster: Cluster,
    /// Flagger's `-metrics-server` (None: only MetricTemplates' addresses are answered).
    metrics_server: Option<String>,
    /// (namespace, canary) -> last load-test call aimed at its canary Service.
    load: Arc<Mutex<BTreeMap<(String, String), Instant>>>,
    /// The load tester's gates (`<name>.<ns>`, `rollback.<name>.<ns>`) -> open.
    gates: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl std::fmt::Debug for StandIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIns").field("metrics_server", &self.metrics_server).finish_non_exhaustive()
    }
}

fn log(mut event: Value) {
    // One JSON object per line on stdout (the process log), for people and tests.
    if let Some(m) = event.as_object_mut() {
        m.insert("ts".into(), Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
    }
    println!("{event}");
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [("content-type", "text/plain; charset=utf-8")], body.into()).into_response()
}

/// A Prometheus base URL as (host, port, path prefix): what a query must be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host, lower case.
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// Path before `/api/v1/query`, without a trailing `/`.
    pub prefix: String,
}

impl Endpoint {
    /// Parse a base URL such as `http://prometheus.linkerd-viz:9090`.
    pub fn parse(url: &str) -> Option<Endpoint> {
        let uri: Uri = url.trim().parse().ok()?;
        Endpoint::of(&uri, None)
    }

    fn of(uri: &Uri, host_header: Option<&str>) -> Option<Endpoint> {
        let (host, port) = match uri.host() {
            Some(h) => (h.to_ascii_lowercase(), uri.port_u16()),
            None => {
                let a: axum::http::uri::Authority = host_header?.parse().ok()?;
                (a.host().to_ascii_lowercase(), a.port_u16())
            }
        };
        let port = port.unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        Some(Endpoint { host, port, prefix: uri.path().trim_end_matches('/').to_string() })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}{}", self.host, self.port, self.prefix)
    }
}

impl StandIns {
    /// Stand-ins answering for the cluster of `client`, for a Flagger started with
    /// `-metrics-server=<metrics_server>`.
    pub fn new(client: kube::Client, metrics_server: Option<String>) -> StandIns {
        StandIns::with(Cluster::Live(client), metrics_server)
    }

    /// Stand-ins answering from a fixed set of objects instead of an API server (tests).
    pub fn from_objects(objects: Vec<Value>, metrics_server: Option<String>) -> StandIns {
        StandIns::with(Cluster::Fixed(Arc::new(objects)), metrics_server)
    }

    fn with(cluster: Cluster, metrics_server: Option<String>) -> StandIns {
        StandIns { cluster, metrics_server, load: Arc::default(), gates: Arc::default() }
    }

    /// The canary (name, target Deployment) that a query's subject belongs to.
    async fn canary_for(&self, ns: &str, matches: impl Fn(&Value) -> bool) -> Option<(String, String)> {
        let list = self.cluster.list(CANARY, Some(ns)).await.ok()?;
        list.into_iter().find_map(|v| {
            if !matches(&v) {
                return None;
            }
            let target = v.pointer("/spec/targetRef/name")?.as_str()?.to_string();
            Some((v.pointer("/metadata/name")?.as_str()?.to_string(), target))
        })
    }

    async fn workload(&self, ns: &str, deployment: &str) -> Option<Workload> {
        let d = self.cluster.get(DEPLOYMENT, ns, deployment).await.ok()??;
        Some(workload_of(&d))
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
            return Ok(None); // no load on the canary: no samples
        }
        let w = self.workload(&ns, &target).await.ok_or_else(|| format!("Deployment {ns}/{target} not found"))?;
        Ok(Some(if want_latency { w.latency_ms } else { 100.0 - w.error_percent }))
    }

    /// The Prometheus addresses a query may go to: Flagger's `-metrics-server`, and each
    /// MetricTemplate's `spec.provider.address` of type `prometheus`.
    async fn metrics_endpoints(&self) -> Vec<(Endpoint, String)> {
        let mut out = Vec::new();
        if let Some(e) = self.metrics_server.as_deref().and_then(Endpoint::parse) {
            out.push((e, "Flagger's -metrics-server".to_string()));
        }
        // Flagger started from its live Deployment: that Deployment's -metrics-server.
        for d in self.cluster.list(DEPLOYMENT, None).await.unwrap_or_default() {
            if let Some(e) = super::flagger::metrics_server_of(&d).as_deref().and_then(Endpoint::parse) {
                let id = format!(
                    "-metrics-server of Deployment {}/{}",
                    d.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""),
                    d.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
                );
                out.push((e, id));
            }
        }
        for t in self.cluster.list(METRIC_TEMPLATE, None).await.unwrap_or_default() {
            if t.pointer("/spec/provider/type").and_then(Value::as_str) != Some("prometheus") {
                continue;
            }
            if let Some(e) = t.pointer("/spec/provider/address").and_then(Value::as_str).and_then(Endpoint::parse) {
                let id = format!(
                    "MetricTemplate {}/{}",
                    t.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""),
                    t.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
                );
                out.push((e, id));
            }
        }
        out
    }

    async fn prometheus(&self, uri: &Uri, target: &Endpoint) -> Response {
        let endpoints = self.metrics_endpoints().await;
        let known = endpoints
            .iter()
            .any(|(e, _)| e.host == target.host && e.port == target.port && uri.path() == format!("{}/api/v1/query", e.prefix));
        if !known {
            let expected: Vec<String> = endpoints.iter().map(|(e, why)| format!("{e}/api/v1/query ({why})")).collect();
            let why = "no Prometheus Flagger was configured with listens there";
            log(json!({"standin": "prometheus", "refused": uri.to_string(), "host": format!("{}:{}", target.host, target.port),
                "expected": expected, "why": why}));
            return text(
                StatusCode::BAD_GATEWAY,
                format!(
                    "sim: {}:{} is not a Prometheus Flagger was configured with ({why}); expected {}\n",
                    target.host,
                    target.port,
                    if expected.is_empty() { "none (no -metrics-server, no MetricTemplate)".to_string() } else { expected.join(", ") }
                ),
            );
        }
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

    /// The load tester Service a host names, if it is one: `Ok(None)` when the host is not a
    /// load tester's (someone else answers or refuses it), `Err` with why a load tester host
    /// cannot be reached.
    async fn load_tester_service(&self, target: &Endpoint) -> Result<Option<Value>, String> {
        let Some(sh) = loadtester::service_host(&target.host) else { return Ok(None) };
        let looks_like = sh.name.starts_with("flagger-loadtester");
        let Some(ns) = sh.namespace.as_deref() else {
            return if looks_like {
                Err(format!(
                    "`{}` has no namespace: in a pod it resolves in Flagger's own namespace, which sim's Flagger (a host process) has not; write `{}.<namespace>`",
                    target.host, sh.name
                ))
            } else {
                Ok(None)
            };
        };
        let svc = match self.cluster.get(SERVICE, ns, &sh.name).await {
            Ok(Some(svc)) => svc,
            Ok(None) if looks_like => return Err(format!("Service {ns}/{} does not exist in the cluster", sh.name)),
            Ok(None) => return Ok(None),
            Err(e) if looks_like => return Err(e),
            Err(_) => return Ok(None),
        };
        let deployments = self.cluster.list(DEPLOYMENT, Some(ns)).await.unwrap_or_default();
        if !loadtester::is_load_tester(&svc, &deployments) {
            return Ok(None);
        }
        let ports = loadtester::service_ports(&svc);
        if !ports.contains(&target.port) {
            return Err(format!("Service {ns}/{} has no port {} (ports {ports:?})", sh.name, target.port));
        }
        Ok(Some(svc))
    }

    async fn loadtester(&self, service: &Value, url: &str, path: &str, body: &[u8]) -> Response {
        let svc_ns = service.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
        let call = loadtester::call_of(path);
        let simple = |status: StatusCode, body: &str| {
            log(json!({"standin": "loadtester", "url": url, "answer": status.as_u16()}));
            text(status, body.to_string())
        };
        match call {
            Call::Ok => return simple(StatusCode::OK, "OK"),
            Call::Halt => return simple(StatusCode::FORBIDDEN, "Forbidden"),
            Call::Metrics => return simple(StatusCode::BAD_GATEWAY, "sim: the load tester's own metrics are not modelled\n"),
            _ => {}
        }
        // Every other call carries Flagger's webhook payload, as the real one requires.
        let payload: Value = match serde_json::from_slice(body) {
            Ok(p @ Value::Object(_)) => p,
            _ => return simple(StatusCode::BAD_REQUEST, ""),
        };
        let ns = payload.get("namespace").and_then(Value::as_str).unwrap_or("").to_string();
        let name = payload.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let canary = format!("{ns}/{name}");
        let (status, body, extra) = match call {
            Call::Check { rollback } => {
                let key = loadtester::gate_key(&name, &ns, rollback);
                let open = *self.gates.lock().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_insert(false);
                let (s, b) = if open { (StatusCode::OK, "Approved") } else { (StatusCode::FORBIDDEN, "Forbidden") };
                (s, b.to_string(), json!({"gate": key, "open": open}))
            }
            Call::Set { rollback, open } => {
                let key = loadtester::gate_key(&name, &ns, rollback);
                self.gates.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), open);
                (StatusCode::ACCEPTED, String::new(), json!({"gate": key, "open": open}))
            }
            _ => {
                let cmd = payload.pointer("/metadata/cmd").and_then(Value::as_str).map(str::to_string);
                match loadtester::task_answer(&payload) {
                    TaskAnswer::BadRequest(why) => (StatusCode::BAD_REQUEST, why, json!({"cmd": cmd})),
                    TaskAnswer::NotOnSim(why) => (StatusCode::BAD_GATEWAY, format!("{why}\n"), json!({"cmd": cmd})),
                    answer => {
                        let load = match &cmd {
                            Some(cmd) => self.count_load(&ns, &name, cmd, &svc_ns).await,
                            None => Err("no metadata.cmd".to_string()),
                        };
                        let status = if answer == TaskAnswer::Done { StatusCode::OK } else { StatusCode::ACCEPTED };
                        let (counted, why) = match load {
                            Ok(()) => (true, None),
                            Err(why) => (false, Some(why)),
                        };
                        (status, String::new(), json!({"cmd": cmd, "load": counted, "why_no_load": why}))
                    }
                }
            }
        };
        log(json!({"standin": "loadtester", "url": url, "canary": canary, "phase": payload.get("phase"),
            "answer": status.as_u16(), "detail": extra}));
        text(status, body)
    }

    /// Count a task as load on canary `ns/name` when its command sends requests to the
    /// canary's `<apex>-canary` Service; else say why not.
    async fn count_load(&self, ns: &str, name: &str, cmd: &str, tester_ns: &str) -> Result<(), String> {
        let canary = self.cluster.get(CANARY, ns, name).await?.ok_or_else(|| format!("no Canary {ns}/{name}"))?;
        let apex = canary
            .pointer("/spec/service/name")
            .or_else(|| canary.pointer("/spec/targetRef/name"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("Canary {ns}/{name} has no targetRef"))?;
        if !loadtester::targets_canary(cmd, apex, ns, tester_ns) && !self.through_ingress(&canary, cmd, ns, tester_ns).await {
            let ingress = canary.pointer("/spec/ingressRef/name").and_then(Value::as_str);
            return Err(match ingress {
                Some(i) => format!(
                    "the command sends requests neither to {apex}-canary.{ns} nor through Ingress {ns}/{i} with its host and the canary's match headers"
                ),
                None => format!("the command does not send requests to {apex}-canary.{ns}"),
            });
        }
        self.load.lock().unwrap_or_else(|e| e.into_inner()).insert((ns.to_string(), name.to_string()), Instant::now());
        Ok(())
    }

    /// Whether `cmd` reaches a canary routed by an Ingress (`spec.ingressRef`): through a
    /// Service that exists, with the Ingress's host and the canary's match headers.
    async fn through_ingress(&self, canary: &Value, cmd: &str, ns: &str, tester_ns: &str) -> bool {
        let Some(name) = canary.pointer("/spec/ingressRef/name").and_then(Value::as_str) else { return false };
        let Ok(Some(ingress)) = self.cluster.get(INGRESS, ns, name).await else { return false };
        let hosts: Vec<String> = ingress
            .pointer("/spec/rules")
            .and_then(Value::as_array)
            .map(|rs| rs.iter().filter_map(|r| r.get("host").and_then(Value::as_str)).map(str::to_string).collect())
            .unwrap_or_default();
        if !loadtester::reaches_canary_through_ingress(cmd, &hosts, &loadtester::header_matches(canary)) {
            return false;
        }
        for host in loadtester::command_hosts(cmd) {
            if hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
                return true;
            }
            if let Some(sh) = loadtester::service_host(&host) {
                let svc_ns = sh.namespace.clone().unwrap_or_else(|| tester_ns.to_string());
                if matches!(self.cluster.get(SERVICE, &svc_ns, &sh.name).await, Ok(Some(_))) {
                    return true;
                }
            }
        }
        false
    }

    /// Answer a proxied plain-HTTP request if it is for a stand-in: a Prometheus query (answered
    /// or refused with `502`), or a load tester host (answered, or `502` naming why it cannot be
    /// reached). `None`: not for a stand-in.
    pub async fn respond(&self, req: Request) -> Option<Response> {
        let uri = req.uri().clone();
        let target = Endpoint::of(&uri, req.headers().get("host").and_then(|h| h.to_str().ok()))?;
        if uri.path().ends_with("/api/v1/query") {
            return Some(self.prometheus(&uri, &target).await);
        }
        match self.load_tester_service(&target).await {
            Ok(None) => None,
            Ok(Some(svc)) => {
                let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
                Some(self.loadtester(&svc, &uri.to_string(), uri.path(), &body).await)
            }
            Err(why) => {
                log(
                    json!({"standin": "loadtester", "refused": uri.to_string(), "host": format!("{}:{}", target.host, target.port), "why": why}),
                );
                Some(text(StatusCode::BAD_GATEWAY, format!("sim: no load tester answers {uri}: {why}\n")))
            }
        }
    }

    /// Handle one proxied request (the stand-ins' own server).
    pub async fn handle(State(me): State<StandIns>, req: Request) -> Response {
        let uri = req.uri().clone();
        if req.method() == Method::CONNECT {
            log(json!({"standin": "proxy", "refused": format!("CONNECT {uri}"), "why": "sim dials nothing off this machine"}));
            return (StatusCode::FORBIDDEN, "sim: CONNECT refused").into_response();
        }
        let method = req.method().clone();
        if let Some(resp) = me.respond(req).await {
            return resp;
        }
        log(json!({"standin": "proxy", "refused": format!("{method} {uri}"), "why": "nothing serves it on sim (no data plane)"}));
        Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(format!("sim: {uri} is not reachable (no data plane); the stand-ins answer Prometheus queries and Flagger load tester webhooks only\n")))
            .unwrap_or_default()
    }
}

/// Serve the stand-ins on `addr` until the process is stopped.
pub async fn serve(
    addr: SocketAddr,
    standins: StandIns,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().fallback(StandIns::handle).with_state(standins);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    log(json!({"standin": "started", "addr": addr.to_string()}));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
