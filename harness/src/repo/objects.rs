//! Documents → the model: the namespace kustomize / Flux give each object, and the fields of Flux
//! Kustomizations, HelmReleases, sources, Canaries and Deployments the checks need.

use std::path::PathBuf;

use serde_json::Value;

use super::charts;
use super::issues::LoadIssue;
use super::loader::{Loader, PendingRset, Visit};
use super::model::{
    Canary, ContainerPort, Deployment, FluxKustomization, HelmRelease, Object, ObjectRef, Origin, PostBuild, SourceDecl, SourceRef,
    SubstituteRef, cluster_scoped, group_of,
};
use crate::yaml_docs::YamlDoc;

/// Source kinds of source.toolkit.fluxcd.io.
const SOURCE_KINDS: [&str; 6] = ["GitRepository", "OCIRepository", "HelmRepository", "Bucket", "HelmChart", "ExternalArtifact"];

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

impl Loader {
    pub(super) fn add_object(&mut self, doc: YamlDoc, visit: &Visit, unresolved_vars: bool) {
        let doc = match &visit.patches {
            Some(p) => super::patches::apply(doc, p),
            None => doc,
        };
        let (Some(api_version), Some(kind)) = (doc.str_at("apiVersion"), doc.str_at("kind")) else { return };
        let api_version = api_version.to_string();
        let kind = kind.to_string();
        if kind == "List" {
            return;
        }
        let name = doc.str_at("metadata.name").unwrap_or("").to_string();
        let namespace = if cluster_scoped(&kind) {
            None
        } else {
            visit.forced_ns.clone().or_else(|| doc.str_at("metadata.namespace").map(str::to_string)).or_else(|| visit.default_ns.clone())
        };
        let group = group_of(&api_version).to_string();
        let key = ObjectRef::new(&group, &kind, namespace.as_deref(), &name);
        let ns = namespace.unwrap_or_default();
        let spec = doc.value.get("spec").cloned().unwrap_or(Value::Null);
        let depends_on = |spec: &Value| -> Vec<ObjectRef> {
            spec.get("dependsOn")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|d| {
                            let n = d.get("name").and_then(Value::as_str)?;
                            let dns = d.get("namespace").and_then(Value::as_str).unwrap_or(&ns);
                            Some(ObjectRef::new(&group, &kind, Some(dns), n))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let source_ref = |v: Option<&Value>| SourceRef::from_value(v?, &ns);
        match (group_of(&api_version), kind.as_str()) {
            ("kustomize.toolkit.fluxcd.io", "Kustomization") => {
                let ks = FluxKustomization {
                    key: key.clone(),
                    api_version: api_version.clone(),
                    path: str_of(&spec, "path").unwrap_or_else(|| "./".to_string()),
                    source_ref: source_ref(spec.get("sourceRef")),
                    depends_on: depends_on(&spec),
                    wait: spec.get("wait").and_then(Value::as_bool).unwrap_or(false),
                    explicit_no_wait: spec.get("wait").and_then(Value::as_bool) == Some(false),
                    after: visit.after.clone(),
                    health_checks: spec.get("healthChecks").and_then(Value::as_array).cloned().unwrap_or_default(),
                    target_namespace: str_of(&spec, "targetNamespace"),
                    patches: spec.get("patches").and_then(Value::as_array).cloned().unwrap_or_default(),
                    components: spec
                        .get("components")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                        .unwrap_or_default(),
                    ignore_missing_components: spec.get("ignoreMissingComponents").and_then(Value::as_bool).unwrap_or(false),
                    post_build: spec.get("postBuild").filter(|p| !p.is_null()).map(post_build),
                    suspend: spec.get("suspend").and_then(Value::as_bool).unwrap_or(false),
                    applied_by: visit.applied_by.clone(),
                    doc: doc.clone(),
                };
                if self.not_duplicate(&key, &doc) {
                    self.pending.push_back(key.clone());
                    self.repo.flux_kustomizations.push(ks);
                }
            }
            ("helm.toolkit.fluxcd.io", "HelmRelease") => {
                let hr = self.helm_release(
                    key.clone(),
                    &api_version,
                    &spec,
                    source_ref(spec.get("chart").and_then(|c| c.get("spec")).and_then(|c| c.get("sourceRef"))),
                    source_ref(spec.get("chartRef")),
                    depends_on(&spec),
                    visit,
                    &doc,
                );
                if self.not_duplicate(&key, &doc) {
                    self.repo.helm_releases.push(hr);
                }
            }
            ("source.toolkit.fluxcd.io", k) if SOURCE_KINDS.contains(&k) => {
                let url = str_of(&spec, "url").unwrap_or_default();
                let own = k == "GitRepository" && self.is_own_url(&url);
                if let Some(existing) = self.repo.sources.iter_mut().find(|s| s.key == key) {
                    existing.doc.get_or_insert(doc.clone());
                    if existing.url.is_empty() {
                        existing.url = url;
                    }
                } else {
                    let local_root = own.then(PathBuf::new);
                    self.repo.sources.push(SourceDecl { key: key.clone(), url, local_root, doc: Some(doc.clone()) });
                }
            }
            // Flux 2.7+: an ArtifactGenerator produces one ExternalArtifact per `spec.artifacts[]`.
            ("source.extensions.fluxcd.io", "ArtifactGenerator") => {
                for a in spec.get("artifacts").and_then(Value::as_array).into_iter().flatten() {
                    let Some(name) = a.get("name").and_then(Value::as_str) else { continue };
                    let akey = ObjectRef::of_kind("ExternalArtifact", key.namespace.as_deref(), name);
                    if self.repo.sources.iter().all(|s| s.key != akey) {
                        let url = format!("generated by ArtifactGenerator {}", key.short());
                        self.repo.sources.push(SourceDecl { key: akey, url, local_root: None, doc: Some(doc.clone()) });
                    }
                }
            }
            ("flagger.app", "Canary") => {
                let target = spec.get("targetRef").and_then(|t| Some((str_of(t, "kind")?, str_of(t, "name")?)));
                self.repo.canaries.push(Canary {
                    key: key.clone(),
                    provider: str_of(&spec, "provider"),
                    target,
                    ingress_ref: spec.get("ingressRef").and_then(|i| str_of(i, "name")),
                    service_port: spec.get("service").and_then(|s| s.get("port")).and_then(Value::as_i64),
                    target_port: spec.get("service").and_then(|s| s.get("targetPort")).cloned(),
                    analysis: spec.get("analysis").cloned().unwrap_or(Value::Null),
                    applied_by: visit.applied_by.clone(),
                    doc: doc.clone(),
                });
            }
            ("apps", "Deployment") => self.repo.deployments.push(deployment(key.clone(), &spec, visit, &doc)),
            (super::rset::GROUP, "ResourceSet") => {
                self.rsets.push(PendingRset { doc: doc.clone(), key: key.clone(), applied_by: visit.applied_by.clone() });
            }
            _ => {}
        }
        self.repo.objects.push(Object { api_version, key, applied_by: visit.applied_by.clone(), doc, unresolved_vars });
    }

    /// False (with an issue) when another document already defines this Flux object: two
    /// Kustomizations applying it would fight over it, and one of the definitions is lost.
    fn not_duplicate(&mut self, key: &ObjectRef, doc: &YamlDoc) -> bool {
        let first = match key.kind.as_str() {
            "Kustomization" => self.repo.flux_kustomizations.iter().find(|k| &k.key == key).map(|k| &k.doc),
            _ => self.repo.helm_releases.iter().find(|h| &h.key == key).map(|h| &h.doc),
        };
        let Some(first) = first.map(|d| Origin::at(d, "")) else { return true };
        let origin = Origin::at(doc, "");
        if origin != first {
            self.repo.issue(LoadIssue::Duplicate { key: key.clone(), origin, first });
        }
        false
    }

    #[allow(clippy::too_many_arguments)]
    fn helm_release(
        &self,
        key: ObjectRef,
        api_version: &str,
        spec: &Value,
        chart_src: Option<SourceRef>,
        chart_ref: Option<SourceRef>,
        depends_on: Vec<ObjectRef>,
        visit: &Visit,
        doc: &YamlDoc,
    ) -> HelmRelease {
        let chart_spec = spec.get("chart").and_then(|c| c.get("spec"));
        let (chart, chart_dir, chart_source) = match (chart_spec, chart_ref) {
            (Some(cs), _) => {
                let chart = str_of(cs, "chart").unwrap_or_default();
                // From this repo's GitRepository the chart is a path; its name is in Chart.yaml
                // (what source-controller packages).
                let local = chart_src.as_ref().and_then(|s| self.repo.source(&s.key())).is_some_and(|d| d.local_root.is_some())
                    || chart_src.as_ref().is_some_and(|s| s.kind == "GitRepository" && s.name == super::FLUX_SYSTEM);
                let dir = if local { charts::chart_dir(&self.repo.root, &chart) } else { None };
                let name = dir.as_ref().and_then(|d| charts::chart_yaml_name(&self.repo.root, d)).unwrap_or(chart);
                (name, dir, chart_src)
            }
            (None, Some(cr)) => (cr.name.clone(), None, Some(cr)),
            (None, None) => (String::new(), None, None),
        };
        HelmRelease {
            key,
            api_version: api_version.to_string(),
            chart,
            chart_version: chart_spec.and_then(|c| str_of(c, "version")),
            chart_found: chart_dir.as_ref().map(|d| (self.repo.root.join(d), "git".to_string())),
            chart_dir,
            chart_source,
            after: visit.after.clone(),
            depends_on,
            values: spec.get("values").cloned().unwrap_or(Value::Null),
            installs_crds: spec.pointer("/install/crds").and_then(Value::as_str) != Some("Skip"),
            target_namespace: str_of(spec, "targetNamespace"),
            applied_by: visit.applied_by.clone(),
            doc: doc.clone(),
        }
    }
}

fn post_build(pb: &Value) -> PostBuild {
    PostBuild {
        substitute: pb
            .get("substitute")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect())
            .unwrap_or_default(),
        substitute_from: pb
            .get("substituteFrom")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| {
                        Some(SubstituteRef {
                            kind: str_of(r, "kind")?,
                            name: str_of(r, "name")?,
                            optional: r.get("optional").and_then(Value::as_bool).unwrap_or(false),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn deployment(key: ObjectRef, spec: &Value, visit: &Visit, doc: &YamlDoc) -> Deployment {
    let selector = spec
        .get("selector")
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default();
    let mut ports = Vec::new();
    let mut images = Vec::new();
    for c in spec.pointer("/template/spec/containers").and_then(Value::as_array).into_iter().flatten() {
        let cname = str_of(c, "name").unwrap_or_default();
        if let Some(img) = str_of(c, "image") {
            images.push((cname, img));
        }
        for p in c.get("ports").and_then(Value::as_array).into_iter().flatten() {
            if let Some(number) = p.get("containerPort").and_then(Value::as_i64) {
                ports.push(ContainerPort { name: str_of(p, "name"), number });
            }
        }
    }
    Deployment { key, selector, ports, images, applied_by: visit.applied_by.clone(), doc: doc.clone() }
}
