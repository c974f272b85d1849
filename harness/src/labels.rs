//! Labels on every Docker object the harness creates, so `down` and `reap` find exactly what the
//! harness made (and nothing else), even after a crashed run.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Marks an object as the harness's.
pub const OWNER: &str = "io.gitops-harness.owner";
/// Value of [`OWNER`].
pub const OWNER_VALUE: &str = "gitops-harness";
/// The run (process) that created it.
pub const RUN_ID: &str = "io.gitops-harness.run-id";
/// The harness cluster it belongs to.
pub const CLUSTER: &str = "io.gitops-harness.cluster";
/// What it is (`cluster-node`, `network`, `test-image`, ...).
pub const KIND: &str = "io.gitops-harness.kind";

/// This process's run id: `$GITOPS_HARNESS_RUN_ID`, else time, pid and a random suffix.
pub fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        std::env::var("GITOPS_HARNESS_RUN_ID").unwrap_or_else(|_| {
            format!("{}-{}-{:04x}", chrono::Utc::now().format("%Y%m%d%H%M%S"), std::process::id(), rand::random::<u16>())
        })
    })
}

/// The labels for an object of `cluster` of the given kind, created by this run.
pub fn labels(cluster: &str, kind: &str) -> HashMap<String, String> {
    HashMap::from([
        (OWNER.to_string(), OWNER_VALUE.to_string()),
        (RUN_ID.to_string(), run_id().to_string()),
        (CLUSTER.to_string(), cluster.to_string()),
        (KIND.to_string(), kind.to_string()),
    ])
}

/// Which harness objects to act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Only this run's.
    pub run_id: Option<String>,
    /// Only this cluster's.
    pub cluster: Option<String>,
}

impl Selector {
    /// Everything the harness ever created.
    pub fn all() -> Selector {
        Selector::default()
    }

    /// One cluster's objects.
    pub fn cluster(name: &str) -> Selector {
        Selector { cluster: Some(name.to_string()), run_id: None }
    }

    /// One run's objects.
    pub fn run(id: &str) -> Selector {
        Selector { run_id: Some(id.to_string()), cluster: None }
    }

    /// Docker API filters (`label=k=v`, all of which must match).
    pub fn filters(&self) -> HashMap<String, Vec<String>> {
        let mut labels = vec![format!("{OWNER}={OWNER_VALUE}")];
        if let Some(r) = &self.run_id {
            labels.push(format!("{RUN_ID}={r}"));
        }
        if let Some(c) = &self.cluster {
            labels.push(format!("{CLUSTER}={c}"));
        }
        HashMap::from([("label".to_string(), labels)])
    }

    /// Whether an object's labels match (checked again client-side: never trust a filter alone
    /// before deleting).
    pub fn matches(&self, labels: &HashMap<String, String>) -> bool {
        labels.get(OWNER).map(String::as_str) == Some(OWNER_VALUE)
            && self.run_id.as_ref().is_none_or(|r| labels.get(RUN_ID) == Some(r))
            && self.cluster.as_ref().is_none_or(|c| labels.get(CLUSTER) == Some(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_matches_only_owned() {
        let l = labels("demo", "cluster-node");
        assert!(Selector::all().matches(&l));
        assert!(Selector::cluster("demo").matches(&l));
        assert!(!Selector::cluster("other").matches(&l));
        assert!(Selector::run(run_id()).matches(&l));
        let mut foreign = l.clone();
        foreign.remove(OWNER);
        assert!(!Selector::all().matches(&foreign));
        assert_eq!(Selector::cluster("demo").filters()["label"].len(), 2);
    }
}
