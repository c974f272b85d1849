//! `abtest::*`: the faces-gui A/B test routes by header through the ingress.

use crate::runner::Scenario;
use crate::world::World;

/// Requests with `x-faces-user: testuser` reach the canary, others the primary.
pub const FACES_GUI_HEADER_ROUTING: Scenario = Scenario {
    name: "abtest::faces_gui_header_routing",
    about: "during the A/B analysis, the header routes to the canary",
    involved_namespaces: &["faces", "flagger-system", "ingress-nginx"],
    run: faces_gui_header_routing,
};

fn faces_gui_header_routing(_world: &World) -> anyhow::Result<()> {
    anyhow::bail!("not wired yet")
}
