//! `dependsOn` entries that name nothing.

use std::collections::BTreeSet;

use super::{Finding, Severity, codes};
use crate::repo::{ObjectRef, Origin, Repo};
use crate::yaml_docs::YamlDoc;

pub(super) fn depends_on(repo: &Repo, out: &mut Vec<Finding>) {
    let ks: BTreeSet<&ObjectRef> = repo.flux_kustomizations().iter().map(|k| &k.key).collect();
    let hrs: BTreeSet<&ObjectRef> = repo.helm_releases().iter().map(|h| &h.key).collect();
    let mut check = |key: &ObjectRef, deps: &[ObjectRef], known: &BTreeSet<&ObjectRef>, doc: &YamlDoc| {
        for (i, d) in deps.iter().enumerate() {
            if known.contains(d) {
                continue;
            }
            let origin = Origin::at(doc, &format!("spec.dependsOn.{i}"));
            let similar: Vec<String> = known.iter().filter(|k| k.name == d.name).map(|k| k.short()).collect();
            let hint = if similar.is_empty() {
                format!("add the {} or fix the name", d.kind)
            } else {
                format!("did you mean {} (set dependsOn[].namespace)?", similar.join(", "))
            };
            out.push(Finding::new(
                Severity::Error,
                codes::DEPENDS_ON_MISSING,
                &origin,
                format!("{key} depends on {d}, which is not in the repo; Flux will wait for it forever: {hint}"),
            ));
        }
    };
    for k in repo.flux_kustomizations() {
        check(&k.key, &k.depends_on, &ks, &k.doc);
    }
    for h in repo.helm_releases() {
        check(&h.key, &h.depends_on, &hrs, &h.doc);
    }
}
