//! `up`: from nothing to a ready demo, as a sequence of named phases — check the repo,
//! preflight, create (or reuse) a cluster, serve a copy of the repo from the harness git server
//! (with the Linkerd trust anchor), install Flux, wait for the cluster's first fetch, converge
//! every component with live progress, wait for Flagger's canaries, and hand over.
//!
//! What other processes (the scenario suites, `upgrade --reuse`) rely on is written under the
//! cluster's state directory ([`crate::state`]): the served copy and, once everything is Ready,
//! the [`ReadyMarker`].

// Errors carry the readiness outcome and the cluster's own error for the message; not a hot path.
#![allow(clippy::result_large_err)]

pub mod canaries;
pub mod converge;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::bootstrap::{self, BootstrapError, BootstrapRequest};
use crate::certs::{self, CertError, CertOutcome};
use crate::check::{self, CheckOptions};
use crate::cluster::{
    self, AnyBackend, BackendKind, Capabilities, ClusterBackend, ClusterError, ClusterHandle, ClusterSpec, GitEndpoint, git_reach,
};
use crate::crds::CrdCatalog;
use crate::flux::ObjectRef;
use crate::git::server::BindError;
use crate::git::{GitError, GitServer, ServedRepo};
use crate::graph::{self, Plan};
use crate::kubeconfig;
use crate::live::{self, LiveError};
use crate::preflight::{self, PreflightFailure, PreflightRequest};
use crate::readiness::{self, Outcome, Tracker};
use crate::repo::{Repo, RepoError};
use crate::source_fetch::{self, FetchState};
use crate::state::{ClusterPaths, MarkerError, ReadyMarker};

pub use canaries::{CanariesState, CanaryFailure, canaries_state, wait_canaries_initialized};
pub use converge::{ConvergeError, converge, failure_evidence};

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
    /// Recorded sources, for a backend whose cluster has no internet (sim's egress gateway).
    pub cassette: Option<PathBuf>,
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
    /// Cluster backend.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The served copy.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The git server could not listen.
    #[error(transparent)]
    GitBind(#[from] BindError),
    /// Certificates.
    #[error(transparent)]
    Certs(#[from] CertError),
    /// Reaching the cluster.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// Bootstrap.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// The cluster went away while `up` was running (a sim process exited).
    #[error("{source}\n{cleanup}")]
    ClusterLost {
        /// What happened (which process, how it ended, its log tail).
        source: Box<ClusterError>,
        /// What was done about it.
        cleanup: String,
    },
    /// Readiness watch.
    #[error(transparent)]
    Readiness(#[from] readiness::ReadinessError),
    /// The ready marker.
    #[error(transparent)]
    Marker(#[from] MarkerError),
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
        "{outcome}{}{}\nartifacts (objects, events, logs): {artifacts}\nthe cluster is left as it is for inspection; `gitops-harness down --name {name}` removes it",
        .locations.iter().map(|l| format!("\n  --> {l}")).collect::<String>(),
        .notes.iter().map(|n| format!("\n  = {n}")).collect::<String>()
    )]
    NotReady {
        /// What happened.
        outcome: Box<Outcome>,
        /// Where the failing objects are written in git (`file:line (object)`).
        locations: Vec<String>,
        /// What the backend knows about it (a fetch its gateway refused, and why).
        notes: Vec<String>,
        /// Where the artifacts are.
        artifacts: String,
        /// Cluster name.
        name: String,
    },
    /// Flagger could not initialize (or gave up on) a Canary: the cluster ran, the repository's
    /// Canary did not work.
    #[error(
        "{message}{}\nartifacts (objects, events, Flagger's log): {artifacts}\nthe cluster is left as it is for inspection; `gitops-harness down --name {name}` removes it",
        .locations.iter().map(|l| format!("\n  --> {l}")).collect::<String>()
    )]
    CanariesNotReady {
        /// Which Canaries, in Flagger's words.
        message: String,
        /// Where they are written in git.
        locations: Vec<String>,
        /// Where the artifacts are.
        artifacts: String,
        /// Cluster name.
        name: String,
    },
}

