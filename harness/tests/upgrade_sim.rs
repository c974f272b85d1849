//! `gitops-harness upgrade` on the sim backend, through the CLI (libtest-mimic, `harness =
//! false`), on a fixture history built at run time from `fixtures/gitops-linkerd`. On the
//! workshop's `clusters/my-cluster` with the real upstream charts (recorded into a cassette from
//! `shared/reference/charts`, replayed through the sim's gateway): a revision that bumps an app
//! image (the face canary must be promoted) and Flagger's chart 1.43.0 -> 1.44.0 from the OCI
//! repository (Flagger's Deployment rolls, every other workload keeps its pods), and one whose
//! ingress-nginx value the API server rejects (exit 1 naming the HelmRelease). On `clusters/sim` (nothing to fetch): a
//! broken target (a Deployment the API server rejects) that must give exit 1 naming the failing
//! Kustomization, and an added Canary Flagger cannot initialize.
//!
//! Tests that need the sim tools report themselves ignored with the reason when they are not
//! built; the always-run trials prove what needs no cluster (exit 2 before anything exists).

use gitops_harness_testkit as common;

use std::path::Path;
use std::sync::OnceLock;

use common::sim::{Sandbox, TestResult, fail, text};
use libtest_mimic::{Arguments, Trial};
use serde_json::Value;

use common::git;
use gitops_harness_testkit::upstream;

fn edit(path: &Path, from: &str, to: &str, nth: usize) -> TestResult {
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let at = text.match_indices(from).nth(nth).map(|(i, _)| i).ok_or_else(|| fail(format!("{from:?} not in {}", path.display())))?;
    let new = format!("{}{}{}", &text[..at], to, &text[at + from.len()..]);
    std::fs::write(path, new).map_err(|e| fail(e.to_string()))
}

/// The fixture history: tags `base` (Flagger's chart pinned at 1.43.0), `good` (face image bump +
/// Flagger chart 1.44.0), `rejected` (an ingress-nginx value the API server rejects), `broken`
/// and `ghost` (adds a Canary Flagger cannot initialize).
fn history() -> Result<tempfile::TempDir, libtest_mimic::Failed> {
    let dir = tempfile::Builder::new().prefix("gh-upgrade-repo-").tempdir().map_err(|e| fail(e.to_string()))?;
    let repo = dir.path();
    gitops_harness::git::working_copy::copy_tree(&common::fixtures().join("gitops-linkerd"), repo).map_err(|e| fail(e.to_string()))?;
    let flagger = repo.join("infrastructure/flagger/release.yaml");
    edit(&flagger, "version: \"1.x\"", "version: \"1.43.0\"", 0)?;
    git(repo, &["init", "-q", "-b", "main"])?;
    git(repo, &["add", "-A"])?;
    git(repo, &["commit", "-q", "-m", "base"])?;
    git(repo, &["tag", "base"])?;
    // The face Deployment is the first of three with this image.
    edit(&repo.join("apps/faces/faces.yaml"), "faces-service:0.8.0", "faces-service:0.8.1", 0)?;
    git(repo, &["commit", "-q", "-am", "faces: face 0.8.1"])?;
    edit(&flagger, "version: \"1.43.0\"", "version: \"1.44.0\"", 0)?;
    git(repo, &["commit", "-q", "-am", "flagger: chart 1.44.0"])?;
    git(repo, &["tag", "good"])?;
    git(repo, &["checkout", "-q", "-b", "rejected-branch", "base"])?;
    let nginx = repo.join("infrastructure/ingress-nginx/release.yaml");
    edit(&nginx, "    controller:\n", "    controller:\n      replicaCount: -1\n", 0)?;
    git(repo, &["commit", "-q", "-am", "ingress-nginx: a replica count the API server rejects"])?;
    git(repo, &["tag", "rejected"])?;
    git(repo, &["checkout", "-q", "-b", "broken-branch", "base"])?;
    std::fs::write(
        repo.join("apps/faces/extra.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: face-extra\nspec:\n  replicas: -1\n  selector:\n    matchLabels:\n      service: face-extra\n  template:\n    metadata:\n      labels:\n        service: face-extra\n    spec:\n      containers:\n      - name: face\n        image: dwflynn/faces-service:0.8.0\n",
    )
    .map_err(|e| fail(e.to_string()))?;
    edit(&repo.join("apps/faces/kustomization.yaml"), "  - faces-abtest.yaml", "  - faces-abtest.yaml\n  - extra.yaml", 0)?;
    git(repo, &["add", "-A"])?;
    git(repo, &["commit", "-q", "-m", "faces: an extra Deployment the API server rejects"])?;
    git(repo, &["tag", "broken"])?;
    git(repo, &["checkout", "-q", "-b", "ghost-branch", "base"])?;
    std::fs::write(
        repo.join("apps/faces/ghost-canary.yaml"),
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: ghost\n  namespace: faces\nspec:\n  targetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: ghost\n  service:\n    port: 80\n  analysis:\n    interval: 10s\n    threshold: 3\n    maxWeight: 50\n    stepWeight: 10\n",
    )
    .map_err(|e| fail(e.to_string()))?;
    edit(&repo.join("apps/faces/kustomization.yaml"), "  - faces-abtest.yaml", "  - faces-abtest.yaml\n  - ghost-canary.yaml", 0)?;
    git(repo, &["add", "-A"])?;
    git(repo, &["commit", "-q", "-m", "faces: a Canary whose target does not exist"])?;
    git(repo, &["tag", "ghost"])?;
    git(repo, &["checkout", "-q", "main"])?;
    Ok(dir)
}

fn report(sb: &Sandbox) -> Result<Value, libtest_mimic::Failed> {
    let path = sb.home.path().join("artifacts").join(format!("upgrade-{}", sb.name)).join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| fail(e.to_string()))
}

