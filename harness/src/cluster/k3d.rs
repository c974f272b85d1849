//! k3d through its CLI, with `clusters/k3d.yaml`. Node containers get the harness labels
//! (`--runtime-label`), so `reap` finds them too.

use super::{BackendKind, ClusterBackend, ClusterError, ClusterHandle, ClusterInfo, ClusterSpec, DeleteReport, run_cli};
use crate::docker::flavour;
use crate::kubeconfig;
use crate::labels;
use crate::tools::{self, Tool};

/// The k3d backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct K3d;

/// The `k3d cluster create` arguments for a spec (pure, for tests and `--dry-run`). The ingress
/// is always published on `spec.ingress_http_port` (`--ingress-port`) by the `--port` flag.
pub fn create_args(spec: &ClusterSpec, config: Option<&std::path::Path>) -> Vec<String> {
    let mut args = vec!["cluster".to_string(), "create".to_string(), spec.name.clone()];
    if let Some(c) = config {
        args.push("--config".to_string());
        args.push(c.display().to_string());
    }
    args.push("--port".to_string());
    args.push(format!("{}:80@loadbalancer", spec.ingress_http_port));
    if let Some(p) = spec.api_port {
        args.push("--api-port".to_string());
        args.push(format!("127.0.0.1:{p}"));
    }
    if let Some(img) = &spec.image {
        args.push("--image".to_string());
        args.push(img.clone());
    }
    for (k, v) in labels::labels(&spec.name, "cluster-node") {
        args.push("--runtime-label".to_string());
        args.push(format!("{k}={v}@all"));
    }
    args.extend(["--kubeconfig-update-default=false".to_string(), "--kubeconfig-switch-context=false".to_string(), "--wait".to_string()]);
    args
}

/// The host port a k3d config publishes container port 80 on (`ports: [{port: "8081:80"}]`),
/// which would clash with the one the harness publishes.
pub fn config_ingress_port(config_text: &str) -> Option<String> {
    let v: serde_json::Value = serde_norway::from_str(config_text).ok()?;
    v.get("ports")?.as_array()?.iter().filter_map(|p| p.get("port")?.as_str()).find_map(|p| {
        let (host, container) = p.rsplit_once(':')?;
        (container.split('/').next() == Some("80")).then(|| host.to_string())
    })
}

impl ClusterBackend for K3d {
    fn kind(&self) -> BackendKind {
        BackendKind::K3d
    }

    fn capabilities(&self) -> super::Capabilities {
        super::docker_capabilities(vec![Tool::K3d])
    }

    async fn create(&self, spec: &ClusterSpec) -> Result<ClusterHandle, ClusterError> {
        let k3d = tools::find(Tool::K3d)?;
        if self.exists(&spec.name).await? {
            return Err(ClusterError::AlreadyExists { name: spec.name.clone(), backend: BackendKind::K3d });
        }
        let config = spec.config_file.clone().or_else(|| super::default_config("k3d"));
        if let Some(path) = &config
            && let Some(port) = std::fs::read_to_string(path).ok().as_deref().and_then(config_ingress_port)
        {
            return Err(ClusterError::Invalid(format!(
                "{} publishes the ingress itself (ports: {port}:80); remove that entry: the harness publishes it on --ingress-port ({})",
                path.display(),
                spec.ingress_http_port
            )));
        }
        run_cli(&k3d, &create_args(spec, config.as_deref()))?;
        let raw = run_cli(&k3d, &["kubeconfig".to_string(), "get".to_string(), spec.name.clone()])?;
        let api_url = kubeconfig::server_of(&raw)?.replace("0.0.0.0", "127.0.0.1");
        let kc = kubeconfig::rewrite(&raw, &api_url, &spec.name)?;
        // k3d adds host.k3d.internal to CoreDNS for reaching the host, and arranges DNS itself;
        // where its address is wrong (rootless, OrbStack) the flavour decides.
        let docker = crate::docker::connect().await?;
        let flavour = flavour::detect(&flavour::facts(&docker).await?);
        let reach = super::docker_git_reach(&docker, BackendKind::K3d, &format!("k3d-{}", spec.name), &flavour).await?;
        let handle = ClusterHandle::created_now(&spec.name, BackendKind::K3d, api_url, reach.host.clone(), spec.ingress_http_port)
            .with_git_reach(reach);
        super::save_state(&handle, &kc)?;
        Ok(handle)
    }

    async fn kubeconfig(&self, name: &str) -> Result<String, ClusterError> {
        super::state_kubeconfig(name)
    }

    async fn delete(&self, name: &str) -> Result<DeleteReport, ClusterError> {
        super::require_record(name, BackendKind::K3d)?;
        let k3d = tools::find(Tool::K3d)?;
        run_cli(&k3d, &["cluster".to_string(), "delete".to_string(), name.to_string()])?;
        super::remove_state(name)?;
        Ok(DeleteReport {
            removed: vec![format!("k3d cluster {name}"), format!("state {}", crate::state::ClusterPaths::of(name).dir.display())],
            ..Default::default()
        })
    }

    async fn exists(&self, name: &str) -> Result<bool, ClusterError> {
        let Ok(k3d) = tools::find(Tool::K3d) else { return Ok(false) };
        let out = run_cli(&k3d, &["cluster".to_string(), "list".to_string(), "-o".to_string(), "json".to_string()])?;
        let list: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        Ok(list.as_array().is_some_and(|a| a.iter().any(|c| c["name"] == name)))
    }

    async fn list_owned(&self) -> Result<Vec<ClusterInfo>, ClusterError> {
        Ok(super::recorded_infos(BackendKind::K3d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--ingress-port` reaches k3d with and without a config file, and the bundled config does
    /// not publish a port of its own.
    #[test]
    fn ingress_port_is_honoured() {
        let mut spec = ClusterSpec::new("t");
        spec.ingress_http_port = 9090;
        let bundled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../clusters/k3d.yaml");
        for config in [None, Some(bundled.as_path())] {
            let args = create_args(&spec, config);
            let i = args.iter().position(|a| a == "--port").unwrap_or_else(|| panic!("no --port in {args:?}"));
            assert_eq!(args[i + 1], "9090:80@loadbalancer");
        }
        assert_eq!(config_ingress_port(&std::fs::read_to_string(&bundled).unwrap()), None);
        assert_eq!(config_ingress_port("ports:\n  - port: 8081:80\n    nodeFilters: [loadbalancer]\n"), Some("8081".to_string()));
        assert_eq!(config_ingress_port("ports:\n  - port: 0.0.0.0:6443:6443\n"), None);
    }
}
