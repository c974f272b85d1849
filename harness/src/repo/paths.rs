//! Paths inside the repository: lexical normalisation, the root confinement kustomize-controller
//! enforces (its secure filesystem refuses anything "not in or below" the source root, symlinks
//! included), and the choice of the cluster directory.

use std::path::{Component, Path, PathBuf};

use super::issues::RepoError;

/// Lexically normalise a relative path (`a/./b/../c` → `a/c`); a leading `..` that climbs above
/// the start is kept, so callers can see the escape.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.last(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

/// Where a reference written in the repo leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Inside the root: the path relative to it (it may not exist).
    Inside(PathBuf),
    /// Outside the root: where it leads (absolute).
    Outside(PathBuf),
}

/// Resolve `entry` (as written in a file of `base_dir`, both relative to `root`) the way
/// kustomize-controller's secure filesystem would: absolute paths, `..` above the root and
/// symlinks whose target is outside the root are refused.
pub fn resolve(root: &Path, base_dir: &Path, entry: &str) -> Resolved {
    let written = Path::new(entry);
    if written.is_absolute() {
        return Resolved::Outside(written.to_path_buf());
    }
    let rel = normalize(&base_dir.join(written));
    if rel.is_absolute() || matches!(rel.components().next(), Some(Component::ParentDir)) {
        return Resolved::Outside(normalize(&root.join(&rel)));
    }
    confine(root, rel)
}

/// Check that an in-repo relative path does not leave the root through a symlink.
pub fn confine(root: &Path, rel: PathBuf) -> Resolved {
    match std::fs::canonicalize(root.join(&rel)) {
        Ok(real) if !real.starts_with(root) => Resolved::Outside(real),
        _ => Resolved::Inside(rel),
    }
}

/// The cluster directory, relative to `root` (canonical): the one asked for, else the only
/// directory under `clusters/`, else the root.
pub fn cluster_dir(root: &Path, asked: Option<&Path>) -> Result<PathBuf, RepoError> {
    let Some(d) = asked else { return default_cluster_dir(root) };
    let outside = || RepoError::ClusterDirOutside { root: root.to_path_buf(), dir: d.to_path_buf(), choices: cluster_choices(root) };
    let rel = if d.is_absolute() {
        // Compare real paths: the root is canonical, the argument may hold symlinks.
        let real = std::fs::canonicalize(d).unwrap_or_else(|_| normalize(d));
        real.strip_prefix(root).map(Path::to_path_buf).map_err(|_| outside())?
    } else {
        normalize(d)
    };
    let rel = match resolve(root, Path::new(""), &rel.to_string_lossy()) {
        Resolved::Inside(rel) => rel,
        Resolved::Outside(_) => return Err(outside()),
    };
    if !root.join(&rel).is_dir() {
        return Err(RepoError::NoClusterDir { root: root.to_path_buf(), dir: rel, choices: cluster_choices(root) });
    }
    Ok(rel)
}

/// Like [`cluster_dir`]; without one asked for and without a `clusters/` directory, the one
/// directory FluxInstances of the repository sync (`synced`), when it exists.
pub fn cluster_dir_or_synced(root: &Path, asked: Option<&Path>, synced: &[PathBuf]) -> Result<PathBuf, RepoError> {
    if asked.is_none() && cluster_dirs(root).is_empty() {
        let mut dirs: Vec<&PathBuf> = synced.iter().filter(|d| !d.as_os_str().is_empty() && root.join(d).is_dir()).collect();
        dirs.sort();
        dirs.dedup();
        if let [only] = dirs.as_slice()
            && matches!(resolve(root, Path::new(""), &only.to_string_lossy()), Resolved::Inside(_))
        {
            return Ok((*only).clone());
        }
    }
    cluster_dir(root, asked)
}

fn cluster_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("clusters"))
        .map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| PathBuf::from("clusters").join(e.file_name())).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// The candidate cluster directories, for error messages.
pub fn cluster_choices(root: &Path) -> String {
    let dirs = cluster_dirs(root);
    if dirs.is_empty() {
        "(no clusters/ directory; use .)".to_string()
    } else {
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    }
}

fn default_cluster_dir(root: &Path) -> Result<PathBuf, RepoError> {
    let dirs = cluster_dirs(root);
    match dirs.as_slice() {
        [only] => Ok(only.clone()),
        [] => Ok(PathBuf::new()),
        _ => Err(RepoError::AmbiguousClusterDir { root: root.to_path_buf(), choices: cluster_choices(root) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize(Path::new("./a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
    }

    #[test]
    fn refuses_what_climbs_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("a/out")).unwrap();
        assert_eq!(resolve(&root, Path::new("a/b"), "../c"), Resolved::Inside(PathBuf::from("a/c")));
        assert!(matches!(resolve(&root, Path::new("a/b"), "../../../x"), Resolved::Outside(_)));
        assert_eq!(resolve(&root, Path::new("a"), "/etc/passwd"), Resolved::Outside(PathBuf::from("/etc/passwd")));
        assert!(matches!(resolve(&root, Path::new("a"), "out/passwd"), Resolved::Outside(p) if p.starts_with("/etc")));
        assert!(matches!(cluster_dir(&root, Some(Path::new("../x"))), Err(RepoError::ClusterDirOutside { .. })));
        assert!(matches!(cluster_dir(&root, Some(Path::new("/etc"))), Err(RepoError::ClusterDirOutside { .. })));
        assert_eq!(cluster_dir(&root, Some(&root.join("a/b"))).unwrap(), PathBuf::from("a/b"));
    }
}
