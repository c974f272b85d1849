//! Sources as causes. A Kustomization or HelmRelease whose source source-controller cannot
//! fetch never becomes Ready, and its own condition only says it waits ("no artifact available
//! for HelmRepository source …"). The tracker follows the chain (HelmRelease → HelmChart →
//! HelmRepository, Kustomization → GitRepository/OCIRepository/Bucket) and ends the wait with
//! the source's own reason and message once the failure outlived source-controller's retries.

use std::time::Duration;

use serde_json::Value;

use crate::flux::{ObjectRef, SourceRef, conditions};

/// How long a source's failure must last before it counts: source-controller retries a failed
/// fetch with a backoff starting at milliseconds, so half a minute is many retries.
pub const SOURCE_GRACE: Duration = Duration::from_secs(30);

/// The kinds source-controller reconciles.
const SOURCE_KINDS: [&str; 5] = ["GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart"];

/// Ready=False reasons of source-controller that mean a failed attempt (v1 API).
const FAILURE_REASONS: &[&str] = &[
    "AuthenticationFailed",
    "GitOperationFailed",
    "URLInvalid",
    "IndexationFailed",
    "ChartPullError",
    "ChartPullFailed",
    "ChartPackageError",
    "ChartPackageFailed",
    "InvalidChartReference",
    "OCIArtifactPullFailed",
    "OCIArtifactLayerOperationFailed",
    "BucketOperationFailed",
    "VerificationError",
    "StorageOperationFailed",
];

/// Whether `kind` is a source-controller kind.
pub fn is_source(kind: &str) -> bool {
    SOURCE_KINDS.contains(&kind)
}

/// A source's failure, in source-controller's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFailure {
    /// Condition reason (`IndexationFailed`, `GitOperationFailed`, …).
    pub reason: String,
    /// Condition message (`failed to fetch Helm repository index: …`).
    pub message: String,
}

/// The failure source-controller reports for a source object, if any: a `FetchFailed`,
/// `BuildFailed` or `Stalled` condition, or `Ready=False` with a failure reason. A status
/// written for an older spec says nothing about the current one (judged per condition: while a
/// fetch keeps failing, source-controller never advances `status.observedGeneration`).
pub fn source_failure(obj: &Value) -> Option<SourceFailure> {
    let failed = ["FetchFailed", "BuildFailed", "Stalled"]
        .into_iter()
        .find_map(|t| conditions::find(obj, t).filter(|c| c.is_true() && c.is_current(obj)));
    let c =
        failed.or_else(|| conditions::ready(obj).filter(|c| c.is_false() && c.is_current(obj) && FAILURE_REASONS.contains(&c.reason)))?;
    Some(SourceFailure { reason: c.reason.to_string(), message: c.message.to_string() })
}

/// What an object builds from: a Kustomization's `sourceRef`; a HelmRelease's HelmChart
/// (`status.helmChart`, as helm-controller names it) or its `chartRef`/chart `sourceRef`; a
/// HelmChart's `sourceRef`.
pub fn source_of(obj: &Value) -> Option<ObjectRef> {
    let own_ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    match obj.get("kind").and_then(Value::as_str)? {
        "Kustomization" => SourceRef::of_kustomization(obj).map(|s| s.key()),
        "HelmRelease" => match obj.pointer("/status/helmChart").and_then(Value::as_str).and_then(|c| c.split_once('/')) {
            Some((ns, name)) => Some(ObjectRef::of_kind("HelmChart", Some(ns), name)),
            None => SourceRef::of_helm_release(obj).map(|s| s.key()),
        },
        "HelmChart" => obj.pointer("/spec/sourceRef").and_then(|v| SourceRef::from_value(v, own_ns.unwrap_or(""))).map(|s| s.key()),
        _ => None,
    }
}

/// What the tracker knows of one source.
#[derive(Debug, Clone, Default)]
pub struct SourceTrack {
    /// Since when it has been failing (kept while source-controller retries).
    pub failing_since: Option<Duration>,
    /// The last failure seen.
    pub failure: Option<SourceFailure>,
    /// What it builds from in turn (a HelmChart's repository).
    pub source: Option<ObjectRef>,
}

