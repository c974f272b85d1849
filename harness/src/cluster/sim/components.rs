//! Command lines of the sim tier's processes. Every listener is bound to 127.0.0.1 on a port
//! chosen per cluster (so two sim clusters run side by side), and nothing is told an address
//! off this machine.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::pki::PkiFiles;
use super::process::ProcessSpec;
use super::toolset::{Component, Toolset};

/// Service ClusterIPs (fake: nothing listens there, and nothing may dial them).
pub const SERVICE_CIDR: &str = "10.96.0.0/16";
/// Pod IPs kwok hands out (fake, and distinct from the service range).
pub const POD_CIDR: &str = "10.244.0.0/16";
/// Where proxy-aware Go clients of sim processes are sent for any non-loopback address: a
/// privileged loopback port nothing listens on, so such a dial is refused at once, on this host.
pub const BLACKHOLE_PROXY: &str = "http://127.0.0.1:9";
/// Loopback addresses that bypass that proxy.
pub const NO_PROXY: &str = "127.0.0.1,localhost,::1";
/// How long a Kustomization waits before re-checking a dependency that is not Ready. Flux's
/// default is 30 s; sim uses 5 s so a three-wave plan converges in seconds (`up` says so).
pub const REQUEUE_DEPENDENCY: &str = "5s";

/// The ports of one sim cluster, all on 127.0.0.1.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// etcd client.
    pub etcd: u16,
    /// etcd peer.
    pub etcd_peer: u16,
    /// kube-apiserver (HTTPS).
    pub apiserver: u16,
    /// source-controller metrics, health, artifact storage.
    pub source: [u16; 3],
    /// kustomize-controller metrics, health.
    pub kustomize: [u16; 2],
    /// helm-controller metrics, health.
    pub helm: [u16; 2],
    /// The harness git server.
    pub git: u16,
    /// The egress gateway: the one way out of the sim for every process that may dial out (chart
    /// and artifact fetches from the cassette, Flagger's metrics and webhooks from the stand-ins).
    #[serde(default, alias = "standins")]
    pub gateway: u16,
    /// Flagger's own HTTP port; 0 when Flagger does not run.
    #[serde(default)]
    pub flagger: u16,
}

impl Ports {
    /// Every port, for a preflight that they are free.
    pub fn all(&self) -> Vec<(u16, &'static str)> {
        let mut v = vec![(self.etcd, "etcd"), (self.etcd_peer, "etcd peer"), (self.apiserver, "kube-apiserver")];
        v.extend(self.source.iter().map(|p| (*p, "source-controller")));
        v.extend(self.kustomize.iter().map(|p| (*p, "kustomize-controller")));
        v.extend(self.helm.iter().map(|p| (*p, "helm-controller")));
        v.push((self.git, "git server"));
        v.push((self.gateway, "egress gateway"));
        v.push((self.flagger, "flagger"));
        v
    }
}

/// Files and directories of one sim cluster under its state directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The state directory.
    pub root: PathBuf,
}

impl Layout {
    /// etcd's data.
    pub fn etcd_data(&self) -> PathBuf {
        self.root.join("etcd")
    }
    /// Process logs.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// The log of process `name`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.logs().join(format!("{name}.log"))
    }
    /// PKI.
    pub fn pki(&self) -> PathBuf {
        self.root.join("pki")
    }
    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }
    /// kube-apiserver's scratch certificate directory.
    pub fn apiserver_certs(&self) -> PathBuf {
        self.root.join("apiserver-certs")
    }
    /// source-controller's artifact storage.
    pub fn source_storage(&self) -> PathBuf {
        self.root.join("source-storage")
    }
    /// The record of the cluster's processes.
    pub fn record(&self) -> PathBuf {
        self.root.join("sim.json")
    }
}

