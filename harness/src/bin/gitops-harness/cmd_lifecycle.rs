//! `gitops-harness down|status|reap`.
use std::process::ExitCode;

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
