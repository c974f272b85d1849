//! `gitops-harness sim …`: the sim tier's tools.
use gitops_harness::exit::Exit;

use gitops_harness::cluster::sim::toolset::{self, Component, EntryRecord, Toolset};

/// Arguments of `sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SimCommand,
}

/// `sim` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Show the pinned versions, the tool cache and what is built (build them with
    /// `scripts/sim-tools.sh`).
    Tools {
        /// Print only what is missing; exit 1 when something is.
        #[arg(long)]
        check: bool,
    },
    /// Serve the stand-ins Flagger talks to on sim (started by `up --backend sim`).
    #[command(hide = true)]
    Standins {
        /// Kubeconfig of the sim cluster.
        #[arg(long)]
        kubeconfig: std::path::PathBuf,
        /// Address to listen on.
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// Flagger's `-metrics-server`: the one Prometheus address (besides MetricTemplates')
        /// the stand-in answers on.
        #[arg(long)]
        metrics_server: Option<String>,
    },
}

/// Run `sim`.
pub fn run(args: SimArgs) -> anyhow::Result<Exit> {
    match args.command {
        SimCommand::Standins { kubeconfig, addr, metrics_server } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                // Before the port opens (what `up` waits for): a stop signal then ends it cleanly.
                let mut stop = gitops_harness::lifecycle::signals::StopSignals::install()?;
                let target = gitops_harness::live::Target { kubeconfig: Some(kubeconfig), context: None };
                let client = gitops_harness::live::connect(&target).await?;
                let shutdown = async move {
                    stop.recv().await;
                };
                let standins = gitops_harness::cluster::sim::standins::StandIns::new(client, metrics_server);
                gitops_harness::cluster::sim::standins::serve(addr, standins, shutdown).await?;
                Ok::<_, anyhow::Error>(())
            })?;
            Ok(Exit::Success)
        }
        SimCommand::Tools { check } => {
            let found = Toolset::locate();
            if check {
                return Ok(match found {
                    Ok(_) => Exit::Success,
                    Err(e) => {
                        println!("{e}");
                        Exit::Failure
                    }
                });
            }
            print_tools(found.as_ref().ok());
            Ok(match found {
                Ok(_) => Exit::Success,
                Err(e) => {
                    println!("{e}");
                    Exit::Failure
                }
            })
        }
    }
}

/// The pinned versions, each component's cache entry and what it was built with (recorded in the
/// entry, so a cache hit says it too), and where the programs differ from the released ones.
fn print_tools(found: Option<&Toolset>) {
    let cache = toolset::cache_dir();
    println!("cache: {}", cache.display());
    match toolset::go_version() {
        Some(go) => println!("go:    {go}"),
        None => println!("go:    not installed"),
    }
    for c in Component::ALL {
        let dir = found.map(|t| t.dir(c)).unwrap_or_else(|| cache.join(c.entry()));
        let built = dir.join(".complete").is_file();
        let record = if built { EntryRecord::read(&dir) } else { EntryRecord::default() };
        let state = match (built, record.build_seconds) {
            (true, Some(s)) => format!("built ({s}s{})", record.go.as_deref().map(|g| format!(", {g}")).unwrap_or_default()),
            (true, None) => "built".to_string(),
            (false, _) => "missing".to_string(),
        };
        let entry = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!("  {:<22} {:<9} {:<22} {entry}", c.name(), c.version(), state);
        // What the entry recorded; for a missing entry, what the pins will build it with.
        let subs: Vec<String> = if built { record.substitutions } else { c.substitutions().iter().map(ToString::to_string).collect() };
        for s in subs {
            println!("  {:<22} substitution: {s}", "");
        }
    }
    for note in toolset::release_differences() {
        println!("note: {note}");
    }
}
