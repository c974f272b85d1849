//! `upgrade`: rehearse taking a running environment from one git revision of a repository to the
//! next, and prove nothing regressed.
//!
//! The environment comes up (or is reused) at `--from`; the `--to` tree is then published through
//! the harness git server as the next commit of the served copy, as a merge arrives, and Flux is
//! asked to reconcile. Each invariant is an [`verdict::Assertion`] with its evidence: the target
//! plan Ready at the target revision, untouched workloads keeping their pods, triggered canaries
//! promoted, no drift, API versions valid for the Flux that will run them, availability during
//! the change, and Flux's own version. The [`report::UpgradeReport`] is written as Markdown,
//! JSON and JUnit.

// Errors carry paths and revisions for the message; not a hot path.
#![allow(clippy::result_large_err)]

pub mod availability;
mod canaries;
pub mod publish;
pub mod report;
pub mod snapshot;
pub mod verdict;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::bootstrap::BootstrapError;
use crate::check::{self, CheckOptions};
use crate::cluster::{self, AnyBackend, ClusterBackend, ClusterError, ClusterHandle, Provider};
use crate::flux::ObjectRef;
use crate::flux_versions;
use crate::git::revisions::{self, Revision};
use crate::git::{GitError, GitServer, ServedRepo};
use crate::graph;
use crate::readiness::{self, Outcome, RevisionWant};
use crate::repo::{Repo, RepoError};
use crate::scenarios::drift;
use crate::scenarios::gitops_change;
use crate::state::{ClusterPaths, ReadyMarker};
use crate::up::{self, ConvergeError, UpError, UpRequest, converge, failure_evidence};

use report::{Convergence, UpgradeReport};
use snapshot::Snapshot;
use verdict::{Assertion, CanaryOutcome};

/// What `upgrade` should do.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    /// How to bring the environment up at `--from` (its `repo` is the user's git repository,
    /// its `reuse` keeps a running environment of that name).
    pub env: UpRequest,
    /// The revision the environment runs first.
    pub from: String,
    /// The revision to upgrade to.
    pub to: String,
    /// How long triggered canaries may take after the plan converged.
    pub canary_timeout: Duration,
}

