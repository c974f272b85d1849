//! Preflight: everything `up` checks before it creates anything, each failure with its fix.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use crate::cluster::BackendKind;
use crate::tools::{self, Tool};

/// What `up` is about to do.
#[derive(Debug, Clone)]
pub struct PreflightRequest {
    /// Backend.
    pub backend: BackendKind,
    /// Host ports that must be free (ingress, API, git server), with what they are for.
    pub ports: Vec<(u16, &'static str)>,
    /// Kubeconfig for the existing backend.
    pub kubeconfig: Option<PathBuf>,
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

/// The CLIs a backend needs.
pub fn tools_for(backend: BackendKind) -> Vec<Tool> {
    let mut t = vec![Tool::Git];
    match backend {
        BackendKind::K3d => t.push(Tool::K3d),
        BackendKind::Kind => t.extend([Tool::Kind, Tool::Docker]),
        BackendKind::K3s | BackendKind::Existing | BackendKind::Sim => {}
    }
    t
}

/// Run the local checks (ports, CLIs, kubeconfig); Docker reachability is checked by the caller
/// with [`crate::docker::connect`] since it is async.
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
    for tool in tools_for(req.backend) {
        if let Err(e) = tools::find(tool) {
            out.push(PreflightFailure { check: "tool", message: e.to_string() });
        }
    }
    if req.backend == BackendKind::Sim
        && let Err(e) = crate::cluster::sim::toolset::Toolset::locate()
    {
        out.push(PreflightFailure { check: "sim-tools", message: e.to_string() });
    }
    if req.backend == BackendKind::Existing {
        let path = req.kubeconfig.clone().unwrap_or_else(crate::kubeconfig::user_kubeconfig_path);
        if !path.is_file() {
            out.push(PreflightFailure {
                check: "kubeconfig",
                message: format!("kubeconfig {} does not exist; pass --kubeconfig PATH for --backend existing", path.display()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_port_is_named_with_a_fix() {
        let l = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let f = run(&PreflightRequest { backend: BackendKind::K3s, ports: vec![(port, "ingress")], kubeconfig: None });
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains(&port.to_string()) && f[0].message.contains("ingress"));
        drop(l);
        assert!(run(&PreflightRequest { backend: BackendKind::K3s, ports: vec![(port, "ingress")], kubeconfig: None }).is_empty());
    }

    #[test]
    fn existing_needs_a_kubeconfig() {
        let f =
            run(&PreflightRequest { backend: BackendKind::Existing, ports: vec![], kubeconfig: Some("/nonexistent/kubeconfig".into()) });
        assert!(f.iter().any(|x| x.check == "kubeconfig" && x.message.contains("--kubeconfig")), "{f:?}");
    }
}
