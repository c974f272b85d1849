//! `canary::*`: Flagger canaries of the Faces backends, driven through git as the workshop does
//! (DEMO.md: `ERROR_FRACTION` 75 fails the rollout, 20 passes it).

use anyhow::anyhow;
use gitops_harness::canary::Timeline;
use gitops_harness::canary::assert::{CanaryExpectation, RollbackExpectation, assert_fails_and_rolls_back, assert_promotes};
use gitops_harness::canary::live::{ObserveRequest, change_and_observe};
use gitops_harness::gitops_change::{Change, Committed, Edit};
use gitops_harness::yaml_edit::{DocSelector, YamlEditor};

use crate::runner::{Need, Scenario};
use crate::world::{self, World};

/// Setting `ERROR_FRACTION` to 20 on `face` promotes the canary.
pub const FACE_PROMOTES: Scenario = Scenario {
    name: "canary::face_promotes",
    about: "a healthy change to face is promoted step by step",
    involved_namespaces: &["faces", "flagger-system", "flux-system"],
    needs: &[Need::Flagger],
    run: face_promotes,
};

/// Setting `ERROR_FRACTION` to 75 on `face` fails the canary and rolls back.
pub const FACE_FAILS_AND_ROLLS_BACK: Scenario = Scenario {
    name: "canary::face_fails_and_rolls_back",
    about: "a failing change to face is rolled back, primary keeps the old spec",
    involved_namespaces: &["faces", "flagger-system", "flux-system"],
    needs: &[Need::Flagger],
    run: face_fails_and_rolls_back,
};

/// `face`'s current ERROR_FRACTION in the served repo.
pub fn current_error_fraction(world: &World) -> anyhow::Result<String> {
    let served = world.served()?;
    let ed = YamlEditor::open(served.path(), world::faces_file()).map_err(|e| anyhow!("{e}"))?;
    let v = ed
        .get(&DocSelector::object("Deployment", "face"), "spec.template.spec.containers[name=face].env[name=ERROR_FRACTION].value")
        .map_err(|e| anyhow!("{e}"))?;
    Ok(v.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
}

/// Commit `ERROR_FRACTION=value` on `face`, reconcile, and observe the rollout.
pub fn set_face_error_fraction(world: &World, value: &str) -> anyhow::Result<(Committed, Timeline)> {
    let served = world.served()?;
    let change = Change {
        edits: vec![Edit::deployment_env(world::faces_file().to_path_buf(), "face", "face", "ERROR_FRACTION", value)],
        message: format!("suites: face ERROR_FRACTION={value}"),
    };
    let observe = ObserveRequest::new(world::FACES_NS, "face", world::ROLLOUT_DEADLINE);
    world
        .block_on(change_and_observe(&world.client, &served, &change, &world.apps_kustomization(), world::APPLY_DEADLINE, &observe))
        .map_err(|e| anyhow!("{e}"))
}

fn face_promotes(world: &World) -> anyhow::Result<()> {
    // 20% errors pass the 70% success-rate check; pick a value that differs from now so the
    // commit changes the pod template and starts a rollout.
    let value = if current_error_fraction(world)? == "20" { "19" } else { "20" };
    let canary = world.get("Canary", world::FACES_NS, "face")?;
    let (_, timeline) = set_face_error_fraction(world, value)?;
    let mut exp = CanaryExpectation::from_canary(&canary);
    exp.new_env = Some(("ERROR_FRACTION".into(), value.into()));
    assert_promotes(&timeline, &exp).map_err(|f| anyhow!("{f}"))
}

fn face_fails_and_rolls_back(world: &World) -> anyhow::Result<()> {
    let before = current_error_fraction(world)?;
    let canary = world.get("Canary", world::FACES_NS, "face")?;
    let (_, timeline) = set_face_error_fraction(world, "75")?;
    let mut exp = RollbackExpectation::from_canary(&canary);
    exp.old_env = Some(("ERROR_FRACTION".into(), before.clone()));
    let verdict = assert_fails_and_rolls_back(&timeline, &exp).map_err(|f| anyhow!("{f}"));
    // Leave git healthy for the next scenario (drift::after_failed_canary makes its own failure).
    let restore = set_face_error_fraction(world, &before);
    verdict?;
    restore.map(|_| ())
}
