//! The sim backend under bad input and faults, each on its own sim cluster through the CLI
//! (libtest-mimic, `harness = false`): Go missing, a taken port, a process that dies during
//! `up`, Ctrl-C during `up`, a Kustomization whose path does not exist and one whose health
//! check never passes, `up` then `down` leaving nothing, and nothing dialled off loopback.
//!
//! Tests that need the sim tools report themselves ignored, with the reason, when they are not
//! built (`scripts/sim-tools.sh`); the always-run trial `sim::tools_availability` prints it.

use gitops_harness_testkit as common;

use common::sim::{Sandbox, TestResult, fail, text, wait_child};

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gitops_harness::cluster::sim::process::tcp_sockets;
use libtest_mimic::{Arguments, Trial};

fn fixture(rel: &str) -> String {
    common::fixtures().join(rel).display().to_string()
}

/// Without the tools and without Go, `up --backend sim` says what to install, creates nothing.
fn go_missing_says_what_to_install() -> TestResult {
    let sb = Sandbox::new("no-go");
    let empty_cache = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    // A PATH with git (needed by preflight) but no go.
    let bin_dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    std::os::unix::fs::symlink("/usr/bin/git", bin_dir.path().join("git")).map_err(|e| fail(e.to_string()))?;
    let out = sb
        .cmd(&["up", "--backend", "sim", "--name", "no-go"])
        .env("GITOPS_HARNESS_SIM_CACHE", empty_cache.path())
        .env("PATH", bin_dir.path())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    let t = text(&out);
    if out.status.code() != Some(2) || !t.contains("Go is not installed") || !t.contains("go.dev/doc/install") {
        return Err(fail(format!("expected exit 2 naming Go and how to install it, got {:?}:\n{t}", out.status.code())));
    }
    if sb.state().exists() {
        return Err(fail("a state directory was created although nothing could start"));
    }
    Ok(())
}

/// A taken port is named in preflight, before anything is created.
fn taken_port_is_named() -> TestResult {
    let sb = Sandbox::new("port");
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| fail(e.to_string()))?;
    let port = l.local_addr().map_err(|e| fail(e.to_string()))?.port().to_string();
    let out = sb.run(&["up", "--backend", "sim", "--name", "port", "--git-port", &port]);
    let t = text(&out);
    if out.status.code() != Some(2) || !t.contains(&format!("port {port}")) || !t.contains("git server") {
        return Err(fail(format!("expected preflight to name port {port} (git server), got {:?}:\n{t}", out.status.code())));
    }
    if sb.state().exists() {
        return Err(fail("a state directory was created although preflight failed"));
    }
    Ok(())
}

/// Dial attempts to addresses off loopback in a sim process log (Go's "dial tcp 10.96.0.1:443").
fn off_loopback_dials(log: &str) -> Vec<String> {
    let re = regex::Regex::new(r"dial tcp (?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):\d+").expect("static regex");
    re.captures_iter(log)
        .filter_map(|c| c.get(1).or(c.get(2)).and_then(|m| m.as_str().parse::<std::net::IpAddr>().ok()))
        .filter(|ip| !ip.is_loopback())
        .map(|ip| ip.to_string())
        .collect()
}

/// Flagger v1.44 serves its metrics and health endpoints on `":" + port` and has no flag for
/// the address, so its one listener (on the port sim gives it) is on every interface: the
/// documented exception. Sim runs contained (tests in a loopback-only network namespace).
fn is_flaggers_documented_listener(process: &str, local: std::net::SocketAddr, flagger_port: Option<u16>) -> bool {
    process == "flagger" && Some(local.port()) == flagger_port && local.ip().is_unspecified()
}

