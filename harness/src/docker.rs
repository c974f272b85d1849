//! Talking to the Docker Engine: connecting (with a clear error when it is not there), finding and
//! removing harness-owned objects by label, and checking images before anything is created.

pub mod flavour;
pub mod local_image;

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    CreateImageOptions, ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions, RemoveVolumeOptions,
};
use futures::StreamExt;

use crate::labels::Selector;

/// Errors talking to Docker.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The daemon does not answer.
    #[error(
        "Docker Engine not reachable at {endpoint}: {reason}; start Docker (e.g. `sudo systemctl start docker`), check DOCKER_HOST, and make sure your user may use the socket (`sudo usermod -aG docker $USER`)"
    )]
    Unreachable {
        /// Where we looked.
        endpoint: String,
        /// Why it failed.
        reason: String,
    },
    /// An API call failed.
    #[error("Docker: {what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// Cause.
        source: bollard::errors::Error,
    },
    /// An image is not available locally and cannot be pulled.
    #[error("image {image} is not available: {reason}; {hint}")]
    ImageMissing {
        /// Image reference.
        image: String,
        /// Why the pull failed.
        reason: String,
        /// How to get it.
        hint: String,
    },
    /// Building a local image failed.
    #[error("building local image {image}: {message}")]
    LocalImage {
        /// Image reference.
        image: String,
        /// Cause.
        message: String,
    },
}

impl DockerError {
    pub(crate) fn api(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        let what = what.into();
        move |source| DockerError::Api { what, source }
    }
}

/// The endpoint the client uses (`$DOCKER_HOST`, else the local socket).
pub fn endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// Connect to the engine, check it answers within a few seconds, and agree on an API version
/// (the engine may be older than the client's default).
pub async fn connect() -> Result<Docker, DockerError> {
    let unreachable = |reason: String| DockerError::Unreachable { endpoint: endpoint(), reason };
    let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
    match tokio::time::timeout(Duration::from_secs(5), docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Err(_) => return Err(unreachable("no answer within 5s".to_string())),
    }
    docker.negotiate_version().await.map_err(|e| unreachable(format!("version negotiation failed: {e}")))
}

/// A harness-owned container.
#[derive(Debug, Clone)]
pub struct OwnedContainer {
    /// Id.
    pub id: String,
    /// Name (without the leading `/`).
    pub name: String,
    /// State (`running`, `exited`, ...).
    pub state: String,
    /// Image.
    pub image: String,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// Creation time (unix seconds).
    pub created: i64,
}

/// A harness-owned network or volume.
#[derive(Debug, Clone)]
pub struct OwnedObject {
    /// Id (networks) or name (volumes).
    pub id: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: HashMap<String, String>,
}

/// Everything of the harness's that matches a selector.
#[derive(Debug, Clone, Default)]
pub struct Owned {
    /// Containers.
    pub containers: Vec<OwnedContainer>,
    /// Networks.
    pub networks: Vec<OwnedObject>,
    /// Volumes.
    pub volumes: Vec<OwnedObject>,
}

impl Owned {
    /// Nothing found.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }
}

/// List harness-owned containers, networks and volumes matching `sel`.
pub async fn list_owned(docker: &Docker, sel: &Selector) -> Result<Owned, DockerError> {
    let containers = docker
        .list_containers(Some(ListContainersOptions { all: true, filters: Some(sel.filters()), ..Default::default() }))
        .await
        .map_err(DockerError::api("listing containers"))?
        .into_iter()
        .filter_map(|c| {
            let labels = c.labels.unwrap_or_default();
            sel.matches(&labels).then(|| OwnedContainer {
                id: c.id.unwrap_or_default(),
                name: c.names.and_then(|n| n.into_iter().next()).unwrap_or_default().trim_start_matches('/').to_string(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                labels,
                created: c.created.unwrap_or(0),
            })
        })
        .collect();
    let networks = docker
        .list_networks(Some(ListNetworksOptions { filters: Some(sel.filters()) }))
        .await
        .map_err(DockerError::api("listing networks"))?
        .into_iter()
        .filter_map(|n| {
            let labels = n.labels.unwrap_or_default();
            sel.matches(&labels).then(|| OwnedObject { id: n.id.unwrap_or_default(), name: n.name.unwrap_or_default(), labels })
        })
        .collect();
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions { filters: Some(sel.filters()) }))
        .await
        .map_err(DockerError::api("listing volumes"))?
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| sel.matches(&v.labels).then(|| OwnedObject { id: v.name.clone(), name: v.name, labels: v.labels }))
        .collect();
    Ok(Owned { containers, networks, volumes })
}

/// What [`reap`] removed (or would remove).
#[derive(Debug, Clone, Default)]
pub struct ReapReport {
    /// Containers removed.
    pub containers: Vec<String>,
    /// Networks removed.
    pub networks: Vec<String>,
    /// Volumes removed.
    pub volumes: Vec<String>,
    /// Images removed (only the harness's own locally built test images).
    pub images: Vec<String>,
    /// What could not be removed, and why.
    pub errors: Vec<String>,
}

impl ReapReport {
    /// Number of objects removed.
    pub fn count(&self) -> usize {
        self.containers.len() + self.networks.len() + self.volumes.len() + self.images.len()
    }
}

