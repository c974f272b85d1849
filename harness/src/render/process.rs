//! Running a build tool (`kubectl kustomize`, `helm template`) with a timeout and the interrupt
//! flag: the child is waited for with short, growing sleeps (1 ms to 10 ms, so a 30 ms build is
//! not rounded up to a 20 ms tick), killed on timeout or interrupt.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{RenderError, interrupted};

/// What failed, for error messages.
pub(super) struct Job<'a> {
    /// The object being built (`Kustomization flux-system/apps`).
    pub what: &'a str,
    /// The user's directory (named in errors instead of a temporary one).
    pub dir: &'a Path,
    /// The temporary directory to strip from the tool's messages, if any.
    pub temp: Option<&'a Path>,
    /// `helm template` (its failures are [`RenderError::Helm`]) rather than kustomize.
    pub helm: bool,
}

/// Run `program args…`; its stdout on success, else the tool's stderr as [`RenderError::Kustomize`]
/// (or [`RenderError::Helm`]).
pub(super) fn run(program: &Path, args: &[OsString], job: &Job<'_>, timeout: Duration) -> Result<Vec<u8>, RenderError> {
    let fail = |stderr: String| {
        let stderr = match job.temp {
            Some(t) => stderr.replace(&format!("{}/", t.display()), ""),
            None => stderr,
        };
        if job.helm {
            RenderError::Helm { what: job.what.to_string(), chart: job.dir.to_path_buf(), stderr }
        } else {
            RenderError::Kustomize { what: job.what.to_string(), dir: job.dir.to_path_buf(), stderr }
        }
    };
    let handle = duct::cmd(program, args).stdout_capture().stderr_capture().unchecked().start().map_err(|e| fail(e.to_string()))?;
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    let out = loop {
        match handle.try_wait() {
            Ok(Some(out)) => break out.clone(),
            Ok(None) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        if interrupted() || Instant::now() >= deadline {
            let _ = handle.kill();
            return Err(if interrupted() {
                RenderError::Interrupted(job.what.to_string())
            } else {
                RenderError::Timeout { what: job.what.to_string(), dir: PathBuf::from(job.dir), secs: timeout.as_secs() }
            });
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    };
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(out.stdout)
}
