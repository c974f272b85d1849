//! A gateway in the test process with its log lines collected, and helm run through it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gitops_harness::cluster::sim::gateway::{self, Gateway, GatewayCa, GatewayConfig};
use gitops_harness::sources::Cassette;
use gitops_harness::sources::replay::Replay;
use libtest_mimic::Failed;
use serde_json::Value;

use crate::upstream::helm_cmd;

fn fail(m: impl Into<String>) -> Failed {
    Failed::from(m.into())
}

fn helm() -> Result<PathBuf, String> {
    gitops_harness::tools::find(gitops_harness::tools::Tool::Helm).map_err(|e| e.to_string())
}

/// A gateway over a cassette, with its log lines collected.
pub struct Gw {
    pub gw: Gateway,
    pub ca_file: PathBuf,
    log: Arc<Mutex<Vec<Value>>>,
    _ca_dir: tempfile::TempDir,
}

impl Gw {
    pub async fn start(cassette: &Path) -> Result<Gw, Failed> {
        let ca_dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let ca = Arc::new(GatewayCa::ensure(ca_dir.path()).map_err(|e| fail(e.to_string()))?);
        let c = Cassette::open(cassette).map_err(|e| fail(e.to_string()))?;
        let replay = Arc::new(Replay::new(c, "gitops-harness sources record --repo R --cluster-dir D".into()));
        let log: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = log.clone();
        let config = GatewayConfig {
            addr: "127.0.0.1:0".parse().map_err(|_| fail("addr"))?,
            replay: Some(replay),
            ca,
            standins: None,
            log: Arc::new(move |v| sink.lock().unwrap_or_else(|e| e.into_inner()).push(v)),
        };
        let gw = Gateway::start(config).await.map_err(|e| fail(e.to_string()))?;
        Ok(Gw { gw, ca_file: GatewayCa::cert_file(ca_dir.path()), log, _ca_dir: ca_dir })
    }

    pub fn env(&self, process: &str) -> Vec<(String, String)> {
        gateway::process_env(self.gw.addr(), process, &self.ca_file)
    }

    pub fn lines(&self) -> Vec<Value> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn has(&self, f: impl Fn(&Value) -> bool) -> bool {
        self.lines().iter().any(f)
    }
}

/// Run helm with the gateway as its proxy; (success, output).
pub async fn helm_via(gw: &Gw, home: &Path, args: &[&str]) -> Result<(bool, String), Failed> {
    let helm = helm().map_err(fail)?;
    std::fs::create_dir_all(home.join("out")).map_err(|e| fail(e.to_string()))?;
    let mut cmd = tokio::process::Command::from(helm_cmd(&helm, home));
    cmd.args(args).envs(gw.env("helm"));
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .map_err(|_| fail(format!("helm {args:?} hung")))?
        .map_err(|e| fail(e.to_string()))?;
    Ok((out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))))
}
