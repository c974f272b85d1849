//! The workshop repository as it is (`fixtures/gitops-linkerd`, `clusters/my-cluster`) on a sim
//! cluster, with the real upstream charts: cert-manager, Linkerd (crds, control plane, viz, smi),
//! ingress-nginx and Flagger, packaged at run time from `shared/reference/charts/`, recorded
//! into a source cassette from a loopback stand-in for the internet, and replayed through the
//! sim's egress gateway. Nothing of the repository is changed for sim.
//!
//! Ignored with the reason when the sim tools or `helm` are missing.

use gitops_harness_testkit as common;
use gitops_harness_testkit::upstream;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::sim::{TestResult, fail};
use libtest_mimic::Arguments;

/// The workshop cassette, recorded once for all trials (`WORKSHOP_CASSETTE=DIR` keeps it there).
struct Prepared {
    _dir: Option<tempfile::TempDir>,
    cassette: PathBuf,
}

static PREPARED: OnceLock<Result<Prepared, String>> = OnceLock::new();

fn prepared() -> Result<&'static Prepared, libtest_mimic::Failed> {
    PREPARED.get_or_init(prepare).as_ref().map_err(|e| fail(e.clone()))
}

fn prepare() -> Result<Prepared, String> {
    let (dir, cassette) = match std::env::var_os("WORKSHOP_CASSETTE") {
        Some(d) => (None, PathBuf::from(d)),
        None => {
            let d = tempfile::tempdir().map_err(|e| e.to_string())?;
            let c = d.path().join("cassette");
            (Some(d), c)
        }
    };
    if !cassette.join(gitops_harness::sources::cassette::LOCK_FILE).is_file() {
        upstream::record_cassette(&common::fixtures().join("gitops-linkerd"), "clusters/my-cluster", &cassette)?;
    }
    Ok(Prepared { _dir: dir, cassette })
}

fn my_cluster_reaches_ready_with_real_charts() -> TestResult {
    let p = prepared()?;
    let sb = common::sim::Sandbox::new("workshop");
    let repo = common::fixtures().join("gitops-linkerd");
    let (repo, cassette) = (repo.display().to_string(), p.cassette.display().to_string());
    let out = sb.run(&[
        "up",
        "--backend",
        "sim",
        "--name",
        "workshop",
        "--repo",
        &repo,
        "--cluster-dir",
        "clusters/my-cluster",
        "--timeout",
        "600",
        "--cassette",
        &cassette,
    ]);
    let t = common::sim::text(&out);
    if std::env::var_os("WORKSHOP_KEEP").is_some() {
        println!("{t}");
        return Ok(());
    }
    let down = sb.run(&["down", "--name", "workshop"]);
    if !out.status.success() {
        return Err(fail(format!("up on clusters/my-cluster must reach Ready, got {:?}:\n{t}", out.status.code())));
    }
    if !down.status.success() {
        return Err(fail(format!("down failed:\n{}", common::sim::text(&down))));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let needs_tools: Vec<common::sim::NamedTest> =
        vec![("workshop::my_cluster_reaches_ready_with_real_charts", my_cluster_reaches_ready_with_real_charts)];
    let trials = common::sim::trials("workshop", vec![], needs_tools);
    libtest_mimic::run(&args, trials).exit_code()
}
