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
pub mod publish;
pub mod report;
pub mod snapshot;
pub mod verdict;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::bootstrap::BootstrapError;
use crate::check::{self, CheckOptions};
use crate::cluster::{self, BackendKind, ClusterHandle, sim};
use crate::drift;
use crate::flux_versions;
use crate::gitops_change::{self, ObjRef};
use crate::gitserver::{GitServer, GitServerError, ServedRepo};
use crate::graph;
use crate::readiness::{self, Outcome, RevisionWant};
use crate::repo::{ObjKey, Repo, RepoError};
use crate::up::{self, UpError, UpRequest};

use publish::Revision;
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
    /// Not a git repository.
    #[error("{0} is not a git repository: `upgrade` compares two revisions of one (pass --repo with the repository's working copy)")]
    NotAGitRepo(PathBuf),
    /// A revision that does not resolve.
    #[error(
        "revision `{rev}` is not a commit of {repo}; pass a branch, tag or sha that `git rev-parse` knows there (fetch it first if it is remote)"
    )]
    UnknownRevision {
        /// Repository.
        repo: PathBuf,
        /// What was asked.
        rev: String,
    },
    /// git failed.
    #[error("git in {repo}: {message}")]
    Git {
        /// Repository.
        repo: PathBuf,
        /// What failed.
        message: String,
    },
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
    /// The served copy.
    #[error(transparent)]
    Served(#[from] GitServerError),
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
    /// A sim process died during the upgrade.
    #[error("{0}\nthe environment is left as it is; `gitops-harness down --name <name>` removes it")]
    SimProcessDied(sim::SimError),
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

/// The controllers a sim cluster runs as processes, with their pinned versions.
fn sim_flux_processes(handle: &ClusterHandle) -> BTreeMap<String, String> {
    use sim::toolset::Component;
    if handle.backend != BackendKind::Sim {
        return BTreeMap::new();
    }
    [Component::SourceController, Component::KustomizeController, Component::HelmController, Component::Flagger]
        .into_iter()
        .map(|c| (c.name().to_string(), c.version().to_string()))
        .collect()
}

fn read_marker(name: &str) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(up::ready_marker(name)).ok()?).ok()
}

/// The files `up` recorded in its ready marker as written by the harness into the served copy.
fn harness_files(marker: &Value) -> Vec<PathBuf> {
    marker
        .get("harness_files")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(PathBuf::from).collect())
        .unwrap_or_default()
}

/// The environment the upgrade runs in.
struct Env {
    handle: ClusterHandle,
    served: ServedRepo,
    git_url: String,
    cluster_dir: PathBuf,
    /// Files the harness wrote into the served copy.
    keep: Vec<PathBuf>,
    /// Bootstrap times per component (a fresh environment only).
    bootstrap: BTreeMap<ObjKey, f64>,
    /// The in-process git server of a Docker-tier environment created here.
    server: Option<GitServer>,
}

