//! `canary::*`: Flagger canaries of the Faces backends, driven through git as the workshop does
//! (DEMO.md: `ERROR_FRACTION` 75 fails the rollout, 20 passes it).

use anyhow::anyhow;
use gitops_harness::flagger::canary::Timeline;
use gitops_harness::flagger::canary::assert::{CanaryExpectation, RollbackExpectation, assert_fails_and_rolls_back, assert_promotes};
use gitops_harness::flagger::canary::live::{ObserveRequest, change_and_observe};
use gitops_harness::scenarios::gitops_change::{Change, Committed, Edit};
use gitops_harness::scenarios::yaml_edit::{DocSelector, YamlEditor};

use crate::lanes::Lane;
use crate::runner::{Need, Scenario};
use crate::world::{self, World};

/// Setting `ERROR_FRACTION` to 20 on `face` promotes the canary.
pub const FACE_PROMOTES: Scenario = Scenario {
    name: "canary::face_promotes",
    about: "a healthy change to face is promoted step by step",
    involved_namespaces: &["faces", "flagger-system", "flux-system"],
    needs: &[Need::Flagger],
    lane: Lane::Canary("face"),
    run: face_promotes,
};

/// Setting `ERROR_FRACTION` to 75 on `face` fails the canary and rolls back.
pub const FACE_FAILS_AND_ROLLS_BACK: Scenario = Scenario {
    name: "canary::face_fails_and_rolls_back",
    about: "a failing change to face is rolled back, primary keeps the old spec",
    involved_namespaces: &["faces", "flagger-system", "flux-system"],
    needs: &[Need::Flagger],
    lane: Lane::Canary("face"),
    run: face_fails_and_rolls_back,
};

/// Put `ERROR_FRACTION=value` back in git after a failed rollout and wait until Flux applied it.
/// No rollout follows: the restored spec is what the primary already runs (Flagger's last
/// promoted spec), so Flagger has nothing to analyse, on sim as on a real cluster.
pub fn restore_face_error_fraction(world: &World, value: &str) -> anyhow::Result<()> {
    let served = world.served()?;
    let change = Change {
        edits: vec![Edit::deployment_env(world::faces_file().to_path_buf(), "face", "face", "ERROR_FRACTION", value)],
        message: format!("suites: restore face ERROR_FRACTION={value}"),
    };
    world
        .block_on(gitops_harness::scenarios::gitops_change::drive(
            &world.client,
            &served,
            &change,
            &world.apps_kustomization(),
            world::APPLY_DEADLINE,
        ))
        .map(|_| ())
        .map_err(|e| anyhow!("{e}"))
}

/// An image tag changed in git (a one-line diff) drives the canary to promotion, and the primary
/// then runs the new tag.
pub const IMAGE_BUMP: Scenario = Scenario {
    name: "canary::image_bump",
    about: "an image bump in git is promoted and the primary runs the new tag",
    involved_namespaces: &["faces", "flagger-system", "flux-system"],
    needs: &[Need::Flagger],
    lane: Lane::Canary("smiley"),
    run: image_bump,
};

/// The image bump runs on smiley, so it shares the cluster with the face scenarios (its own lane).
const IMAGE_BUMP_TARGET: &str = "smiley";

