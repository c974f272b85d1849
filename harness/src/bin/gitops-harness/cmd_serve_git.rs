//! `gitops-harness serve-git`.
use gitops_harness::exit::Exit;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use gitops_harness::git::{GitServer, ServedRepo};
use gitops_harness::lifecycle::signals::StopSignals;

/// Arguments of `serve-git`.
#[derive(Debug, clap::Args)]
pub struct ServeGitArgs {
    /// Repository to serve: a git working copy is served as it is; any other directory is
    /// copied into a temporary served copy first (the directory itself is never written).
    pub path: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub addr: String,
}

/// Run `serve-git` until SIGINT, SIGTERM or SIGHUP; each stops it cleanly (exit 0), removing a
/// temporary served copy.
pub fn run(args: ServeGitArgs) -> anyhow::Result<Exit> {
    let addr: SocketAddr = args.addr.parse().with_context(|| format!("--addr {:?} is not HOST:PORT (e.g. 127.0.0.1:8765)", args.addr))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        // Before the temporary copy exists and before `serving …` tells a supervisor we are up:
        // a signal from then on is handled here, never by the default action.
        let mut stop = StopSignals::install().context("installing the signal handlers")?;
        let tmp;
        let served = if args.path.join(".git").exists() {
            ServedRepo::open(&args.path)?
        } else {
            tmp = tempfile::Builder::new().prefix("gitops-harness-serve-").tempdir()?;
            let s = ServedRepo::prepare(&args.path, &tmp.path().join("repo"))?;
            eprintln!("{} is not a git repository: serving a copy in {}", args.path.display(), s.path().display());
            s
        };
        let server = GitServer::start(&served, addr).await?;
        println!("serving {} (branch {}, read-only) at {}", served.path().display(), served.branch(), server.url());
        println!("clone with: git clone {}", server.url());
        println!("press Ctrl-C to stop");
        let sig = stop.recv().await;
        eprintln!("stopping the git server ({sig})");
        server.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Exit::Success)
}
