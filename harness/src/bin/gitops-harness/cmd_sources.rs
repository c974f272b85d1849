//! `gitops-harness sources …`: the source cassette (record, verify) and the sim's egress gateway.
use gitops_harness::exit::Exit;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use gitops_harness::cluster::sim::gateway::{self, GatewayCa, GatewayConfig};
use gitops_harness::repo::Repo;
use gitops_harness::sources::{self, Cassette, UrlOverride, coverage, plan, record::Recorder, replay::Replay};

/// Arguments of `sources`.
#[derive(Debug, clap::Args)]
pub struct SourcesArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SourcesCommand,
}

/// `sources` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SourcesCommand {
    /// Resolve every external source a bootstrap fetches (Helm and OCI charts, OCIRepository
    /// artifacts, other git repositories) as source-controller does, and store it in the cassette
    /// with a lock (URL, version, digest). Needs the internet; run it again to add a repository
    /// or refresh ranges.
    Record {
        /// Gitops repository (default: the embedded gitops-linkerd fixture).
        #[arg(long)]
        repo: Option<PathBuf>,
        /// Cluster directory inside the repo (embedded repo: clusters/my-cluster).
        #[arg(long)]
        cluster_dir: Option<PathBuf>,
        /// Cassette directory (default: $GITOPS_HARNESS_CASSETTE, else ~/.cache/gitops-harness/cassette).
        #[arg(long)]
        cassette: Option<PathBuf>,
        /// Fetch a URL prefix from elsewhere, FROM=TO (tests record from stand-ins on loopback;
        /// the cassette keeps FROM).
        #[arg(long = "upstream", hide = true)]
        upstream: Vec<UrlOverride>,
    },
    /// Check a cassette: every file against its digest (exit 1 naming the file and source); with
    /// --repo, also that it answers every source that repository's bootstrap fetches.
    Verify {
        /// Cassette directory (default as for `record`).
        #[arg(long)]
        cassette: Option<PathBuf>,
        /// Also check that the cassette covers this repository's sources.
        #[arg(long)]
        repo: Option<PathBuf>,
        /// Cluster directory inside --repo.
        #[arg(long)]
        cluster_dir: Option<PathBuf>,
    },
    /// Serve the sim's egress gateway: an HTTP proxy answering chart and artifact fetches from the
    /// cassette, Flagger's metrics and webhooks from the stand-ins, and refusing everything else
    /// (started by `up --backend sim`).
    Gateway {
        /// Listen address (127.0.0.1:PORT).
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// Directory of the gateway CA (created when missing; its ca.crt is the processes' SSL_CERT_FILE).
        #[arg(long)]
        ca_dir: PathBuf,
        /// Cassette to replay (none: every chart fetch is refused).
        #[arg(long)]
        cassette: Option<PathBuf>,
        /// Kubeconfig of the sim cluster: enables Flagger's stand-ins.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// The command a cassette miss tells people to run.
        #[arg(long)]
        record_hint: Option<String>,
    },
}

fn repo_and_dir(
    repo: Option<PathBuf>,
    cluster_dir: Option<PathBuf>,
) -> anyhow::Result<(Repo, String, String, Option<gitops_harness::embedded::EmbeddedRepo>)> {
    let (root, dir, embedded) = match repo {
        Some(r) => (r, cluster_dir, None),
        None => {
            let e = gitops_harness::embedded::default_repo().context("extracting the embedded gitops-linkerd repo")?;
            eprintln!("using the embedded gitops-linkerd repo (pass --repo to use yours)");
            let dir = cluster_dir.unwrap_or_else(|| PathBuf::from(gitops_harness::embedded::DEFAULT_CLUSTER_DIR));
            (e.path().to_path_buf(), Some(dir), Some(e))
        }
    };
    let loaded = Repo::load(&root, dir.as_deref())?;
    let shown_root = if embedded.is_some() { "<embedded>".to_string() } else { root.display().to_string() };
    let shown_dir = loaded.cluster_dir.display().to_string();
    Ok((loaded, shown_root, shown_dir, embedded))
}

