//! `gitops-harness up|down|status|reap`.
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

/// Arguments of `down`.
#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// Cluster name.
    #[arg(long, default_value = "gitops-harness")]
    pub name: String,
}

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: crate::Format,
}

/// Arguments of `reap`.
#[derive(Debug, clap::Args)]
pub struct ReapArgs {
    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Only reap objects of this run id.
    #[arg(long)]
    pub run_id: Option<String>,
}

/// Run `up`.
pub fn up(_args: UpArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("up: not implemented yet")
}
/// Run `down`.
pub fn down(_args: DownArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("down: not implemented yet")
}
/// Run `status`.
pub fn status(_args: StatusArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("status: not implemented yet")
}
/// Run `reap`.
pub fn reap(_args: ReapArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("reap: not implemented yet")
}
