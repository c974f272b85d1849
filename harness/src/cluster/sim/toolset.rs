//! The sim tier's programs: versions pinned in `harness/sim-versions.env`, built by
//! `scripts/sim-tools.sh` into a cache outside the repo, and located here.

use std::path::{Path, PathBuf};

/// The pinned versions file, compiled in so the harness and the build script agree.
const VERSIONS_ENV: &str = include_str!("../../../sim-versions.env");

/// Environment variable that moves the tool cache.
pub const CACHE_ENV: &str = "GITOPS_HARNESS_SIM_CACHE";

/// A component of the sim tier, as the build script names its cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// etcd.
    Etcd,
    /// kube-apiserver, kube-controller-manager, kube-scheduler.
    Kubernetes,
    /// kwok (and its stages).
    Kwok,
    /// Flux source-controller (and its CRDs).
    SourceController,
    /// Flux kustomize-controller (and its CRDs).
    KustomizeController,
    /// Flux helm-controller (and its CRDs).
    HelmController,
    /// Flagger (and its CRDs).
    Flagger,
    /// cert-manager's controllers, through the launcher in `harness/sim-go/cert-manager`.
    CertManager,
}

impl Component {
    /// Every component, in build order.
    pub const ALL: [Component; 8] = [
        Component::Etcd,
        Component::Kubernetes,
        Component::Kwok,
        Component::SourceController,
        Component::KustomizeController,
        Component::HelmController,
        Component::Flagger,
        Component::CertManager,
    ];

    /// Cache entry name (without the version).
    pub fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::Kubernetes => "kubernetes",
            Component::Kwok => "kwok",
            Component::SourceController => "source-controller",
            Component::KustomizeController => "kustomize-controller",
            Component::HelmController => "helm-controller",
            Component::Flagger => "flagger",
            Component::CertManager => "cert-manager",
        }
    }

    fn version_key(self) -> &'static str {
        match self {
            Component::Etcd => "ETCD_VERSION",
            Component::Kubernetes => "KUBERNETES_VERSION",
            Component::Kwok => "KWOK_VERSION",
            Component::SourceController => "SOURCE_CONTROLLER_VERSION",
            Component::KustomizeController => "KUSTOMIZE_CONTROLLER_VERSION",
            Component::HelmController => "HELM_CONTROLLER_VERSION",
            Component::Flagger => "FLAGGER_VERSION",
            Component::CertManager => "CERT_MANAGER_VERSION",
        }
    }

    /// The pinned version.
    pub fn version(self) -> &'static str {
        version_of(self.version_key()).unwrap_or("unknown")
    }

    /// Its cache entry, `<name>-<version>` (what `scripts/sim-tools.sh` creates). A program
    /// built from this repository's own Go source (the cert-manager launcher) also carries a
    /// key of that source, so a changed launcher is rebuilt rather than found stale.
    pub fn entry(self) -> String {
        match self {
            Component::CertManager => format!("{}-{}-launcher-{}", self.name(), self.version(), super::cert_manager::launcher_key()),
            _ => format!("{}-{}", self.name(), self.version()),
        }
    }
}

/// A value from the pinned versions file.
pub fn version_of(key: &str) -> Option<&'static str> {
    VERSIONS_ENV.lines().map(str::trim).filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// The Kubernetes version sim runs (e.g. `v1.35.4`).
pub fn kubernetes_version() -> &'static str {
    Component::Kubernetes.version()
}

/// The tool cache: `$GITOPS_HARNESS_SIM_CACHE`, else `$XDG_CACHE_HOME/gitops-harness/sim`,
/// else `~/.cache/gitops-harness/sim` (the same rule as `scripts/sim-tools.sh`).
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os(CACHE_ENV) {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir).join(".cache"));
    base.join("gitops-harness/sim")
}

/// Errors locating the sim tools.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ToolsetError {
    /// Go is not installed, and tools are missing.
    #[error(
        "the sim backend's programs are not built ({missing}) and Go is not installed to build them; install Go {go} or newer (https://go.dev/doc/install), then run `scripts/sim-tools.sh` (about 20-40 min once on 2 cores; cached in {cache})"
    )]
    GoMissing {
        /// Components missing.
        missing: String,
        /// Minimum Go version.
        go: String,
        /// Cache directory.
        cache: String,
    },
    /// Tools are missing but can be built.
    #[error(
        "the sim backend's programs are not built yet ({missing} missing in {cache}); run `scripts/sim-tools.sh` (Go builds them once, about 20-40 min on 2 cores, then they are cached)"
    )]
    NotBuilt {
        /// Components missing.
        missing: String,
        /// Cache directory.
        cache: String,
    },
}

/// The located programs and data of the sim tier.
#[derive(Debug, Clone)]
pub struct Toolset {
    root: PathBuf,
    /// Whether Flagger was built.
    pub has_flagger: bool,
}

impl Toolset {
    /// Locate the tools in the cache; every component is required.
    pub fn locate() -> Result<Toolset, ToolsetError> {
        Self::locate_in(&cache_dir())
    }

    /// Locate the tools under `root`.
    pub fn locate_in(root: &Path) -> Result<Toolset, ToolsetError> {
        let missing: Vec<&str> =
            Component::ALL.iter().filter(|c| !root.join(c.entry()).join(".complete").is_file()).map(|c| c.name()).collect();
        if !missing.is_empty() {
            let missing = missing.join(", ");
            let cache = root.display().to_string();
            return Err(if go_available() {
                ToolsetError::NotBuilt { missing, cache }
            } else {
                ToolsetError::GoMissing { missing, go: version_of("GO_MIN").unwrap_or("1.26").to_string(), cache }
            });
        }
        let has_flagger = root.join(Component::Flagger.entry()).join(".complete").is_file();
        Ok(Toolset { root: root.to_path_buf(), has_flagger })
    }

    /// A toolset rooted anywhere, for tests of command lines.
    #[cfg(test)]
    pub fn for_tests(root: &Path) -> Toolset {
        Toolset { root: root.to_path_buf(), has_flagger: false }
    }

    /// Directory of a component's cache entry.
    pub fn dir(&self, c: Component) -> PathBuf {
        self.root.join(c.entry())
    }

    /// A program of a component.
    pub fn bin(&self, c: Component, program: &str) -> PathBuf {
        self.dir(c).join("bin").join(program)
    }

    /// kwok's stage files.
    pub fn kwok_stages(&self) -> Vec<PathBuf> {
        yaml_files(&self.dir(Component::Kwok).join("stages"))
    }

    /// The CRDs a component ships (Flux controllers, Flagger, cert-manager).
    pub fn crds(&self, c: Component) -> Vec<PathBuf> {
        yaml_files(&self.dir(c).join("crds"))
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Whether a `go` command is on PATH.
pub fn go_available() -> bool {
    crate::tools::on_path("go").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_pinned() {
        for c in Component::ALL {
            assert!(c.version().starts_with('v'), "{} has version {}", c.name(), c.version());
        }
        assert!(kubernetes_version().starts_with("v1."));
    }

    #[test]
    fn an_empty_cache_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = Toolset::locate_in(dir.path()).unwrap_err().to_string();
        assert!(err.contains("etcd, kubernetes, kwok"), "{err}");
        assert!(err.contains("scripts/sim-tools.sh"), "{err}");
    }
}
