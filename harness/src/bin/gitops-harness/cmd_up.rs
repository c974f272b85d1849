//! `gitops-harness up`.
use gitops_harness::exit::Exit;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use gitops_harness::cluster::{self, AnyBackend, BackendKind, ClusterBackend};
use gitops_harness::lifecycle::cleanup;
use gitops_harness::lifecycle::signals::StopSignals;
use gitops_harness::up::{self, UpRequest};

/// Arguments of `up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Cluster backend.
    #[arg(long, value_enum, default_value_t)]
    pub backend: crate::BackendArg,
    /// Gitops repository to bootstrap (default: the embedded gitops-linkerd fixture).
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Cluster directory inside the repo (embedded repo: `clusters/my-cluster`, or
    /// `clusters/sim` with `--backend sim`).
    #[arg(long)]
    pub cluster_dir: Option<PathBuf>,
    /// Cluster name.
    #[arg(long, default_value = "gitops-harness")]
    pub name: String,
    /// Keep and re-bootstrap an existing harness cluster of this name (its Linkerd trust anchor
    /// is kept).
    #[arg(long)]
    pub reuse: bool,
    /// Kubeconfig for `--backend existing`.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Context for `--backend existing`.
    #[arg(long)]
    pub context: Option<String>,
    /// Also merge the cluster's credentials into ~/.kube/config.
    #[arg(long)]
    pub write_kubeconfig: bool,
    /// Source cassette for `--backend sim` (`gitops-harness sources record`): its egress gateway
    /// answers chart and artifact fetches from it (default: the one `sources record` writes,
    /// $GITOPS_HARNESS_CASSETTE or ~/.cache/gitops-harness/cassette, when it exists); without
    /// one, every fetch off this machine is refused (and named).
    #[arg(long)]
    pub cassette: Option<PathBuf>,
    /// Overall readiness timeout in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Where to save artifacts (events, logs, objects) on failure.
    #[arg(long, default_value = "artifacts")]
    pub artifacts: PathBuf,
    /// Host port for the ingress (Faces GUI, Linkerd dashboard) with k3s, k3d and kind.
    #[arg(long, default_value_t = 8081)]
    pub ingress_port: u16,
    /// Host port for the harness git server (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub git_port: u16,
    /// Node image (k3s: a pinned rancher/k3s unless this or $GITOPS_HARNESS_K3S_IMAGE says
    /// otherwise; k3d and kind: passed as their --image).
    #[arg(long)]
    pub image: Option<String>,
    /// Go on when `check` finds errors, to see how Flux itself reports them.
    #[arg(long)]
    pub allow_check_errors: bool,
    /// Stop the git server once everything is Ready instead of serving git until Ctrl-C (also a
    /// backend's background git server, as sim's); Flux then keeps the last revision it fetched.
    #[arg(long)]
    pub no_serve: bool,
}

/// The library's backend for a CLI choice.
pub fn backend(b: crate::BackendArg) -> BackendKind {
    match b {
        crate::BackendArg::K3s => BackendKind::K3s,
        crate::BackendArg::K3d => BackendKind::K3d,
        crate::BackendArg::Kind => BackendKind::Kind,
        crate::BackendArg::Existing => BackendKind::Existing,
        crate::BackendArg::Sim => BackendKind::Sim,
    }
}

/// Undo what this run created where its backend says so, and tell what is left.
fn report_cleanup(name: &str, existed_before: bool, say_nothing_left: bool) {
    if let Some(removed) = cleanup::abort_created(name, existed_before) {
        for r in removed {
            eprintln!("stopped {r}");
        }
        if say_nothing_left {
            eprintln!("nothing was left behind.");
        }
    } else if let Some(left) = cleanup::leftovers(name, existed_before) {
        eprintln!("{left}");
    } else if say_nothing_left {
        eprintln!("nothing was left behind.");
    }
}

