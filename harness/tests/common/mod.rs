//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod sim;

use std::path::PathBuf;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `shared/reference`: `$GITOPS_HARNESS_SHARED`, else beside the workspace (as CI lays it out),
/// else `/work/shared/reference`. Panics with what to do when it is nowhere: these tests prove
/// the harness against the real upstream repositories and CRDs, so they must not pass without them.
pub fn shared_reference() -> PathBuf {
    let candidates = [
        std::env::var_os("GITOPS_HARNESS_SHARED").map(PathBuf::from),
        Some(workspace().join("../shared/reference")),
        Some(PathBuf::from("/work/shared/reference")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("crds").is_dir())
        .unwrap_or_else(|| panic!("shared/reference not found beside the workspace; set GITOPS_HARNESS_SHARED to its path"))
}

/// The real CRDs.
pub fn crds_dir() -> PathBuf {
    shared_reference().join("crds")
}

/// The fixtures directory.
pub fn fixtures() -> PathBuf {
    workspace().join("fixtures")
}

/// The CLI binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gitops-harness"))
}
