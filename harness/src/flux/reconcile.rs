//! Asking Flux to reconcile now, as `flux reconcile` does: the annotation
//! `reconcile.fluxcd.io/requestedAt` set to a new value.

use chrono::{DateTime, SecondsFormat, Utc};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::api::Resource;
use super::{ObjectRef, SourceRef};

/// The annotation Flux controllers watch for on-demand reconciliation.
pub const RECONCILE_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";

/// The merge patch `flux reconcile` sends: the annotation set to an RFC 3339 timestamp.
pub fn reconcile_patch(now: DateTime<Utc>) -> Value {
    json!({"metadata": {"annotations": {RECONCILE_ANNOTATION: now.to_rfc3339_opts(SecondsFormat::Nanos, true)}}})
}

/// Annotate one object of `resource`.
pub async fn request(client: &Client, resource: &Resource, obj: &ObjectRef) -> Result<(), kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), obj.ns(), &resource.api_resource());
    api.patch(&obj.name, &PatchParams::default(), &Patch::Merge(&reconcile_patch(Utc::now()))).await.map(|_| ())
}

/// The GitRepository a live Kustomization builds from (`None`: another kind of source).
pub async fn git_source_of(client: &Client, ks: &ObjectRef) -> Result<Option<ObjectRef>, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ks.ns(), &super::api::KUSTOMIZATION.api_resource());
    let obj = serde_json::to_value(api.get(&ks.name).await?).unwrap_or(Value::Null);
    Ok(SourceRef::of_kustomization(&obj).filter(|s| s.kind == "GitRepository").map(|s| s.key()))
}
