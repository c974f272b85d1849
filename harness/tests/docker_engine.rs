//! Container, network and label handling against the real Docker Engine, with an image built
//! here from host binaries (no registry is reachable).
//!
//! libtest-mimic trials (`harness = false`): when no Docker Engine answers, the Docker trials are
//! reported as ignored and `docker::engine_availability` says why (see `common/trials.rs`).

use gitops_harness_testkit as common;
use gitops_harness_testkit::docker as dockerutil;
use gitops_harness_testkit::trials;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, NetworkCreateRequest};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use gitops_harness::cluster::k3s::K3s;
use gitops_harness::cluster::{BackendKind, ClusterBackend, ClusterError, ClusterSpec};
use gitops_harness::docker::{self, DockerError};
use gitops_harness::labels::{self, Selector};

use trials::{Flavor, Trials};

fn main() -> std::process::ExitCode {
    let mut t = Trials::probe();
    let confined = if t.engine_answers() { dockerutil::engine_confined() } else { Ok(()) };
    t.docker_if("containers_reach_only_the_engines_networks", confined, Flavor::CurrentThread, containers_reach_only_the_engines_networks)
        .docker("reap_removes_only_labelled_objects", Flavor::CurrentThread, reap_removes_only_labelled_objects)
        .docker("a_local_image_is_imported_once_per_content", Flavor::CurrentThread, a_local_image_is_imported_once_per_content)
        .docker("missing_image_fails_fast_and_leaves_nothing", Flavor::CurrentThread, missing_image_fails_fast_and_leaves_nothing)
        .docker("k3s_backend_lifecycle_with_stand_in_image", Flavor::CurrentThread, k3s_backend_lifecycle_with_stand_in_image)
        .docker("failed_start_cleans_up", Flavor::CurrentThread, failed_start_cleans_up)
        .docker("exiting_node_reports_its_logs", Flavor::CurrentThread, exiting_node_reports_its_logs)
        .docker("missing_node_image_fails_fast_and_leaves_nothing", Flavor::CurrentThread, missing_node_image_fails_fast_and_leaves_nothing)
        .plain("unreachable_daemon_is_a_clear_error", unreachable_daemon_is_a_clear_error);
    t.run()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:04x}", std::process::id(), rand::random::<u16>())
}

async fn reap_removes_only_labelled_objects() {
    let d = dockerutil::connect().await;
    let image = dockerutil::shell_image(&d).await;
    let cluster = unique("reaptest");
    let _guard = dockerutil::Reaper(Selector::cluster(&cluster));

    d.create_network(NetworkCreateRequest {
        name: format!("gh-{cluster}"),
        labels: Some(labels::labels(&cluster, "network")),
        ..Default::default()
    })
    .await
    .unwrap();
    let mk = |name: String, labels: Option<HashMap<String, String>>| {
        let d = d.clone();
        let image = image.clone();
        async move {
            d.create_container(
                Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }),
                ContainerCreateBody { image: Some(image), cmd: Some(vec!["sleep 300".into()]), labels, ..Default::default() },
            )
            .await
            .unwrap();
            d.start_container(&name, None::<bollard::query_parameters::StartContainerOptions>).await.unwrap();
        }
    };
    let owned = format!("gh-{cluster}-node");
    let foreign = format!("not-harness-{cluster}");
    mk(owned.clone(), Some(labels::labels(&cluster, "cluster-node"))).await;
    // Same cluster label but another owner: must be left alone. (Containers inherit the test
    // image's labels, so the owner label is overridden rather than omitted.)
    let mut fake = labels::labels(&cluster, "cluster-node");
    fake.insert(labels::OWNER.to_string(), "someone-else".to_string());
    mk(foreign.clone(), Some(fake)).await;

    let listed = docker::list_owned(&d, &Selector::cluster(&cluster)).await.unwrap();
    assert_eq!(listed.containers.len(), 1, "{listed:?}");
    assert_eq!(listed.networks.len(), 1);
    assert_eq!(listed.containers[0].state, "running");

    let dry = docker::reap(&d, &Selector::cluster(&cluster), true).await.unwrap();
    assert_eq!(dry.count(), 2);
    assert_eq!(docker::list_owned(&d, &Selector::cluster(&cluster)).await.unwrap().containers.len(), 1, "dry run removed something");

    let report = docker::reap(&d, &Selector::cluster(&cluster), false).await.unwrap();
    assert_eq!(report.containers, vec![owned.clone()]);
    assert_eq!(report.networks, vec![format!("gh-{cluster}")]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(docker::list_owned(&d, &Selector::cluster(&cluster)).await.unwrap().is_empty());
    assert!(
        d.inspect_container(&foreign, None::<bollard::query_parameters::InspectContainerOptions>).await.is_ok(),
        "unlabelled container was removed"
    );
    d.remove_container(&foreign, Some(RemoveContainerOptions { force: true, ..Default::default() })).await.unwrap();
}

