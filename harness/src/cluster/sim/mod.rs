//! The sim backend: a real control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler) and the real Flux controllers as host processes, with kwok playing the
//! nodes and pods. No containers and no images: what is real and what is simulated is stated
//! in [`WHAT_IS_SIMULATED`].
//!
//! Every process is recorded in `<state>/clusters/<name>/sim.json` as it starts (pid and kernel
//! start time), so `down` and `reap` stop exactly those processes, even after a crash of `up`.

pub mod cert_manager;
pub mod components;
mod container;
pub mod flagger;
pub mod gateway;
pub mod pki;
pub mod process;
pub mod standins;
pub mod toolset;

mod git_server;
mod lifecycle;
pub mod operators;
mod record;
mod start;

pub use git_server::{harness_exe, start_git_server, stop_git_server};
pub use lifecycle::{stop_and_forget, watch_processes};
use record::*;
pub use record::{SimRecord, copy_logs, layout, leftover_reason, recorded_clusters, records_under};
pub use start::apply_crds;
use start::*;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};

use self::components::{Layout, Ports};
use self::process::{ProcessError, ProcessRecord, ProcessSpec};
use self::toolset::{Component, Toolset, ToolsetError};
use super::{
    BackendKind, Capabilities, ClusterBackend, ClusterError, ClusterHandle, ClusterInfo, ClusterSpec, DeleteReport, GitEndpoint, Provider,
};
use crate::git::ServedRepo;
use crate::labels::Selector;
use crate::live;
use crate::preflight::PreflightFailure;

/// What `up --backend sim` prints about itself.
pub const WHAT_IS_SIMULATED: &str = "sim: real etcd, kube-apiserver, controller-manager, scheduler and Flux controllers run as host processes, \
with the real Flagger and cert-manager's controllers started from the Deployments the cluster gets (Flagger with its chart's defaults when nothing installs it); \
nodes and every pod (Linkerd, ingress-nginx, the apps, the operators' own pods) are simulated by kwok \
(no container runs, no image is pulled), and there is no traffic on the wire";

