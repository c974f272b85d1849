//! The sim tier's test sandbox: one harness state directory per test, the CLI run inside it,
//! and what the sim tests need to report themselves ignored with a reason.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gitops_harness::cluster::sim::SimRecord;
use gitops_harness::cluster::sim::process::{ProcessRecord, port_in_use};
use gitops_harness::cluster::sim::toolset::Toolset;
use gitops_harness::lifecycle::owner;
use libtest_mimic::Failed;

pub type TestResult = Result<(), Failed>;
/// A named sim test.
pub type NamedTest = (&'static str, fn() -> TestResult);

pub fn fail(msg: impl Into<String>) -> Failed {
    msg.into().into()
}

/// One harness state directory per test, so tests run side by side and never see each
/// other's clusters (nor the user's).
pub struct Sandbox {
    pub home: tempfile::TempDir,
    pub name: String,
}

impl Sandbox {
    pub fn new(name: &str) -> Sandbox {
        let home = tempfile::Builder::new().prefix(owner::TEST_HOME_PREFIX).tempdir().expect("temp dir");
        // A test killed before its Drop runs leaves this directory: `reap` finds it by its owner.
        owner::Owner::claim(home.path()).expect("owner file");
        on_stop::watch(home.path());
        Sandbox { home, name: name.to_string() }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(crate::bin());
        // Temporary files too (the embedded repo's extraction): one that a killed run leaves
        // goes with the sandbox.
        let tmp = self.home.path().join("tmp");
        let _ = std::fs::create_dir_all(&tmp);
        c.args(args).env("GITOPS_HARNESS_HOME", self.home.path()).env("TMPDIR", &tmp).stdin(Stdio::null());
        // No default cassette from this machine's cache: a test names the one it replays.
        c.env("GITOPS_HARNESS_CASSETTE", self.home.path().join("no-default-cassette"));
        // Failure artifacts go to the sandbox, not into the working directory.
        if matches!(args.first(), Some(&"up" | &"upgrade")) {
            c.arg("--artifacts").arg(self.home.path().join("artifacts"));
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run gitops-harness")
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn gitops-harness")
    }

    pub fn state(&self) -> PathBuf {
        self.home.path().join("clusters").join(&self.name)
    }

    pub fn record(&self) -> Option<SimRecord> {
        let text = std::fs::read_to_string(self.state().join("sim.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Wait until the record names a process called `name`.
    pub fn wait_for_process(&self, name: &str, within: Duration) -> Result<ProcessRecord, Failed> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(p) = self.record().and_then(|r| r.processes.into_iter().find(|p| p.name == name)) {
                return Ok(p);
            }
            if Instant::now() > deadline {
                return Err(fail(format!("process {name} was not recorded within {within:?} in {}", self.state().display())));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Processes still running whose command line names this sandbox (every sim process does:
    /// its kubeconfig, data or log paths are in it), as `pid name`: found without any record.
    pub fn processes_left(&self) -> Vec<String> {
        processes_naming(self.home.path())
    }

    /// Nothing of the cluster is left: no recorded process alive, no port of [`Ports::all`]
    /// bound, no state.
    pub fn assert_nothing_left(&self, seen: &SimRecord) -> TestResult {
        let alive: Vec<String> = seen.processes.iter().filter(|p| p.is_alive()).map(|p| format!("{} (pid {})", p.name, p.pid)).collect();
        if !alive.is_empty() {
            return Err(fail(format!("processes left running: {}", alive.join(", "))));
        }
        let unrecorded = self.processes_left();
        if !unrecorded.is_empty() {
            return Err(fail(format!("processes of this sandbox left running: {unrecorded:?}")));
        }
        let bound: Vec<String> =
            seen.ports.all().into_iter().filter(|(p, _)| *p != 0 && port_in_use(*p)).map(|(p, what)| format!("{p} ({what})")).collect();
        if !bound.is_empty() {
            return Err(fail(format!("ports still bound: {bound:?}")));
        }
        if self.state().exists() {
            return Err(fail(format!("state directory left behind: {}", self.state().display())));
        }
        Ok(())
    }
}

/// Whatever a test did or failed to do (a timeout, an early error, a panic), the processes its
/// clusters recorded are stopped before the directory holding their records goes.
impl Drop for Sandbox {
    fn drop(&mut self) {
        stop_recorded(self.home.path());
        on_stop::forget(self.home.path());
    }
}

fn stop_recorded(home: &std::path::Path) {
    for record in gitops_harness::cluster::sim::records_under(&home.join("clusters")) {
        record.stop_all();
    }
}

/// nextest ends a test that overruns its timeout with SIGTERM (Ctrl-C sends SIGINT): no `Drop`
/// runs then, and the sim processes, detached by design, would outlive the test. A handler
/// that only writes the signal number to a pipe wakes a thread that stops what every live
/// sandbox recorded, removes the sandboxes and exits with 128 + the signal, as the default
/// action would have.
mod on_stop {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::{Mutex, Once};

    use nix::libc;

    static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
    static INSTALL: Once = Once::new();

    extern "C" fn on_signal(sig: libc::c_int) {
        let byte = sig as u8;
        // Only async-signal-safe calls here.
        unsafe { libc::write(PIPE_WRITE.load(Ordering::Relaxed), (&byte as *const u8).cast(), 1) };
    }

    pub fn watch(home: &Path) {
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(home.to_path_buf());
        INSTALL.call_once(|| {
            let mut fds = [0 as libc::c_int; 2];
            if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
                return;
            }
            PIPE_WRITE.store(fds[1], Ordering::Relaxed);
            let read = fds[0];
            std::thread::spawn(move || {
                let mut byte = 0u8;
                if unsafe { libc::read(read, (&mut byte as *mut u8).cast(), 1) } != 1 {
                    return;
                }
                let homes = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
                for home in homes {
                    super::stop_recorded(&home);
                    let _ = std::fs::remove_dir_all(&home);
                }
                std::process::exit(128 + i32::from(byte));
            });
            for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
            }
        });
    }

    pub fn forget(home: &Path) {
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|h| h != home);
    }
}

/// Processes running (not zombies) whose command line names `dir`, as `pid command`.
pub fn processes_naming(dir: &std::path::Path) -> Vec<String> {
    let home = dir.display().to_string();
    let me = std::process::id().to_string();
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()) && e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let zombie = std::fs::read_to_string(e.path().join("stat")).ok()?.rsplit(')').next()?.trim_start().starts_with('Z');
            (cmd.contains(&home) && !zombie).then(|| format!("{} {}", e.file_name().to_string_lossy(), cmd.trim()))
        })
        .collect()
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn wait_child(child: &mut Child, within: Duration) -> Result<Output, Failed> {
    let deadline = Instant::now() + within;
    loop {
        if child.try_wait().map_err(|e| fail(e.to_string()))?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(fail(format!("gitops-harness did not exit within {within:?}")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = Output { status: child.wait().map_err(|e| fail(e.to_string()))?, stdout: vec![], stderr: vec![] };
    use std::io::Read as _;
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_end(&mut out.stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_end(&mut out.stderr);
    }
    Ok(out)
}

/// Why the sim tests cannot run here (the tools are not built), if they cannot.
pub fn tools_reason() -> Option<String> {
    match Toolset::locate() {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// The trials of a sim test binary: an always-run `<group>::tools_availability` that prints why
/// the sim tests are ignored (or fails when `GITOPS_HARNESS_REQUIRE_SIM=1` demands them), then
/// `always` as they are, then `needs_tools`, ignored when the tools are missing.
pub fn trials(group: &str, always: Vec<libtest_mimic::Trial>, needs_tools: Vec<NamedTest>) -> Vec<libtest_mimic::Trial> {
    use libtest_mimic::Trial;
    let missing = tools_reason();
    let required = std::env::var("GITOPS_HARNESS_REQUIRE_SIM").is_ok_and(|v| v == "1");
    let (count, why, group_name) = (needs_tools.len(), missing.clone(), group.to_string());
    let mut trials = vec![Trial::test(format!("{group}::tools_availability"), move || match &why {
        None => {
            println!("sim tools built: {count} {group_name} tests run");
            Ok(())
        }
        Some(reason) if required => Err(fail(format!("GITOPS_HARNESS_REQUIRE_SIM=1 but {reason}"))),
        Some(reason) => {
            println!("{count} {group_name} tests ignored: {reason}");
            Ok(())
        }
    })];
    trials.extend(always);
    for (name, f) in needs_tools {
        trials.push(Trial::test(name, f).with_ignored_flag(missing.is_some() && !required));
    }
    trials
}

/// `up --backend sim` of `repo`'s `cluster_dir` (with `extra` arguments) must end with exit 1
/// ("the repository failed") within `within`, saying each of `expect` (the controllers' own
/// words), with its failure artifacts saved, and `down` must leave nothing behind.
pub fn up_fails_fast(name: &str, repo: &str, cluster_dir: &str, extra: &[&str], expect: &[&str], within: Duration) -> TestResult {
    let sb = Sandbox::new(name);
    let mut args = vec!["up", "--backend", "sim", "--name", name, "--repo", repo, "--cluster-dir", cluster_dir, "--timeout", "600"];
    args.extend(extra);
    let started = Instant::now();
    let out = sb.run(&args);
    let secs = started.elapsed();
    let t = text(&out);
    let seen = sb.record().ok_or_else(|| fail(format!("up wrote no sim.json for {name}:\n{t}")));
    let down = sb.run(&["down", "--name", name]);
    println!("{name}: up failed after {:.1}s", secs.as_secs_f64());
    // The verdict as the user reads it (for the README's figures and a reviewer).
    for l in t.lines().filter(|l| l.starts_with("error: ") || l.starts_with("  = ") || l.starts_with("  --> ")) {
        println!("{l}");
    }
    if out.status.code() != Some(1) {
        return Err(fail(format!("expected up to report the stack not Ready (exit 1), got {:?}:\n{t}", out.status.code())));
    }
    for e in expect {
        if !t.contains(e) {
            return Err(fail(format!("expected Flux's message {e:?} in up's output:\n{t}")));
        }
    }
    if secs > within {
        return Err(fail(format!("up took {secs:?} to fail, more than {within:?} (its own retry interval, not the 600s deadline)")));
    }
    // Exit 1 is "the cluster ran and the repository failed": its evidence is saved.
    let summary = sb.home.path().join("artifacts").join(format!("up-{name}")).join("summary.md");
    if !summary.is_file() {
        return Err(fail(format!("no failure artifacts at {}:\n{t}", summary.display())));
    }
    if !down.status.success() {
        return Err(fail(format!("down after the failed up failed:\n{}", text(&down))));
    }
    sb.assert_nothing_left(&seen?)
}
