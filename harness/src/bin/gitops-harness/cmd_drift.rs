//! `gitops-harness drift`: what git declares vs what the cluster runs.
//!
//! Exit codes like `flux diff`: 0 no drift, 1 drift, 2 could not run.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use gitops_harness::drift::{self, git_side, revision_sha};
use gitops_harness::live;
use gitops_harness::render;
use gitops_harness::repo::Repo;
use serde_json::Value;

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

fn read_jsonl(p: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{}:{}: not a JSON object", p.display(), i + 1)))
        .collect()
}

fn gather_live(args: &DriftArgs) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
    if let Some(dir) = &args.live_snapshot {
        return Ok((read_jsonl(&dir.join("live.jsonl"))?, read_jsonl(&dir.join("kustomizations.jsonl"))?));
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
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async {
        let client = live::probe(&target, Duration::from_secs(10)).await?;
        let state = drift::live::gather(&client).await?;
        Ok((state.objects, state.kustomizations))
    })
}

/// Run `drift`.
pub fn run(args: DriftArgs) -> anyhow::Result<ExitCode> {
    if !args.repo.is_dir() {
        bail!("repository {} is not a directory; pass --repo with the served working copy", crate::display_path(&args.repo).display());
    }
    let repo = Repo::load(&args.repo, args.cluster_dir.as_deref())?;
    let head = git_side::head(&args.repo);
    if head.is_none() && args.format == crate::Format::Human {
        eprintln!("note: {} is not a git working copy: revision drift is not checked, manifests are built from the files as they are", args.repo.display());
    }
    let (live_objects, kustomizations) = gather_live(&args)?;

    // Build each Kustomization of this repo at the revision it applied (an export of that commit
    // when it is behind the working copy's HEAD).
    let mut exports: BTreeMap<String, (tempfile::TempDir, Repo)> = BTreeMap::new();
    let mut rendered = Vec::new();
    for ks in &kustomizations {
        let ns = ks.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        let name = ks.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let applied = revision_sha(ks.pointer("/status/lastAppliedRevision").and_then(Value::as_str).unwrap_or("")).to_string();
        let at_revision: &Repo = match &head {
            Some(h) if !applied.is_empty() && &applied != h => {
                if !exports.contains_key(&applied) {
                    let dir = git_side::export_revision(&args.repo, &applied)
                        .with_context(|| format!("reading revision {applied} applied by Kustomization {ns}/{name}"))?;
                    let r = Repo::load(dir.path(), args.cluster_dir.as_deref())
                        .with_context(|| format!("loading the repo at revision {applied}"))?;
                    exports.insert(applied.clone(), (dir, r));
                }
                match exports.get(&applied) {
                    Some((_, r)) => r,
                    None => &repo, // unreachable: inserted just above
                }
            }
            _ => &repo,
        };
        let Some(fk) = at_revision.flux_kustomizations().iter().find(|k| k.key.namespace.as_deref() == Some(ns) && k.key.name == name) else {
            continue;
        };
        if at_revision.local_path_of(fk).is_none() {
            continue; // another source (e.g. an external GitRepository): not built from this repo
        }
        let built = render::render_kustomization(at_revision, fk).with_context(|| format!("building Kustomization {ns}/{name}"))?;
        rendered.extend(built.objects.into_iter().filter(|o| o.is_object()));
    }
    let report = drift::compute(&rendered, &live_objects, &kustomizations, head.as_deref().unwrap_or(""));
    match args.format {
        crate::Format::Json => println!("{}", serde_json::to_string_pretty(&report.to_json())?),
        crate::Format::Human => print!("{}", report.table()),
    }
    Ok(ExitCode::from(report.exit_code()))
}
