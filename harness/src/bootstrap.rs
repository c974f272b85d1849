//! Bootstrapping Flux without GitHub: install the controllers, point a `flux-system`
//! GitRepository at the harness's git server, and create the root Kustomization for the
//! cluster directory — what `flux bootstrap` does, minus the forge and the deploy key.
//!
//! Manifest generation and ordering are pure (tested here); applying them talks to the cluster
//! with server-side apply (field manager `gitops-harness`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::Scope;
use serde_json::{Value, json};

use crate::certs::{self, CertPair};
use crate::git::ServedRepo;
use crate::kinds::{KindError, KindResolver};
use crate::tools::{self, Tool};
use crate::yaml_docs;

/// Field manager of everything the harness applies.
pub const FIELD_MANAGER: &str = "gitops-harness";
/// Label on everything the harness creates in a cluster.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "gitops-harness");

/// Errors of the bootstrap.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Flux's components cannot be found.
    #[error("cannot install Flux: {0}")]
    NoComponents(String),
    /// A manifest does not parse.
    #[error("{what}: {message}")]
    Manifest {
        /// Which manifest.
        what: String,
        /// Why.
        message: String,
    },
    /// The API server refused something.
    #[error("applying {what}: {source}")]
    Apply {
        /// Which object.
        what: String,
        /// Cause.
        source: kube::Error,
    },
    /// A kind is not known to the cluster, or its API cannot be read.
    #[error("applying {what}: {source}")]
    Kind {
        /// Which object.
        what: String,
        /// Cause.
        source: Box<KindError>,
    },
    /// CRDs did not become Established.
    #[error("CRDs not Established within {secs}s: {names}; check the API server")]
    CrdsNotEstablished {
        /// Seconds waited.
        secs: u64,
        /// Which.
        names: String,
    },
    /// Writing the served copy failed.
    #[error(transparent)]
    Served(#[from] crate::git::GitError),
}

/// What to bootstrap.
#[derive(Debug, Clone)]
pub struct BootstrapRequest {
    /// The served working copy (for `flux-system/gotk-components.yaml`).
    pub repo_dir: PathBuf,
    /// Cluster directory inside the repo.
    pub cluster_dir: PathBuf,
    /// Git URL as the cluster reaches the harness git server.
    pub git_url: String,
    /// Branch.
    pub branch: String,
    /// The Linkerd trust anchor to create as a Secret, when the repo reads one it does not create.
    pub trust_anchor: Option<CertPair>,
    /// The backend already installed Flux (sim: CRDs applied, controllers running as host
    /// processes), so only the `flux-system` namespace, the source and the root are applied.
    pub flux_provided: bool,
}

/// What the bootstrap applied.
#[derive(Debug, Clone, Default)]
pub struct BootstrapOutcome {
    /// Where Flux's components came from.
    pub components_from: String,
    /// Objects applied, `Kind ns/name`.
    pub applied: Vec<String>,
}

fn labels() -> Value {
    json!({ MANAGED_BY.0: MANAGED_BY.1 })
}

/// The `flux-system` GitRepository pointing at the harness git server.
pub fn git_repository(url: &str, branch: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system", "labels": labels()},
        "spec": {"interval": "1m0s", "url": url, "ref": {"branch": branch}, "timeout": "60s"}
    })
}

/// The root Kustomization applying the cluster directory.
pub fn root_kustomization(cluster_dir: &Path) -> Value {
    let path = format!("./{}", cluster_dir.display()).replace("/./", "/");
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "flux-system", "namespace": "flux-system", "labels": labels()},
        "spec": {"interval": "10m0s", "path": path, "prune": true, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}
    })
}

/// Where a repo keeps Flux's own components for a cluster directory.
pub fn components_path(repo_dir: &Path, cluster_dir: &Path) -> PathBuf {
    repo_dir.join(cluster_dir).join("flux-system/gotk-components.yaml")
}

