//! `bootstrap::*`: the repo bootstrapped by the harness reaches all-Ready.

use anyhow::{Context as _, bail};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};

use crate::lanes::Lane;
use crate::runner::Scenario;
use crate::world::World;

/// Every Flux Kustomization and HelmRelease in the cluster is Ready at its current generation.
pub const ALL_READY: Scenario = Scenario {
    name: "bootstrap::all_ready",
    about: "every Flux Kustomization and HelmRelease is Ready",
    involved_namespaces: &["flux-system", "linkerd", "cert-manager", "ingress-nginx", "flagger-system", "faces"],
    needs: &[],
    lane: Lane::Exclusive,
    run: all_ready,
};

/// An aggregated API that is unavailable (a real k3s's metrics-server answers 503 for its first
/// minute) must not stop the harness from applying objects or checking drift.
pub const SURVIVES_UNAVAILABLE_AGGREGATED_API: Scenario = Scenario {
    name: "bootstrap::survives_unavailable_aggregated_api",
    about: "applying and drift work while an APIService is unavailable",
    involved_namespaces: &["flux-system"],
    needs: &[],
    lane: Lane::Exclusive,
    run: survives_unavailable_aggregated_api,
};

fn survives_unavailable_aggregated_api(world: &World) -> anyhow::Result<()> {
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
    use kube::api::{DeleteParams, PostParams};
    let api: Api<APIService> = Api::all(world.client.clone());
    let name = "v1beta1.metrics.k8s.io";
    let svc: APIService = serde_json::from_value(serde_json::json!({
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "gitops-harness-suites"}},
        // No such Service: the aggregator marks it unavailable without dialling anything.
        "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "service": {"namespace": "kube-system", "name": "no-metrics-server"},
                 "insecureSkipTLSVerify": true, "groupPriorityMinimum": 100, "versionPriority": 100}
    }))?;
    world.block_on(api.create(&PostParams::default(), &svc)).with_context(|| format!("creating APIService {name}"))?;
    // Whatever happens below (even a panic), the APIService is removed: left unavailable it
    // would block namespace deletion in the shared cluster.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> anyhow::Result<()> {
        // Wait until the aggregator has marked it unavailable.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let got = world.block_on(api.get(name))?;
            let unavailable =
                got.status.and_then(|s| s.conditions).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Available" && c.status == "False"));
            if unavailable {
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!("APIService {name} was not marked unavailable within 60s");
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        // Full discovery fails on it: this is the situation the harness must survive.
        // Full discovery fails on it, or (kube retries 503s) does not finish: the situation the
        // harness must survive. Bounded, it only says which.
        let full = world.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), kube::Discovery::new(world.client.clone()).run()).await
        });
        let full_discovery = match &full {
            Ok(Ok(_)) => "full discovery happened to succeed".to_string(),
            Ok(Err(e)) => format!("full discovery fails: {e}"),
            Err(_) => "full discovery does not finish within 10s".to_string(),
        };
        let mut kinds = gitops_harness::kinds::KindResolver::new(world.client.clone());
        let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "gitops-harness-suites-probe", "namespace": "flux-system"}, "data": {"probe": "1"}});
        world
            .block_on(gitops_harness::bootstrap::apply(&world.client, &mut kinds, &cm))
            .map_err(|e| anyhow::anyhow!("applying a ConfigMap while {name} is unavailable ({full_discovery}): {e}"))?;
        let served = world.served()?;
        world
            .block_on(gitops_harness::scenarios::drift::check_cluster(&world.client, served.path(), Some(&world.cluster_dir())))
            .map_err(|e| anyhow::anyhow!("drift check while {name} is unavailable ({full_discovery}): {e}"))?;
        println!("with {name} unavailable: {full_discovery}; apply and drift still work");
        Ok(())
    }))
    .unwrap_or_else(|_| Err(anyhow::anyhow!("the scenario panicked (see stderr)")));
    let _ = world.block_on(api.delete(name, &DeleteParams::default()));
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(world.client.clone(), "flux-system");
    let _ = world.block_on(cms.delete("gitops-harness-suites-probe", &DeleteParams::default()));
    result
}

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