fn assertion<'a>(report: &'a Value, id: &str) -> Result<&'a Value, libtest_mimic::Failed> {
    report["assertions"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == id))
        .ok_or_else(|| fail(format!("no assertion {id} in the report:\n{report:#}")))
}

/// `upgrade --from base --to <to>` on sim in the sandbox (environment named after it).
/// The workshop cassette: the real charts of every revision of [`history`] (Flagger's at 1.43.0
/// and 1.44.0), recorded once for the trials of this binary.
fn cassette() -> Result<&'static Path, libtest_mimic::Failed> {
    static CASSETTE: OnceLock<Result<tempfile::TempDir, String>> = OnceLock::new();
    let dir = CASSETTE.get_or_init(|| {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let pinned = upstream::variant("infrastructure/flagger/release.yaml", "\"1.x\"", "\"1.43.0\"")?;
        let workshop = common::fixtures().join("gitops-linkerd");
        upstream::record_cassettes(&[(&workshop, "clusters/my-cluster"), (pinned.path(), "clusters/my-cluster")], dir.path())?;
        Ok(dir)
    });
    dir.as_ref().map(|d| d.path()).map_err(|e| fail(e.clone()))
}

/// `upgrade` of `clusters/my-cluster` with its real charts replayed from [`cassette`].
fn upgrade_workshop(sb: &Sandbox, repo: &Path, to: &str) -> Result<(std::process::Output, String), libtest_mimic::Failed> {
    let cassette = cassette()?.display().to_string();
    Ok(upgrade_on_sim(sb, repo, to, &["--cluster-dir", "clusters/my-cluster", "--cassette", &cassette]))
}

/// `upgrade` base -> `to` on the sim backend, with `extra` arguments (default cluster directory:
/// `clusters/sim`, which needs nothing fetched).
fn upgrade_on_sim(sb: &Sandbox, repo: &Path, to: &str, extra: &[&str]) -> (std::process::Output, String) {
    let r = repo.display().to_string();
    let mut args = vec!["upgrade", "--backend", "sim", "--repo", &r, "--from", "base", "--to", to, "--name", &sb.name];
    if extra.is_empty() {
        args.extend(["--cluster-dir", "clusters/sim"]);
    }
    args.extend(extra);
    let out = sb.run(&args);
    let t = text(&out);
    (out, t)
}

fn environment_removed(sb: &Sandbox, out: &str) -> TestResult {
    if sb.state().exists() {
        return Err(fail(format!("the environment's state is left in {}:\n{out}", sb.state().display())));
    }
    let left = sb.processes_left();
    if !left.is_empty() {
        return Err(fail(format!("processes of the environment left running: {left:?}\n{out}")));
    }
    Ok(())
}

