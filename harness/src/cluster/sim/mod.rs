//! The sim backend: a real control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler) and the real Flux controllers as host processes, with kwok playing the
//! nodes and pods. No containers and no images: what is real and what is simulated is stated
//! in [`WHAT_IS_SIMULATED`].
//!
//! Every process is recorded in `<state>/clusters/<name>/sim.json` as it starts (pid and kernel
//! start time), so `down` and `reap` stop exactly those processes, even after a crash of `up`.

pub mod cert_manager;
pub mod components;
pub mod flagger;
pub mod gateway;
pub mod pki;
pub mod process;
pub mod standins;
pub mod toolset;

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
pub const WHAT_IS_SIMULATED: &str = "sim: real etcd, kube-apiserver, controller-manager, scheduler, Flux controllers and Flagger run as host processes; \
nodes and pods are simulated by kwok (no container runs, no image is pulled), and there is no traffic on the wire";

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

/// The record of a sim cluster's processes and ports (`sim.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SimRecord {
    /// Cluster name.
    pub name: String,
    /// Run that created it.
    pub run_id: String,
    /// Ports.
    pub ports: Ports,
    /// Processes, in start order.
    pub processes: Vec<ProcessRecord>,
    /// Number of kwok nodes.
    pub nodes: usize,
    /// Flagger's settings, when it runs.
    #[serde(default)]
    pub flagger: Option<flagger::FlaggerSettings>,
}

