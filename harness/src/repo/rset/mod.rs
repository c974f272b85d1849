//! Flux Operator `ResourceSet`s expanded as the operator does, offline.
//!
//! Facts carried over from the operator's documentation and its `build rset` command:
//! - inputs are `spec.inputs` (each annotated with `provider`: the ResourceSet itself) and the
//!   exported inputs of the `ResourceSetInputProvider`s that `spec.inputsFrom` names (by name or
//!   label selector, same namespace, sorted by name); of those only `type: Static` is known
//!   without a cluster: its one input is `spec.defaultValues` with `id` = Adler-32 of its name
//!   (the operator uses the object's UID, which only the cluster knows);
//! - `inputStrategy: Flatten` (default) concatenates the ResourceSet's inputs and each
//!   provider's; `Permute` takes their Cartesian product, each set under the provider's
//!   normalised name, with `id` = Adler-32 of `name=index/…`;
//! - each `spec.resources` entry is written as YAML (go-yaml's layout) and run as a Go template
//!   with `<< >>` delimiters per input set, then read as one object; `spec.resourcesTemplate` is
//!   run as is and read as several; `spec.steps` do the same per step;
//! - objects whose `fluxcd.controlplane.io/reconcile` annotation is `disabled` are dropped;
//!   duplicates (group, kind, namespace, name) are kept once, `resources` winning over
//!   `resourcesTemplate`; with `inputsFrom` and no inputs nothing is generated;
//! - `spec.commonMetadata` labels and annotations are set on every object, and so are the owner
//!   labels `resourceset.fluxcd.controlplane.io/{name,namespace}`.

pub mod funcs;
pub mod goyaml;
pub mod template;
pub mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use self::template::TemplateError;
use self::value::TVal;
use crate::yaml_docs::{self, Generated, YamlDoc};

/// The group of the operator's APIs.
pub const GROUP: &str = "fluxcd.controlplane.io";
/// The annotation that excludes a generated object.
const RECONCILE: &str = "fluxcd.controlplane.io/reconcile";
/// Generated objects per ResourceSet at most (the walk stays bounded).
const MAX_OBJECTS: usize = 10_000;

/// A ResourceSetInputProvider as far as expansion needs it.
#[derive(Debug, Clone)]
pub struct Provider<'a> {
    /// Name.
    pub name: &'a str,
    /// Namespace.
    pub namespace: Option<&'a str>,
    /// The document.
    pub doc: &'a YamlDoc,
}

/// Something about one ResourceSet's expansion for `check` to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The operator would fail too (template or output error): nothing is generated.
    Invalid(String),
    /// Some or all of it cannot be known offline (dynamic providers, unimplemented functions).
    Partial(String),
}

/// The objects one ResourceSet generates.
#[derive(Debug, Clone, Default)]
pub struct Expansion {
    /// The generated documents, positioned in the ResourceSet (see [`Generated`]).
    pub docs: Vec<YamlDoc>,
    /// What went wrong or is unknown, with the dotted path it is about.
    pub problems: Vec<(String, Problem)>,
}

/// One input set with where it came from.
struct InputSet {
    value: TVal,
    from: String,
}

fn str_of<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    yaml_docs::value_at(v, path).and_then(Value::as_str)
}

/// A short description of an input for messages: up to three scalar fields, those that tell it
/// from its sibling inputs (`distinct`) first.
fn describe(input: &Map<String, Value>, distinct: &[&str]) -> String {
    let mut parts = Vec::new();
    let first = input.iter().filter(|(k, _)| distinct.contains(&k.as_str()));
    let rest = input.iter().filter(|(k, _)| !distinct.contains(&k.as_str()));
    for (k, v) in first.chain(rest) {
        if k == "provider" || parts.len() == 3 {
            continue;
        }
        let shown = match v {
            Value::String(s) if s.chars().count() > 40 => format!("{}…", s.chars().take(40).collect::<String>()),
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) | Value::Null => v.to_string(),
            _ => continue,
        };
        parts.push(format!("{k}: {shown}"));
    }
    if parts.is_empty() { String::new() } else { format!(" {{{}}}", parts.join(", ")) }
}