/// `up` on the embedded repo reaches all-Ready with every process talking only to loopback;
/// `status` lists it; `down` leaves no process, port or file.
fn up_then_down_leaves_nothing() -> TestResult {
    let sb = Sandbox::new("updown");
    let started = Instant::now();
    let mut child = sb.spawn(&["up", "--backend", "sim", "--name", "updown", "--timeout", "240"]);
    // Sample every sim process's TCP peers and listeners for the whole `up`.
    let mut off_loopback = std::collections::BTreeSet::new();
    let mut exposed = std::collections::BTreeSet::new();
    let mut flagger_wide = std::collections::BTreeSet::new();
    let mut samples = 0;
    while child.try_wait().map_err(|e| fail(e.to_string()))?.is_none() && started.elapsed() < Duration::from_secs(300) {
        let record = sb.record();
        let flagger_port = record.as_ref().map(|r| r.ports.flagger);
        for p in record.map(|r| r.processes).unwrap_or_default() {
            for sock in tcp_sockets(p.pid) {
                if !sock.peer_is_loopback() {
                    off_loopback.insert(format!("{} -> {}", p.name, sock.remote));
                }
                if sock.listens_off_loopback() {
                    if is_flaggers_documented_listener(&p.name, sock.local, flagger_port) {
                        flagger_wide.insert(sock.local.to_string());
                    } else {
                        exposed.insert(format!("{} listens on {}", p.name, sock.local));
                    }
                }
            }
        }
        samples += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    let out = wait_child(&mut child, Duration::from_secs(10))?;
    let up_secs = started.elapsed().as_secs_f64();
    let t = text(&out);
    let seen = sb.record();
    let result = (|| {
        if !out.status.success() {
            return Err(fail(format!("up failed ({:?}):\n{t}", out.status.code())));
        }
        for needle in ["kwok", "ready in", "runs in the background"] {
            if !t.contains(needle) {
                return Err(fail(format!("up's output lacks {needle:?}:\n{t}")));
            }
        }
        if !off_loopback.is_empty() {
            return Err(fail(format!("sim processes connected off loopback: {off_loopback:?}")));
        }
        if !exposed.is_empty() {
            return Err(fail(format!("sim processes listen beyond loopback (every listener must be on 127.0.0.1): {exposed:?}")));
        }
        let mut dials = Vec::new();
        for entry in std::fs::read_dir(sb.state().join("logs")).map_err(|e| fail(e.to_string()))? {
            let path = entry.map_err(|e| fail(e.to_string()))?.path();
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            dials.extend(off_loopback_dials(&log).into_iter().map(|ip| format!("{}: {ip}", path.display())));
        }
        if !dials.is_empty() {
            return Err(fail(format!("sim processes tried to dial off loopback: {dials:?}")));
        }
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(sb.state().join("kubeconfig")).map_err(|e| fail(e.to_string()))?.permissions().mode() & 0o777;
        if mode != 0o600 {
            return Err(fail(format!("the sim kubeconfig carries the admin token but has mode {mode:o}, not 600")));
        }
        // Scoped to this cluster: with a Docker Engine (CI starts one), a bare `reap` would also
        // remove the harness-labelled objects of Docker tests running beside this one.
        let reap = text(&sb.run(&["reap", "--cluster", &sb.name]));
        if !reap.contains("kept sim cluster updown") || !sb.state().join("sim.json").exists() {
            return Err(fail(format!("reap must keep a healthy sim cluster:\n{reap}")));
        }
        let status = text(&sb.run(&["status"]));
        if !status.contains("updown") || !status.contains("sim") || !status.contains("kube-apiserver:running") {
            return Err(fail(format!("status does not list the running sim cluster:\n{status}")));
        }
        Ok(())
    })();
    let down = sb.run(&["down", "--name", "updown"]);
    println!(
        "up --backend sim to all-Ready: {up_secs:.1}s ({samples} socket samples, all on loopback; Flagger's own listener: {flagger_wide:?})"
    );
    result?;
    if !down.status.success() {
        return Err(fail(format!("down failed:\n{}", text(&down))));
    }
    sb.assert_nothing_left(&seen.ok_or_else(|| fail("no sim.json was written"))?)
}

/// A control-plane process killed during `up` is named with its log tail, and everything else
/// is stopped and removed.
fn process_dies_during_up() -> TestResult {
    let sb = Sandbox::new("dies");
    let mut child = sb.spawn(&["up", "--backend", "sim", "--name", "dies", "--timeout", "120"]);
    let victim = sb.wait_for_process("kube-controller-manager", Duration::from_secs(60));
    let victim = match victim {
        Ok(v) => v,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    let seen_before = sb.record();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim.pid as i32), nix::sys::signal::Signal::SIGKILL);
    let out = wait_child(&mut child, Duration::from_secs(90))?;
    let t = text(&out);
    if out.status.success() || !t.contains("kube-controller-manager exited") {
        return Err(fail(format!("expected up to fail naming kube-controller-manager, got {:?}:\n{t}", out.status.code())));
    }
    let seen = sb.record().or(seen_before).ok_or_else(|| fail("no record"))?;
    // The record as last written may be gone (removed on abort): use the one read before.
    sb.assert_nothing_left(&seen)
}

