//! OCI registries, read side of the distribution API: references (`oci://host/name`), the URLs a
//! client asks for (`/v2/<name>/tags/list`, `/manifests/<ref>`, `/blobs/<digest>`), and the
//! anonymous client that records from a registry (bearer-token challenge as ghcr.io and Docker
//! Hub answer it, paginated tag lists).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use super::{SourcesError, UrlOverride, apply_overrides};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// A Helm chart's layer in an OCI artifact.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// A Helm chart's config in an OCI artifact.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";

/// Every manifest type a client accepts.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// A repository in a registry: `oci://ghcr.io/fluxcd/charts/flagger`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRepo {
    /// `https`, or `http` for a registry declared insecure.
    pub scheme: &'static str,
    /// Registry host (and port).
    pub host: String,
    /// Repository name (`fluxcd/charts/flagger`).
    pub name: String,
}

impl OciRepo {
    /// Parse an `oci://` URL (a tag or digest on it is not part of the repository).
    pub fn parse(oci_url: &str, insecure: bool) -> Result<OciRepo, SourcesError> {
        let bad = |why: &str| SourcesError::BadUrl { url: oci_url.to_string(), why: why.to_string() };
        let rest = oci_url.strip_prefix("oci://").ok_or_else(|| bad("an OCI URL starts with oci://"))?;
        let (host, name) = rest.split_once('/').ok_or_else(|| bad("expected oci://HOST/NAME"))?;
        let name = name.trim_end_matches('/');
        if host.is_empty() || name.is_empty() {
            return Err(bad("expected oci://HOST/NAME"));
        }
        Ok(OciRepo { scheme: if insecure { "http" } else { "https" }, host: host.to_ascii_lowercase(), name: name.to_string() })
    }

    /// A repository below this one (`oci://ghcr.io/fluxcd/charts` + `flagger`).
    pub fn child(&self, name: &str) -> OciRepo {
        OciRepo { scheme: self.scheme, host: self.host.clone(), name: format!("{}/{name}", self.name) }
    }

    /// The `oci://` form.
    pub fn oci_url(&self) -> String {
        format!("oci://{}/{}", self.host, self.name)
    }

    /// `https://host/v2/`.
    pub fn base_url(&self) -> String {
        format!("{}://{}/v2/", self.scheme, self.host)
    }

    /// Tags list URL.
    pub fn tags_url(&self) -> String {
        format!("{}://{}/v2/{}/tags/list", self.scheme, self.host, self.name)
    }

    /// Manifest URL by tag or digest.
    pub fn manifest_url(&self, reference: &str) -> String {
        format!("{}://{}/v2/{}/manifests/{reference}", self.scheme, self.host, self.name)
    }

    /// Blob URL.
    pub fn blob_url(&self, digest: &str) -> String {
        format!("{}://{}/v2/{}/blobs/{digest}", self.scheme, self.host, self.name)
    }
}

/// What a distribution API path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiPath<'a> {
    /// `/v2/` (the version check clients start with).
    Base,
    /// `/v2/<name>/tags/list`.
    Tags(&'a str),
    /// `/v2/<name>/manifests/<ref>`.
    Manifest(&'a str, &'a str),
    /// `/v2/<name>/blobs/<digest>`.
    Blob(&'a str, &'a str),
}

/// Classify a request path of the distribution API.
pub fn api_path(path: &str) -> Option<ApiPath<'_>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(ApiPath::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(ApiPath::Tags(name));
    }
    if let Some((name, r)) = rest.rsplit_once("/manifests/") {
        return Some(ApiPath::Manifest(name, r));
    }
    if let Some((name, d)) = rest.rsplit_once("/blobs/") {
        return Some(ApiPath::Blob(name, d));
    }
    None
}

/// The descriptors a manifest points at: `(config and layers)` for an image manifest, child
/// manifests (with their platform) for an index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Config and layer digests (image manifest).
    pub blobs: Vec<(String, String)>,
    /// Child manifests `(digest, media type, "os/arch")` (index).
    pub children: Vec<(String, String, String)>,
}