/// Run `up`: 0 when all is Ready (and, unless --no-serve, after Ctrl-C), 1 when it is not, 2 on
/// errors, 128 + the signal's number when SIGINT, SIGTERM or SIGHUP stopped it.
pub fn run(args: UpArgs) -> anyhow::Result<Exit> {
    let existed_before = cluster::load_state(&args.name).is_some();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        // First, before anything is created (the extracted repo, a cluster): from here on a stop
        // signal is handled below and everything this run made is removed.
        let mut stop = StopSignals::install().context("installing the signal handlers")?;
        let started = std::time::Instant::now();
        let mut log = |line: &str| eprintln!("[{:>6.1}s] {line}", started.elapsed().as_secs_f64());
        let embedded;
        let (repo, cluster_dir) = match &args.repo {
            Some(r) => (r.clone(), args.cluster_dir.clone()),
            None => {
                embedded = gitops_harness::embedded::default_repo().context("extracting the embedded gitops-linkerd repo")?;
                eprintln!("using the embedded gitops-linkerd repo (pass --repo to use yours)");
                (
                    embedded.path().to_path_buf(),
                    Some(args.cluster_dir.clone().unwrap_or_else(|| {
                        cluster::AnyBackend::new(backend(args.backend)).capabilities().embedded_cluster_dir.into()
                    })),
                )
            }
        };
        let req = UpRequest {
            backend: backend(args.backend),
            repo,
            cluster_dir,
            name: args.name.clone(),
            reuse: args.reuse,
            kubeconfig: args.kubeconfig.clone(),
            context: args.context.clone(),
            write_kubeconfig: args.write_kubeconfig,
            timeout: Duration::from_secs(args.timeout),
            artifacts: args.artifacts.clone(),
            ingress_port: args.ingress_port,
            git_port: args.git_port,
            image: args.image.clone(),
            allow_check_errors: args.allow_check_errors,
            cassette: gitops_harness::sources::cassette_or_default(args.cassette.as_deref()),
        };
        // A stop signal wins over a step that finishes in the same poll.
        let result = tokio::select! {
            biased;
            sig = stop.recv() => {
                eprintln!("\ninterrupted ({sig}): stopped cleanly.");
                report_cleanup(&args.name, existed_before, true);
                return Ok(Exit::Stopped(sig));
            }
            r = up::up(&req, &mut log) => r,
        };
        match result {
            Ok(session) => {
                eprintln!("\n{}", session.timeline);
                if !session.capabilities.data_plane {
                    println!("ready in {:.0}s (no data plane: no URLs to open, nothing serves traffic).", started.elapsed().as_secs_f64());
                } else {
                    println!("ready in {:.0}s. Open:", started.elapsed().as_secs_f64());
                    for (label, url) in &session.urls {
                        println!("  {label:<20} {url}");
                    }
                }
                println!("kubectl: KUBECONFIG={} kubectl get kustomizations -A", session.handle.kubeconfig_path.display());
                if args.no_serve {
                    match session.server {
                        Some(server) => server.shutdown().await,
                        None => {
                            if let Some(stopped) = AnyBackend::new(session.handle.backend).stop_git(&args.name) {
                                eprintln!("stopped {stopped}");
                            }
                        }
                    }
                    println!("git server stopped (--no-serve); the cluster keeps its last revision. `gitops-harness down --name {}` removes it.", args.name);
                    return Ok(Exit::Success);
                }
                let Some(server) = session.server else {
                    // The backend runs the git server as a background process, with the cluster.
                    println!(
                        "the {1} cluster {0} runs in the background (its git server too); `gitops-harness down --name {0}` stops every process it started",
                        args.name, session.handle.backend
                    );
                    return Ok(Exit::Success);
                };
                println!("serving git to the cluster; press Ctrl-C to stop serving (the cluster keeps running; `gitops-harness down --name {}` removes it)", args.name);
                let sig = stop.recv().await;
                server.shutdown().await;
                let _ = gitops_harness::state::ReadyMarker::remove(&args.name);
                eprintln!("git server stopped ({sig}).");
                Ok(Exit::Success)
            }
            Err(e) => {
                eprintln!("error: {e}");
                // A repository that did not work keeps its cluster for inspection; a run that
                // could not happen undoes what it created where the backend says so.
                if !e.is_repo_failure() {
                    report_cleanup(&args.name, existed_before, false);
                }
                Ok(e.exit())
            }
        }
    })
}
