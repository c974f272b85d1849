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

/// The CLIs `up` runs for a backend: git (the served copy and its server), flux when the repo
/// brings no Flux components (sim runs Flux itself), and the cluster CLI (kind also drives the
/// docker CLI). kubectl is not among them: `up` talks to the API server itself.
pub fn tools_for(backend: BackendKind, needs_flux_cli: bool) -> Vec<Tool> {
    let mut t = vec![Tool::Git];
    if needs_flux_cli && backend != BackendKind::Sim {
        t.push(Tool::Flux);
    }
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
    for tool in tools_for(req.backend, req.needs_flux_cli) {
        if let Err(e) = tools::find(tool) {
            let message = if tool == Tool::Flux {
                format!("{e} (the repo has no flux-system/gotk-components.yaml, so `up` installs Flux with `flux install --export`)")
            } else {
                e.to_string()
            };
            out.push(PreflightFailure { check: "tool", message });
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
        let f =
            run(&PreflightRequest { backend: BackendKind::K3s, ports: vec![(port, "ingress")], kubeconfig: None, needs_flux_cli: false });
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains(&port.to_string()) && f[0].message.contains("ingress"));
        drop(l);
        assert!(
            run(&PreflightRequest { backend: BackendKind::K3s, ports: vec![(port, "ingress")], kubeconfig: None, needs_flux_cli: false })
                .is_empty()
        );
    }

    #[test]
    fn existing_needs_a_kubeconfig() {
        let f = run(&PreflightRequest {
            backend: BackendKind::Existing,
            ports: vec![],
            kubeconfig: Some("/nonexistent/kubeconfig".into()),
            needs_flux_cli: false,
        });
        assert!(f.iter().any(|x| x.check == "kubeconfig" && x.message.contains("--kubeconfig")), "{f:?}");
    }

    /// What each backend needs, before anything is created.
    #[test]
    fn tools_per_backend() {
        use BackendKind::*;
        assert_eq!(tools_for(K3s, true), vec![Tool::Git, Tool::Flux]);
        assert_eq!(tools_for(K3s, false), vec![Tool::Git]);
        assert_eq!(tools_for(K3d, true), vec![Tool::Git, Tool::Flux, Tool::K3d]);
        assert_eq!(tools_for(Kind, false), vec![Tool::Git, Tool::Kind, Tool::Docker]);
        assert_eq!(tools_for(Existing, true), vec![Tool::Git, Tool::Flux]);
        assert_eq!(tools_for(Sim, true), vec![Tool::Git], "sim runs Flux's controllers itself");
    }
}