fn provider_ref(kind: &str, name: &str, ns: &str) -> Value {
    serde_json::json!({"apiVersion": format!("{GROUP}/v1"), "kind": kind, "name": name, "namespace": ns})
}

/// Go's `unicode.IsPunct` for ASCII (what the operator's key normalisation turns into `_`).
fn normalize_key(name: &str) -> String {
    let mapped: String = name
        .chars()
        .filter_map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_whitespace() || c.is_ascii_punctuation() {
                Some('_')
            } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
                Some(c)
            } else {
                None
            }
        })
        .collect();
    mapped.split('_').filter(|w| !w.is_empty()).collect::<Vec<_>>().join("_")
}

/// Whether a provider's labels match one `inputsFrom[].selector`.
fn selector_matches(sel: &Value, labels: &Map<String, Value>) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let ml = sel.get("matchLabels").and_then(Value::as_object).is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let me = sel.get("matchExpressions").and_then(Value::as_array).is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => label(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            }
        })
    });
    ml && me
}

/// Expand one ResourceSet (`namespace` is the one it lives in).
pub fn expand(rset: &YamlDoc, name: &str, namespace: &str, providers: &[Provider<'_>]) -> Expansion {
    let mut out = Expansion::default();
    let spec = rset.value.get("spec").cloned().unwrap_or(Value::Null);
    let steps = spec.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    let has_resources = spec.get("resources").and_then(Value::as_array).is_some_and(|r| !r.is_empty())
        || spec.get("resourcesTemplate").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    if !steps.is_empty() && has_resources {
        out.problems.push((
            "spec.steps".into(),
            Problem::Invalid("spec.steps is mutually exclusive with spec.resources and spec.resourcesTemplate".into()),
        ));
        return out;
    }

    // Inputs, with where each came from.
    let mut sources: Vec<(String, Vec<InputSet>)> = Vec::new();
    let listed: Vec<&Map<String, Value>> =
        spec.get("inputs").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object).collect();
    // The fields whose values differ between the inputs: what names one in a message.
    let distinct: Vec<&str> = listed
        .iter()
        .flat_map(|m| m.keys())
        .filter(|k| listed.iter().any(|m| m.get(*k) != listed[0].get(*k)))
        .map(String::as_str)
        .collect();
    let inline: Vec<InputSet> = spec
        .get("inputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, v)| {
            let mut m = v.as_object()?.clone();
            m.insert("provider".into(), provider_ref("ResourceSet", name, namespace));
            let from = format!("its inputs[{i}]{}", describe(&m, &distinct));
            Some(InputSet { value: template::inputs_of(&m), from })
        })
        .collect();
    sources.push((name.to_string(), inline));
    let inputs_from = spec.get("inputsFrom").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut selected: BTreeMap<&str, &Provider> = BTreeMap::new();
    for (i, r) in inputs_from.iter().enumerate() {
        if let Some(n) = r.get("name").and_then(Value::as_str) {
            match providers.iter().find(|p| p.name == n && p.namespace.unwrap_or(namespace) == namespace) {
                Some(p) => {
                    selected.insert(p.name, p);
                }
                None => out.problems.push((
                    format!("spec.inputsFrom.{i}"),
                    Problem::Partial(format!(
                        "ResourceSetInputProvider {namespace}/{n} is not in the repo: the objects generated from its inputs are not checked"
                    )),
                )),
            }
        } else if let Some(sel) = r.get("selector") {
            for p in providers.iter().filter(|p| p.namespace.unwrap_or(namespace) == namespace) {
                let labels = p.doc.value.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
                if selector_matches(sel, &labels) {
                    selected.insert(p.name, p);
                }
            }
        }
    }
    let mut dynamic = Vec::new();
    for (pname, p) in &selected {
        let ptype = str_of(&p.doc.value, "spec.type").unwrap_or("");
        if ptype != "Static" {
            dynamic.push(format!("{pname} ({ptype})"));
            sources.push((pname.to_string(), Vec::new()));
            continue;
        }
        let mut m = p.doc.value.pointer("/spec/defaultValues").and_then(Value::as_object).cloned().unwrap_or_default();
        m.insert("id".into(), Value::String(funcs::adler32(pname.as_bytes()).to_string()));
        m.insert("provider".into(), provider_ref("ResourceSetInputProvider", pname, namespace));
        let from = format!("ResourceSetInputProvider {namespace}/{pname}{}", describe(&m, &[]));
        sources.push((pname.to_string(), vec![InputSet { value: template::inputs_of(&m), from }]));
    }
    if !dynamic.is_empty() {
        out.problems.push((
            "spec.inputsFrom".into(),
            Problem::Partial(format!(
                "inputs of {} come from the cluster (only `Static` providers are known offline): the objects generated from them are not checked",
                dynamic.join(", ")
            )),
        ));
    }
    let strategy = str_of(&spec, "inputStrategy.name").unwrap_or("Flatten");
    let include_empty = spec.pointer("/inputStrategy/includeEmptyProviders").and_then(Value::as_bool).unwrap_or(false);
    let combined: Vec<InputSet> = match strategy {
        "Flatten" => sources.into_iter().flat_map(|(_, s)| s).collect(),
        "Permute" => match permute(sources, include_empty) {
            Ok(c) => c,
            Err(e) => {
                out.problems.push(("spec.inputStrategy".into(), Problem::Invalid(e)));
                return out;
            }
        },
        other => {
            out.problems.push(("spec.inputStrategy.name".into(), Problem::Invalid(format!("unknown input strategy: '{other}'"))));
            return out;
        }
    };
    if !inputs_from.is_empty() && combined.is_empty() {
        // As the operator: providers with no inputs generate nothing (and prune what was there).
        return out;
    }

    // What is built: the resources and template of the ResourceSet or of each step.
    let mut units: Vec<(String, Vec<Value>, Option<String>)> = Vec::new();
    if steps.is_empty() {
        units.push((
            "spec".into(),
            spec.get("resources").and_then(Value::as_array).cloned().unwrap_or_default(),
            spec.get("resourcesTemplate").and_then(Value::as_str).map(str::to_string),
        ));
    } else {
        for (j, st) in steps.iter().enumerate() {
            units.push((
                format!("spec.steps.{j}"),
                st.get("resources").and_then(Value::as_array).cloned().unwrap_or_default(),
                st.get("resourcesTemplate").and_then(Value::as_str).map(str::to_string),
            ));
        }
    }
    let text: Arc<str> = Arc::from(rset.text.as_str());
    let rset_name = format!("{namespace}/{name}");
    let no_input = InputSet { value: TVal::Nil, from: "no inputs".into() };
    let sets: Vec<&InputSet> = if combined.is_empty() { vec![&no_input] } else { combined.iter().collect() };
    let mut seen_in_steps: BTreeMap<String, String> = BTreeMap::new();
    for (base, resources, tmpl) in units {
        let mut keys: BTreeSet<String> = BTreeSet::new();
        let mut step_docs: Vec<YamlDoc> = Vec::new();
        let mut add = |doc: YamlDoc, dedup: bool, keys: &mut BTreeSet<String>, out: &mut Expansion| {
            let key = object_key(&doc.value);
            if dedup && keys.contains(&key) {
                return;
            }
            if let Some(prev) = seen_in_steps.get(&key).filter(|p| **p != base) {
                out.problems.push((base.clone(), Problem::Invalid(format!("duplicate resource {key}, already defined in {prev}"))));
                return;
            }
            seen_in_steps.insert(key.clone(), base.clone());
            keys.insert(key);
            step_docs.push(doc);
        };
        for (i, res) in resources.iter().enumerate() {
            let prefix = format!("{base}.resources.{i}");
            let src = goyaml::json_to_yaml(res);
            let t = match template::parse(&src) {
                Ok(t) => t,
                Err(e) => {
                    out.problems.push((prefix, problem(e, "parse", None)));
                    continue;
                }
            };
            for set in &sets {
                let rendered = match t.execute(&set.value) {
                    Ok(r) => r,
                    Err(e) => {
                        out.problems.push((prefix.clone(), problem(e, &format!("execute for {}", set.from), None)));
                        break;
                    }
                };
                let docs = match yaml_docs::parse_str(&rset.file, &rendered) {
                    Ok(d) => d,
                    Err(e) => {
                        out.problems
                            .push((prefix.clone(), Problem::Invalid(format!("the object built for {} does not parse: {e}", set.from))));
                        break;
                    }
                };
                let Some(value) = docs.into_iter().next().map(|d| d.value) else { continue };
                if combined.is_empty() || !disabled(&value) {
                    let note = format!("generated by ResourceSet {rset_name} from {}", set.from);
                    let doc = generated(rset, &text, &prefix, true, note, value, rendered);
                    add(doc, !combined.is_empty(), &mut keys, &mut out);
                }
            }
        }
        if let Some(tmpl) = tmpl.filter(|t| !t.is_empty()) {
            let prefix = format!("{base}.resourcesTemplate");
            // A block scalar's text starts on the line after its key.
            let block = Some(rset.line_at(&prefix) + 1);
            match template::parse(&tmpl) {
                Err(e) => out.problems.push((prefix, problem(e, "parse", block))),
                Ok(t) => {
                    for set in &sets {
                        let rendered = match t.execute(&set.value) {
                            Ok(r) => r,
                            Err(e) => {
                                out.problems.push((prefix.clone(), problem(e, &format!("execute for {}", set.from), block)));
                                break;
                            }
                        };
                        let docs = match yaml_docs::parse_str(&rset.file, &rendered) {
                            Ok(d) => d,
                            Err(e) => {
                                out.problems.push((
                                    prefix.clone(),
                                    Problem::Invalid(format!("the objects built for {} do not parse: {e}", set.from)),
                                ));
                                break;
                            }
                        };
                        for d in docs {
                            if disabled(&d.value) {
                                continue;
                            }
                            let note = format!("generated by ResourceSet {rset_name} (resourcesTemplate) from {}", set.from);
                            let doc = generated(rset, &text, &prefix, false, note, d.value, d.text);
                            add(doc, true, &mut keys, &mut out);
                        }
                    }
                }
            }
        }
        out.docs.extend(step_docs);
        if out.docs.len() > MAX_OBJECTS {
            out.docs.truncate(MAX_OBJECTS);
            out.problems.push(("spec".into(), Problem::Partial(format!("more than {MAX_OBJECTS} objects; the rest are not checked"))));
            break;
        }
    }
    let common = spec.get("commonMetadata").cloned().unwrap_or(Value::Null);
    for d in &mut out.docs {
        set_metadata(&mut d.value, "labels", common.get("labels"));
        set_metadata(&mut d.value, "annotations", common.get("annotations"));
        let owner = serde_json::json!({
            format!("resourceset.{GROUP}/name"): name,
            format!("resourceset.{GROUP}/namespace"): namespace,
        });
        set_metadata(&mut d.value, "labels", Some(&owner));
    }
    out
}

