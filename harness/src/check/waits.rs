//! What Flux waits for: leaves nothing waits on, and health checks that name nothing.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::{Finding, Severity, codes};
use crate::repo::{FluxKustomization, ObjectRef, Origin, Repo, group_of, normalize};

/// Whether a Kustomization is the root (the cluster directory's sync), which is no app.
fn is_root(repo: &Repo, k: &FluxKustomization) -> bool {
    &k.key == repo.root_kustomization() || (k.applied_by.is_none() && normalize(Path::new(&k.path)) == repo.cluster_dir)
}

/// Kinds that have nothing to wait for (ready once applied), or that get a verdict of their own.
fn nothing_to_wait_for(kind: &str, group: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "ServiceAccount"
            | "Role"
            | "RoleBinding"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "ConfigMap"
            | "Secret"
            | "NetworkPolicy"
            | "ResourceQuota"
            | "LimitRange"
            | "PriorityClass"
            | "PodDisruptionBudget"
            | "HorizontalPodAutoscaler"
            | "ResourceClaimTemplate"
            // Network policies of CNIs (Cilium, Calico): rules, no rollout.
            | "CiliumNetworkPolicy"
            | "CiliumClusterwideNetworkPolicy"
            | "GlobalNetworkPolicy"
            // Prometheus Operator scrape and rule configuration: no status to wait for.
            | "ServiceMonitor"
            | "PodMonitor"
            | "PrometheusRule"
            | "ScrapeConfig"
    ) || group == "admissionregistration.k8s.io"
        || (group == "kustomize.toolkit.fluxcd.io" && kind == "Kustomization")
        || group == "source.toolkit.fluxcd.io"
        || group == "notification.toolkit.fluxcd.io"
        || group == "image.toolkit.fluxcd.io"
        || (group == crate::repo::rset::GROUP && matches!(kind, "ResourceSet" | "ResourceSetInputProvider"))
}

/// A HelmRelease whose Ready means its workloads are up: helm-controller waits for them unless
/// `install`/`upgrade` `disableWait` says otherwise.
fn judged_release(doc: &Value) -> bool {
    let off = |p: &str| doc.pointer(p).and_then(Value::as_bool).unwrap_or(false);
    !off("/spec/install/disableWait") && !off("/spec/upgrade/disableWait")
}

/// Kinds that run pods: a Kustomization's own workloads.
fn workload(kind: &str, group: &str) -> bool {
    matches!((group, kind), ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") | ("", "Pod"))
}

/// What a Kustomization applies that its own `wait` would wait for. Children judged on their own
/// (Kustomizations, and HelmReleases whose Ready already waits for their workloads) are not;
/// nor is what needs no waiting (namespaces, RBAC, sources). Beside such children, only
/// workloads count: the rest (secrets, volumes, backups, routes) feeds the children, whose own
/// verdict fails when it is missing.
fn waited_objects<'r>(repo: &'r Repo, k: &FluxKustomization) -> Vec<&'r ObjectRef> {
    let mine: Vec<_> = repo.objects().iter().filter(|o| o.applied_by.as_ref() == Some(&k.key)).collect();
    let judged = |o: &&crate::repo::Object| {
        (o.group() == "kustomize.toolkit.fluxcd.io" && o.key.kind == "Kustomization")
            || (o.group() == "helm.toolkit.fluxcd.io" && o.key.kind == "HelmRelease" && judged_release(&o.doc.value))
    };
    let has_judged_children = mine.iter().any(judged);
    mine.into_iter()
        .filter(|o| !judged(o) && !nothing_to_wait_for(&o.key.kind, o.group()))
        .filter(|o| !has_judged_children || workload(&o.key.kind, o.group()))
        .map(|o| &o.key)
        .collect()
}

/// Kustomizations whose author wrote `wait: false` (not reported as leaves; counted).
pub(super) fn explicit_no_wait(repo: &Repo) -> usize {
    repo.flux_kustomizations().iter().filter(|k| k.explicit_no_wait && !is_root(repo, k)).count()
}

