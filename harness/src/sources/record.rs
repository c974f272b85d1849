//! Recording: resolve each wanted source as source-controller does, fetch what it would fetch,
//! and store it in the cassette with a lock entry (URL, what was asked, version, digest).
//!
//! Only the read side is used (anonymous pulls); every URL goes through the [`UrlOverride`]s, so
//! tests record from stand-ins on loopback while the cassette keeps the real URLs.

use std::time::Duration;

use serde_json::{Value, json};

use super::cassette::{LockedSource, SourceKind, sha256, url_key};
use super::oci::{MANIFEST_TYPES, OciRepo, Registry, manifest_media_type, parse_manifest};
use super::plan::{ChartAsk, OciRef, Plan, Wanted};
use super::semver::{Candidate, Version, resolve};
use super::{Cassette, SourcesError, UrlOverride, apply_overrides, git, helm_index};

/// What a recording did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Recorded (or re-recorded) entries.
    pub recorded: Vec<LockedSource>,
    /// What could not be recorded: (what, why).
    pub failed: Vec<(String, String)>,
}

/// Records sources into a cassette.
#[derive(Debug)]
pub struct Recorder {
    http: reqwest::Client,
    overrides: Vec<UrlOverride>,
}

impl Recorder {
    /// A recorder fetching through `overrides` (empty: from the real URLs).
    pub fn new(overrides: Vec<UrlOverride>) -> Result<Recorder, SourcesError> {
        crate::live::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .connect_timeout(Duration::from_secs(20))
            .user_agent(concat!("gitops-harness/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourcesError::Fetch { url: String::new(), message: format!("building the HTTP client: {e}") })?;
        Ok(Recorder { http, overrides })
    }

    /// Record everything `plan` wants; the lock is saved at the end (also after failures, with
    /// what did succeed).
    pub async fn record(&self, plan: &Plan, cassette: &mut Cassette) -> Result<Outcome, SourcesError> {
        let mut out = Outcome::default();
        for w in &plan.wanted {
            match w {
                Wanted::HelmRepo { url, objects, charts } => self.helm_repo(url, objects, charts, cassette, &mut out).await,
                Wanted::OciChart { repo, insecure, chart } => {
                    let what = format!("chart {} `{}` from {repo} (asked by {})", chart.chart, chart.version, chart.asked_by.join(", "));
                    match self.oci_chart(repo, *insecure, chart, cassette).await {
                        Ok(s) => out.recorded.push(s),
                        Err(e) => out.failed.push((what, e.to_string())),
                    }
                }
                Wanted::OciArtifact { url, insecure, reference, object } => {
                    match self.oci_artifact(url, *insecure, reference, object, cassette).await {
                        Ok(s) => out.recorded.push(s),
                        Err(e) => out.failed.push((format!("{object} ({url}, {})", reference.asked()), e.to_string())),
                    }
                }
                Wanted::Git { url, reference, object } => {
                    let remote = apply_overrides(&self.overrides, url);
                    // git runs as a child process: off the async workers.
                    let (dir, u, r) = (cassette.git_dir(url), url.clone(), reference.clone());
                    let fetched = tokio::task::spawn_blocking(move || git::record_into(&dir, &u, &remote, &r))
                        .await
                        .unwrap_or_else(|e| Err(SourcesError::Git { args: "fetch".into(), message: format!("the git task failed: {e}") }));
                    match fetched {
                        Ok((version, commit)) => {
                            let s = LockedSource {
                                kind: SourceKind::Git,
                                url: url.clone(),
                                name: String::new(),
                                asked: reference.asked(),
                                version,
                                digest: format!("sha1:{commit}"),
                                file: url.clone(),
                                objects: vec![object.clone()],
                            };
                            cassette.put_source(s.clone());
                            out.recorded.push(s);
                        }
                        Err(e) => out.failed.push((format!("{object} ({url}, {})", reference.asked()), e.to_string())),
                    }
                }
            }
        }
        cassette.save()?;
        Ok(out)
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, SourcesError> {
        let target = apply_overrides(&self.overrides, url);
        let fail = |message: String| SourcesError::Fetch { url: url.to_string(), message };
        let resp = self.http.get(&target).send().await.map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        Ok(resp.bytes().await.map_err(|e| fail(e.to_string()))?.to_vec())
    }

    async fn helm_repo(&self, url: &str, objects: &[String], charts: &[ChartAsk], cassette: &mut Cassette, out: &mut Outcome) {
        let what = |c: &ChartAsk| format!("chart {} `{}` from {url} (asked by {})", c.chart, c.version, c.asked_by.join(", "));
        let index_url = match helm_index::index_url(url) {
            Ok(u) => u,
            Err(e) => return out.failed.push((format!("Helm repository {url}"), e.to_string())),
        };
        let index = match self.fetch(&index_url).await.and_then(|b| helm_index::parse(&index_url, &b)) {
            Ok(i) => i,
            Err(e) => {
                out.failed.push((format!("Helm repository {url} ({})", objects.join(", ")), e.to_string()));
                return charts.iter().for_each(|c| out.failed.push((what(c), "its repository index could not be fetched".into())));
            }
        };
        let mut added = Vec::new();
        for c in charts {
            match self.helm_chart(url, &index, c, cassette).await {
                Ok((s, entry)) => {
                    added.push((c.chart.clone(), entry));
                    out.recorded.push(s);
                }
                Err(e) => out.failed.push((what(c), e.to_string())),
            }
        }
        // The served index: what it served before plus what was recorded now.
        let previous = cassette.read_file(&index_url).ok().flatten().and_then(|b| helm_index::parse(&index_url, &b).ok());
        let served = helm_index::merged(previous.as_ref(), &added);
        let stored = serde_norway::to_string(&served)
            .map_err(|e| SourcesError::Fetch { url: index_url.clone(), message: e.to_string() })
            .and_then(|text| cassette.put_file(&index_url, text.as_bytes(), "application/x-yaml", url));
        match stored {
            Ok(digest) => {
                let mut asked_by: Vec<String> = objects.to_vec();
                asked_by.extend(charts.iter().flat_map(|c| c.asked_by.iter().cloned()));
                asked_by.dedup();
                let s = LockedSource {
                    kind: SourceKind::HelmIndex,
                    url: url.to_string(),
                    name: String::new(),
                    asked: "index".into(),
                    version: format!("{} chart versions", helm_index_count(&served)),
                    digest,
                    file: url_key(&index_url).unwrap_or(index_url),
                    objects: asked_by,
                };
                cassette.put_source(s.clone());
                out.recorded.push(s);
            }
            Err(e) => out.failed.push((format!("Helm repository {url}"), e.to_string())),
        }
    }

    async fn helm_chart(
        &self,
        url: &str,
        index: &Value,
        c: &ChartAsk,
        cassette: &mut Cassette,
    ) -> Result<(LockedSource, Value), SourcesError> {
        let candidates = helm_index::candidates(index, &c.chart);
        if candidates.is_empty() {
            return Err(SourcesError::NotFound(format!("the index of {url} has no chart named `{}`", c.chart)));
        }
        let pick = resolve(&candidates, &c.version)
            .map_err(|e| SourcesError::NotFound(format!("version `{}`: {e}", c.version)))?
            .ok_or_else(|| {
                let mut seen: Vec<&str> = candidates.iter().map(|c| c.version.as_str()).collect();
                seen.truncate(12);
                SourcesError::NotFound(format!("no `{}` version matching `{}` in {url} (it has {}…)", c.chart, c.version, seen.join(", ")))
            })?;
        let entry = helm_index::entry(index, &c.chart, &pick.version).cloned().unwrap_or(Value::Null);
        let reference = helm_index::first_url(&entry)
            .ok_or_else(|| SourcesError::NotFound(format!("`{}` {} has no download URL in {url}", c.chart, pick.version)))?;
        let archive = helm_index::resolve_reference(url, reference)?;
        let bytes = self.fetch(&archive).await?;
        let digest = cassette.put_file(&archive, &bytes, "application/gzip", url)?;
        let s = LockedSource {
            kind: SourceKind::Helm,
            url: url.to_string(),
            name: c.chart.clone(),
            asked: c.version.clone(),
            version: pick.version.clone(),
            digest,
            file: url_key(&archive).unwrap_or(archive),
            objects: c.asked_by.clone(),
        };
        cassette.put_source(s.clone());
        Ok((s, entry))
    }

    async fn oci_chart(&self, repo_url: &str, insecure: bool, c: &ChartAsk, cassette: &mut Cassette) -> Result<LockedSource, SourcesError> {
        let repo = OciRepo::parse(repo_url, insecure)?.child(&c.chart);
        let registry = Registry::new(&self.http, &self.overrides);
        // An exact version is pulled as its tag without listing (source-controller's shortcut);
        // a range is resolved over the tags that are versions once `_` reads as `+` (Helm).
        let version = if Version::parse_flux(&c.version).is_ok() {
            c.version.clone()
        } else {
            let tags = registry.tags(&repo).await?;
            let candidates: Vec<Candidate> = tags
                .iter()
                .map(|t| t.replace('_', "+"))
                .filter(|t| Version::parse_strict(t).is_ok())
                .map(|version| Candidate { version, created: String::new() })
                .collect();
            resolve(&candidates, &c.version)
                .map_err(|e| SourcesError::NotFound(format!("version `{}`: {e}", c.version)))?
                .ok_or_else(|| SourcesError::NotFound(format!("no tag of {} matches `{}`", repo.oci_url(), c.version)))?
                .version
                .clone()
        };
        let tag = version.replace('+', "_");
        let digest = self.manifest(&registry, &repo, &tag, repo_url, cassette).await?;
        add_tag(cassette, &repo, &tag, repo_url)?;
        let s = LockedSource {
            kind: SourceKind::HelmOci,
            url: repo_url.to_string(),
            name: c.chart.clone(),
            asked: c.version.clone(),
            version,
            digest,
            file: url_key(&repo.manifest_url(&tag)).unwrap_or_default(),
            objects: c.asked_by.clone(),
        };
        cassette.put_source(s.clone());
        Ok(s)
    }

    async fn oci_artifact(
        &self,
        url: &str,
        insecure: bool,
        r: &OciRef,
        object: &str,
        cassette: &mut Cassette,
    ) -> Result<LockedSource, SourcesError> {
        let repo = OciRepo::parse(url, insecure)?;
        let registry = Registry::new(&self.http, &self.overrides);
        let reference = match r {
            OciRef::Tag(t) => t.clone(),
            OciRef::Digest(d) => d.clone(),
            OciRef::Semver { range, filter } => {
                let filter = match filter {
                    Some(f) => Some(regex::Regex::new(f).map_err(|e| SourcesError::NotFound(format!("semverFilter `{f}`: {e}")))?),
                    None => None,
                };
                let tags = registry.tags(&repo).await?;
                let candidates: Vec<Candidate> = tags
                    .into_iter()
                    .filter(|t| filter.as_ref().is_none_or(|f| f.is_match(t)))
                    .map(|version| Candidate { version, created: String::new() })
                    .collect();
                resolve(&candidates, range)
                    .map_err(|e| SourcesError::NotFound(format!("semver `{range}`: {e}")))?
                    .ok_or_else(|| SourcesError::NotFound(format!("no tag of {url} matches semver `{range}`")))?
                    .version
                    .clone()
            }
        };
        let digest = self.manifest(&registry, &repo, &reference, url, cassette).await?;
        if !reference.starts_with("sha256:") {
            add_tag(cassette, &repo, &reference, url)?;
        }
        let s = LockedSource {
            kind: SourceKind::Oci,
            url: url.to_string(),
            name: String::new(),
            asked: r.asked(),
            version: reference.clone(),
            digest,
            file: url_key(&repo.manifest_url(&reference)).unwrap_or_default(),
            objects: vec![object.to_string()],
        };
        cassette.put_source(s.clone());
        Ok(s)
    }

    /// Record a manifest (by `reference` and by digest) and what it points at: config and
    /// layers, or for an index every child manifest and the blobs of the one a client picks
    /// (linux/amd64, go-containerregistry's default, else the first).
    async fn manifest(
        &self,
        registry: &Registry<'_>,
        repo: &OciRepo,
        reference: &str,
        source: &str,
        cassette: &mut Cassette,
    ) -> Result<String, SourcesError> {
        let url = repo.manifest_url(reference);
        let (bytes, ctype, _) = registry
            .get(&url, &MANIFEST_TYPES)
            .await?
            .ok_or_else(|| SourcesError::NotFound(format!("{} has no manifest `{reference}`", repo.oci_url())))?;
        let digest = sha256(&bytes);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(SourcesError::Fetch {
                url,
                message: format!("the registry answered a manifest with digest {digest}, not {reference}"),
            });
        }
        let media = manifest_media_type(&bytes, &ctype);
        cassette.put_file(&url, &bytes, &media, source)?;
        cassette.put_file(&repo.manifest_url(&digest), &bytes, &media, source)?;
        let parsed = parse_manifest(&bytes).map_err(|m| SourcesError::Fetch { url: url.clone(), message: m })?;
        let mut blobs = parsed.blobs;
        if !parsed.children.is_empty() {
            let pick = parsed.children.iter().find(|c| c.2 == "linux/amd64").or(parsed.children.first()).map(|c| c.0.clone());
            for (d, t, _) in &parsed.children {
                let curl = repo.manifest_url(d);
                let (cb, ct, _) = registry
                    .get(&curl, &MANIFEST_TYPES)
                    .await?
                    .ok_or_else(|| SourcesError::NotFound(format!("{} has no manifest {d}", repo.oci_url())))?;
                if sha256(&cb) != *d {
                    return Err(SourcesError::Fetch {
                        url: curl,
                        message: format!("the registry answered a manifest that does not have digest {d}"),
                    });
                }
                cassette.put_file(&curl, &cb, &manifest_media_type(&cb, if t.is_empty() { &ct } else { t }), source)?;
                if pick.as_deref() == Some(d.as_str()) {
                    blobs = parse_manifest(&cb).map_err(|m| SourcesError::Fetch { url: curl.clone(), message: m })?.blobs;
                }
            }
        }
        for (d, t) in blobs {
            let burl = repo.blob_url(&d);
            if cassette.file(&burl).is_some_and(|f| f.digest == d) && cassette.read_blob(&d).is_ok() {
                continue;
            }
            let (b, _, _) =
                registry.get(&burl, &[]).await?.ok_or_else(|| SourcesError::NotFound(format!("{} has no blob {d}", repo.oci_url())))?;
            if sha256(&b) != d {
                return Err(SourcesError::Fetch {
                    url: burl,
                    message: format!("the registry answered a blob that does not have digest {d}"),
                });
            }
            cassette.put_file(&burl, &b, if t.is_empty() { "application/octet-stream" } else { &t }, source)?;
        }
        Ok(digest)
    }
}

fn helm_index_count(index: &Value) -> usize {
    index.get("entries").and_then(Value::as_object).map(|m| m.values().filter_map(Value::as_array).map(Vec::len).sum()).unwrap_or(0)
}

/// Add a tag to the tags list the cassette serves for `repo`.
fn add_tag(cassette: &mut Cassette, repo: &OciRepo, tag: &str, source: &str) -> Result<(), SourcesError> {
    let url = repo.tags_url();
    let mut tags: Vec<String> = cassette
        .read_file(&url)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("tags").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()))
        .unwrap_or_default();
    if !tags.iter().any(|t| t == tag) {
        tags.push(tag.to_string());
    }
    tags.sort();
    let body = json!({"name": repo.name, "tags": tags}).to_string();
    cassette.put_file(&url, body.as_bytes(), "application/json", source)?;
    Ok(())
}
