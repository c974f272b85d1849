//! The sim's egress gateway: ONE harness-owned HTTP proxy on 127.0.0.1 that is the only way out
//! of every sim process (their `HTTP_PROXY`/`HTTPS_PROXY`).
//!
//! - **Source cassette**: requests to a host the cassette holds (Helm repositories, chart
//!   archives, OCI registries, git hosts) are answered by [`Replay`]: plain HTTP directly, HTTPS
//!   by terminating the `CONNECT` tunnel with a certificate for that host from the per-cluster CA
//!   ([`tls::GatewayCa`]), which the processes trust through `SSL_CERT_FILE`. No URL in git is
//!   rewritten. A path the cassette lacks is a `404` naming the URL and the record command.
//! - **Stand-ins**: Flagger's Prometheus queries and load-tester webhooks (plain HTTP) go to
//!   [`StandIns`], which answer only at the addresses a real cluster would (Flagger's metrics
//!   server, a load tester Service that exists) and refuse the rest with their reason.
//! - **Everything else is refused** without a dial: `502` and a log line naming the process,
//!   host and URL. A `CONNECT` to a host the cassette does not hold is refused the same way.
//!
//! The calling process is named by the proxy URL's user: `http://source-controller@127.0.0.1:P`
//! makes Go's `net/http` (`ProxyFromEnvironment`) send `Proxy-Authorization: Basic
//! base64("source-controller:")` on plain proxied requests and on `CONNECT`, which the gateway
//! reads ([`process_env`] builds the variables).
//!
//! Every request is one JSON line through the [`Log`] (stdout in the gateway process).

pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::standins::StandIns;
use crate::sources::replay::{Outcome, Replay};
pub use tls::GatewayCa;

/// Where the gateway's log lines go.
pub type Log = Arc<dyn Fn(Value) + Send + Sync>;

/// One JSON object per line on stdout (the process log), with a timestamp.
pub fn stdout_log() -> Log {
    Arc::new(|mut event: Value| {
        if let Some(m) = event.as_object_mut() {
            m.insert("ts".into(), Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        }
        println!("{event}");
    })
}

/// What the gateway answers with.
pub struct GatewayConfig {
    /// Listen address (127.0.0.1; port 0 picks one).
    pub addr: SocketAddr,
    /// The source cassette, if any (without one every chart fetch is refused).
    pub replay: Option<Arc<Replay>>,
    /// The CA for HTTPS hosts.
    pub ca: Arc<GatewayCa>,
    /// Flagger's stand-ins, if Flagger runs.
    pub standins: Option<StandIns>,
    /// Log sink.
    pub log: Log,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("addr", &self.addr)
            .field("cassette", &self.replay.as_ref().map(|r| r.cassette().dir().to_path_buf()))
            .finish_non_exhaustive()
    }
}

struct Inner {
    replay: Option<Arc<Replay>>,
    ca: Arc<GatewayCa>,
    standins: Option<StandIns>,
    log: Log,
}

/// A running gateway (in this process).
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

/// The proxy URL a process is given: its name as the proxy user.
pub fn proxy_url(addr: SocketAddr, process: &str) -> String {
    let user: String =
        process.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '-' }).collect();
    format!("http://{user}@{addr}")
}

/// The environment a sim process needs so that the gateway is its only way out: both proxy
/// variables (upper and lower case) naming the process, `NO_PROXY` for loopback only (the API
/// server, the git server, source-controller's artifact server), and `SSL_CERT_FILE` with the
/// gateway's CA. Clear the inherited proxy variables first (the process spec does).
pub fn process_env(addr: SocketAddr, process: &str, ca_file: &Path) -> Vec<(String, String)> {
    let proxy = proxy_url(addr, process);
    let no_proxy = "127.0.0.1,localhost,::1".to_string();
    vec![
        ("HTTP_PROXY".into(), proxy.clone()),
        ("HTTPS_PROXY".into(), proxy.clone()),
        ("http_proxy".into(), proxy.clone()),
        ("https_proxy".into(), proxy),
        ("NO_PROXY".into(), no_proxy.clone()),
        ("no_proxy".into(), no_proxy),
        ("SSL_CERT_FILE".into(), ca_file.display().to_string()),
    ]
}

