//! `bootstrap::*`: the repo bootstrapped by the harness reaches all-Ready.

use anyhow::{Context as _, bail};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};

use crate::runner::Scenario;
use crate::world::World;

/// Every Flux Kustomization and HelmRelease in the cluster is Ready at its current generation.
pub const ALL_READY: Scenario = Scenario {
    name: "bootstrap::all_ready",
    about: "every Flux Kustomization and HelmRelease is Ready",
    involved_namespaces: &["flux-system", "linkerd", "cert-manager", "ingress-nginx", "flagger-system", "faces"],
    run: all_ready,
};

fn all_ready(world: &World) -> anyhow::Result<()> {
    let kinds = [("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"), ("helm.toolkit.fluxcd.io", "v2", "HelmRelease")];
    let mut not_ready = Vec::new();
    let mut seen = 0usize;
    for (group, version, kind) in kinds {
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> = Api::all_with(world.client.clone(), &ar);
        let list = world.block_on(api.list(&ListParams::default())).with_context(|| format!("listing {kind}s ({group}/{version})"))?;
        for obj in list.items {
            seen += 1;
            let name = format!("{kind} {}/{}", obj.metadata.namespace.as_deref().unwrap_or(""), obj.metadata.name.as_deref().unwrap_or(""));
            let (ready, message) = ready_condition(&obj);
            if !ready {
                not_ready.push(format!("{name}: {message}"));
            }
        }
    }
    if seen == 0 {
        bail!("expected Flux Kustomizations and HelmReleases in the cluster, saw none: was it bootstrapped (`gitops-harness up`)?");
    }
    if !not_ready.is_empty() {
        bail!("expected all {seen} Flux objects Ready, {} are not:\n  {}", not_ready.len(), not_ready.join("\n  "));
    }
    Ok(())
}

/// Ready=True at the current generation, and the Ready message.
fn ready_condition(obj: &DynamicObject) -> (bool, String) {
    let status = obj.data.get("status");
    let generation = obj.metadata.generation.unwrap_or(0);
    let observed = status.and_then(|s| s.get("observedGeneration")).and_then(|g| g.as_i64()).unwrap_or(-1);
    let cond = status
        .and_then(|s| s.get("conditions"))
        .and_then(|c| c.as_array())
        .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Ready")));
    match cond {
        None => (false, "no Ready condition yet".to_string()),
        Some(c) => {
            let is_true = c.get("status").and_then(|s| s.as_str()) == Some("True");
            let msg = c.get("message").and_then(|m| m.as_str()).unwrap_or("").to_string();
            if is_true && observed < generation {
                (false, format!("Ready=True but observedGeneration {observed} < generation {generation}"))
            } else {
                (is_true, msg)
            }
        }
    }
}
