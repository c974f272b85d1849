//! `gitops-harness check`.
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Root of the gitops repository.
    pub path: PathBuf,
    /// Cluster directory inside the repo to start from (as `flux bootstrap --path`).
    #[arg(long)]
    pub cluster_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: crate::Format,
    /// Flux version to check API versions against (e.g. 2.7).
    #[arg(long)]
    pub flux_version: Option<String>,
}

/// Run `check`.
pub fn run(_args: CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("check: not implemented yet")
}