fn image_bump(world: &World) -> anyhow::Result<()> {
    use gitops_harness::scenarios::yaml_edit::ContainerSel;
    let served = world.served()?;
    let ed = YamlEditor::open(served.path(), world::faces_file()).map_err(|e| anyhow!("{e}"))?;
    let image = ed
        .get(
            &DocSelector::object("Deployment", IMAGE_BUMP_TARGET),
            &format!("spec.template.spec.containers[name={IMAGE_BUMP_TARGET}].image"),
        )
        .map_err(|e| anyhow!("{e}"))?
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or_else(|| {
            anyhow!("Deployment {IMAGE_BUMP_TARGET} in {} has no image for container {IMAGE_BUMP_TARGET}", world::faces_file().display())
        })?;
    let (repo, tag) = image.rsplit_once(':').ok_or_else(|| anyhow!("image {image} has no tag"))?;
    // Alternate between two tags so every run is a change (sim pulls no image).
    let new_tag = if tag == "0.8.1" { "0.8.0" } else { "0.8.1" };
    let change = Change {
        edits: vec![gitops_harness::scenarios::gitops_change::Edit::ImageTag {
            file: world::faces_file().to_path_buf(),
            doc: DocSelector::object("Deployment", IMAGE_BUMP_TARGET),
            container: ContainerSel::Name(IMAGE_BUMP_TARGET.into()),
            tag: new_tag.into(),
        }],
        message: format!("suites: {IMAGE_BUMP_TARGET} image {repo}:{new_tag}"),
    };
    let canary = world.get("Canary", world::FACES_NS, IMAGE_BUMP_TARGET)?;
    let observe = ObserveRequest::new(world::FACES_NS, IMAGE_BUMP_TARGET, world::ROLLOUT_DEADLINE);
    let (committed, timeline) = world
        .block_on(change_and_observe(&world.client, &served, &change, &world.apps_kustomization(), world::APPLY_DEADLINE, &observe))
        .map_err(|e| anyhow!("{e}"))?;
    // Minimal diff: exactly the image line changed.
    let changed: Vec<&str> = committed
        .diff
        .lines()
        .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    if changed.len() != 2 || !changed.iter().all(|l| l.contains("image:")) {
        return Err(anyhow!("expected a one-line diff of the image, the commit changed:\n{}", committed.diff));
    }
    let mut exp = CanaryExpectation::from_canary(&canary);
    exp.new_image = Some(format!("{repo}:{new_tag}"));
    assert_promotes(&timeline, &exp).map_err(|f| anyhow!("{f}"))?;
    let primary = world.get("Deployment", world::FACES_NS, &format!("{IMAGE_BUMP_TARGET}-primary"))?;
    let running = primary.pointer("/spec/template/spec/containers/0/image").and_then(|v| v.as_str()).unwrap_or("");
    if running != format!("{repo}:{new_tag}") {
        return Err(anyhow!(
            "expected {IMAGE_BUMP_TARGET}-primary to run {repo}:{new_tag} after promotion, it runs {running}:\n{}",
            timeline.table()
        ));
    }
    Ok(())
}

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

/// ERROR_FRACTION the live primary runs (what serves traffic), not what git declares.
pub fn primary_error_fraction(world: &World) -> anyhow::Result<String> {
    let primary = world.get("Deployment", world::FACES_NS, "face-primary")?;
    let envs = primary.pointer("/spec/template/spec/containers/0/env").and_then(|e| e.as_array()).cloned().unwrap_or_default();
    Ok(envs
        .iter()
        .find(|e| e.get("name").and_then(|n| n.as_str()) == Some("ERROR_FRACTION"))
        .and_then(|e| e.get("value").and_then(|v| v.as_str()))
        .unwrap_or("")
        .to_string())
}

/// Flagger's events about canary `name` (newest last), as `reason: message`.
pub fn flagger_events(world: &World, name: &str) -> anyhow::Result<Vec<String>> {
    let events = world.block_on(gitops_harness::flagger::canary::live::canary_events(&world.client, world::FACES_NS, name))?;
    Ok(events.into_iter().map(|e| format!("{}: {}", e.reason.unwrap_or_default(), e.message.unwrap_or_default())).collect())
}

fn face_fails_and_rolls_back(world: &World) -> anyhow::Result<()> {
    let in_git = current_error_fraction(world)?;
    let serving = primary_error_fraction(world)?;
    let canary = world.get("Canary", world::FACES_NS, "face")?;
    let (_, timeline) = set_face_error_fraction(world, "75")?;
    let mut exp = RollbackExpectation::from_canary(&canary);
    // The old version is what the primary served before the change.
    exp.old_env = Some(("ERROR_FRACTION".into(), serving.clone()));
    let verdict = assert_fails_and_rolls_back(&timeline, &exp).map_err(|f| anyhow!("{f}")).and_then(|()| {
        // The model broken on purpose: expecting a promotion of this failed rollout must fail,
        // saying what was expected and seen, with the timeline.
        match assert_promotes(&timeline, &CanaryExpectation::from_canary(&canary)) {
            Ok(()) => return Err(anyhow!("assert_promotes accepted a rollout that failed:\n{}", timeline.table())),
            Err(f) => {
                let text = f.to_string();
                if !(text.contains("expected") && text.contains("Failed") && text.contains(&timeline.table())) {
                    return Err(anyhow!("assert_promotes rejected the failed rollout without expected/seen and the timeline:\n{text}"));
                }
            }
        }
        // Why Flagger halted, in its own words.
        let events = flagger_events(world, "face")?;
        match events.iter().rev().find(|e| e.contains("Rolling back") || e.contains("Halt")) {
            Some(reason) => {
                println!("Flagger halted the rollout: {reason}");
                Ok(())
            }
            None => Err(anyhow!("the canary failed but Flagger's events give no halt reason; events:\n  {}", events.join("\n  "))),
        }
    });
    // Leave git as it was for the next scenario (drift::after_failed_canary makes its own failure).
    let restore = restore_face_error_fraction(world, &in_git);
    verdict?;
    restore
}
