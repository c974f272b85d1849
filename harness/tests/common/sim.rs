//! The sim tier's test sandbox: one harness state directory per test, the CLI run inside it,
//! and what the sim tests need to report themselves ignored with a reason.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gitops_harness::cluster::sim::SimRecord;
use gitops_harness::cluster::sim::process::{ProcessRecord, port_in_use};
use gitops_harness::cluster::sim::toolset::Toolset;
use libtest_mimic::Failed;

pub type TestResult = Result<(), Failed>;

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
        Sandbox { home: tempfile::Builder::new().prefix("gh-sim-test-").tempdir().expect("temp dir"), name: name.to_string() }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(super::bin());
        c.args(args).env("GITOPS_HARNESS_HOME", self.home.path()).stdin(Stdio::null());
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

    /// Nothing of the cluster is left: no recorded process alive, no port bound, no state.
    pub fn assert_nothing_left(&self, seen: &SimRecord) -> TestResult {
        let alive: Vec<String> = seen.processes.iter().filter(|p| p.is_alive()).map(|p| format!("{} (pid {})", p.name, p.pid)).collect();
        if !alive.is_empty() {
            return Err(fail(format!("processes left running: {}", alive.join(", "))));
        }
        let ports = &seen.ports;
        let mut all = vec![ports.etcd, ports.etcd_peer, ports.apiserver, ports.git];
        all.extend(ports.source);
        all.extend(ports.kustomize);
        all.extend(ports.helm);
        let bound: Vec<u16> = all.into_iter().filter(|p| *p != 0 && port_in_use(*p)).collect();
        if !bound.is_empty() {
            return Err(fail(format!("ports still bound: {bound:?}")));
        }
        if self.state().exists() {
            return Err(fail(format!("state directory left behind: {}", self.state().display())));
        }
        Ok(())
    }
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