impl UpError {
    /// The cluster ran and something in the repository did not work (exit 1, cluster and
    /// artifacts kept for inspection), rather than the harness not being able to run (exit 2).
    pub fn is_repo_failure(&self) -> bool {
        matches!(self, UpError::NotReady { .. } | UpError::CannotClone { .. } | UpError::CanariesNotReady { .. })
    }

    /// How `up` ends with this error.
    pub fn exit(&self) -> crate::exit::Exit {
        if self.is_repo_failure() { crate::exit::Exit::Failure } else { crate::exit::Exit::CouldNotRun }
    }
}

/// Where `keys` are written in the repository, as `file:line (Kind ns/name)`.
pub fn locations(repo: &Repo, keys: &[&ObjectRef]) -> Vec<String> {
    keys.iter()
        .filter_map(|k| {
            let o = repo.objects().iter().find(|o| &o.key == *k)?;
            let at = crate::repo::Origin::at(&o.doc, "metadata.name");
            Some(format!("{}:{} ({k})", at.file.display(), at.line))
        })
        .collect()
}

/// A running demo: the cluster, and the git server that must keep running for Flux.
#[derive(Debug)]
pub struct UpSession {
    /// The cluster.
    pub handle: ClusterHandle,
    /// What its backend provides (a data plane, URLs to open).
    pub capabilities: Capabilities,
    /// The git server in this process (stop it with `shutdown`); `None` when the backend runs
    /// it as a background process that outlives `up`.
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

/// The repository, checked, and its bootstrap plan.
struct Checked {
    repo: Repo,
    plan: Plan,
}

/// The served copy, its trust anchor, and the git endpoint the cluster pulls from.
struct Served {
    served: ServedRepo,
    git: GitEndpoint,
    certs: CertOutcome,
    client: kube::Client,
}

/// Run `up`. `log` receives one line per step.
pub async fn up(req: &UpRequest, log: &mut (dyn FnMut(&str) + Send)) -> Result<UpSession, UpError> {
    // Loading and checking a large repository takes a while: off the async workers, so a stop
    // signal raced against `up` is seen at once.
    let (checked, lines) = {
        let req = req.clone();
        tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            check_repo(&req, &mut |l: &str| lines.push(l.to_string())).map(|c| (c, lines))
        })
        .await
        .map_err(|e| UpError::Cluster(ClusterError::Invalid(format!("the repository check stopped: {e}"))))??
    };
    for line in &lines {
        log(line);
    }
    let mut backend = AnyBackend::new(req.backend);
    let reused = reusable_cluster(req, &backend)?;
    preflight(req, &backend, &checked.repo, reused.is_some(), log).await?;
    for line in backend.configure(&checked.repo) {
        log(&line);
    }
    // From here on this run decides whether the cluster is Ready: an earlier run's marker goes.
    ReadyMarker::remove(&req.name)?;
    let (handle, created) = cluster(req, &backend, reused, log).await?;
    let served = serve(req, &backend, &handle, &checked.repo, created, log).await?;
    let deadline = tokio::time::Instant::now() + req.timeout;
    let result = async {
        install_flux(&backend, &served, &checked.repo, log).await?;
        first_fetch(req, &handle, &served, log).await?;
        let tracker = converge_plan(req, &backend, &checked, &served, created, deadline).await?;
        wait_canaries(req, &backend, &checked.repo, &served.client, deadline, log).await?;
        Ok(tracker)
    }
    .await;
    let tracker = match result {
        Ok(t) => t,
        Err(e) => {
            if let Some(server) = served.git.server {
                server.shutdown().await;
            }
            return Err(e);
        }
    };
    hand_over(req, &backend, handle, served, &checked.repo, tracker, created, log)
}