/// base -> good: the plan converges at the target, the face canary is promoted with the new
/// image, Flagger's Deployment is rolled by its chart, everything else keeps its pods, no drift.
fn image_and_infrastructure_bump_passes() -> TestResult {
    let repo = history()?;
    let sb = Sandbox::new("upgrade-pass");
    let (out, t) = upgrade_workshop(&sb, repo.path(), "good")?;
    if out.status.code() != Some(0) {
        return Err(fail(format!("expected exit 0 (no regression), got {:?}:\n{t}", out.status.code())));
    }
    let rep = report(&sb)?;
    for id in ["ready-at-target", "pods-kept", "canaries", "no-drift", "api-versions", "availability"] {
        let a = assertion(&rep, id)?;
        if a["status"] != "pass" {
            return Err(fail(format!("{id}: expected pass, got {a:#}")));
        }
    }
    let face = rep["canaries"].as_array().and_then(|c| c.iter().find(|c| c["canary"] == "faces/face")).cloned().unwrap_or(Value::Null);
    if face["triggered"] != true || face["phase"] != "Succeeded" {
        return Err(fail(format!("the face canary must be triggered and Succeeded: {face:#}")));
    }
    let untouched: Vec<&Value> =
        rep["canaries"].as_array().into_iter().flatten().filter(|c| c["canary"] != "faces/face" && c["triggered"] == true).collect();
    if !untouched.is_empty() {
        return Err(fail(format!("canaries the diff did not touch were triggered: {untouched:?}")));
    }
    let touched: Vec<&str> = rep["workloads"]["touched"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for w in ["Deployment faces/face-primary", "Deployment flagger-system/flagger"] {
        if !touched.contains(&w) {
            return Err(fail(format!("{w} must be reported as rolled on purpose; touched: {touched:?}")));
        }
    }
    // Flagger's chart bump replaces its pod: sim restarts the host process from the new Deployment.
    if !t.contains("Deployment flagger-system/flagger changed: flagger restarted from it") {
        return Err(fail(format!("the Flagger chart bump must restart Flagger from its new Deployment:\n{t}")));
    }
    let versions = rep["versions"].to_string();
    if !versions.contains("faces-service:0.8.1") || !versions.contains("1.43.0") || !versions.contains("1.44.0") {
        return Err(fail(format!("the versions table must show the new images: {versions}")));
    }
    let dir = sb.home.path().join("artifacts/upgrade-upgrade-pass");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).map_err(|e| fail(e.to_string()))?;
    if junit.matches("<testcase ").count() != rep["assertions"].as_array().map(Vec::len).unwrap_or(0) || junit.contains("<failure") {
        return Err(fail(format!("junit.xml must have one passing case per assertion:\n{junit}")));
    }
    let md = std::fs::read_to_string(dir.join("report.md")).map_err(|e| fail(e.to_string()))?;
    if !md.contains("no regression") || !md.contains("Time to converge") {
        return Err(fail(format!("report.md lacks the verdict or the convergence table:\n{md}")));
    }
    println!("{md}");
    environment_removed(&sb, &t)
}

/// base -> broken: the apps Kustomization fails at the target; exit 1 names it, with Flux's
/// message, and the cluster's evidence is saved beside the report.
fn broken_target_fails_naming_the_component() -> TestResult {
    let repo = history()?;
    let sb = Sandbox::new("upgrade-broken");
    let (out, t) = upgrade_on_sim(&sb, repo.path(), "broken", &[]);
    if out.status.code() != Some(1) {
        return Err(fail(format!("expected exit 1 (regression), got {:?}:\n{t}", out.status.code())));
    }
    let rep = report(&sb)?;
    let ready = assertion(&rep, "ready-at-target")?;
    let summary = ready["summary"].as_str().unwrap_or("");
    if ready["status"] != "fail" || !summary.contains("Kustomization flux-system/apps") || !summary.contains("face-extra") {
        return Err(fail(format!("ready-at-target must fail naming Kustomization flux-system/apps and Flux's reason: {ready:#}")));
    }
    if !t.contains("regression: ready-at-target") {
        return Err(fail(format!("the CLI must name the regression on stderr:\n{t}")));
    }
    let evidence = sb.home.path().join("artifacts/upgrade-upgrade-broken/cluster");
    if !evidence.is_dir() {
        return Err(fail(format!("no cluster artifacts in {}", evidence.display())));
    }
    environment_removed(&sb, &t)
}