/// Flux's components: the repo's `flux-system/gotk-components.yaml` if present, else
/// `flux install --export`, else an error saying how to get either.
pub fn flux_components(repo_dir: &Path, cluster_dir: &Path) -> Result<(String, String), BootstrapError> {
    let in_repo = components_path(repo_dir, cluster_dir);
    if in_repo.is_file() {
        let text = std::fs::read_to_string(&in_repo).map_err(|e| BootstrapError::NoComponents(format!("{}: {e}", in_repo.display())))?;
        return Ok((text, in_repo.display().to_string()));
    }
    match tools::find(Tool::Flux) {
        Ok(flux) => {
            let out = duct::cmd!(&flux, "install", "--export")
                .stdout_capture()
                .stderr_capture()
                .unchecked()
                .run()
                .map_err(|e| BootstrapError::NoComponents(e.to_string()))?;
            if !out.status.success() {
                return Err(BootstrapError::NoComponents(format!(
                    "`flux install --export` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok((String::from_utf8_lossy(&out.stdout).into_owned(), format!("{} install --export", flux.display())))
        }
        Err(e) => Err(BootstrapError::NoComponents(format!(
            "the repo has no {} and {e}",
            Path::new(cluster_dir).join("flux-system/gotk-components.yaml").display()
        ))),
    }
}

/// Parse a multi-document manifest.
pub fn parse_manifest(text: &str, what: &str) -> Result<Vec<Value>, BootstrapError> {
    yaml_docs::parse_str(Path::new(what), text)
        .map(|docs| docs.into_iter().map(|d| d.value).filter(|v| v.get("kind").is_some()).collect())
        .map_err(|e| BootstrapError::Manifest { what: what.to_string(), message: e.to_string() })
}

/// Apply order: CRDs, then Namespaces, then everything else (stable within each group).
pub fn order_for_apply(mut docs: Vec<Value>) -> Vec<Value> {
    let rank = |v: &Value| match v["kind"].as_str() {
        Some("CustomResourceDefinition") => 0,
        Some("Namespace") => 1,
        _ => 2,
    };
    docs.sort_by_key(rank);
    docs
}

/// Point a repo's own `flux-system/gotk-sync.yaml` (e.g. at GitHub) at the harness git server,
/// in the served copy only, so Flux does not re-point itself; returns the commit if it changed.
pub fn rewrite_gotk_sync(served: &ServedRepo, cluster_dir: &Path, url: &str, branch: &str) -> Result<Option<String>, BootstrapError> {
    if !write_gotk_sync(served, cluster_dir, url, branch)? {
        return Ok(None);
    }
    Ok(Some(served.commit_all("gitops-harness: point flux-system at the harness git server")?))
}

/// The edit of [`rewrite_gotk_sync`] without the commit (for a caller that commits it together
/// with other changes); false when the cluster directory has no `gotk-sync.yaml`.
pub fn write_gotk_sync(served: &ServedRepo, cluster_dir: &Path, url: &str, branch: &str) -> Result<bool, BootstrapError> {
    let rel = cluster_dir.join("flux-system/gotk-sync.yaml");
    let path = served.path().join(&rel);
    if !path.is_file() {
        return Ok(false);
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| BootstrapError::Manifest { what: rel.display().to_string(), message: e.to_string() })?;
    let docs = parse_manifest(&text, &rel.display().to_string())?;
    let mut out = Vec::new();
    for mut d in docs {
        if d["kind"] == "GitRepository" && d["metadata"]["name"] == "flux-system" {
            d["apiVersion"] = json!("source.toolkit.fluxcd.io/v1");
            d["spec"]["url"] = json!(url);
            d["spec"]["ref"] = json!({"branch": branch});
            if let Some(spec) = d["spec"].as_object_mut() {
                spec.remove("secretRef"); // the harness server needs no credentials
            }
        }
        if d["kind"] == "Kustomization" && d["apiVersion"].as_str().is_some_and(|a| a.starts_with("kustomize.toolkit.fluxcd.io/")) {
            d["apiVersion"] = json!("kustomize.toolkit.fluxcd.io/v1");
        }
        out.push(
            serde_norway::to_string(&d)
                .map_err(|e| BootstrapError::Manifest { what: rel.display().to_string(), message: e.to_string() })?,
        );
    }
    let new_text = format!("# Rewritten by gitops-harness for its local git server (served copy only).\n---\n{}", out.join("---\n"));
    served.write_file(&rel, new_text.as_bytes())?;
    Ok(true)
}

/// What the bootstrap applies of Flux itself when the backend installed it.
const PROVIDED_COMPONENTS: &str =
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n  labels:\n    app.kubernetes.io/managed-by: gitops-harness\n";

/// Every object the bootstrap applies, in order.
pub fn manifests(req: &BootstrapRequest, components: &str) -> Result<Vec<Value>, BootstrapError> {
    let mut docs = order_for_apply(parse_manifest(components, "flux components")?);
    if let Some(anchor) = &req.trust_anchor {
        docs.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "linkerd", "labels": labels()}}));
        docs.push(certs::trust_anchor_secret(anchor));
    }
    docs.push(git_repository(&req.git_url, &req.branch));
    docs.push(root_kustomization(&req.cluster_dir));
    Ok(docs)
}

