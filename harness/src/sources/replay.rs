//! Replay: answer HTTP requests from a cassette. Helm indexes and archives by URL, the read side
//! of the OCI distribution API (`/v2/`, tags list, manifests by tag or digest with
//! `Docker-Content-Digest`, blobs), git smart HTTP for recorded git repositories (through the git
//! server's `git http-backend` wrapper). Every blob is checked against its digest as it is read.
//!
//! A request the cassette cannot answer is answered at once — `404` naming the URL, the cassette
//! and the command that records it (as an OCI error document on `/v2/` paths, which Helm and
//! source-controller print) — never forwarded.

use std::collections::BTreeSet;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::cassette::{BlobError, url_key};
use super::oci::{ApiPath, OciRepo, api_path};
use super::{Cassette, SourceKind, git};

/// How a request was answered (for the gateway's log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A recorded file (its digest).
    Served(String),
    /// The registry version check (`/v2/`).
    Registry,
    /// A recorded git repository.
    Git,
    /// Not in the cassette (the message names the URL, its source and the record command).
    Miss(String),
    /// In the cassette, but its blob is corrupt or unreadable (the message names it).
    Corrupt(String),
    /// A method replay does not answer.
    Refused,
}

/// Answers requests from one cassette.
#[derive(Debug)]
pub struct Replay {
    cassette: Cassette,
    record_hint: String,
    hosts: BTreeSet<String>,
}

