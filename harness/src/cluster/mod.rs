//! Cluster backends behind one trait: k3s in a Docker container through the Docker API (the
//! default), k3d and kind through their CLIs, an existing cluster from a kubeconfig, and sim (a
//! real control plane and Flux as host processes, kwok nodes).
//!
//! Every cluster the harness creates is recorded in its state directory
//! (`<state>/clusters/<name>/`: `kubeconfig`, `owner.json`); Docker objects carry the harness
//! labels. `delete` refuses clusters the harness did not create.

pub mod existing;
pub mod git_reach;
pub mod k3d;
pub mod k3s;
pub mod k3s_dns;
pub mod kind;
mod records;
pub mod sim;

pub(crate) use records::write_private;
pub use records::{load_state, recorded, recorded_infos, remove_state, require_record, save_state, state_kubeconfig};

use std::future::Future;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::docker::DockerError;
use crate::git::{GitServer, ServedRepo};
use crate::kubeconfig::KubeconfigError;
use crate::labels::Selector;
use crate::live;
use crate::preflight::PreflightFailure;
use crate::repo::Repo;
use crate::state::ClusterPaths;
use crate::tools::{Tool, ToolError};

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// k3s container via the Docker API.
    K3s,
    /// k3d CLI.
    K3d,
    /// kind CLI.
    Kind,
    /// A cluster the user already has.
    Existing,
    /// Real control plane and Flux as host processes, kwok nodes (no containers).
    Sim,
}

impl BackendKind {
    /// Every backend (for `status` and `reap`, which look at all of them).
    pub const ALL: [BackendKind; 5] = [BackendKind::K3s, BackendKind::K3d, BackendKind::Kind, BackendKind::Existing, BackendKind::Sim];
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::K3s => "k3s",
            BackendKind::K3d => "k3d",
            BackendKind::Kind => "kind",
            BackendKind::Existing => "existing",
            BackendKind::Sim => "sim",
        })
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Cluster name (also the state directory name).
    pub name: String,
    /// Host port the ingress (node port 80) is published on.
    pub ingress_http_port: u16,
    /// Host port for the API server (`None`: any free port).
    pub api_port: Option<u16>,
    /// Node image override (k3s: `rancher/k3s:...`).
    pub image: Option<String>,
    /// CLI config file (k3d/kind; default `clusters/<backend>.yaml`).
    pub config_file: Option<PathBuf>,
    /// Kubeconfig of an existing cluster.
    pub kubeconfig: Option<PathBuf>,
    /// Context of an existing cluster.
    pub context: Option<String>,
    /// Recorded sources (`sources record`) for a cluster without internet: sim's egress gateway
    /// replays them; backends whose nodes fetch for themselves ignore it.
    pub cassette: Option<PathBuf>,
}

impl ClusterSpec {
    /// A spec with the defaults (ingress on 8081, as the workshop does).
    pub fn new(name: &str) -> ClusterSpec {
        ClusterSpec {
            name: name.to_string(),
            ingress_http_port: 8081,
            api_port: None,
            image: None,
            config_file: None,
            kubeconfig: None,
            context: None,
            cassette: None,
        }
    }
}

/// A created (or adopted) cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterHandle {
    /// Name.
    pub name: String,
    /// Backend.
    pub backend: BackendKind,
    /// Kubeconfig file the harness uses for it.
    pub kubeconfig_path: PathBuf,
    /// Context in that kubeconfig (`None`: its current context).
    pub context: Option<String>,
    /// API server URL as the host reaches it.
    pub api_url: String,
    /// Address the cluster's pods use to reach this host (for the git server).
    pub host_gateway: String,
    /// How the git server is reached, and why (Docker backends; absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_reach: Option<git_reach::GitReach>,
    /// Host port of the ingress.
    pub ingress_http_port: u16,
    /// Run that created it.
    pub run_id: String,
    /// Creation time (RFC 3339).
    pub created: String,
}

impl ClusterHandle {
    /// The handle of a cluster this run just created (kubeconfig kept in the state directory).
    pub fn created_now(name: &str, backend: BackendKind, api_url: String, host_gateway: String, ingress_http_port: u16) -> ClusterHandle {
        ClusterHandle {
            name: name.to_string(),
            backend,
            kubeconfig_path: ClusterPaths::of(name).kubeconfig(),
            context: None,
            api_url,
            host_gateway,
            git_reach: None,
            ingress_http_port,
            run_id: crate::labels::run_id().to_string(),
            created: chrono::Utc::now().to_rfc3339(),
        }
    }

