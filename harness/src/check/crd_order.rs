//! Custom resources applied before their CRD exists.
//!
//! A CRD is installed by a CRD object some Kustomization applies, or by a HelmRelease (a chart
//! reachable offline, read as data: its `crds/` directory unless `install.crds: Skip`, and CRDs
//! among its templates whose guard holds for the release's values; otherwise a table of
//! well-known charts). A custom resource is ordered after it when:
//! - the CRD object is applied by the same Kustomization (kustomize-controller applies CRDs
//!   first), by one that applies this Kustomization, or by one it (transitively) depends on;
//! - the HelmRelease is applied by a Kustomization this one depends on *and that waits for it*
//!   (`wait: true` or a health check naming it): otherwise that Kustomization is Ready as soon as
//!   the HelmRelease object exists, before the chart is installed;
//! - the CRD is also installed outside the Flux tree (a bootstrap step: helmfile, task runner,
//!   `bootstrap/` directory; or another cluster directory). When the finding still fires, it
//!   says which bootstrap steps were looked at.

use std::collections::{BTreeMap, BTreeSet};

use super::{Finding, Severity, codes};
use crate::repo::charts;
use crate::repo::{FluxKustomization, ObjectRef, Repo};

/// Groups whose CRDs the Flux bootstrap itself installs.
fn installed_by_bootstrap(group: &str) -> bool {
    group.ends_with(".toolkit.fluxcd.io") || group == "source.extensions.fluxcd.io"
}

struct Installer {
    /// The Kustomization that applies the CRD object or the HelmRelease.
    by: ObjectRef,
    /// What installs it, for messages.
    via: String,
    /// The HelmRelease, when a chart installs it.
    hr: Option<ObjectRef>,
}

/// Which Flux Kustomization (transitively) applies each Kustomization: `start` and its appliers.
fn ancestors(parent: &BTreeMap<&ObjectRef, &Option<ObjectRef>>, start: &ObjectRef) -> Vec<ObjectRef> {
    let mut out = Vec::new();
    let mut cur = Some(start.clone());
    while let Some(k) = cur {
        if out.contains(&k) {
            break;
        }
        cur = parent.get(&k).and_then(|p| (*p).clone());
        out.push(k);
    }
    out
}

/// `key`, its appliers, and everything they (transitively) depend on, with their appliers.
fn dependency_closure(repo: &Repo, key: &ObjectRef) -> BTreeSet<ObjectRef> {
    let parent: BTreeMap<&ObjectRef, &Option<ObjectRef>> = repo.flux_kustomizations().iter().map(|k| (&k.key, &k.applied_by)).collect();
    let deps: BTreeMap<&ObjectRef, Vec<ObjectRef>> =
        repo.flux_kustomizations().iter().map(|k| (&k.key, [k.depends_on.as_slice(), k.after.as_slice()].concat())).collect();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<ObjectRef> = ancestors(&parent, key);
    while let Some(k) = stack.pop() {
        if !seen.insert(k.clone()) {
            continue;
        }
        for d in deps.get(&k).into_iter().flat_map(|ds| ds.iter()) {
            stack.extend(ancestors(&parent, d));
        }
    }
    seen
}

fn installers(repo: &Repo) -> BTreeMap<String, Vec<Installer>> {
    let mut out: BTreeMap<String, Vec<Installer>> = BTreeMap::new();
    for o in repo.objects() {
        if o.key.kind == "CustomResourceDefinition"
            && let (Some(g), Some(by)) = (o.doc.str_at("spec.group"), &o.applied_by)
        {
            out.entry(g.to_string()).or_default().push(Installer { by: by.clone(), via: format!("CRD {}", o.key.name), hr: None });
        }
    }
    for h in repo.helm_releases() {
        let Some(by) = &h.applied_by else { continue };
        let (groups, read) = match &h.chart_found {
            Some((dir, from)) => {
                let values = crate::repo::helm_values::release_values(repo, h).merged;
                (charts::chart_crd_groups(dir, h.installs_crds, &values), format!("read from {from}"))
            }
            None => {
                (charts::known_chart_crd_groups(&h.chart, &h.values, h.installs_crds), "from the table of well-known charts".to_string())
            }
        };
        for g in groups {
            out.entry(g).or_default().push(Installer {
                by: by.clone(),
                via: format!("{} (chart {}, {read})", h.key, h.chart),
                hr: Some(h.key.clone()),
            });
        }
    }
    out
}