/// Read a manifest's descriptors.
pub fn parse_manifest(bytes: &[u8]) -> Result<Parsed, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not a JSON manifest: {e}"))?;
    let desc =
        |d: &Value| Some((d.get("digest")?.as_str()?.to_string(), d.get("mediaType").and_then(Value::as_str).unwrap_or("").to_string()));
    let mut out = Parsed::default();
    if let Some(list) = v.get("manifests").and_then(Value::as_array) {
        for m in list {
            if let Some((d, t)) = desc(m) {
                let p = m.get("platform");
                let plat = format!(
                    "{}/{}",
                    p.and_then(|p| p.get("os")).and_then(Value::as_str).unwrap_or(""),
                    p.and_then(|p| p.get("architecture")).and_then(Value::as_str).unwrap_or("")
                );
                out.children.push((d, t, plat));
            }
        }
        return Ok(out);
    }
    if let Some(c) = v.get("config").and_then(desc) {
        out.blobs.push(c);
    }
    for l in v.get("layers").and_then(Value::as_array).into_iter().flatten() {
        if let Some(d) = desc(l) {
            out.blobs.push(d);
        }
    }
    Ok(out)
}

/// The media type of a manifest: its `mediaType` field, else the one the server sent.
pub fn manifest_media_type(bytes: &[u8], served: &str) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("mediaType").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| if served.is_empty() { OCI_MANIFEST.to_string() } else { served.to_string() })
}

/// An anonymous registry client for recording.
#[derive(Debug)]
pub struct Registry<'a> {
    http: &'a reqwest::Client,
    overrides: &'a [UrlOverride],
    tokens: Mutex<HashMap<String, String>>,
}

