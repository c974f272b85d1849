//! Publishing a revision through the harness git server as the next commit of the served copy,
//! the way a merge arrives: the served tree becomes the target revision's tree, plus only what
//! the harness itself wrote into the copy (its git server URL in `gotk-sync.yaml`, the Linkerd
//! trust anchor files it generated, as `up` records them).

use std::path::{Path, PathBuf};

use crate::bootstrap;
use crate::git::ServedRepo;

use super::UpgradeError;

/// What [`publish`] committed.
#[derive(Debug, Clone)]
pub struct Published {
    /// The new commit of the served copy (what Flux must apply).
    pub sha: String,
    /// Files changed by the commit, as `git show --name-status` names them.
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
    served.replace_tree(target, keep)?;
    bootstrap::write_gotk_sync(served, cluster_dir, git_url, served.branch()).map_err(UpgradeError::Bootstrap)?;
    let before = served.head()?;
    let sha = served.commit_all(message)?;
    let files = if sha == before { Vec::new() } else { served.git().changed_files(&sha)? };
    Ok(Published { sha, files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::revisions::resolve;

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