/// `host[:port]` of a URL key (`https://ghcr.io/v2/…` → `ghcr.io`).
fn authority(key: &str) -> Option<&str> {
    let rest = key.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

impl Replay {
    /// Replay `cassette`; `record_hint` is the command a miss tells people to run.
    pub fn new(cassette: Cassette, record_hint: String) -> Replay {
        let mut hosts = BTreeSet::new();
        for f in &cassette.lock().files {
            if let Some(a) = authority(&f.url) {
                hosts.insert(a.to_string());
            }
        }
        for s in cassette.lock().sources.iter().filter(|s| s.kind == SourceKind::Git) {
            if let Some(a) = url_key(&s.url).as_deref().and_then(authority) {
                hosts.insert(a.to_string());
            }
        }
        Replay { cassette, record_hint, hosts }
    }

    /// The cassette.
    pub fn cassette(&self) -> &Cassette {
        &self.cassette
    }

    /// Whether the cassette holds anything of `authority` (`host` or `host:port`, default ports
    /// left out).
    pub fn knows_host(&self, authority: &str) -> bool {
        self.hosts.contains(&authority.to_ascii_lowercase())
    }

    /// The hosts the cassette answers for.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(String::as_str)
    }

    /// The recorded sources a URL belongs to, and who asked for them.
    fn owners(&self, key: &str) -> Option<String> {
        let mut urls = BTreeSet::new();
        let mut objects = BTreeSet::new();
        for s in &self.cassette.lock().sources {
            let base = match s.kind {
                SourceKind::HelmOci => OciRepo::parse(&s.url, false).ok().map(|r| r.child(&s.name)),
                SourceKind::Oci => OciRepo::parse(&s.url, false).ok(),
                _ => None,
            }
            .map(|r| format!("{}/", r.manifest_url("").trim_end_matches("/manifests/")))
            .or_else(|| url_key(&s.url).map(|u| format!("{}/", u.trim_end_matches('/'))));
            let base = base.map(|b| b.replacen("https://", "", 1).replacen("http://", "", 1));
            let bare = key.replacen("https://", "", 1).replacen("http://", "", 1);
            if base.is_some_and(|b| bare.starts_with(&b)) {
                urls.insert(s.url.as_str());
                objects.extend(s.objects.iter().map(String::as_str));
            }
        }
        (!urls.is_empty()).then(|| {
            let urls: Vec<&str> = urls.into_iter().collect();
            let objects: Vec<&str> = objects.into_iter().collect();
            format!(" (source {}, asked by {})", urls.join(", "), objects.join(", "))
        })
    }

    fn miss_message(&self, url: &str) -> String {
        let owners = url_key(url).and_then(|k| self.owners(&k)).unwrap_or_default();
        format!(
            "gitops-harness: {url}{owners} is not in the source cassette {}; on a machine that can reach it, record this repository's sources: {}",
            self.cassette.dir().display(),
            self.record_hint
        )
    }

    /// Answer `method url` (absolute URL); `body` is the request body (git upload-pack).
    pub async fn answer(&self, method: &Method, url: &str, headers: &HeaderMap, body: Bytes) -> (Response, Outcome) {
        let Some(key) = url_key(url) else {
            return (
                plain(StatusCode::BAD_REQUEST, &format!("gitops-harness: cannot replay `{url}`: not an http(s) URL")),
                Outcome::Refused,
            );
        };
        let query = url::Url::parse(url).ok().and_then(|u| u.query().map(str::to_string)).unwrap_or_default();
        if let Some((s, rest)) = git::route(&self.cassette, &key) {
            if rest.contains("git-receive-pack") || query.contains("git-receive-pack") {
                return (plain(StatusCode::FORBIDDEN, "gitops-harness: the cassette is read-only"), Outcome::Refused);
            }
            let dir = self.cassette.git_dir(&s.url);
            let root = dir.parent().unwrap_or(&dir).to_path_buf();
            return match crate::git::server::run_backend(&root, method.as_str(), rest, &query, headers, body).await {
                Ok(r) => (r, Outcome::Git),
                Err(e) => (plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("git http-backend: {e}")), Outcome::Corrupt(e.to_string())),
            };
        }
        if method != Method::GET && method != Method::HEAD {
            return (
                plain(StatusCode::METHOD_NOT_ALLOWED, "gitops-harness: the source cassette answers GET and HEAD only"),
                Outcome::Refused,
            );
        }
        let path = key.split_once("://").and_then(|(_, r)| r.find('/').map(|i| &r[i..])).unwrap_or("/");
        let api = api_path(path);
        if let Some(f) = self.cassette.file(url) {
            return match self.cassette.read_blob(&f.digest) {
                Ok(bytes) => {
                    let mut resp = if method == Method::HEAD {
                        let mut r = Response::new(Body::empty());
                        r.headers_mut().insert("content-length", HeaderValue::from(bytes.len()));
                        r
                    } else {
                        Response::new(Body::from(bytes))
                    };
                    let h = resp.headers_mut();
                    if let Ok(v) = HeaderValue::from_str(&f.media_type) {
                        h.insert("content-type", v);
                    }
                    if matches!(api, Some(ApiPath::Manifest(..) | ApiPath::Blob(..)))
                        && let Ok(v) = HeaderValue::from_str(&f.digest)
                    {
                        h.insert("docker-content-digest", v);
                    }
                    if api.is_some() {
                        h.insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
                    }
                    (resp, Outcome::Served(f.digest.clone()))
                }
                Err(e) => {
                    let why = match &e {
                        BlobError::Mismatch { path, want, got } => format!(
                            "gitops-harness: the cassette's copy of {url} ({}, {}) is corrupt: digest {got}, the lock says {want}; record it again: {}",
                            path.display(),
                            self.cassette.owners_of(f),
                            self.record_hint
                        ),
                        BlobError::Unreadable { path, message } => {
                            format!(
                                "gitops-harness: the cassette's copy of {url} ({}) cannot be read: {message}; record it again: {}",
                                path.display(),
                                self.record_hint
                            )
                        }
                    };
                    (plain(StatusCode::INTERNAL_SERVER_ERROR, &why), Outcome::Corrupt(why))
                }
            };
        }
        let message = self.miss_message(url);
        match api {
            Some(ApiPath::Base) => {
                let mut r = (StatusCode::OK, [("content-type", "application/json")], "{}").into_response();
                r.headers_mut().insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
                (r, Outcome::Registry)
            }
            Some(a) => {
                let code = match a {
                    ApiPath::Manifest(..) => "MANIFEST_UNKNOWN",
                    ApiPath::Blob(..) => "BLOB_UNKNOWN",
                    _ => "NAME_UNKNOWN",
                };
                let body = json!({"errors": [{"code": code, "message": message, "detail": {"url": url}}]}).to_string();
                ((StatusCode::NOT_FOUND, [("content-type", "application/json")], body).into_response(), Outcome::Miss(message))
            }
            None => (plain(StatusCode::NOT_FOUND, &message), Outcome::Miss(message)),
        }
    }
}

fn plain(status: StatusCode, msg: &str) -> Response {
    (status, [("content-type", "text/plain; charset=utf-8")], format!("{msg}\n")).into_response()
}
