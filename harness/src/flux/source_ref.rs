//! Typed references from a Kustomization or HelmRelease to its source, shared by the repo model
//! (objects in git) and everything that reads live objects.

use serde_json::Value;

use super::ObjectRef;

/// `spec.sourceRef` of a Kustomization, `spec.chart.spec.sourceRef` or `spec.chartRef` of a
/// HelmRelease, with the namespace resolved against the referrer's. Flux's CRDs require `kind`;
/// a reference written without one keeps an empty kind, which matches no source (never taken
/// for a GitRepository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    /// Source kind (`GitRepository`, `OCIRepository`, `Bucket`, `HelmRepository`, `HelmChart`,
    /// `ExternalArtifact`), `""` when not written.
    pub kind: String,
    /// Source name.
    pub name: String,
    /// Source namespace (the referrer's when the reference names none).
    pub namespace: String,
}

impl SourceRef {
    /// Read a reference object (`{kind, name, namespace}`) made by an object in `referrer_namespace`.
    pub fn from_value(v: &Value, referrer_namespace: &str) -> Option<SourceRef> {
        Some(SourceRef {
            kind: v.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
            name: v.get("name")?.as_str()?.to_string(),
            namespace: v.get("namespace").and_then(Value::as_str).unwrap_or(referrer_namespace).to_string(),
        })
    }

    /// The source of a Kustomization object (`spec.sourceRef`).
    pub fn of_kustomization(obj: &Value) -> Option<SourceRef> {
        SourceRef::from_value(obj.pointer("/spec/sourceRef")?, own_namespace(obj))
    }

    /// The chart source of a HelmRelease object (`spec.chartRef`, else `spec.chart.spec.sourceRef`).
    pub fn of_helm_release(obj: &Value) -> Option<SourceRef> {
        let v = obj.pointer("/spec/chartRef").or_else(|| obj.pointer("/spec/chart/spec/sourceRef"))?;
        SourceRef::from_value(v, own_namespace(obj))
    }

    /// The referenced source object.
    pub fn key(&self) -> ObjectRef {
        ObjectRef::of_kind(&self.kind, Some(&self.namespace), &self.name)
    }

    /// Whether this names the GitRepository `namespace/name`.
    pub fn is_git_repository(&self, namespace: &str, name: &str) -> bool {
        self.kind == "GitRepository" && self.namespace == namespace && self.name == name
    }
}

fn own_namespace(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_resolve_in_the_referrers_namespace() {
        let ks = json!({"metadata": {"namespace": "flux-system"}, "spec": {"sourceRef": {"kind": "GitRepository", "name": "flux-system"}}});
        let s = SourceRef::of_kustomization(&ks).unwrap();
        assert_eq!(s.key().to_string(), "GitRepository flux-system/flux-system");
        assert_eq!(s.key().group, "source.toolkit.fluxcd.io");
        assert!(s.is_git_repository("flux-system", "flux-system"));
        let hr = json!({"metadata": {"namespace": "apps"}, "spec": {"chart": {"spec": {"chart": "x", "sourceRef": {"kind": "HelmRepository", "name": "r", "namespace": "src"}}}}});
        assert_eq!(SourceRef::of_helm_release(&hr).unwrap().key().short(), "src/r");
        // No kind: kept as written, never taken for a GitRepository.
        let bare = SourceRef::of_kustomization(&json!({"metadata": {"namespace": "a"}, "spec": {"sourceRef": {"name": "x"}}})).unwrap();
        assert!(bare.kind.is_empty() && !bare.is_git_repository("a", "x"));
    }
}
