//! The harness's own git server: a working copy the harness owns ([`ServedRepo`]), served
//! read-only over git's smart HTTP protocol ([`GitServer`]) so a cluster's Flux can pull it
//! without GitHub, tokens or SSH keys.
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

use crate::gitops_change::{ChangeError, WorkingCopy};

/// Name under which the repo is served: `http://HOST:PORT/<REPO_PATH>`.
pub const REPO_PATH: &str = "repo.git";

/// Errors of the served repo and the server.
#[derive(Debug, thiserror::Error)]
pub enum GitServerError {
    /// `git` is not installed.
    #[error("cannot run git: {0}; install git (e.g. `apt-get install git`)")]
    GitMissing(String),
    /// A git command failed.
    #[error("`git {args}` in {dir} failed: {stderr}")]
    Git {
        /// Working copy.
        dir: PathBuf,
        /// Arguments.
        args: String,
        /// git's message.
        stderr: String,
    },
    /// Copying the source repo failed.
    #[error("copying {src} into the served copy {dst}: {source}")]
    Copy {
        /// Source.
        src: PathBuf,
        /// Destination.
        dst: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The source is not a directory.
    #[error("{0}: not a directory; pass the root of a gitops repository")]
    NotADirectory(PathBuf),
    /// The listen address is taken.
    #[error(
        "cannot listen on {addr}: {source}; another process uses that port — pick another with --addr HOST:PORT (port 0 picks a free one)"
    )]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing a file into the served copy failed.
    #[error("writing {path}: {source}")]
    Write {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// A git working copy owned by the harness: a copy of the user's repo (never the repo itself),
/// on branch `main`, that the harness commits to and serves.
#[derive(Debug, Clone)]
pub struct ServedRepo {
    dir: PathBuf,
    branch: String,
}

fn git_in(dir: &Path, args: &[&str]) -> Result<String, GitServerError> {
    crate::git::run_text(dir, args).map_err(|e| match e {
        crate::git::GitCliError::Missing(m) => GitServerError::GitMissing(m),
        crate::git::GitCliError::Failed { args, stderr } => GitServerError::Git { dir: dir.to_path_buf(), args, stderr },
    })
}

/// Copy a repository tree (without `.git`, `target`, `.tools`; symlinks kept as links).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), GitServerError> {
    let err = |source: std::io::Error| GitServerError::Copy { src: src.to_path_buf(), dst: dst.to_path_buf(), source };
    for entry in walkdir::WalkDir::new(src).into_iter().filter_entry(|e| {
        let n = e.file_name().to_string_lossy();
        !(e.depth() > 0 && (n == ".git" || n == "target" || n == ".tools"))
    }) {
        let entry = entry.map_err(|e| err(e.into()))?;
        let rel = entry.path().strip_prefix(src).unwrap_or(entry.path());
        let to = dst.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).map_err(err)?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &to).map_err(err)?;
        } else if entry.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(err)?;
            std::os::unix::fs::symlink(target, &to).map_err(err)?;
        }
    }
    Ok(())
}

impl ServedRepo {
    /// Copy `src` (without `.git`, `target`, `.tools`) into `dir` and commit it on `main`.
    pub fn prepare(src: &Path, dir: &Path) -> Result<ServedRepo, GitServerError> {
        if !src.is_dir() {
            return Err(GitServerError::NotADirectory(src.to_path_buf()));
        }
        std::fs::create_dir_all(dir).map_err(|source| GitServerError::Copy { src: src.to_path_buf(), dst: dir.to_path_buf(), source })?;
        copy_tree(src, dir)?;
        // `init -b` needs git 2.28; pointing HEAD at the branch before the first commit works
        // with any git (and whatever init.defaultBranch says).
        git_in(dir, &["init", "--quiet"])?;
        git_in(dir, &["symbolic-ref", "HEAD", "refs/heads/main"])?;
        git_in(dir, &["config", "user.name", "gitops-harness"])?;
        git_in(dir, &["config", "user.email", "gitops-harness@localhost"])?;
        let repo = ServedRepo { dir: dir.to_path_buf(), branch: "main".to_string() };
        repo.commit_all(&format!("gitops-harness: initial import of {}", src.display()))?;
        Ok(repo)
    }

    /// Open a served copy prepared earlier (e.g. by `up`, from a suite process).
    pub fn open(dir: &Path) -> Result<ServedRepo, GitServerError> {
        let branch = git_in(dir, &["rev-parse", "--abbrev-ref", "HEAD"])?;
        Ok(ServedRepo { dir: dir.to_path_buf(), branch })
    }

    /// The working copy.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Branch Flux follows.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// Current commit.
    pub fn head(&self) -> Result<String, GitServerError> {
        git_in(&self.dir, &["rev-parse", "HEAD"])
    }

    /// Write a file (relative path) into the working copy; commit separately.
    pub fn write_file(&self, rel: &Path, contents: &[u8]) -> Result<(), GitServerError> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| GitServerError::Write { path: path.clone(), source })?;
        }
        std::fs::write(&path, contents).map_err(|source| GitServerError::Write { path, source })
    }

    /// Stage everything and commit; returns the new HEAD (the old one when nothing changed).
    pub fn commit_all(&self, message: &str) -> Result<String, GitServerError> {
        git_in(&self.dir, &["add", "-A"])?;
        let status = git_in(&self.dir, &["status", "--porcelain"])?;
        if !status.is_empty() {
            git_in(&self.dir, &["commit", "--quiet", "--no-verify", "-m", message])?;
        }
        self.head()
    }
}

impl WorkingCopy for ServedRepo {
    fn root(&self) -> &Path {
        &self.dir
    }
    fn commit_all(&self, message: &str) -> Result<String, ChangeError> {
        ServedRepo::commit_all(self, message).map_err(|e| ChangeError::Git { dir: self.dir.clone(), message: e.to_string() })
    }
    fn branch(&self) -> String {
        self.branch.clone()
    }
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
    pub async fn start(repo: &ServedRepo, bind: SocketAddr) -> Result<GitServer, GitServerError> {
        let listener = tokio::net::TcpListener::bind(bind).await.map_err(|source| GitServerError::Bind { addr: bind, source })?;
        let addr = listener.local_addr().map_err(|source| GitServerError::Bind { addr: bind, source })?;
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
