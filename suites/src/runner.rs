//! Turning scenarios into libtest-mimic trials: runtime ignore with a reason, artifacts on failure,
//! JUnit output.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

pub use crate::availability::Need;
use crate::availability::{self, Availability};
use crate::junit::{Recorder, Verdict};
use crate::world::World;

/// One end-to-end scenario.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// Test name, `group::name` (stable: nextest filters and `--exact` use it).
    pub name: &'static str,
    /// What it proves, one line.
    pub about: &'static str,
    /// Objects whose state, events and logs are saved when the scenario fails (`ns/name`).
    pub involved_namespaces: &'static [&'static str],
    /// What it needs beyond a bootstrapped cluster.
    pub needs: &'static [Need],
    /// With which other scenarios it may share the cluster at the same time.
    pub lane: crate::lanes::Lane,
    /// The scenario body.
    pub run: fn(&World) -> anyhow::Result<()>,
}

/// Why `scenario` cannot run on the cluster found, if it cannot (a missing capability).
pub fn unmet_need(scenario: &Scenario, found: &Availability) -> Option<String> {
    let Availability::Available(plan) = found else { return None };
    scenario.needs.iter().find(|n| !plan.capabilities.has(**n)).map(|n| n.missing_reason(&plan.capabilities.backend))
}

/// Directory that receives JUnit files and per-test artifacts (`$GITOPS_HARNESS_ARTIFACTS`, else
/// `<workspace>/artifacts`).
pub fn artifacts_root() -> PathBuf {
    match std::env::var_os("GITOPS_HARNESS_ARTIFACTS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts"),
    }
}

/// File-system-safe directory name for a test.
pub fn artifact_dir_for(test: &str) -> PathBuf {
    artifacts_root().join("scenarios").join(test.replace("::", "__"))
}

/// Build the trials for `scenarios` given what [`availability`] found.
pub fn trials(scenarios: &[Scenario], found: &Availability, recorder: &'static Recorder) -> Vec<Trial> {
    scenarios
        .iter()
        .map(|s| {
            let scenario = *s;
            let found = found.clone();
            let ignored = (found.reason().is_some() && !found.required()) || unmet_need(&scenario, &found).is_some();
            Trial::test(scenario.name, move || run_one(scenario, &found, recorder)).with_ignored_flag(ignored)
        })
        .collect()
}

fn run_one(scenario: Scenario, found: &Availability, recorder: &Recorder) -> Result<(), Failed> {
    let started = Instant::now();
    let plan = match found {
        Availability::Available(plan) => plan.clone(),
        Availability::Unavailable { reason, .. } => {
            // Reached only when the user forced ignored tests to run, or GITOPS_HARNESS_E2E=1:
            // a missing cluster is then a failure, never a pass.
            let msg = format!("{}: cannot run: {reason}", scenario.name);
            recorder.record(scenario.name, Verdict::Failed(msg.clone()), started.elapsed());
            return Err(msg.into());
        }
    };
    if let Some(why) = unmet_need(&scenario, found) {
        // Reached only when ignored trials are forced to run: never a pass.
        let msg = format!("{}: cannot run: {why}", scenario.name);
        recorder.record(scenario.name, Verdict::Failed(msg.clone()), started.elapsed());
        return Err(msg.into());
    }
    let artifacts = artifact_dir_for(scenario.name);
    // Held until the scenario's verdict (and its artifacts): other lanes of the cluster run meanwhile.
    let lane = crate::lanes::acquire(&plan.name, scenario.lane);
    let result = lane.and_then(|guard| World::connect(&plan, artifacts.clone()).map(|w| (guard, w))).and_then(|(_guard, world)| {
        let outcome = (scenario.run)(&world);
        if let Err(err) = &outcome {
            let saved = world.save_artifacts(scenario.involved_namespaces, &format!("{err:#}"));
            return Err(match saved {
                Ok(dir) => err_with_artifacts(err, &dir),
                Err(save_err) => anyhow::anyhow!("{err:#}\n(saving artifacts also failed: {save_err:#})"),
            });
        }
        outcome
    });
    match result {
        Ok(()) => {
            recorder.record(scenario.name, Verdict::Passed, started.elapsed());
            Ok(())
        }
        Err(err) => {
            let msg = format!("{err:#}");
            recorder.record(scenario.name, Verdict::Failed(msg.clone()), started.elapsed());
            Err(msg.into())
        }
    }
}

fn err_with_artifacts(err: &anyhow::Error, dir: &std::path::Path) -> anyhow::Error {
    anyhow::anyhow!("{err:#}\nartifacts (events, logs, objects): {}", dir.display())
}

/// Name of the always-run trial that reports whether scenarios can run, and why not.
pub const AVAILABILITY_TRIAL: &str = "suite::cluster_availability";

/// A trial that always runs and states the cluster verdict on stdout (nextest shows it: see
/// `.config/nextest.toml`), so an ignored scenario's reason is visible in every runner's output.
/// It fails when the run demands a cluster (`GITOPS_HARNESS_E2E=1`) and none answers.
fn availability_trial(scenarios: &[Scenario], found: &Availability) -> Trial {
    let found = found.clone();
    let count = scenarios.len();
    let unmet: Vec<String> = scenarios.iter().filter_map(|s| unmet_need(s, &found).map(|why| format!("{} {why}", s.name))).collect();
    Trial::test(AVAILABILITY_TRIAL, move || match &found {
        Availability::Available(plan) => {
            println!("cluster {} ({}) reachable: {} of {count} scenarios run", plan.name, plan.capabilities.backend, count - unmet.len());
            for u in &unmet {
                println!("  ignored: {u}");
            }
            Ok(())
        }
        Availability::Unavailable { reason, .. } if found.required() => {
            Err(format!("{}=1 demands a cluster, but {reason}", availability::E2E_ENV).into())
        }
        Availability::Unavailable { reason, .. } => {
            println!("{count} cluster scenarios ignored: {reason}");
            Ok(())
        }
    })
}

/// Entry point for a suite binary: detect the cluster, run, write JUnit.
pub fn main(suite: &str, scenarios: &[Scenario]) -> ExitCode {
    let args = Arguments::from_args();
    let plan = availability::plan_from_env();
    // Listing must stay fast: nextest lists before every run.
    let found = availability::detect(plan, Duration::from_secs(3));
    if let Some(reason) = found.reason() {
        let what = if found.required() { "will FAIL" } else { "are ignored" };
        eprintln!("gitops-harness suites: {} cluster scenarios {what}: {reason}", scenarios.len());
    }
    let recorder: &'static Recorder = Box::leak(Box::default());
    let mut all = vec![availability_trial(scenarios, &found)];
    all.extend(trials(scenarios, &found, recorder));
    let conclusion = libtest_mimic::run(&args, all);
    if !args.list && !recorder.is_empty() {
        let dir = artifacts_root().join("junit");
        match recorder.write(&dir, suite) {
            Ok(path) => eprintln!("gitops-harness suites: JUnit written to {}", path.display()),
            Err(e) => eprintln!("gitops-harness suites: could not write JUnit to {}: {e}", dir.display()),
        }
    }
    conclusion.exit_code()
}
