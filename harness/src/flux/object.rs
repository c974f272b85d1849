//! One identity for a Kubernetes object: API group, kind, namespace and name.
//!
//! The version is left out on purpose: the API may serve an object under another version than
//! the manifest names (`v2beta1` written, `v2` served), and it is still the same object.

use std::fmt;

use serde_json::Value;

/// Identity of an object (no version). Ordered by kind, namespace and name first, so listings
/// read like `kubectl get` output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// Kind, e.g. `Kustomization`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// API group (`""` for the core group).
    pub group: String,
}

impl ObjectRef {
    /// An identity from its parts.
    pub fn new(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef { group: group.to_string(), kind: kind.to_string(), namespace: namespace.map(str::to_string), name: name.to_string() }
    }

    /// An identity whose group is the one the harness knows for `kind` ([`super::api::group_of_kind`]:
    /// Flux, Flagger, Gateway API and core kinds); `""` for a kind it does not know.
    pub fn of_kind(kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef::new(super::api::group_of_kind(kind).unwrap_or(""), kind, namespace, name)
    }

    /// A Flux Kustomization.
    pub fn kustomization(namespace: &str, name: &str) -> ObjectRef {
        ObjectRef::of_kind("Kustomization", Some(namespace), name)
    }

    /// The identity of a manifest or live object (`apiVersion`, `kind`, `metadata`).
    pub fn of(obj: &Value) -> Option<ObjectRef> {
        let api = obj.get("apiVersion")?.as_str()?;
        Some(ObjectRef::new(
            group_of(api),
            obj.get("kind")?.as_str()?,
            obj.pointer("/metadata/namespace").and_then(Value::as_str).filter(|n| !n.is_empty()),
            obj.pointer("/metadata/name")?.as_str()?,
        ))
    }

    /// Parse a Flux inventory id `<ns>_<name>_<group>_<kind>` (names may contain `_`; an empty
    /// namespace is a cluster-scoped object).
    pub fn from_inventory(id: &str) -> Option<ObjectRef> {
        let (namespace, rest) = id.split_once('_')?;
        let (rest, kind) = rest.rsplit_once('_')?;
        let (name, group) = rest.rsplit_once('_')?;
        if name.is_empty() || kind.is_empty() {
            return None;
        }
        Some(ObjectRef::new(group, kind, (!namespace.is_empty()).then_some(namespace), name))
    }

    /// The same object in another namespace (a Flux reference without its own namespace).
    pub fn with_namespace(mut self, namespace: Option<&str>) -> ObjectRef {
        self.namespace = namespace.map(str::to_string);
        self
    }

    /// The namespace, `""` for cluster-scoped objects.
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    /// `namespace/name` (or `name` when cluster-scoped), as Flux prints it.
    pub fn short(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The `dependsOn` entry that names this object, namespace included (YAML flow style).
    pub fn depends_on_entry(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{{name: {}, namespace: {ns}}}", self.name),
            None => format!("{{name: {}}}", self.name),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.short())
    }
}

/// Group part of an `apiVersion` (`""` for the core group).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// Version part of an `apiVersion`.
pub fn version_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(_, v)| v).unwrap_or(api_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_ignores_the_version() {
        let a = ObjectRef::of(
            &json!({"apiVersion": "helm.toolkit.fluxcd.io/v2beta1", "kind": "HelmRelease", "metadata": {"namespace": "x", "name": "y"}}),
        );
        let b = ObjectRef::of(
            &json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"namespace": "x", "name": "y"}}),
        );
        assert_eq!(a, b);
        assert_eq!(a.unwrap().to_string(), "HelmRelease x/y");
        let core = ObjectRef::of(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "faces"}})).unwrap();
        assert_eq!((core.group.as_str(), core.namespace.as_deref(), core.to_string().as_str()), ("", None, "Namespace faces"));
    }

    #[test]
    fn inventory_ids_parse() {
        let r = ObjectRef::from_inventory("faces_face_primary_apps_Deployment").unwrap();
        assert_eq!(r, ObjectRef::new("apps", "Deployment", Some("faces"), "face_primary"));
        let c = ObjectRef::from_inventory("_faces__Namespace").unwrap();
        assert_eq!(c, ObjectRef::new("", "Namespace", None, "faces"));
        assert_eq!(ObjectRef::from_inventory("faces_my_cm__ConfigMap").unwrap().name, "my_cm");
        assert!(ObjectRef::from_inventory("nonsense").is_none());
    }

    #[test]
    fn known_kinds_get_their_group() {
        assert_eq!(ObjectRef::kustomization("flux-system", "apps").group, "kustomize.toolkit.fluxcd.io");
        assert_eq!(ObjectRef::of_kind("Canary", Some("faces"), "face").group, "flagger.app");
        assert_eq!(ObjectRef::of_kind("Widget", None, "w").group, "");
    }
}