    /// Record how pods reach the git server (its host becomes [`ClusterHandle::host_gateway`]).
    pub fn with_git_reach(mut self, reach: git_reach::GitReach) -> ClusterHandle {
        self.host_gateway = reach.host.clone();
        self.git_reach = Some(reach);
        self
    }

    /// How to reach it.
    pub fn target(&self) -> live::Target {
        live::Target { kubeconfig: Some(self.kubeconfig_path.clone()), context: self.context.clone() }
    }
}

/// A harness cluster as listed by `status`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterInfo {
    /// Name.
    pub name: String,
    /// Backend.
    pub backend: BackendKind,
    /// Containers (name and state).
    pub containers: Vec<String>,
    /// API URL, when known.
    pub api_url: Option<String>,
    /// Creation time, when known.
    pub created: Option<String>,
}

/// What `delete` removed.
#[derive(Debug, Clone, Default)]
pub struct DeleteReport {
    /// Things removed (or, in a dry run, to remove), human-readable.
    pub removed: Vec<String>,
    /// Things that could not be removed, with why.
    pub failed: Vec<String>,
    /// Things looked at and kept on purpose, with why (a healthy cluster `reap` leaves alone).
    pub kept: Vec<String>,
}

/// Errors of the cluster backends.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Docker failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// A CLI is missing.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// A CLI failed.
    #[error("`{command}` failed: {stderr}")]
    Cli {
        /// Command line.
        command: String,
        /// Its stderr.
        stderr: String,
    },
    /// Kubeconfig problems.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// The cluster exists already.
    #[error(
        "cluster {name} already exists ({backend}); use `gitops-harness up --reuse --name {name}` to re-bootstrap it, or `gitops-harness down --name {name}` first"
    )]
    AlreadyExists {
        /// Name.
        name: String,
        /// Backend.
        backend: BackendKind,
    },
    /// Not created by the harness: it will not delete it.
    #[error("cluster {name} was not created by gitops-harness ({why}); it is left alone — delete it with its own tool if you mean to")]
    NotOwned {
        /// Name.
        name: String,
        /// Why we think so.
        why: String,
    },
    /// No such harness cluster.
    #[error("no harness cluster named {0}; `gitops-harness status` lists them")]
    NotFound(String),
    /// Something did not happen in time.
    #[error("{what} did not happen within {secs}s; {hint}")]
    Timeout {
        /// What.
        what: String,
        /// Seconds waited.
        secs: u64,
        /// What to check.
        hint: String,
    },
    /// State directory I/O.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// The sim backend.
    #[error(transparent)]
    Sim(#[from] sim::SimError),
    /// No address for the git server the cluster can reach.
    #[error(transparent)]
    NoReach(#[from] git_reach::NoReach),
}

/// Who provides a platform component (Flux, Flagger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// The repository installs it (Flux from `gotk-components.yaml` or `flux install`, Flagger
    /// from its HelmRelease), as on a real cluster.
    Repository,
    /// The backend runs it itself (sim runs Flux's controllers as host processes).
    Backend,
}

/// What a backend needs and provides. Orchestration (`up`, `upgrade`, preflight, the CLI) asks
/// this instead of asking which backend it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The CLIs it runs besides git (preflight checks each).
    pub tools: Vec<Tool>,
    /// It publishes the ingress on a host port, which must be free.
    pub publishes_ingress: bool,
    /// Who installs Flux: with [`Provider::Repository`], a repo without `gotk-components.yaml`
    /// needs the flux CLI.
    pub flux: Provider,
    /// Requests reach workloads (no data plane on sim: no traffic, no URLs to open).
    pub data_plane: bool,
    /// What is real and what is simulated, said when `up` starts (`None`: all real).
    pub simulated: Option<&'static str>,
    /// The cluster directory of the embedded repository this backend can run (`up` without
    /// `--repo` or `--cluster-dir`).
    pub embedded_cluster_dir: &'static str,
    /// Lines `up` prints once Flux is installed (settings that differ from a default install).
    pub flux_notes: Vec<String>,
    /// Flux controllers (and Flagger) the backend runs, with their versions (for reports).
    pub controllers: Vec<(String, String)>,
}

