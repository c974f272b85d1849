//! How a cluster's pods reach the harness git server on this machine, per backend and Docker
//! flavour, and which address the server listens on so they can.
//!
//! The bridge gateway of the cluster's Docker network is this machine's address only for
//! Docker Engine running as root on Linux. Elsewhere:
//! - Docker Desktop, OrbStack and Colima run the engine in a VM whose gateway is inside it;
//!   `host.docker.internal` (Colima: Lima's host address 192.168.5.2, `host.lima.internal`)
//!   is forwarded to this machine's loopback, so the server listens on 127.0.0.1 only;
//! - rootless Docker's networks live in RootlessKit's namespace: containers reach this
//!   machine through its own (non-loopback) address, so the server listens on all interfaces;
//! - k3d publishes `host.k3d.internal` in CoreDNS (`NodeHosts`), resolved per flavour by k3d
//!   itself, except for rootless Docker and OrbStack, where k3d uses the network gateway.
//!
//! `GITOPS_HARNESS_GIT_HOST` overrides the choice (the server then listens on all interfaces).

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::BackendKind;
use crate::docker::flavour::Flavour;

/// Environment variable naming the host (name or IP) pods should use for the git server.
pub const GIT_HOST_ENV: &str = "GITOPS_HARNESS_GIT_HOST";
/// Lima's fixed address of the host in its user-mode network (`host.lima.internal`), which
/// forwards to the host's loopback.
pub const LIMA_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 5, 2);

/// Where the git server listens and the host name pods use for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitReach {
    /// Host part of the clone URL as the cluster's pods use it.
    pub host: String,
    /// Address the server listens on.
    pub bind: IpAddr,
    /// Why, in a sentence (shown by `up` and in its error when the cluster cannot clone).
    pub why: String,
}

/// What the choice depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachInput {
    /// Backend.
    pub backend: BackendKind,
    /// Docker flavour (`None` for backends without Docker).
    pub flavour: Option<Flavour>,
    /// Gateway of the cluster's Docker network, when known.
    pub network_gateway: Option<Ipv4Addr>,
    /// This machine's primary IPv4 address (only needed for rootless Docker).
    pub host_ip: Option<Ipv4Addr>,
    /// `GITOPS_HARNESS_GIT_HOST`.
    pub override_host: Option<String>,
}

/// No address works, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot choose an address for the harness git server that the cluster can reach: {0}; set {GIT_HOST_ENV} to this machine's address as the cluster's pods see it"
)]
pub struct NoReach(pub String);

const ALL: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Choose the git server's address for a cluster.
pub fn choose(input: &ReachInput) -> Result<GitReach, NoReach> {
    let reach = |host: String, bind: IpAddr, why: String| Ok(GitReach { host, bind, why });
    if let Some(host) = input.override_host.as_deref().filter(|h| !h.is_empty()) {
        return reach(host.to_string(), ALL, format!("{GIT_HOST_ENV}={host}; listening on all interfaces"));
    }
    let k3d = input.backend == BackendKind::K3d;
    match (input.backend, input.flavour.as_ref()) {
        (BackendKind::Existing, _) => reach(
            "host.docker.internal".to_string(),
            ALL,
            format!(
                "an existing cluster: assumed to run in Docker on this machine; set {GIT_HOST_ENV} if its pods reach this machine otherwise"
            ),
        ),
        (BackendKind::Sim, _) => {
            reach("127.0.0.1".to_string(), LOOPBACK, "sim: the cluster's controllers are processes on this machine".to_string())
        }
        (_, None) => Err(NoReach(format!("the {} backend needs Docker, and its flavour is unknown", input.backend))),
        (_, Some(Flavour::LinuxEngine)) => {
            let Some(gw) = input.network_gateway else {
                return if k3d {
                    reach(
                        "host.k3d.internal".to_string(),
                        ALL,
                        "Docker Engine on Linux: k3d's host.k3d.internal (the network gateway)".to_string(),
                    )
                } else {
                    Err(NoReach("Docker Engine on Linux, but the cluster network has no IPv4 gateway".to_string()))
                };
            };
            let host = if k3d { "host.k3d.internal".to_string() } else { gw.to_string() };
            reach(host, IpAddr::V4(gw), format!("Docker Engine on Linux: this machine owns the cluster network's gateway {gw}"))
        }
        (_, Some(Flavour::Rootless)) => match input.host_ip {
            Some(ip) => reach(
                ip.to_string(),
                ALL,
                format!(
                    "rootless Docker: the network gateway is inside RootlessKit's namespace; pods reach this machine at its address {ip}"
                ),
            ),
            None => Err(NoReach("rootless Docker, and this machine has no non-loopback IPv4 address".to_string())),
        },
        (_, Some(Flavour::Colima)) => {
            let host = if k3d { "host.k3d.internal".to_string() } else { LIMA_HOST.to_string() };
            reach(host, LOOPBACK, format!("Colima: Lima forwards {LIMA_HOST} (host.lima.internal) to this machine's loopback"))
        }
        (_, Some(Flavour::DockerDesktop)) => {
            let host = if k3d { "host.k3d.internal" } else { "host.docker.internal" };
            reach(host.to_string(), LOOPBACK, "Docker Desktop: host.docker.internal is forwarded to this machine's loopback".to_string())
        }
        (_, Some(Flavour::OrbStack)) => reach(
            // k3d maps host.k3d.internal to the network gateway here, which is inside OrbStack's VM.
            "host.docker.internal".to_string(),
            LOOPBACK,
            "OrbStack: host.docker.internal is forwarded to this machine's loopback".to_string(),
        ),
        (_, Some(other @ Flavour::Other(_))) => reach(
            if k3d { "host.k3d.internal" } else { "host.docker.internal" }.to_string(),
            ALL,
            format!("{other}: trying host.docker.internal, listening on all interfaces; set {GIT_HOST_ENV} if the cluster cannot clone"),
        ),
    }
}

