//! `drift::*`: what git declares vs what the cluster runs.

use anyhow::anyhow;
use gitops_harness::scenarios::drift::{self, DriftKind};
use kube::api::{Api, Patch, PatchParams};

use crate::lanes::Lane;
use crate::runner::{Need, Scenario};
use crate::scenarios::canary;
use crate::world::{self, World};

/// After a failed canary, git holds the new spec while the primary serves the old one.
pub const AFTER_FAILED_CANARY: Scenario = Scenario {
    name: "drift::after_failed_canary",
    about: "rollback drift is reported after a failed canary",
    involved_namespaces: &["faces", "flux-system"],
    needs: &[Need::Flagger],
    lane: Lane::Canary("face"),
    run: after_failed_canary,
};

/// A field changed in the cluster by hand is reported as edit drift.
pub const MANUAL_EDIT: Scenario = Scenario {
    name: "drift::manual_edit",
    about: "a manual edit of an applied object is reported",
    involved_namespaces: &["faces", "flux-system"],
    needs: &[],
    lane: Lane::Exclusive,
    run: manual_edit,
};

/// Right after the bootstrap nothing has drifted: fields the API server defaults and fields other
/// controllers own are not edits.
pub const NONE_AFTER_BOOTSTRAP: Scenario = Scenario {
    name: "drift::none_after_bootstrap",
    about: "a freshly bootstrapped cluster shows no drift",
    involved_namespaces: &["faces", "flux-system"],
    needs: &[],
    lane: Lane::Exclusive,
    run: none_after_bootstrap,
};

fn none_after_bootstrap(world: &World) -> anyhow::Result<()> {
    let r = report(world)?;
    let drift: Vec<_> = r.items.iter().filter(|i| i.kind.is_drift()).collect();
    if !drift.is_empty() {
        return Err(anyhow!("expected no drift after the bootstrap ({} objects checked), saw:\n{}", r.objects_checked, r.table()));
    }
    if r.objects_checked == 0 {
        return Err(anyhow!("the drift check compared no objects: was the repo rendered?"));
    }
    Ok(())
}

fn report(world: &World) -> anyhow::Result<drift::DriftReport> {
    let served = world.served()?;
    world.block_on(drift::check_cluster(&world.client, served.path(), Some(&world.cluster_dir()))).map_err(|e| anyhow!("{e}"))
}

fn after_failed_canary(world: &World) -> anyhow::Result<()> {
    let before = canary::current_error_fraction(world)?;
    let (_, timeline) = canary::set_face_error_fraction(world, "75")?;
    let result = (|| {
        let last = timeline.last().ok_or_else(|| anyhow!("no canary observations"))?;
        if last.phase != gitops_harness::flagger::canary::Phase::Failed {
            return Err(anyhow!("expected the face canary to fail with ERROR_FRACTION=75, it ended {}:\n{}", last.phase, timeline.table()));
        }
        let r = report(world)?;
        let rollback = r.of_kind(DriftKind::Rollback);
        if !rollback.iter().any(|i| i.object.contains("face")) {
            return Err(anyhow!("expected rollback drift for faces/face (git: ERROR_FRACTION=75, primary: {before}), saw:\n{}", r.table()));
        }
        Ok(())
    })();
    // Put git back so later runs start healthy.
    let restore = canary::restore_face_error_fraction(world, &before);
    result?;
    restore
}

fn manual_edit(world: &World) -> anyhow::Result<()> {
    // Someone flips the faces namespace's Linkerd injection by hand.
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(world.client.clone());
    let patch = serde_json::json!({"metadata": {"annotations": {"linkerd.io/inject": "disabled"}}});
    world.block_on(api.patch(world::FACES_NS, &PatchParams::default(), &Patch::Merge(&patch)))?;
    let result = (|| {
        let r = report(world)?;
        let edits = r.of_kind(DriftKind::Edit);
        if !edits.iter().any(|i| i.object.contains("Namespace") && i.object.contains("faces")) {
            return Err(anyhow!("expected edit drift on Namespace faces (linkerd.io/inject enabled -> disabled), saw:\n{}", r.table()));
        }
        let others: Vec<_> =
            r.items.iter().filter(|i| i.kind.is_drift() && !(i.object.contains("Namespace") && i.object.contains("faces"))).collect();
        if !others.is_empty() {
            return Err(anyhow!("expected only the edit of Namespace faces, the report also has other drift:\n{}", r.table()));
        }
        Ok(())
    })();
    let undo = serde_json::json!({"metadata": {"annotations": {"linkerd.io/inject": "enabled"}}});
    let restore = world.block_on(api.patch(world::FACES_NS, &PatchParams::default(), &Patch::Merge(&undo)));
    result?;
    restore.map(|_| ()).map_err(Into::into)
}
