//! `gitops-harness render`.
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Root of the gitops repository.
    pub path: PathBuf,
    /// Cluster directory inside the repo to start from.
    #[arg(long)]
    pub cluster_dir: Option<PathBuf>,
    /// Write each Kustomization's rendered manifests under this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Run `render`.
pub fn run(_args: RenderArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("render: not implemented yet")
}