impl SimRecord {
    /// Read the record of cluster `name`, if any.
    pub fn load(name: &str) -> Option<SimRecord> {
        let text = std::fs::read_to_string(layout(name).record()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Write it (atomically: a crash never leaves half a record).
    pub fn save(&self) -> Result<(), SimError> {
        let path = layout(&self.name).record();
        let tmp = path.with_extension("json.tmp");
        let io = |source| SimError::Io { path: path.clone(), source };
        let json = serde_json::to_string_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// The first recorded process that is no longer running, with how it ended.
    pub fn first_dead(&self) -> Option<SimError> {
        self.processes.iter().find(|p| !p.is_alive()).map(died)
    }

    /// Stop every recorded process still running, in three phases so each stops quickly: the
    /// controllers, kwok and the git server together, then kube-apiserver (its watchers gone),
    /// then etcd. Returns what was stopped.
    pub fn stop_all(&self) -> Vec<String> {
        let phase = |p: &ProcessRecord| match p.name.as_str() {
            "etcd" => 2,
            "kube-apiserver" => 1,
            _ => 0,
        };
        let mut out = Vec::new();
        for n in 0..3 {
            let handles: Vec<_> = self
                .processes
                .iter()
                .rev()
                .filter(|p| phase(p) == n && p.is_alive())
                .map(|p| {
                    let p = p.clone();
                    std::thread::spawn(move || {
                        let killed = p.stop(STOP_GRACE);
                        format!("process {} (pid {}){}", p.name, p.pid, if killed { ", killed after the grace period" } else { "" })
                    })
                })
                .collect();
            out.extend(handles.into_iter().filter_map(|h| h.join().ok()));
        }
        out
    }
}

fn died(p: &ProcessRecord) -> SimError {
    SimError::Died {
        name: p.name.clone(),
        status: p.exit_status().unwrap_or_else(|| "it is no longer running".to_string()),
        log: p.log.clone(),
        tail: p.log_tail(20),
    }
}

/// The state layout of sim cluster `name`.
pub fn layout(name: &str) -> Layout {
    Layout { root: crate::state::ClusterPaths::of(name).dir }
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

fn free_ports(api_port: Option<u16>) -> Result<Ports, SimError> {
    let mut taken = std::collections::BTreeSet::new();
    let mut next = || -> Result<u16, SimError> {
        // Bound and released one at a time: keep them distinct within this cluster.
        loop {
            let p = process::free_port().map_err(|source| SimError::Io { path: PathBuf::from("127.0.0.1:0"), source })?;
            if taken.insert(p) {
                return Ok(p);
            }
        }
    };
    let apiserver = match api_port {
        Some(p) if process::port_in_use(p) => return Err(SimError::PortTaken { port: p, what: "kube-apiserver (--api-port)".into() }),
        Some(p) => p,
        None => next()?,
    };
    Ok(Ports {
        etcd: next()?,
        etcd_peer: next()?,
        apiserver,
        source: [next()?, next()?, next()?],
        kustomize: [next()?, next()?],
        helm: [next()?, next()?],
        git: 0,
        standins: next()?,
        flagger: next()?,
    })
}

/// A sim cluster being started: records each process as it starts, and on failure stops them
/// all and removes the state it created.
struct Starter {
    record: SimRecord,
    layout: Layout,
}

impl Starter {
    fn start(&mut self, spec: ProcessSpec) -> Result<(), SimError> {
        let rec = process::spawn(&spec, &self.layout.log(&spec.name))?;
        self.record.processes.push(rec);
        self.record.save()
    }

    fn check_alive(&self) -> Result<(), SimError> {
        match self.record.first_dead() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Wait until `ready` answers true, failing at once if any process dies.
    async fn wait<F, Fut>(&self, name: &str, what: &str, within: Duration, mut ready: F) -> Result<(), SimError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + within;
        loop {
            self.check_alive()?;
            if ready().await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = self.layout.log(name);
                return Err(SimError::NotReady {
                    name: name.to_string(),
                    what: what.to_string(),
                    secs: within.as_secs(),
                    tail: process::tail(&log, 20),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn abort(&self) {
        self.record.stop_all();
        let _ = std::fs::remove_dir_all(&self.layout.root);
    }
}

async fn tcp_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}

async fn apiserver_ready(client: &kube::Client) -> bool {
    let Ok(req) = http::Request::get("/readyz").body(Vec::new()) else { return false };
    matches!(client.request_text(req).await, Ok(body) if body.trim() == "ok")
}

/// Apply CRD files with server-side apply and wait until they are Established.
pub async fn apply_crds(client: &kube::Client, files: &[PathBuf]) -> Result<Vec<String>, SimError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|source| SimError::Io { path: f.clone(), source })?;
        let docs = crate::yaml_docs::parse_str(f, &text)
            .map_err(|e| SimError::Io { path: f.clone(), source: std::io::Error::other(e.to_string()) })?;
        for d in docs.into_iter().filter(|d| d.value.get("kind").and_then(|k| k.as_str()) == Some("CustomResourceDefinition")) {
            let name = d.value.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or_default().to_string();
            api.patch(&name, &PatchParams::apply(crate::bootstrap::FIELD_MANAGER).force(), &Patch::Apply(&d.value))
                .await
                .map_err(|source| SimError::Kube { what: format!("applying CRD {name} from {}", f.display()), source })?;
            names.push(name);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for n in &names {
        loop {
            let established = api
                .get(n)
                .await
                .ok()
                .and_then(|c| c.status)
                .and_then(|s| s.conditions)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
            if established {
                break;
            }
            if Instant::now() >= deadline {
                return Err(SimError::CrdsNotEstablished { names: n.clone() });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(names)
}

fn node(name: &str) -> Node {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "app.kubernetes.io/managed-by": "gitops-harness",
            },
        },
    }))
    .unwrap_or_default()
}

async fn nodes_ready(client: &kube::Client, count: usize) -> bool {
    let api: Api<Node> = Api::all(client.clone());
    let Ok(list) = api.list(&Default::default()).await else { return false };
    let ready = list
        .items
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count();
    ready >= count
}

impl Sim {
    async fn start(&self, spec: &ClusterSpec) -> Result<ClusterHandle, SimError> {
        let tools = Toolset::locate()?;
        let layout = layout(&spec.name);
        // Another program (or sim cluster) may bind a chosen port before our server does: then
        // start over with fresh ports, a few times.
        let mut attempt = 0;
        loop {
            attempt += 1;
            for dir in [layout.root.clone(), layout.logs(), layout.etcd_data(), layout.apiserver_certs(), layout.source_storage()] {
                std::fs::create_dir_all(&dir).map_err(|source| SimError::Io { path: dir.clone(), source })?;
            }
            let ports = free_ports(spec.api_port)?;
            let record = SimRecord {
                name: spec.name.clone(),
                run_id: crate::labels::run_id().to_string(),
                ports,
                processes: vec![],
                nodes: self.nodes,
                flagger: self.flagger.clone(),
            };
            let mut st = Starter { record, layout: layout.clone() };
            match self.start_processes(&tools, &mut st, spec).await {
                Ok(handle) => return Ok(handle),
                Err(e) => {
                    st.abort();
                    let port_race = matches!(&e, SimError::Died { tail, .. } if tail.contains("address already in use"));
                    if !port_race || attempt >= 3 {
                        return Err(e);
                    }
                }
            }
        }
    }

    async fn start_processes(&self, tools: &Toolset, st: &mut Starter, spec: &ClusterSpec) -> Result<ClusterHandle, SimError> {
        let layout = st.layout.clone();
        let ports = st.record.ports.clone();
        st.record.save()?;
        let pki = pki::generate(&layout.pki())?;
        let kubeconfig = pki::kubeconfig(&spec.name, ports.apiserver, &pki.ca_pem, &pki.admin_token);
        // It carries the admin token: owner-only, like the other backends' kubeconfigs.
        super::write_private(&layout.kubeconfig(), &kubeconfig).map_err(|source| SimError::Io { path: layout.kubeconfig(), source })?;

        st.start(components::etcd(tools, &layout, &ports))?;
        st.wait("etcd", &format!("client port {}", ports.etcd), Duration::from_secs(30), || tcp_open(ports.etcd)).await?;

        st.start(components::apiserver(tools, &layout, &ports, &pki))?;
        let target = live::Target { kubeconfig: Some(layout.kubeconfig()), context: None };
        let client = live::connect(&target)
            .await
            .map_err(|e| SimError::Io { path: layout.kubeconfig(), source: std::io::Error::other(e.to_string()) })?;
        st.wait("kube-apiserver", "/readyz", Duration::from_secs(90), || apiserver_ready(&client)).await?;

        st.start(components::controller_manager(tools, &layout, &pki))?;
        st.start(components::scheduler(tools, &layout))?;
        st.start(components::kwok(tools, &layout))?;
        let nodes: Api<Node> = Api::all(client.clone());
        for i in 0..self.nodes {
            let name = format!("sim-node-{i}");
            nodes
                .create(&PostParams::default(), &node(&name))
                .await
                .map_err(|source| SimError::Kube { what: format!("creating node {name}"), source })?;
        }
        let count = self.nodes;
        st.wait("kwok", &format!("{count} node(s) Ready"), Duration::from_secs(60), || nodes_ready(&client, count)).await?;

        // Flux's CRDs before its controllers: they fail to start on kinds the API does not serve.
        // Flagger's too: it is part of the sim platform, as Flux is.
        let mut crds = Vec::new();
        for c in [Component::SourceController, Component::KustomizeController, Component::HelmController, Component::Flagger] {
            crds.extend(tools.crds(c));
        }
        apply_crds(&client, &crds).await?;
        st.start(components::source_controller(tools, &layout, &ports))?;
        st.start(components::kustomize_controller(tools, &layout, &ports))?;
        st.start(components::helm_controller(tools, &layout, &ports))?;
        for (name, port) in
            [("source-controller", ports.source[1]), ("kustomize-controller", ports.kustomize[1]), ("helm-controller", ports.helm[1])]
        {
            st.wait(name, &format!("health port {port}"), Duration::from_secs(60), || tcp_open(port)).await?;
        }

        if let Some(settings) = &self.flagger {
            // The stand-ins first (Flagger's metrics and webhooks go through them), then the
            // TrafficSplit CRD its Linkerd provider writes, then Flagger.
            let exe = harness_exe()?;
            let standins = ProcessSpec::new(
                "stand-ins",
                exe,
                vec![
                    "sim".into(),
                    "standins".into(),
                    "--kubeconfig".into(),
                    layout.kubeconfig().display().to_string(),
                    "--addr".into(),
                    format!("127.0.0.1:{}", ports.standins),
                    "--metrics-server".into(),
                    settings.metrics_server.clone(),
                ],
                &layout.root,
            );
            st.start(standins)?;
            st.wait("stand-ins", &format!("port {}", ports.standins), Duration::from_secs(20), || tcp_open(ports.standins)).await?;
            let api: Api<CustomResourceDefinition> = Api::all(client.clone());
            let ts = flagger::traffic_split_crd();
            api.patch("trafficsplits.split.smi-spec.io", &PatchParams::apply(crate::bootstrap::FIELD_MANAGER).force(), &Patch::Apply(&ts))
                .await
                .map_err(|source| SimError::Kube { what: "applying the TrafficSplit CRD".into(), source })?;
            st.start(flagger::process(tools, &layout, settings, ports.flagger, ports.standins))?;
            st.wait("flagger", &format!("port {}", ports.flagger), Duration::from_secs(60), || tcp_open(ports.flagger)).await?;
        }

        let handle = ClusterHandle::created_now(
            &spec.name,
            BackendKind::Sim,
            format!("https://127.0.0.1:{}", ports.apiserver),
            "127.0.0.1".into(),
            0,
        );
        super::save_state(&handle, &kubeconfig)
            .map_err(|e| SimError::Io { path: layout.root.clone(), source: std::io::Error::other(e.to_string()) })?;
        Ok(handle)
    }
}

/// The gitops-harness CLI, which serves git for a sim cluster as a background process:
/// `$GITOPS_HARNESS_BIN`, else this executable when it is the CLI, else the CLI built beside it
/// (integration tests run from `target/<profile>/deps/`).
pub fn harness_exe() -> Result<PathBuf, SimError> {
    if let Some(p) = std::env::var_os("GITOPS_HARNESS_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().map_err(|e| SimError::NoHarnessExe(e.to_string()))?;
    if me.file_name().is_some_and(|n| n == "gitops-harness") {
        return Ok(me);
    }
    let beside = me.parent().and_then(Path::parent).map(|d| d.join("gitops-harness"));
    match beside {
        Some(p) if p.is_file() => Ok(p),
        _ => Err(SimError::NoHarnessExe(format!("{} is not it", me.display()))),
    }
}

/// Start (or restart) the git server of sim cluster `name` serving `served` on 127.0.0.1:`port`
/// (0: any free port) as a recorded background process; returns its URL.
pub async fn start_git_server(name: &str, served: &Path, port: u16) -> Result<String, SimError> {
    let layout = layout(name);
    let mut record =
        SimRecord::load(name).ok_or_else(|| SimError::Io { path: layout.record(), source: std::io::Error::other("no sim record") })?;
    if let Some(old) = record.processes.iter().find(|p| p.name == "git-server") {
        old.stop(STOP_GRACE);
    }
    record.processes.retain(|p| p.name != "git-server");
    let port = match port {
        0 => process::free_port().map_err(|source| SimError::Io { path: PathBuf::from("127.0.0.1:0"), source })?,
        p if process::port_in_use(p) => return Err(SimError::PortTaken { port: p, what: "the git server (--git-port)".into() }),
        p => p,
    };
    let exe = harness_exe()?;
    let spec = ProcessSpec::new(
        "git-server",
        exe,
        vec!["serve-git".into(), served.display().to_string(), "--addr".into(), format!("127.0.0.1:{port}")],
        &layout.root,
    );
    let rec = process::spawn(&spec, &layout.log("git-server"))?;
    record.processes.push(rec.clone());
    record.ports.git = port;
    record.save()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tcp_open(port).await {
        if !rec.is_alive() {
            return Err(died(&rec));
        }
        if Instant::now() >= deadline {
            return Err(SimError::NotReady {
                name: "git-server".into(),
                what: format!("port {port}"),
                secs: 20,
                log: rec.log.clone(),
                tail: rec.log_tail(20),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(format!("http://127.0.0.1:{port}/repo.git"))
}

/// Stop the git server of sim cluster `name` and drop it from the record (the cluster keeps
/// the revision Flux last fetched); returns what was stopped.
pub fn stop_git_server(name: &str) -> Result<Option<String>, SimError> {
    let Some(mut record) = SimRecord::load(name) else { return Ok(None) };
    let Some(p) = record.processes.iter().find(|p| p.name == "git-server").cloned() else { return Ok(None) };
    p.stop(STOP_GRACE);
    record.processes.retain(|x| x.name != "git-server");
    record.ports.git = 0;
    record.save()?;
    Ok(Some(format!("process git-server (pid {})", p.pid)))
}

/// Resolve when a process of sim cluster `name` exits (polled every second), with its name and
/// log tail. For racing against long waits in `up`.
pub async fn watch_processes(name: &str) -> SimError {
    loop {
        if let Some(e) = SimRecord::load(name).and_then(|r| r.first_dead()) {
            return e;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Stop the processes of sim cluster `name` and remove its state directory; only what the
/// record names is touched.
pub fn stop_and_forget(name: &str) -> Result<DeleteReport, ClusterError> {
    let Some(record) = SimRecord::load(name) else {
        return match super::load_state(name) {
            Some(h) if h.backend == BackendKind::Sim => {
                super::remove_state(name)?;
                Ok(DeleteReport { removed: vec![format!("state of {name}")], ..Default::default() })
            }
            _ => Err(ClusterError::NotFound(name.to_string())),
        };
    };
    let mut removed = record.stop_all();
    super::remove_state(name)?;
    removed.push(format!("state directory {}", layout(name).root.display()));
    Ok(DeleteReport { removed, ..Default::default() })
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
            // Where the programs differ from the released ones (helm-controller without Flux's
            // helm fork), said with the settings that differ from a default install.
            flux_notes: std::iter::once(format!(
                "flux: kustomize- and helm-controller re-check unready dependencies every {} (Flux's default is 30s)",
                components::REQUEUE_DEPENDENCY
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
        let mut lines = vec![format!(
            "sim: Flagger runs on the host with {}; its metrics and webhooks are answered by the harness stand-ins",
            f.describe()
        )];
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

    async fn preflight(&self, _spec: &ClusterSpec) -> Vec<PreflightFailure> {
        match Toolset::locate() {
            Ok(_) => Vec::new(),
            Err(e) => vec![PreflightFailure { check: "sim-tools", message: e.to_string() }],
        }
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

    async fn lost(&self, name: &str) -> ClusterError {
        ClusterError::Sim(watch_processes(name).await)
    }

    fn unusable(&self, name: &str) -> Option<String> {
        SimRecord::load(name).and_then(|r| r.first_dead()).map(|e| e.to_string())
    }

    /// Controllers run as processes on sim: their logs are files, not pod logs.
    fn collect_logs(&self, name: &str, dest: &Path) {
        copy_logs(name, dest);
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

/// Copy the process logs of sim cluster `name` into `dest` (for artifacts); best effort.
pub fn copy_logs(name: &str, dest: &Path) {
    let src = layout(name).logs();
    let Ok(rd) = std::fs::read_dir(&src) else { return };
    if std::fs::create_dir_all(dest).is_err() {
        return;
    }
    for e in rd.filter_map(|e| e.ok()) {
        let _ = std::fs::copy(e.path(), dest.join(e.file_name()));
    }
}

/// Why a recorded sim cluster is a leftover of a crashed run (what `reap` removes), or `None`
/// when it is complete and every process runs (`down` removes that one).
pub fn leftover_reason(record: &SimRecord) -> Option<String> {
    if super::load_state(&record.name).is_none() {
        return Some("its creation never finished".to_string());
    }
    if record.processes.is_empty() {
        return Some("it has no processes".to_string());
    }
    record.processes.iter().find(|p| !p.is_alive()).map(|p| format!("its process {} is not running", p.name))
}

/// Every sim cluster with a process record (for `reap`).
pub fn recorded_clusters() -> Vec<SimRecord> {
    records_under(&crate::state::clusters_dir())
}

/// The sim records in a clusters directory (`<dir>/<name>/sim.json`), by name.
pub fn records_under(clusters: &Path) -> Vec<SimRecord> {
    let mut out: Vec<SimRecord> = std::fs::read_dir(clusters)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path().join("sim.json")).ok())
                .filter_map(|t| serde_json::from_str(&t).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a: &SimRecord, b| a.name.cmp(&b.name));
    out
}
