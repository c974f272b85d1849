//! Figures of the sim backend (not a timed test): the tools' cold build time (recorded by
//! `scripts/sim-tools.sh`), `up --backend sim` to all-Ready with the tools cached, `up --reuse`,
//! `down`, and the peak resident memory of all the cluster's processes together.
//!
//! `cargo bench -p gitops-harness --bench sim_lifecycle` (builds the CLI in release mode first).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gitops_harness::cluster::sim::SimRecord;
use gitops_harness::cluster::sim::toolset::{self, Component, Toolset};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Run the CLI to completion, sampling the total RSS of the cluster's processes; returns
/// (seconds, peak MiB, success).
fn timed(home: &Path, name: &str, args: &[&str]) -> (f64, f64, bool) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gitops-harness"))
        .args(args)
        .env("GITOPS_HARNESS_HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start gitops-harness");
    let mut peak = 0u64;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        let total: u64 = SimRecordAt(home, name).load().map(|r| r.processes.iter().map(|p| rss_kib(p.pid)).sum()).unwrap_or(0);
        peak = peak.max(total);
        std::thread::sleep(Duration::from_millis(200));
    };
    (start.elapsed().as_secs_f64(), peak as f64 / 1024.0, status.success())
}

struct SimRecordAt<'a>(&'a Path, &'a str);

impl SimRecordAt<'_> {
    fn load(&self) -> Option<SimRecord> {
        serde_json::from_str(&std::fs::read_to_string(self.0.join("clusters").join(self.1).join("sim.json")).ok()?).ok()
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benches; nothing to list here.
    }
    if let Err(e) = Toolset::locate() {
        println!("sim_lifecycle: skipped: {e}");
        return;
    }
    println!("tools cache: {}", toolset::cache_dir().display());
    let mut cold = 0u64;
    for c in Component::ALL {
        let secs: Option<u64> =
            std::fs::read_to_string(toolset::cache_dir().join(c.entry()).join("build-seconds")).ok().and_then(|s| s.trim().parse().ok());
        cold += secs.unwrap_or(0);
        println!("  build {:<22} {:<9} {}", c.name(), c.version(), secs.map(|s| format!("{s}s")).unwrap_or_else(|| "?".into()));
    }
    println!("cold build of the tools (sum of recorded builds): {cold}s");

    let home = tempfile::tempdir().expect("temp dir");
    let name = "bench";
    let (up, up_mem, ok) = timed(home.path(), name, &["up", "--backend", "sim", "--name", name, "--timeout", "300"]);
    if !ok {
        let _ = timed(home.path(), name, &["down", "--name", name]);
        panic!("up --backend sim failed");
    }
    let (reuse, reuse_mem, ok2) = timed(home.path(), name, &["up", "--backend", "sim", "--name", name, "--reuse", "--timeout", "300"]);
    // Steady state after reconciling, once more.
    std::thread::sleep(Duration::from_secs(5));
    let settled: u64 = SimRecordAt(home.path(), name).load().map(|r| r.processes.iter().map(|p| rss_kib(p.pid)).sum()).unwrap_or(0);
    let (down, _, ok3) = timed(home.path(), name, &["down", "--name", name]);
    println!();
    println!("| step | wall time | peak RSS of all sim processes |");
    println!("| --- | --- | --- |");
    println!("| `up --backend sim` (tools cached) to all-Ready | {up:.1} s | {up_mem:.0} MiB |");
    println!("| `up --reuse` | {reuse:.1} s{} | {reuse_mem:.0} MiB |", if ok2 { "" } else { " (FAILED)" });
    println!("| settled | | {:.0} MiB |", settled as f64 / 1024.0);
    println!("| `down` | {down:.1} s{} | |", if ok3 { "" } else { " (FAILED)" });
}