async fn missing_image_fails_fast_and_leaves_nothing() {
    let d = dockerutil::connect().await;
    let name = unique("noimage");
    let mut spec = ClusterSpec::new(&name);
    spec.image = Some("rancher/k3s:v0.0.0-gitops-harness-missing".to_string());
    let backend = K3s { pull_timeout: Duration::from_secs(20), ..Default::default() };
    let err = backend.create(&spec).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ClusterError::Docker(DockerError::ImageMissing { .. })), "{msg}");
    assert!(msg.contains("rancher/k3s:v0.0.0-gitops-harness-missing") && msg.contains("docker load"), "{msg}");
    assert!(docker::list_owned(&d, &Selector::cluster(&name)).await.unwrap().is_empty());
    assert!(!gitops_harness::state::ClusterPaths::of(&name).dir.exists());
}

/// The whole k3s backend lifecycle with a stand-in node image: it writes a kubeconfig where k3s
/// would, so create publishes ports, reads the kubeconfig out, rewrites it to the mapped API
/// port and records the cluster; delete removes container, network and state.
async fn k3s_backend_lifecycle_with_stand_in_image() {
    let d = dockerutil::connect().await;
    let files: Vec<std::path::PathBuf> = ["/bin/sh", "/bin/sleep", "/bin/mkdir", "/bin/cat"].iter().map(Into::into).collect();
    let script = "mkdir -p /etc/rancher/k3s && printf 'apiVersion: v1\\nkind: Config\\nclusters:\\n- name: default\\n  cluster:\\n    server: https://127.0.0.1:6443\\ncontexts:\\n- name: default\\n  context:\\n    cluster: default\\n    user: default\\ncurrent-context: default\\nusers:\\n- name: default\\n  user:\\n    token: x\\n' > /etc/rancher/k3s/k3s.yaml && sleep 600";
    let image = gitops_harness::docker::local_image::import(&d, "gitops-harness-test/fake-k3s:local", &files, &["/bin/sh", "-c", script])
        .await
        .unwrap();
    let name = unique("fakek3s");
    let _guard = dockerutil::Reaper(Selector::cluster(&name));
    let mut spec = ClusterSpec::new(&name);
    spec.image = Some(image);
    spec.ingress_http_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // This sandbox refuses privileged containers; the stand-in node does not need it.
    let backend = K3s { start_timeout: Duration::from_secs(30), privileged: false, dns_fix: false, ..Default::default() };

    let handle = backend.create(&spec).await.unwrap();
    assert_eq!(handle.backend, BackendKind::K3s);
    assert!(handle.api_url.starts_with("https://127.0.0.1:") && !handle.api_url.ends_with(":6443"), "{}", handle.api_url);
    let kc = std::fs::read_to_string(&handle.kubeconfig_path).unwrap();
    assert!(kc.contains(&handle.api_url) && kc.contains("harness-"), "{kc}");
    assert!(handle.host_gateway.parse::<std::net::Ipv4Addr>().is_ok(), "gateway {}", handle.host_gateway);
    assert!(backend.exists(&name).await.unwrap());
    let listed = backend.list_owned().await.unwrap();
    assert!(listed.iter().any(|c| c.name == name), "{listed:?}");
    let again = backend.create(&spec).await.unwrap_err();
    assert!(matches!(again, ClusterError::AlreadyExists { .. }), "{again}");

    let report = backend.delete(&name).await.unwrap();
    assert!(
        report.removed.iter().any(|r| r.starts_with("container")) && report.removed.iter().any(|r| r.starts_with("network")),
        "{report:?}"
    );
    assert!(docker::list_owned(&d, &Selector::cluster(&name)).await.unwrap().is_empty());
    assert!(!handle.kubeconfig_path.exists());
    assert!(matches!(backend.delete(&name).await, Err(ClusterError::NotFound(_))));
}

