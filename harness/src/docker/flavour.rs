//! Which kind of Docker the user has, from what the engine reports about itself (`/info`,
//! `/version`) and where the client connects. The flavour decides how a cluster's pods reach a
//! server on this machine (see [`crate::cluster::git_reach`]) and whether the k3s node needs
//! the DNS fix k3d applies.
//!
//! Signals, as k3d reads them too (`pkg/client/host.go`, `pkg/types/fixes/fixes.go`):
//! Docker Desktop reports `OperatingSystem: "Docker Desktop"`; Colima's VM is named `colima`
//! (or `colima-<profile>`); OrbStack reports `OperatingSystem: "OrbStack"`; rootless Docker
//! lists `name=rootless` among `SecurityOptions`.

use bollard::Docker;
use bollard::models::{SystemInfo, SystemVersion};
use serde::{Deserialize, Serialize};

use super::DockerError;

/// What the engine says about itself, plus where the client connects and the client's OS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineFacts {
    /// `/info` `OperatingSystem` (e.g. `Docker Desktop`, `Ubuntu 24.04 LTS`, `OrbStack`).
    pub operating_system: String,
    /// `/info` `Name`: the engine host's name (`colima`, `docker-desktop`, `orbstack`, …).
    pub name: String,
    /// `/info` `SecurityOptions` (`name=rootless`, `name=seccomp,profile=builtin`, …).
    pub security_options: Vec<String>,
    /// `/version` `Platform.Name` (e.g. `Docker Desktop 4.43.2 (199162)`, `Docker Engine - Community`).
    pub platform: String,
    /// The client's OS (`std::env::consts::OS`: `linux`, `macos`, `windows`).
    pub host_os: String,
    /// Where the client connects (`$DOCKER_HOST` or the default socket).
    pub endpoint: String,
}

impl EngineFacts {
    /// Facts from recorded `/info` and `/version` answers.
    pub fn from_api(info: &SystemInfo, version: &SystemVersion, host_os: &str, endpoint: &str) -> EngineFacts {
        EngineFacts {
            operating_system: info.operating_system.clone().unwrap_or_default(),
            name: info.name.clone().unwrap_or_default(),
            security_options: info.security_options.clone().unwrap_or_default(),
            platform: version.platform.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
            host_os: host_os.to_string(),
            endpoint: endpoint.to_string(),
        }
    }
}

/// Ask the engine.
pub async fn facts(docker: &Docker) -> Result<EngineFacts, DockerError> {
    let info = docker.info().await.map_err(DockerError::api("reading the engine's /info"))?;
    let version = docker.version().await.map_err(DockerError::api("reading the engine's /version"))?;
    Ok(EngineFacts::from_api(&info, &version, std::env::consts::OS, &super::endpoint()))
}

/// The kinds of Docker the harness knows how to reach the host from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavour {
    /// Docker Engine running as root on this Linux machine: the host owns every bridge
    /// network's gateway address.
    LinuxEngine,
    /// Rootless Docker: networks live in RootlessKit's namespace, their gateway is not this
    /// machine's address.
    Rootless,
    /// Docker Desktop (macOS, Windows, or Linux): the engine runs in a VM.
    DockerDesktop,
    /// OrbStack (macOS): the engine runs in a VM.
    OrbStack,
    /// Colima (Lima VM, usually macOS).
    Colima,
    /// Anything else (a remote engine, Podman's Docker API, Rancher Desktop, …), with what it said.
    Other(String),
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flavour::LinuxEngine => f.write_str("Docker Engine on Linux"),
            Flavour::Rootless => f.write_str("rootless Docker"),
            Flavour::DockerDesktop => f.write_str("Docker Desktop"),
            Flavour::OrbStack => f.write_str("OrbStack"),
            Flavour::Colima => f.write_str("Colima"),
            Flavour::Other(what) => write!(f, "an unrecognised Docker ({what})"),
        }
    }
}

impl Flavour {
    /// The engine runs in a VM that forwards `host.docker.internal` to this machine.
    pub fn in_vm(&self) -> bool {
        matches!(self, Flavour::DockerDesktop | Flavour::OrbStack | Flavour::Colima)
    }
}