fn summary(c: &Cassette) -> String {
    let l = c.lock();
    let size = c.size();
    let mib = size as f64 / (1024.0 * 1024.0);
    format!("cassette {}: {} sources, {} files, {mib:.2} MiB ({size} bytes)", c.dir().display(), l.sources.len(), l.files.len())
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

/// Run `sources`.
pub fn run(args: SourcesArgs) -> anyhow::Result<Exit> {
    match args.command {
        SourcesCommand::Record { repo, cluster_dir, cassette, upstream } => {
            let dir = cassette.unwrap_or_else(sources::default_cassette_dir);
            let (repo, root, cdir, _embedded) = repo_and_dir(repo, cluster_dir)?;
            let plan = plan::plan(&repo);
            let mut c = Cassette::open_or_create(&dir)?;
            let recorder = Recorder::new(upstream)?;
            let rt = tokio::runtime::Runtime::new()?;
            let out = rt.block_on(recorder.record(&plan, &mut c))?;
            for s in &out.recorded {
                println!("recorded  {}  {}  ({})", s.describe(), short(&s.digest), s.objects.join(", "));
            }
            for s in &plan.skipped {
                println!("skipped   {}: {}", s.object, s.reason);
            }
            for (what, why) in &out.failed {
                println!("FAILED    {what}: {why}");
            }
            println!("{}", summary(&c));
            if plan.wanted.is_empty() {
                println!("{root} ({cdir}) fetches nothing from outside the repository");
            }
            Ok(if out.failed.is_empty() && plan.skipped.is_empty() { Exit::Success } else { Exit::Failure })
        }
        SourcesCommand::Verify { cassette, repo, cluster_dir } => {
            let dir = cassette.unwrap_or_else(sources::default_cassette_dir);
            let c = Cassette::open(&dir)?;
            let mut bad = 0;
            for p in c.verify() {
                println!("CORRUPT   {}", p.message);
                bad += 1;
            }
            if repo.is_some() || cluster_dir.is_some() {
                let (repo, root, cdir, _embedded) = repo_and_dir(repo, cluster_dir)?;
                let plan = plan::plan(&repo);
                for m in coverage::check(&plan, &c) {
                    println!("MISSING   {m}; record it: {}", sources::record_command(&root, &cdir, &dir));
                    bad += 1;
                }
                for s in &plan.skipped {
                    println!("SKIPPED   {}: {}", s.object, s.reason);
                    bad += 1;
                }
            }
            println!("{}", summary(&c));
            if bad == 0 {
                println!("ok: every file matches its digest");
            }
            Ok(if bad == 0 { Exit::Success } else { Exit::Failure })
        }
        SourcesCommand::Gateway { addr, ca_dir, cassette, kubeconfig, record_hint } => {
            let ca = Arc::new(GatewayCa::ensure(&ca_dir)?);
            let replay = match &cassette {
                Some(dir) => {
                    let hint = record_hint.unwrap_or_else(|| sources::record_command("<repository>", "<cluster dir>", dir));
                    Some(Arc::new(Replay::new(Cassette::open(dir)?, hint)))
                }
                None => None,
            };
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let standins = match kubeconfig {
                    Some(k) => {
                        let target = gitops_harness::live::Target { kubeconfig: Some(k), context: None };
                        Some(gitops_harness::cluster::sim::standins::StandIns::new(gitops_harness::live::connect(&target).await?))
                    }
                    None => None,
                };
                let config = GatewayConfig { addr, replay, ca, standins, log: gateway::stdout_log() };
                gateway::serve(config).await.with_context(|| format!("serving the gateway on {addr}"))?;
                Ok::<_, anyhow::Error>(())
            })?;
            Ok(Exit::Success)
        }
    }
}
