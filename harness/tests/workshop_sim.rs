//! The workshop repository as it is (`fixtures/gitops-linkerd`, `clusters/my-cluster`) on a sim
//! cluster, with the real upstream charts: cert-manager, Linkerd (crds, control plane, viz, smi),
//! ingress-nginx and Flagger, packaged at run time from `shared/reference/charts/`, recorded
//! into a source cassette from a loopback stand-in for the internet, and replayed through the
//! sim's egress gateway. Nothing of the repository is changed for sim.
//!
//! Bad input, each ending with the real controller's words long before the timeout: a chart
//! whose templates fail, a corrupt chart archive, a source missing from the cassette.
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
    let down = sb.run(&["down", "--name", "workshop"]);
    if !out.status.success() {
        return Err(fail(format!("up on clusters/my-cluster must reach Ready, got {:?}:\n{t}", out.status.code())));
    }
    for want in [
        "cert-manager's controllers run on the host from Deployment cert-manager/cert-manager",
        "Flagger runs on the host from its live Deployment: mesh provider linkerd",
        "HelmRelease linkerd/linkerd-control-plane",
        "4 canaries initialized",
    ] {
        if !t.contains(want) {
            return Err(fail(format!("up must say `{want}`:\n{t}")));
        }
    }
    if !down.status.success() {
        return Err(fail(format!("down failed:\n{}", common::sim::text(&down))));
    }
    Ok(())
}

/// `up` of `repo`'s `clusters/my-cluster` with `cassette` must fail with exit 1 within `within`
/// seconds, saying each of `want` ([`common::sim::up_fails_fast`]).
fn up_fails_naming(name: &str, repo: &std::path::Path, cassette: &std::path::Path, want: &[&str], within: u64) -> TestResult {
    let (r, c) = (repo.display().to_string(), cassette.display().to_string());
    common::sim::up_fails_fast(
        name,
        &r,
        "clusters/my-cluster",
        &["--cassette", &c, "--allow-check-errors"],
        want,
        std::time::Duration::from_secs(within),
    )
}

/// A chart whose templates fail: the Linkerd control plane with the chart's default issuer scheme
/// (`linkerd.io/tls`), which `required`s the issuer certificate in values, instead of the
/// Secret cert-manager writes. `up` ends with exit 1 naming the HelmRelease with
/// helm-controller's message, which carries the chart's own words.
fn chart_whose_templates_fail_is_named() -> TestResult {
    let p = prepared()?;
    let repo =
        upstream::variant("infrastructure/linkerd/linkerd-control-plane.yaml", "scheme: kubernetes.io/tls", "scheme: linkerd.io/tls")
            .map_err(fail)?;
    up_fails_naming(
        "workshop-tpl",
        repo.path(),
        &p.cassette,
        &["HelmRelease linkerd/linkerd-control-plane", "Please provide the identity issuer certificate"],
        400,
    )
}

/// A chart archive whose bytes no longer match the cassette's lock: the gateway refuses it with
/// the digest, and `up` fails naming the HelmRelease and source-controller's message.
fn corrupt_chart_archive_is_named() -> TestResult {
    let p = prepared()?;
    let copy = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    gitops_harness::git::working_copy::copy_tree(&p.cassette, copy.path()).map_err(|e| fail(e.to_string()))?;
    let c = gitops_harness::sources::Cassette::open(copy.path()).map_err(|e| fail(e.to_string()))?;
    let nginx = c.lock().sources.iter().find(|s| s.name == "ingress-nginx").cloned().ok_or_else(|| fail("ingress-nginx not recorded"))?;
    let blob = c.blob_path(&nginx.digest);
    let mut bytes = std::fs::read(&blob).map_err(|e| fail(format!("{}: {e}", blob.display())))?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&blob, bytes).map_err(|e| fail(e.to_string()))?;
    up_fails_naming(
        "workshop-corrupt",
        &common::fixtures().join("gitops-linkerd"),
        copy.path(),
        &["HelmRelease ingress-nginx/ingress-nginx", "is corrupt"],
        400,
    )
}

/// A source the cassette does not hold (recorded from the repository without linkerd-smi and its
/// HelmRepository): the gateway refuses the host, and `up` fails naming the HelmRelease, with the
/// gateway's refusal and how to record it.
fn source_missing_from_the_cassette_is_named() -> TestResult {
    let without = upstream::variant("infrastructure/linkerd/kustomization.yaml", "  - linkerd-smi.yaml\n", "").map_err(fail)?;
    let repos = without.path().join("infrastructure/linkerd/repositories.yaml");
    let text = std::fs::read_to_string(&repos).map_err(|e| fail(e.to_string()))?;
    let smi = "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: linkerd-smi\n";
    let at = text.find(smi).ok_or_else(|| fail(format!("no linkerd-smi HelmRepository in {}", repos.display())))?;
    std::fs::write(&repos, &text[..at]).map_err(|e| fail(e.to_string()))?;
    let cassette = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    upstream::record_cassette(without.path(), "clusters/my-cluster", cassette.path()).map_err(fail)?;
    up_fails_naming(
        "workshop-miss",
        &common::fixtures().join("gitops-linkerd"),
        cassette.path(),
        &["HelmRelease linkerd-smi/linkerd-smi", "linkerd.github.io", "refused", "gitops-harness sources record"],
        400,
    )
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let needs_tools: Vec<common::sim::NamedTest> = vec![
        ("workshop::my_cluster_reaches_ready_with_real_charts", my_cluster_reaches_ready_with_real_charts),
        ("workshop::chart_whose_templates_fail_is_named", chart_whose_templates_fail_is_named),
        ("workshop::corrupt_chart_archive_is_named", corrupt_chart_archive_is_named),
        ("workshop::source_missing_from_the_cassette_is_named", source_missing_from_the_cassette_is_named),
    ];
    let trials = common::sim::trials("workshop", vec![], needs_tools);
    libtest_mimic::run(&args, trials).exit_code()
}
