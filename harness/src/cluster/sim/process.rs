//! The sim tier's host processes: started detached in their own process group, recorded with
//! their pid and kernel start time, and stopped only when both still match — so `down` and
//! `reap` never signal a process the harness did not start, even after pid reuse.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// Environment variables that would send a sim process's traffic through a proxy (cleared, then
/// set only where the harness means it).
const PROXY_VARS: &[&str] = &["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"];

/// What to start.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Short name (`etcd`, `kube-apiserver`, …).
    pub name: String,
    /// Program.
    pub program: PathBuf,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment (after the proxy variables and KUBECONFIG are cleared).
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
}

impl ProcessSpec {
    /// A spec with no extra environment.
    pub fn new(name: &str, program: PathBuf, args: Vec<String>, cwd: &Path) -> ProcessSpec {
        ProcessSpec { name: name.to_string(), program, args, env: Vec::new(), cwd: cwd.to_path_buf() }
    }

    /// Add an environment variable.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> ProcessSpec {
        self.env.push((key.to_string(), value.into()));
        self
    }
}

/// Environment variable every process of a sim cluster is started with, holding its cluster's
/// owner token (`SimRecord::owner`): a process spawned but not yet recorded when `up` was
/// killed outright still carries it, so `down`, `reap` and the test sandboxes find it by that
/// recorded token (never by program name).
pub const OWNER_ENV: &str = "GITOPS_HARNESS_SIM_OWNER";

/// Running processes (not zombies) started with `OWNER_ENV=<token>`, except this one.
pub fn carrying_owner(token: &str) -> Vec<ProcessRecord> {
    if token.is_empty() {
        return Vec::new();
    }
    let want = format!("{OWNER_ENV}={token}");
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            if !env.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) {
                return None;
            }
            // Group leaders only: each sim process leads its own group, and stopping a group
            // stops what its leader started.
            let st = stat(pid).filter(|s| !matches!(s.state, 'Z' | 'X') && s.pgrp == pid)?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string();
            let program = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            Some(ProcessRecord { name: comm, pid, start_ticks: st.start_ticks, program, args: Vec::new(), log: PathBuf::new() })
        })
        .collect()
}

/// A started process, as recorded in the cluster's state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// Short name.
    pub name: String,
    /// Process id (also its process group id).
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22): with the pid, the
    /// process's identity.
    pub start_ticks: u64,
    /// Program.
    pub program: PathBuf,
    /// Arguments.
    pub args: Vec<String>,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
}

