//! A cluster the user already has (EKS/GKE/AKS, or any kubeconfig context). The harness only
//! records how to reach it; it never deletes it.

use std::time::Duration;

use super::{BackendKind, ClusterBackend, ClusterError, ClusterHandle, ClusterInfo, ClusterSpec, DeleteReport};
use crate::kubeconfig;
use crate::labels;
use crate::live::{self, Target};

/// The existing-cluster backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Existing;

impl ClusterBackend for Existing {
    fn kind(&self) -> BackendKind {
        BackendKind::Existing
    }

    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities { publishes_ingress: false, ..super::docker_capabilities(vec![]) }
    }

    async fn preflight(&self, spec: &ClusterSpec) -> Vec<crate::preflight::PreflightFailure> {
        let path = spec.kubeconfig.clone().unwrap_or_else(kubeconfig::user_kubeconfig_path);
        if path.is_file() {
            return Vec::new();
        }
        vec![crate::preflight::PreflightFailure {
            check: "kubeconfig",
            message: format!("kubeconfig {} does not exist; pass --kubeconfig PATH for --backend existing", path.display()),
        }]
    }

    /// "Create" = check the kubeconfig/context answers and record it.
    async fn create(&self, spec: &ClusterSpec) -> Result<ClusterHandle, ClusterError> {
        let path = spec.kubeconfig.clone().unwrap_or_else(kubeconfig::user_kubeconfig_path);
        let text = std::fs::read_to_string(&path).map_err(|source| ClusterError::Io { path: path.clone(), source })?;
        let target = Target { kubeconfig: Some(path.clone()), context: spec.context.clone() };
        live::probe(&target, Duration::from_secs(10)).await.map_err(|e| ClusterError::Invalid(e.to_string()))?;
        let api_url = live::config(&target)
            .await
            .map(|c| c.cluster_url.to_string())
            .unwrap_or_else(|_| kubeconfig::server_of(&text).unwrap_or_default());
        let reach = super::git_reach::choose(&super::git_reach::ReachInput {
            backend: BackendKind::Existing,
            flavour: None,
            network_gateway: None,
            host_ip: None,
            override_host: std::env::var(super::git_reach::GIT_HOST_ENV).ok(),
        })?;
        let handle = ClusterHandle {
            name: spec.name.clone(),
            backend: BackendKind::Existing,
            kubeconfig_path: path,
            context: spec.context.clone(),
            api_url,
            // A remote cluster cannot reach a git server on this laptop: the user must expose it
            // (GITOPS_HARNESS_GIT_HOST) or point Flux at a reachable copy.
            host_gateway: reach.host.clone(),
            git_reach: Some(reach),
            ingress_http_port: spec.ingress_http_port,
            run_id: labels::run_id().to_string(),
            created: chrono::Utc::now().to_rfc3339(),
        };
        super::save_state(&handle, &text)?;
        Ok(handle)
    }

    async fn kubeconfig(&self, name: &str) -> Result<String, ClusterError> {
        let h = super::load_state(name).ok_or_else(|| ClusterError::NotFound(name.to_string()))?;
        std::fs::read_to_string(&h.kubeconfig_path).map_err(|source| ClusterError::Io { path: h.kubeconfig_path, source })
    }

    async fn delete(&self, name: &str) -> Result<DeleteReport, ClusterError> {
        // Forget it, never delete it.
        super::remove_state(name)?;
        Err(ClusterError::NotOwned {
            name: name.to_string(),
            why: "it is an existing cluster the harness only used; its record was removed".to_string(),
        })
    }

    async fn exists(&self, name: &str) -> Result<bool, ClusterError> {
        Ok(super::load_state(name).is_some_and(|h| h.backend == BackendKind::Existing))
    }

    async fn list_owned(&self) -> Result<Vec<ClusterInfo>, ClusterError> {
        Ok(vec![])
    }
}
