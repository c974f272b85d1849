//! The git side of a drift comparison: the branch head and a read-only export of the revision a
//! Kustomization applied (built afterwards with [`crate::render`], like kustomize-controller).

use std::path::{Path, PathBuf};

use super::DriftError;

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, DriftError> {
    crate::git::run(dir, args).map_err(|e| DriftError::Git { dir: dir.to_path_buf(), message: e.to_string() })
}

/// The commit checked out in `repo` (None when `repo` is not the top of a git working copy: a
/// directory inside some other repository does not have the revisions Flux applied).
pub fn head(repo: &Path) -> Option<String> {
    let top = git(repo, &["rev-parse", "--show-toplevel"]).ok()?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(repo).ok()? {
        return None;
    }
    git(repo, &["rev-parse", "HEAD"]).ok().map(|o| String::from_utf8_lossy(&o).trim().to_string())
}

/// Export commit `sha` of `repo` into a new temporary directory (the repo is not touched).
pub fn export_revision(repo: &Path, sha: &str) -> Result<tempfile::TempDir, DriftError> {
    let dir = tempfile::Builder::new()
        .prefix("gitops-harness-rev-")
        .tempdir()
        .map_err(|e| DriftError::Git { dir: repo.to_path_buf(), message: format!("cannot create a temp dir: {e}") })?;
    let tar = git(repo, &["archive", "--format=tar", sha]).map_err(|e| match e {
        DriftError::Git { dir, message } => DriftError::Git {
            dir,
            message: format!(
                "{message}; is revision {sha} in this working copy? Pass the copy Flux pulls from (the harness's served repo) or fetch it"
            ),
        },
        other => other,
    })?;
    let mut child = duct::cmd("tar", ["-x", "-C"])
        .before_spawn({
            let d = dir.path().to_path_buf();
            move |c| {
                c.arg(&d);
                Ok(())
            }
        })
        .stdin_bytes(tar)
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| DriftError::Git { dir: repo.to_path_buf(), message: format!("cannot run tar to extract {sha}: {e}") })?;
    if !child.status.success() {
        return Err(DriftError::Git {
            dir: repo.to_path_buf(),
            message: format!("extracting {sha}: {}", String::from_utf8_lossy(&std::mem::take(&mut child.stderr)).trim()),
        });
    }
    Ok(dir)
}
