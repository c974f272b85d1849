//! `gitops-harness drift`: what git declares vs what the cluster runs.
//!
//! Exit codes like `flux diff`: 0 no drift, 1 drift, 2 could not run.
use gitops_harness::exit::Exit;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use gitops_harness::git::revisions;
use gitops_harness::live;
use gitops_harness::scenarios::drift::{self, live::LiveState};

/// Arguments of `drift`.
#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// Root of the gitops repository (the served working copy or the user's repo).
    #[arg(long, default_value = "fixtures/gitops-linkerd")]
    pub repo: PathBuf,
    /// Cluster directory inside the repo.
    #[arg(long, default_value = "clusters/my-cluster")]
    pub cluster_dir: Option<PathBuf>,
    /// Kubeconfig to use (default: harness cluster kubeconfig, then $KUBECONFIG).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long)]
    pub context: Option<String>,
    /// Harness cluster whose kubeconfig to use when --kubeconfig is not given.
    #[arg(long, default_value = "gitops-harness")]
    pub name: String,
    /// Compare against saved objects instead of a cluster: a directory with `live.jsonl` and
    /// `kustomizations.jsonl` (one object per line, as `kubectl get -o json` returns them).
    #[arg(long)]
    pub live_snapshot: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: crate::Format,
}

fn gather_live(args: &DriftArgs) -> anyhow::Result<LiveState> {
    if let Some(dir) = &args.live_snapshot {
        return Ok(LiveState::load_snapshot(dir)?);
    }
    let target = match &args.kubeconfig {
        Some(k) => live::Target { kubeconfig: Some(k.clone()), context: args.context.clone() },
        None => {
            let harness = live::harness_target(&args.name);
            if harness.kubeconfig.as_ref().map(|p| p.is_file()).unwrap_or(false) {
                live::Target { context: args.context.clone(), ..harness }
            } else {
                live::Target { kubeconfig: None, context: args.context.clone() }
            }
        }
    };
    // kube (ring) and reqwest (aws-lc-rs) both compile rustls providers in, so rustls cannot pick
    // one by itself and kube's client builder would panic: choose ring for the process.
    gitops_harness::live::ensure_crypto_provider();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async {
        let client = live::probe(&target, Duration::from_secs(10)).await?;
        Ok(drift::live::gather(&client).await?)
    })
}

/// Run `drift`.
pub fn run(args: DriftArgs) -> anyhow::Result<Exit> {
    if !args.repo.is_dir() {
        bail!("repository {} is not a directory; pass --repo with the served working copy", crate::display_path(&args.repo).display());
    }
    if revisions::head(&args.repo).is_none() && args.format == crate::Format::Human {
        eprintln!(
            "note: {} is not a git working copy: revision drift is not checked, manifests are built from the files as they are",
            args.repo.display()
        );
    }
    let live = gather_live(&args)?;
    let report = drift::check(&args.repo, args.cluster_dir.as_deref(), &live)?;
    match args.format {
        crate::Format::Json => println!("{}", serde_json::to_string_pretty(&report.to_json())?),
        crate::Format::Human => print!("{}", report.table()),
    }
    Ok(report.exit())
}
