//! Which external sources a bootstrap of a cluster directory makes source-controller fetch, read
//! from the repository model: every HelmRepository's index, the charts HelmReleases and HelmCharts
//! ask for (with the version or range they ask), charts from `oci://` repositories,
//! OCIRepository artifacts, GitRepositories other than the repository itself, and the
//! dependencies a chart in this repository names but does not vendor (source-controller fetches
//! them when it packages the chart).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::git::GitRef;
use crate::repo::{ObjectRef, Repo, SourceDecl};

/// A chart asked for from a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartAsk {
    /// Chart name.
    pub chart: String,
    /// Version or constraint as written (`*` when none).
    pub version: String,
    /// Who asks (`HelmRelease cert-manager/cert-manager`).
    pub asked_by: Vec<String>,
}

/// An OCIRepository's `spec.ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciRef {
    /// `tag` (default `latest`).
    Tag(String),
    /// `semver`, with `semverFilter`.
    Semver {
        /// The range.
        range: String,
        /// Regex the tags must match first.
        filter: Option<String>,
    },
    /// `digest`.
    Digest(String),
}

impl OciRef {
    /// `tag:latest`, `semver:>=1.0`, `digest:sha256:…` (the lock's `asked`).
    pub fn asked(&self) -> String {
        match self {
            OciRef::Tag(t) => format!("tag:{t}"),
            OciRef::Semver { range, filter: Some(f) } => format!("semver:{range} filter:{f}"),
            OciRef::Semver { range, filter: None } => format!("semver:{range}"),
            OciRef::Digest(d) => format!("digest:{d}"),
        }
    }
}

/// One thing to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// A Helm HTTP repository: its index and the charts asked from it.
    HelmRepo {
        /// Repository URL.
        url: String,
        /// The HelmRepository objects with that URL.
        objects: Vec<String>,
        /// Charts asked from it.
        charts: Vec<ChartAsk>,
    },
    /// A chart from an OCI repository (`oci://host/path` + chart name).
    OciChart {
        /// Repository URL (`oci://ghcr.io/fluxcd/charts`).
        repo: String,
        /// Plain HTTP registry (`spec.insecure`).
        insecure: bool,
        /// The chart asked for.
        chart: ChartAsk,
    },
    /// An OCIRepository artifact.
    OciArtifact {
        /// `oci://` URL.
        url: String,
        /// Plain HTTP registry.
        insecure: bool,
        /// Reference.
        reference: OciRef,
        /// The OCIRepository.
        object: String,
    },
    /// A GitRepository other than this repository.
    Git {
        /// URL.
        url: String,
        /// Reference.
        reference: GitRef,
        /// The GitRepository.
        object: String,
    },
}

impl Wanted {
    /// The source URL.
    pub fn url(&self) -> &str {
        match self {
            Wanted::HelmRepo { url, .. } | Wanted::OciArtifact { url, .. } | Wanted::Git { url, .. } => url,
            Wanted::OciChart { repo, .. } => repo,
        }
    }
}

/// A source that cannot be recorded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The object.
    pub object: String,
    /// Why.
    pub reason: String,
}

/// What a bootstrap fetches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Sources to fetch.
    pub wanted: Vec<Wanted>,
    /// Sources that cannot be recorded.
    pub skipped: Vec<Skipped>,
}

fn spec(d: &SourceDecl) -> &Value {
    d.doc.as_ref().and_then(|d| d.value.get("spec")).unwrap_or(&Value::Null)
}

fn str_at<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn is_oci_helm(d: &SourceDecl) -> bool {
    str_at(spec(d), "/type") == Some("oci") || d.url.starts_with("oci://")
}

#[derive(Default)]
struct Builder {
    helm: BTreeMap<String, (Vec<String>, Vec<ChartAsk>)>,
    oci_charts: Vec<Wanted>,
    other: Vec<Wanted>,
    skipped: Vec<Skipped>,
}

