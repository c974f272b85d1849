//! `gitops-harness render`.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use gitops_harness::render::{self, RenderError};
use gitops_harness::repo::Repo;

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

/// Run `render`: exit 0 when every local Kustomization builds, 1 when some fail, 2 when it cannot run.
pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let repo = Repo::load(&args.path, args.cluster_dir.as_deref())?;
    // A missing kubectl is a reason not to run at all (exit 2), not a failed build.
    gitops_harness::tools::find(gitops_harness::tools::Tool::Kubectl)?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    // Build in plan order so the output reads like the bootstrap.
    let mut order: Vec<_> = repo.flux_kustomizations().iter().collect();
    if let Ok(plan) = gitops_harness::graph::plan(&repo) {
        order.sort_by_key(|k| plan.wave_of(&k.key).unwrap_or(usize::MAX));
    }
    let (mut ok, mut failed, mut skipped) = (0, 0, 0);
    for ks in order {
        match render::render_kustomization(&repo, ks) {
            Ok(r) => {
                ok += 1;
                println!("ok       {} ({} objects)", ks.key, r.objects.len());
                if let Some(out) = &args.out {
                    let file = out.join(format!("{}_{}.yaml", ks.key.namespace.as_deref().unwrap_or("_"), ks.key.name));
                    std::fs::write(&file, &r.yaml).with_context(|| format!("writing {}", file.display()))?;
                }
            }
            Err(RenderError::External(_)) => {
                skipped += 1;
                println!("skipped  {} (external source)", ks.key);
            }
            Err(e) => {
                failed += 1;
                println!("FAILED   {}\n         {}", ks.key, e.to_string().replace('\n', "\n         "));
            }
        }
    }
    println!("\n{ok} built, {failed} failed, {skipped} skipped (external source)");
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