/// A template error as a problem; `block` is the file line of a `resourcesTemplate` block's
/// first line (its errors name the file line), `None` for a `resources` entry (re-written as YAML
/// before it runs, so only the entry is named).
fn problem(e: TemplateError, what: &str, block: Option<usize>) -> Problem {
    let at = block.map(|l| format!(" at line {}", l + e.line() - 1)).unwrap_or_default();
    match e {
        TemplateError::Invalid { .. } => Problem::Invalid(format!("template {what}{at}: {e}")),
        TemplateError::Unsupported { .. } => Problem::Partial(format!("template {what}{at}: {e}; its objects are not checked")),
    }
}

fn disabled(v: &Value) -> bool {
    v.pointer("/metadata/annotations").and_then(|a| a.get(RECONCILE)).and_then(Value::as_str) == Some("disabled")
}

/// `group/kind/namespace/name`, the operator's identity of a generated object.
fn object_key(v: &Value) -> String {
    let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("");
    format!("{group}/{}/{}/{}", s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
}

fn set_metadata(v: &mut Value, field: &str, add: Option<&Value>) {
    let Some(add) = add.and_then(Value::as_object).filter(|m| !m.is_empty()) else { return };
    let Some(obj) = v.as_object_mut() else { return };
    let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else { return };
    let target = meta.entry(field).or_insert_with(|| Value::Object(Map::new()));
    if let Some(t) = target.as_object_mut() {
        for (k, val) in add {
            t.insert(k.clone(), val.clone());
        }
    }
}

fn generated(rset: &YamlDoc, text: &Arc<str>, prefix: &str, exact: bool, note: String, value: Value, rendered: String) -> YamlDoc {
    YamlDoc {
        file: rset.file.clone(),
        line: rset.line,
        index: rset.index,
        value,
        text: rendered,
        generated: Some(Arc::new(Generated {
            text: text.clone(),
            line: rset.line,
            prefix: prefix.to_string(),
            exact,
            note: Arc::from(note),
        })),
    }
}

/// The Cartesian product of the sources' inputs (sources without inputs are left out unless
/// `include_empty`), each under its normalised name, with the permutation's id.
fn permute(sources: Vec<(String, Vec<InputSet>)>, include_empty: bool) -> Result<Vec<InputSet>, String> {
    let mut scoped: Vec<(String, Vec<InputSet>)> = Vec::new();
    let mut total: u64 = 1;
    for (name, sets) in sources {
        if sets.is_empty() && !include_empty {
            continue;
        }
        total = total.saturating_mul(sets.len() as u64);
        if total > 10_000 {
            return Err(format!(
                "adding provider '{name}' with {} inputs would exceed the maximum allowed permutations. max: 10000",
                sets.len()
            ));
        }
        let key = normalize_key(&name);
        if key.is_empty() {
            return Err(format!("normalized provider name is empty: '{name}'"));
        }
        scoped.push((key, sets));
    }
    if scoped.is_empty() || scoped.iter().any(|(_, s)| s.is_empty()) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut idx = vec![0usize; scoped.len()];
    loop {
        let mut m = BTreeMap::new();
        let mut id = Vec::new();
        let mut from = Vec::new();
        for (p, (key, sets)) in scoped.iter().enumerate() {
            m.insert(key.clone(), sets[idx[p]].value.clone());
            id.push(format!("{key}={}", idx[p]));
            from.push(sets[idx[p]].from.clone());
        }
        let id = id.join("/");
        m.insert("id".to_string(), TVal::Str(funcs::adler32(id.as_bytes()).to_string()));
        out.push(InputSet { value: TVal::Map(m), from: format!("permutation {id} ({})", from.join(" × ")) });
        // Next index, last provider fastest (the operator's order).
        let mut p = scoped.len();
        loop {
            if p == 0 {
                return Ok(out);
            }
            p -= 1;
            idx[p] += 1;
            if idx[p] < scoped[p].1.len() {
                break;
            }
            idx[p] = 0;
        }
    }
}

/// Whether a document is a ResourceSet.
pub fn is_resourceset(api_version: &str, kind: &str) -> bool {
    kind == "ResourceSet" && api_version.starts_with(GROUP)
}

/// For tests and tools: expand a ResourceSet file on its own (static providers from `providers`).
pub fn expand_file(file: &Path, text: &str, providers_text: Option<&str>) -> Result<Vec<Value>, String> {
    let docs = yaml_docs::parse_str(file, text).map_err(|e| e.to_string())?;
    let pdocs = match providers_text {
        Some(t) => yaml_docs::parse_str(file, t).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let providers: Vec<Provider> = pdocs
        .iter()
        .map(|d| Provider { name: d.str_at("metadata.name").unwrap_or(""), namespace: d.str_at("metadata.namespace"), doc: d })
        .collect();
    let mut out = Vec::new();
    for d in docs.iter().filter(|d| d.str_at("kind") == Some("ResourceSet")) {
        let e = expand(d, d.str_at("metadata.name").unwrap_or(""), d.str_at("metadata.namespace").unwrap_or("default"), &providers);
        if let Some((at, p)) = e.problems.first() {
            return Err(format!("{at}: {p:?}"));
        }
        out.extend(e.docs.into_iter().map(|d| d.value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
