//! Drift: what git declares vs what the cluster runs.
//!
//! The core, [`compute`], is pure: rendered manifests (what Flux applies at the Kustomization's
//! `lastAppliedRevision`), live objects, live Flux Kustomizations and the served branch head in,
//! a [`DriftReport`] out. Kinds:
//! - **rollback**: a failed canary — git's Deployment spec differs from the `<name>-primary`
//!   Deployment that Flagger left serving the old spec;
//! - **edit**: a field Flux applied was changed by someone else (only fields present in the
//!   rendered manifest are compared, so defaulted and controller-owned fields never count);
//! - **revision**: a Kustomization's `lastAppliedRevision` is behind the branch head;
//! - **suspended**: a suspended Kustomization (git changes are not applied);
//! - **missing**: an object in git or in the inventory that is not in the cluster.
//!
//! [`live`] gathers the live side from a cluster (inventory ids `<ns>_<name>_<group>_<kind>`).

pub mod live;

mod check;
pub use check::{check, check_cluster};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::flagger::quantity;
use crate::flux::{ObjectRef, Revision, SourceRef, conditions};

/// Errors of drift detection (gathering, rendering).
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// Talking to the cluster failed.
    #[error("{action}: {source}; is the cluster reachable (`gitops-harness status`)?")]
    Kube {
        /// What we were doing.
        action: String,
        /// Underlying error.
        source: kube::Error,
    },
    /// git failed (reading the head or exporting a revision).
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    /// Building the manifests of a path failed.
    #[error("rendering {dir}: {message}")]
    Render {
        /// Directory.
        dir: std::path::PathBuf,
        /// What failed.
        message: String,
    },
    /// The repository could not be loaded.
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
    /// A Kustomization could not be built.
    #[error(transparent)]
    Build(#[from] crate::render::RenderError),
    /// A saved live snapshot could not be read or written.
    #[error("live snapshot {path}: {message}")]
    Snapshot {
        /// File or directory.
        path: std::path::PathBuf,
        /// What failed.
        message: String,
    },
    /// An inventory entry id is malformed.
    #[error("Kustomization {kustomization}: inventory entry `{id}` is not `<namespace>_<name>_<group>_<kind>`")]
    BadInventoryId {
        /// `ns/name`.
        kustomization: String,
        /// The id.
        id: String,
    },
    /// The inventory names a kind the cluster does not serve.
    #[error("inventory of Kustomization {kustomization} names {group}/{kind}, which the cluster does not serve; was its CRD removed?")]
    UnknownKind {
        /// `ns/name`.
        kustomization: String,
        /// API group.
        group: String,
        /// Kind.
        kind: String,
    },
    /// An inventory kind's API could not be read.
    #[error("Kustomization {kustomization}: {source}")]
    Kinds {
        /// `ns/name`.
        kustomization: String,
        /// Cause.
        source: Box<crate::kinds::KindError>,
    },
}

/// What kind of drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    /// Failed canary: primary runs an older spec than git declares.
    Rollback,
    /// A canary rollout is under way: the primary differs from git for now (not drift).
    RolloutInProgress,
    /// A field applied by Flux was changed in the cluster.
    Edit,
    /// In git / the inventory, not in the cluster.
    Missing,
    /// Kustomization applied an older revision than the branch head.
    Revision,
    /// Kustomization is suspended.
    Suspended,
}

impl DriftKind {
    /// Whether this kind counts as drift (exit code 1).
    pub fn is_drift(self) -> bool {
        !matches!(self, DriftKind::RolloutInProgress)
    }
}

