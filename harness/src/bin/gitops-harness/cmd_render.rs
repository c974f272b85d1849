//! `gitops-harness render`.
use gitops_harness::exit::Exit;
use gitops_harness::lifecycle::signals::StopSignal;
use std::path::PathBuf;

use anyhow::Context as _;
use gitops_harness::render::{self, RenderError, RenderOptions, Rendered, Target};
use gitops_harness::repo::{LoadOptions, Repo};

/// Arguments of `render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Root of the gitops repository.
    pub path: PathBuf,
    /// Cluster directory inside the repo to start from.
    #[arg(long)]
    pub cluster_dir: Option<PathBuf>,
    /// Write each Kustomization's and HelmRelease's rendered manifests under this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seconds one `kubectl kustomize` or `helm template` may take before it is stopped.
    #[arg(long, default_value_t = render::DEFAULT_TIMEOUT.as_secs())]
    pub timeout: u64,
    /// Refuse builds that would fetch kustomize resources from the network (each is a failed
    /// build naming the remote entries).
    #[arg(long)]
    pub offline: bool,
    /// Builds run side by side (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Directory of unpacked Helm charts for HelmReleases whose chart is not in git (as `check
    /// --charts`). Repeatable.
    #[arg(long, env = "GITOPS_HARNESS_CHARTS", value_delimiter = ':')]
    pub charts: Vec<PathBuf>,
    /// Source cassette whose recorded charts render the same way (as `check --cassette`).
    #[arg(long)]
    pub cassette: Option<PathBuf>,
}

/// The signal that stopped the builds (0: none).
static SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_signal(sig: nix::libc::c_int) {
    SIGNAL.store(sig, std::sync::atomic::Ordering::SeqCst);
    render::interrupt();
}

/// The stop signal received, as `Exit::Stopped` names it.
fn stop_signal() -> StopSignal {
    match SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
        nix::libc::SIGTERM => StopSignal::Terminate,
        _ => StopSignal::Interrupt,
    }
}

/// SIGINT/SIGTERM stop the running builds; the workers then return, so every workspace is
/// dropped (removed) exactly as on success.
fn install_interrupt_handlers() -> anyhow::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &action) }.with_context(|| format!("installing the {sig} handler"))?;
    }
    Ok(())
}

fn kind_word(t: &Target<'_>) -> &'static str {
    match t {
        Target::Kustomization(_) => "external source",
        Target::HelmRelease(_) => "chart not reachable offline: pass --charts DIR or --cassette DIR",
    }
}

/// Run `render`: exit 0 when every local build succeeds, 1 when some fail, 2 when it cannot run.
pub fn run(args: RenderArgs) -> anyhow::Result<Exit> {
    let opts = LoadOptions { charts: crate::cmd_check::chart_sources(&args.charts, args.cassette.as_deref())? };
    let repo = Repo::load_with(&args.path, args.cluster_dir.as_deref(), &opts)?;
    install_interrupt_handlers()?;
    let ropts = RenderOptions { timeout: std::time::Duration::from_secs(args.timeout.max(1)), offline: args.offline, jobs: args.jobs };
    // A missing kubectl is a reason not to run at all (exit 2), not a failed build.
    gitops_harness::tools::find(gitops_harness::tools::Tool::Kubectl)?;
    if repo.helm_releases().iter().any(|h| h.chart_found.is_some()) {
        gitops_harness::tools::find(gitops_harness::tools::Tool::Helm)?;
    }
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    // Build in plan order so the output reads like the bootstrap.
    let mut targets: Vec<Target> = repo.flux_kustomizations().iter().map(Target::Kustomization).collect();
    targets.extend(repo.helm_releases().iter().map(Target::HelmRelease));
    if let Ok(plan) = gitops_harness::graph::plan(&repo) {
        targets.sort_by_key(|t| plan.wave_of(t.key()).unwrap_or(usize::MAX));
    }
    let (mut ok, mut failed, mut skipped, mut interrupted) = (0, 0, 0, false);
    let mut write_error: Option<anyhow::Error> = None;
    render::render_all(&repo, &targets, &ropts, |i, result: Result<Rendered, RenderError>| {
        let t = &targets[i];
        match result {
            Ok(r) => {
                ok += 1;
                println!("ok       {} ({} objects)", t.key(), r.objects.len());
                if !r.unresolved_vars.is_empty() {
                    let what = if matches!(t, Target::HelmRelease(_)) { "valuesFrom" } else { "postBuild variables from" };
                    println!("         {what} {} not in the repo: left as written", r.unresolved_vars.join(", "));
                }
                if !r.remote.is_empty() {
                    println!("         fetched from the network: {}", r.remote.join(", "));
                }
                if let Some(out) = &args.out {
                    let kind = if matches!(t, Target::HelmRelease(_)) { "hr_" } else { "" };
                    let file = out.join(format!("{kind}{}_{}.yaml", t.key().namespace.as_deref().unwrap_or("_"), t.key().name));
                    if let Err(e) = std::fs::write(&file, &r.yaml) {
                        write_error.get_or_insert(anyhow::anyhow!("writing {}: {e}", file.display()));
                    }
                }
            }
            Err(RenderError::Interrupted(_)) => interrupted = true,
            Err(RenderError::External(_) | RenderError::ChartUnavailable(_)) => {
                skipped += 1;
                println!("skipped  {} ({})", t.key(), kind_word(t));
            }
            Err(e) => {
                failed += 1;
                println!("FAILED   {}\n         {}", t.key(), e.to_string().replace('\n', "\n         "));
            }
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    if interrupted || render::interrupted() {
        println!("\ninterrupted: {ok} built, {failed} failed before it; temporary build directories removed");
        return Ok(Exit::Stopped(stop_signal()));
    }
    println!("\n{ok} built, {failed} failed, {skipped} skipped (external source or chart not reachable offline)");
    Ok(Exit::ok_if(failed == 0))
}
