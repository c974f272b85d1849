//! `gitops-harness render`.
use gitops_harness::exit::Exit;
use std::path::PathBuf;

use anyhow::Context as _;
use gitops_harness::render::{self, RenderError, RenderOptions};
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
    /// Seconds one `kubectl kustomize` may take before it is stopped.
    #[arg(long, default_value_t = render::DEFAULT_TIMEOUT.as_secs())]
    pub timeout: u64,
}

extern "C" fn on_signal(_: nix::libc::c_int) {
    render::interrupt();
}

/// SIGINT/SIGTERM stop the running build; the loop then returns, so every temporary directory
/// is dropped (removed) exactly as on success.
fn install_interrupt_handlers() -> anyhow::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &action) }.with_context(|| format!("installing the {sig} handler"))?;
    }
    Ok(())
}

/// Run `render`: exit 0 when every local Kustomization builds, 1 when some fail, 2 when it cannot run.
pub fn run(args: RenderArgs) -> anyhow::Result<Exit> {
    let repo = Repo::load(&args.path, args.cluster_dir.as_deref())?;
    install_interrupt_handlers()?;
    let opts = RenderOptions { timeout: std::time::Duration::from_secs(args.timeout.max(1)) };
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
        match render::render_kustomization_with(&repo, ks, &opts) {
            Ok(r) => {
                ok += 1;
                println!("ok       {} ({} objects)", ks.key, r.objects.len());
                if !r.unresolved_vars.is_empty() {
                    println!("         postBuild variables from {} are not in the repo: left as written", r.unresolved_vars.join(", "));
                }
                if let Some(out) = &args.out {
                    let file = out.join(format!("{}_{}.yaml", ks.key.namespace.as_deref().unwrap_or("_"), ks.key.name));
                    std::fs::write(&file, &r.yaml).with_context(|| format!("writing {}", file.display()))?;
                }
            }
            Err(RenderError::Interrupted(_)) => {
                println!("\ninterrupted: {ok} built, {failed} failed before it; temporary build directories removed");
                return Ok(Exit::Stopped(gitops_harness::lifecycle::signals::StopSignal::Interrupt));
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
    Ok(if failed > 0 { Exit::Failure } else { Exit::Success })
}