impl fmt::Display for DriftKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriftKind::Rollback => "rollback",
            DriftKind::RolloutInProgress => "rollout-in-progress",
            DriftKind::Edit => "edit",
            DriftKind::Missing => "missing",
            DriftKind::Revision => "revision",
            DriftKind::Suspended => "suspended",
        })
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftItem {
    /// Kind of drift.
    pub kind: DriftKind,
    /// `Kind ns/name` of the object (for revision drift: the Kustomization).
    pub object: String,
    /// Field path, when the drift is about one field.
    pub field: Option<String>,
    /// What git declares (JSON text; `null` when absent).
    pub git: Option<String>,
    /// What the cluster has.
    pub live: Option<String>,
    /// One sentence: what it means and what to do.
    pub message: String,
}

/// The result of a drift comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct DriftReport {
    /// Findings, ordered by kind then object.
    pub items: Vec<DriftItem>,
    /// How many rendered objects were compared.
    pub objects_checked: usize,
    /// How many Kustomizations were checked.
    pub kustomizations_checked: usize,
}

impl DriftReport {
    /// True when any finding is drift (rollouts in progress are not).
    pub fn has_drift(&self) -> bool {
        self.items.iter().any(|i| i.kind.is_drift())
    }

    /// How `drift` ends, like `flux diff`: success when none, failure on drift.
    pub fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::ok_if(!self.has_drift())
    }

    /// Findings of one kind.
    pub fn of_kind(&self, kind: DriftKind) -> Vec<&DriftItem> {
        self.items.iter().filter(|i| i.kind == kind).collect()
    }

    /// JSON: `{"drift": bool, "objectsChecked", "kustomizationsChecked", "items": [...]}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "drift": self.has_drift(),
            "objectsChecked": self.objects_checked,
            "kustomizationsChecked": self.kustomizations_checked,
            "items": self.items,
        })
    }

    /// Human table.
    pub fn table(&self) -> String {
        if self.items.is_empty() {
            return format!("no drift: {} objects and {} Kustomizations match git\n", self.objects_checked, self.kustomizations_checked);
        }
        let mut rows = vec![["KIND".to_string(), "OBJECT".into(), "FIELD".into(), "GIT".into(), "CLUSTER".into()]];
        for i in &self.items {
            rows.push([
                i.kind.to_string(),
                i.object.clone(),
                i.field.clone().unwrap_or_else(|| "-".into()),
                clip(i.git.as_deref().unwrap_or("-")),
                clip(i.live.as_deref().unwrap_or("-")),
            ]);
        }
        let mut w = [0usize; 5];
        for r in &rows {
            for (k, c) in r.iter().enumerate() {
                w[k] = w[k].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in &rows {
            let cells: Vec<String> = r.iter().enumerate().map(|(k, c)| format!("{c:<width$}", width = w[k])).collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out.push('\n');
        for i in &self.items {
            out.push_str(&format!("{} {}: {}\n", i.kind, i.object, i.message));
        }
        let n = self.items.iter().filter(|i| i.kind.is_drift()).count();
        out.push_str(&format!(
            "\n{n} drift finding(s) in {} objects and {} Kustomizations\n",
            self.objects_checked, self.kustomizations_checked
        ));
        out
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 60 { format!("{}…", s.chars().take(59).collect::<String>()) } else { s.to_string() }
}

/// Paths (dotted, `[*]` for any list item) never compared: owned by controllers or the API server.
const IGNORED: &[&str] = &[
    "status",
    "metadata.managedFields",
    "metadata.resourceVersion",
    "metadata.uid",
    "metadata.generation",
    "metadata.creationTimestamp",
    "metadata.selfLink",
    "metadata.ownerReferences",
    "metadata.finalizers",
    "metadata.annotations.deployment.kubernetes.io/revision",
    "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
    // Secrets: the API returns `data` for `stringData`; values are never printed either.
    "stringData",
];

/// Which GitRepository serves `head` (only Kustomizations from it are compared with `head`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftOptions {
    /// Namespace of the served GitRepository.
    pub source_namespace: String,
    /// Name of the served GitRepository.
    pub source_name: String,
}

impl Default for DriftOptions {
    fn default() -> Self {
        // What `flux bootstrap` and `gitops-harness up` create.
        DriftOptions { source_namespace: "flux-system".into(), source_name: "flux-system".into() }
    }
}

/// Compare git (rendered manifests) with the cluster. `head` is the served branch head sha
/// (empty: skip revision drift); the served source is `flux-system/flux-system`.
pub fn compute(rendered: &[Value], live: &[Value], kustomizations: &[Value], head: &str) -> DriftReport {
    compute_with(rendered, live, kustomizations, head, &DriftOptions::default())
}

/// [`compute`] with an explicit served source.
pub fn compute_with(rendered: &[Value], live: &[Value], kustomizations: &[Value], head: &str, opts: &DriftOptions) -> DriftReport {
    let live_by_id: BTreeMap<ObjectRef, &Value> = live.iter().filter_map(|o| ObjectRef::of(o).map(|id| (id, o))).collect();
    let mut items = Vec::new();

    // Canaries declared in git: target Deployment -> canary id; apex services.
    let mut canary_targets: BTreeMap<(String, String), ObjectRef> = BTreeMap::new();
    let mut apex_services: BTreeSet<(String, String)> = BTreeSet::new();
    for o in rendered {
        let Some(id) = ObjectRef::of(o) else { continue };
        if id.group == "flagger.app"
            && id.kind == "Canary"
            && let Some(t) = o.pointer("/spec/targetRef/name").and_then(Value::as_str)
        {
            canary_targets.insert((id.ns().to_string(), t.to_string()), id.clone());
            let apex = o.pointer("/spec/service/name").and_then(Value::as_str).unwrap_or(t);
            apex_services.insert((id.ns().to_string(), apex.to_string()));
        }
    }

    let mut checked = 0;
    let mut seen_ids = BTreeSet::new();
    for want in rendered {
        let Some(id) = ObjectRef::of(want) else { continue };
        checked += 1;
        seen_ids.insert(id.clone());
        let Some(have) = live_by_id.get(&id) else {
            items.push(DriftItem {
                kind: DriftKind::Missing,
                object: id.to_string(),
                field: None,
                git: Some("declared".into()),
                live: None,
                message: "declared in git but not in the cluster; check the Kustomization's Ready message (`flux get kustomizations`) or whether it was deleted by hand".into(),
            });
            continue;
        };
        let mut ignore: Vec<String> = IGNORED.iter().map(|s| s.to_string()).collect();
        let canary =
            if id.group == "apps" && id.kind == "Deployment" { canary_targets.get(&(id.ns().to_string(), id.name.clone())) } else { None };
        if canary.is_some() {
            // Flagger scales canary targets (to 0 between rollouts).
            ignore.push("spec.replicas".into());
        }
        if id.group.is_empty() && id.kind == "Service" && apex_services.contains(&(id.ns().to_string(), id.name.clone())) {
            // Flagger points the apex Service at `<name>-primary`.
            ignore.push("spec.selector".into());
        }
        let secret = id.group.is_empty() && id.kind == "Secret";
        let mut diffs = Vec::new();
        diff_fields(want, have, "", &ignore, &mut diffs);
        for (field, g, l) in diffs {
            items.push(DriftItem {
                kind: DriftKind::Edit,
                object: id.to_string(),
                git: Some(if secret { "(redacted)".into() } else { g }),
                live: Some(if secret { "(redacted)".into() } else { l }),
                message: format!("`{field}` was changed in the cluster after Flux applied it; Flux restores it on its next apply, or change git if the edit should stay"),
                field: Some(field),
            });
        }

        if let Some(canary_id) = canary {
            let primary_id = ObjectRef { name: format!("{}-primary", id.name), ..id.clone() };
            let Some(primary) = live_by_id.get(&primary_id) else {
                items.push(DriftItem {
                    kind: DriftKind::Missing,
                    object: primary_id.to_string(),
                    field: None,
                    git: Some(format!("created by Flagger for {canary_id}")),
                    live: None,
                    message: "Flagger has not created the primary Deployment; check the Canary's status and Flagger's logs".into(),
                });
                continue;
            };
            let phase =
                live_by_id.get(canary_id).and_then(|c| c.pointer("/status/phase")).and_then(Value::as_str).unwrap_or("").to_string();
            let mut diffs = Vec::new();
            if let (Some(w), Some(h)) = (want.pointer("/spec/template/spec"), primary.pointer("/spec/template/spec")) {
                diff_fields(w, h, "spec.template.spec", &[], &mut diffs);
            }
            for (field, g, l) in diffs {
                let (kind, message) = match phase.as_str() {
                    "Failed" => (
                        DriftKind::Rollback,
                        format!(
                            "{canary_id} failed and was rolled back: git declares the new spec, the primary serves the old one; fix the change in git (or revert it) to converge"
                        ),
                    ),
                    "Progressing" | "Waiting" | "WaitingPromotion" | "Promoting" | "Finalising" | "Initializing" => (
                        DriftKind::RolloutInProgress,
                        format!("{canary_id} is {phase}: the primary gets git's spec when the rollout is promoted"),
                    ),
                    _ => (
                        DriftKind::Edit,
                        format!(
                            "the primary of {canary_id} (phase {}) differs from git; it was edited by hand or Flagger did not copy the spec",
                            if phase.is_empty() { "unknown" } else { &phase }
                        ),
                    ),
                };
                items.push(DriftItem { kind, object: primary_id.to_string(), field: Some(field), git: Some(g), live: Some(l), message });
            }
        }
    }

    // Kustomizations: revision, suspension, inventory objects missing from the cluster.
    for ks in kustomizations {
        let Some(id) = ObjectRef::of(ks) else { continue };
        let key = id.to_string();
        if ks.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
            items.push(DriftItem {
                kind: DriftKind::Suspended,
                object: key.clone(),
                field: Some("spec.suspend".into()),
                git: None,
                live: Some("true".into()),
                message: format!(
                    "suspended: git changes are not applied; resume with `flux resume kustomization {} -n {}`",
                    id.name,
                    id.ns()
                ),
            });
        }
        let from_git = SourceRef::of_kustomization(ks).is_some_and(|s| s.is_git_repository(&opts.source_namespace, &opts.source_name));
        let applied = ks.pointer("/status/lastAppliedRevision").and_then(Value::as_str).unwrap_or("");
        if from_git && !head.is_empty() && Revision::parse(applied).digest != head {
            let attempted = ks.pointer("/status/lastAttemptedRevision").and_then(Value::as_str).unwrap_or("");
            let why = match conditions::ready(ks) {
                Some(c) if !c.is_true() && Revision::parse(attempted).digest == head => format!("applying the head failed: {}", c.message),
                Some(c) if !c.is_true() => format!("Ready={}: {}", c.status, c.message),
                _ => "not reconciled since the last commit; run `flux reconcile kustomization --with-source` or wait for its interval"
                    .to_string(),
            };
            items.push(DriftItem {
                kind: DriftKind::Revision,
                object: key.clone(),
                field: Some("status.lastAppliedRevision".into()),
                git: Some(head.to_string()),
                live: Some(if applied.is_empty() { "(never applied)".into() } else { applied.to_string() }),
                message: format!("behind the branch head: {why}"),
            });
        }
        for entry in ks.pointer("/status/inventory/entries").and_then(Value::as_array).into_iter().flatten() {
            let Some(inv) = entry.get("id").and_then(Value::as_str).and_then(ObjectRef::from_inventory) else { continue };
            if seen_ids.contains(&inv) || live_by_id.contains_key(&inv) {
                continue;
            }
            seen_ids.insert(inv.clone());
            items.push(DriftItem {
                kind: DriftKind::Missing,
                object: inv.to_string(),
                field: None,
                git: Some(format!("in the inventory of {key}")),
                live: None,
                message: "applied by Flux but no longer in the cluster (deleted by hand?); Flux recreates it on its next apply".into(),
            });
        }
    }

    items.sort_by(|a, b| (a.kind, &a.object, &a.field).cmp(&(b.kind, &b.object, &b.field)));
    DriftReport { items, objects_checked: checked, kustomizations_checked: kustomizations.len() }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn ignored(path: &str, ignore: &[String]) -> bool {
    ignore.iter().any(|i| i == path)
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Equal as Kubernetes would consider them: quantities (`1000m` == `1`), numbers vs numeric
/// strings in int-or-string fields.
fn scalar_eq(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => match (quantity::parse(x), quantity::parse(y)) {
            (Ok(p), Ok(q)) => (p.value - q.value).abs() <= f64::EPSILON * p.value.abs().max(1.0),
            _ => false,
        },
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            quantity::parse(s).ok().zip(n.as_f64()).map(|(q, f)| q.value == f).unwrap_or(false)
        }
        _ => false,
    }
}

/// Collect (path, git, live) for every field present in `want` that differs in `have`.
fn diff_fields(want: &Value, have: &Value, path: &str, ignore: &[String], out: &mut Vec<(String, String, String)>) {
    if ignored(path, ignore) {
        return;
    }
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for (k, wv) in w {
                let p = join(path, k);
                if ignored(&p, ignore) {
                    continue;
                }
                match h.get(k) {
                    Some(hv) => diff_fields(wv, hv, &p, ignore, out),
                    // An empty/null git value the API server drops is not drift.
                    None if wv.is_null()
                        || wv.as_object().map(|o| o.is_empty()).unwrap_or(false)
                        || wv.as_array().map(|a| a.is_empty()).unwrap_or(false) => {}
                    None => out.push((p, show(Some(wv)), show(None))),
                }
            }
        }
        (Value::Array(w), Value::Array(h)) => {
            let named = |a: &Vec<Value>| !a.is_empty() && a.iter().all(|i| i.get("name").and_then(Value::as_str).is_some());
            if named(w) && named(h) {
                for wi in w {
                    let n = wi.get("name").and_then(Value::as_str).unwrap_or("");
                    let p = format!("{path}[name={n}]");
                    match h.iter().find(|hi| hi.get("name").and_then(Value::as_str) == Some(n)) {
                        Some(hi) => diff_fields(wi, hi, &p, ignore, out),
                        None => out.push((p, show(Some(wi)), show(None))),
                    }
                }
            } else if w.len() != h.len() {
                out.push((path.to_string(), show(Some(want)), show(Some(have))));
            } else {
                for (i, (wi, hi)) in w.iter().zip(h).enumerate() {
                    diff_fields(wi, hi, &format!("{path}[{i}]"), ignore, out);
                }
            }
        }
        (w, h) => {
            if !scalar_eq(w, h) {
                out.push((path.to_string(), show(Some(w)), show(Some(h))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_git_fields_are_compared_with_k8s_equality() {
        let want = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "a", "image": "x:1", "resources": {"limits": {"cpu": "1000m", "memory": "128Mi"}}, "env": []}]}}}});
        let have = json!({"spec": {"replicas": 1, "progressDeadlineSeconds": 600, "template": {"spec": {"containers": [
            {"name": "b", "image": "y"}, {"name": "a", "image": "x:1", "imagePullPolicy": "Always", "resources": {"limits": {"cpu": "1", "memory": "128Mi"}}}]}}}});
        let mut out = Vec::new();
        diff_fields(&want, &have, "", &[], &mut out);
        assert!(out.is_empty(), "{out:?}");
        let have2 = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "x:2", "resources": {"limits": {"cpu": "1", "memory": "128Mi"}}}]}}}});
        let mut out = Vec::new();
        diff_fields(&want, &have2, "", &["spec.replicas".to_string()], &mut out);
        assert_eq!(out, vec![("spec.template.spec.containers[name=a].image".to_string(), "x:1".to_string(), "x:2".to_string())]);
    }
}