/// Whether the client talks to an engine on this machine (a unix socket, or a TCP address on
/// loopback) rather than a remote one.
fn local_endpoint(endpoint: &str) -> bool {
    if endpoint.starts_with("unix://") || endpoint.starts_with("npipe://") || endpoint.starts_with('/') {
        return true;
    }
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Decide the flavour from the engine's facts.
pub fn detect(f: &EngineFacts) -> Flavour {
    let os = f.operating_system.to_ascii_lowercase();
    let name = f.name.to_ascii_lowercase();
    if f.security_options.iter().any(|o| o.split(',').any(|kv| kv == "name=rootless")) {
        return Flavour::Rootless;
    }
    if os == "docker desktop" || f.platform.starts_with("Docker Desktop") {
        return Flavour::DockerDesktop;
    }
    if os.contains("orbstack") || name == "orbstack" {
        return Flavour::OrbStack;
    }
    if name == "colima" || name.starts_with("colima-") || f.endpoint.contains("/.colima/") {
        return Flavour::Colima;
    }
    if f.host_os == "linux" && local_endpoint(&f.endpoint) {
        return Flavour::LinuxEngine;
    }
    Flavour::Other(format!("OperatingSystem {:?}, Name {:?}, at {} from {}", f.operating_system, f.name, f.endpoint, f.host_os))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/info` and `/version` as each flavour answers them (the fields the decision reads, with
    /// their real values), and the client's OS and endpoint.
    fn recorded(info: &str, version: &str, host_os: &str, endpoint: &str) -> EngineFacts {
        let info: SystemInfo = serde_json::from_str(info).unwrap();
        let version: SystemVersion = serde_json::from_str(version).unwrap();
        EngineFacts::from_api(&info, &version, host_os, endpoint)
    }

    #[test]
    fn each_flavour_from_its_recorded_answers() {
        let engine = r#"{"Platform":{"Name":"Docker Engine - Community"},"Version":"28.3.2"}"#;
        let table = [
            (
                recorded(
                    r#"{"OperatingSystem":"Ubuntu 24.04.2 LTS","Name":"build-01","SecurityOptions":["name=apparmor","name=seccomp,profile=builtin","name=cgroupns"]}"#,
                    engine,
                    "linux",
                    "unix:///var/run/docker.sock",
                ),
                Flavour::LinuxEngine,
            ),
            (
                recorded(
                    r#"{"OperatingSystem":"Ubuntu 24.04.2 LTS","Name":"laptop","SecurityOptions":["name=seccomp,profile=builtin","name=rootless","name=cgroupns"]}"#,
                    engine,
                    "linux",
                    "unix:///run/user/1000/docker.sock",
                ),
                Flavour::Rootless,
            ),
            (
                recorded(
                    r#"{"OperatingSystem":"Docker Desktop","Name":"docker-desktop","SecurityOptions":["name=seccomp,profile=unconfined","name=cgroupns"]}"#,
                    r#"{"Platform":{"Name":"Docker Desktop 4.43.2 (199162)"}}"#,
                    "macos",
                    "unix:///Users/ada/.docker/run/docker.sock",
                ),
                Flavour::DockerDesktop,
            ),
            (
                recorded(
                    r#"{"OperatingSystem":"Docker Desktop","Name":"docker-desktop"}"#,
                    r#"{"Platform":{"Name":"Docker Desktop 4.43.2 (199162)"}}"#,
                    "windows",
                    "npipe:////./pipe/docker_engine",
                ),
                Flavour::DockerDesktop,
            ),
            (
                // Docker Desktop for Linux: a VM too, though the client is on Linux.
                recorded(
                    r#"{"OperatingSystem":"Docker Desktop","Name":"docker-desktop"}"#,
                    r#"{"Platform":{"Name":"Docker Desktop 4.43.2 (199162)"}}"#,
                    "linux",
                    "unix:///home/ada/.docker/desktop/docker.sock",
                ),
                Flavour::DockerDesktop,
            ),
            (
                recorded(
                    r#"{"OperatingSystem":"OrbStack","Name":"orbstack","SecurityOptions":["name=seccomp,profile=builtin","name=cgroupns"]}"#,
                    engine,
                    "macos",
                    "unix:///Users/ada/.orbstack/run/docker.sock",
                ),
                Flavour::OrbStack,
            ),
            (
                recorded(
                    r#"{"OperatingSystem":"Ubuntu 24.04.1 LTS","Name":"colima","SecurityOptions":["name=apparmor","name=seccomp,profile=builtin","name=cgroupns"]}"#,
                    engine,
                    "macos",
                    "unix:///Users/ada/.colima/default/docker.sock",
                ),
                Flavour::Colima,
            ),
            (
                recorded(
                    r#"{"OperatingSystem":"Ubuntu 24.04.1 LTS","Name":"colima-work"}"#,
                    engine,
                    "macos",
                    "unix:///Users/ada/.colima/work/docker.sock",
                ),
                Flavour::Colima,
            ),
        ];
        for (facts, want) in table {
            assert_eq!(detect(&facts), want, "{facts:?}");
        }
        // A Linux engine on another machine is not one whose gateway this host owns.
        let remote =
            recorded(r#"{"OperatingSystem":"Debian GNU/Linux 12 (bookworm)","Name":"ci-7"}"#, engine, "linux", "tcp://10.1.2.3:2376");
        assert!(matches!(detect(&remote), Flavour::Other(ref w) if w.contains("tcp://10.1.2.3:2376")), "{:?}", detect(&remote));
        let local_tcp =
            recorded(r#"{"OperatingSystem":"Debian GNU/Linux 12 (bookworm)","Name":"me"}"#, engine, "linux", "tcp://127.0.0.1:2375");
        assert_eq!(detect(&local_tcp), Flavour::LinuxEngine);
    }

    /// The same decision through bollard against a fake Docker API on loopback answering
    /// `/_ping`, `/version` and `/info` as rootless Docker does: the field names are the API's.
    #[tokio::test]
    async fn facts_from_a_fake_docker_api() {
        use axum::routing::get;
        let app = axum::Router::new()
            .route("/_ping", get(|| async { "OK" }))
            .route(
                "/version",
                get(|| async {
                    axum::Json(
                        serde_json::json!({"Platform": {"Name": "Docker Engine - Community"}, "ApiVersion": "1.47", "Version": "27.5.1"}),
                    )
                }),
            )
            .route(
                "/info",
                get(|| async {
                    axum::Json(serde_json::json!({"OperatingSystem": "Fedora Linux 41", "Name": "ws",
                        "SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"]}))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let docker = Docker::connect_with_http(&format!("http://{addr}"), 5, bollard::API_DEFAULT_VERSION).unwrap();
        let f = facts(&docker).await.unwrap();
        server.abort();
        assert_eq!(f.operating_system, "Fedora Linux 41");
        assert!(f.security_options.iter().any(|o| o == "name=rootless"), "{f:?}");
        assert_eq!(detect(&f), Flavour::Rootless);
    }
}
