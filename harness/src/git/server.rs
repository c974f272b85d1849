//! The read-only smart-HTTP server a cluster's Flux pulls the served copy from, without GitHub,
//! tokens or SSH keys.
//!
//! The server wraps `git http-backend` (CGI): every request runs it with the CGI environment,
//! which keeps protocol handling (v0/v2, gzip bodies, shallow fetches) exactly git's own.
//! Pushes (`git-receive-pack`) are refused: the cluster only reads.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt;

use super::ServedRepo;

/// Name under which the repo is served: `http://HOST:PORT/<REPO_PATH>`.
pub const REPO_PATH: &str = "repo.git";

/// The server could not listen.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}; another process uses that port — pick another with --addr HOST:PORT (port 0 picks a free one)")]
pub struct BindError {
    /// Address.
    pub addr: SocketAddr,
    /// Cause.
    pub source: std::io::Error,
}

#[derive(Debug)]
struct Shared {
    repo_dir: PathBuf,
}

/// A running read-only smart-HTTP server for a [`ServedRepo`].
#[derive(Debug)]
pub struct GitServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl GitServer {
    /// Listen on `bind` (port 0: any free port) and serve `repo` until [`GitServer::shutdown`].
    pub async fn start(repo: &ServedRepo, bind: SocketAddr) -> Result<GitServer, BindError> {
        let listener = tokio::net::TcpListener::bind(bind).await.map_err(|source| BindError { addr: bind, source })?;
        let addr = listener.local_addr().map_err(|source| BindError { addr: bind, source })?;
        let shared = Arc::new(Shared { repo_dir: repo.path().to_path_buf() });
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::warn!("git server stopped: {e}");
            }
        });
        Ok(GitServer { addr, shutdown: Some(tx), task: Some(task) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Clone URL on the listening address.
    pub fn url(&self) -> String {
        format!("http://{}/{REPO_PATH}", self.addr)
    }

    /// Clone URL as seen from elsewhere (a cluster: the Docker bridge gateway,
    /// `host.k3d.internal`, `host.docker.internal`).
    pub fn url_for_host(&self, host: &str) -> String {
        format!("http://{host}:{}/{REPO_PATH}", self.addr.port())
    }

    /// Stop serving and wait for in-flight requests (each runs its own short-lived git process).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn plain(status: StatusCode, msg: &str) -> Response {
    (status, [("content-type", "text/plain")], format!("{msg}\n")).into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers = req.headers().clone();
    tracing::debug!("git server: {method} {path}?{query}");
    let prefix = format!("/{REPO_PATH}");
    let Some(rest) = path.strip_prefix(&prefix) else {
        return plain(StatusCode::NOT_FOUND, &format!("not found: this server serves only {prefix}"));
    };
    if rest.contains("git-receive-pack") || query.contains("git-receive-pack") {
        return plain(StatusCode::FORBIDDEN, "this gitops-harness git server is read-only: commit through the harness");
    }
    if rest.contains("..") {
        return plain(StatusCode::BAD_REQUEST, "bad path");
    }
    let body = match axum::body::to_bytes(req.into_body(), 256 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("reading request body: {e}")),
    };
    match run_backend(&shared.repo_dir, &method, rest, &query, &headers, body).await {
        Ok(resp) => resp,
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("git http-backend: {e}")),
    }
}

/// Run `git http-backend` for one request (CGI) and turn its output into a response.
pub(crate) async fn run_backend(
    repo_dir: &Path,
    method: &str,
    rest: &str,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, std::io::Error> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", repo_dir)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/.git{rest}"))
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", method)
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        // The served copy is ours; don't let ownership checks of a shared runner refuse it.
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "safe.directory")
        .env("GIT_CONFIG_VALUE_0", "*")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // Write while the backend reads; a failed write means it exited early (its output says why).
        let _ = stdin.write_all(&body).await;
        drop(stdin);
    }
    let out = child.wait_with_output().await?;
    if !out.status.success() && out.stdout.is_empty() {
        return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(cgi_response(&out.stdout))
}

/// Parse a CGI response: headers (with an optional `Status:`), a blank line, the body.
pub fn cgi_response(raw: &[u8]) -> Response {
    let split = find_header_end(raw);
    let (head, body) = match split {
        Some((end, sep)) => (&raw[..end], &raw[end + sep..]),
        None => (&raw[..0], raw),
    };
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("status") {
            if let Some(code) = v.split_whitespace().next().and_then(|c| c.parse::<u16>().ok()) {
                status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            }
        } else if let (Ok(name), Ok(val)) = (axum::http::HeaderName::try_from(k), HeaderValue::from_str(v)) {
            headers.append(name, val);
        }
    }
    let mut resp = (status, body.to_vec()).into_response();
    resp.headers_mut().extend(headers);
    resp
}

fn find_header_end(raw: &[u8]) -> Option<(usize, usize)> {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgi_status_and_headers() {
        let resp = cgi_response(b"Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.headers()["content-type"], "text/plain");
        let ok = cgi_response(b"Content-Type: application/x-git-upload-pack-advertisement\n\n001e# service");
        assert_eq!(ok.status(), StatusCode::OK);
    }
}
