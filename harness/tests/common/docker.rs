//! Docker helpers for tests: a locally built image (nothing can be pulled) and cleanup guards.
#![allow(dead_code)]

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