/// Errors starting processes.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started.
    #[error("cannot start {name} ({program}): {source}")]
    Spawn {
        /// Name.
        name: String,
        /// Program.
        program: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Its log could not be created.
    #[error("cannot create the log {path}: {source}")]
    Log {
        /// Log file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Start `spec` detached (own process group, so a Ctrl-C at the terminal reaches only the
/// harness, which then stops it cleanly), with stdout and stderr appended to `log`.
pub fn spawn(spec: &ProcessSpec, log: &Path) -> Result<ProcessRecord, ProcessError> {
    use std::os::unix::process::CommandExt as _;
    let open = || std::fs::OpenOptions::new().create(true).append(true).open(log);
    let out = open().map_err(|source| ProcessError::Log { path: log.to_path_buf(), source })?;
    let err = open().map_err(|source| ProcessError::Log { path: log.to_path_buf(), source })?;
    let mut cmd = std::process::Command::new(&spec.program);
    cmd.args(&spec.args).current_dir(&spec.cwd).stdin(std::process::Stdio::null()).stdout(out).stderr(err).process_group(0);
    for var in PROXY_VARS.iter().chain(&["KUBECONFIG"]) {
        cmd.env_remove(var);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().map_err(|source| ProcessError::Spawn { name: spec.name.clone(), program: spec.program.clone(), source })?;
    let pid = child.id();
    // The Child handle is dropped on purpose: the process outlives `up`; `stop` reaps it if it
    // is still our child.
    drop(child);
    let start_ticks = stat(pid).map(|s| s.start_ticks).unwrap_or(0);
    Ok(ProcessRecord {
        name: spec.name.clone(),
        pid,
        start_ticks,
        program: spec.program.clone(),
        args: spec.args.clone(),
        log: log.to_path_buf(),
    })
}

struct Stat {
    state: char,
    pgrp: u32,
    start_ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: fields after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let pgrp = fields.get(2)?.parse().ok()?;
    let start_ticks = fields.get(19)?.parse().ok()?;
    Some(Stat { state, pgrp, start_ticks })
}

/// Whether process `pid` started at `start_ticks` (its identity) is still running: a reused pid
/// is not it.
pub fn running(pid: u32, start_ticks: u64) -> bool {
    stat(pid).is_some_and(|s| s.start_ticks == start_ticks && !matches!(s.state, 'Z' | 'X'))
}

/// The kernel start time (clock ticks since boot) of process `pid`.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat(pid).map(|s| s.start_ticks)
}

impl ProcessRecord {
    /// Whether this very process (same pid and start time) is still running.
    pub fn is_alive(&self) -> bool {
        running(self.pid, self.start_ticks)
    }

    /// Whether the pid still names the process we started (running or a zombie).
    fn is_ours(&self) -> bool {
        stat(self.pid).is_some_and(|s| s.start_ticks == self.start_ticks)
    }

    /// How it exited, if it was our child and has exited (reaps it).
    pub fn exit_status(&self) -> Option<String> {
        match waitpid(Pid::from_raw(self.pid as i32), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Some(format!("exit code {code}")),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(format!("killed by {sig}")),
            _ => None,
        }
    }

    /// Stop it: SIGTERM to its process group, then SIGKILL after `grace`. Does nothing when the
    /// pid no longer names the process we started. Returns whether it had to be killed.
    pub fn stop(&self, grace: Duration) -> bool {
        if !self.is_ours() {
            return false;
        }
        let pgid = Pid::from_raw(self.pid as i32);
        let _ = killpg(pgid, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            let _ = self.exit_status();
            if !self.is_alive() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.is_ours() {
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = self.exit_status();
        }
        true
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

/// One TCP connection of a process, from `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSocket {
    /// Local address.
    pub local: std::net::SocketAddr,
    /// Remote address (unspecified for a listener).
    pub remote: std::net::SocketAddr,
    /// Kernel state (`01` established, `02` SYN sent, `0A` listen, …).
    pub state: String,
}

impl TcpSocket {
    /// Whether the peer is on this host's loopback (or there is no peer: a listener).
    pub fn peer_is_loopback(&self) -> bool {
        self.remote.ip().is_loopback() || self.remote.ip().is_unspecified()
    }

    /// Whether it is a listening socket.
    pub fn is_listener(&self) -> bool {
        self.state == "0A"
    }

    /// Whether it is a listener that other hosts could reach: bound to the wildcard address
    /// (`0.0.0.0`, `::`) or to an address off loopback.
    pub fn listens_off_loopback(&self) -> bool {
        self.is_listener() && !self.local.ip().is_loopback()
    }
}

fn parse_proc_addr(text: &str) -> Option<std::net::SocketAddr> {
    let (ip_hex, port_hex) = text.split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    let ip = match ip_hex.len() {
        8 => std::net::IpAddr::from(u32::from_str_radix(ip_hex, 16).ok()?.to_le_bytes()),
        32 => {
            // Four 32-bit words, each in host (little-endian) order.
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let word = u32::from_str_radix(&ip_hex[i * 8..i * 8 + 8], 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
            }
            let v6 = std::net::Ipv6Addr::from(bytes);
            v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(std::net::IpAddr::V6(v6))
        }
        _ => return None,
    };
    Some(std::net::SocketAddr::new(ip, port))
}

/// The TCP sockets process `pid` holds (its fds matched to `/proc/<pid>/net/tcp{,6}` by inode).
pub fn tcp_sockets(pid: u32) -> Vec<TcpSocket> {
    let inodes: std::collections::BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| l.to_str().and_then(|s| s.strip_prefix("socket:[")).and_then(|s| s.strip_suffix(']')).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote), Some(state), Some(inode)) = (f.get(1), f.get(2), f.get(3), f.get(9)) else { continue };
            if !inodes.contains(*inode) {
                continue;
            }
            if let (Some(local), Some(remote)) = (parse_proc_addr(local), parse_proc_addr(remote)) {
                out.push(TcpSocket { local, remote, state: state.to_string() });
            }
        }
    }
    out
}

/// The last `lines` lines of a file (reads at most its last 64 KiB).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The kernel's ephemeral port range (where outgoing connections get their local port).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().filter_map(|x| x.parse().ok());
            Some((it.next()?, it.next()?))
        })
        .unwrap_or((32768, 60999))
}