fn s(v: impl Into<String>) -> String {
    v.into()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// etcd, single member, on loopback; fsync off (a throwaway cluster).
pub fn etcd(tools: &Toolset, layout: &Layout, ports: &Ports) -> ProcessSpec {
    let client = format!("http://127.0.0.1:{}", ports.etcd);
    let peer = format!("http://127.0.0.1:{}", ports.etcd_peer);
    ProcessSpec::new(
        "etcd",
        tools.bin(Component::Etcd, "etcd"),
        vec![
            s("--name=sim"),
            format!("--data-dir={}", p(&layout.etcd_data())),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster=sim={peer}"),
            s("--unsafe-no-fsync"),
            s("--quota-backend-bytes=2147483648"),
            s("--log-level=warn"),
        ],
        &layout.root,
    )
}

/// kube-apiserver: token auth, RBAC, admission webhooks off (nothing may be dialed), a service
/// range distinct from kwok's pods, loopback endpoints not reconciled.
pub fn apiserver(tools: &Toolset, layout: &Layout, ports: &Ports, pki: &PkiFiles) -> ProcessSpec {
    ProcessSpec::new(
        "kube-apiserver",
        tools.bin(Component::Kubernetes, "kube-apiserver"),
        vec![
            format!("--etcd-servers=http://127.0.0.1:{}", ports.etcd),
            s("--bind-address=127.0.0.1"),
            format!("--secure-port={}", ports.apiserver),
            s("--advertise-address=127.0.0.1"),
            s("--endpoint-reconciler-type=none"),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            format!("--tls-cert-file={}", p(&pki.serving_crt)),
            format!("--tls-private-key-file={}", p(&pki.serving_key)),
            format!("--cert-dir={}", p(&layout.apiserver_certs())),
            format!("--token-auth-file={}", p(&pki.tokens)),
            s("--authorization-mode=RBAC"),
            s("--service-account-issuer=https://kubernetes.default.svc.cluster.local"),
            format!("--service-account-key-file={}", p(&pki.sa_pub)),
            format!("--service-account-signing-key-file={}", p(&pki.sa_key)),
            s("--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook"),
            s("--allow-privileged=true"),
            s("--profiling=false"),
            s("--v=1"),
        ],
        &layout.root,
    )
    .env("HTTPS_PROXY", BLACKHOLE_PROXY)
    .env("HTTP_PROXY", BLACKHOLE_PROXY)
    .env("NO_PROXY", NO_PROXY)
}

/// kube-controller-manager: Deployments, ReplicaSets, EndpointSlices, GC, namespaces, service
/// accounts. No serving port, no leader election.
pub fn controller_manager(tools: &Toolset, layout: &Layout, pki: &PkiFiles) -> ProcessSpec {
    let kc = p(&layout.kubeconfig());
    ProcessSpec::new(
        "kube-controller-manager",
        tools.bin(Component::Kubernetes, "kube-controller-manager"),
        vec![
            format!("--kubeconfig={kc}"),
            s("--leader-elect=false"),
            s("--bind-address=127.0.0.1"),
            s("--secure-port=0"),
            format!("--service-account-private-key-file={}", p(&pki.sa_key)),
            format!("--root-ca-file={}", p(&pki.ca_crt)),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            s("--v=1"),
        ],
        &layout.root,
    )
}

/// kube-scheduler.
pub fn scheduler(tools: &Toolset, layout: &Layout) -> ProcessSpec {
    ProcessSpec::new(
        "kube-scheduler",
        tools.bin(Component::Kubernetes, "kube-scheduler"),
        vec![
            format!("--kubeconfig={}", p(&layout.kubeconfig())),
            s("--leader-elect=false"),
            s("--bind-address=127.0.0.1"),
            s("--secure-port=0"),
            s("--v=1"),
        ],
        &layout.root,
    )
}

/// kwok: plays the kubelet of every node (Ready nodes, Running pods), with the "fast" stages
/// and no server of its own. Node leases are renewed explicitly: without a lease (kwok applies
/// its 40 s default only from a KwokConfiguration file) the node lifecycle controller marks the
/// node NotReady after its grace period and every pod on it unready, for good.
pub fn kwok(tools: &Toolset, layout: &Layout) -> ProcessSpec {
    let mut args = vec![
        format!("--kubeconfig={}", p(&layout.kubeconfig())),
        s("--manage-all-nodes=true"),
        format!("--cidr={POD_CIDR}"),
        s("--node-lease-duration-seconds=40"),
    ];
    args.extend(tools.kwok_stages().iter().map(|f| format!("--config={}", p(f))));
    ProcessSpec::new("kwok", tools.bin(Component::Kwok, "kwok"), args, &layout.root)
}

fn flux_controller(
    name: &str,
    c: Component,
    tools: &Toolset,
    layout: &Layout,
    metrics: u16,
    health: u16,
    extra: Vec<String>,
) -> ProcessSpec {
    let mut args = vec![
        format!("--metrics-addr=127.0.0.1:{metrics}"),
        format!("--health-addr=127.0.0.1:{health}"),
        s("--watch-all-namespaces=true"),
        s("--log-level=info"),
        s("--log-encoding=json"),
    ];
    args.extend(extra);
    // Out of cluster through KUBECONFIG only: these controllers have no --kubeconfig flag.
    ProcessSpec::new(name, tools.bin(c, name), args, &layout.root)
        .env("KUBECONFIG", p(&layout.kubeconfig()))
        .env("RUNTIME_NAMESPACE", "flux-system")
        .env("HTTPS_PROXY", BLACKHOLE_PROXY)
        .env("HTTP_PROXY", BLACKHOLE_PROXY)
        .env("NO_PROXY", NO_PROXY)
}

/// source-controller, serving artifacts on loopback.
pub fn source_controller(tools: &Toolset, layout: &Layout, ports: &Ports) -> ProcessSpec {
    let [m, h, storage] = ports.source;
    flux_controller(
        "source-controller",
        Component::SourceController,
        tools,
        layout,
        m,
        h,
        vec![
            format!("--storage-addr=127.0.0.1:{storage}"),
            format!("--storage-adv-addr=127.0.0.1:{storage}"),
            format!("--storage-path={}", p(&layout.source_storage())),
            format!("--requeue-dependency={REQUEUE_DEPENDENCY}"),
        ],
    )
}

/// kustomize-controller (no remote bases: sim fetches nothing from the internet).
pub fn kustomize_controller(tools: &Toolset, layout: &Layout, ports: &Ports) -> ProcessSpec {
    let [m, h] = ports.kustomize;
    flux_controller(
        "kustomize-controller",
        Component::KustomizeController,
        tools,
        layout,
        m,
        h,
        vec![s("--no-remote-bases=true"), format!("--requeue-dependency={REQUEUE_DEPENDENCY}")],
    )
}

/// helm-controller.
pub fn helm_controller(tools: &Toolset, layout: &Layout, ports: &Ports) -> ProcessSpec {
    let [m, h] = ports.helm;
    flux_controller(
        "helm-controller",
        Component::HelmController,
        tools,
        layout,
        m,
        h,
        vec![format!("--requeue-dependency={REQUEUE_DEPENDENCY}")],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listener_is_on_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let tools = Toolset::for_tests(dir.path());
        let layout = Layout { root: dir.path().to_path_buf() };
        let ports = Ports {
            etcd: 1,
            etcd_peer: 2,
            apiserver: 3,
            source: [4, 5, 6],
            kustomize: [7, 8],
            helm: [9, 10],
            git: 11,
            gateway: 12,
            flagger: 13,
        };
        let specs = [
            etcd(&tools, &layout, &ports),
            source_controller(&tools, &layout, &ports),
            kustomize_controller(&tools, &layout, &ports),
            helm_controller(&tools, &layout, &ports),
        ];
        for spec in &specs {
            for a in &spec.args {
                let addr = a.split_once('=').map(|(_, v)| v).unwrap_or("");
                if a.contains("addr") || a.contains("-urls") || a.contains("initial-cluster") {
                    assert!(addr.contains("127.0.0.1:"), "{} listens off loopback: {a}", spec.name);
                }
            }
        }
        assert!(specs[1].env.iter().any(|(k, v)| k == "KUBECONFIG" && v.ends_with("kubeconfig")));
        assert!(specs[1].env.iter().any(|(k, v)| k == "HTTPS_PROXY" && v == BLACKHOLE_PROXY));
    }
}
