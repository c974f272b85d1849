//! `up`: from nothing to a ready demo — check the repo, preflight, create (or reuse) a cluster,
//! serve a copy of the repo from the harness git server, generate the Linkerd trust anchor,
//! bootstrap Flux, and wait for every component with live progress.
//!
//! Shared state for other processes (the scenario suites) is written under
//! `<state>/clusters/<name>/`: `kubeconfig`, `owner.json`, `served-repo/` and, once everything is
//! Ready, `ready` (JSON with the git URL and the ingress port).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::artifacts;
use crate::bootstrap::{self, BootstrapError, BootstrapRequest};
use crate::certs::{self, CertError};
use crate::check::{self, CheckOptions};
use crate::cluster::{self, AnyBackend, BackendKind, ClusterBackend, ClusterError, ClusterHandle, ClusterSpec, git_reach, sim};
use crate::crds::CrdCatalog;
use crate::docker::{self, DockerError};
use crate::gitserver::{GitServer, GitServerError, ServedRepo};
use crate::graph;
use crate::kubeconfig;
use crate::live::{self, LiveError};
use crate::preflight::{self, PreflightFailure, PreflightRequest};
use crate::progress::Progress;
use crate::readiness::{self, Outcome};
use crate::repo::{ObjKey, Repo, RepoError};
use crate::source_fetch::{self, FetchState};

/// What `up` should do.
#[derive(Debug, Clone)]
pub struct UpRequest {
    /// Backend.
    pub backend: BackendKind,
    /// The user's gitops repo (never written).
    pub repo: PathBuf,
    /// Cluster directory inside it.
    pub cluster_dir: Option<PathBuf>,
    /// Cluster name.
    pub name: String,
    /// Reuse an existing harness cluster of that name.
    pub reuse: bool,
    /// Kubeconfig (existing backend).
    pub kubeconfig: Option<PathBuf>,
    /// Context (existing backend).
    pub context: Option<String>,
    /// Merge the cluster's credentials into the user's kubeconfig.
    pub write_kubeconfig: bool,
    /// Readiness deadline.
    pub timeout: Duration,
    /// Where failure artifacts go.
    pub artifacts: PathBuf,
    /// Host port for the ingress.
    pub ingress_port: u16,
    /// Host port for the git server (0: any).
    pub git_port: u16,
    /// Node image override.
    pub image: Option<String>,
    /// Go on when `check` finds errors (to rehearse how Flux itself fails on them).
    pub allow_check_errors: bool,
}

/// Errors of `up`, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// The repo cannot be loaded.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// `check` found errors.
    #[error("the repo has {errors} error finding(s); fix them first (nothing was created):\n{report}")]
    Check {
        /// Number of errors.
        errors: usize,
        /// The rendered findings.
        report: String,
    },
    /// Preflight failed.
    #[error("preflight failed (nothing was created):\n{}", .0.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
    Preflight(Vec<PreflightFailure>),
    /// Docker.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// Cluster backend.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Git server.
    #[error(transparent)]
    Git(#[from] GitServerError),
    /// Certificates.
    #[error(transparent)]
    Certs(#[from] CertError),
    /// Reaching the cluster.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// Bootstrap.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// A sim process exited while `up` was running; the cluster was stopped.
    #[error("{source}\nthe sim cluster {name} was stopped and removed (no process or port is left)")]
    SimProcessDied {
        /// Cluster.
        name: String,
        /// Which process, how it ended, its log tail.
        source: sim::SimError,
    },
    /// Readiness watch.
    #[error(transparent)]
    Readiness(#[from] readiness::ReadinessError),
    /// The cluster cannot clone from the harness git server.
    #[error("{message}\nthe cluster is left as it is for inspection; `gitops-harness down --name {name}` removes it")]
    CannotClone {
        /// What failed, the address chosen and why, and what to do.
        message: String,
        /// Cluster name.
        name: String,
    },
    /// The stack did not become Ready.
    #[error(
        "{outcome}\nartifacts (objects, events, logs): {artifacts}\nthe cluster is left as it is for inspection; `gitops-harness down --name {name}` removes it"
    )]
    NotReady {
        /// What happened.
        outcome: Outcome,
        /// Where the artifacts are.
        artifacts: String,
        /// Cluster name.
        name: String,
    },
}

