//! Gathering the live side of a drift comparison: Flux Kustomizations, every object in their
//! inventories (`status.inventory.entries[].id` = `<ns>_<name>_<group>_<kind>`), and the
//! `<target>-primary` Deployments Flagger creates for canaries (not in any inventory).

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::Scope;
use serde_json::Value;

use super::DriftError;
use crate::flux::{ObjectRef, api};
use crate::kinds::KindResolver;

/// What the cluster runs.
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    /// Flux Kustomizations (all namespaces).
    pub kustomizations: Vec<Value>,
    /// Live objects from the inventories, plus canary primaries.
    pub objects: Vec<Value>,
}

impl LiveState {
    /// Read a snapshot directory: `live.jsonl` and `kustomizations.jsonl` (one object per line,
    /// as `kubectl get -o json` prints items).
    pub fn load_snapshot(dir: &std::path::Path) -> Result<LiveState, DriftError> {
        let read = |f: &str| -> Result<Vec<Value>, DriftError> {
            let p = dir.join(f);
            let text = std::fs::read_to_string(&p).map_err(|e| DriftError::Snapshot { path: p.clone(), message: e.to_string() })?;
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| {
                    serde_json::from_str(l).map_err(|e| DriftError::Snapshot { path: p.clone(), message: format!("line {}: {e}", i + 1) })
                })
                .collect()
        };
        Ok(LiveState { objects: read("live.jsonl")?, kustomizations: read("kustomizations.jsonl")? })
    }

    /// Write a snapshot directory that [`LiveState::load_snapshot`] reads (e.g. as a test artifact).
    pub fn save_snapshot(&self, dir: &std::path::Path) -> Result<(), DriftError> {
        let write = |f: &str, objs: &[Value]| -> Result<(), DriftError> {
            let p = dir.join(f);
            let mut text = String::new();
            for o in objs {
                text.push_str(&o.to_string());
                text.push('\n');
            }
            std::fs::write(&p, text).map_err(|e| DriftError::Snapshot { path: p, message: e.to_string() })
        };
        std::fs::create_dir_all(dir).map_err(|e| DriftError::Snapshot { path: dir.to_path_buf(), message: e.to_string() })?;
        write("live.jsonl", &self.objects)?;
        write("kustomizations.jsonl", &self.kustomizations)
    }
}

/// List Kustomizations and fetch every inventory object (absent ones are simply not returned:
/// [`super::compute`] reports them as missing).
pub async fn gather(client: &Client) -> Result<LiveState, DriftError> {
    let ks_ar = api::KUSTOMIZATION.api_resource();
    let ks_api: Api<DynamicObject> = Api::all_with(client.clone(), &ks_ar);
    let list = ks_api
        .list(&ListParams::default())
        .await
        .map_err(|source| DriftError::Kube { action: "listing Flux Kustomizations (is Flux installed?)".into(), source })?;
    let kustomizations: Vec<Value> = list.items.iter().map(|o| api::to_value(o, &ks_ar)).collect();

    // Kinds are resolved one group at a time: an unavailable aggregated API elsewhere in the
    // cluster does not stop the drift check.
    let mut kinds = KindResolver::new(client.clone());

    let mut objects = Vec::new();
    let mut primaries = Vec::new();
    for ks in &kustomizations {
        let key = format!(
            "{}/{}",
            ks.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""),
            ks.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
        );
        for entry in ks.pointer("/status/inventory/entries").and_then(Value::as_array).into_iter().flatten() {
            let Some(id) = entry.get("id").and_then(Value::as_str) else { continue };
            let inv = ObjectRef::from_inventory(id)
                .ok_or_else(|| DriftError::BadInventoryId { kustomization: key.clone(), id: id.to_string() })?;
            let resolved = match kinds.resolve_group_kind(&inv.group, &inv.kind).await {
                Ok(r) => r,
                Err(crate::kinds::KindError::Unknown { .. }) => {
                    return Err(DriftError::UnknownKind { kustomization: key.clone(), group: inv.group.clone(), kind: inv.kind.clone() });
                }
                Err(source) => return Err(DriftError::Kinds { kustomization: key.clone(), source: Box::new(source) }),
            };
            let ar = &resolved.resource;
            let api: Api<DynamicObject> = match resolved.scope {
                Scope::Namespaced => Api::namespaced_with(client.clone(), inv.ns(), ar),
                Scope::Cluster => Api::all_with(client.clone(), ar),
            };
            let got = api.get_opt(&inv.name).await.map_err(|source| DriftError::Kube { action: format!("reading {inv}"), source })?;
            if let Some(obj) = got {
                let v = api::to_value(&obj, ar);
                if inv.group == "flagger.app"
                    && inv.kind == "Canary"
                    && let Some(t) = v.pointer("/spec/targetRef/name").and_then(Value::as_str)
                {
                    primaries.push((inv.ns().to_string(), format!("{t}-primary")));
                }
                objects.push(v);
            }
        }
    }
    let deploy_ar = api::DEPLOYMENT.api_resource();
    for (ns, name) in primaries {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &deploy_ar);
        let got =
            api.get_opt(&name).await.map_err(|source| DriftError::Kube { action: format!("reading Deployment {ns}/{name}"), source })?;
        if let Some(obj) = got {
            objects.push(api::to_value(&obj, &deploy_ar));
        }
    }
    Ok(LiveState { kustomizations, objects })
}