/// How long a stopped process may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Errors of the sim backend.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The tools are not built.
    #[error(transparent)]
    Toolset(#[from] ToolsetError),
    /// A process could not be started.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The PKI could not be generated.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// An operator the cluster declares could not be started on the host.
    #[error("starting the operator of {what} on the host: {message}")]
    Operator {
        /// The Deployment.
        what: String,
        /// Why.
        message: String,
    },
    /// A process exited.
    #[error("{name} exited ({status}); last lines of {log}:\n{tail}")]
    Died {
        /// Process name.
        name: String,
        /// How it ended.
        status: String,
        /// Its log.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A process did not become ready.
    #[error("{name} did not become ready within {secs}s ({what}); last lines of {log}:\n{tail}")]
    NotReady {
        /// Process name.
        name: String,
        /// What was waited for.
        what: String,
        /// Seconds waited.
        secs: u64,
        /// Its log.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A port is taken.
    #[error("port {port} on 127.0.0.1 (for {what}) is already in use; free it or choose another port")]
    PortTaken {
        /// Port.
        port: u16,
        /// What it was for.
        what: String,
    },
    /// The API server refused something.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// Cause.
        source: kube::Error,
    },
    /// CRDs were applied but not served in time.
    #[error("CRD {names} not Established within 60s; see the kube-apiserver log")]
    CrdsNotEstablished {
        /// Which.
        names: String,
    },
    /// The harness's own CLI (which serves git for a sim cluster) cannot be found.
    #[error("cannot find the gitops-harness executable to run the sim git server ({0}); set GITOPS_HARNESS_BIN to its path")]
    NoHarnessExe(String),
    /// State directory I/O.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// The sim backend.
#[derive(Debug, Clone)]
pub struct Sim {
    /// kwok nodes to create.
    pub nodes: usize,
    /// How Flagger runs, from the repository ([`ClusterBackend::configure`]); `None`: no Flagger.
    pub flagger: Option<flagger::FlaggerSettings>,
}

impl Default for Sim {
    fn default() -> Self {
        Sim { nodes: 1, flagger: None }
    }
}

impl ClusterBackend for Sim {
    fn kind(&self) -> BackendKind {
        BackendKind::Sim
    }

    fn capabilities(&self) -> Capabilities {
        use toolset::Component;
        Capabilities {
            tools: Vec::new(),
            publishes_ingress: false,
            flux: Provider::Backend,
            data_plane: false,
            simulated: Some(WHAT_IS_SIMULATED),
            // The embedded repo's sim directory: the same apps on infrastructure sim provides.
            embedded_cluster_dir: crate::embedded::SIM_CLUSTER_DIR,
            // Where the programs differ from the released ones (helm-controller without Flux's
            // helm fork), said with the settings that differ from a default install.
            flux_notes: std::iter::once(format!(
                "flux: kustomize- and helm-controller re-check unready dependencies every {} (Flux's default is 30s)",
                components::REQUEUE_DEPENDENCY
            ))
            .chain(std::iter::once(
                "sim: every fetch off this machine goes through one egress gateway (logs/gateway.log): charts and artifacts from the source cassette with --cassette, anything else refused and named there".to_string(),
            ))
            .chain(toolset::release_differences().into_iter().map(|d| format!("sim: {d}")))
            .collect(),
            controllers: [Component::SourceController, Component::KustomizeController, Component::HelmController, Component::Flagger]
                .into_iter()
                .map(|c| (c.name().to_string(), c.version().to_string()))
                .collect(),
        }
    }

    fn configure(&mut self, repo: &crate::repo::Repo) -> Vec<String> {
        self.flagger = flagger::FlaggerSettings::from_repo(repo);
        let Some(f) = &self.flagger else { return Vec::new() };
        let mut lines = vec![if f.deployed {
            format!(
                "sim: Flagger will run on the host from the Deployment the cluster gets (its args and env); the repo gives it {}; its metrics and webhooks are answered by the harness stand-ins",
                f.describe()
            )
        } else {
            format!("sim: Flagger runs on the host with {}; its metrics and webhooks are answered by the harness stand-ins", f.describe())
        }];
        // Canaries that name no provider use Flagger's: say so when that is not what the
        // repo's routing objects need on sim (only Linkerd's SMI TrafficSplit CRD is installed).
        let provider = f.effective_mesh_provider();
        let unnamed: Vec<String> = repo.canaries().iter().filter(|c| c.provider.is_none()).map(|c| c.key.to_string()).collect();
        if !unnamed.is_empty() && !matches!(provider, "linkerd" | "kubernetes" | "smi:v1alpha1" | "smi:v1alpha2") {
            lines.push(format!(
                "sim: warning: {} set no spec.provider, so Flagger uses {provider} for them, whose routing objects sim does not install (only Linkerd's TrafficSplit): they will fail to initialize; set spec.provider or Flagger's meshProvider",
                unnamed.join(", ")
            ));
        }
        lines
    }

    async fn preflight(&self, spec: &ClusterSpec) -> Vec<PreflightFailure> {
        let mut out = Vec::new();
        if let Err(e) = Toolset::locate() {
            out.push(PreflightFailure { check: "sim-tools", message: e.to_string() });
        }
        if let Some(dir) = &spec.cassette
            && let Err(e) = crate::sources::Cassette::open(dir)
        {
            out.push(PreflightFailure {
                check: "cassette",
                message: format!("--cassette {}: {e}; record one with `gitops-harness sources record`", dir.display()),
            });
        }
        out
    }

    async fn create(&self, spec: &ClusterSpec) -> Result<ClusterHandle, ClusterError> {
        if SimRecord::load(&spec.name).is_some() || super::load_state(&spec.name).is_some() {
            return Err(ClusterError::AlreadyExists { name: spec.name.clone(), backend: BackendKind::Sim });
        }
        self.start(spec).await.map_err(ClusterError::from)
    }

    /// The cluster outlives `up`: its git server is a recorded background process.
    async fn serve_git(&self, handle: &ClusterHandle, served: &ServedRepo, port: u16) -> Result<GitEndpoint, ClusterError> {
        let url = start_git_server(&handle.name, served.path(), port).await?;
        Ok(GitEndpoint { url, server: None })
    }

    /// Resolves when a process exits; meanwhile starts the operators the cluster declares
    /// ([`operators`]) as their Deployments appear, and says so.
    async fn lost(&self, name: &str, notes: super::Notes) -> ClusterError {
        let kubeconfig = layout(name).kubeconfig();
        let client = live::connect(&live::Target { kubeconfig: Some(kubeconfig), context: None }).await.ok();
        let operators = async {
            let Some(client) = client else { return std::future::pending::<SimError>().await };
            loop {
                match operators::start_declared(name, &client).await {
                    Ok(lines) => lines.into_iter().for_each(|l| {
                        let _ = notes.send(l);
                    }),
                    // A Deployment sim cannot run ends the wait with why, as a dead process does.
                    Err(e @ SimError::Operator { .. }) => return e,
                    // The API server not answering is what the waits themselves report.
                    Err(_) => {}
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        };
        tokio::select! {
            e = watch_processes(name) => ClusterError::Sim(e),
            e = operators => ClusterError::Sim(e),
        }
    }

    fn unusable(&self, name: &str) -> Option<String> {
        SimRecord::load(name).and_then(|r| r.first_dead()).map(|e| e.to_string())
    }

    /// Controllers run as processes on sim: their logs are files, not pod logs.
    fn collect_logs(&self, name: &str, dest: &Path) {
        copy_logs(name, dest);
    }

    /// The egress gateway's log lines about the URLs or hosts the failure names: why a fetch
    /// failed (not in the cassette, a corrupt copy) and how to record it.
    fn explain(&self, name: &str, failure: &str) -> Vec<String> {
        let text = std::fs::read_to_string(layout(name).log("gateway")).unwrap_or_default();
        gateway::explain(&text, failure)
    }

    fn stop_git(&self, name: &str) -> Option<String> {
        stop_git_server(name).ok().flatten()
    }

    fn runs_flagger(&self, name: &str) -> bool {
        SimRecord::load(name).is_some_and(|r| r.flagger.is_some())
    }

    /// A sim cluster cannot outlive the run that started it half-way: stop it, remove its state.
    fn abort_created(&self, name: &str) -> Option<Vec<String>> {
        stop_and_forget(name).ok().map(|r| r.removed)
    }

    async fn kubeconfig(&self, name: &str) -> Result<String, ClusterError> {
        super::state_kubeconfig(name)
    }

    async fn delete(&self, name: &str) -> Result<DeleteReport, ClusterError> {
        match super::load_state(name) {
            Some(h) if h.backend != BackendKind::Sim => {
                Err(ClusterError::NotOwned { name: name.to_string(), why: format!("it is a {} cluster, not sim", h.backend) })
            }
            _ => stop_and_forget(name),
        }
    }

    async fn exists(&self, name: &str) -> Result<bool, ClusterError> {
        Ok(SimRecord::load(name).is_some_and(|r| r.processes.iter().any(|p| p.is_alive())))
    }

    async fn list_owned(&self) -> Result<Vec<ClusterInfo>, ClusterError> {
        Ok(super::recorded()
            .into_iter()
            .filter(|h| h.backend == BackendKind::Sim)
            .map(|h| {
                let procs = SimRecord::load(&h.name)
                    .map(|r| {
                        r.processes.iter().map(|p| format!("{}:{}", p.name, if p.is_alive() { "running" } else { "exited" })).collect()
                    })
                    .unwrap_or_default();
                ClusterInfo { name: h.name, backend: h.backend, containers: procs, api_url: Some(h.api_url), created: Some(h.created) }
            })
            .collect())
    }

    /// Sim clusters whose creation never finished or whose processes died (a healthy one is
    /// kept: `down` removes it), by their records: only recorded processes are signalled.
    async fn reap(&self, sel: &Selector, dry_run: bool) -> Result<DeleteReport, ClusterError> {
        let mut report = DeleteReport::default();
        for rec in recorded_clusters() {
            if sel.cluster.as_deref().is_some_and(|c| c != rec.name) || sel.run_id.as_deref().is_some_and(|r| r != rec.run_id) {
                continue;
            }
            let Some(why) = leftover_reason(&rec) else {
                report.kept.push(format!("sim cluster {0} (healthy; `gitops-harness down --name {0}` removes it)", rec.name));
                continue;
            };
            if dry_run {
                report.removed.push(format!("sim cluster {} ({why})", rec.name));
                report
                    .removed
                    .extend(rec.processes.iter().filter(|p| p.is_alive()).map(|p| format!("  process {} (pid {})", p.name, p.pid)));
                continue;
            }
            match stop_and_forget(&rec.name) {
                Ok(r) => report.removed.extend(r.removed.into_iter().map(|x| format!("sim {} ({why}): {x}", rec.name))),
                Err(e) => report.failed.push(format!("sim cluster {}: {e}", rec.name)),
            }
        }
        Ok(report)
    }
}
