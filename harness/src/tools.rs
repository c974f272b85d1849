//! Locating the external CLIs the harness drives (kubectl, helm, flux, k3d, kind, git, docker).
//!
//! Order: an explicit override (`GITOPS_HARNESS_<TOOL>`), then `PATH`, then the workspace's
//! `.tools/bin` (where `make tools` installs kubectl and helm). A missing tool is an error that
//! says how to install it.

use std::path::{Path, PathBuf};

/// A CLI the harness may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// kubectl (with kustomize v5 built in).
    Kubectl,
    /// helm.
    Helm,
    /// flux.
    Flux,
    /// k3d.
    K3d,
    /// kind.
    Kind,
    /// git.
    Git,
    /// docker CLI.
    Docker,
}

impl Tool {
    /// Executable name.
    pub fn exe(self) -> &'static str {
        match self {
            Tool::Kubectl => "kubectl",
            Tool::Helm => "helm",
            Tool::Flux => "flux",
            Tool::K3d => "k3d",
            Tool::Kind => "kind",
            Tool::Git => "git",
            Tool::Docker => "docker",
        }
    }

    /// Environment variable that overrides the location.
    pub fn env_override(self) -> String {
        format!("GITOPS_HARNESS_{}", self.exe().to_uppercase())
    }

    /// How to install it.
    pub fn install_hint(self) -> &'static str {
        match self {
            Tool::Kubectl | Tool::Helm => {
                "run `make tools` (or ./scripts/install-tools.sh) to install kubectl 1.35 and helm into .tools/bin, or install them from https://kubernetes.io/docs/tasks/tools/"
            }
            Tool::Flux => {
                "install the Flux CLI: run ./scripts/install-flux.sh (into .tools/bin), or see https://fluxcd.io/flux/installation/ (e.g. `brew install fluxcd/tap/flux`)"
            }
            Tool::K3d => "install k3d: https://k3d.io/#installation, or use `--backend k3s` (no cluster CLI: it drives Docker itself)",
            Tool::Kind => {
                "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation, or use `--backend k3s` (no cluster CLI: it drives Docker itself)"
            }
            Tool::Git => "install git (e.g. `apt-get install git`)",
            Tool::Docker => "install Docker Engine: https://docs.docker.com/engine/install/",
        }
    }
}

/// A tool that cannot be found or run.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Not on PATH, not in `.tools/bin`, no override.
    #[error("`{exe}` not found (looked at ${env}, PATH and {local}); {hint}")]
    NotFound {
        /// Executable name.
        exe: &'static str,
        /// Override variable.
        env: String,
        /// The workspace tools dir.
        local: String,
        /// Install hint.
        hint: &'static str,
    },
    /// It ran but failed.
    #[error("`{command}` failed: {message}")]
    Failed {
        /// The command line.
        command: String,
        /// stderr or the I/O error.
        message: String,
    },
}

/// The workspace's own tools directory (`<workspace>/.tools/bin`), when built from a checkout.
pub fn local_tools_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin")
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// The first executable named `exe` on `PATH`.
pub fn on_path(exe: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(exe)).find(|p| is_executable(p))
}

/// Find a tool.
pub fn find(tool: Tool) -> Result<PathBuf, ToolError> {
    if let Some(p) = std::env::var_os(tool.env_override()) {
        let p = PathBuf::from(p);
        if is_executable(&p) {
            return Ok(p);
        }
    }
    if let Some(found) = on_path(tool.exe()) {
        return Ok(found);
    }
    let local = local_tools_dir().join(tool.exe());
    if is_executable(&local) {
        return Ok(local);
    }
    Err(ToolError::NotFound {
        exe: tool.exe(),
        env: tool.env_override(),
        local: local_tools_dir().display().to_string(),
        hint: tool.install_hint(),
    })
}

/// Versions reported by `kubectl version --client -o json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubectlVersion {
    /// e.g. `v1.35.2`.
    pub kubectl: String,
    /// e.g. `v5.7.1`.
    pub kustomize: String,
}

impl KubectlVersion {
    /// Major version of the bundled kustomize.
    pub fn kustomize_major(&self) -> Option<u32> {
        self.kustomize.trim_start_matches('v').split('.').next()?.parse().ok()
    }
}

/// Parse `kubectl version --client -o json`.
pub fn parse_kubectl_version(json: &str) -> Option<KubectlVersion> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(KubectlVersion {
        kubectl: v.pointer("/clientVersion/gitVersion")?.as_str()?.to_string(),
        kustomize: v.get("kustomizeVersion")?.as_str()?.to_string(),
    })
}

/// Ask kubectl for its versions.
pub fn kubectl_version(kubectl: &Path) -> Result<KubectlVersion, ToolError> {
    let command = format!("{} version --client -o json", kubectl.display());
    let out = duct::cmd!(kubectl, "version", "--client", "-o", "json")
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| ToolError::Failed { command: command.clone(), message: e.to_string() })?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_kubectl_version(&text).ok_or_else(|| ToolError::Failed {
        command,
        message: format!("unexpected output: {}{}", text, String::from_utf8_lossy(&out.stderr)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_version() {
        let v = parse_kubectl_version(r#"{"clientVersion":{"gitVersion":"v1.35.2"},"kustomizeVersion":"v5.7.1"}"#).unwrap();
        assert_eq!(v.kubectl, "v1.35.2");
        assert_eq!(v.kustomize_major(), Some(5));
    }

    #[test]
    fn missing_tool_says_how_to_install() {
        // k3d is not installed on the CI machines; if it is, the lookup must find a real file.
        match find(Tool::K3d) {
            Ok(p) => assert!(p.is_file()),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("k3d.io") && msg.contains("GITOPS_HARNESS_K3D"), "{msg}");
            }
        }
    }
}
