//! Dependency graph of Flux Kustomizations and HelmReleases, and the bootstrap plan drawn from it.
//!
//! An object comes after everything in its `dependsOn` and after the Flux Kustomization that
//! applies it (it cannot exist before its parent applies it). The plan is the graph in
//! topological waves: everything in wave N can reconcile once waves 0..N are Ready.

use std::collections::{BTreeMap, BTreeSet};

use crate::repo::{ObjectRef, Repo};

/// One node of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanNode {
    /// The Kustomization or HelmRelease.
    pub key: ObjectRef,
    /// What must be Ready (or applied, for a parent) first.
    pub after: Vec<ObjectRef>,
    /// `spec.wait: true` (Kustomizations) — Ready means everything it applied is Ready.
    pub wait: bool,
    /// Number of `spec.healthChecks`.
    pub health_checks: usize,
}

/// Bootstrap plan: topological waves and the critical path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Waves of keys, each sorted; wave N depends only on earlier waves.
    pub waves: Vec<Vec<ObjectRef>>,
    /// The longest chain of dependencies, first to last.
    pub critical_path: Vec<ObjectRef>,
    /// Every node with its edges.
    pub nodes: Vec<PlanNode>,
}

impl Plan {
    /// Wave index of a key.
    pub fn wave_of(&self, key: &ObjectRef) -> Option<usize> {
        self.waves.iter().position(|w| w.contains(key))
    }

    /// The waves as `ns/name` strings (the JSON shape of `check`).
    pub fn waves_short(&self) -> Vec<Vec<String>> {
        self.waves.iter().map(|w| w.iter().map(ObjectRef::short).collect()).collect()
    }
}

/// Errors drawing the plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// `dependsOn` forms a cycle; Flux would wait forever.
    #[error("dependency cycle: {}; remove one of these dependsOn entries", render_cycle(.0))]
    Cycle(Vec<ObjectRef>),
}

/// `a -> b -> a` for a cycle given as `[a, b]`.
pub fn render_cycle(cycle: &[ObjectRef]) -> String {
    let mut parts: Vec<String> = cycle.iter().map(|k| k.to_string()).collect();
    if let Some(first) = cycle.first() {
        parts.push(first.to_string());
    }
    parts.join(" -> ")
}

/// The nodes and their `after` edges (edges to unknown keys are dropped: `check` reports them).
///
/// A Kustomization with `wait: true` is Ready only once the HelmReleases and Kustomizations it
/// applies are Ready, so whatever depends on it also comes after those.
pub fn nodes(repo: &Repo) -> Vec<PlanNode> {
    let mut known: BTreeSet<ObjectRef> = BTreeSet::new();
    known.extend(repo.flux_kustomizations().iter().map(|k| k.key.clone()));
    known.extend(repo.helm_releases().iter().map(|h| h.key.clone()));
    let waiting: BTreeSet<&ObjectRef> = repo.flux_kustomizations().iter().filter(|k| k.wait).map(|k| &k.key).collect();
    let mut children: BTreeMap<&ObjectRef, Vec<&ObjectRef>> = BTreeMap::new();
    let applied = repo
        .flux_kustomizations()
        .iter()
        .map(|k| (&k.key, &k.applied_by))
        .chain(repo.helm_releases().iter().map(|h| (&h.key, &h.applied_by)));
    for (key, by) in applied {
        if let Some(p) = by.as_ref().filter(|p| waiting.contains(p)) {
            children.entry(p).or_default().push(key);
        }
    }
    let edges = |key: &ObjectRef, deps: &[ObjectRef], parent: &Option<ObjectRef>| -> Vec<ObjectRef> {
        let waited = deps.iter().flat_map(|d| children.get(d).into_iter().flatten().map(|c| (*c).clone()));
        let mut after: Vec<ObjectRef> = deps.iter().cloned().chain(waited).filter(|d| known.contains(d) && d != key).collect();
        after.sort();
        after.dedup();
        if let Some(p) = parent
            && known.contains(p)
            && p != key
            && !after.contains(p)
        {
            after.push(p.clone());
        }
        after.sort();
        after
    };
    let mut out: Vec<PlanNode> = repo
        .flux_kustomizations()
        .iter()
        .map(|k| PlanNode {
            key: k.key.clone(),
            after: edges(&k.key, &[k.depends_on.as_slice(), k.after.as_slice()].concat(), &k.applied_by),
            wait: k.wait,
            health_checks: k.health_checks.len(),
        })
        .collect();
    out.extend(repo.helm_releases().iter().map(|h| PlanNode {
        key: h.key.clone(),
        after: edges(&h.key, &[h.depends_on.as_slice(), h.after.as_slice()].concat(), &h.applied_by),
        wait: true,
        health_checks: 0,
    }));
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// A cycle among `nodes`, if any (the first found, in key order).
pub fn find_cycle(nodes: &[PlanNode]) -> Option<Vec<ObjectRef>> {
    let index: BTreeMap<&ObjectRef, &PlanNode> = nodes.iter().map(|n| (&n.key, n)).collect();
    // 0 = unvisited, 1 = on stack, 2 = done
    let mut state: BTreeMap<&ObjectRef, u8> = BTreeMap::new();
    fn dfs<'a>(
        key: &'a ObjectRef,
        index: &BTreeMap<&'a ObjectRef, &'a PlanNode>,
        state: &mut BTreeMap<&'a ObjectRef, u8>,
        stack: &mut Vec<&'a ObjectRef>,
    ) -> Option<Vec<ObjectRef>> {
        state.insert(key, 1);
        stack.push(key);
        if let Some(node) = index.get(key) {
            for dep in &node.after {
                match state.get(dep).copied().unwrap_or(0) {
                    1 => {
                        let start = stack.iter().position(|k| *k == dep).unwrap_or(0);
                        return Some(stack[start..].iter().map(|k| (*k).clone()).collect());
                    }
                    0 => {
                        if let Some((k, _)) = index.get_key_value(dep)
                            && let Some(c) = dfs(k, index, state, stack)
                        {
                            return Some(c);
                        }
                    }
                    _ => {}
                }
            }
        }
        stack.pop();
        state.insert(key, 2);
        None
    }
    for n in nodes {
        if state.get(&n.key).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(mut c) = dfs(&n.key, &index, &mut state, &mut stack) {
                // Walk order is dependent -> dependency; print in apply order.
                c.reverse();
                return Some(c);
            }
        }
    }
    None
}

