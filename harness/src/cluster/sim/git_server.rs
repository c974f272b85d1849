//! The git server a sim cluster clones from, as a recorded background process of the CLI.

use super::*;

/// The gitops-harness CLI, which serves git for a sim cluster as a background process:
/// `$GITOPS_HARNESS_BIN`, else this executable when it is the CLI, else the CLI built beside it
/// (integration tests run from `target/<profile>/deps/`).
pub fn harness_exe() -> Result<PathBuf, SimError> {
    if let Some(p) = std::env::var_os("GITOPS_HARNESS_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().map_err(|e| SimError::NoHarnessExe(e.to_string()))?;
    if me.file_name().is_some_and(|n| n == "gitops-harness") {
        return Ok(me);
    }
    let beside = me.parent().and_then(Path::parent).map(|d| d.join("gitops-harness"));
    match beside {
        Some(p) if p.is_file() => Ok(p),
        _ => Err(SimError::NoHarnessExe(format!("{} is not it", me.display()))),
    }
}

/// Start (or restart) the git server of sim cluster `name` serving `served` on 127.0.0.1:`port`
/// (0: any free port) as a recorded background process; returns its URL.
pub async fn start_git_server(name: &str, served: &Path, port: u16) -> Result<String, SimError> {
    let layout = layout(name);
    let mut record =
        SimRecord::load(name).ok_or_else(|| SimError::Io { path: layout.record(), source: std::io::Error::other("no sim record") })?;
    if let Some(old) = record.processes.iter().find(|p| p.name == "git-server") {
        old.stop(STOP_GRACE);
    }
    record.processes.retain(|p| p.name != "git-server");
    let port = match port {
        0 => process::free_port().map_err(|source| SimError::Io { path: PathBuf::from("127.0.0.1:0"), source })?,
        p if process::port_in_use(p) => return Err(SimError::PortTaken { port: p, what: "the git server (--git-port)".into() }),
        p => p,
    };
    let exe = harness_exe()?;
    let spec = ProcessSpec::new(
        "git-server",
        exe,
        vec!["serve-git".into(), served.display().to_string(), "--addr".into(), format!("127.0.0.1:{port}")],
        &layout.root,
    );
    let spec = spec.env(process::OWNER_ENV, record.owner.clone());
    let rec = process::spawn(&spec, &layout.log("git-server"))?;
    record.processes.push(rec.clone());
    record.ports.git = port;
    record.save()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tcp_open(port).await {
        if !rec.is_alive() {
            return Err(died(&rec));
        }
        if Instant::now() >= deadline {
            return Err(SimError::NotReady {
                name: "git-server".into(),
                what: format!("port {port}"),
                secs: 20,
                log: rec.log.clone(),
                tail: rec.log_tail(20),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(format!("http://127.0.0.1:{port}/repo.git"))
}

/// Stop the git server of sim cluster `name` and drop it from the record (the cluster keeps
/// the revision Flux last fetched); returns what was stopped.
pub fn stop_git_server(name: &str) -> Result<Option<String>, SimError> {
    let Some(mut record) = SimRecord::load(name) else { return Ok(None) };
    let Some(p) = record.processes.iter().find(|p| p.name == "git-server").cloned() else { return Ok(None) };
    p.stop(STOP_GRACE);
    record.processes.retain(|x| x.name != "git-server");
    record.ports.git = 0;
    record.save()?;
    Ok(Some(format!("process git-server (pid {})", p.pid)))
}
