//! k3s in a privileged Docker container, through the Docker API: the default backend (no
//! cluster CLI needed). Container and network carry the harness labels. The node's entrypoint
//! gives pods Docker's resolver ([`super::k3s_dns`]), and the git server's address is chosen
//! for the Docker flavour ([`super::git_reach`]).

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest, PortBinding};
use bollard::query_parameters::{CreateContainerOptions, DownloadFromContainerOptions, InspectContainerOptions, InspectNetworkOptions};
use futures::StreamExt;

use super::{BackendKind, ClusterBackend, ClusterError, ClusterHandle, ClusterInfo, ClusterSpec, DeleteReport};
use crate::docker::flavour::{self, Flavour};
use crate::docker::{self, DockerError};
use crate::kubeconfig;
use crate::labels::{self, Selector};

/// The k3s image used unless overridden (`--image` / `$GITOPS_HARNESS_K3S_IMAGE`).
pub const DEFAULT_IMAGE: &str = "rancher/k3s:v1.33.5-k3s1";
/// Where k3s writes its kubeconfig inside the container.
const KUBECONFIG_IN_CONTAINER: &str = "/etc/rancher/k3s/k3s.yaml";

/// The k3s backend.
#[derive(Debug, Clone)]
pub struct K3s {
    /// How long to let a missing image pull before giving up.
    pub pull_timeout: Duration,
    /// How long to wait for k3s to write its kubeconfig.
    pub start_timeout: Duration,
    /// Run the node privileged (k3s needs it; stand-in node images in tests do not).
    pub privileged: bool,
    /// Give pods Docker's resolver through the node's entrypoint ([`super::k3s_dns`]); stand-in
    /// node images in tests keep their own entrypoint.
    pub dns_fix: bool,
}

impl Default for K3s {
    fn default() -> Self {
        K3s { pull_timeout: Duration::from_secs(300), start_timeout: Duration::from_secs(180), privileged: true, dns_fix: true }
    }
}

/// The k3s server arguments (the container's command).
pub fn server_args() -> Vec<String> {
    ["server", "--disable=traefik", "--tls-san=127.0.0.1", "--tls-san=localhost", "--write-kubeconfig-mode=644"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The node's entrypoint: the DNS fix for the network `gateway`, except on Colima (as k3d) or
/// when there is no IPv4 gateway; `None` keeps the image's own (`/bin/k3s`).
pub fn node_entrypoint(flavour: &Flavour, gateway: Option<std::net::Ipv4Addr>) -> Option<Vec<String>> {
    match (flavour, gateway) {
        (Flavour::Colima, _) | (_, None) => None,
        (_, Some(gw)) => Some(super::k3s_dns::entrypoint(gw)),
    }
}

/// Name of the node container of cluster `name`.
pub fn container_name(name: &str) -> String {
    format!("gitops-harness-{name}-server")
}

/// Name of the network of cluster `name`.
pub fn network_name(name: &str) -> String {
    format!("gitops-harness-{name}")
}

/// The image to use for a spec.
pub fn image_for(spec: &ClusterSpec) -> String {
    spec.image.clone().or_else(|| std::env::var("GITOPS_HARNESS_K3S_IMAGE").ok()).unwrap_or_else(|| DEFAULT_IMAGE.to_string())
}

/// How to get the image onto a machine that cannot pull it.
pub fn image_hint(image: &str) -> String {
    format!(
        "pull it where a registry is reachable (`docker pull {image}`), bring it over with `docker save {image} | docker load`, or point GITOPS_HARNESS_K3S_IMAGE at an image you have; nothing was created"
    )
}

async fn read_file_from(docker: &Docker, container: &str, path: &str) -> Result<String, String> {
    let mut stream = docker.download_from_container(container, Some(DownloadFromContainerOptions { path: path.to_string() }));
    let mut tar_bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        tar_bytes.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
    }
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut entries = archive.entries().map_err(|e| e.to_string())?;
    let mut entry = entries.next().ok_or("empty archive")?.map_err(|e| e.to_string())?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).map_err(|e| e.to_string())?;
    Ok(text)
}

impl K3s {
    async fn running(&self, docker: &Docker, container: &str) -> bool {
        docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .ok()
            .and_then(|i| i.state)
            .and_then(|s| s.running)
            .unwrap_or(false)
    }

    async fn exited(&self, docker: &Docker, cname: &str, image: &str) -> ClusterError {
        let logs = docker::logs_tail(docker, cname, 20).await;
        ClusterError::Invalid(format!("node container {cname} (image {image}) exited while starting; its last log lines:\n{logs}"))
    }

