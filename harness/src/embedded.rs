//! The gitops-linkerd repo bundled into the binary: what `check` and `up` use when given no path.

use std::path::Path;

/// Cluster directory of the embedded repo.
pub const DEFAULT_CLUSTER_DIR: &str = "clusters/my-cluster";
/// The cluster directory of the embedded repo for `--backend sim` (same apps, sim infrastructure).
pub const SIM_CLUSTER_DIR: &str = "clusters/sim";

static FILES: include_dir::Dir<'_> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/../fixtures/gitops-linkerd");

/// The embedded repo extracted into a temporary directory (removed on drop).
#[derive(Debug)]
pub struct EmbeddedRepo {
    /// The temporary directory.
    pub dir: tempfile::TempDir,
}

impl EmbeddedRepo {
    /// Root of the extracted repo.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Extract the embedded repo (marked with this process as its owner: `reap` removes an
/// extraction whose process was killed before it could).
pub fn default_repo() -> std::io::Result<EmbeddedRepo> {
    let dir = tempfile::Builder::new().prefix(crate::lifecycle::owner::EMBEDDED_PREFIX).tempdir()?;
    crate::lifecycle::owner::Owner::claim(dir.path())?;
    FILES.extract(dir.path())?;
    Ok(EmbeddedRepo { dir })
}

/// Relative paths of every embedded file (for tests).
pub fn files() -> Vec<std::path::PathBuf> {
    fn walk(d: &include_dir::Dir<'_>, out: &mut Vec<std::path::PathBuf>) {
        for f in d.files() {
            out.push(f.path().to_path_buf());
        }
        for sub in d.dirs() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&FILES, &mut out);
    out.sort();
    out
}
