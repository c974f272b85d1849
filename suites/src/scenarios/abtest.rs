//! `abtest::*`: the faces-gui A/B test routes by header through the ingress (DEMO.md: set
//! `COLOR` on faces-gui; only `x-faces-user: testuser` sees it during the analysis).

use anyhow::anyhow;
use gitops_harness::flagger::abtest::{self, AbRequest, Identify, Marker};
use gitops_harness::flagger::canary::live::{ObserveRequest, header_route_active, observe_until};
use gitops_harness::scenarios::gitops_change::{self, Change, Edit};

use crate::lanes::Lane;
use crate::runner::{Need, Scenario};
use crate::world::{self, World};

/// Requests with `x-faces-user: testuser` reach the canary, others the primary.
pub const FACES_GUI_HEADER_ROUTING: Scenario = Scenario {
    name: "abtest::faces_gui_header_routing",
    about: "during the A/B analysis, the header routes to the canary",
    involved_namespaces: &["faces", "flagger-system", "ingress-nginx"],
    needs: &[Need::Flagger, Need::DataPlane],
    lane: Lane::Canary("faces-gui"),
    run: faces_gui_header_routing,
};

/// During the A/B analysis, the canary Ingress Flagger writes carries the header match (the
/// control-plane half of the A/B test: it runs on sim, with no requests on the wire).
pub const FACES_GUI_HEADER_ROUTE: Scenario = Scenario {
    name: "abtest::faces_gui_header_route",
    about: "during the A/B analysis, Flagger routes the header to the canary",
    involved_namespaces: &["faces", "flagger-system"],
    needs: &[Need::Flagger],
    lane: Lane::Canary("faces-gui"),
    run: faces_gui_header_route,
};

fn start_ab_rollout(world: &World) -> anyhow::Result<(String, ObserveRequest, gitops_harness::flagger::canary::Timeline)> {
    let served = world.served()?;
    let color = format!("lightcyan{}", std::process::id() % 1000);
    let change = Change {
        edits: vec![Edit::deployment_env(world::faces_gui_file().to_path_buf(), "faces-gui", "faces-gui", "COLOR", &color)],
        message: format!("suites: faces-gui COLOR={color}"),
    };
    world
        .block_on(gitops_change::drive(&world.client, &served, &change, &world.apps_kustomization(), world::APPLY_DEADLINE))
        .map_err(|e| anyhow!("{e}"))?;
    // Wait (watching, bounded by our deadline) until the header route is in place: Flagger adds
    // it one analysis tick after the canary turns Progressing. A rollout that ends first returns
    // at once with its timeline.
    let observe = ObserveRequest::new(world::FACES_NS, "faces-gui", world::ROLLOUT_DEADLINE);
    let t = world
        .block_on(observe_until(&world.client, &observe, header_route_active))
        .map_err(|e| anyhow!("waiting for the faces-gui A/B header route: {e}"))?;
    if !header_route_active(&t) {
        return Err(anyhow!(
            "expected Flagger to route `x-faces-user: testuser` to the faces-gui canary during the analysis; the rollout ended ({}) without it:\n{}",
            t.last().map(|r| r.phase.to_string()).unwrap_or_default(),
            t.table()
        ));
    }
    Ok((color, observe, t))
}

fn faces_gui_header_route(world: &World) -> anyhow::Result<()> {
    let (_, observe, t) = start_ab_rollout(world)?;
    let header = t.rows.iter().rev().find_map(|r| r.routed.as_ref().and_then(|x| x.header_match.clone())).unwrap_or_default();
    if !header.contains("x-faces-user") || !header.contains("testuser") {
        return Err(anyhow!("expected the header match x-faces-user=testuser on the canary route, saw {header:?}:\n{}", t.table()));
    }
    // Let the A/B test finish: it must be promoted (the GUI has no errors in the model).
    let done =
        world.block_on(gitops_harness::flagger::canary::live::observe_rollout(&world.client, &observe)).map_err(|e| anyhow!("{e}"))?;
    match done.last().map(|r| r.phase.clone()) {
        Some(gitops_harness::flagger::canary::Phase::Succeeded) => Ok(()),
        other => Err(anyhow!("expected the faces-gui A/B test to be promoted, it ended {other:?}:\n{}", done.table())),
    }
}

fn faces_gui_header_routing(world: &World) -> anyhow::Result<()> {
    let (color, observe, _) = start_ab_rollout(world)?;
    let req = AbRequest::faces_gui(&world.ingress_base()?, "faces.localhost");
    let counts = world.block_on(abtest::run(&req, &Identify::canary_by(Marker::Body(color)))).map_err(|e| anyhow!("{e}"))?;
    abtest::assert_header_routing(&counts).map_err(|f| anyhow!("{f}"))?;
    // Let the A/B test finish so the next scenario starts from a settled canary.
    world.block_on(gitops_harness::flagger::canary::live::observe_rollout(&world.client, &observe)).map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
