//! Connecting to a live cluster, and telling clearly when there is none.
//!
//! Everything that talks to Kubernetes goes through [`connect`]; suites use [`probe`] to decide
//! at runtime whether a cluster is reachable and, if not, report themselves ignored with the reason.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Where to find a cluster: an explicit kubeconfig file and/or context, or the environment.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Kubeconfig file; `None` means `$KUBECONFIG`, then `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// Context inside the kubeconfig; `None` means its current context.
    pub context: Option<String>,
}

/// Errors reaching a cluster.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The kubeconfig file could not be read or parsed.
    #[error("cannot read kubeconfig {path}: {source}; pass --kubeconfig with a valid file or run `gitops-harness up` first")]
    Kubeconfig {
        /// File that failed.
        path: PathBuf,
        /// Underlying error.
        source: kube::config::KubeconfigError,
    },
    /// No kubeconfig and no in-cluster environment.
    #[error("no cluster configured: {0}; set KUBECONFIG, pass --kubeconfig, or run `gitops-harness up`")]
    NoConfig(String),
    /// Building the client failed.
    #[error("cannot create a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// The API server did not answer.
    #[error("cluster API server at {url} is not reachable: {reason}; is the cluster running (`gitops-harness status`)?")]
    Unreachable {
        /// API server URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Make ring the process's rustls crypto provider (kube and reqwest both speak TLS through
/// rustls; with no default installed, building a client panics). Idempotent.
pub fn ensure_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already the default: that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Build a kube [`Config`] for a target without contacting the server.
pub async fn config(target: &Target) -> Result<Config, LiveError> {
    ensure_crypto_provider();
    let opts = KubeConfigOptions { context: target.context.clone(), ..Default::default() };
    match &target.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|source| LiveError::Kubeconfig { path: path.clone(), source })?;
            Config::from_custom_kubeconfig(kc, &opts).await.map_err(|source| LiveError::Kubeconfig { path: path.clone(), source })
        }
        None => {
            if target.context.is_some() {
                Config::from_kubeconfig(&opts).await.map_err(|e| LiveError::NoConfig(e.to_string()))
            } else {
                Config::infer().await.map_err(|e| LiveError::NoConfig(e.to_string()))
            }
        }
    }
}

/// Connect to the target's cluster (no request is made yet).
pub async fn connect(target: &Target) -> Result<Client, LiveError> {
    let cfg = config(target).await?;
    Client::try_from(cfg).map_err(LiveError::Client)
}

/// Connect and make one cheap request (`/version`) within `timeout`, so callers learn early
/// and clearly that no cluster is there.
pub async fn probe(target: &Target, timeout: Duration) -> Result<Client, LiveError> {
    let cfg = config(target).await?;
    let url = cfg.cluster_url.to_string();
    let client = Client::try_from(cfg).map_err(LiveError::Client)?;
    match tokio::time::timeout(timeout, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(client),
        Ok(Err(e)) => Err(LiveError::Unreachable { url, reason: e.to_string() }),
        Err(_) => Err(LiveError::Unreachable { url, reason: format!("no answer within {timeout:?}") }),
    }
}

/// The target a harness-created cluster of `name` is reached through: its kubeconfig is
/// kept under the harness state directory (never merged into ~/.kube/config unless asked).
pub fn harness_target(name: &str) -> Target {
    Target { kubeconfig: Some(crate::state::ClusterPaths::of(name).kubeconfig()), context: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An https kubeconfig whose server does not answer gives an error, not a crypto-provider panic.
    #[tokio::test]
    async fn probe_of_a_dead_https_server_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let kc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
        );
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, kc).unwrap();
        let target = Target { kubeconfig: Some(path), context: None };
        let Err(err) = probe(&target, Duration::from_secs(3)).await else { panic!("a dead server answered") };
        assert!(matches!(err, LiveError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
    }
}
