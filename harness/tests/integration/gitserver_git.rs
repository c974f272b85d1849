//! The harness git server against the real `git` client.

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use gitops_harness::git::{GitServer, ServedRepo};

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git").args(args).current_dir(dir).env("GIT_TERMINAL_PROMPT", "0").output().unwrap()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn prepare() -> (tempfile::TempDir, ServedRepo) {
    let tmp = tempfile::tempdir().unwrap();
    let served = ServedRepo::prepare(&common::fixtures().join("gitops-linkerd"), &tmp.path().join("served")).unwrap();
    (tmp, served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_fetch_and_refused_push() {
    let (tmp, served) = prepare();
    let server = GitServer::start(&served, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = server.url();
    let work = tmp.path().to_path_buf();

    let u = url.clone();
    let w = work.clone();
    let out = blocking(move || git(&w, &["clone", "--quiet", &u, "clone"])).await;
    assert!(out.status.success(), "clone failed: {}", String::from_utf8_lossy(&out.stderr));
    let clone = work.join("clone");
    assert!(clone.join("clusters/my-cluster/apps.yaml").is_file());
    let head = String::from_utf8(git(&clone, &["rev-parse", "HEAD"]).stdout).unwrap();
    assert_eq!(head.trim(), served.head().unwrap());

    // A harness commit is visible to the next fetch.
    served.write_file(Path::new("apps/faces/NOTE"), b"changed by the harness\n").unwrap();
    let sha = served.commit_all("test: change").unwrap();
    let c = clone.clone();
    let out = blocking(move || git(&c, &["pull", "--quiet", "--ff-only"])).await;
    assert!(out.status.success(), "pull failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(git(&clone, &["rev-parse", "HEAD"]).stdout).unwrap().trim(), sha);
    assert!(clone.join("apps/faces/NOTE").is_file());

    // Pushing is refused: the cluster (or anyone) only reads.
    std::fs::write(clone.join("x.txt"), "x").unwrap();
    git(&clone, &["add", "x.txt"]);
    git(&clone, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]);
    let c = clone.clone();
    let out = blocking(move || git(&c, &["push", "origin", "HEAD:main"])).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("403") || err.contains("read-only"), "{err}");
    assert_eq!(served.head().unwrap(), sha, "the served repo did not move");

    server.shutdown().await;
    let u = url.clone();
    let w = work.clone();
    let out = blocking(move || git(&w, &["ls-remote", &u])).await;
    assert!(!out.status.success(), "server still answering after shutdown");
}

#[tokio::test]
async fn shallow_protocol_v2_clone_like_flux() {
    // source-controller clones shallow (depth 1) with protocol v2.
    let (tmp, served) = prepare();
    let server = GitServer::start(&served, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = server.url();
    let w = tmp.path().to_path_buf();
    let out =
        blocking(move || git(&w, &["-c", "protocol.version=2", "clone", "--quiet", "--depth", "1", "--branch", "main", &url, "shallow"]))
            .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(tmp.path().join("shallow/apps/faces/faces-canary.yaml").is_file());
    server.shutdown().await;
}

#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = taken.local_addr().unwrap();
    let (_tmp, served) = prepare();
    let err = GitServer::start(&served, addr).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()) && msg.contains("--addr"), "{msg}");
}

#[test]
fn prepare_never_writes_the_users_repo() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.yaml"), "kind: X\n").unwrap();
    let dst = tempfile::tempdir().unwrap();
    let served = ServedRepo::prepare(src.path(), &dst.path().join("copy")).unwrap();
    assert!(!src.path().join(".git").exists());
    served.write_file(Path::new("a.yaml"), b"kind: Y\n").unwrap();
    served.commit_all("edit").unwrap();
    assert_eq!(std::fs::read_to_string(src.path().join("a.yaml")).unwrap(), "kind: X\n");
    // Reopening (as a suite process does) finds the branch and head.
    let reopened = ServedRepo::open(served.path()).unwrap();
    assert_eq!(reopened.branch(), "main");
    assert_eq!(reopened.head().unwrap(), served.head().unwrap());
    let err = ServedRepo::prepare(&src.path().join("missing"), &dst.path().join("x")).unwrap_err();
    assert!(err.to_string().contains("not a directory"));
}

/// The served copy needs no git 2.28 (`init -b`): `serve-git` prepares and serves a copy on
/// `main` with a git whose `init` rejects `-b` and defaults to `master`, as git before 2.28 does.
#[test]
fn served_copy_works_with_git_older_than_2_28() {
    use std::io::BufRead;
    let real = gitops_harness::tools::on_path("git").expect("git on PATH");
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("git");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = init ]; then\n  for a in \"$@\"; do case \"$a\" in -b|--initial-branch*) echo \"error: unknown switch \\`b'\" >&2; exit 129;; esac; done\n  exec {real} -c init.defaultBranch=master \"$@\"\nfi\nexec {real} \"$@\"\n",
            real = real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.yaml"), "kind: X\n").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::bin())
        .args(["serve-git", src.path().to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .env("PATH", &path)
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // SIGTERM (what `down` sends) stops it cleanly: the temporary served copy goes with it.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        first.starts_with("serving ") && first.contains("(branch main, read-only)"),
        "stdout {first:?}; stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "serve-git on SIGTERM: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "temporary served copy left behind: {left:?}");
}

/// A stop signal sent the instant `serve-git` says it is up (what a supervisor or `down` may
/// do) stops it cleanly every time: exit 0, and its temporary served copy removed. Before the
/// handlers were installed ahead of that line, about one SIGTERM in seven killed it outright.
#[test]
fn a_signal_the_instant_serve_git_is_up_stops_it_cleanly() {
    use nix::sys::signal::Signal;
    use std::io::BufRead;
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.yaml"), "kind: X\n").unwrap();
    for (round, sig) in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP].into_iter().cycle().take(30).enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = Command::new(common::bin())
            .args(["serve-git", src.path().to_str().unwrap(), "--addr", "127.0.0.1:0"])
            .env("TMPDIR", tmp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        // Kept open until it exits, as a supervisor keeps it (a closed pipe is SIGPIPE's job).
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut first).unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(first.starts_with("serving "), "round {round}: stdout {first:?}; stderr {err}");
        assert!(out.status.success(), "round {round}, {sig}: {:?} {err}", out.status);
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "round {round}, {sig}: temporary served copy left behind: {left:?}");
    }
}
