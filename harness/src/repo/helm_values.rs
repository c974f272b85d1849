//! A HelmRelease's values as helm-controller composes them: each `valuesFrom` entry in order
//! (a ConfigMap or Secret key, whole or placed at `targetPath`), then `spec.values` on top; each
//! layer keeps where it is written, so a schema error names the line of the offending value.
//!
//! A `valuesFrom` object is found in the repo as a ConfigMap/Secret document (its key's text), or
//! as a kustomize `configMapGenerator`/`secretGenerator` of that name (the generated key's file,
//! with exact positions). One that is not in the repo (created in the cluster, or encrypted) is
//! listed in [`ReleaseValues::missing`].

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::Repo;
use super::model::{HelmRelease, ObjectRef, Origin};
use super::paths::{Resolved, resolve};
use crate::yaml_docs::{self, YamlDoc};

/// One source of values, with where its fields are written.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The values.
    pub value: Value,
    /// The document they are written in, and the dotted path of the values inside it.
    pub doc: YamlDoc,
    /// Dotted path of the values inside `doc` (`spec.values`, or empty for a values file).
    pub base: String,
    /// Dotted `targetPath` the layer is placed at (empty: merged at the top).
    pub target: String,
}

/// The composed values of a release.
#[derive(Debug, Clone, Default)]
pub struct ReleaseValues {
    /// Layers, lowest precedence first.
    pub layers: Vec<Layer>,
    /// The merged user values (before the chart's defaults).
    pub merged: Value,
    /// `valuesFrom` entries the repo does not hold (`ConfigMap/name`).
    pub missing: Vec<String>,
}

/// Flux's merge of values maps: later maps win key by key, recursively.
pub fn merge(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(k) {
                    Some(slot @ Value::Object(_)) if v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, t) => *b = t.clone(),
    }
}

/// Put `v` at a dotted path (creating maps on the way).
fn set_at(root: &mut Value, path: &str, v: Value) {
    let mut cur = root;
    let segs: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    for (i, s) in segs.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Some(m) = cur.as_object_mut() else { return };
        if i + 1 == segs.len() {
            m.insert(s.to_string(), v);
            return;
        }
        cur = m.entry(s.to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The values text under `key` of a ConfigMap/Secret document, as a document of its own placed
/// at the key's block (its first line is the line after the key).
fn data_key_doc(obj: &YamlDoc, key: &str) -> Option<YamlDoc> {
    let v = &obj.value;
    let secret = v.get("kind").and_then(Value::as_str) == Some("Secret");
    let (text, field) = match (v.pointer("/stringData").and_then(|d| d.get(key)), v.pointer("/data").and_then(|d| d.get(key))) {
        (Some(Value::String(s)), _) => (s.clone(), "stringData"),
        (_, Some(Value::String(s))) if secret => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(s.trim()).ok()?;
            (String::from_utf8_lossy(&bytes).into_owned(), "data")
        }
        (_, Some(Value::String(s))) => (s.clone(), "data"),
        _ => return None,
    };
    let key_line = obj.line_at_segments(&[field, key]);
    let mut docs = yaml_docs::parse_str(&obj.file, &text).ok()?;
    let mut d = docs.drain(..).next()?;
    // A block scalar starts on the line after its key; base64 data has no usable positions.
    d.line = if field == "data" && secret { key_line } else { key_line + 1 };
    d.generated = obj.generated.clone();
    Some(d)
}

/// A kustomize generator of `name` that produces `key`: the file it reads.
fn generator_file(repo: &Repo, kind: &str, name: &str, ns: Option<&str>, key: &str) -> Option<PathBuf> {
    let gen_key = if kind == "Secret" { "secretGenerator" } else { "configMapGenerator" };
    for kf in repo.kustomize_files() {
        for g in kf.doc.value.get(gen_key).and_then(Value::as_array).into_iter().flatten() {
            if g.get("name").and_then(Value::as_str) != Some(name) {
                continue;
            }
            let gns = g.get("namespace").and_then(Value::as_str).or(kf.namespace.as_deref());
            if gns.is_some() && ns.is_some() && gns != ns {
                continue;
            }
            for f in g.get("files").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                let (k, path) = match f.split_once('=') {
                    Some((k, p)) => (k.to_string(), p),
                    None => (Path::new(f).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), f),
                };
                if k == key
                    && let Resolved::Inside(rel) = resolve(&repo.root, &kf.dir, path)
                {
                    return Some(rel);
                }
            }
        }
    }
    None
}

