//! Sources: undeclared ones, and external ones whose content cannot be checked here.

use super::{Finding, Severity, codes};
use crate::repo::{Origin, Repo};

pub(super) fn sources(repo: &Repo, out: &mut Vec<Finding>) {
    for k in repo.flux_kustomizations() {
        let Some(src) = &k.source_ref else { continue };
        let origin = Origin::at(&k.doc, "spec.sourceRef");
        match repo.source(&src.key()) {
            None => out.push(Finding::new(
                Severity::Error,
                codes::SOURCE_UNDECLARED,
                &origin,
                format!(
                    "{} uses {} {}/{}, which is not declared in the repo; declare it or fix spec.sourceRef",
                    k.key, src.kind, src.namespace, src.name
                ),
            )),
            Some(decl) if decl.local_root.is_none() => out.push(Finding::new(
                Severity::Info,
                codes::SOURCE_EXTERNAL,
                &origin,
                format!(
                    "{} builds path `{}` of external source {} ({}); it cannot be checked before Flux fetches it",
                    k.key,
                    k.path,
                    decl.key,
                    if decl.url.is_empty() { "no url" } else { &decl.url }
                ),
            )),
            Some(_) => {}
        }
    }
    for h in repo.helm_releases() {
        let Some(src) = &h.chart_source else { continue };
        if repo.source(&src.key()).is_none() {
            let at = if h.doc.value.pointer("/spec/chartRef").is_some() { "spec.chartRef" } else { "spec.chart.spec.sourceRef" };
            out.push(Finding::new(
                Severity::Error,
                codes::HELM_SOURCE_UNDECLARED,
                &Origin::at(&h.doc, at),
                format!(
                    "{} pulls chart `{}` from {} {}/{}, which is not declared in the repo; add the {} or fix the chart's sourceRef",
                    h.key, h.chart, src.kind, src.namespace, src.name, src.kind
                ),
            ));
        }
    }
}
