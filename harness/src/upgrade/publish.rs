//! Revisions of the user's repository, and publishing one through the harness git server as the
//! next commit of the served copy, the way a merge arrives: the served tree becomes the target
//! revision's tree, plus only what the harness itself wrote into the copy (its git server URL in
//! `gotk-sync.yaml`, the Linkerd trust anchor files it generated, as `up` records them).

use std::path::{Path, PathBuf};

use crate::bootstrap;
use crate::drift::git_side;
use crate::gitserver::ServedRepo;

use super::UpgradeError;

/// A revision of the user's repository, resolved and exported (read-only) to a temp directory.
#[derive(Debug)]
pub struct Revision {
    /// What the user asked for (`main`, `HEAD~2`, a tag, a sha).
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

fn git(repo: &Path, args: &[&str]) -> Result<String, UpgradeError> {
    crate::git::run_text(repo, args).map_err(|e| UpgradeError::Git { repo: repo.to_path_buf(), message: e.to_string() })
}

/// Resolve `rev` in the git repository `repo` and export its tree.
pub fn resolve(repo: &Path, rev: &str) -> Result<Revision, UpgradeError> {
    if git(repo, &["rev-parse", "--git-dir"]).is_err() {
        return Err(UpgradeError::NotAGitRepo(repo.to_path_buf()));
    }
    let spec = format!("{rev}^{{commit}}");
    let sha = git(repo, &["rev-parse", "--verify", "--quiet", &spec])
        .map_err(|_| UpgradeError::UnknownRevision { repo: repo.to_path_buf(), rev: rev.to_string() })?;
    let subject = git(repo, &["log", "-1", "--format=%s", &sha])?;
    // `git archive` exports what the commit holds, not the working tree: uncommitted edits of
    // the user never leak into a rehearsal of two revisions.
    let tree = git_side::export_revision(repo, &sha).map_err(|e| UpgradeError::Git { repo: repo.to_path_buf(), message: e.to_string() })?;
    Ok(Revision { asked: rev.to_string(), sha, subject, tree })
}

/// The commits `from..to` (oldest first) as `sha subject` lines; empty when `to` is not a
/// descendant (a rehearsal may also go sideways or back).
pub fn commits_between(repo: &Path, from: &str, to: &str) -> Vec<String> {
    let range = format!("{from}..{to}");
    git(repo, &["log", "--reverse", "--format=%h %s", &range])
        .map(|t| t.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
        .unwrap_or_default()
}

/// What [`publish`] committed.
#[derive(Debug, Clone)]
pub struct Published {
    /// The new commit of the served copy (what Flux must apply).
    pub sha: String,
    /// Files changed by the commit, as `git show --stat` names them.
    pub files: Vec<String>,
}

/// Make the served copy's tree `target`'s tree (keeping `keep`, the harness's own files, where
/// the target has none), point `gotk-sync.yaml` at the harness git server again, and commit.
pub fn publish(
    served: &ServedRepo,
    target: &Path,
    keep: &[PathBuf],
    cluster_dir: &Path,
    git_url: &str,
    message: &str,
) -> Result<Published, UpgradeError> {
    let dir = served.path();
    let io = |path: &Path, source: std::io::Error| UpgradeError::Io { path: path.to_path_buf(), source };
    let saved: Vec<(PathBuf, Vec<u8>)> =
        keep.iter().filter(|f| !target.join(f).exists()).filter_map(|f| std::fs::read(dir.join(f)).ok().map(|b| (f.clone(), b))).collect();
    // Replace the tree: everything but .git goes, then the target's files come in.
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        if entry.file_name() == ".git" {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type().map_err(|e| io(&path, e))?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| io(&path, e))?;
    }
    crate::gitserver::copy_tree(target, dir).map_err(UpgradeError::Served)?;
    for (rel, bytes) in saved {
        served.write_file(&rel, &bytes).map_err(UpgradeError::Served)?;
    }
    bootstrap::write_gotk_sync(served, cluster_dir, git_url, served.branch()).map_err(UpgradeError::Bootstrap)?;
    let before = served.head().map_err(UpgradeError::Served)?;
    let sha = served.commit_all(message).map_err(UpgradeError::Served)?;
    let files = if sha == before {
        Vec::new()
    } else {
        git(dir, &["show", "--format=", "--name-status", &sha])?.lines().map(str::to_string).collect()
    };
    Ok(Published { sha, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        crate::git::run(dir, args).unwrap();
    }

    fn repo_with_history() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        run(p, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(p.join("apps")).unwrap();
        std::fs::write(p.join("apps/a.yaml"), "a: 1\n").unwrap();
        std::fs::write(p.join("apps/gone.yaml"), "g: 1\n").unwrap();
        run(p, &["add", "-A"]);
        run(p, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base"]);
        run(p, &["tag", "base"]);
        std::fs::write(p.join("apps/a.yaml"), "a: 2\n").unwrap();
        std::fs::remove_file(p.join("apps/gone.yaml")).unwrap();
        run(p, &["add", "-A"]);
        run(p, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "bump a"]);
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
    }

    #[test]
    fn unknown_revision_and_non_repo_are_named() {
        let d = repo_with_history();
        let e = resolve(d.path(), "no-such-branch").unwrap_err();
        assert!(e.to_string().contains("no-such-branch"), "{e}");
        let plain = tempfile::tempdir().unwrap();
        let e = resolve(plain.path(), "main").unwrap_err();
        assert!(matches!(e, UpgradeError::NotAGitRepo(_)), "{e}");
    }

    #[test]
    fn publish_replaces_the_tree_and_keeps_harness_files() {
        let d = repo_with_history();
        let base = resolve(d.path(), "base").unwrap();
        let head = resolve(d.path(), "HEAD").unwrap();
        let served_dir = tempfile::tempdir().unwrap();
        let served = ServedRepo::prepare(base.tree.path(), &served_dir.path().join("s")).unwrap();
        // What the harness adds to its copy (a generated trust anchor) survives the upgrade.
        served.write_file(Path::new("apps/ca.crt"), b"anchor").unwrap();
        served.commit_all("anchor").unwrap();
        let keep = vec![PathBuf::from("apps/ca.crt")];
        let p = publish(&served, head.tree.path(), &keep, Path::new("clusters/x"), "http://127.0.0.1:1/repo.git", "upgrade").unwrap();
        assert_eq!(std::fs::read_to_string(served.path().join("apps/a.yaml")).unwrap(), "a: 2\n");
        assert!(!served.path().join("apps/gone.yaml").exists());
        assert_eq!(std::fs::read(served.path().join("apps/ca.crt")).unwrap(), b"anchor");
        assert!(p.files.iter().any(|f| f.contains("apps/gone.yaml") && f.starts_with('D')), "{:?}", p.files);
        assert_eq!(p.sha, served.head().unwrap());
        // Publishing the same tree again commits nothing.
        let again = publish(&served, head.tree.path(), &keep, Path::new("clusters/x"), "http://x", "again").unwrap();
        assert!(again.files.is_empty());
    }
}