/// Ctrl-C during `up` stops every process it started and leaves no port or file.
fn ctrl_c_during_up_leaves_nothing() -> TestResult {
    let sb = Sandbox::new("ctrlc");
    let mut child = sb.spawn(&["up", "--backend", "sim", "--name", "ctrlc", "--timeout", "120"]);
    if let Err(e) = sb.wait_for_process("kube-apiserver", Duration::from_secs(60)) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    std::thread::sleep(Duration::from_secs(2));
    let seen = sb.record();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT);
    let out = wait_child(&mut child, Duration::from_secs(60))?;
    let t = text(&out);
    if out.status.code() != Some(130) || !t.contains("nothing was left behind") {
        return Err(fail(format!("expected exit 130 and a clean stop, got {:?}:\n{t}", out.status.code())));
    }
    // The processes and ports of our snapshot must be gone (the record itself is removed).
    sb.assert_nothing_left(&seen.ok_or_else(|| fail("no record was written before Ctrl-C"))?)
}

/// `up` killed outright (no chance to clean up) leaves processes; `reap` stops exactly those.
fn reap_removes_what_a_killed_up_left() -> TestResult {
    let sb = Sandbox::new("killed");
    let mut child = sb.spawn(&["up", "--backend", "sim", "--name", "killed", "--timeout", "120"]);
    if let Err(e) = sb.wait_for_process("kube-scheduler", Duration::from_secs(60)) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let _ = child.kill(); // SIGKILL: no handler runs
    let _ = child.wait();
    let seen = sb.record().ok_or_else(|| fail("no record"))?;
    if !seen.processes.iter().any(|p| p.is_alive()) {
        return Err(fail("expected the killed up to leave processes running"));
    }
    let out = sb.run(&["reap", "--cluster", &sb.name]);
    let t = text(&out);
    if !out.status.success() || !t.contains("creation never finished") {
        return Err(fail(format!("expected reap to remove the unfinished cluster, got {:?}:\n{t}", out.status.code())));
    }
    sb.assert_nothing_left(&seen)
}