/// A node that never becomes ready: create times out, and what it made is removed.
async fn failed_start_cleans_up() {
    let d = dockerutil::connect().await;
    let files: Vec<std::path::PathBuf> = ["/bin/sh", "/bin/sleep"].iter().map(Into::into).collect();
    let image = gitops_harness::docker::local_image::import(
        &d,
        "gitops-harness-test/sleeper:local",
        &files,
        &["/bin/sh", "-c", "echo starting-but-never-ready; sleep 600"],
    )
    .await
    .unwrap();
    let name = unique("nostart");
    let _guard = dockerutil::Reaper(Selector::cluster(&name));
    let mut spec = ClusterSpec::new(&name);
    spec.image = Some(image);
    spec.ingress_http_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let backend = K3s { start_timeout: Duration::from_secs(3), privileged: false, dns_fix: false, ..Default::default() };
    let err = backend.create(&spec).await.unwrap_err();
    assert!(matches!(err, ClusterError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("starting-but-never-ready"), "the node's logs are in the error: {err}");
    assert!(docker::list_owned(&d, &Selector::cluster(&name)).await.unwrap().is_empty());
}

/// A node that exits at once: the error carries its logs, and nothing is left.
async fn exiting_node_reports_its_logs() {
    let d = dockerutil::connect().await;
    let image = dockerutil::shell_image(&d).await; // runs `sh -c server ...`: exits 127
    let name = unique("exits");
    let _guard = dockerutil::Reaper(Selector::cluster(&name));
    let mut spec = ClusterSpec::new(&name);
    spec.image = Some(image);
    spec.ingress_http_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let backend = K3s { start_timeout: Duration::from_secs(3), privileged: false, dns_fix: false, ..Default::default() };
    let msg = backend.create(&spec).await.unwrap_err().to_string();
    assert!(msg.contains("exited while starting") && msg.contains("server: not found"), "{msg}");
    assert!(docker::list_owned(&d, &Selector::cluster(&name)).await.unwrap().is_empty());
}

/// `gitops-harness up` where no node image is available (moved here from `up_cli.rs`, as it checks
/// the Docker Engine): it fails fast, names the image and how to load it, and leaves no
/// container, network or state behind.
async fn missing_node_image_fails_fast_and_leaves_nothing() {
    let home = tempfile::tempdir().unwrap();
    let name = format!("upnoimage-{}", std::process::id());
    let port = std::net::TcpListener::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port().to_string();
    // The embedded repo has no gotk-components.yaml, so preflight wants the flux CLI; it runs only
    // once the cluster exists, so a stand-in that fails if called keeps the test on the image.
    let flux = home.path().join("flux");
    std::fs::write(&flux, "#!/bin/sh\necho 'flux must not run before the cluster exists' >&2\nexit 99\n").unwrap();
    std::fs::set_permissions(&flux, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(common::bin())
        .args(["up", "--name", &name, "--ingress-port", &port, "--image", "rancher/k3s:v0.0.0-gitops-harness-missing"])
        .env("GITOPS_HARNESS_HOME", home.path())
        .env("GITOPS_HARNESS_FLUX", &flux)
        .env_remove("GITOPS_HARNESS_K3S_IMAGE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("flux must not run"), "{err}");
    assert!(err.contains("image rancher/k3s:v0.0.0-gitops-harness-missing is not available") && err.contains("docker load"), "{err}");
    assert!(err.contains("nothing was created"), "{err}");
    let d = dockerutil::connect().await;
    assert!(docker::list_owned(&d, &Selector::cluster(&name)).await.unwrap().is_empty(), "containers or networks left behind");
    assert!(!home.path().join("clusters").join(&name).exists(), "state left behind");
}

/// Loopback only, with the engine in the tests' network namespace (as `.ci/run` starts it): a
/// container's only route is its bridge, whose gateway is an address of this namespace, and this
/// namespace routes through nothing but loopback and the engine's bridges. Read from the routing
/// tables: no packet is sent anywhere.
async fn containers_reach_only_the_engines_networks() {
    let d = dockerutil::connect().await;
    let image = dockerutil::shell_image(&d).await;
    let cluster = unique("routes");
    let _guard = dockerutil::Reaper(Selector::cluster(&cluster));
    let name = format!("gh-{cluster}");
    d.create_container(
        Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }),
        ContainerCreateBody {
            image: Some(image),
            cmd: Some(vec!["cat /proc/net/route".into()]),
            labels: Some(labels::labels(&cluster, "route-probe")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    d.start_container(&name, None::<bollard::query_parameters::StartContainerOptions>).await.unwrap();
    let mut wait = d.wait_container(&name, None::<bollard::query_parameters::WaitContainerOptions>);
    while let Some(r) = futures::StreamExt::next(&mut wait).await {
        r.unwrap();
    }
    let table = docker::logs_tail(&d, &name, 100).await;
    d.remove_container(&name, Some(RemoveContainerOptions { force: true, ..Default::default() })).await.unwrap();

    let gateway: std::net::Ipv4Addr = docker::gateway_of(&d, "bridge").await.unwrap().parse().unwrap();
    let routes: Vec<Vec<&str>> =
        table.lines().skip(1).map(|l| l.split_whitespace().collect()).filter(|w: &Vec<&str>| w.len() > 2).collect();
    assert!(!routes.is_empty(), "the container's routing table:\n{table}");
    // /proc/net/route: Iface, Destination, Gateway (hex, in the host's byte order).
    let addr = |hex: &str| std::net::Ipv4Addr::from(u32::from_str_radix(hex, 16).unwrap().to_le_bytes());
    for r in &routes {
        assert_eq!(r[0], "eth0", "the container routes only through its bridge interface:\n{table}");
    }
    let default: Vec<std::net::Ipv4Addr> = routes.iter().filter(|r| r[1] == "00000000").map(|r| addr(r[2])).collect();
    assert_eq!(default, vec![gateway], "its default route is the engine's gateway:\n{table}");
    assert!(std::net::TcpListener::bind((gateway, 0)).is_ok(), "the gateway {gateway} is an address of this namespace");
    let beyond = dockerutil::interfaces_beyond_the_engine(&d).await.unwrap();
    assert!(
        beyond.is_empty(),
        "this namespace routes through {beyond:?}, which are not the engine's bridges (or their ports): {:?}",
        dockerutil::routed_interfaces()
    );
}

/// `docker import` of the same files and entrypoint again reuses the image (a new import would
/// leave the previous one dangling on every test run); other content gets a new image.
async fn a_local_image_is_imported_once_per_content() {
    let d = dockerutil::connect().await;
    let reference = format!("gitops-harness-test/import-once-{}:local", std::process::id());
    let files: Vec<std::path::PathBuf> = ["/bin/sh"].iter().map(Into::into).collect();
    let id = async |entrypoint: &[&str]| {
        gitops_harness::docker::local_image::import(&d, &reference, &files, entrypoint).await.unwrap();
        d.inspect_image(&reference).await.unwrap().id.unwrap()
    };
    let first = id(&["/bin/sh", "-c"]).await;
    assert_eq!(id(&["/bin/sh", "-c"]).await, first, "same content: the image is reused");
    let other = id(&["/bin/sh"]).await;
    assert_ne!(other, first, "another entrypoint is another image");
    for image in [&other, &first] {
        let opts = bollard::query_parameters::RemoveImageOptions { force: true, ..Default::default() };
        d.remove_image(image, Some(opts), None).await.unwrap();
    }
}

fn unreachable_daemon_is_a_clear_error() {
    // Its own state directory: `reap` must not see (let alone touch) anyone else's clusters.
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .args(["reap"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("GITOPS_HARNESS_HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not reachable") && err.contains("unix:///nonexistent/docker.sock") && err.contains("DOCKER_HOST"), "{err}");
}
