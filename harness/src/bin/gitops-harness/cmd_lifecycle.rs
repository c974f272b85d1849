//! `gitops-harness down|status|reap`.
use std::process::ExitCode;

use anyhow::Context as _;
use gitops_harness::cluster::{self, AnyBackend, BackendKind, ClusterBackend, ClusterError};
use gitops_harness::docker;
use gitops_harness::labels::Selector;

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
    /// Only reap objects of this cluster.
    #[arg(long)]
    pub cluster: Option<String>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

/// Run `down`: delete what the harness created for that cluster, and nothing else.
pub fn down(args: DownArgs) -> anyhow::Result<ExitCode> {
    let result = runtime()?.block_on(gitops_harness::up::down(&args.name));
    match result {
        Ok(report) => {
            for r in &report.removed {
                println!("removed {r}");
            }
            println!("cluster {} is gone", args.name);
            Ok(ExitCode::SUCCESS)
        }
        Err(ClusterError::NotFound(name)) => {
            println!("no harness cluster named {name}: nothing to do (`gitops-harness status` lists them)");
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ClusterError::NotOwned { .. }) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// Run `status`: list harness clusters (Docker-labelled and recorded).
pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let mut infos = Vec::new();
    // k3s clusters are found by their Docker labels, sim clusters by their process records,
    // the others by their records.
    match rt.block_on(AnyBackend::new(BackendKind::K3s).list_owned()) {
        Ok(list) => infos.extend(list),
        Err(e) if cluster::recorded().iter().any(|h| h.backend == BackendKind::K3s) => eprintln!("warning: {e}"),
        Err(_) => {}
    }
    if let Ok(list) = rt.block_on(AnyBackend::new(BackendKind::Sim).list_owned()) {
        infos.extend(list);
    }
    for h in cluster::recorded() {
        if !infos.iter().any(|i: &cluster::ClusterInfo| i.name == h.name) {
            infos.push(cluster::ClusterInfo {
                name: h.name,
                backend: h.backend,
                containers: vec![],
                api_url: Some(h.api_url),
                created: Some(h.created),
            });
        }
    }
    match args.format {
        crate::Format::Json => println!("{}", serde_json::to_string_pretty(&infos)?),
        crate::Format::Human => {
            if infos.is_empty() {
                println!("no harness clusters (create one with `gitops-harness up`)");
            }
            for i in &infos {
                println!(
                    "{:<24} {:<9} {:<28} created {}  {}",
                    i.name,
                    i.backend.to_string(),
                    i.api_url.as_deref().unwrap_or("-"),
                    i.created.as_deref().unwrap_or("-"),
                    i.containers.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `reap`: stop the recorded processes of sim clusters, and remove Docker objects with the
/// harness owner label (nothing else).
pub fn reap(args: ReapArgs) -> anyhow::Result<ExitCode> {
    let verb = if args.dry_run { "would stop" } else { "stopped" };
    let mut sim_count = 0;
    for rec in gitops_harness::cluster::sim::recorded_clusters() {
        if args.cluster.as_deref().is_some_and(|c| c != rec.name) || args.run_id.as_deref().is_some_and(|r| r != rec.run_id) {
            continue;
        }
        // A complete sim cluster whose processes all run is not a leftover: `down` removes it.
        let Some(why) = gitops_harness::cluster::sim::leftover_reason(&rec) else {
            println!("kept sim cluster {} (healthy; `gitops-harness down --name {}` removes it)", rec.name, rec.name);
            continue;
        };
        sim_count += 1;
        if args.dry_run {
            println!("{verb} sim cluster {} ({why}):", rec.name);
            for p in rec.processes.iter().filter(|p| p.is_alive()) {
                println!("  process {} (pid {})", p.name, p.pid);
            }
            continue;
        }
        match gitops_harness::cluster::sim::stop_and_forget(&rec.name) {
            Ok(report) => report.removed.iter().for_each(|r| println!("{verb} sim {} ({why}): {r}", rec.name)),
            Err(e) => eprintln!("could not reap sim cluster {}: {e}", rec.name),
        }
    }
    let sel = Selector { run_id: args.run_id.clone(), cluster: args.cluster.clone() };
    let docker = runtime()?.block_on(docker::connect());
    let d = match docker {
        Ok(d) => d,
        // Docker is expected (DOCKER_HOST set, or its socket is there) but does not answer.
        Err(e) if std::env::var_os("DOCKER_HOST").is_some() || std::path::Path::new("/var/run/docker.sock").exists() => {
            return Err(e.into());
        }
        Err(_) => {
            if sim_count == 0 {
                println!("nothing to reap: no sim cluster records, and no Docker Engine on this machine");
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let report = runtime()?.block_on(docker::reap(&d, &sel, args.dry_run))?;
    let verb = if args.dry_run { "would remove" } else { "removed" };
    for c in &report.containers {
        println!("{verb} container {c}");
    }
    for n in &report.networks {
        println!("{verb} network {n}");
    }
    for v in &report.volumes {
        println!("{verb} volume {v}");
    }
    for i in &report.images {
        println!("{verb} image {i}");
    }
    for e in &report.errors {
        eprintln!("could not remove {e}");
    }
    if report.count() == 0 && report.errors.is_empty() && sim_count == 0 {
        println!("nothing to reap: no Docker objects with the gitops-harness owner label");
    }
    Ok(if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
