//! `gitops-harness up`.
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Cluster backend.
    #[arg(long, value_enum, default_value_t)]
    pub backend: crate::BackendArg,
    /// Gitops repository to bootstrap (default: the embedded fixture repo).
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Cluster directory inside the repo.
    #[arg(long)]
    pub cluster_dir: Option<PathBuf>,
    /// Cluster name.
    #[arg(long, default_value = "gitops-harness")]
    pub name: String,
    /// Keep and re-bootstrap an existing harness cluster of this name.
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
    /// Overall readiness timeout in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Where to save artifacts (events, logs, objects) on failure.
    #[arg(long, default_value = "artifacts")]
    pub artifacts: PathBuf,
}

/// Run `up`.
pub fn run(_args: UpArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("up: not implemented yet")
}
