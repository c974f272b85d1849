//! Working copies the harness commits to: any git working copy ([`GitDir`]) and the served copy
//! the harness owns ([`ServedRepo`]: a copy of the user's repository, never the repository
//! itself). Both commit with one semantics: stage everything, commit when something changed,
//! return HEAD.

use std::path::{Path, PathBuf};

use super::{GitError, run_text};

/// A git working copy the harness may commit to.
pub trait WorkingCopy {
    /// Root of the working tree.
    fn root(&self) -> &Path;
    /// Stage everything and commit when something changed; returns HEAD afterwards.
    fn commit_all(&self, message: &str) -> Result<String, GitError>;
    /// Branch Flux follows (e.g. `main`).
    fn branch(&self) -> String;
}

/// A git working copy driven through the `git` CLI, on its current branch.
#[derive(Debug, Clone)]
pub struct GitDir {
    root: PathBuf,
    branch: String,
}

impl GitDir {
    /// Open an existing working copy on its current branch.
    pub fn open(root: &Path) -> Result<GitDir, GitError> {
        let branch = run_text(root, &["rev-parse", "--abbrev-ref", "HEAD"])?;
        Ok(GitDir { root: root.to_path_buf(), branch })
    }

    /// Root of the working tree.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Current HEAD sha.
    pub fn head(&self) -> Result<String, GitError> {
        run_text(&self.root, &["rev-parse", "HEAD"])
    }

    /// `git show` of a commit as a patch (for checking minimal diffs).
    pub fn show(&self, sha: &str) -> Result<String, GitError> {
        run_text(&self.root, &["show", "--format=", "--no-color", sha])
    }

    /// The files a commit changed, as `git show --name-status` lists them.
    pub fn changed_files(&self, sha: &str) -> Result<Vec<String>, GitError> {
        Ok(run_text(&self.root, &["show", "--format=", "--name-status", sha])?.lines().map(str::to_string).collect())
    }

    /// Write a file (path relative to the root) into the working tree; commit separately.
    pub fn write_file(&self, rel: &Path, contents: &[u8]) -> Result<(), GitError> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| GitError::io(parent, e))?;
        }
        super::write_atomic(&path, contents).map_err(|e| GitError::io(&path, e))
    }

    /// Stage everything and commit when something changed (as the harness, without hooks);
    /// returns HEAD afterwards (the old one when nothing changed).
    pub fn commit_all(&self, message: &str) -> Result<String, GitError> {
        run_text(&self.root, &["add", "-A"])?;
        if !run_text(&self.root, &["status", "--porcelain"])?.is_empty() {
            run_text(
                &self.root,
                &[
                    "-c",
                    "user.name=gitops-harness",
                    "-c",
                    "user.email=gitops-harness@localhost",
                    "commit",
                    "--quiet",
                    "--no-verify",
                    "-m",
                    message,
                ],
            )?;
        }
        self.head()
    }

    /// Hold the working copy's commit lock (`.git/gitops-harness.lock`) while the guard lives:
    /// writers in other processes (parallel scenarios) edit, stage and commit one at a time, so
    /// none loses another's edit of a shared file or commits it under its own message. `None`
    /// when the root has no `.git` directory (a worktree or a bare path: no lock to share).
    pub fn commit_lock(root: &Path) -> Result<Option<nix::fcntl::Flock<std::fs::File>>, GitError> {
        let git_dir = root.join(".git");
        if !git_dir.is_dir() {
            return Ok(None);
        }
        let path = git_dir.join("gitops-harness.lock");
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| GitError::io(&path, e))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map(Some).map_err(|(_, e)| GitError::io(&path, e.into()))
    }
}

impl WorkingCopy for GitDir {
    fn root(&self) -> &Path {
        &self.root
    }
    fn commit_all(&self, message: &str) -> Result<String, GitError> {
        GitDir::commit_all(self, message)
    }
    fn branch(&self) -> String {
        self.branch.clone()
    }
}

/// The working copy the harness owns and serves: a copy of the user's repo on branch `main`.
#[derive(Debug, Clone)]
pub struct ServedRepo {
    copy: GitDir,
}

/// Copy a repository tree (without `.git`, `target`, `.tools`; symlinks kept as links).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), GitError> {
    for entry in walkdir::WalkDir::new(src).into_iter().filter_entry(|e| {
        let n = e.file_name().to_string_lossy();
        !(e.depth() > 0 && (n == ".git" || n == "target" || n == ".tools"))
    }) {
        let entry = entry.map_err(|e| GitError::io(src, e.into()))?;
        let rel = entry.path().strip_prefix(src).unwrap_or(entry.path());
        let to = dst.join(rel);
        let copied = if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to)
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &to).map(|_| ())
        } else if entry.file_type().is_symlink() {
            std::fs::read_link(entry.path()).and_then(|target| std::os::unix::fs::symlink(target, &to))
        } else {
            Ok(())
        };
        copied.map_err(|e| GitError::io(&to, e))?;
    }
    Ok(())
}

