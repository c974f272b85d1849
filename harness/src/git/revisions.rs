//! Revisions of a user's repository: resolve one, export its tree read-only (what the commit
//! holds, never the working tree), list the commits between two, and find the checked-out head.

use std::path::{Path, PathBuf};

use super::{GitError, run, run_text};

/// A revision of a repository, resolved and exported (read-only) to a temp directory.
#[derive(Debug)]
pub struct Revision {
    /// What was asked for (`main`, `HEAD~2`, a tag, a sha).
    pub asked: String,
    /// The commit it names.
    pub sha: String,
    /// The commit's subject line.
    pub subject: String,
    /// The exported tree (removed on drop).
    pub tree: tempfile::TempDir,
}

impl Revision {
    /// Short sha for messages.
    pub fn short(&self) -> &str {
        &self.sha[..self.sha.len().min(12)]
    }
}

/// Resolve `rev` in the git repository `repo` and export its tree.
pub fn resolve(repo: &Path, rev: &str) -> Result<Revision, GitError> {
    if run_text(repo, &["rev-parse", "--git-dir"]).is_err() {
        return Err(GitError::NotARepo(repo.to_path_buf()));
    }
    let spec = format!("{rev}^{{commit}}");
    let sha = run_text(repo, &["rev-parse", "--verify", "--quiet", &spec])
        .map_err(|_| GitError::UnknownRevision { repo: repo.to_path_buf(), rev: rev.to_string() })?;
    let subject = run_text(repo, &["log", "-1", "--format=%s", &sha])?;
    // `git archive` exports what the commit holds, not the working tree: uncommitted edits never
    // leak into a rehearsal of two revisions.
    let tree = export(repo, &sha)?;
    Ok(Revision { asked: rev.to_string(), sha, subject, tree })
}

/// The commits `from..to` (oldest first) as `sha subject` lines; empty when `to` is not a
/// descendant (a rehearsal may also go sideways or back).
pub fn commits_between(repo: &Path, from: &str, to: &str) -> Vec<String> {
    let range = format!("{from}..{to}");
    run_text(repo, &["log", "--reverse", "--format=%h %s", &range])
        .map(|t| t.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
        .unwrap_or_default()
}

/// Whether commit `ancestor` is contained in `descendant` (`git merge-base --is-ancestor`).
pub fn contains(repo: &Path, descendant: &str, ancestor: &str) -> bool {
    !ancestor.is_empty() && run(repo, &["merge-base", "--is-ancestor", ancestor, descendant]).is_ok()
}

/// The commit checked out in `repo` (None when `repo` is not the top of a git working copy: a
/// directory inside some other repository does not have the revisions Flux applied).
pub fn head(repo: &Path) -> Option<String> {
    let top = PathBuf::from(run_text(repo, &["rev-parse", "--show-toplevel"]).ok()?);
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(repo).ok()? {
        return None;
    }
    run_text(repo, &["rev-parse", "HEAD"]).ok()
}

/// Export commit `sha` of `repo` into a new temporary directory (the repo is not touched).
pub fn export(repo: &Path, sha: &str) -> Result<tempfile::TempDir, GitError> {
    let dir = tempfile::Builder::new().prefix("gitops-harness-rev-").tempdir().map_err(|e| GitError::io(&std::env::temp_dir(), e))?;
    let tar = run(repo, &["archive", "--format=tar", sha]).map_err(|e| match e {
        GitError::Failed { dir, args, stderr } => GitError::Failed {
            dir,
            args,
            stderr: format!(
                "{stderr}; is revision {sha} in this working copy? Pass the copy Flux pulls from (the harness's served repo) or fetch it"
            ),
        },
        other => other,
    })?;
    let out = duct::cmd("tar", ["-x", "-C"])
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
        .map_err(|e| GitError::io(dir.path(), std::io::Error::other(format!("cannot run tar to extract {sha}: {e}"))))?;
    if !out.status.success() {
        let why = format!("extracting {sha}: {}", String::from_utf8_lossy(&out.stderr).trim());
        return Err(GitError::io(dir.path(), std::io::Error::other(why)));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with_history() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let git = |args: &[&str]| run(p, args).unwrap();
        git(&["init", "-q"]);
        std::fs::create_dir_all(p.join("apps")).unwrap();
        std::fs::write(p.join("apps/a.yaml"), "a: 1\n").unwrap();
        std::fs::write(p.join("apps/gone.yaml"), "g: 1\n").unwrap();
        git(&["add", "-A"]);
        git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base"]);
        git(&["tag", "base"]);
        std::fs::write(p.join("apps/a.yaml"), "a: 2\n").unwrap();
        std::fs::remove_file(p.join("apps/gone.yaml")).unwrap();
        git(&["add", "-A"]);
        git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "bump a"]);
        d
    }

    #[test]
    fn resolves_exports_and_lists_commits() {
        let d = repo_with_history();
        let base = resolve(d.path(), "base").unwrap();
        assert_eq!(std::fs::read_to_string(base.tree.path().join("apps/a.yaml")).unwrap(), "a: 1\n");
        assert_eq!(base.subject, "base");
        let head = resolve(d.path(), "HEAD").unwrap();
        assert!(!head.tree.path().join("apps/gone.yaml").exists());
        assert_eq!(commits_between(d.path(), &base.sha, &head.sha).len(), 1);
        assert!(commits_between(d.path(), &head.sha, &base.sha).is_empty());
        assert!(contains(d.path(), &head.sha, &base.sha) && !contains(d.path(), &base.sha, &head.sha));
    }

    #[test]
    fn unknown_revision_and_non_repo_are_named() {
        let d = repo_with_history();
        let e = resolve(d.path(), "no-such-branch").unwrap_err();
        assert!(matches!(e, GitError::UnknownRevision { .. }) && e.to_string().contains("no-such-branch"), "{e}");
        let plain = tempfile::tempdir().unwrap();
        let e = resolve(plain.path(), "main").unwrap_err();
        assert!(matches!(e, GitError::NotARepo(_)) && e.to_string().contains("not a git repository"), "{e}");
    }
}