/// A running demo: the cluster, and the git server that must keep running for Flux.
#[derive(Debug)]
pub struct UpSession {
    /// The cluster.
    pub handle: ClusterHandle,
    /// The git server in this process (stop it with `shutdown`); `None` for sim, whose git
    /// server is one of the cluster's recorded background processes.
    pub server: Option<GitServer>,
    /// The served copy.
    pub served: ServedRepo,
    /// Timeline table.
    pub timeline: String,
    /// Named URLs.
    pub urls: Vec<(String, String)>,
    /// Whether this run created the cluster.
    pub created: bool,
    /// The readiness timeline's rows (per-component times to Ready).
    pub rows: Vec<readiness::TimelineRow>,
}

/// Where `up` keeps the served copy of cluster `name` (suites commit to it).
pub fn served_repo_dir(name: &str) -> PathBuf {
    cluster::state_dir(name).join("served-repo")
}

/// The marker `up` writes when everything is Ready.
pub fn ready_marker(name: &str) -> PathBuf {
    cluster::state_dir(name).join("ready")
}

/// URLs of the demo from the repo's Ingress hosts, on the host's ingress port.
pub fn urls(repo: &Repo, ingress_port: u16) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for o in repo.objects().iter().filter(|o| o.key.kind == "Ingress") {
        let rules = o.doc.value.pointer("/spec/rules").and_then(Value::as_array).cloned().unwrap_or_default();
        for host in rules.iter().filter_map(|r| r.get("host").and_then(Value::as_str)) {
            // `*.x.sslip.io`: any label works; sslip.io resolves one naming 127.0.0.1.
            let host = host.replacen("*.", "127-0-0-1.", 1);
            let label = match o.key.name.as_str() {
                "faces-gui" => "Faces GUI".to_string(),
                "web-ingress" => "Linkerd dashboard".to_string(),
                other => format!("{} ({})", other, o.key.namespace.clone().unwrap_or_default()),
            };
            out.push((label, format!("http://{host}:{ingress_port}/")));
        }
    }
    out
}

/// The address to bind the git server to so the cluster can reach it: the one chosen for the
/// Docker flavour when the cluster records it; for older records, the gateway IP when it is one
/// of this host's addresses, else all interfaces.
fn git_bind(handle: &ClusterHandle, port: u16) -> SocketAddr {
    if let Some(reach) = &handle.git_reach {
        return SocketAddr::new(reach.bind, port);
    }
    match handle.host_gateway.parse::<IpAddr>() {
        Ok(ip) if std::net::TcpListener::bind((ip, 0)).is_ok() => SocketAddr::new(ip, port),
        _ => SocketAddr::from(([0, 0, 0, 0], port)),
    }
}

