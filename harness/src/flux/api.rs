//! The API resources the harness reads and writes, defined once: Flux's (at the versions Flux
//! 2.x serves as storage), Flagger's Canary, and the workload kinds the scenarios follow.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

/// One API resource: group, version, kind and plural.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural (the URL segment).
    pub plural: &'static str,
}

impl Resource {
    /// For kube's dynamic API.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(self.group, self.version, self.kind), self.plural)
    }

    /// `group/version` (or `version` for core).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
}

const fn r(group: &'static str, version: &'static str, kind: &'static str, plural: &'static str) -> Resource {
    Resource { group, version, kind, plural }
}

/// kustomize-controller's Kustomization.
pub const KUSTOMIZATION: Resource = r("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations");
/// helm-controller's HelmRelease.
pub const HELM_RELEASE: Resource = r("helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases");
/// source-controller's GitRepository.
pub const GIT_REPOSITORY: Resource = r("source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories");
/// source-controller's HelmRepository.
pub const HELM_REPOSITORY: Resource = r("source.toolkit.fluxcd.io", "v1", "HelmRepository", "helmrepositories");
/// source-controller's HelmChart.
pub const HELM_CHART: Resource = r("source.toolkit.fluxcd.io", "v1", "HelmChart", "helmcharts");
/// source-controller's OCIRepository.
pub const OCI_REPOSITORY: Resource = r("source.toolkit.fluxcd.io", "v1", "OCIRepository", "ocirepositories");
/// source-controller's Bucket.
pub const BUCKET: Resource = r("source.toolkit.fluxcd.io", "v1", "Bucket", "buckets");
/// Flux 2.7+ ExternalArtifact.
pub const EXTERNAL_ARTIFACT: Resource = r("source.toolkit.fluxcd.io", "v1", "ExternalArtifact", "externalartifacts");
/// Flagger's Canary.
pub const CANARY: Resource = r("flagger.app", "v1beta1", "Canary", "canaries");
/// apps/v1 Deployment.
pub const DEPLOYMENT: Resource = r("apps", "v1", "Deployment", "deployments");
/// networking.k8s.io/v1 Ingress.
pub const INGRESS: Resource = r("networking.k8s.io", "v1", "Ingress", "ingresses");

/// The Flux sources a Kustomization or HelmRelease can build from.
pub const SOURCES: [Resource; 6] = [GIT_REPOSITORY, OCI_REPOSITORY, BUCKET, HELM_REPOSITORY, HELM_CHART, EXTERNAL_ARTIFACT];

/// Every resource defined here.
const ALL: [Resource; 11] = [
    KUSTOMIZATION,
    HELM_RELEASE,
    GIT_REPOSITORY,
    HELM_REPOSITORY,
    HELM_CHART,
    OCI_REPOSITORY,
    BUCKET,
    EXTERNAL_ARTIFACT,
    CANARY,
    DEPLOYMENT,
    INGRESS,
];

/// A dynamic object as JSON with its `apiVersion` and `kind` (list and watch items come
/// without them; identities and comparisons key on them).
pub fn to_value(obj: &DynamicObject, ar: &ApiResource) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
        m.insert("kind".into(), Value::String(ar.kind.clone()));
    }
    v
}

/// The resource of a kind defined here.
pub fn by_kind(kind: &str) -> Option<Resource> {
    ALL.into_iter().find(|r| r.kind == kind)
}

/// The group of a kind the harness knows (the resources here, and the core kinds a repository
/// commonly holds); `None` for others.
pub fn group_of_kind(kind: &str) -> Option<&'static str> {
    if let Some(r) = by_kind(kind) {
        return Some(r.group);
    }
    Some(match kind {
        "Namespace" | "Service" | "ConfigMap" | "Secret" | "ServiceAccount" | "Pod" => "",
        "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps",
        "Job" | "CronJob" => "batch",
        "CustomResourceDefinition" => "apiextensions.k8s.io",
        "HTTPRoute" => "gateway.networking.k8s.io",
        "TrafficSplit" => "split.smi-spec.io",
        "FluxInstance" | "ResourceSet" | "ResourceSetInputProvider" | "FluxReport" => "fluxcd.controlplane.io",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_round_trip() {
        assert_eq!(KUSTOMIZATION.api_version(), "kustomize.toolkit.fluxcd.io/v1");
        assert_eq!(DEPLOYMENT.api_resource().plural, "deployments");
        assert_eq!(by_kind("HelmChart"), Some(HELM_CHART));
        assert_eq!(group_of_kind("Namespace"), Some(""));
        assert_eq!(group_of_kind("Nope"), None);
    }
}