/// Where the git server for a cluster runs.
#[derive(Debug)]
pub struct GitEndpoint {
    /// The URL the cluster clones from.
    pub url: String,
    /// The server, when it runs in this process (it stops with it); `None` when the backend
    /// runs it as a recorded background process that outlives `up`.
    pub server: Option<GitServer>,
}

/// Where a backend sends what it does on its own during a wait (lines for the user).
pub type Notes = tokio::sync::mpsc::UnboundedSender<String>;

/// One way of getting a cluster.
pub trait ClusterBackend {
    /// Which backend this is (for records and messages, never for decisions).
    fn kind(&self) -> BackendKind;
    /// What it needs and provides.
    fn capabilities(&self) -> Capabilities;
    /// Read what it needs from the repository before creating (sim: how Flagger runs); returns
    /// lines for `up` to print.
    fn configure(&mut self, _repo: &Repo) -> Vec<String> {
        Vec::new()
    }
    /// Checks of what it needs that cannot be seen from [`Capabilities::tools`] (a Docker Engine,
    /// the sim tools, a kubeconfig), each failure with its fix. By default: a Docker Engine
    /// that answers (the Docker tier's container backends).
    fn preflight(&self, _spec: &ClusterSpec) -> impl Future<Output = Vec<PreflightFailure>> + Send {
        docker_preflight()
    }
    /// Create the cluster and write its kubeconfig into the harness state directory.
    fn create(&self, spec: &ClusterSpec) -> impl Future<Output = Result<ClusterHandle, ClusterError>> + Send;
    /// Serve `served` to the cluster on `port` (0: any free port). By default from this process,
    /// at an address the cluster's nodes reach.
    fn serve_git(
        &self,
        handle: &ClusterHandle,
        served: &ServedRepo,
        port: u16,
    ) -> impl Future<Output = Result<GitEndpoint, ClusterError>> + Send {
        serve_git_in_process(handle, served, port)
    }
    /// Resolves when the cluster stops working underneath a wait (a sim process exits), with
    /// what happened; meanwhile what the backend does on its own (an operator it starts) goes
    /// to `notes`, for the wait's progress display. By default never: nothing to watch from
    /// outside, the API server's answers say the rest.
    fn lost(&self, _name: &str, _notes: Notes) -> impl Future<Output = ClusterError> + Send {
        std::future::pending()
    }
    /// Why a recorded cluster cannot be reused (`None`: it can).
    fn unusable(&self, _name: &str) -> Option<String> {
        None
    }
    /// Copy what explains a failure beyond the API server's objects (controller logs that are
    /// files on this machine) into `dest`.
    fn collect_logs(&self, _name: &str, _dest: &Path) {}
    /// What the backend itself knows about a failure whose message is `failure` (a fetch its
    /// egress gateway refused, a recorded copy that is corrupt), as lines for the user.
    fn explain(&self, _name: &str, _failure: &str) -> Vec<String> {
        Vec::new()
    }
    /// Stop a git server the backend runs in the background for cluster `name` (`up
    /// --no-serve`); returns what was stopped.
    fn stop_git(&self, _name: &str) -> Option<String> {
        None
    }
    /// Whether Flagger runs on the cluster (the repo installs it, or the backend runs it).
    fn runs_flagger(&self, _name: &str) -> bool {
        true
    }
    /// Remove what an interrupted or failed creation left, when it cannot outlive the run
    /// (sim processes); returns what was removed, `None` when the backend keeps it for
    /// inspection.
    fn abort_created(&self, _name: &str) -> Option<Vec<String>> {
        None
    }
    /// The cluster's kubeconfig (as the host reaches it).
    fn kubeconfig(&self, name: &str) -> impl Future<Output = Result<String, ClusterError>> + Send;
    /// Delete the cluster — only if the harness created it.
    fn delete(&self, name: &str) -> impl Future<Output = Result<DeleteReport, ClusterError>> + Send;
    /// Whether the cluster exists.
    fn exists(&self, name: &str) -> impl Future<Output = Result<bool, ClusterError>> + Send;
    /// Harness-created clusters of this backend.
    fn list_owned(&self) -> impl Future<Output = Result<Vec<ClusterInfo>, ClusterError>> + Send;
    /// Remove what crashed runs left (matching `sel`); with `dry_run`, only say what.
    fn reap(&self, _sel: &Selector, _dry_run: bool) -> impl Future<Output = Result<DeleteReport, ClusterError>> + Send {
        async { Ok(DeleteReport::default()) }
    }
}

