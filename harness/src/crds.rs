//! Real CustomResourceDefinitions: served/deprecated versions and OpenAPI schemas, and validation
//! of repo objects against them.
//!
//! The CRDs come from a directory (the upstream files under `shared/reference/crds`); Helm-template
//! CRDs (linkerd's) are read by dropping their `{{ ... }}` lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::yaml_docs;

/// One served version of a CRD.
#[derive(Debug, Clone)]
pub struct CrdVersion {
    /// Version name, e.g. `v1`.
    pub name: String,
    /// Served by the API server.
    pub served: bool,
    /// The storage version.
    pub storage: bool,
    /// Marked deprecated in the CRD.
    pub deprecated: bool,
    /// `schema.openAPIV3Schema`, if any.
    pub schema: Option<Value>,
}

/// A CRD's group, kind and versions.
#[derive(Debug, Clone)]
pub struct Crd {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Versions in CRD order.
    pub versions: Vec<CrdVersion>,
    /// File it was read from.
    pub file: PathBuf,
}

impl Crd {
    /// The named version.
    pub fn version(&self, name: &str) -> Option<&CrdVersion> {
        self.versions.iter().find(|v| v.name == name)
    }
    /// Names of served versions.
    pub fn served(&self) -> Vec<&str> {
        self.versions.iter().filter(|v| v.served).map(|v| v.name.as_str()).collect()
    }
}

/// Errors reading CRDs.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The directory cannot be read.
    #[error("cannot read CRD directory {dir}: {source}; pass --crds with a directory of CustomResourceDefinition YAML")]
    Dir {
        /// Directory.
        dir: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A CRD file does not parse.
    #[error("CRD file {file}: {message}")]
    File {
        /// File.
        file: PathBuf,
        /// Cause.
        message: String,
    },
}

/// A set of CRDs by (group, kind).
#[derive(Debug, Clone, Default)]
pub struct CrdCatalog {
    crds: BTreeMap<(String, String), Crd>,
}

impl CrdCatalog {
    /// Read every `*.yaml` in `dir`.
    pub fn load_dir(dir: &Path) -> Result<CrdCatalog, CrdError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| CrdError::Dir { dir: dir.to_path_buf(), source })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| yaml_docs::is_yaml(p))
            .collect();
        files.sort();
        let mut cat = CrdCatalog::default();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| CrdError::File { file: file.clone(), message: e.to_string() })?;
            // Helm templates: drop template-only lines; what is left is plain YAML.
            let text: String = text.lines().filter(|l| !l.contains("{{")).map(|l| format!("{l}\n")).collect();
            let docs = yaml_docs::parse_str(&file, &text).map_err(|e| CrdError::File { file: file.clone(), message: e.to_string() })?;
            for d in docs {
                if let Some(crd) = parse_crd(&d.value, &file) {
                    cat.crds.insert((crd.group.clone(), crd.kind.clone()), crd);
                }
            }
        }
        Ok(cat)
    }

    /// The CRD of a group and kind.
    pub fn get(&self, group: &str, kind: &str) -> Option<&Crd> {
        self.crds.get(&(group.to_string(), kind.to_string()))
    }

    /// All CRDs.
    pub fn iter(&self) -> impl Iterator<Item = &Crd> {
        self.crds.values()
    }

    /// Number of CRDs.
    pub fn len(&self) -> usize {
        self.crds.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.crds.is_empty()
    }

    /// Validate an object against its CRD's schema for its apiVersion. `None` when there is no
    /// CRD or no schema for that version (nothing to say); otherwise the violations.
    pub fn validate(&self, object: &Value) -> Option<Vec<String>> {
        self.validate_inner(object, false)
    }

    /// Like [`CrdCatalog::validate`], but the `status` is checked too (for recorded objects).
    pub fn validate_with_status(&self, object: &Value) -> Option<Vec<String>> {
        self.validate_inner(object, true)
    }

    /// Like [`CrdCatalog::validate`], each violation with the JSON pointer of the offending field
    /// (for an exact `file:line`).
    pub fn validate_detailed(&self, object: &Value) -> Option<Vec<SchemaViolation>> {
        self.violations(object, false)
    }

    fn validate_inner(&self, object: &Value, with_status: bool) -> Option<Vec<String>> {
        let v = self.violations(object, with_status)?;
        Some(v.into_iter().map(|e| format!("{}: {}", if e.pointer.is_empty() { "/" } else { &e.pointer }, e.message)).collect())
    }

    fn violations(&self, object: &Value, with_status: bool) -> Option<Vec<SchemaViolation>> {
        let api_version = object.get("apiVersion")?.as_str()?;
        let kind = object.get("kind")?.as_str()?;
        let (group, version) = api_version.rsplit_once('/')?;
        let schema = self.get(group, kind)?.version(version)?.schema.as_ref()?;
        let json_schema = to_json_schema(schema);
        let validator = jsonschema::options().should_validate_formats(false).build(&json_schema).ok()?;
        // metadata is validated by the API server itself, not by the CRD schema.
        let mut obj = object.clone();
        if let Some(m) = obj.as_object_mut() {
            m.remove("metadata");
            if !with_status {
                m.remove("status");
            }
        }
        // The API server drops `null` fields before validating (`key: ~` or `key:` with nothing
        // after it is how YAML writes "unset"), so they are never schema errors.
        prune_nulls(&mut obj);
        let errors = validator
            .iter_errors(&obj)
            .map(|e| SchemaViolation { pointer: e.instance_path().to_string(), message: e.to_string() })
            .collect();
        Some(errors)
    }
}

