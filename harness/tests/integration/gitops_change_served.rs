//! A git-driven change in the harness's served repo, fetched with a real `git clone` through the
//! harness's own git server (what Flux's source-controller does): the commit is exactly the
//! minimal edit.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use gitops_harness::git::{GitServer, ServedRepo};
use gitops_harness::scenarios::gitops_change::{Change, Edit, apply_and_commit};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").args(args).current_dir(dir).env("GIT_TERMINAL_PROMPT", "0").output().expect("git is installed");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_reaches_a_clone_through_the_git_server() {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd");
    let served = ServedRepo::prepare(&src, &tmp.path().join("served")).unwrap();
    let before = served.head().unwrap();
    let server = GitServer::start(&served, "127.0.0.1:0".parse::<SocketAddr>().unwrap()).await.unwrap();

    let change = Change {
        edits: vec![Edit::deployment_env("apps/faces/faces.yaml", "face", "face", "ERROR_FRACTION", "20")],
        message: "Force ERROR_FRACTION for face to 20%".into(),
    };
    let committed = tokio::task::block_in_place(|| apply_and_commit(&served, &change).map_err(|e| e.to_string())).unwrap();
    assert_eq!(committed.branch, "main");
    assert_eq!(served.head().unwrap(), committed.sha);

    let url = server.url();
    let clone = tmp.path().join("clone");
    let clone_s = clone.to_str().unwrap().to_string();
    let tmp_path = tmp.path().to_path_buf();
    let (log, patch) = tokio::task::spawn_blocking(move || {
        git(&tmp_path, &["clone", "-q", &url, &clone_s]);
        let clone = Path::new(&clone_s);
        (git(clone, &["log", "--format=%H %s", "-2"]), git(clone, &["show", "--format=", "--no-color", "HEAD"]))
    })
    .await
    .unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        vec![
            format!("{} Force ERROR_FRACTION for face to 20%", committed.sha),
            format!("{before} gitops-harness: initial import of {}", src.display())
        ]
    );
    let changed: Vec<&str> =
        patch.lines().filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---")).collect();
    assert_eq!(changed, vec![r#"-          value: "0""#, r#"+          value: "20""#], "{patch}");
    assert!(patch.starts_with("diff --git a/apps/faces/faces.yaml b/apps/faces/faces.yaml"), "{patch}");
    server.shutdown().await;
}