    async fn create_inner(&self, docker: &Docker, spec: &ClusterSpec, image: &str) -> Result<ClusterHandle, ClusterError> {
        let name = &spec.name;
        let net = network_name(name);
        docker
            .create_network(NetworkCreateRequest {
                name: net.clone(),
                driver: Some("bridge".to_string()),
                labels: Some(labels::labels(name, "network")),
                ..Default::default()
            })
            .await
            .map_err(DockerError::api(format!("creating network {net}")))?;
        let net_info = docker
            .inspect_network(&net, None::<InspectNetworkOptions>)
            .await
            .map_err(DockerError::api(format!("inspecting network {net}")))?;
        let gateway: Option<std::net::Ipv4Addr> = docker::network_gateway(&net_info).and_then(|g| g.parse().ok());
        let flavour = flavour::detect(&flavour::facts(docker).await?);
        let reach = super::docker_git_reach(docker, BackendKind::K3s, &net, &flavour).await?;

        let binding = |ip: &str, port: Option<u16>| {
            Some(vec![PortBinding {
                host_ip: Some(ip.to_string()),
                host_port: Some(port.map(|p| p.to_string()).unwrap_or_else(|| "0".to_string())),
            }])
        };
        let port_bindings = HashMap::from([
            ("6443/tcp".to_string(), binding("127.0.0.1", spec.api_port)),
            ("80/tcp".to_string(), binding("0.0.0.0", Some(spec.ingress_http_port))),
        ]);
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: if self.dns_fix { node_entrypoint(&flavour, gateway) } else { None },
            cmd: Some(server_args()),
            labels: Some(labels::labels(name, "cluster-node")),
            exposed_ports: Some(vec!["6443/tcp".to_string(), "80/tcp".to_string()]),
            host_config: Some(HostConfig {
                privileged: Some(self.privileged),
                network_mode: Some(net.clone()),
                port_bindings: Some(port_bindings),
                tmpfs: Some(HashMap::from([("/run".to_string(), String::new()), ("/var/run".to_string(), String::new())])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let cname = container_name(name);
        docker
            .create_container(Some(CreateContainerOptions { name: Some(cname.clone()), ..Default::default() }), body)
            .await
            .map_err(DockerError::api(format!("creating container {cname}")))?;
        docker.start_container(&cname, None::<bollard::query_parameters::StartContainerOptions>).await.map_err(|e| {
            let msg = e.to_string();
            if msg.contains("port is already allocated") || msg.contains("address already in use") {
                ClusterError::Invalid(format!(
                    "cannot publish the ingress on host port {}: it is already in use; free it or pass another port (--ingress-port)",
                    spec.ingress_http_port
                ))
            } else {
                DockerError::Api { what: format!("starting {cname}"), source: e }.into()
            }
        })?;
        let inspect = docker
            .inspect_container(&cname, None::<InspectContainerOptions>)
            .await
            .map_err(DockerError::api(format!("inspecting {cname}")))?;
        if !self.running(docker, &cname).await {
            return Err(self.exited(docker, &cname, image).await);
        }
        let api_port = inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get("6443/tcp").cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port))
            .ok_or_else(|| ClusterError::Invalid(format!("{cname}: API port 6443 was not published")))?;
        let deadline = tokio::time::Instant::now() + self.start_timeout;
        let raw = loop {
            match read_file_from(docker, &cname, KUBECONFIG_IN_CONTAINER).await {
                Ok(text) if text.contains("clusters:") => break text,
                _ if !self.running(docker, &cname).await => return Err(self.exited(docker, &cname, image).await),
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(ClusterError::Timeout {
                        what: format!("k3s in {cname} writing {KUBECONFIG_IN_CONTAINER}"),
                        secs: self.start_timeout.as_secs(),
                        hint: format!("its last log lines:\n{}", docker::logs_tail(docker, &cname, 20).await),
                    });
                }
                // The file appears once k3s has started; checking it every second is cheap.
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        };
        let api_url = format!("https://127.0.0.1:{api_port}");
        let kc = kubeconfig::rewrite(&raw, &api_url, name)?;
        let handle =
            ClusterHandle::created_now(name, BackendKind::K3s, api_url, reach.host.clone(), spec.ingress_http_port).with_git_reach(reach);
        super::save_state(&handle, &kc)?;
        Ok(handle)
    }
}

impl ClusterBackend for K3s {
    fn kind(&self) -> BackendKind {
        BackendKind::K3s
    }

    fn capabilities(&self) -> super::Capabilities {
        super::docker_capabilities(vec![])
    }

    /// Docker objects with the harness owner label (those of k3s nodes, and of the test images
    /// and networks the harness made): nothing without the label is touched.
    async fn reap(&self, sel: &Selector, dry_run: bool) -> Result<DeleteReport, ClusterError> {
        let docker = match docker::connect().await {
            Ok(d) => d,
            // Docker is expected (DOCKER_HOST set, or its socket is there) but does not answer.
            Err(e) if std::env::var_os("DOCKER_HOST").is_some() || std::path::Path::new("/var/run/docker.sock").exists() => {
                return Err(e.into());
            }
            Err(_) => return Ok(DeleteReport::default()),
        };
        let r = docker::reap(&docker, sel, dry_run).await?;
        let mut removed = Vec::new();
        for (what, names) in [("container", &r.containers), ("network", &r.networks), ("volume", &r.volumes), ("image", &r.images)] {
            removed.extend(names.iter().map(|n| format!("{what} {n}")));
        }
        Ok(DeleteReport { removed, failed: r.errors, kept: Vec::new() })
    }