/// Bring the environment up at `from`, or take the running one.
async fn environment(req: &UpgradeRequest, from: &Revision, log: &mut (dyn FnMut(&str) + Send)) -> Result<Env, UpgradeError> {
    let name = &req.env.name;
    if req.env.reuse {
        let handle = cluster::load_state(name).ok_or_else(|| UpgradeError::NotRunning(name.clone()))?;
        let marker = read_marker(name).ok_or_else(|| UpgradeError::NotRunning(name.clone()))?;
        let served = ServedRepo::open(&up::served_repo_dir(name))?;
        let s = |k: &str| marker.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let keep = harness_files(&marker);
        log(&format!("environment: reusing {name} ({})", handle.backend));
        return Ok(Env {
            handle,
            served,
            git_url: s("git_url"),
            cluster_dir: PathBuf::from(s("cluster_dir")),
            keep,
            bootstrap: BTreeMap::new(),
            server: None,
        });
    }
    let mut env_req = req.env.clone();
    env_req.repo = from.tree.path().to_path_buf();
    log(&format!("environment: bringing up {name} at --from {} ({})", from.short(), from.subject));
    let session = up::up(&env_req, log).await.map_err(|e| UpgradeError::From { rev: from.asked.clone(), source: Box::new(e) })?;
    let marker = read_marker(name).unwrap_or(Value::Null);
    let keep = harness_files(&marker);
    let bootstrap = session.rows.iter().filter_map(|r| Some((r.key.clone(), r.ready?.as_secs_f64()))).collect();
    Ok(Env {
        git_url: marker.get("git_url").and_then(Value::as_str).unwrap_or("").to_string(),
        cluster_dir: marker.get("cluster_dir").and_then(Value::as_str).map(PathBuf::from).unwrap_or_default(),
        handle: session.handle,
        served: session.served,
        keep,
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
    let published = publish::publish(&env.served, tree, &env.keep, &env.cluster_dir, &env.git_url, message)?;
    let root = ObjRef::new("flux-system", "flux-system");
    gitops_change::request_reconciliation(client, &root).await?;
    log(&format!(
        "git: published {} ({} files changed); reconciliation requested",
        &published.sha[..12.min(published.sha.len())],
        published.files.len()
    ));
    let want = RevisionWant::root(env.served.branch(), &published.sha);
    let tracker = readiness::Tracker::new(plan).require(ObjKey::new("Kustomization", Some("flux-system"), "flux-system")).at_revision(want);
    let mut progress = crate::progress::Progress::for_stderr(&tracker);
    let watch = readiness::watch_with(client.clone(), tracker, deadline, |c, _| progress.on_change(c));
    let (outcome, tracker) = if env.handle.backend == BackendKind::Sim {
        tokio::select! {
            r = watch => r?,
            died = sim::watch_processes(&env.handle.name) => return Err(UpgradeError::SimProcessDied(died)),
        }
    } else {
        watch.await?
    };
    progress.finish(&outcome);
    Ok((published, outcome, tracker))
}

/// Flagger's last word on a Canary: its newest event.
async fn flagger_reason(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let events = crate::canary::live::canary_events(client, ns, name).await.ok()?;
    // The halt reason is a Warning; otherwise the last word.
    let pick = events.iter().rev().find(|e| e.type_.as_deref() == Some("Warning")).or(events.last())?;
    pick.message.clone()
}

/// Wait for the canaries the upgrade triggered to end. A canary is triggered when its target's
/// pod template changed or Flagger starts analysing it (a changed ConfigMap or Secret it tracks);
/// Flagger notices within an analysis interval, so the wait lasts at least two of them.
async fn settle_canaries(
    client: &kube::Client,
    before: &Snapshot,
    started: tokio::time::Instant,
    timeout: Duration,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<CanaryOutcome>, UpgradeError> {
    if before.canaries.is_empty() {
        return Ok(Vec::new());
    }
    let notice = Duration::from_secs(before.canaries.values().map(|c| c.interval_s).max().unwrap_or(60) * 2 + 5);
    let begin = tokio::time::Instant::now();
    let mut triggered: BTreeSet<String> = BTreeSet::new();
    let mut ended: BTreeMap<String, u64> = BTreeMap::new();
    let mut announced = BTreeSet::new();
    loop {
        let Snapshot { canaries: now, workloads: templates, .. } = snapshot::take(client, &BTreeMap::new()).await?;
        for (key, c) in &now {
            let Some(b) = before.canaries.get(key) else { continue };
            let target_changed = match (before.workloads.get(&b.target), templates.get(&b.target)) {
                (Some(x), Some(y)) => x.template != y.template,
                _ => false,
            };
            let active = !matches!(c.phase.as_str(), "Initialized" | "Succeeded" | "Failed" | "");
            if target_changed || active || c.last_applied_spec != b.last_applied_spec {
                triggered.insert(key.clone());
            }
            let done =
                matches!(c.phase.as_str(), "Succeeded" | "Failed") && (c.last_applied_spec != b.last_applied_spec || c.phase == "Failed");
            if triggered.contains(key) && done && !ended.contains_key(key) {
                ended.insert(key.clone(), started.elapsed().as_secs());
                log(&format!("flagger: {key} {}", c.phase));
            } else if triggered.contains(key) && announced.insert(key.clone()) {
                log(&format!("flagger: {key} is rolling out the change"));
            }
        }
        let waiting: Vec<&String> = triggered.iter().filter(|k| !ended.contains_key(*k)).collect();
        let timed_out = begin.elapsed() >= timeout;
        if (waiting.is_empty() && begin.elapsed() >= notice) || timed_out {
            let mut out = Vec::new();
            for (key, c) in &now {
                let is_triggered = triggered.contains(key);
                let (ns, name) = key.split_once('/').unwrap_or(("", key));
                let mut reason = None;
                if is_triggered && c.phase != "Succeeded" {
                    reason = flagger_reason(client, ns, name).await;
                    if timed_out && !ended.contains_key(key) {
                        reason = Some(format!(
                            "still {} after {}s{}",
                            c.phase,
                            timeout.as_secs(),
                            reason.map(|r| format!("; last event: {r}")).unwrap_or_default()
                        ));
                    }
                }
                out.push(CanaryOutcome {
                    canary: key.clone(),
                    phase: c.phase.clone(),
                    triggered: is_triggered,
                    reason,
                    took_s: ended.get(key).copied(),
                });
            }
            return Ok(out);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Rehearse the upgrade; `log` receives one line per step.
pub async fn run(req: &UpgradeRequest, log: &mut (dyn FnMut(&str) + Send)) -> Result<UpgradeOutcome, UpgradeError> {
    // 1. Both revisions resolve and the target loads, before anything is created.
    let from = publish::resolve(&req.env.repo, &req.from)?;
    let to = publish::resolve(&req.env.repo, &req.to)?;
    let commits = publish::commits_between(&req.env.repo, &from.sha, &to.sha);
    log(&format!("upgrade: {} ({}) -> {} ({}), {} commit(s)", req.from, from.short(), req.to, to.short(), commits.len()));
    let to_repo = Repo::load(to.tree.path(), req.env.cluster_dir.as_deref())
        .map_err(|source| UpgradeError::Target { rev: req.to.clone(), source })?;
    let to_plan = graph::plan(&to_repo).unwrap_or_default();

    // 2. The environment at --from.
    let env = environment(req, &from, log).await?;
    let client = crate::live::probe(&env.handle.target(), Duration::from_secs(10)).await?;
    let from_repo =
        Repo::load(from.tree.path(), Some(&env.cluster_dir)).map_err(|source| UpgradeError::Target { rev: req.from.clone(), source })?;
    if req.env.reuse {
        let plan = graph::plan(&from_repo).unwrap_or_default();
        let msg = format!("gitops-harness: reset to {} ({})", from.short(), from.subject);
        let (p, outcome, _) = publish_and_converge(&env, &client, from.tree.path(), &plan, &msg, req.env.timeout, log).await?;
        if !p.files.is_empty() && !matches!(outcome, Outcome::AllReady { .. }) {
            return Err(UpgradeError::FromNotReady { rev: req.from.clone(), outcome });
        }
        // `up` waited for them in a fresh environment; a reused one may be mid-rollout.
        up::wait_canaries_initialized(&client, req.canary_timeout, log)
            .await
            .map_err(|e| UpgradeError::From { rev: req.from.clone(), source: Box::new(e) })?;
    }
    let flux_procs = sim_flux_processes(&env.handle);
    let before = snapshot::take(&client, &flux_procs).await?;
    log(&format!(
        "baseline: {} workloads, {} HelmReleases, {} canaries",
        before.workloads.len(),
        before.charts.len(),
        before.canaries.len()
    ));

    // 3. Publish --to and watch, sampling availability all along.
    let (stop_tx, stop_rx) = watch::channel(false);
    let monitor = tokio::spawn(availability::monitor(client.clone(), Duration::from_secs(1), stop_rx.clone()));
    let data_plane = env.handle.backend != BackendKind::Sim;
    let probe_url = up::urls(&to_repo, env.handle.ingress_http_port).into_iter().next().map(|(_, u)| u);
    let probe = match (data_plane, probe_url) {
        (true, Some(url)) => Some(tokio::spawn(availability::probe(url, Duration::from_millis(500), stop_rx))),
        _ => None,
    };
    let started = tokio::time::Instant::now();
    let mut message = format!("gitops-harness upgrade: {} -> {}\n\nRehearsing {}..{}", from.short(), to.short(), req.from, req.to);
    for c in &commits {
        message.push_str(&format!("\n  {c}"));
    }
    let converge = publish_and_converge(&env, &client, to.tree.path(), &to_plan, &message, req.env.timeout, log).await;
    let (published, outcome, tracker) = match converge {
        Ok(x) => x,
        Err(e) => {
            let _ = stop_tx.send(true);
            return Err(e);
        }
    };
    let converged = matches!(outcome, Outcome::AllReady { .. });

    // 4. Canaries the change triggered (only once the plan converged: otherwise they may never start).
    let canaries = if converged { settle_canaries(&client, &before, started, req.canary_timeout, log).await? } else { Vec::new() };
    let _ = stop_tx.send(true);
    let mut avail = monitor.await.unwrap_or_default();
    if let Some(p) = probe {
        avail.probe = p.await.ok();
    }
    let after = snapshot::take(&client, &flux_procs).await?;

    // 5. Drift at the target, with the served copy (which has the revisions Flux applied).
    let drift_report = if converged {
        drift::check_cluster(&client, env.served.path(), Some(&env.cluster_dir)).await.map_err(|e| e.to_string())
    } else {
        Err("not computed: the target did not converge".to_string())
    };

    // 6. Verdicts.
    let on_sim = env.handle.backend == BackendKind::Sim;
    let pin = |r: &Repo| flux_versions::pinned(r).map(|p| p.version);
    let from_flux = if on_sim { Some(flux_versions::LATEST) } else { pin(&from_repo) };
    let to_flux = pin(&to_repo).or(from_flux).unwrap_or(flux_versions::LATEST);
    let crds = crate::crds::discover_dir(&to_repo.root).and_then(|d| crate::crds::CrdCatalog::load_dir(&d).ok());
    let findings = check::run(&to_repo, &CheckOptions { flux_version: Some(to_flux), crds }).findings;
    let changes = verdict::workload_changes(&before, &after);
    let revision = format!("{}@sha1:{}", env.served.branch(), &published.sha[..12.min(published.sha.len())]);
    // Sim runs one Flux build: whether the controllers changed is only a question elsewhere.
    let flux_assertion = verdict::flux_version(
        &from_flux.unwrap_or(to_flux).to_string(),
        &to_flux.to_string(),
        (!on_sim).then(|| before.flux != after.flux),
    );
    let mut assertions: Vec<Assertion> = vec![
        verdict::ready_at_target(&outcome, to_plan.nodes.len(), &revision),
        verdict::pods_kept(&changes, before.workloads.len()),
        if converged {
            verdict::canaries(&canaries)
        } else {
            Assertion {
                id: "canaries",
                title: "canaries the upgrade triggered are promoted (Succeeded)",
                status: verdict::Status::Skipped,
                summary: "not observed: the target did not converge".into(),
                evidence: vec![],
            }
        },
        verdict::no_drift(drift_report.as_ref().map_err(Clone::clone)),
        verdict::api_versions(&findings, &to_flux.to_string()),
        verdict::availability(&avail),
        flux_assertion,
    ];
    if !converged {
        // Drift of a half-applied target says nothing the readiness failure does not.
        if let Some(a) = assertions.iter_mut().find(|a| a.id == "no-drift") {
            a.status = verdict::Status::Skipped;
            a.summary = "not computed: the target did not converge".into();
        }
    }
    let convergence = tracker
        .timeline()
        .into_iter()
        .filter(|r| r.wave.is_some() || r.key.name == "flux-system")
        .map(|r| Convergence {
            component: r.key.to_string(),
            bootstrap_s: env.bootstrap.get(&r.key).copied(),
            upgrade_s: r.ready.map(|d| d.as_secs_f64()),
        })
        .collect();
    let report = UpgradeReport {
        name: req.env.name.clone(),
        backend: env.handle.backend.to_string(),
        from: format!("{} ({})", req.from, from.short()),
        to: format!("{} ({})", req.to, to.short()),
        commits,
        published: published.sha.clone(),
        files: published.files.clone(),
        assertions,
        versions: report::version_rows(&before, &after),
        convergence,
        canaries,
        workloads: changes,
        took_s: started.elapsed().as_secs_f64(),
    };

    // 7. Report, and on a regression the cluster's evidence beside it.
    let dir = req.env.artifacts.join(format!("upgrade-{}", req.env.name));
    let mut files = report.write(&dir)?;
    if !report.passed() {
        let keys: Vec<ObjKey> = tracker.not_ready().into_iter().map(|(k, _)| k).collect();
        let namespaces: Vec<String> = after.canaries.keys().filter_map(|k| k.split_once('/').map(|(ns, _)| ns.to_string())).collect();
        let title = report.failures().iter().map(|a| a.summary.clone()).collect::<Vec<_>>().join("; ");
        if let Ok(saved) = crate::artifacts::collect(client.clone(), &dir.join("cluster"), &title, &keys, &namespaces).await {
            files.push(saved.dir);
        }
        if on_sim {
            sim::copy_logs(&req.env.name, &dir.join("cluster/processes"));
        }
    }
    if let Some(server) = env.server {
        server.shutdown().await;
    }
    Ok(UpgradeOutcome { report, files, dir })
}
