//! Preflight: everything `up` checks before it creates anything, each failure with its fix.

use std::net::{SocketAddr, TcpListener};

use crate::cluster::{Capabilities, Provider};
use crate::tools::{self, Tool};

/// What `up` is about to do.
#[derive(Debug, Clone)]
pub struct PreflightRequest {
    /// What the backend needs and provides.
    pub capabilities: Capabilities,
    /// Host ports that must be free (ingress, API, git server), with what they are for.
    pub ports: Vec<(u16, &'static str)>,
    /// The repo has no `flux-system/gotk-components.yaml`, so the bootstrap runs
    /// `flux install --export` (see [`crate::bootstrap::flux_components`]).
    pub needs_flux_cli: bool,
}

/// One failed preflight check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightFailure {
    /// Which check.
    pub check: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for PreflightFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.check, self.message)
    }
}

/// Whether a host port is free (on all interfaces, as a published container port needs).
pub fn port_free(port: u16) -> bool {
    TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).is_ok()
}

/// The CLIs `up` runs: git (the served copy and its server), flux when the repo brings no Flux
/// components and the backend does not run Flux itself, and the backend's own CLIs. kubectl is
/// not among them: `up` talks to the API server itself.
pub fn tools_for(capabilities: &Capabilities, needs_flux_cli: bool) -> Vec<Tool> {
    let mut t = vec![Tool::Git];
    if needs_flux_cli && capabilities.flux == Provider::Repository {
        t.push(Tool::Flux);
    }
    t.extend(capabilities.tools.iter().copied());
    t
}

/// Run the local checks (ports, CLIs); what only the backend knows (a Docker Engine, the sim
/// tools, a kubeconfig) is its own [`crate::cluster::ClusterBackend::preflight`].
pub fn run(req: &PreflightRequest) -> Vec<PreflightFailure> {
    let mut out = Vec::new();
    for (port, what) in &req.ports {
        if *port != 0 && !port_free(*port) {
            out.push(PreflightFailure {
                check: "port",
                message: format!(
                    "host port {port} ({what}) is already in use; stop what listens there (`ss -ltnp 'sport = :{port}'`) or choose another port"
                ),
            });
        }
    }
    for tool in tools_for(&req.capabilities, req.needs_flux_cli) {
        if let Err(e) = tools::find(tool) {
            let message = if tool == Tool::Flux {
                format!("{e} (the repo has no flux-system/gotk-components.yaml, so `up` installs Flux with `flux install --export`)")
            } else {
                e.to_string()
            };
            out.push(PreflightFailure { check: "tool", message });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{AnyBackend, BackendKind, ClusterBackend};

    fn caps(kind: BackendKind) -> Capabilities {
        AnyBackend::new(kind).capabilities()
    }

    #[test]
    fn taken_port_is_named_with_a_fix() {
        let l = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let req = |p| PreflightRequest { capabilities: caps(BackendKind::K3s), ports: vec![(p, "ingress")], needs_flux_cli: false };
        let f = run(&req(port));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains(&port.to_string()) && f[0].message.contains("ingress"));
        drop(l);
        assert!(run(&req(port)).is_empty());
    }

    /// What each backend needs, before anything is created.
    #[test]
    fn tools_per_backend() {
        use BackendKind::*;
        assert_eq!(tools_for(&caps(K3s), true), vec![Tool::Git, Tool::Flux]);
        assert_eq!(tools_for(&caps(K3s), false), vec![Tool::Git]);
        assert_eq!(tools_for(&caps(K3d), true), vec![Tool::Git, Tool::Flux, Tool::K3d]);
        assert_eq!(tools_for(&caps(Kind), false), vec![Tool::Git, Tool::Kind, Tool::Docker]);
        assert_eq!(tools_for(&caps(Existing), true), vec![Tool::Git, Tool::Flux]);
        assert_eq!(tools_for(&caps(Sim), true), vec![Tool::Git], "sim runs Flux's controllers itself");
    }

    #[tokio::test]
    async fn existing_needs_a_kubeconfig() {
        let mut spec = crate::cluster::ClusterSpec::new("x");
        spec.kubeconfig = Some("/nonexistent/kubeconfig".into());
        let f = AnyBackend::new(BackendKind::Existing).preflight(&spec).await;
        assert!(f.iter().any(|x| x.check == "kubeconfig" && x.message.contains("--kubeconfig")), "{f:?}");
    }
}
