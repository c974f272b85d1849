//! Objects against the OpenAPI schemas of their real CRDs.

use super::{Finding, Severity, codes};
use crate::crds::CrdCatalog;
use crate::repo::{Origin, Repo, group_of};

pub(super) fn schemas(repo: &Repo, crds: Option<&CrdCatalog>, out: &mut Vec<Finding>) {
    let Some(crds) = crds else {
        out.push(Finding::new(
            Severity::Info,
            codes::SCHEMA_SKIPPED,
            &Origin::new(repo.cluster_dir.clone(), 1),
            "schema validation skipped: no CRDs found; pass --crds DIR (or set GITOPS_HARNESS_CRDS) to validate Flux and Flagger objects"
                .to_string(),
        ));
        return;
    };
    for o in repo.objects() {
        // A `${var}` only the cluster can fill is not a type error in git.
        if o.unresolved_vars || crds.get(group_of(&o.api_version), &o.key.kind).is_none() {
            continue;
        }
        let Some(errors) = crds.validate_detailed(&o.doc.value) else { continue };
        for e in errors.into_iter().take(5) {
            let at = e.pointer.trim_start_matches('/').replace('/', ".");
            out.push(Finding::new(
                Severity::Error,
                codes::SCHEMA_INVALID,
                &Origin::at(&o.doc, &at),
                format!("{} does not match the {} CRD schema: {}; fix the field", o.key, o.api_version, e.message),
            ));
        }
    }
}
