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
        Sandbox { home: tempfile::Builder::new().prefix("gh-sim-test-").tempdir().expect("temp dir"), name: name.to_string() }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(super::bin());
        // Temporary files too (the embedded repo's extraction): one that a killed run leaves
        // goes with the sandbox.
        let tmp = self.home.path().join("tmp");
        let _ = std::fs::create_dir_all(&tmp);
        c.args(args).env("GITOPS_HARNESS_HOME", self.home.path()).env("TMPDIR", &tmp).stdin(Stdio::null());
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