/// Draw the bootstrap plan of a repo.
pub fn plan(repo: &Repo) -> Result<Plan, GraphError> {
    plan_nodes(nodes(repo))
}

/// Draw a plan from nodes (exposed for replay and benchmarks).
pub fn plan_nodes(nodes: Vec<PlanNode>) -> Result<Plan, GraphError> {
    if let Some(cycle) = find_cycle(&nodes) {
        return Err(GraphError::Cycle(cycle));
    }
    let index: BTreeMap<ObjectRef, &PlanNode> = nodes.iter().map(|n| (n.key.clone(), n)).collect();
    // Longest-path layering, memoised; acyclic is established above.
    let mut depth: BTreeMap<ObjectRef, usize> = BTreeMap::new();
    let mut via: BTreeMap<ObjectRef, Option<ObjectRef>> = BTreeMap::new();
    fn layer(
        key: &ObjectRef,
        index: &BTreeMap<ObjectRef, &PlanNode>,
        depth: &mut BTreeMap<ObjectRef, usize>,
        via: &mut BTreeMap<ObjectRef, Option<ObjectRef>>,
    ) -> usize {
        if let Some(d) = depth.get(key) {
            return *d;
        }
        let mut best = 0usize;
        let mut best_via = None;
        if let Some(node) = index.get(key) {
            for dep in &node.after {
                let d = layer(dep, index, depth, via) + 1;
                if d > best {
                    best = d;
                    best_via = Some(dep.clone());
                }
            }
        }
        depth.insert(key.clone(), best);
        via.insert(key.clone(), best_via);
        best
    }
    for n in &nodes {
        layer(&n.key, &index, &mut depth, &mut via);
    }
    let max = depth.values().copied().max();
    let mut waves: Vec<Vec<ObjectRef>> = vec![Vec::new(); max.map(|m| m + 1).unwrap_or(0)];
    for (key, d) in &depth {
        waves[*d].push(key.clone());
    }
    let mut critical_path = Vec::new();
    if let Some((last, _)) = depth.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))) {
        let mut cur = Some(last.clone());
        while let Some(k) = cur {
            cur = via.get(&k).cloned().flatten();
            critical_path.push(k);
        }
        critical_path.reverse();
    }
    Ok(Plan { waves, critical_path, nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, after: &[&str]) -> PlanNode {
        PlanNode {
            key: ObjectRef::of_kind("Kustomization", Some("flux-system"), name),
            after: after.iter().map(|a| ObjectRef::of_kind("Kustomization", Some("flux-system"), a)).collect(),
            wait: true,
            health_checks: 0,
        }
    }

    #[test]
    fn waves_and_critical_path() {
        let p = plan_nodes(vec![
            node("apps", &["flagger", "ingress"]),
            node("cert-manager", &[]),
            node("flagger", &["linkerd"]),
            node("ingress", &["linkerd"]),
            node("linkerd", &["cert-manager"]),
        ])
        .unwrap();
        assert_eq!(
            p.waves_short(),
            vec![
                vec!["flux-system/cert-manager"],
                vec!["flux-system/linkerd"],
                vec!["flux-system/flagger", "flux-system/ingress"],
                vec!["flux-system/apps"]
            ]
        );
        let cp: Vec<String> = p.critical_path.iter().map(|k| k.name.clone()).collect();
        assert_eq!(cp.first().map(String::as_str), Some("cert-manager"));
        assert_eq!(cp.last().map(String::as_str), Some("apps"));
        assert_eq!(cp.len(), 4);
    }

    #[test]
    fn cycle_is_named() {
        let err = plan_nodes(vec![node("a", &["b"]), node("b", &["c"]), node("c", &["a"]), node("d", &[])]).unwrap_err();
        let GraphError::Cycle(c) = &err;
        assert_eq!(c.len(), 3);
        let msg = err.to_string();
        assert!(msg.contains("flux-system/a") && msg.contains("flux-system/b") && msg.contains("flux-system/c"), "{msg}");
        assert_eq!(msg.matches(" -> ").count(), 3, "{msg}");
    }
}