/// Run `up`. `log` receives one line per step.
pub async fn up(req: &UpRequest, log: &mut (dyn FnMut(&str) + Send)) -> Result<UpSession, UpError> {
    // 1. The repo must be sound before anything is created.
    let repo = Repo::load(&req.repo, req.cluster_dir.as_deref())?;
    let crds = crate::crds::discover_dir(&repo.root).and_then(|d| CrdCatalog::load_dir(&d).ok());
    let report = check::run(&repo, &CheckOptions { crds, ..Default::default() });
    if report.errors() > 0 {
        if !req.allow_check_errors {
            return Err(UpError::Check { errors: report.errors(), report: check::render_human(&report, &req.repo) });
        }
        log(&format!("check: {} error finding(s), going on as asked (--allow-check-errors): Flux will report them", report.errors()));
    }
    let plan = graph::plan(&repo).unwrap_or_default();
    log(&format!("check: {} ok ({} Kustomizations/HelmReleases in {} waves)", req.repo.display(), plan.nodes.len(), plan.waves.len()));

    // 2. Preflight.
    let existing = cluster::load_state(&req.name);
    let reusing = req.reuse && existing.is_some();
    let is_sim = req.backend == BackendKind::Sim;
    let mut ports = Vec::new();
    if !reusing && !matches!(req.backend, BackendKind::Existing | BackendKind::Sim) {
        ports.push((req.ingress_port, "ingress"));
    }
    ports.push((req.git_port, "git server"));
    let needs_flux_cli = !bootstrap::components_path(&repo.root, &repo.cluster_dir).is_file();
    let mut failures =
        preflight::run(&PreflightRequest { backend: req.backend, ports, kubeconfig: req.kubeconfig.clone(), needs_flux_cli });
    if !matches!(req.backend, BackendKind::Existing | BackendKind::Sim)
        && let Err(e) = docker::connect().await
    {
        failures.push(PreflightFailure { check: "docker", message: e.to_string() });
    }
    if !failures.is_empty() {
        return Err(UpError::Preflight(failures));
    }
    log("preflight: ok");
    if is_sim {
        log(sim::WHAT_IS_SIMULATED);
    }

    // 3. Cluster.
    let backend = AnyBackend::new(req.backend);
    if reusing
        && let Some(record) = sim::SimRecord::load(&req.name)
        && let Some(dead) = record.first_dead()
    {
        return Err(UpError::Cluster(ClusterError::Invalid(format!(
            "cannot reuse sim cluster {0}: {dead}\nremove it with `gitops-harness down --name {0}`, then run `up` again",
            req.name
        ))));
    }
    let (handle, created) = match existing {
        Some(h) if req.reuse => {
            log(&format!("cluster: reusing {} ({})", h.name, h.backend));
            (h, false)
        }
        _ => {
            let mut spec = ClusterSpec::new(&req.name);
            spec.ingress_http_port = req.ingress_port;
            spec.image = req.image.clone();
            spec.kubeconfig = req.kubeconfig.clone();
            spec.context = req.context.clone();
            if req.backend == BackendKind::Sim {
                spec.sim_flagger = sim::flagger::FlaggerSettings::from_repo(&repo);
                if let Some(f) = &spec.sim_flagger {
                    log(&format!(
                        "sim: Flagger runs on the host (mesh provider {}, selector labels {}); its metrics and webhooks are answered by the harness stand-ins",
                        f.mesh_provider, f.selector_labels
                    ));
                }
            }
            log(&format!("cluster: creating {} with {} (this takes a minute)", req.name, req.backend));
            (backend.create(&spec).await?, true)
        }
    };
    log(&format!("cluster: {} at {}", handle.name, handle.api_url));

    // 4. Served copy, certificates, git server.
    let served_dir = served_repo_dir(&req.name);
    if served_dir.exists() {
        std::fs::remove_dir_all(&served_dir).map_err(|source| GitServerError::Write { path: served_dir.clone(), source })?;
    }
    let served = ServedRepo::prepare(&repo.root, &served_dir)?;
    let served_model = Repo::load(served.path(), Some(&repo.cluster_dir))?;
    let target = handle.target();
    let client = wait_for_api(&target, Duration::from_secs(180)).await?;
    // A running cluster keeps its trust anchor: a new one breaks mTLS for every meshed pod.
    let keep = if created { None } else { certs::read_cluster_anchor(&client).await? };
    if keep.is_some() {
        log("certs: keeping the running cluster's Linkerd trust anchor");
    }
    let certs_out = certs::ensure_linkerd_certs(&served, &served_model, keep)?;
    if !certs_out.written.is_empty() {
        log("certs: wrote the Linkerd trust anchor into the served copy (your repo is untouched)");
    }
    let (server, git_url) = if handle.backend == BackendKind::Sim {
        // The sim cluster outlives this process: its git server is a recorded background process.
        let url = sim::start_git_server(&req.name, served.path(), req.git_port).await.map_err(ClusterError::from)?;
        (None, url)
    } else {
        let server = GitServer::start(&served, git_bind(&handle, req.git_port)).await?;
        let url = server.url_for_host(&handle.host_gateway);
        (Some(server), url)
    };
    log(&format!("git: serving {} at {git_url} (read-only)", served.path().display()));
    if let Some(reach) = &handle.git_reach {
        log(&format!("git: listening on {} because {}", reach.bind, reach.why));
    }
    bootstrap::rewrite_gotk_sync(&served, &repo.cluster_dir, &git_url, served.branch())?;

    // 5. Flux.
    let boot = BootstrapRequest {
        repo_dir: served.path().to_path_buf(),
        cluster_dir: repo.cluster_dir.clone(),
        git_url: git_url.clone(),
        branch: served.branch().to_string(),
        trust_anchor: certs_out.needs_secret.then(|| certs_out.anchor.clone()),
        flux_provided: handle.backend == BackendKind::Sim,
    };
    let outcome = bootstrap::bootstrap(client.clone(), &boot).await?;
    log(&format!("flux: installed from {} ({} objects applied)", outcome.components_from, outcome.applied.len()));
    if handle.backend == BackendKind::Sim {
        log(&format!(
            "flux: kustomize- and helm-controller re-check unready dependencies every {} (Flux's default is 30s)",
            sim::components::REQUEUE_DEPENDENCY
        ));
    }

    // The cluster's first fetch: a cluster that cannot reach the git server fails here, at once,
    // with source-controller's clone error and why this address was chosen.
    let deadline = tokio::time::Instant::now() + req.timeout;
    match source_fetch::wait_first_fetch(&client, req.timeout).await {
        FetchState::CannotClone(message) => {
            if let Some(server) = server {
                server.shutdown().await;
            }
            return Err(UpError::CannotClone {
                message: git_reach::cannot_clone(&git_url, handle.git_reach.as_ref(), &message),
                name: req.name.clone(),
            });
        }
        FetchState::Fetched(revision) => log(&format!("git: the cluster fetched {revision}")),
        FetchState::Pending => {}
    }

    // 6. Readiness.
    // The root Kustomization the bootstrap created is not in the repo's plan, but if it cannot
    // fetch or build the repo nothing else will ever reconcile: fail on it at once.
    let mut tracker = readiness::Tracker::new(&plan).require(ObjKey::new("Kustomization", Some("flux-system"), "flux-system"));
    if !created {
        // A reused cluster is Ready at its old revision already: wait for the new served copy.
        let sha = served.head()?;
        crate::gitops_change::request_reconciliation(&client, &crate::gitops_change::ObjRef::new("flux-system", "flux-system"))
            .await
            .map_err(|e| UpError::Cluster(ClusterError::Invalid(format!("asking Flux to fetch the new served copy: {e}"))))?;
        tracker = tracker.at_revision(readiness::RevisionWant::root(served.branch(), &sha));
    }
    let mut progress = Progress::for_stderr(&tracker);
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    let watch = readiness::watch_with(client.clone(), tracker, remaining, |c, _| progress.on_change(c));
    let (result, tracker) = if handle.backend == BackendKind::Sim {
        // A sim process that exits mid-way ends the wait at once, named, with its log tail.
        tokio::select! {
            r = watch => r?,
            died = sim::watch_processes(&req.name) => {
                if created {
                    let _ = sim::stop_and_forget(&req.name);
                }
                return Err(UpError::SimProcessDied { name: req.name.clone(), source: died });
            }
        }
    } else {
        watch.await?
    };
    progress.finish(&result);
    let rows = tracker.timeline();
    let timeline = readiness::render_timeline(&rows);
    if !matches!(result, Outcome::AllReady { .. }) {
        let keys: Vec<ObjKey> = tracker.not_ready().into_iter().map(|(k, _)| k).collect();
        let namespaces: Vec<String> = keys.iter().filter_map(|k| k.namespace.clone()).collect();
        let dir = req.artifacts.join(format!("up-{}", req.name));
        let saved = artifacts::collect(client, &dir, &result.to_string(), &keys, &namespaces).await;
        if handle.backend == BackendKind::Sim {
            // Controllers run as processes on sim: their logs are files, not pod logs.
            sim::copy_logs(&req.name, &dir.join("processes"));
        }
        let artifacts = match saved {
            Ok(s) => s.dir.display().to_string(),
            Err(e) => format!("(could not save: {e})"),
        };
        if let Some(server) = server {
            server.shutdown().await;
        }
        return Err(UpError::NotReady { outcome: result, artifacts, name: req.name.clone() });
    }

    // 7. Canaries: ready only once Flagger has initialized each (primary created, routing set).
    // Flagger waits for each primary Deployment (image pulls on a fresh laptop): what is left
    // of the deadline, at least two minutes.
    let canary_time = deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_secs(120));
    wait_canaries_initialized(&client, canary_time, log).await?;

    // 8. Hand-over.
    if req.write_kubeconfig {
        let kc = std::fs::read_to_string(&handle.kubeconfig_path)
            .map_err(|source| ClusterError::Io { path: handle.kubeconfig_path.clone(), source })?;
        kubeconfig::merge_into(&kubeconfig::user_kubeconfig_path(), &kc, true).map_err(ClusterError::from)?;
        log(&format!(
            "kubeconfig: merged context {} into {}",
            kubeconfig::entry_name(&req.name),
            kubeconfig::user_kubeconfig_path().display()
        ));
    }
    let urls = urls(&repo, handle.ingress_http_port);
    let marker = json!({
        "git_url": git_url,
        "served_repo": served.path(),
        "ingress_port": handle.ingress_http_port,
        "urls": urls,
        "backend": handle.backend,
        "cluster_dir": repo.cluster_dir,
        // What the scenarios may rely on: sim has no requests on the wire.
        "data_plane": handle.backend != BackendKind::Sim,
        "flagger": handle.backend != BackendKind::Sim || sim::SimRecord::load(&req.name).is_some_and(|r| r.flagger.is_some()),
        // Files the harness wrote into the served copy (kept when an upgrade replaces the tree).
        "harness_files": certs_out.written,
    });
    std::fs::write(ready_marker(&req.name), marker.to_string())
        .map_err(|source| ClusterError::Io { path: ready_marker(&req.name), source })?;
    Ok(UpSession { handle, server, served, timeline, urls, created, rows })
}

