//! `drift::*`: what git declares vs what the cluster runs.

use crate::runner::Scenario;
use crate::world::World;

/// After a failed canary, git holds the new spec while the primary serves the old one.
pub const AFTER_FAILED_CANARY: Scenario = Scenario {
    name: "drift::after_failed_canary",
    about: "rollback drift is reported after a failed canary",
    involved_namespaces: &["faces", "flux-system"],
    run: after_failed_canary,
};

/// A field changed in the cluster by hand is reported as edit drift.
pub const MANUAL_EDIT: Scenario = Scenario {
    name: "drift::manual_edit",
    about: "a manual edit of an applied object is reported",
    involved_namespaces: &["faces", "flux-system"],
    run: manual_edit,
};

fn after_failed_canary(_world: &World) -> anyhow::Result<()> {
    anyhow::bail!("not wired yet")
}

fn manual_edit(_world: &World) -> anyhow::Result<()> {
    anyhow::bail!("not wired yet")
}
