//! A real `git clone` from inside a container on the Docker Engine, through the harness git
//! server listening on the Docker bridge gateway — the path a cluster node's Flux takes.

//!
//! A libtest-mimic trial (`harness = false`): when no Docker Engine answers it is reported as
//! ignored and `docker::engine_availability` says why (see `common/trials.rs`).

use gitops_harness_testkit as common;
use gitops_harness_testkit::docker as dockerutil;
use gitops_harness_testkit::trials;

use std::net::SocketAddr;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions, WaitContainerOptions};
use futures::StreamExt;
use gitops_harness::git::{GitServer, ServedRepo};
use gitops_harness::labels::{self, Selector};

fn main() -> std::process::ExitCode {
    let mut t = trials::Trials::probe();
    // The server listens on the bridge gateway, so that address must be one of this namespace's.
    let reach = if t.engine_answers() { dockerutil::gateway_is_local() } else { Ok(()) };
    t.docker_if("clone_from_inside_a_container", reach, trials::Flavor::MultiThread(2), clone_from_inside_a_container);
    t.run()
}

async fn clone_from_inside_a_container() {
    let d = dockerutil::connect().await;
    let image = dockerutil::git_image(&d).await;
    let cluster = format!("gitclone-{}", std::process::id());
    let _guard = dockerutil::Reaper(Selector::cluster(&cluster));

    let gateway = gitops_harness::docker::gateway_of(&d, "bridge").await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let served = ServedRepo::prepare(&common::fixtures().join("gitops-linkerd"), &tmp.path().join("served")).unwrap();
    let server = GitServer::start(&served, SocketAddr::new(gateway.parse().unwrap(), 0)).await.unwrap();
    let url = server.url_for_host(&gateway);

    let name = format!("gh-{cluster}");
    let script = format!("git clone --quiet {url} /tmp/c && git -C /tmp/c rev-parse HEAD && cat /tmp/c/clusters/my-cluster/apps.yaml");
    d.create_container(
        Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }),
        ContainerCreateBody {
            image: Some(image),
            cmd: Some(vec![script]),
            env: Some(vec!["HOME=/root".into(), "GIT_TERMINAL_PROMPT=0".into()]),
            labels: Some(labels::labels(&cluster, "git-client")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    d.start_container(&name, None::<bollard::query_parameters::StartContainerOptions>).await.unwrap();
    let mut wait = d.wait_container(&name, None::<WaitContainerOptions>);
    let code = match wait.next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        other => panic!("waiting for the container: {other:?}"),
    };
    let logs = gitops_harness::docker::logs_tail(&d, &name, 200).await;
    d.remove_container(&name, Some(RemoveContainerOptions { force: true, ..Default::default() })).await.unwrap();
    server.shutdown().await;
    assert_eq!(code, 0, "clone inside the container failed:\n{logs}");
    assert!(logs.contains(&served.head().unwrap()), "HEAD matches the served commit:\n{logs}");
    assert!(logs.contains("name: apps"), "{logs}");
}
