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
    ) || group == "admissionregistration.k8s.io"
        || (group == "kustomize.toolkit.fluxcd.io" && kind == "Kustomization")
        || group == "source.toolkit.fluxcd.io"
        || group == "notification.toolkit.fluxcd.io"
        || group == "image.toolkit.fluxcd.io"
        || (group == crate::repo::rset::GROUP && matches!(kind, "ResourceSet" | "ResourceSetInputProvider"))
}

/// A parent that applies child Kustomizations (each judged on its own) and otherwise only what
/// needs no waiting (namespaces, RBAC, sources): its own `wait` would add nothing.
fn parent_of_judged_children(repo: &Repo, k: &FluxKustomization) -> bool {
    let mine: Vec<_> = repo.objects().iter().filter(|o| o.applied_by.as_ref() == Some(&k.key)).collect();
    let children = repo.flux_kustomizations().iter().any(|c| c.applied_by.as_ref() == Some(&k.key));
    children && mine.iter().all(|o| nothing_to_wait_for(&o.key.kind, o.group()))
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
        if k.explicit_no_wait || parent_of_judged_children(repo, k) {
            continue;
        }
        out.push(Finding::new(
            Severity::Warning,
            codes::LEAF_NOT_WAITED,
            &Origin::at(&k.doc, "spec"),
            format!("{} is a leaf that nothing waits on: without `wait: true` or healthChecks Flux reports it Ready before its workloads are up; add `spec.wait: true`", k.key),
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