/// One schema violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// JSON pointer of the field (`/spec/prune`); empty for the object itself.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// Remove `null` map entries, recursively.
fn prune_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(prune_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

fn parse_crd(v: &Value, file: &Path) -> Option<Crd> {
    if v.get("kind")?.as_str()? != "CustomResourceDefinition" {
        return None;
    }
    let spec = v.get("spec")?;
    let versions = spec
        .get("versions")?
        .as_array()?
        .iter()
        .filter_map(|ver| {
            Some(CrdVersion {
                name: ver.get("name")?.as_str()?.to_string(),
                served: ver.get("served").and_then(Value::as_bool).unwrap_or(false),
                storage: ver.get("storage").and_then(Value::as_bool).unwrap_or(false),
                deprecated: ver.get("deprecated").and_then(Value::as_bool).unwrap_or(false),
                schema: ver.pointer("/schema/openAPIV3Schema").cloned(),
            })
        })
        .collect();
    Some(Crd {
        group: spec.get("group")?.as_str()?.to_string(),
        kind: spec.pointer("/names/kind")?.as_str()?.to_string(),
        versions,
        file: file.to_path_buf(),
    })
}

/// Convert a Kubernetes structural OpenAPI v3 schema to JSON Schema: `nullable` becomes a `null`
/// type, `x-kubernetes-int-or-string` accepts both, other `x-kubernetes-*` keywords are dropped.
pub fn to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            let int_or_string = m.get("x-kubernetes-int-or-string").and_then(Value::as_bool).unwrap_or(false);
            let nullable = m.get("nullable").and_then(Value::as_bool).unwrap_or(false);
            for (k, v) in m {
                if k.starts_with("x-kubernetes-") || k == "nullable" {
                    continue;
                }
                // Property maps hold names, not keywords: convert each value, keep the names.
                if (k == "properties" || k == "patternProperties" || k == "definitions")
                    && let Value::Object(props) = v
                {
                    out.insert(k.clone(), Value::Object(props.iter().map(|(pk, pv)| (pk.clone(), to_json_schema(pv))).collect()));
                    continue;
                }
                out.insert(k.clone(), to_json_schema(v));
            }
            if int_or_string {
                out.remove("type");
                if !out.contains_key("anyOf") {
                    out.insert("type".into(), serde_json::json!(["integer", "string"]));
                }
            }
            if nullable && let Some(Value::String(t)) = out.get("type").cloned() {
                out.insert("type".into(), serde_json::json!([t, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

/// Where to look for CRDs when none is named: `$GITOPS_HARNESS_CRDS`, then `shared/reference/crds`
/// beside the repo or the current directory (the layout of this project's workspace).
pub fn discover_dir(repo_root: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GITOPS_HARNESS_CRDS") {
        return Some(PathBuf::from(p));
    }
    let mut candidates = Vec::new();
    for base in [Some(repo_root.to_path_buf()), std::env::current_dir().ok()].into_iter().flatten() {
        for anc in base.ancestors().take(4) {
            candidates.push(anc.join("shared/reference/crds"));
            candidates.push(anc.join("../shared/reference/crds"));
        }
    }
    candidates.into_iter().find(|c| c.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_fields_are_pruned_like_the_api_server_does() {
        let mut v = serde_json::json!({"spec": {"a": null, "b": [{"c": null, "d": 1}]}});
        prune_nulls(&mut v);
        assert_eq!(v, serde_json::json!({"spec": {"b": [{"d": 1}]}}));
    }

    #[test]
    fn nullable_and_int_or_string() {
        let s = serde_json::json!({"type":"object","properties":{"a":{"type":"string","nullable":true},"p":{"x-kubernetes-int-or-string":true}}});
        let j = to_json_schema(&s);
        assert_eq!(j["properties"]["a"]["type"], serde_json::json!(["string", "null"]));
        assert_eq!(j["properties"]["p"]["type"], serde_json::json!(["integer", "string"]));
    }
}