impl ServedRepo {
    /// Copy `src` (without `.git`, `target`, `.tools`) into `dir` and commit it on `main`.
    pub fn prepare(src: &Path, dir: &Path) -> Result<ServedRepo, GitError> {
        if !src.is_dir() {
            return Err(GitError::NotADirectory(src.to_path_buf()));
        }
        std::fs::create_dir_all(dir).map_err(|e| GitError::io(dir, e))?;
        copy_tree(src, dir)?;
        // `init -b` needs git 2.28; pointing HEAD at the branch before the first commit works
        // with any git (and whatever init.defaultBranch says).
        run_text(dir, &["init", "--quiet"])?;
        run_text(dir, &["symbolic-ref", "HEAD", "refs/heads/main"])?;
        run_text(dir, &["config", "user.name", "gitops-harness"])?;
        run_text(dir, &["config", "user.email", "gitops-harness@localhost"])?;
        let repo = ServedRepo { copy: GitDir { root: dir.to_path_buf(), branch: "main".to_string() } };
        repo.commit_all(&format!("gitops-harness: initial import of {}", src.display()))?;
        Ok(repo)
    }

    /// Open a served copy prepared earlier (e.g. by `up`, from a suite process).
    pub fn open(dir: &Path) -> Result<ServedRepo, GitError> {
        Ok(ServedRepo { copy: GitDir::open(dir)? })
    }

    /// The working copy.
    pub fn path(&self) -> &Path {
        self.copy.path()
    }

    /// Branch Flux follows.
    pub fn branch(&self) -> &str {
        &self.copy.branch
    }

    /// Current commit.
    pub fn head(&self) -> Result<String, GitError> {
        self.copy.head()
    }

    /// The copy as a plain working copy (history, diffs).
    pub fn git(&self) -> &GitDir {
        &self.copy
    }

    /// Write a file (relative path) into the working copy; commit separately.
    pub fn write_file(&self, rel: &Path, contents: &[u8]) -> Result<(), GitError> {
        self.copy.write_file(rel, contents)
    }

    /// Stage everything and commit; returns the new HEAD (the old one when nothing changed).
    pub fn commit_all(&self, message: &str) -> Result<String, GitError> {
        self.copy.commit_all(message)
    }

    /// Make the working tree `target`'s tree, keeping the files `keep` (paths relative to the
    /// root: what the harness itself wrote) where `target` has none; commit separately.
    pub fn replace_tree(&self, target: &Path, keep: &[PathBuf]) -> Result<(), GitError> {
        let dir = self.path();
        let saved: Vec<(PathBuf, Vec<u8>)> = keep
            .iter()
            .filter(|f| !target.join(f).exists())
            .filter_map(|f| std::fs::read(dir.join(f)).ok().map(|b| (f.clone(), b)))
            .collect();
        // Everything but .git goes, then the target's files come in.
        for entry in std::fs::read_dir(dir).map_err(|e| GitError::io(dir, e))? {
            let entry = entry.map_err(|e| GitError::io(dir, e))?;
            if entry.file_name() == ".git" {
                continue;
            }
            let path = entry.path();
            let is_dir = entry.file_type().map_err(|e| GitError::io(&path, e))?.is_dir();
            let removed = if is_dir { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.map_err(|e| GitError::io(&path, e))?;
        }
        copy_tree(target, dir)?;
        for (rel, bytes) in saved {
            self.write_file(&rel, &bytes)?;
        }
        Ok(())
    }
}

impl WorkingCopy for ServedRepo {
    fn root(&self) -> &Path {
        self.path()
    }
    fn commit_all(&self, message: &str) -> Result<String, GitError> {
        self.copy.commit_all(message)
    }
    fn branch(&self) -> String {
        self.copy.branch.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One commit semantics for every copy: nothing changed, nothing committed, HEAD returned.
    #[test]
    fn commit_all_commits_only_changes() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("a.yaml"), "kind: X\n").unwrap();
        let dst = tempfile::tempdir().unwrap();
        let served = ServedRepo::prepare(src.path(), &dst.path().join("copy")).unwrap();
        let first = served.head().unwrap();
        assert_eq!(served.commit_all("nothing").unwrap(), first);
        served.write_file(Path::new("b/c.yaml"), b"kind: Y\n").unwrap();
        let second = served.commit_all("add c").unwrap();
        assert_ne!(second, first);
        assert_eq!(served.git().changed_files(&second).unwrap(), vec!["A\tb/c.yaml".to_string()]);
        let plain = GitDir::open(served.path()).unwrap();
        assert_eq!(WorkingCopy::commit_all(&plain, "again nothing").unwrap(), second);
    }
}
