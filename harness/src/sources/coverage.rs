//! Whether a cassette answers everything a repository's bootstrap fetches, resolved as the
//! replay would resolve it (the served index and tags lists), so a missing source is named with
//! its object, URL and the record command before any process starts.

use serde_json::Value;

use super::cassette::SourceKind;
use super::oci::OciRepo;
use super::plan::{OciRef, Plan, Wanted};
use super::semver::{Candidate, Version, resolve};
use super::{Cassette, helm_index};

/// A source the cassette cannot answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// Who asks (objects).
    pub objects: Vec<String>,
    /// The source URL.
    pub url: String,
    /// What is missing.
    pub what: String,
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.objects.join(", "), self.what, self.url)
    }
}

fn tags(cassette: &Cassette, repo: &OciRepo) -> Vec<String> {
    cassette
        .read_file(&repo.tags_url())
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("tags").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()))
        .unwrap_or_default()
}

fn has_manifest(cassette: &Cassette, repo: &OciRepo, reference: &str) -> bool {
    cassette.file(&repo.manifest_url(reference)).is_some()
}

/// Everything in `plan` the cassette does not answer.
pub fn check(plan: &Plan, cassette: &Cassette) -> Vec<Miss> {
    let mut out = Vec::new();
    for w in &plan.wanted {
        match w {
            Wanted::HelmRepo { url, objects, charts } => {
                let index_url = helm_index::index_url(url).unwrap_or_default();
                let index = cassette.read_file(&index_url).ok().flatten().and_then(|b| helm_index::parse(&index_url, &b).ok());
                let Some(index) = index else {
                    let mut who = objects.clone();
                    who.extend(charts.iter().flat_map(|c| c.asked_by.iter().cloned()));
                    out.push(Miss { objects: who, url: url.clone(), what: "its Helm repository index is not recorded".into() });
                    continue;
                };
                for c in charts {
                    let candidates = helm_index::candidates(&index, &c.chart);
                    let picked = resolve(&candidates, &c.version).ok().flatten();
                    let archive = picked
                        .and_then(|p| helm_index::entry(&index, &c.chart, &p.version))
                        .and_then(helm_index::first_url)
                        .and_then(|r| helm_index::resolve_reference(url, r).ok());
                    if archive.as_deref().and_then(|a| cassette.file(a)).is_none() {
                        let have: Vec<&str> = candidates.iter().map(|c| c.version.as_str()).collect();
                        let what = if have.is_empty() {
                            format!("chart {} `{}` is not recorded", c.chart, c.version)
                        } else {
                            format!("chart {} `{}` is not recorded (the cassette has {})", c.chart, c.version, have.join(", "))
                        };
                        out.push(Miss { objects: c.asked_by.clone(), url: url.clone(), what });
                    }
                }
            }
            Wanted::OciChart { repo, insecure, chart } => {
                let Ok(r) = OciRepo::parse(repo, *insecure).map(|r| r.child(&chart.chart)) else { continue };
                let tag = if Version::parse_flux(&chart.version).is_ok() {
                    Some(chart.version.replace('+', "_"))
                } else {
                    let candidates: Vec<Candidate> = tags(cassette, &r)
                        .into_iter()
                        .map(|t| t.replace('_', "+"))
                        .filter(|t| Version::parse_strict(t).is_ok())
                        .map(|version| Candidate { version, created: String::new() })
                        .collect();
                    resolve(&candidates, &chart.version).ok().flatten().map(|c| c.version.replace('+', "_"))
                };
                if !tag.is_some_and(|t| has_manifest(cassette, &r, &t)) {
                    out.push(Miss {
                        objects: chart.asked_by.clone(),
                        url: r.oci_url(),
                        what: format!("chart {} `{}` is not recorded", chart.chart, chart.version),
                    });
                }
            }
            Wanted::OciArtifact { url, insecure, reference, object } => {
                let Ok(r) = OciRepo::parse(url, *insecure) else { continue };
                let found = match reference {
                    OciRef::Tag(t) | OciRef::Digest(t) => has_manifest(cassette, &r, t),
                    OciRef::Semver { range, filter } => {
                        let re = filter.as_ref().and_then(|f| regex::Regex::new(f).ok());
                        let candidates: Vec<Candidate> = tags(cassette, &r)
                            .into_iter()
                            .filter(|t| re.as_ref().is_none_or(|re| re.is_match(t)))
                            .map(|version| Candidate { version, created: String::new() })
                            .collect();
                        resolve(&candidates, range).ok().flatten().is_some_and(|c| has_manifest(cassette, &r, &c.version))
                    }
                };
                if !found {
                    out.push(Miss {
                        objects: vec![object.clone()],
                        url: url.clone(),
                        what: format!("artifact `{}` is not recorded", reference.asked()),
                    });
                }
            }
            Wanted::Git { url, reference, object } => {
                let recorded =
                    cassette.lock().sources.iter().any(|s| s.kind == SourceKind::Git && &s.url == url && s.asked == reference.asked());
                if !recorded {
                    out.push(Miss {
                        objects: vec![object.clone()],
                        url: url.clone(),
                        what: format!("git `{}` is not recorded", reference.asked()),
                    });
                }
            }
        }
    }
    out
}