/// Phase 1: the repo must be sound before anything is created.
fn check_repo(req: &UpRequest, log: &mut (dyn FnMut(&str) + Send)) -> Result<Checked, UpError> {
    let repo = Repo::load(&req.repo, req.cluster_dir.as_deref())?;
    let crds = crate::crds::discover_dir(&repo.root).and_then(|d| CrdCatalog::load_dir(&d).ok());
    let report = check::run(&repo, &CheckOptions { crds, ..Default::default() });
    if report.errors() > 0 {
        if !req.allow_check_errors {
            return Err(UpError::Check { errors: report.errors(), report: check::render_human(&report, &req.repo) });
        }
        log(&format!("check: {} error finding(s), going on as asked (--allow-check-errors): Flux will report them", report.errors()));
        for f in report.findings.iter().filter(|f| f.severity == check::Severity::Error) {
            log(&format!("check:   error[{}]: {} --> {}:{}", f.code, f.message, f.file.display(), f.line));
        }
    }
    let plan = graph::plan(&repo).unwrap_or_default();
    log(&format!("check: {} ok ({} Kustomizations/HelmReleases in {} waves)", req.repo.display(), plan.nodes.len(), plan.waves.len()));
    Ok(Checked { repo, plan })
}

/// The recorded cluster to reuse (with `--reuse`), refused when its backend says it no longer
/// works.
fn reusable_cluster(req: &UpRequest, backend: &AnyBackend) -> Result<Option<ClusterHandle>, UpError> {
    let Some(handle) = cluster::load_state(&req.name).filter(|_| req.reuse) else { return Ok(None) };
    if let Some(why) = backend.unusable(&req.name) {
        return Err(UpError::Cluster(ClusterError::Invalid(format!(
            "cannot reuse {} cluster {1}: {why}\nremove it with `gitops-harness down --name {1}`, then run `up` again",
            handle.backend, req.name
        ))));
    }
    Ok(Some(handle))
}

