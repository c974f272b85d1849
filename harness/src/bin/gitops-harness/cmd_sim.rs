//! `gitops-harness sim …`: the sim tier's tools.
use gitops_harness::exit::Exit;

use gitops_harness::cluster::sim::toolset::{self, Component, Toolset};

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
    },
}

/// Run `sim`.
pub fn run(args: SimArgs) -> anyhow::Result<Exit> {
    match args.command {
        SimCommand::Standins { kubeconfig, addr } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                // Before the port opens (what `up` waits for): a stop signal then ends it cleanly.
                let mut stop = gitops_harness::lifecycle::signals::StopSignals::install()?;
                let target = gitops_harness::live::Target { kubeconfig: Some(kubeconfig), context: None };
                let client = gitops_harness::live::connect(&target).await?;
                let shutdown = async move {
                    stop.recv().await;
                };
                gitops_harness::cluster::sim::standins::serve(addr, client, shutdown).await?;
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
            println!("cache: {}", toolset::cache_dir().display());
            for c in Component::ALL {
                let entry = toolset::cache_dir().join(c.entry());
                let built = entry.join(".complete").is_file();
                let secs = std::fs::read_to_string(entry.join("build-seconds")).ok().and_then(|s| s.trim().parse::<u64>().ok());
                println!(
                    "  {:<22} {:<9} {}",
                    c.name(),
                    c.version(),
                    match (built, secs) {
                        (true, Some(s)) => format!("built ({s}s)"),
                        (true, None) => "built".to_string(),
                        (false, _) => "missing".to_string(),
                    }
                );
            }
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
