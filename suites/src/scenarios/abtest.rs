//! `abtest::*`: the faces-gui A/B test routes by header through the ingress (DEMO.md: set
//! `COLOR` on faces-gui; only `x-faces-user: testuser` sees it during the analysis).

use anyhow::anyhow;
use gitops_harness::abtest::{self, AbRequest, Identify, Marker};
use gitops_harness::canary::live::ObserveRequest;
use gitops_harness::canary::{Phase, TimelineBuilder};
use gitops_harness::gitops_change::{self, Change, Edit};
use gitops_harness::yaml_edit::{ContainerSel, DocSelector};

use crate::runner::Scenario;
use crate::world::{self, World};

/// Requests with `x-faces-user: testuser` reach the canary, others the primary.
pub const FACES_GUI_HEADER_ROUTING: Scenario = Scenario {
    name: "abtest::faces_gui_header_routing",
    about: "during the A/B analysis, the header routes to the canary",
    involved_namespaces: &["faces", "flagger-system", "ingress-nginx"],
    run: faces_gui_header_routing,
};

fn faces_gui_header_routing(world: &World) -> anyhow::Result<()> {
    let served = world.served()?;
    let color = format!("lightcyan{}", std::process::id() % 1000);
    let change = Change {
        edits: vec![Edit::Env {
            file: world::faces_gui_file().to_path_buf(),
            doc: DocSelector::object("Deployment", "faces-gui"),
            container: ContainerSel::Name("faces-gui".into()),
            name: "COLOR".into(),
            value: color.clone(),
        }],
        message: format!("suites: faces-gui COLOR={color}"),
    };
    world.block_on(gitops_change::drive(&world.client, &served, &change, &world.apps_kustomization(), world::APPLY_DEADLINE)).map_err(|e| anyhow!("{e}"))?;
    // Wait (bounded) until the A/B analysis is running, then probe through the ingress.
    let deadline = std::time::Instant::now() + world::ROLLOUT_DEADLINE;
    loop {
        let canary = world.get("Canary", world::FACES_NS, "faces-gui")?;
        let mut b = TimelineBuilder::new(world::FACES_NS, "faces-gui", "nginx");
        b.observe(&canary, None).map_err(|e| anyhow!("{e}"))?;
        match b.timeline().last().map(|r| r.phase.clone()) {
            Some(Phase::Progressing) => break,
            Some(p) if std::time::Instant::now() > deadline => return Err(anyhow!("faces-gui canary never reached Progressing (last phase {p})")),
            _ if std::time::Instant::now() > deadline => return Err(anyhow!("faces-gui canary never reached Progressing")),
            // Flagger advances every analysis interval (10s); check a few times per interval.
            _ => std::thread::sleep(std::time::Duration::from_secs(3)),
        }
    }
    let req = AbRequest::faces_gui(&world.ingress_base()?, "faces.localhost");
    let counts = world.block_on(abtest::run(&req, &Identify::canary_by(Marker::Body(color)))).map_err(|e| anyhow!("{e}"))?;
    abtest::assert_header_routing(&counts).map_err(|f| anyhow!("{f}"))?;
    // Let the A/B test finish so the next scenario starts from a settled canary.
    let observe = ObserveRequest::new(world::FACES_NS, "faces-gui", world::ROLLOUT_DEADLINE);
    world.block_on(gitops_harness::canary::live::observe_rollout(&world.client, &observe)).map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
