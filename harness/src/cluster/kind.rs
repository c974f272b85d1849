//! kind through its CLI, with `clusters/kind.yaml`. kind cannot label its node containers, so
//! ownership is the record in the harness state directory: `down` deletes only recorded clusters.

use super::{BackendKind, ClusterBackend, ClusterError, ClusterHandle, ClusterInfo, ClusterSpec, DeleteReport, run_cli};
use crate::docker::flavour;
use crate::kubeconfig;
use crate::tools::{self, Tool};

/// The kind backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kind;

/// The `kind create cluster` arguments for a spec.
pub fn create_args(spec: &ClusterSpec, config: Option<&std::path::Path>, kubeconfig_out: &std::path::Path) -> Vec<String> {
    let mut args = vec!["create".to_string(), "cluster".to_string(), "--name".to_string(), spec.name.clone()];
    if let Some(c) = config {
        args.push("--config".to_string());
        args.push(c.display().to_string());
    }
    if let Some(img) = &spec.image {
        args.push("--image".to_string());
        args.push(img.clone());
    }
    // Never touch ~/.kube/config: kind writes to the harness's own file.
    args.push("--kubeconfig".to_string());
    args.push(kubeconfig_out.display().to_string());
    args.push("--wait".to_string());
    args.push("180s".to_string());
    args
}

impl ClusterBackend for Kind {
    fn kind(&self) -> BackendKind {
        BackendKind::Kind
    }

    async fn create(&self, spec: &ClusterSpec) -> Result<ClusterHandle, ClusterError> {
        let kind = tools::find(Tool::Kind)?;
        if self.exists(&spec.name).await? {
            return Err(ClusterError::AlreadyExists { name: spec.name.clone(), backend: BackendKind::Kind });
        }
        let dir = super::state_dir(&spec.name);
        std::fs::create_dir_all(&dir).map_err(|source| ClusterError::Io { path: dir.clone(), source })?;
        let raw_path = dir.join("kind-kubeconfig");
        let config = spec.config_file.clone().or_else(|| super::default_config("kind"));
        run_cli(&kind, &create_args(spec, config.as_deref(), &raw_path))?;
        let raw = std::fs::read_to_string(&raw_path).map_err(|source| ClusterError::Io { path: raw_path.clone(), source })?;
        let api_url = kubeconfig::server_of(&raw)?;
        let kc = kubeconfig::rewrite(&raw, &api_url, &spec.name)?;
        let _ = std::fs::remove_file(&raw_path);
        // kind's nodes are on the `kind` network; how pods reach this machine depends on the flavour.
        let docker = crate::docker::connect().await?;
        let flavour = flavour::detect(&flavour::facts(&docker).await?);
        let reach = super::docker_git_reach(&docker, BackendKind::Kind, "kind", &flavour).await?;
        let handle = ClusterHandle::created_now(&spec.name, BackendKind::Kind, api_url, reach.host.clone(), spec.ingress_http_port)
            .with_git_reach(reach);
        super::save_state(&handle, &kc)?;
        Ok(handle)
    }

    async fn kubeconfig(&self, name: &str) -> Result<String, ClusterError> {
        super::state_kubeconfig(name)
    }

    async fn delete(&self, name: &str) -> Result<DeleteReport, ClusterError> {
        super::require_record(name, BackendKind::Kind)?;
        let kind = tools::find(Tool::Kind)?;
        run_cli(&kind, &["delete".to_string(), "cluster".to_string(), "--name".to_string(), name.to_string()])?;
        super::remove_state(name)?;
        Ok(DeleteReport { removed: vec![format!("kind cluster {name}"), format!("state {}", super::state_dir(name).display())] })
    }

    async fn exists(&self, name: &str) -> Result<bool, ClusterError> {
        let Ok(kind) = tools::find(Tool::Kind) else { return Ok(false) };
        let out = run_cli(&kind, &["get".to_string(), "clusters".to_string()])?;
        Ok(out.lines().any(|l| l.trim() == name))
    }

    async fn list_owned(&self) -> Result<Vec<ClusterInfo>, ClusterError> {
        Ok(super::recorded_infos(BackendKind::Kind))
    }
}
