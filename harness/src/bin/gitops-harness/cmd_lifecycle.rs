//! `gitops-harness down|status|reap`.
use gitops_harness::exit::Exit;

use anyhow::Context as _;
use gitops_harness::cluster::{self, AnyBackend, BackendKind, ClusterBackend, ClusterError, ClusterInfo};
use gitops_harness::labels::Selector;
use gitops_harness::lifecycle::cleanup;

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
pub fn down(args: DownArgs) -> anyhow::Result<Exit> {
    match runtime()?.block_on(cleanup::down(&args.name)) {
        Ok(report) => {
            for r in &report.removed {
                println!("removed {r}");
            }
            println!("cluster {} is gone", args.name);
            Ok(Exit::Success)
        }
        Err(ClusterError::NotFound(name)) => {
            println!("no harness cluster named {name}: nothing to do (`gitops-harness status` lists them)");
            Ok(Exit::Success)
        }
        Err(e @ ClusterError::NotOwned { .. }) => {
            eprintln!("{e}");
            Ok(Exit::Failure)
        }
        Err(e) => Err(e.into()),
    }
}

/// Run `status`: list harness clusters (every backend's own, and the recorded ones).
pub fn status(args: StatusArgs) -> anyhow::Result<Exit> {
    let rt = runtime()?;
    let mut infos: Vec<ClusterInfo> = Vec::new();
    for kind in BackendKind::ALL {
        match rt.block_on(AnyBackend::new(kind).list_owned()) {
            Ok(list) => {
                for i in list {
                    if !infos.iter().any(|x| x.name == i.name) {
                        infos.push(i);
                    }
                }
            }
            // A backend that cannot be asked (no Docker Engine) matters only if it has clusters.
            Err(e) if cluster::recorded().iter().any(|h| h.backend == kind) => eprintln!("warning: {e}"),
            Err(_) => {}
        }
    }
    for h in cluster::recorded() {
        if !infos.iter().any(|i| i.name == h.name) {
            infos.push(ClusterInfo {
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
    Ok(Exit::Success)
}

/// Run `reap`: every backend removes what crashed runs left (recorded processes, labelled Docker
/// objects), and nothing else.
pub fn reap(args: ReapArgs) -> anyhow::Result<Exit> {
    let sel = Selector { run_id: args.run_id.clone(), cluster: args.cluster.clone() };
    let report = runtime()?.block_on(cleanup::reap(&sel, args.dry_run))?;
    let verb = if args.dry_run { "would remove" } else { "removed" };
    for k in &report.kept {
        println!("kept {k}");
    }
    for r in &report.removed {
        println!("{verb} {r}");
    }
    for e in &report.failed {
        eprintln!("could not remove {e}");
    }
    if report.removed.is_empty() && report.failed.is_empty() {
        println!("nothing to reap: no leftovers of crashed harness runs");
    }
    Ok(Exit::ok_if(report.failed.is_empty()))
}
