//! What an upgrade compares before and after: every workload with its pod template and pods
//! (UIDs, restart counts), the chart and image versions, Flux's controllers, and the Canaries.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde::Serialize;
use serde_json::Value;

use super::UpgradeError;

/// A pod of a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodState {
    /// Pod name.
    pub name: String,
    /// Sum of its containers' restart counts.
    pub restarts: i64,
}

/// A Deployment, StatefulSet or DaemonSet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// A hash of `spec.template`: a change means the workload was rolled on purpose.
    pub template: String,
    /// Desired replicas (DaemonSets: desired scheduled).
    pub replicas: i64,
    /// Container images of the template.
    pub images: Vec<String>,
    /// Its pods by UID.
    pub pods: BTreeMap<String, PodState>,
}

/// A Canary's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanaryState {
    /// `status.phase`.
    pub phase: String,
    /// `status.lastAppliedSpec`: the hash of the target's spec Flagger last rolled out.
    pub last_applied_spec: String,
    /// `Deployment ns/name` of `spec.targetRef`.
    pub target: String,
    /// `spec.analysis.interval` in seconds (Flagger's default 60).
    pub interval_s: u64,
}

/// Everything compared across an upgrade, at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Workloads by `Kind ns/name`.
    pub workloads: BTreeMap<String, Workload>,
    /// HelmReleases (`ns/name`) and the chart version each runs (`chart@version`).
    pub charts: BTreeMap<String, String>,
    /// Flux controllers and their versions.
    pub flux: BTreeMap<String, String>,
    /// Canaries by `ns/name`.
    pub canaries: BTreeMap<String, CanaryState>,
}

/// A stable hash of a JSON value (object keys are ordered by serde_json's map).
pub fn value_hash(v: &Value) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    format!("{:016x}", h.finish())
}

fn kube_err(action: &str) -> impl Fn(kube::Error) -> UpgradeError + '_ {
    move |source| UpgradeError::Kube { action: action.to_string(), source }
}

fn owner_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<(String, String)> {
    let o = meta.owner_references.as_ref()?.iter().find(|o| o.controller == Some(true))?;
    Some((o.kind.clone(), o.name.clone()))
}

fn images_of(template: &Value) -> Vec<String> {
    template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c.get("image").and_then(Value::as_str)).map(str::to_string).collect())
        .unwrap_or_default()
}

fn workload(template: &Value, replicas: i64) -> Workload {
    Workload { template: value_hash(template), replicas, images: images_of(template), pods: BTreeMap::new() }
}