    async fn create(&self, spec: &ClusterSpec) -> Result<ClusterHandle, ClusterError> {
        let docker = docker::connect().await?;
        if self.exists(&spec.name).await? {
            return Err(ClusterError::AlreadyExists { name: spec.name.clone(), backend: BackendKind::K3s });
        }
        // The image first: a missing image must leave nothing behind.
        let image = image_for(spec);
        docker::ensure_image(&docker, &image, self.pull_timeout, &image_hint(&image)).await?;
        match self.create_inner(&docker, spec, &image).await {
            Ok(h) => Ok(h),
            Err(e) => {
                // Remove what this run created for this cluster; keep the original error.
                let sel = Selector { run_id: Some(labels::run_id().to_string()), cluster: Some(spec.name.clone()) };
                let _ = docker::reap(&docker, &sel, false).await;
                let _ = super::remove_state(&spec.name);
                Err(e)
            }
        }
    }

    async fn kubeconfig(&self, name: &str) -> Result<String, ClusterError> {
        super::state_kubeconfig(name)
    }

    async fn delete(&self, name: &str) -> Result<DeleteReport, ClusterError> {
        let docker = docker::connect().await?;
        let report = docker::reap(&docker, &Selector::cluster(name), false).await?;
        if report.count() == 0 && super::load_state(name).is_none() {
            return Err(ClusterError::NotFound(name.to_string()));
        }
        if let Some(err) = report.errors.first() {
            return Err(ClusterError::Invalid(format!(
                "could not remove everything of {name}: {err}; retry `gitops-harness down --name {name}`"
            )));
        }
        super::remove_state(name)?;
        let mut removed: Vec<String> = report.containers.iter().map(|c| format!("container {c}")).collect();
        removed.extend(report.networks.iter().map(|n| format!("network {n}")));
        removed.extend(report.volumes.iter().map(|v| format!("volume {v}")));
        removed.push(format!("state {}", crate::state::ClusterPaths::of(name).dir.display()));
        Ok(DeleteReport { removed, ..Default::default() })
    }

    async fn exists(&self, name: &str) -> Result<bool, ClusterError> {
        let docker = docker::connect().await?;
        let owned = docker::list_owned(&docker, &Selector::cluster(name)).await?;
        Ok(owned.containers.iter().any(|c| c.labels.get(labels::KIND).map(String::as_str) == Some("cluster-node")))
    }

    async fn list_owned(&self) -> Result<Vec<ClusterInfo>, ClusterError> {
        let docker = docker::connect().await?;
        let owned = docker::list_owned(&docker, &Selector::all()).await?;
        let mut by_cluster: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for c in owned.containers.iter().filter(|c| c.labels.get(labels::KIND).map(String::as_str) == Some("cluster-node")) {
            let cluster = c.labels.get(labels::CLUSTER).cloned().unwrap_or_default();
            by_cluster.entry(cluster).or_default().push(format!("{} ({})", c.name, c.state));
        }
        Ok(by_cluster
            .into_iter()
            .map(|(name, containers)| {
                let state = super::load_state(&name);
                ClusterInfo {
                    backend: BackendKind::K3s,
                    api_url: state.as_ref().map(|s| s.api_url.clone()),
                    created: state.map(|s| s.created),
                    name,
                    containers,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DNS fix goes into the node on every flavour but Colima (k3d skips it there too), and
    /// the node still runs k3s with the server arguments.
    #[test]
    fn dns_fix_per_flavour() {
        let gw = Some(std::net::Ipv4Addr::new(172, 18, 0, 1));
        for f in [Flavour::LinuxEngine, Flavour::Rootless, Flavour::DockerDesktop, Flavour::OrbStack, Flavour::Other("x".into())] {
            let ep = node_entrypoint(&f, gw).unwrap_or_else(|| panic!("{f}: no DNS fix"));
            assert_eq!(&ep[..2], ["/bin/sh", "-c"], "{f}");
            assert_eq!(ep.last().map(String::as_str), Some("172.18.0.1"), "{f}");
            assert!(ep[2].contains("exec \"$k3s\" \"$@\""), "{f}");
        }
        assert_eq!(node_entrypoint(&Flavour::Colima, gw), None);
        assert_eq!(node_entrypoint(&Flavour::LinuxEngine, None), None);
        assert_eq!(server_args()[0], "server");
    }
}
