//! What a scenario works with: the shared cluster's client, its served git repository, and a
//! place for artifacts. Built per trial, because nextest runs each trial in its own process.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use gitops_harness::flux::ObjectRef;
use gitops_harness::git::ServedRepo;
use gitops_harness::state::ReadyMarker;
use gitops_harness::{live, reports::artifacts};
use kube::api::{Api, DynamicObject};
use serde_json::Value;

use crate::availability::ClusterPlan;

/// The cluster directory of the repo the suites bootstrap (the embedded fixture's).
pub const CLUSTER_DIR: &str = "clusters/my-cluster";
/// The Flux Kustomization that applies the Faces app.
pub const APPS_KUSTOMIZATION: (&str, &str) = ("flux-system", "apps");
/// Namespace of the Faces app.
pub const FACES_NS: &str = "faces";

/// The shared cluster as one scenario sees it.
pub struct World {
    rt: tokio::runtime::Runtime,
    /// Client for the cluster's API server.
    pub client: kube::Client,
    /// Which cluster, and how it was reached.
    pub plan: ClusterPlan,
    /// Where this scenario's artifacts go.
    pub artifacts: PathBuf,
}

impl World {
    /// Connect to the planned cluster.
    pub fn connect(plan: &ClusterPlan, artifacts: PathBuf) -> anyhow::Result<World> {
        let rt =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the tokio runtime")?;
        let client = rt.block_on(live::connect(&plan.target)).with_context(|| format!("connecting to cluster {}", plan.name))?;
        Ok(World { rt, client, plan: plan.clone(), artifacts })
    }

    /// Run a future to completion on this scenario's runtime.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    /// The harness-owned git working copy the cluster's Flux pulls from (written by `up`).
    pub fn served_repo_dir(&self) -> PathBuf {
        gitops_harness::state::ClusterPaths::of(&self.plan.name).served_repo()
    }

    /// `up`'s ready marker (git URL, ingress port, URLs).
    pub fn ready(&self) -> anyhow::Result<ReadyMarker> {
        ReadyMarker::load(&self.plan.name).with_context(|| format!("cluster {} was not brought up by `gitops-harness up`", self.plan.name))
    }

    /// The served repo, to commit changes Flux will pull.
    pub fn served(&self) -> anyhow::Result<ServedRepo> {
        self.ready()?;
        ServedRepo::open(&self.served_repo_dir()).map_err(|e| anyhow!("{e}"))
    }

    /// The cluster directory `up` bootstrapped (from its ready marker; default [`CLUSTER_DIR`]).
    pub fn cluster_dir(&self) -> PathBuf {
        self.ready().map(|m| m.cluster_dir).unwrap_or_else(|_| PathBuf::from(CLUSTER_DIR))
    }

    /// The Kustomization applying the Faces app.
    pub fn apps_kustomization(&self) -> ObjectRef {
        ObjectRef::kustomization(APPS_KUSTOMIZATION.0, APPS_KUSTOMIZATION.1)
    }

    /// The ingress base URL on this host (`http://127.0.0.1:<port>`).
    pub fn ingress_base(&self) -> anyhow::Result<String> {
        Ok(format!("http://127.0.0.1:{}", self.ready()?.ingress_port))
    }

    /// A namespaced object as JSON (kind must be known to `artifacts::resource_for`).
    pub fn get(&self, kind: &str, ns: &str, name: &str) -> anyhow::Result<Value> {
        let ar = artifacts::resource_for(kind).ok_or_else(|| anyhow!("unknown kind {kind}"))?;
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
        let obj = self.block_on(api.get(name)).with_context(|| format!("getting {kind} {ns}/{name}"))?;
        Ok(serde_json::to_value(obj)?)
    }

    /// Save events, controller and pod logs, and the objects involved; returns the directory.
    pub fn save_artifacts(&self, namespaces: &[&str], failure: &str) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(&self.artifacts).with_context(|| format!("creating {}", self.artifacts.display()))?;
        std::fs::write(self.artifacts.join("failure.txt"), failure)
            .with_context(|| format!("writing {}", self.artifacts.join("failure.txt").display()))?;
        let keys = vec![
            ObjectRef::of_kind("Kustomization", Some(APPS_KUSTOMIZATION.0), APPS_KUSTOMIZATION.1),
            ObjectRef::of_kind("Canary", Some(FACES_NS), "face"),
            ObjectRef::of_kind("Canary", Some(FACES_NS), "faces-gui"),
            ObjectRef::of_kind("Deployment", Some(FACES_NS), "face-primary"),
            ObjectRef::of_kind("GitRepository", Some("flux-system"), "flux-system"),
        ];
        let ns: Vec<String> = namespaces.iter().map(|s| s.to_string()).collect();
        let title = failure.lines().next().unwrap_or("scenario failed");
        self.block_on(artifacts::collect(self.client.clone(), &self.artifacts, title, &keys, &ns))
            .map(|s| s.dir)
            .map_err(|e| anyhow!("{e}"))
    }
}

/// How long a canary rollout may take before our own deadline fails it (Flagger's
/// progressDeadlineSeconds is not reliable): 10 steps of 10s plus promotion, with margin.
pub const ROLLOUT_DEADLINE: Duration = Duration::from_secs(600);
/// How long Flux may take to apply a commit.
pub const APPLY_DEADLINE: Duration = Duration::from_secs(300);

/// File of the Faces backends in the fixture repo.
pub fn faces_file() -> &'static Path {
    Path::new("apps/faces/faces.yaml")
}

/// File of the Faces GUI in the fixture repo.
pub fn faces_gui_file() -> &'static Path {
    Path::new("apps/faces/faces-gui.yaml")
}