/// The version of a HelmRelease's chart as it runs: its latest release in `status.history`,
/// else the last attempted revision.
pub fn chart_of(hr: &Value) -> Option<String> {
    let latest = hr.pointer("/status/history/0");
    let name = latest
        .and_then(|h| h.get("chartName"))
        .or_else(|| hr.pointer("/spec/chart/spec/chart"))
        .and_then(Value::as_str)
        .map(|c| c.rsplit('/').next().unwrap_or(c).to_string())?;
    let version = latest
        .and_then(|h| h.get("chartVersion"))
        .or_else(|| hr.pointer("/status/lastAttemptedRevision"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    Some(format!("{name}@{version}"))
}

fn canary_state(c: &Value) -> Option<(String, CanaryState)> {
    let ns = c.pointer("/metadata/namespace").and_then(Value::as_str)?;
    let name = c.pointer("/metadata/name").and_then(Value::as_str)?;
    let s = |p: &str| c.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let interval_s = c
        .pointer("/spec/analysis/interval")
        .and_then(Value::as_str)
        .and_then(crate::readiness::parse_go_duration)
        .map(|d| d.as_secs())
        .unwrap_or(60);
    Some((
        format!("{ns}/{name}"),
        CanaryState {
            phase: s("/status/phase"),
            last_applied_spec: s("/status/lastAppliedSpec"),
            target: format!(
                "{} {ns}/{}",
                c.pointer("/spec/targetRef/kind").and_then(Value::as_str).unwrap_or("Deployment"),
                s("/spec/targetRef/name")
            ),
            interval_s,
        },
    ))
}

async fn list_dynamic(client: &Client, group: &str, version: &str, kind: &str, plural: &str) -> Vec<Value> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    // A cluster without the CRD (no Flagger) simply has none.
    match api.list(&ListParams::default()).await {
        Ok(l) => l.items.iter().filter_map(|o| serde_json::to_value(o).ok()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The Canaries now.
pub async fn canaries(client: &Client) -> BTreeMap<String, CanaryState> {
    list_dynamic(client, "flagger.app", "v1beta1", "Canary", "canaries").await.iter().filter_map(canary_state).collect()
}

/// Flux's controllers as Deployments in `flux-system` run them (Docker tier), by name → image tag.
fn flux_from_deployments(deployments: &[Deployment]) -> BTreeMap<String, String> {
    deployments
        .iter()
        .filter(|d| d.metadata.namespace.as_deref() == Some("flux-system"))
        .filter_map(|d| {
            let name = d.metadata.name.clone()?;
            let image = d.spec.as_ref()?.template.spec.as_ref()?.containers.first()?.image.clone()?;
            name.ends_with("-controller").then(|| (name, image.rsplit(':').next().unwrap_or(&image).to_string()))
        })
        .collect()
}

/// Take a snapshot. `flux_processes`: the controllers the backend runs outside the cluster (sim),
/// merged with those found as Deployments.
pub async fn take(client: &Client, flux_processes: &BTreeMap<String, String>) -> Result<Snapshot, UpgradeError> {
    let lp = ListParams::default();
    let deployments = Api::<Deployment>::all(client.clone()).list(&lp).await.map_err(kube_err("listing Deployments"))?.items;
    let statefulsets = Api::<StatefulSet>::all(client.clone()).list(&lp).await.map_err(kube_err("listing StatefulSets"))?.items;
    let daemonsets = Api::<DaemonSet>::all(client.clone()).list(&lp).await.map_err(kube_err("listing DaemonSets"))?.items;
    let replicasets = Api::<ReplicaSet>::all(client.clone()).list(&lp).await.map_err(kube_err("listing ReplicaSets"))?.items;
    let pods = Api::<Pod>::all(client.clone()).list(&lp).await.map_err(kube_err("listing Pods"))?.items;

    let mut snap = Snapshot::default();
    let tpl = |t: &k8s_openapi::api::core::v1::PodTemplateSpec| serde_json::to_value(t).unwrap_or(Value::Null);
    for d in &deployments {
        let (Some(ns), Some(name), Some(spec)) = (&d.metadata.namespace, &d.metadata.name, &d.spec) else { continue };
        snap.workloads.insert(format!("Deployment {ns}/{name}"), workload(&tpl(&spec.template), i64::from(spec.replicas.unwrap_or(1))));
    }
    for s in &statefulsets {
        let (Some(ns), Some(name), Some(spec)) = (&s.metadata.namespace, &s.metadata.name, &s.spec) else { continue };
        snap.workloads.insert(format!("StatefulSet {ns}/{name}"), workload(&tpl(&spec.template), i64::from(spec.replicas.unwrap_or(1))));
    }
    for ds in &daemonsets {
        let (Some(ns), Some(name), Some(spec)) = (&ds.metadata.namespace, &ds.metadata.name, &ds.spec) else { continue };
        let desired = ds.status.as_ref().map(|s| i64::from(s.desired_number_scheduled)).unwrap_or(0);
        snap.workloads.insert(format!("DaemonSet {ns}/{name}"), workload(&tpl(&spec.template), desired));
    }
    // Pods belong to a workload through their controller: ReplicaSet → Deployment, or directly.
    let rs_owner: BTreeMap<(String, String), String> = replicasets
        .iter()
        .filter_map(|rs| {
            let (kind, owner) = owner_of(&rs.metadata)?;
            if kind != "Deployment" {
                return None;
            }
            Some(((rs.metadata.namespace.clone()?, rs.metadata.name.clone()?), owner))
        })
        .collect();
    for p in &pods {
        let (Some(ns), Some(name), Some(uid)) = (&p.metadata.namespace, &p.metadata.name, &p.metadata.uid) else { continue };
        let Some((kind, owner)) = owner_of(&p.metadata) else { continue };
        let key = match kind.as_str() {
            "ReplicaSet" => match rs_owner.get(&(ns.clone(), owner)) {
                Some(dep) => format!("Deployment {ns}/{dep}"),
                None => continue,
            },
            "StatefulSet" | "DaemonSet" => format!("{kind} {ns}/{owner}"),
            _ => continue,
        };
        let restarts = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| cs.iter().map(|c| i64::from(c.restart_count)).sum())
            .unwrap_or(0);
        if let Some(w) = snap.workloads.get_mut(&key) {
            w.pods.insert(uid.clone(), PodState { name: name.clone(), restarts });
        }
    }
    for hr in list_dynamic(client, "helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases").await {
        let ns = hr.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        let name = hr.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        if let Some(chart) = chart_of(&hr) {
            snap.charts.insert(format!("{ns}/{name}"), chart);
        }
    }
    snap.flux = flux_from_deployments(&deployments);
    snap.flux.extend(flux_processes.iter().map(|(k, v)| (k.clone(), v.clone())));
    snap.canaries = canaries(client).await;
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chart_version_from_history_or_attempt() {
        let hr = json!({"spec": {"chart": {"spec": {"chart": "./charts/ingress-nginx"}}},
            "status": {"history": [{"chartName": "ingress-nginx", "chartVersion": "4.12.1"}], "lastAttemptedRevision": "4.12.0"}});
        assert_eq!(chart_of(&hr).as_deref(), Some("ingress-nginx@4.12.1"));
        let hr = json!({"spec": {"chart": {"spec": {"chart": "./charts/flagger"}}}, "status": {"lastAttemptedRevision": "1.0.0+abc"}});
        assert_eq!(chart_of(&hr).as_deref(), Some("flagger@1.0.0+abc"));
        assert_eq!(chart_of(&json!({})), None);
    }

    #[test]
    fn template_hash_follows_the_template() {
        let a = json!({"spec": {"containers": [{"name": "c", "image": "x:1"}]}});
        let b = json!({"spec": {"containers": [{"name": "c", "image": "x:2"}]}});
        assert_eq!(value_hash(&a), value_hash(&a.clone()));
        assert_ne!(value_hash(&a), value_hash(&b));
        assert_eq!(images_of(&b), vec!["x:2".to_string()]);
    }

    #[test]
    fn canary_state_reads_target_and_interval() {
        let c = json!({"metadata": {"namespace": "faces", "name": "face"}, "spec": {"targetRef": {"kind": "Deployment", "name": "face"}, "analysis": {"interval": "10s"}},
            "status": {"phase": "Succeeded", "lastAppliedSpec": "abc"}});
        let (k, s) = canary_state(&c).unwrap();
        assert_eq!(k, "faces/face");
        assert_eq!(s.target, "Deployment faces/face");
        assert_eq!(s.interval_s, 10);
        assert_eq!(s.phase, "Succeeded");
    }
}
