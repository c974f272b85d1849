//! `gitops-harness check`.
use gitops_harness::exit::Exit;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gitops_harness::check::{self, CheckOptions};
use gitops_harness::crds::{self, CrdCatalog};
use gitops_harness::flux_versions::FluxVersion;
use gitops_harness::repo::{ChartDirs, ChartSource, ChartSources, LoadOptions, Repo};
use gitops_harness::sources::{self, charts::CassetteCharts};
use std::sync::Arc;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Root of the gitops repository (default: the embedded gitops-linkerd fixture).
    pub path: Option<PathBuf>,
    /// Cluster directory inside the repo to start from (as `flux bootstrap --path`).
    #[arg(long)]
    pub cluster_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: crate::Format,
    /// Flux version to check API versions against (e.g. 2.7; default: what the repo pins in its
    /// gotk-components.yaml or controller images, else the newest known).
    #[arg(long)]
    pub flux_version: Option<String>,
    /// Directory of CRDs to validate objects with (default: $GITOPS_HARNESS_CRDS or shared/reference/crds nearby).
    #[arg(long)]
    pub crds: Option<PathBuf>,
    /// Directory of unpacked Helm charts (`<name>/`, `<name>-<version>/`), read as data for the
    /// HelmReleases whose chart is not in git: the CRDs they install, their values.schema.json.
    /// Repeatable.
    #[arg(long, env = "GITOPS_HARNESS_CHARTS", value_delimiter = ':')]
    pub charts: Vec<PathBuf>,
    /// Source cassette whose recorded charts are read the same way (default: the one `sources
    /// record` writes, $GITOPS_HARNESS_CASSETTE or ~/.cache/gitops-harness/cassette, when it exists).
    #[arg(long)]
    pub cassette: Option<PathBuf>,
}

/// The chart sources of `--charts` directories, then of the source cassette (`--cassette`, else
/// the default one when it has been recorded).
pub fn chart_sources(dirs: &[PathBuf], cassette: Option<&Path>) -> anyhow::Result<ChartSources> {
    for d in dirs {
        if !d.is_dir() {
            anyhow::bail!("--charts {}: not a directory; pass a directory holding unpacked charts (<name>/Chart.yaml)", d.display());
        }
    }
    let mut out: ChartSources = Vec::new();
    if !dirs.is_empty() {
        out.push(Arc::new(ChartDirs::new(dirs.to_vec())) as Arc<dyn ChartSource>);
    }
    let default = sources::default_cassette_dir();
    let cassette = match cassette {
        Some(dir) => Some(CassetteCharts::open(dir).with_context(|| format!("--cassette {}", dir.display()))?),
        None if default.join(sources::cassette::LOCK_FILE).is_file() => CassetteCharts::open(&default).ok(),
        None => None,
    };
    out.extend(cassette.map(|c| Arc::new(c) as Arc<dyn ChartSource>));
    Ok(out)
}

/// Run `check`: exit 0 without error findings, 1 with, 2 when it could not run.
pub fn run(args: CheckArgs) -> anyhow::Result<Exit> {
    let flux_version: Option<FluxVersion> = args.flux_version.as_deref().map(str::parse).transpose()?;
    let embedded;
    let (root, cluster_dir) = match &args.path {
        Some(p) => (p.clone(), args.cluster_dir.clone()),
        None => {
            embedded = gitops_harness::embedded::default_repo().context("extracting the embedded gitops-linkerd repo")?;
            let dir = args.cluster_dir.clone().unwrap_or_else(|| PathBuf::from(gitops_harness::embedded::DEFAULT_CLUSTER_DIR));
            if args.format == crate::Format::Human {
                eprintln!("checking the embedded gitops-linkerd repo (pass a PATH to check your own)");
            }
            (embedded.path().to_path_buf(), Some(dir))
        }
    };
    let opts = LoadOptions { charts: chart_sources(&args.charts, args.cassette.as_deref())? };
    let repo = Repo::load_with(&root, cluster_dir.as_deref(), &opts)?;
    let crd_dir = args.crds.clone().or_else(|| crds::discover_dir(&repo.root));
    let crds = match crd_dir {
        Some(d) => Some(CrdCatalog::load_dir(&d)?),
        None => None,
    };
    let report = check::run(&repo, &CheckOptions { flux_version, crds });
    match args.format {
        crate::Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        crate::Format::Human => {
            let shown = args.path.clone().unwrap_or_else(|| PathBuf::from("<embedded gitops-linkerd>"));
            print!("{}", check::render_human(&report, &shown));
        }
    }
    Ok(if report.errors() > 0 { Exit::Failure } else { Exit::Success })
}