/// The part of [`a_test_killed_by_signal_leaves_nothing`] that plays the killed test: a sandbox
/// whose `up` is gone (SIGKILL, so only the sandbox can clean up), then waiting to be killed.
fn killed_test_victim() -> std::process::ExitCode {
    let sb = Sandbox::new("victim");
    let mut child = sb.spawn(&["up", "--backend", "sim", "--name", "victim", "--timeout", "120"]);
    let recorded = sb.wait_for_process("kube-scheduler", Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = recorded {
        eprintln!("{e:?}");
        return std::process::ExitCode::FAILURE;
    }
    println!("ready {}", sb.home.path().display());
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// nextest ends an overrunning test with SIGTERM, where no `Drop` runs: the sandbox's handler
/// still stops every process its cluster recorded and removes the sandbox.
fn a_test_killed_by_signal_leaves_nothing() -> TestResult {
    use std::io::BufRead;
    let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    let mut victim = std::process::Command::new(exe)
        .env(VICTIM_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let stdout = victim.stdout.take().ok_or_else(|| fail("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let home = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(line) if line.starts_with("ready ") => PathBuf::from(line.trim_start_matches("ready ")),
        other => {
            let _ = victim.kill();
            let _ = victim.wait();
            return Err(fail(format!("the victim test did not get its cluster started: {other:?}")));
        }
    };
    let record = gitops_harness::cluster::sim::records_under(&home.join("clusters"));
    let procs: Vec<_> = record.iter().flat_map(|r| r.processes.iter().filter(|p| p.is_alive()).cloned()).collect();
    if procs.is_empty() {
        let _ = victim.kill();
        return Err(fail("expected the victim's cluster processes to be running before the signal"));
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let status = wait_status(&mut victim, Duration::from_secs(60))?;
    if status.code() != Some(143) {
        return Err(fail(format!("expected the victim to exit 143 after SIGTERM, got {status:?}")));
    }
    // Zombies awaiting whoever inherited them do not count: `is_alive` is running, not a zombie.
    let alive: Vec<String> = procs.iter().filter(|p| p.is_alive()).map(|p| format!("{} (pid {})", p.name, p.pid)).collect();
    let left = common::sim::processes_naming(&home);
    if !alive.is_empty() || !left.is_empty() || home.exists() {
        return Err(fail(format!("left behind: pids {alive:?}, processes {left:?}, sandbox exists: {}", home.exists())));
    }
    Ok(())
}

fn wait_status(child: &mut std::process::Child, within: Duration) -> Result<std::process::ExitStatus, libtest_mimic::Failed> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().map_err(|e| fail(e.to_string()))? {
            return Ok(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return Err(fail(format!("did not exit within {within:?} after the signal")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

const VICTIM_ENV: &str = "GITOPS_HARNESS_SIM_FAULTS_VICTIM";

fn fails_fast(name: &str, repo: &str, extra: &[&str], expect: &[&str], within: Duration) -> TestResult {
    common::sim::up_fails_fast(name, repo, "clusters/sim", extra, expect, within)
}

/// A Kustomization whose path does not exist fails with Flux's message within its retry grace.
fn kustomization_path_missing_fails_fast() -> TestResult {
    fails_fast(
        "pathmissing",
        &fixture("faults/path-missing"),
        &["--allow-check-errors"],
        &["flux-system/app", "does-not-exist"],
        Duration::from_secs(150),
    )
}

/// A Kustomization whose health check never passes fails after its own timeout and one retry.
fn health_check_never_passes_fails_fast() -> TestResult {
    fails_fast("healthnever", &fixture("faults/health-never"), &[], &["flux-system/app", "HealthCheckFailed"], Duration::from_secs(150))
}

/// A Canary Flagger cannot initialize (its target does not exist) ends `up` with Flagger's own
/// words after a few of its analysis ticks: exit 1, artifacts saved, cluster kept. The repo
/// installs no Flagger, so Flagger runs with its chart's defaults, and `up` says which mesh
/// provider that is and why (the Canary names none).
fn canary_flagger_cannot_initialize_fails_fast() -> TestResult {
    fails_fast(
        "canaryghost",
        &fixture("faults/canary-no-target"),
        &["--allow-check-errors"],
        &[
            "Canary ghost/ghost",
            "deployments.apps \"ghost\" not found",
            "apps/ghost/canary.yaml",
            "mesh provider istio (Flagger's default: no -mesh-provider is passed, as with the Flagger chart's defaults",
            "Canary ghost/ghost set no spec.provider, so Flagger uses istio",
        ],
        Duration::from_secs(150),
    )
}

/// A Helm repository source-controller cannot fetch ends `up` with the repository's own
/// condition (the HelmRelease itself only says it waits), naming where it is written.
fn unreachable_source_fails_fast() -> TestResult {
    fails_fast(
        "srcunreach",
        &fixture("faults/source-unreachable"),
        &[],
        &["HelmRelease flux-system/tool", "HelmRepository flux-system/unreachable", "clusters/sim/app.yaml"],
        Duration::from_secs(150),
    )
}

/// `up --no-serve` on sim stops the git server it ran in the background; a later `up --reuse`
/// removes the earlier run's ready marker as it starts, so a failing reuse leaves none.
fn no_serve_and_the_ready_marker() -> TestResult {
    let sb = Sandbox::new("small");
    let small = fixture("small");
    let out = sb.run(&[
        "up",
        "--backend",
        "sim",
        "--name",
        "small",
        "--repo",
        &small,
        "--cluster-dir",
        "clusters/sim",
        "--timeout",
        "180",
        "--no-serve",
    ]);
    let t = text(&out);
    let seen = sb.record();
    let result = (|| {
        if !out.status.success() || !t.contains("git server stopped (--no-serve)") {
            return Err(fail(format!("up --no-serve must succeed and stop the git server, got {:?}:\n{t}", out.status.code())));
        }
        let rec = sb.record().ok_or_else(|| fail("no sim.json"))?;
        if rec.processes.iter().any(|p| p.name == "git-server") || rec.ports.git != 0 {
            return Err(fail(format!("the git server is still recorded after --no-serve: {:?}", rec.processes)));
        }
        let marker = sb.state().join("ready");
        if !marker.is_file() {
            return Err(fail("a Ready run must leave its ready marker"));
        }
        let broken = fixture("faults/path-missing");
        let again = sb.run(&[
            "up",
            "--backend",
            "sim",
            "--name",
            "small",
            "--reuse",
            "--repo",
            &broken,
            "--cluster-dir",
            "clusters/sim",
            "--allow-check-errors",
            "--timeout",
            "120",
        ]);
        if again.status.code() != Some(1) {
            return Err(fail(format!("a reuse on a broken repo must fail (exit 1), got {:?}:\n{}", again.status.code(), text(&again))));
        }
        if marker.exists() {
            return Err(fail("the earlier run's ready marker survived a reuse that did not reach Ready"));
        }
        Ok(())
    })();
    let down = sb.run(&["down", "--name", "small"]);
    result?;
    if !down.status.success() {
        return Err(fail(format!("down failed:\n{}", text(&down))));
    }
    sb.assert_nothing_left(&seen.ok_or_else(|| fail("no sim.json was written"))?)
}

/// The log scan that proves no dial left loopback finds such dials.
fn dial_lines_are_found() -> TestResult {
    let log =
        "E0101 reflector.go: dial tcp 10.96.0.1:443: connect: network is unreachable\nok dial tcp 127.0.0.1:6443\ndial tcp [fd00::1]:80";
    let found = off_loopback_dials(log);
    if found != vec!["10.96.0.1".to_string(), "fd00::1".to_string()] {
        return Err(fail(format!("expected the two off-loopback dials, found {found:?}")));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    if std::env::var_os(VICTIM_ENV).is_some() {
        return killed_test_victim();
    }
    let args = Arguments::from_args();
    let needs_tools: Vec<common::sim::NamedTest> = vec![
        ("sim::up_then_down_leaves_nothing", up_then_down_leaves_nothing),
        ("sim::process_dies_during_up", process_dies_during_up),
        ("sim::ctrl_c_during_up_leaves_nothing", ctrl_c_during_up_leaves_nothing),
        ("sim::reap_removes_what_a_killed_up_left", reap_removes_what_a_killed_up_left),
        ("sim::kustomization_path_missing_fails_fast", kustomization_path_missing_fails_fast),
        ("sim::health_check_never_passes_fails_fast", health_check_never_passes_fails_fast),
        ("sim::canary_flagger_cannot_initialize_fails_fast", canary_flagger_cannot_initialize_fails_fast),
        ("sim::unreachable_source_fails_fast", unreachable_source_fails_fast),
        ("sim::no_serve_and_the_ready_marker", no_serve_and_the_ready_marker),
        ("sim::a_test_killed_by_signal_leaves_nothing", a_test_killed_by_signal_leaves_nothing),
    ];
    let always = vec![
        Trial::test("sim::go_missing_says_what_to_install", go_missing_says_what_to_install),
        Trial::test("sim::taken_port_is_named", taken_port_is_named),
        Trial::test("sim::dial_lines_are_found", dial_lines_are_found),
    ];
    let trials = common::sim::trials("sim", always, needs_tools);
    libtest_mimic::run(&args, trials).exit_code()
}