pub(super) fn leaves(repo: &Repo, out: &mut Vec<Finding>) {
    let depended: BTreeSet<&ObjectRef> =
        repo.flux_kustomizations().iter().flat_map(|k| k.depends_on.iter().chain(k.after.iter())).collect();
    for k in repo.flux_kustomizations() {
        let health_checked = repo.flux_kustomizations().iter().any(|o| o.key != k.key && o.health_checks_name(&k.key));
        if is_root(repo, k) || depended.contains(&k.key) || k.wait || !k.health_checks.is_empty() || health_checked {
            continue;
        }
        // The author's decision; counted in the summary instead.
        if k.explicit_no_wait {
            continue;
        }
        // Everything it applies is ready once applied or judged on its own: `wait` adds nothing.
        // What an external source holds is not known here: it is a leaf like any other.
        let named = if repo.is_local(k) {
            let waited = waited_objects(repo, k);
            if waited.is_empty() {
                continue;
            }
            let mut named: Vec<String> = waited.iter().take(3).map(|o| o.to_string()).collect();
            if waited.len() > 3 {
                named.push(format!("{} more", waited.len() - 3));
            }
            named
        } else {
            vec!["what its external source holds".to_string()]
        };
        out.push(Finding::new(
            Severity::Warning,
            codes::LEAF_NOT_WAITED,
            &Origin::at(&k.doc, "spec"),
            format!(
                "{} is a leaf that nothing waits on: without `wait: true` or healthChecks Flux reports it Ready before what it applies is up ({}); add `spec.wait: true`, or `wait: false` if that is intended",
                k.key,
                named.join(", ")
            ),
        ));
    }
}

/// Whether an object of `kind` in `ns` could come from somewhere the repo cannot show: a
/// HelmRelease's chart (non-Flux kinds in its release namespace) or an external source.
fn may_come_from_elsewhere(repo: &Repo, kind_group: &str, ns: Option<&str>) -> bool {
    let external = repo
        .flux_kustomizations()
        .iter()
        .any(|k| !repo.is_local(k) && (k.target_namespace.is_none() || k.target_namespace.as_deref() == ns));
    let from_chart =
        !kind_group.ends_with(".toolkit.fluxcd.io") && repo.helm_releases().iter().any(|h| ns.is_none() || h.release_namespace() == ns);
    external || from_chart || repo.flux_kustomizations().iter().any(|k| k.path.contains("${"))
}

pub(super) fn health_checks(repo: &Repo, out: &mut Vec<Finding>) {
    for k in repo.flux_kustomizations() {
        for (i, h) in k.health_checks.iter().enumerate() {
            let (Some(kind), Some(name)) = (h.get("kind").and_then(Value::as_str), h.get("name").and_then(Value::as_str)) else { continue };
            let api = h.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let ns = h.get("namespace").and_then(Value::as_str).or(k.key.namespace.as_deref());
            let defined = repo
                .objects()
                .iter()
                .any(|o| o.key.kind == kind && o.key.name == name && (o.key.namespace.is_none() || o.key.namespace.as_deref() == ns));
            if defined || may_come_from_elsewhere(repo, group_of(api), ns) {
                continue;
            }
            let key = ObjectRef::of_kind(kind, ns, name);
            let similar: Vec<String> =
                repo.objects().iter().filter(|o| o.key.kind == kind && o.key.name == name).map(|o| o.key.short()).collect();
            let hint = if similar.is_empty() {
                "fix the entry or add the object".to_string()
            } else {
                format!("did you mean {} (set namespace)?", similar.join(", "))
            };
            out.push(Finding::new(
                Severity::Error,
                codes::HEALTH_CHECK_MISSING,
                &Origin::at(&k.doc, &format!("spec.healthChecks.{i}")),
                format!("{}: healthChecks[{i}] names {key}, which nothing in the repo defines; the Kustomization fails its health check after the timeout: {hint}", k.key),
            ));
        }
    }
}