/// base -> rejected: an ingress-nginx value the real chart renders into a Deployment the API
/// server rejects (`replicas: -1`). The upgrade fails (exit 1) naming the HelmRelease with
/// helm-controller's message, which carries the API server's words.
fn infrastructure_value_the_api_rejects_fails_naming_the_release() -> TestResult {
    let repo = history()?;
    let sb = Sandbox::new("upgrade-rejected");
    let started = std::time::Instant::now();
    let (out, t) = upgrade_workshop(&sb, repo.path(), "rejected")?;
    let secs = started.elapsed().as_secs();
    if out.status.code() != Some(1) || !t.contains("HelmRelease ingress-nginx/ingress-nginx") || !t.contains("spec.replicas") {
        return Err(fail(format!(
            "a value the API server rejects must fail (exit 1) naming the HelmRelease with helm-controller's message, got {:?}:\n{t}",
            out.status.code()
        )));
    }
    println!("upgrade to an ingress-nginx value the API server rejects: verdict in {secs}s");
    environment_removed(&sb, &t)
}

/// A revision that does not exist: exit 2 before anything is created.
fn unknown_revision_is_exit_2() -> TestResult {
    let repo = history()?;
    let sb = Sandbox::new("upgrade-norev");
    let r = repo.path().display().to_string();
    let out = sb.run(&["upgrade", "--backend", "sim", "--repo", &r, "--from", "base", "--to", "no-such-tag", "--name", "upgrade-norev"]);
    let t = text(&out);
    if out.status.code() != Some(2) || !t.contains("no-such-tag") || !t.contains("could not be rehearsed") {
        return Err(fail(format!("expected exit 2 naming the revision, got {:?}:\n{t}", out.status.code())));
    }
    if sb.state().exists() {
        return Err(fail("a state directory was created although nothing could run"));
    }
    let not_git = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let out = sb.run(&["upgrade", "--backend", "sim", "--repo", &not_git.path().display().to_string(), "--from", "a", "--to", "b"]);
    if out.status.code() != Some(2) || !text(&out).contains("not a git repository") {
        return Err(fail(format!("expected exit 2 for a non-git repo, got {:?}:\n{}", out.status.code(), text(&out))));
    }
    Ok(())
}

/// base -> ghost: the upgrade adds a Canary whose target does not exist. The plan converges
/// (the Kustomization applies it), but Flagger never initializes it: the canaries assertion
/// fails naming the added Canary with Flagger's words, well before the canary timeout.
fn added_canary_flagger_cannot_initialize_is_a_regression() -> TestResult {
    let repo = history()?;
    let sb = Sandbox::new("upgrade-ghost");
    let started = std::time::Instant::now();
    let (out, t) = upgrade_on_sim(&sb, repo.path(), "ghost", &[]);
    let secs = started.elapsed().as_secs();
    if out.status.code() != Some(1) {
        return Err(fail(format!("expected exit 1 (regression), got {:?}:\n{t}", out.status.code())));
    }
    let rep = report(&sb)?;
    let canaries = assertion(&rep, "canaries")?;
    let summary = canaries["summary"].as_str().unwrap_or("");
    if canaries["status"] != "fail" || !summary.contains("faces/ghost (added)") || !summary.contains("deployments.apps \"ghost\" not found")
    {
        return Err(fail(format!("canaries must fail naming the added Canary with Flagger's words: {canaries:#}")));
    }
    let ghost = rep["canaries"].as_array().into_iter().flatten().find(|c| c["canary"] == "faces/ghost");
    if ghost.is_none_or(|g| g["change"] != "added" || g["passed"] != false) {
        return Err(fail(format!("the report must list faces/ghost as added and not passed: {:#}", rep["canaries"])));
    }
    println!("upgrade to a broken added Canary: verdict in {secs}s");
    environment_removed(&sb, &t)
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let always = vec![Trial::test("upgrade::unknown_revision_is_exit_2", unknown_revision_is_exit_2)];
    let needs_tools: Vec<common::sim::NamedTest> = vec![
        ("upgrade::image_and_infrastructure_bump_passes", image_and_infrastructure_bump_passes),
        ("upgrade::broken_target_fails_naming_the_component", broken_target_fails_naming_the_component),
        (
            "upgrade::infrastructure_value_the_api_rejects_fails_naming_the_release",
            infrastructure_value_the_api_rejects_fails_naming_the_release,
        ),
        ("upgrade::added_canary_flagger_cannot_initialize_is_a_regression", added_canary_flagger_cannot_initialize_is_a_regression),
    ];
    libtest_mimic::run(&args, common::sim::trials("upgrade", always, needs_tools)).exit_code()
}