/// The process a request comes from: the user of its `Proxy-Authorization: Basic`.
pub fn process_of(headers: &HeaderMap) -> String {
    headers
        .get("proxy-authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic ")))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .map(|raw| String::from_utf8_lossy(&raw).split(':').next().unwrap_or("").to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unnamed process (no proxy user)".to_string())
}

impl Gateway {
    /// Listen on `config.addr` and serve until [`Gateway::shutdown`] (or the runtime ends).
    pub async fn start(config: GatewayConfig) -> std::io::Result<Gateway> {
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner { replay: config.replay, ca: config.ca, standins: config.standins, log: config.log });
        (inner.log)(json!({"gateway": "started", "addr": addr.to_string(),
            "cassette": inner.replay.as_ref().map(|r| r.cassette().dir().display().to_string()),
            "hosts": inner.replay.as_ref().map(|r| r.hosts().collect::<Vec<_>>()).unwrap_or_default(),
            "standins": inner.standins.is_some()}));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let inner = inner.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let inner = inner.clone();
                        async move { Ok::<_, Infallible>(inner.outer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).with_upgrades().await;
                });
            }
        });
        Ok(Gateway { addr, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting connections.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve a gateway until the process is stopped (`gitops-harness sources gateway`).
pub async fn serve(config: GatewayConfig) -> std::io::Result<()> {
    let mut gw = Gateway::start(config).await?;
    let _ = (&mut gw.task).await;
    Ok(())
}

fn text(status: StatusCode, msg: String) -> Response<Body> {
    (status, [("content-type", "text/plain; charset=utf-8")], format!("{msg}\n")).into_response()
}

/// `host` or `host:port` with the scheme's default port left out (how the cassette keys URLs).
fn authority(host: &str, port: Option<u16>, scheme: &str) -> String {
    let host = host.to_ascii_lowercase();
    match (port, scheme) {
        (None, _) | (Some(443), "https") | (Some(80), "http") => host,
        (Some(p), _) => format!("{host}:{p}"),
    }
}

impl Inner {
    /// A request on the proxy port: `CONNECT` or an absolute-form plain HTTP request.
    async fn outer(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let process = process_of(req.headers());
        if req.method() == Method::CONNECT {
            let Some(auth) = req.uri().authority().cloned() else {
                return text(StatusCode::BAD_REQUEST, "gitops-harness gateway: CONNECT needs host:port".into());
            };
            let key = authority(auth.host(), auth.port_u16(), "https");
            if !self.replay.as_ref().is_some_and(|r| r.knows_host(&key)) {
                let why = "the source cassette holds nothing of this host, and nothing leaves this machine";
                (self.log)(json!({"gateway": "refused", "process": process, "host": key, "url": format!("CONNECT {auth}"), "why": why}));
                return text(StatusCode::BAD_GATEWAY, format!("gitops-harness gateway: CONNECT {auth} refused for {process}: {why}"));
            }
            let config = match self.ca.server_config(auth.host()) {
                Ok(c) => c,
                Err(e) => {
                    (self.log)(json!({"gateway": "error", "process": process, "host": key, "error": e.to_string()}));
                    return text(StatusCode::BAD_GATEWAY, format!("gitops-harness gateway: {e}"));
                }
            };
            let me = self.clone();
            tokio::spawn(async move {
                let upgraded = match hyper::upgrade::on(req).await {
                    Ok(u) => u,
                    Err(e) => {
                        return (me.log)(
                            json!({"gateway": "error", "process": process, "host": key, "error": format!("CONNECT upgrade: {e}")}),
                        );
                    }
                };
                let tls = match tokio_rustls::TlsAcceptor::from(config).accept(TokioIo::new(upgraded)).await {
                    Ok(t) => t,
                    Err(e) => {
                        let hint = "does the process trust the gateway CA (SSL_CERT_FILE)?";
                        return (me.log)(
                            json!({"gateway": "error", "process": process, "host": key, "error": format!("TLS handshake: {e}; {hint}")}),
                        );
                    }
                };
                let svc = hyper::service::service_fn(move |r: Request<Incoming>| {
                    let (me, process, key) = (me.clone(), process.clone(), key.clone());
                    async move { Ok::<_, Infallible>(me.route(&process, "https", &key, r).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), svc).await;
            });
            return Response::new(Body::empty());
        }
        let uri = req.uri().clone();
        let (Some(host), Some(scheme)) = (uri.host(), uri.scheme_str()) else {
            return text(StatusCode::BAD_REQUEST, "gitops-harness gateway: this is an HTTP proxy; send absolute URLs or CONNECT".into());
        };
        let key = authority(host, uri.port_u16(), scheme);
        let scheme = scheme.to_string();
        self.route(&process, &scheme, &key, req).await
    }

    /// Answer one request for `scheme://authority`.
    async fn route(&self, process: &str, scheme: &str, authority: &str, req: Request<Incoming>) -> Response<Body> {
        let path_q = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        let url = format!("{scheme}://{authority}{path_q}");
        let method = req.method().clone();
        if let Some(replay) = self.replay.as_ref().filter(|r| r.knows_host(authority)) {
            let headers = req.headers().clone();
            let body = match axum::body::to_bytes(Body::new(req.into_body()), 256 << 20).await {
                Ok(b) => b,
                Err(e) => return text(StatusCode::BAD_REQUEST, format!("gitops-harness gateway: reading the request body: {e}")),
            };
            let (resp, outcome) = replay.answer(&method, &url, &headers, body).await;
            let (what, detail) = match &outcome {
                Outcome::Served(d) => ("served", json!(d)),
                Outcome::Registry => ("served", json!("registry version check")),
                Outcome::Git => ("served", json!("git")),
                Outcome::Miss(m) => ("miss", json!(m)),
                Outcome::Corrupt(m) => ("corrupt", json!(m)),
                Outcome::Refused => ("refused", json!("method not answered by the cassette")),
            };
            (self.log)(json!({"gateway": "cassette", "outcome": what, "process": process, "method": method.as_str(),
                "url": url, "status": resp.status().as_u16(), "detail": detail}));
            return resp;
        }
        // Plain HTTP that a stand-in answers for (a Prometheus query, a load tester Service that
        // exists), or refuses with its own reason; anything else is refused below.
        if let (true, Some(s)) = (scheme == "http", &self.standins)
            && let Some(resp) = s.respond(req.map(Body::new)).await
        {
            return resp;
        }
        let why = if self.replay.is_none() {
            "no source cassette is loaded and it is not a stand-in"
        } else {
            "not in the source cassette and not a stand-in"
        };
        (self.log)(json!({"gateway": "refused", "process": process, "host": authority, "url": url, "method": method.as_str(), "why": why}));
        text(
            StatusCode::BAD_GATEWAY,
            format!("gitops-harness gateway: {} {url} refused for {process}: {why}; nothing leaves this machine", method),
        )
    }
}

/// The gateway log's lines (`log`, JSON lines) about what `failure` names (a URL, or the host
/// of a refused `CONNECT`) that were not served, as sentences; at most three, newest first.
/// When the failure names none (a controller's message without the URL), every fetch the
/// gateway did not serve: on a healthy cluster there is none.
pub fn explain(log: &str, failure: &str) -> Vec<String> {
    let named = explain_matching(log, Some(failure));
    if named.is_empty() { explain_matching(log, None) } else { named }
}

fn explain_matching(log: &str, failure: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in log.lines().rev().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
        let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
        let (url, process) = (s("url"), s("process"));
        let host = s("host");
        let host = host.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map_or(host.as_str(), |(h, _)| h);
        let named = failure.is_none_or(|f| {
            (!url.is_empty() && f.contains(url.trim_start_matches("CONNECT "))) || (!host.is_empty() && f.contains(&format!("//{host}")))
        });
        if !named {
            continue;
        }
        let line = match (s("gateway").as_str(), s("outcome").as_str()) {
            ("cassette", "served") => continue,
            ("cassette", outcome) => {
                let detail = v.get("detail").map(|d| d.as_str().map(str::to_string).unwrap_or_else(|| d.to_string())).unwrap_or_default();
                format!("egress gateway: {url} for {process}: {outcome}: {detail}")
            }
            ("refused", _) => format!(
                "egress gateway: {url} refused for {process}: {}; record the repository's sources into the cassette with `gitops-harness sources record` on a machine that reaches it",
                s("why")
            ),
            _ => continue,
        };
        if !out.contains(&line) {
            out.push(line);
        }
        if out.len() == 3 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_names_what_the_failure_fetched() {
        let log = [
            r#"{"gateway":"cassette","outcome":"served","process":"source-controller","url":"https://charts.jetstack.io/index.yaml","detail":"index"}"#,
            r#"{"gateway":"cassette","outcome":"corrupt","process":"source-controller","url":"https://github.com/x/c-1.tgz","detail":"the cassette's copy of https://github.com/x/c-1.tgz is corrupt; record it again: gitops-harness sources record"}"#,
            r#"{"gateway":"refused","process":"source-controller","host":"linkerd.github.io:443","url":"CONNECT linkerd.github.io:443","why":"not in the source cassette and not a stand-in"}"#,
            "not json",
        ]
        .join("\n");
        let corrupt = explain(&log, "chart pull error: failed to fetch https://github.com/x/c-1.tgz : 500 Internal Server Error");
        assert_eq!(corrupt.len(), 1, "{corrupt:?}");
        assert!(corrupt[0].contains("corrupt") && corrupt[0].contains("sources record"), "{corrupt:?}");
        let refused = explain(&log, "failed to fetch https://linkerd.github.io/linkerd-smi/index.yaml : 502 Bad Gateway");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0]
                .starts_with("egress gateway: CONNECT linkerd.github.io:443 refused for source-controller: not in the source cassette"),
            "{refused:?}"
        );
        assert!(refused[0].contains("gitops-harness sources record"), "{refused:?}");
        let unnamed = explain(&log, "invalid chart reference: no chart name found");
        assert_eq!(unnamed.len(), 2, "a failure naming no URL gets every unserved fetch: {unnamed:?}");
        let served_only = log.lines().next().unwrap_or_default();
        assert!(explain(served_only, "https://charts.jetstack.io/index.yaml timed out").is_empty(), "a served fetch explains nothing");
    }

    #[test]
    fn the_process_is_the_proxy_user() {
        let mut h = HeaderMap::new();
        h.insert("proxy-authorization", "Basic c291cmNlLWNvbnRyb2xsZXI6".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(process_of(&h), "source-controller");
        assert_eq!(process_of(&HeaderMap::new()), "unnamed process (no proxy user)");
        assert_eq!(
            proxy_url("127.0.0.1:9".parse().unwrap_or_else(|_| unreachable!()), "helm controller"),
            "http://helm-controller@127.0.0.1:9"
        );
    }

    #[test]
    fn default_ports_are_left_out() {
        assert_eq!(authority("GHCR.io", Some(443), "https"), "ghcr.io");
        assert_eq!(authority("127.0.0.1", Some(8443), "https"), "127.0.0.1:8443");
        assert_eq!(authority("h", Some(80), "http"), "h");
    }
}