/// Remove harness-owned objects matching `sel` (containers first, then networks and volumes).
/// Objects without the owner label are never touched, whatever the selector.
pub async fn reap(docker: &Docker, sel: &Selector, dry_run: bool) -> Result<ReapReport, DockerError> {
    let owned = list_owned(docker, sel).await?;
    let mut report = ReapReport::default();
    for c in &owned.containers {
        if !dry_run {
            let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
            if let Err(e) = docker.remove_container(&c.id, Some(opts)).await {
                report.errors.push(format!("container {}: {e}", c.name));
                continue;
            }
        }
        report.containers.push(c.name.clone());
    }
    for n in &owned.networks {
        if !dry_run && let Err(e) = docker.remove_network(&n.id).await {
            report.errors.push(format!("network {}: {e}", n.name));
            continue;
        }
        report.networks.push(n.name.clone());
    }
    for v in &owned.volumes {
        if !dry_run && let Err(e) = docker.remove_volume(&v.name, Some(RemoveVolumeOptions { force: true })).await {
            report.errors.push(format!("volume {}: {e}", v.name));
            continue;
        }
        report.volumes.push(v.name.clone());
    }
    // Test images the harness built itself, when reaping everything (a cluster or run selector
    // means "that cluster's objects"; shared images are left for other runs).
    if sel.cluster.is_none() && sel.run_id.is_none() {
        let filters = HashMap::from([("label".to_string(), vec![format!("{}={}", crate::labels::OWNER, crate::labels::OWNER_VALUE)])]);
        let images = docker
            .list_images(Some(bollard::query_parameters::ListImagesOptions { filters: Some(filters), ..Default::default() }))
            .await
            .map_err(DockerError::api("listing images"))?;
        for img in images {
            if !sel.matches(&img.labels) {
                continue;
            }
            let name = img.repo_tags.first().cloned().unwrap_or_else(|| img.id.clone());
            if !dry_run {
                let opts = bollard::query_parameters::RemoveImageOptions { force: true, ..Default::default() };
                if let Err(e) = docker.remove_image(&img.id, Some(opts), None).await {
                    report.errors.push(format!("image {name}: {e}"));
                    continue;
                }
            }
            report.images.push(name);
        }
    }
    Ok(report)
}

/// Whether an image is present locally.
pub async fn image_present(docker: &Docker, image: &str) -> bool {
    docker.inspect_image(image).await.is_ok()
}

/// Make sure `image` is local: use it if present, else try to pull it (bounded by `pull_timeout`);
/// if that fails, say which image is missing and how to provide it.
pub async fn ensure_image(docker: &Docker, image: &str, pull_timeout: Duration, hint: &str) -> Result<(), DockerError> {
    if image_present(docker, image).await {
        return Ok(());
    }
    let missing = |reason: String| DockerError::ImageMissing { image: image.to_string(), reason, hint: hint.to_string() };
    let opts = CreateImageOptions { from_image: Some(image.to_string()), ..Default::default() };
    let pull = async {
        let mut stream = docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    match tokio::time::timeout(pull_timeout, pull).await {
        Ok(Ok(())) if image_present(docker, image).await => Ok(()),
        Ok(Ok(())) => Err(missing("the pull finished but the image is still not there".to_string())),
        Ok(Err(e)) => Err(missing(format!("pull failed: {e}"))),
        Err(_) => Err(missing(format!("pull did not finish within {}s", pull_timeout.as_secs()))),
    }
}

/// The last `lines` lines a container logged (stdout and stderr), for error messages written
/// before the container is removed.
pub async fn logs_tail(docker: &Docker, container: &str, lines: usize) -> String {
    let opts = bollard::query_parameters::LogsOptions { stdout: true, stderr: true, tail: lines.to_string(), ..Default::default() };
    let mut stream = docker.logs(container, Some(opts));
    let mut out = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        out.push_str(&chunk.to_string());
    }
    out.trim_end().to_string()
}

/// The gateway of a network: its IPAM gateway, else the first address of its subnet (the
/// default bridge reports only the subnet).
pub fn network_gateway(net: &bollard::models::NetworkInspect) -> Option<String> {
    let configs = net.ipam.as_ref()?.config.as_ref()?;
    if let Some(gw) = configs.iter().find_map(|c| c.gateway.clone()) {
        return Some(gw);
    }
    configs.iter().find_map(|c| {
        let subnet = c.subnet.as_ref()?;
        let (addr, _) = subnet.split_once('/')?;
        let ip: std::net::Ipv4Addr = addr.parse().ok()?;
        Some(std::net::Ipv4Addr::from(u32::from(ip) + 1).to_string())
    })
}

/// The gateway address of a Docker network by name (`bridge` for the default one).
pub async fn gateway_of(docker: &Docker, network: &str) -> Result<String, DockerError> {
    let net = docker
        .inspect_network(network, None::<bollard::query_parameters::InspectNetworkOptions>)
        .await
        .map_err(DockerError::api(format!("inspecting network {network}")))?;
    network_gateway(&net)
        .ok_or_else(|| DockerError::LocalImage { image: network.to_string(), message: "network has no IPv4 subnet".to_string() })
}
