//! `gitops-harness`: thin CLI over the `gitops_harness` library.
//!
//! Exit codes are [`Exit`]: 0 success/clean, 1 findings/drift/failure, 2 could not run (bad
//! arguments, unreadable input, unreachable daemon), 128 + the signal when one stopped it.

mod cmd_check;
mod cmd_drift;
mod cmd_lifecycle;
mod cmd_render;
mod cmd_serve_git;
mod cmd_sim;
mod cmd_sources;
mod cmd_up;
mod cmd_upgrade;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gitops_harness::exit::Exit;

/// Top-level CLI.
#[derive(Debug, Parser)]
#[command(name = "gitops-harness", version, about = "E2E harness and demo provisioner for Flux + Flagger + Linkerd", long_about = None)]
pub struct Cli {
    /// Subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Human,
    /// Machine-readable JSON.
    Json,
}

/// Cluster backend choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum BackendArg {
    /// k3s in a Docker container through the Docker API (needs Docker and git; flux too when the
    /// repo has no gotk-components.yaml, as the embedded one).
    #[default]
    K3s,
    /// k3d through its CLI (needs Docker, k3d and git; flux as for k3s).
    K3d,
    /// kind through its CLI (needs Docker, kind, the docker CLI and git; flux as for k3s).
    Kind,
    /// An existing cluster from a kubeconfig/context.
    Existing,
    /// Real control plane and Flux controllers as host processes, kwok nodes: no containers
    /// (needs the tools `scripts/sim-tools.sh` builds).
    Sim,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse a gitops repository before any cluster exists (preflight).
    Check(cmd_check::CheckArgs),
    /// Build every Flux Kustomization's manifests with `kubectl kustomize`.
    Render(cmd_render::RenderArgs),
    /// Create (or reuse) a cluster, bootstrap the repo into it and wait until all is Ready.
    Up(cmd_up::UpArgs),
    /// Rehearse an upgrade: bring an environment up at --from, publish --to through the harness
    /// git server, and report every regression (exit 0 pass, 1 regression, 2 could not run).
    Upgrade(cmd_upgrade::UpgradeArgs),
    /// Delete a cluster the harness created (and only that).
    Down(cmd_lifecycle::DownArgs),
    /// List harness-owned clusters (backend, API URL, containers, age).
    Status(cmd_lifecycle::StatusArgs),
    /// Remove leftovers of crashed harness runs (labelled Docker objects, recorded sim processes).
    Reap(cmd_lifecycle::ReapArgs),
    /// Serve a gitops repository over smart HTTP (read-only) for a cluster to pull.
    ServeGit(cmd_serve_git::ServeGitArgs),
    /// Compare what git declares with what the cluster runs.
    Drift(cmd_drift::DriftArgs),
    /// The sim backend's tools (pinned versions, cache, what is built).
    Sim(cmd_sim::SimArgs),
    /// The source cassette (record a repository's Helm, OCI and git sources; verify) and the
    /// sim's egress gateway that replays it.
    Sources(cmd_sources::SourcesArgs),
}

impl Command {
    /// Run the subcommand.
    fn run(self) -> anyhow::Result<Exit> {
        match self {
            Command::Check(a) => cmd_check::run(a),
            Command::Render(a) => cmd_render::run(a),
            Command::Up(a) => cmd_up::run(a),
            Command::Upgrade(a) => cmd_upgrade::run(a),
            Command::Down(a) => cmd_lifecycle::down(a),
            Command::Status(a) => cmd_lifecycle::status(a),
            Command::Reap(a) => cmd_lifecycle::reap(a),
            Command::ServeGit(a) => cmd_serve_git::run(a),
            Command::Drift(a) => cmd_drift::run(a),
            Command::Sim(a) => cmd_sim::run(a),
            Command::Sources(a) => cmd_sources::run(a),
        }
    }
}

/// Like other Unix CLIs, end quietly when the reader of our output goes away (`| head`)
/// instead of panicking on a write to a closed pipe.
fn restore_sigpipe() {
    // SAFETY: restoring the default disposition of SIGPIPE before any thread is started.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
}

fn main() -> ExitCode {
    restore_sigpipe();
    match Cli::parse().command.run() {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            Exit::CouldNotRun.into()
        }
    }
}

/// Resolve a user-supplied path for error messages (absolute when possible).
pub fn display_path(p: &std::path::Path) -> std::path::PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
