//! `gitops-harness serve-git`.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use gitops_harness::gitserver::{GitServer, ServedRepo};

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

/// Run `serve-git` until Ctrl-C or SIGTERM.
pub fn run(args: ServeGitArgs) -> anyhow::Result<ExitCode> {
    let addr: SocketAddr = args.addr.parse().with_context(|| format!("--addr {:?} is not HOST:PORT (e.g. 127.0.0.1:8765)", args.addr))?;
    let tmp;
    let served = if args.path.join(".git").exists() {
        ServedRepo::open(&args.path)?
    } else {
        tmp = tempfile::Builder::new().prefix("gitops-harness-serve-").tempdir()?;
        let s = ServedRepo::prepare(&args.path, &tmp.path().join("repo"))?;
        eprintln!("{} is not a git repository: serving a copy in {}", args.path.display(), s.path().display());
        s
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let server = GitServer::start(&served, addr).await?;
        println!("serving {} (branch {}, read-only) at {}", served.path().display(), served.branch(), server.url());
        println!("clone with: git clone {}", server.url());
        println!("press Ctrl-C to stop");
        // Ctrl-C, or SIGTERM from `down` or a supervisor: either way stop cleanly, so the
        // temporary served copy is removed.
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
        eprintln!("stopping the git server");
        server.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
