//! Deciding, at runtime, whether the scenario suites have a live cluster to run against.

use std::path::PathBuf;
use std::time::Duration;

use gitops_harness::live::{self, Target};

/// Environment variable that makes the suites require a cluster (set by `make e2e`).
pub const E2E_ENV: &str = "GITOPS_HARNESS_E2E";
/// Environment variable naming the shared harness cluster (default [`DEFAULT_CLUSTER`]).
pub const CLUSTER_ENV: &str = "GITOPS_HARNESS_E2E_CLUSTER";
/// Environment variable pointing at a kubeconfig of an existing cluster to run against instead.
pub const KUBECONFIG_ENV: &str = "GITOPS_HARNESS_KUBECONFIG";
/// Name of the cluster `make e2e` creates and the scenarios share.
pub const DEFAULT_CLUSTER: &str = "gitops-harness-e2e";

/// Something a scenario needs beyond a bootstrapped cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Flagger running against the cluster.
    Flagger,
    /// Requests on the wire through the ingress (Docker tier only: sim has no data plane).
    DataPlane,
}

impl Need {
    /// Why a cluster without it cannot run the scenario.
    pub fn missing_reason(self, backend: &str) -> String {
        match self {
            Need::Flagger => format!("needs Flagger, which the {backend} cluster does not run"),
            Need::DataPlane => {
                format!("needs requests on the wire through the ingress; the {backend} backend has no data plane (Docker tier only)")
            }
        }
    }
}

/// What the cluster offers beyond Flux, from `up`'s ready marker.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// Backend name (`sim`, `k3s`, …; `existing` when not created by the harness).
    pub backend: String,
    /// Flagger runs against it.
    pub flagger: bool,
    /// Requests can be sent through its ingress.
    pub data_plane: bool,
}

impl Default for Capabilities {
    /// A cluster not created by `up` (e.g. `GITOPS_HARNESS_KUBECONFIG`): assumed complete.
    fn default() -> Self {
        Capabilities { backend: "existing".into(), flagger: true, data_plane: true }
    }
}

impl Capabilities {
    /// Whether it meets `need`.
    pub fn has(&self, need: Need) -> bool {
        match need {
            Need::Flagger => self.flagger,
            Need::DataPlane => self.data_plane,
        }
    }

    /// Read `up`'s ready marker of cluster `name` (none: [`Capabilities::default`], a cluster
    /// the harness did not bring up).
    pub fn of_cluster(name: &str) -> Capabilities {
        match gitops_harness::state::ReadyMarker::load(name) {
            Ok(m) => Capabilities { backend: m.backend, flagger: m.flagger, data_plane: m.data_plane },
            Err(_) => Capabilities::default(),
        }
    }
}

/// How the suites reach their cluster.
#[derive(Debug, Clone)]
pub struct ClusterPlan {
    /// Name of the harness cluster (used for its state directory).
    pub name: String,
    /// How to reach its API server.
    pub target: Target,
    /// Whether the run demands a cluster (`GITOPS_HARNESS_E2E=1`): then absence is a failure.
    pub required: bool,
    /// What the cluster offers (read when it answers).
    pub capabilities: Capabilities,
}

/// Outcome of looking for a cluster.
#[derive(Debug, Clone)]
pub enum Availability {
    /// A cluster answered; scenarios run.
    Available(ClusterPlan),
    /// No usable cluster; scenarios are ignored (or fail, when required) with this reason.
    Unavailable {
        /// What was looked for.
        plan: ClusterPlan,
        /// Why it cannot be used, with what to do about it.
        reason: String,
    },
}

impl Availability {
    /// The reason scenarios cannot run, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Availability::Available(_) => None,
            Availability::Unavailable { reason, .. } => Some(reason),
        }
    }

    /// Whether the run demands a cluster.
    pub fn required(&self) -> bool {
        match self {
            Availability::Available(p) | Availability::Unavailable { plan: p, .. } => p.required,
        }
    }
}

/// Work out which cluster the suites would use, from the environment.
pub fn plan_from_env() -> ClusterPlan {
    let name = std::env::var(CLUSTER_ENV).unwrap_or_else(|_| DEFAULT_CLUSTER.to_string());
    let required = std::env::var(E2E_ENV).map(|v| v == "1" || v == "true").unwrap_or(false);
    let target = match std::env::var_os(KUBECONFIG_ENV) {
        Some(path) => Target { kubeconfig: Some(PathBuf::from(path)), context: std::env::var("GITOPS_HARNESS_CONTEXT").ok() },
        None => live::harness_target(&name),
    };
    ClusterPlan { name, target, required, capabilities: Capabilities::default() }
}

/// Look for the cluster: its kubeconfig must exist and its API server must answer within `timeout`.
pub fn detect(plan: ClusterPlan, timeout: Duration) -> Availability {
    if let Some(path) = &plan.target.kubeconfig
        && !path.is_file()
    {
        let reason = format!(
            "no live cluster: kubeconfig {} does not exist (`make test` brings up a sim cluster when the sim tools \
                 are built; or run `make e2e`, or `gitops-harness up --name {}`, or set {KUBECONFIG_ENV})",
            path.display(),
            plan.name
        );
        return Availability::Unavailable { plan, reason };
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let reason = format!("cannot start a tokio runtime to probe the cluster: {e}");
            return Availability::Unavailable { plan, reason };
        }
    };
    match rt.block_on(live::probe(&plan.target, timeout)) {
        Ok(_) => {
            let mut plan = plan;
            if std::env::var_os(KUBECONFIG_ENV).is_none() {
                plan.capabilities = Capabilities::of_cluster(&plan.name);
            }
            Availability::Available(plan)
        }
        Err(e) => Availability::Unavailable { reason: format!("no live cluster: {e}"), plan },
    }
}