impl Builder {
    fn ask_chart(&mut self, repo_url: &str, oci: bool, insecure: bool, chart: &str, version: &str, who: String) {
        let ask = |by: String| ChartAsk { chart: chart.to_string(), version: version.to_string(), asked_by: vec![by] };
        if oci {
            let found = self.oci_charts.iter_mut().find_map(|w| match w {
                Wanted::OciChart { repo, chart: c, .. } if repo == repo_url && c.chart == chart && c.version == version => Some(c),
                _ => None,
            });
            match found {
                Some(c) if !c.asked_by.contains(&who) => c.asked_by.push(who),
                Some(_) => {}
                None => self.oci_charts.push(Wanted::OciChart { repo: repo_url.to_string(), insecure, chart: ask(who) }),
            }
            return;
        }
        let (_, charts) = self.helm.entry(repo_url.trim_end_matches('/').to_string()).or_default();
        match charts.iter_mut().find(|c| c.chart == chart && c.version == version) {
            Some(c) if !c.asked_by.contains(&who) => c.asked_by.push(who),
            Some(_) => {}
            None => charts.push(ask(who)),
        }
    }

    fn skip(&mut self, object: String, reason: impl Into<String>) {
        self.skipped.push(Skipped { object, reason: reason.into() });
    }

    /// A chart named by `chart.spec` of a HelmRelease or by a HelmChart.
    fn chart_spec(&mut self, repo: &Repo, who: &ObjectRef, cs: &Value, src_ns: &str, local_chart_dir: Option<&Path>) {
        let Some(chart) = str_at(cs, "/chart") else { return };
        let version = str_at(cs, "/version").unwrap_or("*");
        let kind = str_at(cs, "/sourceRef/kind").unwrap_or("");
        let name = str_at(cs, "/sourceRef/name").unwrap_or("");
        let ns = str_at(cs, "/sourceRef/namespace").unwrap_or(src_ns);
        let key = ObjectRef::of_kind(kind, Some(ns), name);
        if kind == "HelmRepository" {
            let Some(decl) = repo.source(&key) else {
                return self.skip(who.to_string(), format!("its chart source {key} is not declared in the repository"));
            };
            if decl.url.contains("${") || version.contains("${") {
                return self.skip(who.to_string(), format!("{key} or its chart version has a variable the repository does not define"));
            }
            let insecure = spec(decl).get("insecure").and_then(Value::as_bool).unwrap_or(false);
            self.ask_chart(&decl.url, is_oci_helm(decl), insecure, chart, version, who.to_string());
        } else if let Some(dir) = local_chart_dir {
            self.dependencies(repo, who, dir);
        }
    }

    /// Dependencies of a chart in this repository that it does not vendor under `charts/`.
    fn dependencies(&mut self, repo: &Repo, who: &ObjectRef, chart_dir: &Path) {
        let dir = repo.root.join(chart_dir);
        let Ok(text) = std::fs::read_to_string(dir.join("Chart.yaml")) else { return };
        let Ok(meta) = serde_norway::from_str::<Value>(&text) else { return };
        for dep in meta.get("dependencies").and_then(Value::as_array).into_iter().flatten() {
            let (Some(name), Some(url)) = (str_at(dep, "/name"), str_at(dep, "/repository")) else { continue };
            if vendored(&dir.join("charts"), name) || url.starts_with("file://") {
                continue;
            }
            let by = format!("{who} (dependency {name} of {})", chart_dir.display());
            let version = str_at(dep, "/version").unwrap_or("*");
            if url.starts_with("http://") || url.starts_with("https://") {
                self.ask_chart(url, false, false, name, version, by);
            } else if url.starts_with("oci://") {
                self.ask_chart(url, true, false, name, version, by);
            } else {
                self.skip(
                    by,
                    format!("repository `{url}` is an alias of a repository configured in helm, which source-controller cannot use either"),
                );
            }
        }
    }
}

