//! The recorded canary sequences must have the shapes of the real CRDs
//! (../shared/reference/crds): each Canary / TrafficSplit / HTTPRoute line validates against its
//! version's openAPIV3Schema, and carries no field the API server would prune.

use crate::common;

use std::path::Path;

use serde::Deserialize as _;
use serde_json::Value;

/// All CRDs under reference/crds, Helm template lines (`{{ ... }}`) stripped.
fn crds() -> Vec<Value> {
    let dir = common::shared_reference().join("crds");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let text: String = text.lines().filter(|l| !l.contains("{{")).map(|l| format!("{l}\n")).collect();
        for de in serde_norway::Deserializer::from_str(&text) {
            let v = Value::deserialize(de).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            if v.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition") {
                out.push(v);
            }
        }
    }
    out
}

fn schema_for(crds: &[Value], api_version: &str, kind: &str) -> Option<Value> {
    let (group, version) = api_version.split_once('/')?;
    let crd = crds.iter().find(|c| {
        c.pointer("/spec/group").and_then(Value::as_str) == Some(group)
            && c.pointer("/spec/names/kind").and_then(Value::as_str) == Some(kind)
    })?;
    let v = crd.pointer("/spec/versions")?.as_array()?.iter().find(|v| v.get("name").and_then(Value::as_str) == Some(version))?;
    assert_eq!(v.get("served").and_then(Value::as_bool), Some(true), "{api_version} {kind} is not served");
    v.pointer("/schema/openAPIV3Schema").cloned()
}

/// Fields the API server would prune (not declared in a structural schema).
fn unknown_fields(schema: &Value, obj: &Value, path: &str, out: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true) {
        return;
    }
    match obj {
        Value::Object(map) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                    for (k, v) in map {
                        unknown_fields(ap, v, &format!("{path}.{k}"), out);
                    }
                }
                return;
            };
            for (k, v) in map {
                match props.get(k) {
                    Some(s) => unknown_fields(s, v, &format!("{path}.{k}"), out),
                    None if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") => {}
                    None => out.push(format!("{path}.{k}")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(s, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn validate(crds: &[Value], obj: &Value) -> Result<bool, String> {
    let api = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let Some(schema) = schema_for(crds, api, kind) else { return Ok(false) };
    let validator = jsonschema::validator_for(&schema).map_err(|e| format!("schema of {api} {kind}: {e}"))?;
    let errors: Vec<String> = validator.iter_errors(obj).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    let mut unknown = Vec::new();
    unknown_fields(&schema, obj, "", &mut unknown);
    if !errors.is_empty() || !unknown.is_empty() {
        return Err(format!("{api} {kind}: schema errors {errors:?}, pruned fields {unknown:?}"));
    }
    Ok(true)
}

#[test]
fn recordings_match_the_real_crds() {
    let crds = crds();
    assert!(crds.len() >= 5, "expected the Flux/Flagger/SMI/Gateway CRDs, found {}", crds.len());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/canary");
    let mut validated = std::collections::BTreeMap::<String, usize>::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        files += 1;
        for (i, line) in std::fs::read_to_string(&p).unwrap().lines().enumerate() {
            let obj: Value = serde_json::from_str(line).unwrap();
            match validate(&crds, &obj) {
                Ok(true) => {
                    *validated.entry(format!("{} {}", obj["apiVersion"].as_str().unwrap(), obj["kind"].as_str().unwrap())).or_default() += 1
                }
                Ok(false) => {
                    // Core kinds (Deployment, Ingress) have no CRD here.
                    assert!(
                        matches!(obj["kind"].as_str(), Some("Deployment" | "Ingress")),
                        "{}:{}: no CRD for {}",
                        p.display(),
                        i + 1,
                        obj["kind"]
                    );
                }
                Err(e) => panic!("{}:{}: {e}", p.display(), i + 1),
            }
        }
    }
    assert_eq!(files, 4, "expected the four recorded sequences");
    for kind in [
        "flagger.app/v1beta1 Canary",
        "split.smi-spec.io/v1alpha1 TrafficSplit",
        "split.smi-spec.io/v1alpha2 TrafficSplit",
        "gateway.networking.k8s.io/v1beta1 HTTPRoute",
    ] {
        assert!(validated.get(kind).copied().unwrap_or(0) > 0, "no {kind} validated: {validated:?}");
    }
}

#[test]
fn the_validation_catches_bad_shapes() {
    let crds = crds();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/canary");
    let first = |f: &str, kind: &str| -> Value {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|o| o["kind"] == kind)
            .unwrap()
    };
    let mut c = first("face-fails-smi.jsonl", "Canary");
    c["status"]["phase"] = "Exploded".into();
    assert!(validate(&crds, &c).unwrap_err().contains("Exploded"));
    let mut c = first("face-fails-smi.jsonl", "Canary");
    c["spec"]["analysis"]["stepWeigth"] = 5.into();
    assert!(validate(&crds, &c).unwrap_err().contains(".spec.analysis.stepWeigth"));
    let mut ts = first("face-fails-smi.jsonl", "TrafficSplit");
    ts["spec"]["backends"][0]["weight"] = "ninety".into();
    assert!(validate(&crds, &ts).is_err(), "v1alpha2 weights are numbers");
    let mut hr = first("face-promotes-gatewayapi.jsonl", "HTTPRoute");
    hr["spec"]["rules"][0]["backendRefs"][0]["weight"] = 2_000_000.into();
    assert!(validate(&crds, &hr).is_err(), "HTTPRoute weights are capped at 1000000");
}
