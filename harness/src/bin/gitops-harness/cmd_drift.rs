//! `gitops-harness drift`.
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `drift`.
#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// Root of the gitops repository (the served working copy or the user's repo).
    #[arg(long, default_value = "fixtures/gitops-linkerd")]
    pub repo: PathBuf,
    /// Cluster directory inside the repo.
    #[arg(long)]
    pub cluster_dir: Option<PathBuf>,
    /// Kubeconfig to use (default: harness cluster kubeconfig, then $KUBECONFIG).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long)]
    pub context: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: crate::Format,
}

/// Run `drift`.
pub fn run(_args: DriftArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("drift: not implemented yet")
}
