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

/// The primary Flagger rolled back, and the field the failed change touched.
const FACE_PRIMARY: &str = "Deployment faces/face-primary";
const FACE_ERROR_FRACTION: &str = "spec.template.spec.containers[name=face].env[name=ERROR_FRACTION].value";

/// What a failed `face` canary leaves: on `face-primary`, exactly one finding, rollback drift of
/// its `face` container's `ERROR_FRACTION` with git's new value and the value the primary kept.
fn expect_face_rollback(r: &drift::DriftReport, git: &str, primary: &str) -> anyhow::Result<()> {
    let on_primary: Vec<_> = r.items.iter().filter(|i| i.object == FACE_PRIMARY).collect();
    let exact = |i: &&drift::DriftItem| {
        i.kind == DriftKind::Rollback
            && i.field.as_deref() == Some(FACE_ERROR_FRACTION)
            && i.git.as_deref() == Some(git)
            && i.live.as_deref() == Some(primary)
    };
    if on_primary.len() != 1 || !on_primary.iter().all(exact) {
        return Err(anyhow!(
            "expected exactly one finding on {FACE_PRIMARY}: rollback of {FACE_ERROR_FRACTION} (git {git}, primary {primary}); saw {} finding(s) on it:\n{}",
            on_primary.len(),
            r.table()
        ));
    }
    Ok(())
}

fn after_failed_canary(world: &World) -> anyhow::Result<()> {
    let before = canary::current_error_fraction(world)?;
    let primary_before = canary::primary_error_fraction(world)?;
    let (_, timeline) = canary::set_face_error_fraction(world, "75")?;
    let result = (|| {
        let last = timeline.last().ok_or_else(|| anyhow!("no canary observations"))?;
        if last.phase != gitops_harness::flagger::canary::Phase::Failed {
            return Err(anyhow!("expected the face canary to fail with ERROR_FRACTION=75, it ended {}:\n{}", last.phase, timeline.table()));
        }
        expect_face_rollback(&report(world)?, "75", &primary_before)
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

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_harness::scenarios::drift::{DriftItem, DriftReport};

    fn item(kind: DriftKind, object: &str, field: &str, git: &str, live: &str) -> DriftItem {
        DriftItem {
            kind,
            object: object.into(),
            field: Some(field.into()),
            git: Some(git.into()),
            live: Some(live.into()),
            message: String::new(),
        }
    }

    #[test]
    fn only_the_exact_rollback_of_face_primary_passes() {
        let good = item(DriftKind::Rollback, FACE_PRIMARY, FACE_ERROR_FRACTION, "75", "0");
        let report = |items: Vec<DriftItem>| DriftReport { items, objects_checked: 10, kustomizations_checked: 2 };
        assert!(expect_face_rollback(&report(vec![good.clone()]), "75", "0").is_ok());
        // Each of these contains "face" and would have passed a name-substring check.
        let wrong = [
            item(DriftKind::Rollback, "Deployment faces/faces-gui-primary", FACE_ERROR_FRACTION, "75", "0"),
            item(DriftKind::Rollback, FACE_PRIMARY, "spec.template.spec.containers[name=face].image", "75", "0"),
            item(DriftKind::Rollback, FACE_PRIMARY, FACE_ERROR_FRACTION, "75", "75"),
            item(DriftKind::Edit, FACE_PRIMARY, FACE_ERROR_FRACTION, "75", "0"),
        ];
        for w in wrong {
            let err = expect_face_rollback(&report(vec![w.clone()]), "75", "0").unwrap_err().to_string();
            assert!(err.contains(FACE_PRIMARY) && err.contains(FACE_ERROR_FRACTION), "{err}");
        }
        // A second finding on the primary is more than the failed change explains.
        let extra = item(DriftKind::Rollback, FACE_PRIMARY, "spec.template.spec.containers[name=face].image", "b", "a");
        assert!(expect_face_rollback(&report(vec![good, extra]), "75", "0").is_err());
    }
}
