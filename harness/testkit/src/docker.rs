//! Docker helpers for tests: a locally built image (nothing can be pulled) and cleanup guards.

use std::path::PathBuf;

use bollard::Docker;
use gitops_harness::docker::{self, local_image};
use gitops_harness::labels::Selector;

/// Connect, or fail loudly. Called only inside Docker trials (`trials.rs`), which run only after
/// the start-up probe found an engine; when none answers they are ignored with the reason.
pub async fn connect() -> Docker {
    docker::connect().await.unwrap_or_else(|e| panic!("these tests need the Docker Engine: {e}"))
}

fn host(paths: &[&str]) -> Vec<PathBuf> {
    paths.iter().map(PathBuf::from).filter(|p| p.exists()).collect()
}

/// An image with a shell and coreutils from this machine.
pub async fn shell_image(docker: &Docker) -> String {
    let files = host(&["/bin/sh", "/usr/bin/dash", "/bin/sleep", "/bin/mkdir", "/bin/cat", "/bin/ls"]);
    local_image::import(docker, "gitops-harness-test/shell:local", &files, &["/bin/sh", "-c"]).await.expect("build shell image")
}

/// An image with git (and its HTTP transport) from this machine.
pub async fn git_image(docker: &Docker) -> String {
    let files = host(&["/bin/sh", "/bin/cat", "/bin/ls", "/usr/bin/git", "/usr/lib/git-core/git-remote-http"]);
    local_image::import(docker, "gitops-harness-test/git:local", &files, &["/bin/sh", "-c"]).await.expect("build git image")
}

/// Reaps a selector when dropped, so a failing test leaves nothing behind.
pub struct Reaper(pub Selector);

impl Drop for Reaper {
    fn drop(&mut self) {
        let sel = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(d) = docker::connect().await {
                    let _ = docker::reap(&d, &sel, false).await;
                }
            });
        })
        .join();
    }
}

/// Run `f` on a fresh runtime with a connected client (for preconditions checked while listing).
fn with_engine<T>(f: impl AsyncFnOnce(Docker) -> Result<T, String>) -> Result<T, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let d = docker::connect().await.map_err(|e| e.to_string())?;
        f(d).await
    })
}

/// The engine's bridge networks: `(network name, bridge interface, gateway)`.
pub async fn bridges(d: &Docker) -> Result<Vec<(String, String, String)>, String> {
    let nets = d.list_networks(None::<bollard::query_parameters::ListNetworksOptions>).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for n in nets.into_iter().filter(|n| n.driver.as_deref() == Some("bridge")) {
        let (Some(name), Some(id)) = (n.name, n.id) else { continue };
        let iface = n
            .options
            .and_then(|o| o.get("com.docker.network.bridge.name").cloned())
            .unwrap_or_else(|| format!("br-{}", id.get(..12).unwrap_or(&id)));
        let gateway = docker::gateway_of(d, &name).await.map_err(|e| e.to_string())?;
        out.push((name, iface, gateway));
    }
    Ok(out)
}

/// The default bridge's gateway is an address of this network namespace: a server here can
/// listen on it and containers reach it there (the path a cluster node takes to the git server).
/// Not so when the tests run in a namespace of their own and the engine in the host's.
pub fn gateway_is_local() -> Result<(), String> {
    let gateway = with_engine(async |d| docker::gateway_of(&d, "bridge").await.map_err(|e| e.to_string()))?;
    let ip: std::net::IpAddr = gateway.parse().map_err(|e| format!("bridge gateway {gateway}: {e}"))?;
    std::net::TcpListener::bind((ip, 0)).map(|_| ()).map_err(|e| {
        format!(
            "its bridge gateway {gateway} is not an address of this network namespace ({e}): the engine runs in another one; run the tests where the engine runs (`.ci/run` starts one in the tests' namespace)"
        )
    })
}

/// The interfaces this network namespace routes through (IPv4 and IPv6 routing tables).
pub fn routed_interfaces() -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    if let Ok(t) = std::fs::read_to_string("/proc/net/route") {
        out.extend(t.lines().skip(1).filter_map(|l| l.split_whitespace().next()).map(str::to_string));
    }
    if let Ok(t) = std::fs::read_to_string("/proc/net/ipv6_route") {
        out.extend(t.lines().filter_map(|l| l.split_whitespace().last()).map(str::to_string));
    }
    out
}

/// The interfaces this namespace routes through that are not the engine's: not loopback, not one
/// of its bridges, not a port of one (a container's veth). Routes are read before the bridges are
/// listed, and an interface gone meanwhile is skipped, so containers coming and going in tests
/// running beside this one do not count; so is a network removed beside this one, whose bridge
/// the kernel keeps a moment after the engine stops listing it: only an interface found beyond
/// the engine on every one of several looks, 300 ms apart, is reported.
pub async fn interfaces_beyond_the_engine(d: &Docker) -> Result<Vec<String>, String> {
    let mut found = interfaces_beyond_the_engine_once(d).await?;
    for _ in 0..10 {
        if found.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let again = interfaces_beyond_the_engine_once(d).await?;
        found.retain(|i| again.contains(i));
    }
    Ok(found)
}

async fn interfaces_beyond_the_engine_once(d: &Docker) -> Result<Vec<String>, String> {
    let routed = routed_interfaces();
    let own: Vec<String> = bridges(d).await?.into_iter().map(|(_, iface, _)| iface).collect();
    let mut out = Vec::new();
    for iface in routed.into_iter().filter(|i| i != "lo" && !own.contains(i)) {
        // `ip` asks this namespace over netlink (/sys would show the namespace that mounted it).
        let link = std::process::Command::new("ip").args(["-o", "link", "show", "dev", &iface]).output().map_err(|e| format!("ip: {e}"))?;
        if !link.status.success() {
            continue; // gone since the routes were read
        }
        let text = String::from_utf8_lossy(&link.stdout);
        let master = text.split_whitespace().skip_while(|w| *w != "master").nth(1).unwrap_or_default().to_string();
        if !own.contains(&master) {
            out.push(iface);
        }
    }
    Ok(out)
}

/// The engine shares this network namespace and that namespace routes only through loopback and
/// the engine's own bridges: its containers can reach nothing but the engine's networks.
pub fn engine_confined() -> Result<(), String> {
    gateway_is_local()?;
    let other = with_engine(async |d| interfaces_beyond_the_engine(&d).await)?;
    if other.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "this network namespace also routes through {} (not the engine's bridges): its containers could reach beyond the engine's networks; `.ci/run` confines its engine to a namespace with only loopback",
            other.join(", ")
        ))
    }
}
