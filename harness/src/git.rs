//! Running the `git` CLI: one place that captures its output and turns failures into a message
//! naming the command (the served repo, git-driven changes and drift all use it).

use std::path::Path;

/// A failed git invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitCliError {
    /// git could not be started.
    #[error("cannot run git: {0}; install git (e.g. `apt-get install git`)")]
    Missing(String),
    /// git ran and failed.
    #[error("`git {args}` failed: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// git's stderr.
        stderr: String,
    },
}

/// Run `git ARGS` in `dir` (never prompting) and return its stdout.
pub fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitCliError> {
    let out = duct::cmd("git", args)
        .dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| GitCliError::Missing(e.to_string()))?;
    if !out.status.success() {
        return Err(GitCliError::Failed { args: args.join(" "), stderr: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(out.stdout)
}

/// Like [`run`], with stdout as trimmed text.
pub fn run_text(dir: &Path, args: &[&str]) -> Result<String, GitCliError> {
    run(dir, args).map(|o| String::from_utf8_lossy(&o).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = run_text(dir.path(), &["rev-parse", "HEAD"]).unwrap_err();
        assert!(err.to_string().starts_with("`git rev-parse HEAD` failed: "), "{err}");
    }
}