/// The config file a CLI backend uses: the given one, else `clusters/<backend>.yaml` in the
/// current directory or the workspace this binary was built from.
pub fn default_config(backend: &str) -> Option<PathBuf> {
    let rel = PathBuf::from("clusters").join(format!("{backend}.yaml"));
    [std::env::current_dir().ok().map(|d| d.join(&rel)), Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(&rel))]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
}

/// How the pods of a Docker-backed cluster reach the git server: the engine's flavour, the
/// gateway of the cluster's network (`network`), this machine's address when rootless, and
/// `GITOPS_HARNESS_GIT_HOST`.
pub(crate) async fn docker_git_reach(
    docker: &bollard::Docker,
    backend: BackendKind,
    network: &str,
    flavour: &crate::docker::flavour::Flavour,
) -> Result<git_reach::GitReach, ClusterError> {
    let flavour = flavour.clone();
    let network_gateway = crate::docker::gateway_of(docker, network).await.ok().and_then(|g| g.parse().ok());
    let host_ip = if flavour == crate::docker::flavour::Flavour::Rootless { git_reach::primary_ipv4() } else { None };
    let override_host = std::env::var(git_reach::GIT_HOST_ENV).ok();
    Ok(git_reach::choose(&git_reach::ReachInput { backend, flavour: Some(flavour), network_gateway, host_ip, override_host })?)
}

