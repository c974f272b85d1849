//! `gitops-harness serve-git`.
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `serve-git`.
#[derive(Debug, clap::Args)]
pub struct ServeGitArgs {
    /// Repository (working copy) to serve.
    pub path: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub addr: String,
}

/// Run `serve-git`.
pub fn run(_args: ServeGitArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("serve-git: not implemented yet")
}