/// The values of `hr`, layer by layer.
pub fn release_values(repo: &Repo, hr: &HelmRelease) -> ReleaseValues {
    let mut out = ReleaseValues::default();
    let ns = hr.key.namespace.as_deref();
    let refs = hr.doc.value.pointer("/spec/valuesFrom").and_then(Value::as_array).cloned().unwrap_or_default();
    for r in &refs {
        let (Some(kind), Some(name)) = (r.get("kind").and_then(Value::as_str), r.get("name").and_then(Value::as_str)) else { continue };
        let key = r.get("valuesKey").and_then(Value::as_str).unwrap_or("values.yaml");
        let target = r.get("targetPath").and_then(Value::as_str).unwrap_or("").to_string();
        let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
        let okey = ObjectRef::of_kind(kind, ns, name);
        let from_object = repo.objects().iter().find(|o| o.key == okey).and_then(|o| {
            if o.doc.value.get("sops").is_some() {
                return None;
            }
            data_key_doc(&o.doc, key)
        });
        let doc = from_object.or_else(|| {
            let file = generator_file(repo, kind, name, ns, key)?;
            let text = std::fs::read_to_string(repo.root.join(&file)).ok()?;
            yaml_docs::parse_str(&file, &text).ok()?.into_iter().next()
        });
        match doc {
            Some(d) if target.is_empty() => out.layers.push(Layer { value: d.value.clone(), doc: d, base: String::new(), target }),
            Some(d) => {
                // With targetPath the key's content is one value (a string), placed there.
                let v = match &d.value {
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => d.value.clone(),
                    other => other.clone(),
                };
                out.layers.push(Layer { value: v, doc: d, base: String::new(), target });
            }
            None if optional => {}
            None => out.missing.push(format!("{kind}/{name}")),
        }
    }
    if hr.values.is_object() {
        out.layers.push(Layer { value: hr.values.clone(), doc: hr.doc.clone(), base: "spec.values".to_string(), target: String::new() });
    }
    let mut merged = Value::Object(Map::new());
    for l in &out.layers {
        if l.target.is_empty() {
            merge(&mut merged, &l.value);
        } else {
            set_at(&mut merged, &l.target, l.value.clone());
        }
    }
    out.merged = merged;
    out
}

impl ReleaseValues {
    /// Where the value at a JSON pointer (`/image/tag`) is written: the highest layer that holds
    /// it (or its deepest existing parent).
    pub fn origin_of(&self, pointer: &str) -> Option<Origin> {
        let segs: Vec<String> = pointer.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect();
        let mut best: Option<(usize, Origin)> = None;
        for l in self.layers.iter().rev() {
            let rel: Vec<String> = if l.target.is_empty() {
                segs.clone()
            } else {
                let t: Vec<String> = l.target.split('.').map(str::to_string).collect();
                if !segs.starts_with(&t) {
                    continue;
                }
                segs[t.len()..].to_vec()
            };
            // How deep the path exists in this layer.
            let mut cur = &l.value;
            let mut depth = 0;
            for s in &rel {
                let next = match cur {
                    Value::Object(m) => m.get(s),
                    Value::Array(a) => s.parse::<usize>().ok().and_then(|i| a.get(i)),
                    _ => None,
                };
                match next {
                    Some(n) => {
                        cur = n;
                        depth += 1;
                    }
                    None => break,
                }
            }
            if depth == rel.len() || best.as_ref().is_none_or(|(d, _)| depth > *d) {
                let mut path: Vec<&str> = l.base.split('.').filter(|s| !s.is_empty()).collect();
                path.extend(rel[..depth].iter().map(String::as_str));
                let line = l.doc.line_at_segments(&path);
                let origin = Origin { file: l.doc.file.clone(), line, via: l.doc.generated_note().cloned() };
                if depth == rel.len() {
                    return Some(origin);
                }
                best = Some((depth, origin));
            }
        }
        best.map(|(_, o)| o)
    }
}