impl SourceTrack {
    /// Feed the source object seen at `at`.
    pub fn observe(&mut self, at: Duration, obj: &Value) {
        self.source = source_of(obj);
        match source_failure(obj) {
            Some(f) => {
                self.failing_since.get_or_insert(at);
                self.failure = Some(f);
            }
            // Fetched, or a new attempt after a spec change: the failure is over.
            None if conditions::ready(obj).is_none_or(|c| c.is_true() || !c.is_current(obj)) => {
                self.failing_since = None;
                self.failure = None;
            }
            // Reconciling between retries does not end a failure.
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn helm_repo(ready: &str, reason: &str, fetch_failed: bool) -> Value {
        let mut conds = vec![
            json!({"type": "Ready", "status": ready, "reason": reason, "message": "failed to fetch Helm repository index: Get \"https://charts.example/index.yaml\": connection refused"}),
        ];
        if fetch_failed {
            conds.push(json!({"type": "FetchFailed", "status": "True", "reason": reason, "message": "failed to fetch Helm repository index: Get \"https://charts.example/index.yaml\": connection refused"}));
        }
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"namespace": "cert-manager", "name": "jetstack", "generation": 1},
            "status": {"observedGeneration": 1, "conditions": conds}})
    }

    #[test]
    fn failures_in_source_controllers_words() {
        let f = source_failure(&helm_repo("False", "IndexationFailed", true)).unwrap();
        assert_eq!(f.reason, "IndexationFailed");
        assert!(f.message.contains("failed to fetch Helm repository index"));
        assert!(source_failure(&helm_repo("True", "Succeeded", false)).is_none());
        // A reason that is not a failure (still working) is not one.
        assert!(source_failure(&helm_repo("False", "Progressing", false)).is_none());
    }

    #[test]
    fn chains_from_releases_and_kustomizations() {
        let hr = json!({"kind": "HelmRelease", "metadata": {"namespace": "cert-manager", "name": "cert-manager"},
            "spec": {"chart": {"spec": {"chart": "cert-manager", "sourceRef": {"kind": "HelmRepository", "name": "jetstack"}}}},
            "status": {"helmChart": "cert-manager/cert-manager-cert-manager"}});
        assert_eq!(source_of(&hr).unwrap().to_string(), "HelmChart cert-manager/cert-manager-cert-manager");
        let mut fresh = hr.clone();
        fresh["status"] = json!({});
        assert_eq!(source_of(&fresh).unwrap().to_string(), "HelmRepository cert-manager/jetstack");
        let chart = json!({"kind": "HelmChart", "metadata": {"namespace": "cert-manager", "name": "c"},
            "spec": {"sourceRef": {"kind": "HelmRepository", "name": "jetstack"}}});
        assert_eq!(source_of(&chart).unwrap().to_string(), "HelmRepository cert-manager/jetstack");
    }

    #[test]
    fn a_failure_lasts_through_retries_until_fetched() {
        let mut t = SourceTrack::default();
        t.observe(Duration::from_secs(1), &helm_repo("False", "IndexationFailed", true));
        t.observe(Duration::from_secs(5), &helm_repo("Unknown", "Progressing", false));
        assert_eq!(t.failing_since, Some(Duration::from_secs(1)));
        t.observe(Duration::from_secs(9), &helm_repo("True", "Succeeded", false));
        assert!(t.failing_since.is_none() && t.failure.is_none());
    }

    /// As source-controller v1.9 writes a repository it has never fetched: the object's
    /// `observedGeneration` stays -1, each condition carries the generation it judged.
    fn never_fetched(generation: i64, stamped: i64) -> Value {
        let msg = "failed to fetch Helm repository index: Get \"https://charts.unreachable.invalid/index.yaml\": connection refused";
        json!({"kind": "HelmRepository", "metadata": {"namespace": "flux-system", "name": "unreachable", "generation": generation},
            "status": {"observedGeneration": -1, "conditions": [
                {"type": "FetchFailed", "status": "True", "reason": "Failed", "message": msg, "observedGeneration": stamped},
                {"type": "Ready", "status": "False", "reason": "Failed", "message": msg, "observedGeneration": stamped}]}})
    }

    #[test]
    fn a_source_never_fetched_fails_by_its_conditions_generation() {
        let f = source_failure(&never_fetched(1, 1)).unwrap();
        assert!(f.message.contains("charts.unreachable.invalid"), "{f:?}");
        // The spec changed since: that verdict is about the old one.
        assert!(source_failure(&never_fetched(2, 1)).is_none());
        let mut t = SourceTrack::default();
        t.observe(Duration::from_secs(1), &never_fetched(1, 1));
        assert!(t.failing_since.is_some());
        t.observe(Duration::from_secs(2), &never_fetched(2, 1));
        assert!(t.failing_since.is_none());
    }
}
