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
pub mod sim;

use std::future::Future;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::docker::DockerError;
use crate::kubeconfig::KubeconfigError;
use crate::live;
use crate::tools::ToolError;

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
    /// sim: run Flagger with these settings (from the repo's Flagger HelmRelease).
    pub sim_flagger: Option<sim::flagger::FlaggerSettings>,
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
            sim_flagger: None,
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
            kubeconfig_path: state_dir(name).join("kubeconfig"),
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
    /// Things removed, human-readable.
    pub removed: Vec<String>,
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

/// One way of getting a cluster.
pub trait ClusterBackend {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// Create the cluster and write its kubeconfig into the harness state directory.
    fn create(&self, spec: &ClusterSpec) -> impl Future<Output = Result<ClusterHandle, ClusterError>> + Send;
    /// The cluster's kubeconfig (as the host reaches it).
    fn kubeconfig(&self, name: &str) -> impl Future<Output = Result<String, ClusterError>> + Send;
    /// Delete the cluster — only if the harness created it.
    fn delete(&self, name: &str) -> impl Future<Output = Result<DeleteReport, ClusterError>> + Send;
    /// Whether the cluster exists.
    fn exists(&self, name: &str) -> impl Future<Output = Result<bool, ClusterError>> + Send;
    /// Harness-created clusters of this backend.
    fn list_owned(&self) -> impl Future<Output = Result<Vec<ClusterInfo>, ClusterError>> + Send;
}

/// The state directory of harness cluster `name`.
pub fn state_dir(name: &str) -> PathBuf {
    live::state_dir().join("clusters").join(name)
}

/// Where `handle.json` (the [`ClusterHandle`]) of a cluster is kept.
pub fn owner_file(name: &str) -> PathBuf {
    state_dir(name).join("owner.json")
}

/// Record a created cluster (kubeconfig + owner file).
pub fn save_state(handle: &ClusterHandle, kubeconfig: &str) -> Result<(), ClusterError> {
    let dir = state_dir(&handle.name);
    std::fs::create_dir_all(&dir).map_err(|source| ClusterError::Io { path: dir.clone(), source })?;
    if handle.backend != BackendKind::Existing {
        write_private(&handle.kubeconfig_path, kubeconfig)
            .map_err(|source| ClusterError::Io { path: handle.kubeconfig_path.clone(), source })?;
    }
    let json = serde_json::to_string_pretty(handle).map_err(|e| ClusterError::Invalid(e.to_string()))?;
    let owner = owner_file(&handle.name);
    std::fs::write(&owner, json).map_err(|source| ClusterError::Io { path: owner, source })
}

/// Write a credentials file readable by its owner only (created 0600; an existing file is made
/// 0600 too, since the mode given at creation does not apply to it).
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())
}

/// The recorded handle of a harness cluster, if the harness created one of that name.
pub fn load_state(name: &str) -> Option<ClusterHandle> {
    let text = std::fs::read_to_string(owner_file(name)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The kubeconfig the harness keeps for cluster `name`.
pub fn state_kubeconfig(name: &str) -> Result<String, ClusterError> {
    std::fs::read_to_string(state_dir(name).join("kubeconfig")).map_err(|_| ClusterError::NotFound(name.to_string()))
}

/// Refuse to act on a cluster the harness has no record of creating with `backend`.
pub fn require_record(name: &str, backend: BackendKind) -> Result<(), ClusterError> {
    match load_state(name) {
        Some(h) if h.backend == backend => Ok(()),
        _ => Err(ClusterError::NotOwned { name: name.to_string(), why: format!("no {backend} record in the harness state directory") }),
    }
}

/// Recorded clusters of one backend, as `status` lists them.
pub fn recorded_infos(backend: BackendKind) -> Vec<ClusterInfo> {
    recorded()
        .into_iter()
        .filter(|h| h.backend == backend)
        .map(|h| ClusterInfo { name: h.name, backend: h.backend, containers: vec![], api_url: Some(h.api_url), created: Some(h.created) })
        .collect()
}

/// Every recorded harness cluster.
pub fn recorded() -> Vec<ClusterHandle> {
    let mut out: Vec<ClusterHandle> = std::fs::read_dir(live::state_dir().join("clusters"))
        .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| load_state(&e.file_name().to_string_lossy())).collect())
        .unwrap_or_default();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Forget a cluster's state directory.
pub fn remove_state(name: &str) -> Result<(), ClusterError> {
    let dir = state_dir(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|source| ClusterError::Io { path: dir, source })?;
    }
    Ok(())
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
    async fn create(&self, spec: &ClusterSpec) -> Result<ClusterHandle, ClusterError> {
        dispatch!(self, b => b.create(spec).await)
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
}