fn challenge_params(header: &str) -> Option<HashMap<String, String>> {
    let rest = header.trim().strip_prefix("Bearer ").or_else(|| header.trim().strip_prefix("bearer "))?;
    let re = regex::Regex::new(r#"(\w+)="([^"]*)""#).ok()?;
    Some(re.captures_iter(rest).filter_map(|c| Some((c.get(1)?.as_str().to_string(), c.get(2)?.as_str().to_string()))).collect())
}

impl<'a> Registry<'a> {
    /// A client fetching through `overrides`.
    pub fn new(http: &'a reqwest::Client, overrides: &'a [UrlOverride]) -> Registry<'a> {
        Registry { http, overrides, tokens: Mutex::new(HashMap::new()) }
    }

    async fn send(&self, url: &str, accept: &[&str], token: Option<&str>) -> Result<reqwest::Response, SourcesError> {
        let target = apply_overrides(self.overrides, url);
        let mut req = self.http.get(&target);
        if !accept.is_empty() {
            req = req.header("Accept", accept.join(", "));
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.map_err(|e| SourcesError::Fetch { url: url.to_string(), message: e.to_string() })
    }

    async fn token(&self, url: &str, challenge: &str) -> Result<String, SourcesError> {
        let fail = |m: String| SourcesError::Fetch { url: url.to_string(), message: m };
        let p = challenge_params(challenge)
            .ok_or_else(|| fail(format!("the registry asks for credentials ({challenge}); recording supports anonymous pulls only")))?;
        let realm = p.get("realm").ok_or_else(|| fail(format!("token challenge without a realm: {challenge}")))?;
        let mut token_url = url::Url::parse(realm).map_err(|e| fail(format!("token realm {realm}: {e}")))?;
        {
            let mut q = token_url.query_pairs_mut();
            for k in ["service", "scope"] {
                if let Some(v) = p.get(k) {
                    q.append_pair(k, v);
                }
            }
        }
        let key = token_url.to_string();
        if let Some(t) = self.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(t.clone());
        }
        let resp = self.send(token_url.as_str(), &[], None).await?;
        if !resp.status().is_success() {
            return Err(fail(format!("anonymous token from {realm}: HTTP {}", resp.status())));
        }
        let v: Value = resp.json().await.map_err(|e| fail(format!("token answer from {realm}: {e}")))?;
        let t = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(Value::as_str)
            .ok_or_else(|| fail(format!("no token in the answer of {realm}")))?;
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(key, t.to_string());
        Ok(t.to_string())
    }

    /// GET `url` (answering a bearer challenge anonymously); the body, its content type, and
    /// the `Link` header (tag pagination). 404 is `Ok(None)`.
    pub async fn get(&self, url: &str, accept: &[&str]) -> Result<Option<(Vec<u8>, String, Option<String>)>, SourcesError> {
        let mut resp = self.send(url, accept, None).await?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            let challenge = resp.headers().get("www-authenticate").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
            let token = self.token(url, &challenge).await?;
            resp = self.send(url, accept, Some(&token)).await?;
        }
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            return Err(SourcesError::Fetch { url: url.to_string(), message: format!("HTTP {status}: {}", body.trim()) });
        }
        let header = |n: &str| resp.headers().get(n).and_then(|h| h.to_str().ok()).map(str::to_string);
        let (ctype, link) = (header("content-type").unwrap_or_default(), header("link"));
        let bytes = resp.bytes().await.map_err(|e| SourcesError::Fetch { url: url.to_string(), message: e.to_string() })?;
        Ok(Some((bytes.to_vec(), ctype, link)))
    }

    /// Every tag of a repository (following `Link: <…>; rel="next"` pages).
    pub async fn tags(&self, repo: &OciRepo) -> Result<Vec<String>, SourcesError> {
        let mut url = repo.tags_url();
        let mut tags = Vec::new();
        for _ in 0..1000 {
            let Some((body, _, link)) = self.get(&url, &["application/json"]).await? else {
                return Err(SourcesError::NotFound(format!("{} does not exist (tags list answered 404)", repo.oci_url())));
            };
            let v: Value =
                serde_json::from_slice(&body).map_err(|e| SourcesError::Fetch { url: url.clone(), message: format!("tags list: {e}") })?;
            tags.extend(v.get("tags").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string));
            let next = link.and_then(|l| {
                let (target, rel) = l.split_once(';')?;
                rel.contains("next").then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_string())
            });
            match next {
                Some(n) if n.starts_with('/') => url = format!("{}://{}{n}", repo.scheme, repo.host),
                Some(n) => url = n,
                None => return Ok(tags),
            }
        }
        Ok(tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_paths() {
        let r = OciRepo::parse("oci://ghcr.io/fluxcd/charts", false).unwrap_or_else(|e| panic!("{e}"));
        let f = r.child("flagger");
        assert_eq!(f.manifest_url("1.44.0"), "https://ghcr.io/v2/fluxcd/charts/flagger/manifests/1.44.0");
        assert_eq!(api_path("/v2/fluxcd/charts/flagger/manifests/1.44.0"), Some(ApiPath::Manifest("fluxcd/charts/flagger", "1.44.0")));
        assert_eq!(api_path("/v2/fluxcd/charts/flagger/tags/list"), Some(ApiPath::Tags("fluxcd/charts/flagger")));
        assert_eq!(api_path("/v2/"), Some(ApiPath::Base));
        assert_eq!(api_path("/index.yaml"), None);
        assert!(OciRepo::parse("https://ghcr.io/x", false).is_err());
    }

    #[test]
    fn bearer_challenges_are_read() {
        let p = challenge_params(r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:fluxcd/charts/flagger:pull""#)
            .unwrap_or_default();
        assert_eq!(p.get("realm").map(String::as_str), Some("https://ghcr.io/token"));
        assert_eq!(p.get("scope").map(String::as_str), Some("repository:fluxcd/charts/flagger:pull"));
        assert!(challenge_params("Basic realm=x").is_none());
    }
}