fn vendored(charts_dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(charts_dir) else { return false };
    entries.filter_map(Result::ok).any(|e| {
        let f = e.file_name().to_string_lossy().into_owned();
        f == name || (f.starts_with(&format!("{name}-")) && f.ends_with(".tgz"))
    })
}

/// What a bootstrap of `repo` fetches from outside the repository.
pub fn plan(repo: &Repo) -> Plan {
    let mut b = Builder::default();
    let unresolved = |key: &ObjectRef| repo.objects().iter().any(|o| &o.key == key && o.unresolved_vars);
    for d in repo.sources() {
        if d.local_root.is_some() || d.doc.is_none() {
            continue;
        }
        let who = d.key.to_string();
        let s = spec(d);
        if s.get("suspend").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if d.url.contains("${") || (unresolved(&d.key) && d.url.is_empty()) {
            b.skip(who, "its URL has a variable the repository does not define");
            continue;
        }
        let insecure = s.get("insecure").and_then(Value::as_bool).unwrap_or(false);
        match d.key.kind.as_str() {
            "HelmRepository" if is_oci_helm(d) => {}
            "HelmRepository" => {
                let (objects, _) = b.helm.entry(d.url.trim_end_matches('/').to_string()).or_default();
                objects.push(who);
            }
            "OCIRepository" => {
                let r = s.get("ref");
                let reference = match (str_at(s, "/ref/digest"), str_at(s, "/ref/semver"), str_at(s, "/ref/tag")) {
                    (Some(dg), _, _) => OciRef::Digest(dg.to_string()),
                    (None, Some(range), _) => OciRef::Semver { range: range.to_string(), filter: r.and_then(|r| str_at(r, "/semverFilter")).map(str::to_string) },
                    (None, None, Some(t)) => OciRef::Tag(t.to_string()),
                    (None, None, None) => OciRef::Tag("latest".to_string()),
                };
                b.other.push(Wanted::OciArtifact { url: d.url.clone(), insecure, reference, object: who });
            }
            "GitRepository" if !(d.url.starts_with("http://") || d.url.starts_with("https://")) => b.skip(
                who,
                format!("{} is not an HTTP(S) URL: the sim's gateway replays git over HTTP only; point the GitRepository at the repository's https:// URL", d.url),
            ),
            "GitRepository" => b.other.push(Wanted::Git { url: d.url.clone(), reference: GitRef::from_spec(s.get("ref")), object: who }),
            "Bucket" => b.skip(who, "Bucket sources (S3 and cloud storage APIs) are not recorded; serve its content from a GitRepository or OCIRepository on sim"),
            _ => {}
        }
    }
    for h in repo.helm_releases() {
        let ns = h.key.namespace.clone().unwrap_or_default();
        if let Some(cs) = h.doc.value.pointer("/spec/chart/spec") {
            b.chart_spec(repo, &h.key, cs, &ns, h.chart_dir.as_deref());
        }
    }
    for o in repo.objects().iter().filter(|o| o.key.kind == "HelmChart" && o.group() == "source.toolkit.fluxcd.io") {
        let ns = o.key.namespace.clone().unwrap_or_default();
        let local = str_at(o.spec(), "/sourceRef/kind")
            .filter(|k| *k == "GitRepository")
            .and_then(|_| str_at(o.spec(), "/chart"))
            .and_then(|c| crate::repo::charts::chart_dir(&repo.root, c));
        b.chart_spec(repo, &o.key, o.spec(), &ns, local.as_deref());
    }
    let mut wanted: Vec<Wanted> = b.helm.into_iter().map(|(url, (objects, charts))| Wanted::HelmRepo { url, objects, charts }).collect();
    wanted.extend(b.oci_charts);
    wanted.extend(b.other);
    Plan { wanted, skipped: b.skipped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_dependencies_are_not_fetched() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("common-2.1.0.tgz"), b"x").unwrap_or_else(|e| panic!("{e}"));
        assert!(vendored(dir.path(), "common"));
        assert!(!vendored(dir.path(), "redis"));
    }
}
