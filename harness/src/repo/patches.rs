//! A Flux Kustomization's `spec.patches` applied to the objects it builds, as kustomize-controller
//! does after the build: so a parent that sets `wait`, `dependsOn` or `timeout` on every child
//! Kustomization it applies is read with those fields.
//!
//! A patch is a strategic merge patch (a YAML object: maps merged key by key, anything else
//! replaced, `null` removes) or a JSON 6902 list (`add`, `replace`, `remove`); it applies to the
//! objects its `target` selects (`group`, `version`, `kind`, `name` and `namespace` as anchored
//! regular expressions, `labelSelector`/`annotationSelector` as `key=value` lists), or, without a
//! target, to the object a strategic merge patch names. A patch this reader cannot parse is
//! left out (the build itself, in `render`, applies it for real).

use serde_json::{Map, Value};

use crate::yaml_docs::{self, YamlDoc};

fn anchored(pattern: &str, s: &str) -> bool {
    regex::Regex::new(&format!("^(?:{pattern})$")).map(|re| re.is_match(s)).unwrap_or(pattern == s)
}

fn selector(sel: &str, m: Option<&Value>) -> bool {
    sel.split(',').map(str::trim).filter(|c| !c.is_empty()).all(|c| match c.split_once('=') {
        Some((k, v)) => {
            m.and_then(|m| m.get(k.trim_end_matches('!'))).and_then(Value::as_str).is_some_and(|x| (x == v.trim()) != k.ends_with('!'))
        }
        None => m.and_then(|m| m.get(c)).is_some(),
    })
}

fn targets(target: &Value, obj: &Value) -> bool {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let fields = [
        ("group", group),
        ("version", version),
        ("kind", s("/kind")),
        ("name", s("/metadata/name")),
        ("namespace", s("/metadata/namespace")),
    ];
    fields.iter().all(|(k, v)| target.get(*k).and_then(Value::as_str).is_none_or(|p| anchored(p, v)))
        && target.get("labelSelector").and_then(Value::as_str).is_none_or(|l| selector(l, obj.pointer("/metadata/labels")))
        && target.get("annotationSelector").and_then(Value::as_str).is_none_or(|l| selector(l, obj.pointer("/metadata/annotations")))
}

/// Strategic merge, as far as this reader needs it: maps merged, `null` removes, lists replaced.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if k.starts_with("$patch") || k.starts_with("$setElementOrder") {
                    continue;
                }
                match (b.get_mut(k), v) {
                    (_, Value::Null) => {
                        b.remove(k);
                    }
                    (Some(slot @ Value::Object(_)), Value::Object(_)) => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn pointer_parts(path: &str) -> Vec<String> {
    path.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

/// One JSON 6902 operation; false when it does not apply (the patch is then left out).
fn op(obj: &mut Value, op: &Value) -> bool {
    let (Some(kind), Some(path)) = (op.get("op").and_then(Value::as_str), op.get("path").and_then(Value::as_str)) else { return false };
    let parts = pointer_parts(path);
    let Some((last, parents)) = parts.split_last() else { return false };
    let mut cur = obj;
    for p in parents {
        cur = match cur {
            Value::Object(m) => match m.get_mut(p) {
                Some(v) => v,
                None => return false,
            },
            Value::Array(a) => match p.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    let value = op.get("value").cloned().unwrap_or(Value::Null);
    match (kind, cur) {
        ("add" | "replace", Value::Object(m)) => {
            m.insert(last.clone(), value);
            true
        }
        ("add", Value::Array(a)) if last == "-" => {
            a.push(value);
            true
        }
        ("add", Value::Array(a)) => match last.parse::<usize>() {
            Ok(i) if i <= a.len() => {
                a.insert(i, value);
                true
            }
            _ => false,
        },
        ("replace", Value::Array(a)) => match last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        },
        ("remove", Value::Object(m)) => m.remove(last).is_some(),
        ("remove", Value::Array(a)) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// Apply a Flux Kustomization's `spec.patches` to one object it builds.
pub(super) fn apply(mut doc: YamlDoc, patches: &[Value]) -> YamlDoc {
    for p in patches {
        let Some(text) = p.get("patch").and_then(Value::as_str) else { continue };
        let Ok(parsed) = yaml_docs::parse_str(&doc.file, text) else { continue };
        let Some(patch) = parsed.into_iter().next().map(|d| d.value) else { continue };
        match (&patch, p.get("target")) {
            (Value::Array(ops), Some(t)) if targets(t, &doc.value) => {
                let mut v = doc.value.clone();
                if ops.iter().all(|o| op(&mut v, o)) {
                    doc.value = v;
                }
            }
            (Value::Object(_), target) => {
                let selected = match target {
                    Some(t) => targets(t, &doc.value),
                    // Without a target, the patch applies to the object it names.
                    None => {
                        let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
                        s(&patch, "/kind") == s(&doc.value, "/kind") && s(&patch, "/metadata/name") == s(&doc.value, "/metadata/name")
                    }
                };
                if selected {
                    let mut body = patch.clone();
                    if let Some(m) = body.as_object_mut() {
                        // Identity fields of the patch are selectors, not changes.
                        m.remove("apiVersion");
                        m.remove("kind");
                        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                            meta.remove("name");
                            meta.remove("namespace");
                        }
                        if m.get("metadata").and_then(Value::as_object).is_some_and(Map::is_empty) {
                            m.remove("metadata");
                        }
                    }
                    merge(&mut doc.value, &body);
                }
            }
            _ => {}
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn doc(text: &str) -> YamlDoc {
        yaml_docs::parse_str(Path::new("x.yaml"), text).unwrap().remove(0)
    }

    #[test]
    fn strategic_and_json_patches_on_targets() {
        let ks = doc(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n  labels:\n    tier: web\nspec:\n  path: ./app\n  timeout: 5m\n",
        );
        let patches: Vec<Value> = serde_norway::from_str(
            "- patch: |\n    apiVersion: kustomize.toolkit.fluxcd.io/v1\n    kind: Kustomization\n    metadata:\n      name: _\n    spec:\n      wait: true\n      timeout: null\n  target:\n    group: kustomize.toolkit.fluxcd.io\n    kind: Kustomization\n- patch: |\n    - op: add\n      path: /spec/retryInterval\n      value: 1m\n  target:\n    kind: Kustom.*\n    labelSelector: tier=web\n- patch: |\n    - op: add\n      path: /spec/force\n      value: true\n  target:\n    name: other\n",
        )
        .unwrap();
        let out = apply(ks, &patches);
        assert_eq!(out.value["spec"]["wait"], true);
        assert!(out.value["spec"].get("timeout").is_none());
        assert_eq!(out.value["spec"]["retryInterval"], "1m");
        assert!(out.value["spec"].get("force").is_none(), "targets another name");
        assert_eq!(out.value["metadata"]["name"], "app");
    }
}