/// Errors that keep an upgrade from being rehearsed (exit 2); a regression is a report.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// git failed: a repository or revision that does not resolve, an export, the served copy.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The target revision cannot be loaded as a repository.
    #[error("the target revision {rev}: {source}")]
    Target {
        /// Revision.
        rev: String,
        /// Cause.
        source: RepoError,
    },
    /// The environment at `--from` could not be brought up.
    #[error("the environment at --from {rev} did not come up, so there is nothing to upgrade: {source}")]
    From {
        /// Revision.
        rev: String,
        /// Cause.
        source: Box<UpError>,
    },
    /// `--reuse` without a ready environment of that name.
    #[error("no ready environment named {0} to reuse; run without --reuse (or `gitops-harness up --name {0}` first)")]
    NotRunning(String),
    /// Before the upgrade, the reused environment did not converge at `--from`.
    #[error("the reused environment did not converge at --from {rev}: {outcome}")]
    FromNotReady {
        /// Revision.
        rev: String,
        /// What happened.
        outcome: Outcome,
    },
    /// Rewriting the sync manifest.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// A reconcile request.
    #[error(transparent)]
    Change(#[from] gitops_change::ChangeError),
    /// Talking to the cluster.
    #[error("{action}: {source}")]
    Kube {
        /// What we were doing.
        action: String,
        /// Cause.
        source: kube::Error,
    },
    /// Reaching the cluster.
    #[error(transparent)]
    Live(#[from] crate::live::LiveError),
    /// The readiness watch itself failed.
    #[error(transparent)]
    Readiness(#[from] readiness::ReadinessError),
    /// The cluster went away during the upgrade (a sim process exited).
    #[error("{0}\nthe environment is left as it is; `gitops-harness down --name <name>` removes it")]
    ClusterLost(ClusterError),
    /// Writing the report.
    #[error("writing the report {path}: {message}")]
    Report {
        /// File.
        path: PathBuf,
        /// Cause.
        message: String,
    },
}

/// A finished rehearsal.
#[derive(Debug)]
pub struct UpgradeOutcome {
    /// The report (its exit code: 0 pass, 1 regression).
    pub report: UpgradeReport,
    /// The files written (`report.md`, `report.json`, `junit.xml`, plus failure artifacts).
    pub files: Vec<PathBuf>,
    /// The folder they are in.
    pub dir: PathBuf,
}

/// The environment the upgrade runs in.
struct Env {
    backend: AnyBackend,
    handle: ClusterHandle,
    served: ServedRepo,
    marker: ReadyMarker,
    /// Bootstrap times per component (a fresh environment only).
    bootstrap: BTreeMap<ObjectRef, f64>,
    /// The in-process git server of an environment created here (Docker tier).
    server: Option<GitServer>,
}

/// Bring the environment up at `from`, or take the running one.
async fn environment(req: &UpgradeRequest, from: &Revision, log: &mut (dyn FnMut(&str) + Send)) -> Result<Env, UpgradeError> {
    let name = &req.env.name;
    if req.env.reuse {
        let handle = cluster::load_state(name).ok_or_else(|| UpgradeError::NotRunning(name.clone()))?;
        let marker = ReadyMarker::load(name).map_err(|_| UpgradeError::NotRunning(name.clone()))?;
        let served = ServedRepo::open(&ClusterPaths::of(name).served_repo())?;
        log(&format!("environment: reusing {name} ({})", handle.backend));
        return Ok(Env { backend: AnyBackend::new(handle.backend), handle, served, marker, bootstrap: BTreeMap::new(), server: None });
    }
    let mut env_req = req.env.clone();
    env_req.repo = from.tree.path().to_path_buf();
    log(&format!("environment: bringing up {name} at --from {} ({})", from.short(), from.subject));
    let session = up::up(&env_req, log).await.map_err(|e| UpgradeError::From { rev: from.asked.clone(), source: Box::new(e) })?;
    let marker = ReadyMarker::load(name).map_err(|e| UpgradeError::From { rev: from.asked.clone(), source: Box::new(e.into()) })?;
    let bootstrap = session.rows.iter().filter_map(|r| Some((r.key.clone(), r.ready?.as_secs_f64()))).collect();
    Ok(Env {
        backend: AnyBackend::new(session.handle.backend),
        handle: session.handle,
        served: session.served,
        marker,
        bootstrap,
        server: session.server,
    })
}

/// Publish `tree` as the next commit, ask Flux to reconcile, and watch `plan` converge at it.
async fn publish_and_converge(
    env: &Env,
    client: &kube::Client,
    tree: &Path,
    plan: &graph::Plan,
    message: &str,
    deadline: Duration,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(publish::Published, Outcome, readiness::Tracker), UpgradeError> {
    let published = publish::publish(&env.served, tree, &env.marker.harness_files, &env.marker.cluster_dir, &env.marker.git_url, message)?;
    let root = ObjectRef::kustomization("flux-system", "flux-system");
    gitops_change::request_reconciliation(client, &root).await?;
    log(&format!(
        "git: published {} ({} files changed); reconciliation requested",
        &published.sha[..12.min(published.sha.len())],
        published.files.len()
    ));
    let want = RevisionWant::root(env.served.branch(), &published.sha);
    let tracker = readiness::Tracker::new(plan).require(root).at_revision(want);
    let (outcome, tracker) = match converge(client, tracker, deadline, &env.backend, &env.handle.name).await {
        Ok(x) => x,
        Err(ConvergeError::Readiness(e)) => return Err(e.into()),
        Err(ConvergeError::Lost(e)) => return Err(UpgradeError::ClusterLost(e)),
    };
    Ok((published, outcome, tracker))
}

/// The two revisions, resolved and loaded before anything is created.
struct Revisions {
    from: Revision,
    to: Revision,
    commits: Vec<String>,
    to_repo: Repo,
    to_plan: graph::Plan,
}

/// What the target revision did to the cluster.
struct Observed {
    published: publish::Published,
    outcome: Outcome,
    tracker: readiness::Tracker,
    canaries: Vec<CanaryOutcome>,
    availability: availability::AvailabilityReport,
    after: Snapshot,
    drift: Result<drift::DriftReport, String>,
    took_s: f64,
}

/// Rehearse the upgrade; `log` receives one line per step.
pub async fn run(req: &UpgradeRequest, log: &mut (dyn FnMut(&str) + Send)) -> Result<UpgradeOutcome, UpgradeError> {
    let revs = resolve_revisions(req, log)?;
    let env = environment(req, &revs.from, log).await?;
    let client = crate::live::probe(&env.handle.target(), Duration::from_secs(10)).await?;
    let from_repo = Repo::load(revs.from.tree.path(), Some(&env.marker.cluster_dir))
        .map_err(|source| UpgradeError::Target { rev: req.from.clone(), source })?;
    if req.env.reuse {
        reset_to_from(req, &env, &client, &revs.from, &from_repo, log).await?;
    }
    let controllers: BTreeMap<String, String> = env.backend.capabilities().controllers.into_iter().collect();
    let before = snapshot::take(&client, &controllers).await?;
    log(&format!(
        "baseline: {} workloads, {} HelmReleases, {} canaries",
        before.workloads.len(),
        before.charts.len(),
        before.canaries.len()
    ));
    let observed = apply_target(req, &env, &client, &revs, &before, &controllers, log).await?;
    let report = judge(req, &env, &revs, &from_repo, &before, &observed);
    let outcome = write_report(req, &env, &client, report, &observed).await;
    if let Some(server) = env.server {
        server.shutdown().await;
    }
    outcome
}

/// Phase 1: both revisions resolve and the target loads, before anything is created.
fn resolve_revisions(req: &UpgradeRequest, log: &mut (dyn FnMut(&str) + Send)) -> Result<Revisions, UpgradeError> {
    let from = revisions::resolve(&req.env.repo, &req.from)?;
    let to = revisions::resolve(&req.env.repo, &req.to)?;
    let commits = revisions::commits_between(&req.env.repo, &from.sha, &to.sha);
    log(&format!("upgrade: {} ({}) -> {} ({}), {} commit(s)", req.from, from.short(), req.to, to.short(), commits.len()));
    let to_repo = Repo::load(to.tree.path(), req.env.cluster_dir.as_deref())
        .map_err(|source| UpgradeError::Target { rev: req.to.clone(), source })?;
    let to_plan = graph::plan(&to_repo).unwrap_or_default();
    Ok(Revisions { from, to, commits, to_repo, to_plan })
}

/// Phase 2 (with `--reuse`): the running environment is reset to `--from` and settles there.
async fn reset_to_from(
    req: &UpgradeRequest,
    env: &Env,
    client: &kube::Client,
    from: &Revision,
    from_repo: &Repo,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(), UpgradeError> {
    let plan = graph::plan(from_repo).unwrap_or_default();
    let msg = format!("gitops-harness: reset to {} ({})", from.short(), from.subject);
    let (p, outcome, _) = publish_and_converge(env, client, from.tree.path(), &plan, &msg, req.env.timeout, log).await?;
    if !p.files.is_empty() && !matches!(outcome, Outcome::AllReady { .. }) {
        return Err(UpgradeError::FromNotReady { rev: req.from.clone(), outcome });
    }
    // `up` waited for them in a fresh environment; a reused one may be mid-rollout.
    up::wait_canaries_initialized(client, req.canary_timeout, log)
        .await
        .map_err(|e| UpgradeError::From { rev: req.from.clone(), source: Box::new(e) })
}

/// Phase 3: publish `--to`, watch it converge and the canaries it triggers, sampling
/// availability all along; then the state after, and drift at the target.
async fn apply_target(
    req: &UpgradeRequest,
    env: &Env,
    client: &kube::Client,
    revs: &Revisions,
    before: &Snapshot,
    controllers: &BTreeMap<String, String>,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<Observed, UpgradeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let monitor = tokio::spawn(availability::monitor(client.clone(), Duration::from_secs(1), stop_rx.clone()));
    let probe_url = up::urls(&revs.to_repo, env.handle.ingress_http_port).into_iter().next().map(|(_, u)| u);
    let probe = match (env.backend.capabilities().data_plane, probe_url) {
        (true, Some(url)) => Some(tokio::spawn(availability::probe(url, Duration::from_millis(500), stop_rx))),
        _ => None,
    };
    let started = tokio::time::Instant::now();
    let mut message =
        format!("gitops-harness upgrade: {} -> {}\n\nRehearsing {}..{}", revs.from.short(), revs.to.short(), req.from, req.to);
    for c in &revs.commits {
        message.push_str(&format!("\n  {c}"));
    }
    let converged = publish_and_converge(env, client, revs.to.tree.path(), &revs.to_plan, &message, req.env.timeout, log).await;
    let (published, outcome, tracker) = match converged {
        Ok(x) => x,
        Err(e) => {
            let _ = stop_tx.send(true);
            return Err(e);
        }
    };
    let ready = matches!(outcome, Outcome::AllReady { .. });
    // Canaries start only once the plan converged: otherwise they may never start.
    let canaries = if ready { canaries::settle(client, before, started, req.canary_timeout, log).await? } else { Vec::new() };
    let _ = stop_tx.send(true);
    let mut avail = monitor.await.unwrap_or_default();
    if let Some(p) = probe {
        avail.probe = p.await.ok();
    }
    let after = snapshot::take(client, controllers).await?;
    // Drift with the served copy, which has the revisions Flux applied.
    let drift = if ready {
        drift::check_cluster(client, env.served.path(), Some(&env.marker.cluster_dir)).await.map_err(|e| e.to_string())
    } else {
        Err("not computed: the target did not converge".to_string())
    };
    Ok(Observed { published, outcome, tracker, canaries, availability: avail, after, drift, took_s: started.elapsed().as_secs_f64() })
}

/// Phase 4: every assertion with its evidence.
fn judge(req: &UpgradeRequest, env: &Env, revs: &Revisions, from_repo: &Repo, before: &Snapshot, o: &Observed) -> UpgradeReport {
    let converged = matches!(o.outcome, Outcome::AllReady { .. });
    // A backend that runs Flux itself runs one Flux build: whether the controllers changed is
    // only a question where the repository installs Flux.
    let flux_from_repo = env.backend.capabilities().flux == Provider::Repository;
    let pin = |r: &Repo| flux_versions::pinned(r).map(|p| p.version);
    let from_flux = if flux_from_repo { pin(from_repo) } else { Some(flux_versions::LATEST) };
    let to_flux = pin(&revs.to_repo).or(from_flux).unwrap_or(flux_versions::LATEST);
    let crds = crate::crds::discover_dir(&revs.to_repo.root).and_then(|d| crate::crds::CrdCatalog::load_dir(&d).ok());
    let findings = check::run(&revs.to_repo, &CheckOptions { flux_version: Some(to_flux), crds }).findings;
    let changes = verdict::workload_changes(before, &o.after);
    let sha = &o.published.sha;
    let revision = format!("{}@sha1:{}", env.served.branch(), &sha[..12.min(sha.len())]);
    let skipped = |id, title, why: &str| Assertion { id, title, status: verdict::Status::Skipped, summary: why.into(), evidence: vec![] };
    let assertions = vec![
        verdict::ready_at_target(&o.outcome, revs.to_plan.nodes.len(), &revision),
        verdict::pods_kept(&changes, before.workloads.len()),
        if converged {
            verdict::canaries(&o.canaries)
        } else {
            skipped("canaries", "canaries the upgrade triggered are promoted (Succeeded)", "not observed: the target did not converge")
        },
        if converged {
            verdict::no_drift(o.drift.as_ref().map_err(Clone::clone))
        } else {
            // Drift of a half-applied target says nothing the readiness failure does not.
            let mut a = verdict::no_drift(o.drift.as_ref().map_err(Clone::clone));
            a.status = verdict::Status::Skipped;
            a.summary = "not computed: the target did not converge".into();
            a
        },
        verdict::api_versions(&findings, &to_flux.to_string()),
        verdict::availability(&o.availability),
        verdict::flux_version(
            &from_flux.unwrap_or(to_flux).to_string(),
            &to_flux.to_string(),
            flux_from_repo.then(|| before.flux != o.after.flux),
        ),
    ];
    let convergence = o
        .tracker
        .timeline()
        .into_iter()
        .filter(|r| r.wave.is_some() || r.key.name == "flux-system")
        .map(|r| Convergence {
            component: r.key.to_string(),
            bootstrap_s: env.bootstrap.get(&r.key).copied(),
            upgrade_s: r.ready.map(|d| d.as_secs_f64()),
        })
        .collect();
    UpgradeReport {
        name: req.env.name.clone(),
        backend: env.handle.backend.to_string(),
        from: format!("{} ({})", req.from, revs.from.short()),
        to: format!("{} ({})", req.to, revs.to.short()),
        commits: revs.commits.clone(),
        published: o.published.sha.clone(),
        files: o.published.files.clone(),
        assertions,
        versions: report::version_rows(before, &o.after),
        convergence,
        canaries: o.canaries.clone(),
        workloads: changes,
        took_s: o.took_s,
    }
}

/// Phase 5: the report, and on a regression the cluster's evidence beside it.
async fn write_report(
    req: &UpgradeRequest,
    env: &Env,
    client: &kube::Client,
    report: UpgradeReport,
    o: &Observed,
) -> Result<UpgradeOutcome, UpgradeError> {
    let dir = req.env.artifacts.join(format!("upgrade-{}", req.env.name));
    let mut files = report.write(&dir)?;
    if !report.passed() {
        let namespaces: Vec<String> = o.after.canaries.keys().filter_map(|k| k.split_once('/').map(|(ns, _)| ns.to_string())).collect();
        let title = report.failures().iter().map(|a| a.summary.clone()).collect::<Vec<_>>().join("; ");
        if let Ok(saved) =
            failure_evidence(client, &env.backend, &req.env.name, &dir.join("cluster"), &title, &o.tracker, &namespaces).await
        {
            files.push(saved);
        }
    }
    Ok(UpgradeOutcome { report, files, dir })
}