/// This machine's primary IPv4 address: the source address of its default route (a UDP
/// socket is connected, which sends nothing).
pub fn primary_ipv4() -> Option<Ipv4Addr> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // TEST-NET-1 (RFC 5737): only the route is looked up.
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

/// The message for a cluster that cannot clone from the git server.
pub fn cannot_clone(url: &str, reach: Option<&GitReach>, flux_message: &str) -> String {
    let why = reach.map(|r| format!(" (chosen because {}; the server listens on {})", r.why, r.bind)).unwrap_or_default();
    format!(
        "the cluster cannot clone the harness git server at {url}{why}: {flux_message}\n\
         check that this machine's firewall lets the cluster's network in, or set {GIT_HOST_ENV} to this machine's address as pods see it, then `gitops-harness up --reuse`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(backend: BackendKind, flavour: Flavour) -> ReachInput {
        ReachInput {
            backend,
            flavour: Some(flavour),
            network_gateway: Some(Ipv4Addr::new(172, 18, 0, 1)),
            host_ip: Some(Ipv4Addr::new(192, 168, 1, 23)),
            override_host: None,
        }
    }

    /// The choice for every backend on every flavour: (host pods use, address the server binds).
    #[test]
    fn table_of_backends_and_flavours() {
        use BackendKind::{K3d, K3s, Kind};
        let lo = "127.0.0.1";
        let all = "0.0.0.0";
        let table: &[(BackendKind, Flavour, &str, &str)] = &[
            (K3s, Flavour::LinuxEngine, "172.18.0.1", "172.18.0.1"),
            (Kind, Flavour::LinuxEngine, "172.18.0.1", "172.18.0.1"),
            (K3d, Flavour::LinuxEngine, "host.k3d.internal", "172.18.0.1"),
            (K3s, Flavour::Rootless, "192.168.1.23", all),
            (Kind, Flavour::Rootless, "192.168.1.23", all),
            (K3d, Flavour::Rootless, "192.168.1.23", all),
            (K3s, Flavour::DockerDesktop, "host.docker.internal", lo),
            (Kind, Flavour::DockerDesktop, "host.docker.internal", lo),
            (K3d, Flavour::DockerDesktop, "host.k3d.internal", lo),
            (K3s, Flavour::OrbStack, "host.docker.internal", lo),
            (Kind, Flavour::OrbStack, "host.docker.internal", lo),
            (K3d, Flavour::OrbStack, "host.docker.internal", lo),
            (K3s, Flavour::Colima, "192.168.5.2", lo),
            (Kind, Flavour::Colima, "192.168.5.2", lo),
            (K3d, Flavour::Colima, "host.k3d.internal", lo),
            (K3s, Flavour::Other("podman".into()), "host.docker.internal", all),
        ];
        for (backend, flavour, host, bind) in table {
            let r = choose(&input(*backend, flavour.clone())).unwrap();
            assert_eq!((r.host.as_str(), r.bind.to_string().as_str()), (*host, *bind), "{backend} on {flavour}: {}", r.why);
            assert!(!r.why.is_empty());
        }
    }

    #[test]
    fn override_wins_and_missing_facts_say_what_to_set() {
        let mut i = input(BackendKind::K3s, Flavour::DockerDesktop);
        i.override_host = Some("10.0.2.2".into());
        let r = choose(&i).unwrap();
        assert_eq!((r.host.as_str(), r.bind), ("10.0.2.2", ALL));

        let mut i = input(BackendKind::Kind, Flavour::Rootless);
        i.host_ip = None;
        let e = choose(&i).unwrap_err().to_string();
        assert!(e.contains("rootless") && e.contains(GIT_HOST_ENV), "{e}");

        let mut i = input(BackendKind::K3s, Flavour::LinuxEngine);
        i.network_gateway = None;
        assert!(choose(&i).unwrap_err().to_string().contains("gateway"));
        let e = choose(&ReachInput { flavour: None, ..input(BackendKind::Kind, Flavour::LinuxEngine) }).unwrap_err().to_string();
        assert!(e.contains("needs Docker"), "{e}");
    }

    #[test]
    fn cannot_clone_names_url_choice_and_fix() {
        let r = choose(&input(BackendKind::K3s, Flavour::OrbStack)).unwrap();
        let m = cannot_clone("http://host.docker.internal:41234/repo.git", Some(&r), "dial tcp: i/o timeout");
        assert!(m.contains("http://host.docker.internal:41234/repo.git") && m.contains("OrbStack") && m.contains("i/o timeout"), "{m}");
        assert!(m.contains(GIT_HOST_ENV) && m.contains("--reuse"), "{m}");
    }
}
