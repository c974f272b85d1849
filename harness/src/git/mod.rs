//! The git layer: one runner for the `git` CLI with one error type ([`GitError`]), the working
//! copies the harness commits to ([`working_copy`]: any working copy, and the served copy it
//! owns), revisions of a user's repository ([`revisions`]: resolve, export, history) and the
//! read-only smart-HTTP server a cluster pulls from ([`server`]).

pub mod revisions;
pub mod server;
pub mod working_copy;

use std::path::{Path, PathBuf};

pub use server::{GitServer, REPO_PATH};
pub use working_copy::{GitDir, ServedRepo, WorkingCopy};

/// Errors of the git layer; each names the working copy and what to do.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started.
    #[error("cannot run git: {0}; install git (e.g. `apt-get install git`)")]
    Missing(String),
    /// git ran and failed.
    #[error("`git {args}` in {dir} failed: {stderr}")]
    Failed {
        /// Working copy.
        dir: PathBuf,
        /// The arguments.
        args: String,
        /// git's stderr.
        stderr: String,
    },
    /// Not a git repository.
    #[error("{0} is not a git repository (pass the repository's working copy)")]
    NotARepo(PathBuf),
    /// A revision that does not resolve.
    #[error(
        "revision `{rev}` is not a commit of {repo}; pass a branch, tag or sha that `git rev-parse` knows there (fetch it first if it is remote)"
    )]
    UnknownRevision {
        /// Repository.
        repo: PathBuf,
        /// What was asked.
        rev: String,
    },
    /// The source of a copy is not a directory.
    #[error("{0}: not a directory; pass the root of a gitops repository")]
    NotADirectory(PathBuf),
    /// A file of a working copy could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl GitError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> GitError {
        GitError::Io { path: path.to_path_buf(), source }
    }
}

/// Replace `path` with `contents` atomically (a sibling temporary file renamed over it, keeping
/// the old file's permissions): a reader in another process (a parallel scenario reading a file
/// another one edits) sees the old text or the new one, never a truncated file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".gitops-harness-write-").tempfile_in(dir)?;
    tmp.write_all(contents)?;
    let mode = std::fs::metadata(path).map(|m| m.permissions()).unwrap_or_else(|_| std::os::unix::fs::PermissionsExt::from_mode(0o644));
    std::fs::set_permissions(tmp.path(), mode)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Run `git ARGS` in `dir` (never prompting) and return its stdout.
pub fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let out = duct::cmd("git", args)
        .dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| GitError::Missing(e.to_string()))?;
    if !out.status.success() {
        return Err(GitError::Failed {
            dir: dir.to_path_buf(),
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

/// Like [`run`], with stdout as trimmed text.
pub fn run_text(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    run(dir, args).map(|o| String::from_utf8_lossy(&o).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_the_command_and_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = run_text(dir.path(), &["rev-parse", "HEAD"]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("`git rev-parse HEAD` in ") && msg.contains(&dir.path().display().to_string()), "{msg}");
    }
}

#[cfg(test)]
mod write_tests {
    use super::write_atomic;

    /// A reader racing a writer sees one whole version or the other, never an empty file (what
    /// a parallel scenario saw when edits truncated the file first).
    #[test]
    fn readers_never_see_a_half_written_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faces.yaml");
        let (a, b) = ("kind: Deployment\nmetadata: {name: face}\n".repeat(200), "kind: Deployment\nmetadata: {name: smiley}\n".repeat(200));
        write_atomic(&path, a.as_bytes()).unwrap();
        let reader = {
            let path = path.clone();
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let text = std::fs::read_to_string(&path).unwrap();
                    assert!(text == a || text == b, "read {} bytes", text.len());
                }
            })
        };
        for i in 0..2000 {
            write_atomic(&path, if i % 2 == 0 { b.as_bytes() } else { a.as_bytes() }).unwrap();
        }
        reader.join().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
