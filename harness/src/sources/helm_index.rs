//! Helm HTTP repository indexes (`index.yaml`): reading entries, where a chart archive is
//! fetched from (Helm's `ResolveReferenceURL`), and the trimmed index a cassette serves.
//!
//! The cassette serves an index holding only the entries it recorded, written exactly as the
//! upstream index had them (urls, digests, metadata): a range such as `1.x` then resolves on
//! replay to a recorded version, never to an archive the cassette lacks, and the file stays small
//! (the upstream indexes of charts.jetstack.io or helm.linkerd.io are megabytes).

use serde_json::{Map, Value};

use super::SourcesError;
use super::semver::Candidate;

/// Parse an index (YAML, or JSON, which Helm accepts too).
pub fn parse(url: &str, bytes: &[u8]) -> Result<Value, SourcesError> {
    let text = String::from_utf8_lossy(bytes);
    let v: Value = serde_norway::from_str(&text)
        .map_err(|e| SourcesError::Fetch { url: url.to_string(), message: format!("not a Helm repository index: {e}") })?;
    if !v.get("entries").is_some_and(Value::is_object) && !v.get("apiVersion").is_some_and(Value::is_string) {
        return Err(SourcesError::Fetch {
            url: url.to_string(),
            message: "not a Helm repository index (no apiVersion, no entries)".into(),
        });
    }
    Ok(v)
}

/// The versions an index lists for `chart`, with their `created` times.
pub fn candidates(index: &Value, chart: &str) -> Vec<Candidate> {
    entries(index, chart)
        .iter()
        .filter_map(|e| {
            let version = e.get("version").and_then(Value::as_str)?.to_string();
            let created = e.get("created").and_then(Value::as_str).unwrap_or("").to_string();
            Some(Candidate { version, created })
        })
        .collect()
}

fn entries<'a>(index: &'a Value, chart: &str) -> &'a [Value] {
    index
        .pointer(&format!("/entries/{}", chart.replace('~', "~0").replace('/', "~1")))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The entry of `chart` at exactly `version`.
pub fn entry<'a>(index: &'a Value, chart: &str, version: &str) -> Option<&'a Value> {
    entries(index, chart).iter().find(|e| e.get("version").and_then(Value::as_str) == Some(version))
}

/// The first download URL of an entry (what source-controller fetches).
pub fn first_url(entry: &Value) -> Option<&str> {
    entry.get("urls").and_then(Value::as_array).and_then(|u| u.first()).and_then(Value::as_str)
}

/// `<repo url>/index.yaml` as source-controller builds it (path joined, query kept).
pub fn index_url(repo_url: &str) -> Result<String, SourcesError> {
    let mut u = url::Url::parse(repo_url).map_err(|e| SourcesError::BadUrl { url: repo_url.to_string(), why: e.to_string() })?;
    let path = format!("{}/index.yaml", u.path().trim_end_matches('/'));
    u.set_path(&path);
    Ok(u.to_string())
}

/// Where an entry's URL points, relative to the repository URL (Helm's `ResolveReferenceURL`:
/// absolute URLs as they are; relative ones against the repository URL with a trailing slash,
/// keeping the repository URL's query).
pub fn resolve_reference(repo_url: &str, reference: &str) -> Result<String, SourcesError> {
    if let Ok(abs) = url::Url::parse(reference) {
        return Ok(abs.to_string());
    }
    let mut base = url::Url::parse(repo_url).map_err(|e| SourcesError::BadUrl { url: repo_url.to_string(), why: e.to_string() })?;
    let path = format!("{}/", base.path().trim_end_matches('/'));
    base.set_path(&path);
    let query = base.query().map(str::to_string);
    let mut resolved = base.join(reference).map_err(|e| SourcesError::BadUrl { url: reference.to_string(), why: e.to_string() })?;
    resolved.set_query(query.as_deref());
    Ok(resolved.to_string())
}

/// The index a cassette serves: the entries of `previous` (what it served before) plus `added`
/// (chart, entry), an added entry replacing one of the same chart and version.
pub fn merged(previous: Option<&Value>, added: &[(String, Value)]) -> Value {
    let mut entries: Map<String, Value> = previous.and_then(|p| p.get("entries")).and_then(Value::as_object).cloned().unwrap_or_default();
    for (chart, e) in added {
        let list = entries.entry(chart.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            let version = e.get("version").cloned();
            items.retain(|x| x.get("version") != version.as_ref());
            items.push(e.clone());
        }
    }
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String("v1".into()));
    out.insert("entries".into(), Value::Object(entries));
    out.insert("generated".into(), Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_urls_resolve_as_helm_does() {
        let r = |base: &str, rel: &str| resolve_reference(base, rel).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r("https://charts.jetstack.io", "charts/cert-manager-v1.16.2.tgz"),
            "https://charts.jetstack.io/charts/cert-manager-v1.16.2.tgz"
        );
        assert_eq!(
            r("https://helm.linkerd.io/edge", "linkerd-crds-2026.8.3.tgz"),
            "https://helm.linkerd.io/edge/linkerd-crds-2026.8.3.tgz"
        );
        assert_eq!(
            r("https://helm.linkerd.io/edge/", "linkerd-crds-2026.8.3.tgz"),
            "https://helm.linkerd.io/edge/linkerd-crds-2026.8.3.tgz"
        );
        assert_eq!(
            r("https://kubernetes.github.io/ingress-nginx", "https://github.com/kubernetes/ingress-nginx/releases/download/x/y.tgz"),
            "https://github.com/kubernetes/ingress-nginx/releases/download/x/y.tgz"
        );
        assert_eq!(r("https://h/repo?token=1", "a.tgz"), "https://h/repo/a.tgz?token=1");
        assert_eq!(index_url("https://helm.linkerd.io/edge/").ok().as_deref(), Some("https://helm.linkerd.io/edge/index.yaml"));
        assert_eq!(index_url("https://charts.jetstack.io").ok().as_deref(), Some("https://charts.jetstack.io/index.yaml"));
    }

    #[test]
    fn the_served_index_keeps_recorded_entries_only() {
        let e = |v: &str| serde_json::json!({"name": "c", "version": v, "urls": [format!("c-{v}.tgz")]});
        let first = merged(None, &[("c".into(), e("1.0.0"))]);
        let second = merged(Some(&first), &[("c".into(), e("1.1.0")), ("c".into(), e("1.0.0"))]);
        let versions: Vec<String> = candidates(&second, "c").into_iter().map(|c| c.version).collect();
        assert_eq!(versions, ["1.1.0", "1.0.0"]);
        let text = serde_norway::to_string(&second).unwrap_or_default();
        assert!(parse("x", text.as_bytes()).is_ok());
    }
}