pub(super) fn crd_ordering(repo: &Repo, out: &mut Vec<Finding>) {
    let installers = installers(repo);
    let ks_by_key: BTreeMap<&ObjectRef, &FluxKustomization> = repo.flux_kustomizations().iter().map(|k| (&k.key, k)).collect();
    let mut closures: BTreeMap<ObjectRef, BTreeSet<ObjectRef>> = BTreeMap::new();
    for o in repo.objects() {
        let group = o.group();
        if group.is_empty() || installed_by_bootstrap(group) || o.key.kind == "CustomResourceDefinition" {
            continue;
        }
        let (Some(list), Some(by)) = (installers.get(group), &o.applied_by) else { continue };
        if repo.crds_elsewhere().contains_key(group) {
            continue;
        }
        let closure = closures.entry(by.clone()).or_insert_with(|| dependency_closure(repo, by));
        let waits_for = |k: &ObjectRef, hr: &ObjectRef| ks_by_key.get(k).is_some_and(|ks| ks.wait || ks.health_checks_name(hr));
        let ordered = list.iter().any(|i| match &i.hr {
            None => closure.contains(&i.by),
            Some(hr) => closure
                .iter()
                .any(|k| k != by && ((k == &i.by && waits_for(k, hr)) || ks_by_key.get(k).is_some_and(|ks| ks.health_checks_name(hr)))),
        });
        if ordered {
            continue;
        }
        let why = if let Some(i) = list.iter().find(|i| &i.by == by && i.hr.is_some()) {
            format!(
                "is applied by the same Kustomization that installs its CRD through {}, so the dry-run fails before the chart is installed; move it to a Kustomization with `dependsOn: [{}]`",
                i.via,
                i.by.depends_on_entry()
            )
        } else if let Some(i) = list.iter().find(|i| closure.contains(&i.by)) {
            format!(
                "has its CRD installed by {} applied by {}, which {by} depends on but which does not wait for it: it is Ready once the HelmRelease object exists, before the chart installs the CRD; add `wait: true` to {} (or a healthCheck on that HelmRelease)",
                i.via, i.by, i.by
            )
        } else {
            let i = &list[0];
            format!(
                "has its CRD installed by {} ({}), which {by} does not depend on; add `dependsOn: [{}]` to {by}",
                i.by,
                i.via,
                i.by.depends_on_entry()
            )
        };
        out.push(Finding::new(
            Severity::Error,
            codes::CRD_NOT_ORDERED,
            &o.origin(),
            format!("{} ({}) {why}; {}", o.key, o.api_version, bootstraps_looked_at(repo, group)),
        ));
    }
}

/// Which bootstrap steps outside the Flux tree were looked at for a group's CRDs.
fn bootstraps_looked_at(repo: &Repo, group: &str) -> String {
    let b = repo.bootstraps();
    if b.is_empty() {
        return "no bootstrap step outside the Flux tree installs it (none found: no helmfile, Taskfile, justfile, Makefile or bootstrap/ directory)".to_string();
    }
    let shown: Vec<String> = b.iter().take(6).map(|s| format!("{} ({})", s.file.display(), s.what)).collect();
    let more = if b.len() > 6 { format!(" and {} more", b.len() - 6) } else { String::new() };
    let remote: Vec<&str> = b.iter().flat_map(|s| s.remote.iter().map(|(u, _)| u.as_str())).take(3).collect();
    let remote = if remote.is_empty() { String::new() } else { format!("; remote manifests not read: {}", remote.join(", ")) };
    format!("bootstrap steps looked at: {}{more}, none installs CRDs of {group}{remote}", shown.join(", "))
}
