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

/// A kind config whose node port 80 is published on `port`: every `extraPortMappings` entry for
/// container port 80 gets `hostPort: port`; a config without one gets it on its first node.
pub fn config_with_ingress_port(config_text: &str, port: u16) -> Result<String, String> {
    let mut v: serde_json::Value = serde_norway::from_str(config_text).map_err(|e| e.to_string())?;
    let nodes = v.get_mut("nodes").and_then(serde_json::Value::as_array_mut).ok_or("no `nodes` list")?;
    let mut found = false;
    for node in nodes.iter_mut() {
        for m in node.get_mut("extraPortMappings").and_then(serde_json::Value::as_array_mut).into_iter().flatten() {
            if m.get("containerPort").and_then(serde_json::Value::as_u64) == Some(80) {
                m["hostPort"] = serde_json::json!(port);
                found = true;
            }
        }
    }
    if !found {
        let first = nodes.first_mut().ok_or("`nodes` is empty")?;
        let mapping = serde_json::json!({"containerPort": 80, "hostPort": port, "protocol": "TCP"});
        match first.get_mut("extraPortMappings").and_then(serde_json::Value::as_array_mut) {
            Some(list) => list.push(mapping),
            None => first["extraPortMappings"] = serde_json::json!([mapping]),
        }
    }
    serde_norway::to_string(&v).map_err(|e| e.to_string())
}

impl ClusterBackend for Kind {
    fn kind(&self) -> BackendKind {
        BackendKind::Kind
    }

    fn capabilities(&self) -> super::Capabilities {
        super::docker_capabilities(vec![Tool::Kind, Tool::Docker])
    }

    async fn create(&self, spec: &ClusterSpec) -> Result<ClusterHandle, ClusterError> {
        let kind = tools::find(Tool::Kind)?;
        if self.exists(&spec.name).await? {
            return Err(ClusterError::AlreadyExists { name: spec.name.clone(), backend: BackendKind::Kind });
        }
        let dir = crate::state::ClusterPaths::of(&spec.name).dir;
        std::fs::create_dir_all(&dir).map_err(|source| ClusterError::Io { path: dir.clone(), source })?;
        let raw_path = dir.join("kind-kubeconfig");
        // kind has no flag for host ports: give it a copy of the config with --ingress-port.
        let config = match spec.config_file.clone().or_else(|| super::default_config("kind")) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ClusterError::Io { path: path.clone(), source })?;
                let with_port = config_with_ingress_port(&text, spec.ingress_http_port).map_err(|e| {
                    ClusterError::Invalid(format!("{}: {e}; pass a kind Cluster config with a `nodes` list", path.display()))
                })?;
                let out = dir.join("kind-config.yaml");
                std::fs::write(&out, with_port).map_err(|source| ClusterError::Io { path: out.clone(), source })?;
                Some(out)
            }
            None => None,
        };
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
        Ok(DeleteReport {
            removed: vec![format!("kind cluster {name}"), format!("state {}", crate::state::ClusterPaths::of(name).dir.display())],
            ..Default::default()
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `--ingress-port` reaches kind through the config copy: the bundled config's mapping moves
    /// to the port asked for, and a config without one gets it.
    #[test]
    fn ingress_port_is_honoured() {
        let bundled = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../clusters/kind.yaml")).unwrap();
        let out: serde_json::Value = serde_norway::from_str(&config_with_ingress_port(&bundled, 9090).unwrap()).unwrap();
        let m = &out["nodes"][0]["extraPortMappings"][0];
        assert_eq!((m["containerPort"].as_u64(), m["hostPort"].as_u64()), (Some(80), Some(9090)));
        assert!(out["nodes"][0]["kubeadmConfigPatches"][0].as_str().unwrap().contains("ingress-ready=true"), "the rest is kept");

        let bare = "apiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\nnodes:\n  - role: control-plane\n";
        let out: serde_json::Value = serde_norway::from_str(&config_with_ingress_port(bare, 8082).unwrap()).unwrap();
        assert_eq!(out["nodes"][0]["extraPortMappings"][0]["hostPort"].as_u64(), Some(8082));
        assert!(config_with_ingress_port("kind: Cluster\n", 1).unwrap_err().contains("nodes"));
    }
}