/// A free TCP port on 127.0.0.1 for a server that starts right after (bound and released).
/// Chosen at random outside the ephemeral range: a port from `bind(0)` comes from that range,
/// where the many outgoing connections of a starting control plane may take it before the
/// server binds it.
pub fn free_port() -> std::io::Result<u16> {
    let (lo, hi) = ephemeral_range();
    // Below the ephemeral range when there is room (the usual 32768-60999), else above it.
    let (from, to) = if lo > 11000 { (10000u16, lo - 1) } else { (hi.saturating_add(1), 65535) };
    for _ in 0..200 {
        let port = from + (rand::random::<u16>() % (to - from));
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Whether something listens on 127.0.0.1:`port`.
pub fn port_in_use(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(dir: &Path) -> ProcessRecord {
        let spec = ProcessSpec::new("sleeper", PathBuf::from("/bin/sleep"), vec!["30".into()], dir);
        spawn(&spec, &dir.join("sleeper.log")).unwrap()
    }

    #[test]
    fn spawned_process_is_recorded_and_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let rec = sleeper(dir.path());
        assert!(rec.is_alive());
        assert!(rec.start_ticks > 0);
        assert!(!rec.stop(Duration::from_secs(5)), "sleep ends on SIGTERM");
        assert!(!rec.is_alive());
    }

    #[test]
    fn a_reused_pid_is_not_signalled() {
        let dir = tempfile::tempdir().unwrap();
        let rec = sleeper(dir.path());
        // Same pid, another start time: not ours, so neither alive nor stopped.
        let stranger = ProcessRecord { start_ticks: rec.start_ticks + 1, ..rec.clone() };
        assert!(!stranger.is_alive());
        assert!(!stranger.stop(Duration::from_millis(100)));
        assert!(rec.is_alive(), "the real process must survive a stop of a stale record");
        rec.stop(Duration::from_secs(5));
    }

    #[test]
    fn a_process_that_exits_reports_how() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ProcessSpec::new("fails", PathBuf::from("/bin/sh"), vec!["-c".into(), "echo boom >&2; exit 3".into()], dir.path());
        let rec = spawn(&spec, &dir.path().join("fails.log")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut status = None;
        while status.is_none() && Instant::now() < deadline {
            status = rec.exit_status();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(status.as_deref(), Some("exit code 3"));
        assert!(!rec.is_alive());
        assert_eq!(rec.log_tail(5), "boom");
    }

    #[test]
    fn proc_addresses_parse() {
        assert_eq!(parse_proc_addr("0100007F:1F90"), Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(parse_proc_addr("00000000000000000000000001000000:0050"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(parse_proc_addr("0000000000000000FFFF00000100007F:0050"), Some("127.0.0.1:80".parse().unwrap()));
        assert_eq!(parse_proc_addr("0A00000A:01BB"), Some("10.0.0.10:443".parse().unwrap()));
    }

    #[test]
    fn listeners_are_judged_by_their_local_address() {
        let sock = |local: &str, state: &str| TcpSocket {
            local: local.parse().unwrap(),
            remote: "0.0.0.0:0".parse().unwrap(),
            state: state.into(),
        };
        // A listener's peer is unspecified: only its local address tells where it listens.
        for wide in ["0.0.0.0:8080", "[::]:8080", "10.0.0.2:8080"] {
            assert!(sock(wide, "0A").peer_is_loopback(), "the peer check alone cannot see it");
            assert!(sock(wide, "0A").listens_off_loopback(), "{wide}");
        }
        assert!(!sock("127.0.0.1:8080", "0A").listens_off_loopback());
        assert!(!sock("[::1]:8080", "0A").listens_off_loopback());
        // Established connections are judged by their peer, not here.
        assert!(!sock("0.0.0.0:8080", "01").listens_off_loopback());
        assert_eq!(parse_proc_addr("00000000000000000000000000000000:1F90"), Some("[::]:8080".parse().unwrap()));
    }

    #[test]
    fn own_sockets_are_listed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let socks = tcp_sockets(std::process::id());
        assert!(socks.iter().any(|s| s.local.port() == port && s.state == "0A"), "{socks:?}");
        assert!(socks.iter().any(|s| s.remote.port() == port && s.peer_is_loopback()), "{socks:?}");
    }

    #[test]
    fn proxy_variables_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ProcessSpec::new("env", PathBuf::from("/bin/sh"), vec!["-c".into(), "env".into()], dir.path()).env("KEEP", "1");
        // SAFETY-free: set in the child only, through the spec; the parent's env is not touched.
        let rec = spawn(&spec, &dir.path().join("env.log")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while rec.exit_status().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = std::fs::read_to_string(dir.path().join("env.log")).unwrap();
        assert!(out.contains("KEEP=1"));
        assert!(!out.lines().any(|l| l.to_ascii_uppercase().starts_with("HTTP_PROXY=")));
    }
}
