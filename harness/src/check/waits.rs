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

pub(super) fn leaves(repo: &Repo, out: &mut Vec<Finding>) {
    let depended: BTreeSet<&ObjectRef> = repo.flux_kustomizations().iter().flat_map(|k| k.depends_on.iter()).collect();
    for k in repo.flux_kustomizations() {
        let health_checked = repo.flux_kustomizations().iter().any(|o| o.key != k.key && o.health_checks_name(&k.key));
        if is_root(repo, k) || depended.contains(&k.key) || k.wait || !k.health_checks.is_empty() || health_checked {
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