/// Phase 2: everything the run needs, checked before anything is created.
async fn preflight(
    req: &UpRequest,
    backend: &AnyBackend,
    repo: &Repo,
    reusing: bool,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(), UpError> {
    let capabilities = backend.capabilities();
    let mut ports = Vec::new();
    if !reusing && capabilities.publishes_ingress {
        ports.push((req.ingress_port, "ingress"));
    }
    ports.push((req.git_port, "git server"));
    let needs_flux_cli = !bootstrap::components_path(&repo.root, &repo.cluster_dir).is_file();
    let mut failures = preflight::run(&PreflightRequest { capabilities: capabilities.clone(), ports, needs_flux_cli });
    if !reusing {
        failures.extend(backend.preflight(&spec(req)).await);
    }
    if !failures.is_empty() {
        return Err(UpError::Preflight(failures));
    }
    log("preflight: ok");
    if let Some(simulated) = capabilities.simulated {
        log(simulated);
    }
    Ok(())
}

fn spec(req: &UpRequest) -> ClusterSpec {
    let mut spec = ClusterSpec::new(&req.name);
    spec.ingress_http_port = req.ingress_port;
    spec.image = req.image.clone();
    spec.kubeconfig = req.kubeconfig.clone();
    spec.context = req.context.clone();
    spec.cassette = req.cassette.clone();
    spec
}

/// Phase 3: the cluster, created or reused; whether this run created it.
async fn cluster(
    req: &UpRequest,
    backend: &AnyBackend,
    reused: Option<ClusterHandle>,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(ClusterHandle, bool), UpError> {
    let (handle, created) = match reused {
        Some(h) => {
            log(&format!("cluster: reusing {} ({})", h.name, h.backend));
            (h, false)
        }
        None => {
            log(&format!("cluster: creating {} with {} (this takes a minute)", req.name, req.backend));
            (backend.create(&spec(req)).await?, true)
        }
    };
    log(&format!("cluster: {} at {}", handle.name, handle.api_url));
    Ok((handle, created))
}

/// Phase 4: a fresh served copy (the user's repo is never written), the Linkerd trust anchor
/// (a running cluster keeps its own: a new one breaks mTLS for every meshed pod), and the git
/// server the cluster pulls from.
async fn serve(
    req: &UpRequest,
    backend: &AnyBackend,
    handle: &ClusterHandle,
    repo: &Repo,
    created: bool,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<Served, UpError> {
    let served_dir = ClusterPaths::of(&req.name).served_repo();
    if served_dir.exists() {
        std::fs::remove_dir_all(&served_dir).map_err(|e| GitError::io(&served_dir, e))?;
    }
    let served = ServedRepo::prepare(&repo.root, &served_dir)?;
    let served_model = Repo::load(served.path(), Some(&repo.cluster_dir))?;
    let client = wait_for_api(&handle.target(), Duration::from_secs(180)).await?;
    let keep = if created { None } else { certs::read_cluster_anchor(&client).await? };
    if keep.is_some() {
        log("certs: keeping the running cluster's Linkerd trust anchor");
    }
    let certs = certs::ensure_linkerd_certs(&served, &served_model, keep)?;
    if !certs.written.is_empty() {
        log("certs: wrote the Linkerd trust anchor into the served copy (your repo is untouched)");
    }
    let git = backend.serve_git(handle, &served, req.git_port).await?;
    log(&format!("git: serving {} at {} (read-only)", served.path().display(), git.url));
    if let Some(reach) = &handle.git_reach {
        log(&format!("git: listening on {} because {}", reach.bind, reach.why));
    }
    bootstrap::rewrite_gotk_sync(&served, &repo.cluster_dir, &git.url, served.branch())?;
    Ok(Served { served, git, certs, client })
}

/// Phase 5: Flux's components, its source for the served copy and the root Kustomization.
async fn install_flux(backend: &AnyBackend, served: &Served, repo: &Repo, log: &mut (dyn FnMut(&str) + Send)) -> Result<(), UpError> {
    let capabilities = backend.capabilities();
    let boot = BootstrapRequest {
        repo_dir: served.served.path().to_path_buf(),
        cluster_dir: repo.cluster_dir.clone(),
        git_url: served.git.url.clone(),
        branch: served.served.branch().to_string(),
        trust_anchor: served.certs.needs_secret.then(|| served.certs.anchor.clone()),
        flux_provided: capabilities.flux == cluster::Provider::Backend,
    };
    let outcome = bootstrap::bootstrap(served.client.clone(), &boot).await?;
    log(&format!("flux: installed from {} ({} objects applied)", outcome.components_from, outcome.applied.len()));
    for note in &capabilities.flux_notes {
        log(note);
    }
    Ok(())
}

/// Phase 6: the cluster's first fetch. A cluster that cannot reach the git server fails here,
/// at once, with source-controller's clone error and why this address was chosen.
async fn first_fetch(req: &UpRequest, handle: &ClusterHandle, served: &Served, log: &mut (dyn FnMut(&str) + Send)) -> Result<(), UpError> {
    match source_fetch::wait_first_fetch(&served.client, req.timeout).await {
        FetchState::CannotClone(message) => {
            return Err(UpError::CannotClone {
                message: git_reach::cannot_clone(&served.git.url, handle.git_reach.as_ref(), &message),
                name: req.name.clone(),
            });
        }
        FetchState::Fetched(revision) => log(&format!("git: the cluster fetched {revision}")),
        FetchState::Pending => {}
    }
    Ok(())
}

/// Phase 7: every component of the plan Ready (a reused cluster: at the new served copy).
/// The root Kustomization the bootstrap created is not in the repo's plan, but if it cannot
/// fetch or build the repo nothing else will ever reconcile: it is required too.
async fn converge_plan(
    req: &UpRequest,
    backend: &AnyBackend,
    checked: &Checked,
    served: &Served,
    created: bool,
    deadline: tokio::time::Instant,
) -> Result<Tracker, UpError> {
    let root = ObjectRef::kustomization("flux-system", "flux-system");
    let mut tracker = Tracker::new(&checked.plan).require(root.clone());
    if !created {
        // A reused cluster is Ready at its old revision already: wait for the new served copy.
        let sha = served.served.head()?;
        crate::scenarios::gitops_change::request_reconciliation(&served.client, &root)
            .await
            .map_err(|e| UpError::Cluster(ClusterError::Invalid(format!("asking Flux to fetch the new served copy: {e}"))))?;
        tracker = tracker.at_revision(readiness::RevisionWant::root(served.served.branch(), &sha));
    }
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    let (outcome, tracker) = match converge(&served.client, tracker, remaining, backend, &req.name).await {
        Ok(x) => x,
        Err(ConvergeError::Readiness(e)) => return Err(e.into()),
        Err(ConvergeError::Lost(source)) => {
            let cleanup = match created.then(|| backend.abort_created(&req.name)).flatten() {
                Some(_) => format!("the cluster {} was stopped and removed (no process or port is left)", req.name),
                None => format!("the cluster {0} is left as it is; `gitops-harness down --name {0}` removes it", req.name),
            };
            return Err(UpError::ClusterLost { source: Box::new(source), cleanup });
        }
    };
    if matches!(outcome, Outcome::AllReady { .. }) {
        return Ok(tracker);
    }
    let dir = req.artifacts.join(format!("up-{}", req.name));
    let keys: Vec<ObjectRef> = tracker.not_ready().into_iter().map(|(k, _)| k).collect();
    let saved = failure_evidence(&served.client, backend, &req.name, &dir, &outcome.to_string(), &keys, &[]).await;
    let artifacts = saved.map(|d| d.display().to_string()).unwrap_or_else(|e| format!("({e})"));
    let locations = match &outcome {
        Outcome::Failed { key, cause, .. } => {
            locations(&checked.repo, &[Some(key), cause.as_ref()].into_iter().flatten().collect::<Vec<_>>())
        }
        _ => Vec::new(),
    };
    let notes = backend.explain(&req.name, &outcome.to_string());
    Err(UpError::NotReady { outcome: Box::new(outcome), locations, notes, artifacts, name: req.name.clone() })
}

/// Phase 8: Flagger has initialized every Canary. Flagger waits for each primary Deployment
/// (image pulls on a fresh laptop): what is left of the deadline, at least two minutes. A Canary
/// Flagger keeps saying it cannot initialize ends the wait with Flagger's words.
async fn wait_canaries(
    req: &UpRequest,
    backend: &AnyBackend,
    repo: &Repo,
    client: &kube::Client,
    deadline: tokio::time::Instant,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(), UpError> {
    let canary_time = deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_secs(120));
    let Err(failure) = wait_canaries_initialized(client, canary_time, log).await else { return Ok(()) };
    let dir = req.artifacts.join(format!("up-{}", req.name));
    let keys: Vec<ObjectRef> = failure.canaries.iter().map(|(k, _)| k.clone()).collect();
    let namespaces: Vec<String> = keys.iter().filter_map(|k| k.namespace.clone()).collect();
    let saved = failure_evidence(client, backend, &req.name, &dir, &failure.to_string(), &keys, &namespaces).await;
    Err(UpError::CanariesNotReady {
        locations: locations(repo, &keys.iter().collect::<Vec<_>>()),
        message: failure.to_string(),
        artifacts: saved.map(|d| d.display().to_string()).unwrap_or_else(|e| format!("({e})")),
        name: req.name.clone(),
    })
}

/// Phase 9: the kubeconfig (when asked), the ready marker, and the session.
#[allow(clippy::too_many_arguments)]
fn hand_over(
    req: &UpRequest,
    backend: &AnyBackend,
    handle: ClusterHandle,
    served: Served,
    repo: &Repo,
    tracker: Tracker,
    created: bool,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<UpSession, UpError> {
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
    let capabilities = backend.capabilities();
    let urls = urls(repo, handle.ingress_http_port);
    ReadyMarker {
        git_url: served.git.url.clone(),
        served_repo: served.served.path().to_path_buf(),
        ingress_port: handle.ingress_http_port,
        urls: urls.clone(),
        backend: handle.backend.to_string(),
        cluster_dir: repo.cluster_dir.clone(),
        data_plane: capabilities.data_plane,
        flagger: backend.runs_flagger(&req.name),
        harness_files: served.certs.written.clone(),
    }
    .save(&req.name)?;
    let rows = tracker.timeline();
    Ok(UpSession {
        timeline: readiness::render_timeline(&rows),
        handle,
        capabilities,
        server: served.git.server,
        served: served.served,
        urls,
        created,
        rows,
    })
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