fn describe(v: &Value) -> String {
    format!(
        "{} {}{}",
        v["kind"].as_str().unwrap_or("?"),
        v.pointer("/metadata/namespace").and_then(Value::as_str).map(|n| format!("{n}/")).unwrap_or_default(),
        v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?")
    )
}

/// Server-side apply one object, resolving its kind one group-version at a time (an unrelated
/// unavailable aggregated API does not stop the bootstrap).
pub async fn apply(client: &kube::Client, kinds: &mut KindResolver, obj: &Value) -> Result<String, BootstrapError> {
    let what = describe(obj);
    let api_version = obj["apiVersion"].as_str().unwrap_or("v1");
    let kind = obj["kind"].as_str().unwrap_or("");
    let resolved =
        kinds.resolve(api_version, kind).await.map_err(|source| BootstrapError::Kind { what: what.clone(), source: Box::new(source) })?;
    let ar = resolved.resource;
    let api: Api<DynamicObject> = match resolved.scope {
        Scope::Namespaced => {
            Api::namespaced_with(client.clone(), obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default"), &ar)
        }
        Scope::Cluster => Api::all_with(client.clone(), &ar),
    };
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(name, &pp, &Patch::Apply(obj)).await.map_err(|source| BootstrapError::Apply { what: what.clone(), source })?;
    Ok(what)
}

async fn wait_crds_established(client: &kube::Client, names: &[String], timeout: Duration) -> Result<(), BootstrapError> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::runtime::wait::{await_condition, conditions};
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let waits = names.iter().map(|n| await_condition(api.clone(), n, conditions::is_crd_established()));
    match tokio::time::timeout(timeout, futures::future::try_join_all(waits)).await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(BootstrapError::CrdsNotEstablished { secs: timeout.as_secs(), names: names.join(", ") }),
    }
}

/// Bootstrap Flux into the cluster of `client` (idempotent: re-running re-applies).
pub async fn bootstrap(client: kube::Client, req: &BootstrapRequest) -> Result<BootstrapOutcome, BootstrapError> {
    let (components, from) = if req.flux_provided {
        (PROVIDED_COMPONENTS.to_string(), "the backend (Flux CRDs applied, controllers running)".to_string())
    } else {
        flux_components(&req.repo_dir, &req.cluster_dir)?
    };
    let docs = manifests(req, &components)?;
    let mut applied = Vec::new();
    let mut kinds = KindResolver::new(client.clone());
    // CRDs first, then forget the cache so the new kinds resolve.
    let crds: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "CustomResourceDefinition").collect();
    for d in &crds {
        applied.push(apply(&client, &mut kinds, d).await?);
    }
    let names: Vec<String> = crds.iter().filter_map(|d| d.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string)).collect();
    wait_crds_established(&client, &names, Duration::from_secs(120)).await?;
    kinds.refresh();
    for d in docs.iter().filter(|d| d["kind"] != "CustomResourceDefinition") {
        applied.push(apply(&client, &mut kinds, d).await?);
    }
    Ok(BootstrapOutcome { components_from: from, applied })
}