/// Run a CLI and capture stdout, failing with its stderr.
pub(crate) fn run_cli(program: &Path, args: &[String]) -> Result<String, ClusterError> {
    let command = format!("{} {}", program.display(), args.join(" "));
    let out = duct::cmd(program, args)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| ClusterError::Cli { command: command.clone(), stderr: e.to_string() })?;
    if !out.status.success() {
        return Err(ClusterError::Cli { command, stderr: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Any backend, chosen at run time.
#[derive(Debug, Clone)]
pub enum AnyBackend {
    /// k3s.
    K3s(k3s::K3s),
    /// k3d.
    K3d(k3d::K3d),
    /// kind.
    Kind(kind::Kind),
    /// existing.
    Existing(existing::Existing),
    /// sim.
    Sim(sim::Sim),
}

impl AnyBackend {
    /// The backend for a kind.
    pub fn new(kind: BackendKind) -> AnyBackend {
        match kind {
            BackendKind::K3s => AnyBackend::K3s(k3s::K3s::default()),
            BackendKind::K3d => AnyBackend::K3d(k3d::K3d),
            BackendKind::Kind => AnyBackend::Kind(kind::Kind),
            BackendKind::Existing => AnyBackend::Existing(existing::Existing),
            BackendKind::Sim => AnyBackend::Sim(sim::Sim::default()),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            AnyBackend::K3s($b) => $e,
            AnyBackend::K3d($b) => $e,
            AnyBackend::Kind($b) => $e,
            AnyBackend::Existing($b) => $e,
            AnyBackend::Sim($b) => $e,
        }
    };
}

impl ClusterBackend for AnyBackend {
    fn kind(&self) -> BackendKind {
        dispatch!(self, b => b.kind())
    }
    fn capabilities(&self) -> Capabilities {
        dispatch!(self, b => b.capabilities())
    }
    fn configure(&mut self, repo: &Repo) -> Vec<String> {
        dispatch!(self, b => b.configure(repo))
    }
    async fn preflight(&self, spec: &ClusterSpec) -> Vec<PreflightFailure> {
        dispatch!(self, b => b.preflight(spec).await)
    }
    async fn create(&self, spec: &ClusterSpec) -> Result<ClusterHandle, ClusterError> {
        dispatch!(self, b => b.create(spec).await)
    }
    async fn serve_git(&self, handle: &ClusterHandle, served: &ServedRepo, port: u16) -> Result<GitEndpoint, ClusterError> {
        dispatch!(self, b => b.serve_git(handle, served, port).await)
    }
    async fn lost(&self, name: &str, notes: Notes) -> ClusterError {
        dispatch!(self, b => b.lost(name, notes).await)
    }
    fn unusable(&self, name: &str) -> Option<String> {
        dispatch!(self, b => b.unusable(name))
    }
    fn collect_logs(&self, name: &str, dest: &Path) {
        dispatch!(self, b => b.collect_logs(name, dest))
    }
    fn explain(&self, name: &str, failure: &str) -> Vec<String> {
        dispatch!(self, b => b.explain(name, failure))
    }
    fn runs_flagger(&self, name: &str) -> bool {
        dispatch!(self, b => b.runs_flagger(name))
    }
    fn stop_git(&self, name: &str) -> Option<String> {
        dispatch!(self, b => b.stop_git(name))
    }
    fn abort_created(&self, name: &str) -> Option<Vec<String>> {
        dispatch!(self, b => b.abort_created(name))
    }
    async fn kubeconfig(&self, name: &str) -> Result<String, ClusterError> {
        dispatch!(self, b => b.kubeconfig(name).await)
    }
    async fn delete(&self, name: &str) -> Result<DeleteReport, ClusterError> {
        dispatch!(self, b => b.delete(name).await)
    }
    async fn exists(&self, name: &str) -> Result<bool, ClusterError> {
        dispatch!(self, b => b.exists(name).await)
    }
    async fn list_owned(&self) -> Result<Vec<ClusterInfo>, ClusterError> {
        dispatch!(self, b => b.list_owned().await)
    }
    async fn reap(&self, sel: &Selector, dry_run: bool) -> Result<DeleteReport, ClusterError> {
        dispatch!(self, b => b.reap(sel, dry_run).await)
    }
}

/// What the Docker-backed backends (k3s, k3d, kind) need and provide: a Docker Engine, the
/// ingress on a host port, Flux from the repository, real traffic.
pub(crate) fn docker_capabilities(tools: Vec<Tool>) -> Capabilities {
    Capabilities {
        tools,
        publishes_ingress: true,
        flux: Provider::Repository,
        data_plane: true,
        simulated: None,
        embedded_cluster_dir: crate::embedded::DEFAULT_CLUSTER_DIR,
        flux_notes: Vec::new(),
        controllers: Vec::new(),
    }
}

/// The Docker Engine answers (the Docker-backed backends' own preflight).
pub(crate) async fn docker_preflight() -> Vec<PreflightFailure> {
    match crate::docker::connect().await {
        Ok(_) => Vec::new(),
        Err(e) => vec![PreflightFailure { check: "docker", message: e.to_string() }],
    }
}

/// The backend of a recorded cluster: what its record names (a sim record without an owner
/// file is a sim creation that never finished); `None` when the harness has no record of it.
pub fn recorded_backend(name: &str) -> Option<AnyBackend> {
    let kind = load_state(name).map(|h| h.backend).or_else(|| sim::SimRecord::load(name).map(|_| BackendKind::Sim))?;
    Some(AnyBackend::new(kind))
}

/// An in-process git server on the address the cluster's pods reach (Docker-backed and existing
/// clusters): the one chosen for the Docker flavour when the handle records it; for older
/// records, the gateway IP when it is one of this host's addresses, else all interfaces.
pub(crate) async fn serve_git_in_process(handle: &ClusterHandle, served: &ServedRepo, port: u16) -> Result<GitEndpoint, ClusterError> {
    use std::net::{IpAddr, SocketAddr};
    let bind = match (&handle.git_reach, handle.host_gateway.parse::<IpAddr>()) {
        (Some(reach), _) => SocketAddr::new(reach.bind, port),
        (None, Ok(ip)) if std::net::TcpListener::bind((ip, 0)).is_ok() => SocketAddr::new(ip, port),
        _ => SocketAddr::from(([0, 0, 0, 0], port)),
    };
    let server = GitServer::start(served, bind).await.map_err(|e| ClusterError::Invalid(e.to_string()))?;
    Ok(GitEndpoint { url: server.url_for_host(&handle.host_gateway), server: Some(server) })
}