/// Where the cluster's Canaries stand for `up`'s verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanariesState {
    /// Every Canary is Initialized (or later: Succeeded, Waiting for a change); how many.
    Ready(usize),
    /// Flagger has not initialized these yet (`ns/name (phase)`).
    Pending(Vec<String>),
    /// Flagger gave up on these (`ns/name: message`).
    Failed(Vec<String>),
}

/// Classify Canaries as the API lists them. Flagger sets `Initialized` once the primary
/// Deployment is ready and routing is in place; `Failed` before that is final.
pub fn canaries_state(items: &[Value]) -> CanariesState {
    let name = |c: &Value| {
        format!(
            "{}/{}",
            c.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""),
            c.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
        )
    };
    let phase = |c: &Value| c.pointer("/status/phase").and_then(Value::as_str).unwrap_or("").to_string();
    let failed: Vec<String> = items
        .iter()
        .filter(|c| phase(c) == "Failed")
        .map(|c| {
            let msg = c
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find_map(|x| x["message"].as_str()))
                .unwrap_or("no message");
            format!("{}: {msg}", name(c))
        })
        .collect();
    if !failed.is_empty() {
        return CanariesState::Failed(failed);
    }
    let pending: Vec<String> = items
        .iter()
        .filter(|c| !matches!(phase(c).as_str(), "Initialized" | "Succeeded" | "Waiting"))
        .map(|c| format!("{} ({})", name(c), if phase(c).is_empty() { "no status yet".to_string() } else { phase(c) }))
        .collect();
    if pending.is_empty() { CanariesState::Ready(items.len()) } else { CanariesState::Pending(pending) }
}

