//! `abtest::*`: the faces-gui A/B test routes by header through the ingress (DEMO.md: set
//! `COLOR` on faces-gui; only `x-faces-user: testuser` sees it during the analysis).

use anyhow::anyhow;
use gitops_harness::abtest::{self, AbRequest, Identify, Marker};
use gitops_harness::canary::live::{ObserveRequest, header_route_active, observe_until};
use gitops_harness::gitops_change::{self, Change, Edit};

use crate::runner::{Need, Scenario};
use crate::world::{self, World};

/// Requests with `x-faces-user: testuser` reach the canary, others the primary.
pub const FACES_GUI_HEADER_ROUTING: Scenario = Scenario {
    name: "abtest::faces_gui_header_routing",
    about: "during the A/B analysis, the header routes to the canary",
    involved_namespaces: &["faces", "flagger-system", "ingress-nginx"],
    needs: &[Need::Flagger, Need::DataPlane],
    run: faces_gui_header_routing,
};

fn faces_gui_header_routing(world: &World) -> anyhow::Result<()> {
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
    // it one analysis tick after the canary turns Progressing.
    let observe = ObserveRequest::new(world::FACES_NS, "faces-gui", world::ROLLOUT_DEADLINE);
    world
        .block_on(observe_until(&world.client, &observe, header_route_active))
        .map_err(|e| anyhow!("waiting for the faces-gui A/B header route: {e}"))?;
    let req = AbRequest::faces_gui(&world.ingress_base()?, "faces.localhost");
    let counts = world.block_on(abtest::run(&req, &Identify::canary_by(Marker::Body(color)))).map_err(|e| anyhow!("{e}"))?;
    abtest::assert_header_routing(&counts).map_err(|f| anyhow!("{f}"))?;
    // Let the A/B test finish so the next scenario starts from a settled canary.
    world.block_on(gitops_harness::canary::live::observe_rollout(&world.client, &observe)).map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
