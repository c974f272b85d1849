//! `canary::*`: Flagger canaries of the Faces backends, driven through git.

use crate::runner::Scenario;
use crate::world::World;

/// Setting `ERROR_FRACTION` to 20 on `face` promotes the canary.
pub const FACE_PROMOTES: Scenario = Scenario {
    name: "canary::face_promotes",
    about: "a healthy change to face is promoted step by step",
    involved_namespaces: &["faces", "flagger-system", "flux-system"],
    run: face_promotes,
};

/// Setting `ERROR_FRACTION` to 75 on `face` fails the canary and rolls back.
pub const FACE_FAILS_AND_ROLLS_BACK: Scenario = Scenario {
    name: "canary::face_fails_and_rolls_back",
    about: "a failing change to face is rolled back, primary keeps the old spec",
    involved_namespaces: &["faces", "flagger-system", "flux-system"],
    run: face_fails_and_rolls_back,
};

fn face_promotes(_world: &World) -> anyhow::Result<()> {
    anyhow::bail!("not wired yet")
}

fn face_fails_and_rolls_back(_world: &World) -> anyhow::Result<()> {
    anyhow::bail!("not wired yet")
}
