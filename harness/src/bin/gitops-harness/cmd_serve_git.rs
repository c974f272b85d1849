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
    // A server outlives whoever read its first line (a supervisor, a test): a write to a closed
    // pipe must not kill it before it has removed its served copy, so SIGPIPE is ignored here
    // and what it prints is best effort.
    // SAFETY: no thread has been started yet (the runtime comes next).
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) };
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
            say_err(format_args!("{} is not a git repository: serving a copy in {}", args.path.display(), s.path().display()));
            s
        };
        let server = GitServer::start(&served, addr).await?;
        say(format_args!(
            "serving {} (branch {}, read-only) at {}\nclone with: git clone {}\npress Ctrl-C to stop",
            served.path().display(),
            served.branch(),
            server.url(),
            server.url()
        ));
        let sig = stop.recv().await;
        say_err(format_args!("stopping the git server ({sig})"));
        server.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Exit::Success)
}

fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn say_err(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