/// Wait until every Canary in the cluster is Initialized; a cluster without Flagger's CRD has
/// none to wait for. Other list errors (an API server still settling) are retried.
pub async fn wait_canaries_initialized(client: &kube::Client, within: Duration, log: &mut (dyn FnMut(&str) + Send)) -> Result<(), UpError> {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("flagger.app", "v1beta1", "Canary"), "canaries");
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let deadline = tokio::time::Instant::now() + within;
    let mut announced = false;
    loop {
        let last = match api.list(&Default::default()).await {
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => CanariesState::Pending(vec![format!("the Canary list ({e})")]),
            Ok(list) => canaries_state(&list.items.iter().filter_map(|c| serde_json::to_value(c).ok()).collect::<Vec<_>>()),
        };
        match &last {
            CanariesState::Ready(n) => {
                if announced || *n > 0 {
                    log(&format!("flagger: {n} canaries initialized"));
                }
                return Ok(());
            }
            CanariesState::Failed(which) => {
                return Err(UpError::Cluster(ClusterError::Invalid(format!(
                    "Flagger could not initialize {}; see `kubectl describe canary -A` and Flagger's log",
                    which.join(", ")
                ))));
            }
            CanariesState::Pending(which) if !announced => {
                log(&format!("flagger: waiting for {} canaries to be initialized", which.len()));
                announced = true;
            }
            CanariesState::Pending(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            let CanariesState::Pending(which) = last else { return Ok(()) };
            return Err(UpError::Cluster(ClusterError::Timeout {
                what: format!("Flagger initializing canaries ({})", which.join(", ")),
                secs: within.as_secs(),
                hint: "check the Canaries' status and Flagger's log (`kubectl describe canary -A`)".to_string(),
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Wait until the API server answers (a fresh k3s needs a few seconds after writing its kubeconfig).
async fn wait_for_api(target: &live::Target, within: Duration) -> Result<kube::Client, LiveError> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match live::probe(target, Duration::from_secs(5)).await {
            Ok(c) => return Ok(c),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            // The API server comes up on its own; retry the cheap /version call.
            Err(_) => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
}

/// What is left when `up` stops early (Ctrl-C or error), and how to remove it.
pub fn leftovers(name: &str, existed_before: bool) -> Option<String> {
    let state = cluster::load_state(name)?;
    if existed_before {
        return Some(format!("cluster {name} ({}) was there before and is kept", state.backend));
    }
    Some(format!(
        "cluster {name} ({}) was created and is still running; remove it with `gitops-harness down --name {name}` (or `gitops-harness reap` for everything a crashed run left)",
        state.backend
    ))
}

/// Undo what an interrupted or failed `up` created: a sim cluster's processes are stopped and
/// its state removed (it cannot outlive the run that started it half-way); other backends keep
/// what they created and [`leftovers`] says how to remove it. Returns what was removed.
pub fn abort_created(name: &str, existed_before: bool) -> Option<Vec<String>> {
    if existed_before {
        return None;
    }
    let is_sim = cluster::load_state(name).map(|h| h.backend == BackendKind::Sim).unwrap_or(false) || sim::SimRecord::load(name).is_some();
    if !is_sim {
        return None;
    }
    sim::stop_and_forget(name).ok().map(|r| r.removed)
}

/// `down`: delete the cluster (only if the harness created it) and its state.
pub async fn down(name: &str) -> Result<cluster::DeleteReport, ClusterError> {
    let backend = cluster::load_state(name)
        .map(|h| h.backend)
        .or_else(|| sim::SimRecord::load(name).map(|_| BackendKind::Sim))
        .unwrap_or(BackendKind::K3s);
    AnyBackend::new(backend).delete(name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(name: &str, phase: Option<&str>) -> Value {
        let mut c = json!({"metadata": {"namespace": "faces", "name": name}});
        if let Some(p) = phase {
            c["status"] = json!({"phase": p, "conditions": [{"type": "Promoted", "status": "Unknown", "message": format!("{p} message")}]});
        }
        c
    }

    /// Ready only when Flagger has initialized every Canary; a Failed one ends the wait.
    #[test]
    fn canaries_decide_ready() {
        assert_eq!(canaries_state(&[]), CanariesState::Ready(0));
        let all = [canary("face", Some("Initialized")), canary("smiley", Some("Succeeded")), canary("color", Some("Waiting"))];
        assert_eq!(canaries_state(&all), CanariesState::Ready(3));
        let some = [canary("face", Some("Initialized")), canary("smiley", Some("Initializing")), canary("color", None)];
        assert_eq!(
            canaries_state(&some),
            CanariesState::Pending(vec!["faces/smiley (Initializing)".to_string(), "faces/color (no status yet)".to_string()])
        );
        let failed = [canary("face", Some("Initialized")), canary("smiley", Some("Failed"))];
        assert_eq!(canaries_state(&failed), CanariesState::Failed(vec!["faces/smiley: Failed message".to_string()]));
    }
}
