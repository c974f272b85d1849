//! API versions the target Flux release deprecates or no longer serves, in objects and in
//! `healthChecks` entries.

use super::{Finding, Severity, codes};
use crate::flux_versions::{self, ApiStatus, FluxVersion};
use crate::repo::{ObjectRef, Origin, Repo};
use serde_json::Value;

/// `origin` is only computed for a finding: positions re-parse the document.
fn finding(what: &str, api_version: &str, kind: &str, flux: FluxVersion, origin: impl FnOnce() -> Origin) -> Option<Finding> {
    let status = flux_versions::status(api_version, kind, flux);
    if status == ApiStatus::Current {
        return None;
    }
    let origin = &origin();
    match status {
        ApiStatus::Current => None,
        ApiStatus::Deprecated { since, removed_in, replacement } => Some(Finding::new(
            Severity::Warning,
            codes::API_VERSION_DEPRECATED,
            origin,
            format!(
                "{what} uses {api_version}, deprecated since Flux {since}{}; change apiVersion to {replacement}",
                removed_in.map(|r| format!(" and removed in Flux {r}")).unwrap_or_default()
            ),
        )),
        ApiStatus::Removed { since, replacement } => Some(Finding::new(
            Severity::Error,
            codes::API_VERSION_REMOVED,
            origin,
            format!(
                "{what} uses {api_version}, which Flux {flux} no longer serves (removed in Flux {since}); change apiVersion to {replacement} (`flux migrate` rewrites stored objects)"
            ),
        )),
    }
}

pub(super) fn api_versions(repo: &Repo, flux: FluxVersion, out: &mut Vec<Finding>) {
    for o in repo.objects() {
        out.extend(finding(&o.key.to_string(), &o.api_version, &o.key.kind, flux, || Origin::at(&o.doc, "apiVersion")));
    }
    // A health check on a version the controllers no longer serve fails the Kustomization.
    for k in repo.flux_kustomizations() {
        for (i, h) in k.health_checks.iter().enumerate() {
            let (Some(api), Some(kind)) = (h.get("apiVersion").and_then(Value::as_str), h.get("kind").and_then(Value::as_str)) else {
                continue;
            };
            let name = h.get("name").and_then(Value::as_str).unwrap_or("");
            let ns = h.get("namespace").and_then(Value::as_str).or(k.key.namespace.as_deref());
            let what = format!("{}: healthChecks[{i}] ({})", k.key, ObjectRef::of_kind(kind, ns, name));
            out.extend(finding(&what, api, kind, flux, || Origin::at(&k.doc, &format!("spec.healthChecks.{i}.apiVersion"))));
        }
    }
}
