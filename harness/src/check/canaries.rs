//! Flagger Canaries: target, ports, selector labels, ingressRef.

use serde_json::Value;

use super::{FLAGGER_DEFAULT_SELECTOR_LABELS, Finding, Severity, codes};
use crate::repo::{Origin, Repo};

/// Flagger's selectorLabels from the Flagger HelmRelease's values (or its default).
pub fn flagger_selector_labels(repo: &Repo) -> Vec<String> {
    let from_values = repo
        .helm_releases()
        .iter()
        .find(|h| h.chart == "flagger")
        .and_then(|h| h.values.get("selectorLabels").and_then(Value::as_str).map(str::to_string));
    from_values
        .unwrap_or_else(|| FLAGGER_DEFAULT_SELECTOR_LABELS.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

pub(super) fn canaries(repo: &Repo, out: &mut Vec<Finding>) {
    let selector_labels = flagger_selector_labels(repo);
    for c in repo.canaries() {
        if c.provider.as_deref() == Some("nginx") && c.ingress_ref.is_none() {
            out.push(Finding::new(
                Severity::Error,
                codes::CANARY_INGRESS_REF_MISSING,
                &Origin::at(&c.doc, "spec.provider"),
                format!("{}: provider nginx needs spec.ingressRef naming the Ingress Flagger clones for the canary; add it", c.key),
            ));
        }
        let Some((kind, name)) = &c.target else { continue };
        let ns = c.key.namespace.clone();
        let target = repo.deployments().iter().find(|d| d.key.name == *name && d.key.namespace == ns);
        let Some(dep) = target else {
            // A Deployment may come from an external source built into the same namespace.
            let external = repo.flux_kustomizations().iter().any(|k| {
                let ext = k.source_ref.as_ref().and_then(|s| repo.source(&s.key())).map(|d| d.local_root.is_none()).unwrap_or(false);
                ext && (k.target_namespace == ns || k.target_namespace.is_none())
            });
            let (sev, code, what) = if external {
                (Severity::Info, codes::CANARY_TARGET_EXTERNAL, "may come from an external source, so it cannot be checked here")
            } else {
                (
                    Severity::Error,
                    codes::CANARY_TARGET_MISSING,
                    "is not in the repo; Flagger will wait for it: add the Deployment or fix spec.targetRef",
                )
            };
            out.push(Finding::new(
                sev,
                code,
                &Origin::at(&c.doc, "spec.targetRef.name"),
                format!("{}: target {kind} {}/{name} {what}", c.key, ns.clone().unwrap_or_default()),
            ));
            continue;
        };
        // Ports: targetPort (default: port) must be a container port name or number.
        let want = c.target_port.clone().or(c.service_port.map(Value::from));
        if let Some(want) = want {
            let ok = match &want {
                Value::String(s) => match s.parse::<i64>() {
                    Ok(n) => dep.ports.iter().any(|p| p.number == n),
                    Err(_) => dep.ports.iter().any(|p| p.name.as_deref() == Some(s.as_str())),
                },
                Value::Number(n) => dep.ports.iter().any(|p| Some(p.number) == n.as_i64()),
                _ => true,
            };
            if !ok && !dep.ports.is_empty() {
                let have: Vec<String> = dep
                    .ports
                    .iter()
                    .map(|p| match &p.name {
                        Some(n) => format!("{n}/{}", p.number),
                        None => p.number.to_string(),
                    })
                    .collect();
                let at = if c.target_port.is_some() { "spec.service.targetPort" } else { "spec.service.port" };
                out.push(Finding::new(
                    Severity::Error,
                    codes::CANARY_PORT_MISMATCH,
                    &Origin::at(&c.doc, at),
                    format!(
                        "{}: service targetPort {} matches no container port of {} (has {}); fix spec.service.targetPort",
                        c.key,
                        want,
                        dep.key,
                        have.join(", ")
                    ),
                ));
            }
        }
        if !dep.selector.keys().any(|k| selector_labels.contains(k)) {
            let labels: Vec<&String> = dep.selector.keys().collect();
            out.push(Finding::new(
                Severity::Error,
                codes::CANARY_SELECTOR_LABEL,
                &Origin::at(&dep.doc, "spec.selector.matchLabels"),
                format!(
                    "{}: selector labels {:?} of {} are not among Flagger's selectorLabels ({}); add one of them to the Flagger HelmRelease values.selectorLabels",
                    c.key,
                    labels,
                    dep.key,
                    selector_labels.join(",")
                ),
            ));
        }
    }
}
