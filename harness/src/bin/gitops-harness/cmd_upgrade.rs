//! `gitops-harness upgrade`.
use gitops_harness::exit::Exit;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use gitops_harness::cluster;
use gitops_harness::lifecycle::cleanup;
use gitops_harness::lifecycle::signals::StopSignals;
use gitops_harness::up::UpRequest;
use gitops_harness::upgrade::{self, UpgradeRequest};

/// Arguments of `upgrade`.
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// The gitops repository (a git working copy holding both revisions).
    #[arg(long)]
    pub repo: PathBuf,
    /// The revision the environment runs first (branch, tag or sha).
    #[arg(long)]
    pub from: String,
    /// The revision to upgrade to.
    #[arg(long)]
    pub to: String,
    /// Cluster directory inside the repo (as `flux bootstrap --path`).
    #[arg(long)]
    pub cluster_dir: Option<PathBuf>,
    /// Cluster backend.
    #[arg(long, value_enum, default_value_t)]
    pub backend: crate::BackendArg,
    /// Environment name.
    #[arg(long, default_value = "gitops-harness-upgrade")]
    pub name: String,
    /// Upgrade a running environment of this name (brought up by `up` or an earlier `upgrade
    /// --keep`): it is first reset to --from, then upgraded.
    #[arg(long)]
    pub reuse: bool,
    /// Keep the environment this run created (default: removed after the report; a reused one
    /// is always kept).
    #[arg(long)]
    pub keep: bool,
    /// Seconds the plan may take to converge, at --from and at --to.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Seconds the canaries the upgrade triggers may take after the plan converged.
    #[arg(long, default_value_t = 600)]
    pub canary_timeout: u64,
    /// Where the report (report.md, report.json, junit.xml) and failure artifacts go.
    #[arg(long, default_value = "artifacts")]
    pub artifacts: PathBuf,
    /// Kubeconfig for `--backend existing`.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Context for `--backend existing`.
    #[arg(long)]
    pub context: Option<String>,
    /// Host port for the ingress (Docker tier).
    #[arg(long, default_value_t = 8081)]
    pub ingress_port: u16,
    /// Host port for the harness git server (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub git_port: u16,
    /// Source cassette for `--backend sim` (as for `up`).
    #[arg(long)]
    pub cassette: Option<PathBuf>,
}

/// Run `upgrade`: 0 no regression, 1 regression (the report says which), 2 could not run.
pub fn run(args: UpgradeArgs) -> anyhow::Result<Exit> {
    let req = UpgradeRequest {
        env: UpRequest {
            backend: crate::cmd_up::backend(args.backend),
            repo: args.repo.clone(),
            cluster_dir: args.cluster_dir.clone(),
            name: args.name.clone(),
            reuse: args.reuse,
            kubeconfig: args.kubeconfig.clone(),
            context: args.context.clone(),
            write_kubeconfig: false,
            timeout: Duration::from_secs(args.timeout),
            artifacts: args.artifacts.clone(),
            ingress_port: args.ingress_port,
            git_port: args.git_port,
            image: None,
            allow_check_errors: false,
            cassette: gitops_harness::sources::cassette_or_default(args.cassette.as_deref()),
        },
        from: args.from.clone(),
        to: args.to.clone(),
        canary_timeout: Duration::from_secs(args.canary_timeout),
    };
    let existed_before = cluster::load_state(&args.name).is_some();
    if existed_before && !args.reuse {
        anyhow::bail!(
            "an environment named {0} exists already; pass --reuse to upgrade it, or remove it with `gitops-harness down --name {0}`",
            args.name
        );
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let code = rt.block_on(async {
        let Ok(mut stop) = StopSignals::install() else {
            eprintln!("error: installing the signal handlers failed; nothing was started");
            return Exit::CouldNotRun;
        };
        let started = std::time::Instant::now();
        let mut log = |line: &str| eprintln!("[{:>6.1}s] {line}", started.elapsed().as_secs_f64());
        // A stop signal wins over a step that finishes in the same poll.
        let result = tokio::select! {
            biased;
            sig = stop.recv() => {
                eprintln!("\ninterrupted ({sig}).");
                return Exit::Stopped(sig);
            }
            r = upgrade::run(&req, &mut log) => r,
        };
        match result {
            Ok(outcome) => {
                println!("{}", outcome.report.markdown());
                println!("report: {}", outcome.dir.display());
                for f in outcome.report.failures() {
                    eprintln!("regression: {}: {}", f.id, f.summary);
                }
                outcome.report.exit()
            }
            Err(e) => {
                eprintln!("error: {e}");
                eprintln!("the upgrade could not be rehearsed (exit 2); nothing was judged");
                Exit::CouldNotRun
            }
        }
    });
    // What this run created goes, unless asked to keep it (the report and artifacts stay). A
    // cluster interrupted mid-creation has a sim record but no state yet: it goes too.
    let created = cluster::recorded_backend(&args.name).is_some();
    if !existed_before && created {
        if args.keep {
            eprintln!("environment {0} kept (--keep); `gitops-harness down --name {0}` removes it", args.name);
        } else {
            match rt.block_on(cleanup::down(&args.name)) {
                Ok(_) => eprintln!("environment {} removed", args.name),
                Err(e) => eprintln!("warning: removing environment {}: {e}", args.name),
            }
        }
    }
    Ok(code)
}
