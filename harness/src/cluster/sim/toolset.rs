//! The sim tier's programs: versions pinned in `harness/sim-versions.env`, built by
//! `scripts/sim-tools.sh` into a cache outside the repo, and located here.
//!
//! A component's cache entry is `<name>-<version>-<key>`, where the key is a hash of the build
//! script, the component's lines in `sim-versions.env` (version, substitutions, build metadata),
//! its committed wrapper module (`harness/sim-go/<name>/go.mod`, `go.sum`) and the Go version.
//! The script and this module build the same key text ([`Component::key_text`]); a test holds
//! them in step.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The pinned versions file, compiled in so the harness and the build script agree.
const VERSIONS_ENV: &str = include_str!("../../../sim-versions.env");
/// The build script: part of every cache key.
const BUILD_SCRIPT: &str = include_str!("../../../../scripts/sim-tools.sh");

/// The committed wrapper modules (`harness/sim-go/<name>/`): `(name, [(file, contents)])`, files in
/// byte order of their names, as the script lists them (the cert-manager launcher's Go source too).
const WRAPPERS: [(&str, &[(&str, &str)]); 6] = [
    ("etcd", &[("go.mod", include_str!("../../../sim-go/etcd/go.mod")), ("go.sum", include_str!("../../../sim-go/etcd/go.sum"))]),
    (
        "kubernetes",
        &[("go.mod", include_str!("../../../sim-go/kubernetes/go.mod")), ("go.sum", include_str!("../../../sim-go/kubernetes/go.sum"))],
    ),
    (
        "source-controller",
        &[
            ("go.mod", include_str!("../../../sim-go/source-controller/go.mod")),
            ("go.sum", include_str!("../../../sim-go/source-controller/go.sum")),
        ],
    ),
    (
        "kustomize-controller",
        &[
            ("go.mod", include_str!("../../../sim-go/kustomize-controller/go.mod")),
            ("go.sum", include_str!("../../../sim-go/kustomize-controller/go.sum")),
        ],
    ),
    (
        "helm-controller",
        &[
            ("go.mod", include_str!("../../../sim-go/helm-controller/go.mod")),
            ("go.sum", include_str!("../../../sim-go/helm-controller/go.sum")),
        ],
    ),
    (
        "cert-manager",
        &[
            ("go.mod", include_str!("../../../sim-go/cert-manager/go.mod")),
            ("go.sum", include_str!("../../../sim-go/cert-manager/go.sum")),
            ("main.go", include_str!("../../../sim-go/cert-manager/main.go")),
            ("options.go", include_str!("../../../sim-go/cert-manager/options.go")),
            ("run.go", include_str!("../../../sim-go/cert-manager/run.go")),
        ],
    ),
];

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

    /// Prefix of its lines in `sim-versions.env` (`SOURCE_CONTROLLER` for source-controller).
    fn prefix(self) -> String {
        self.name().to_ascii_uppercase().replace('-', "_")
    }

    /// The pinned version.
    pub fn version(self) -> &'static str {
        version_of(&format!("{}_VERSION", self.prefix())).unwrap_or("unknown")
    }

    /// The substitutions pinned for it (`<PREFIX>_SUBSTITUTIONS`): what it is built with instead
    /// of dependencies the module proxy refuses.
    pub fn substitutions(self) -> Vec<Substitution> {
        version_of(&format!("{}_SUBSTITUTIONS", self.prefix()))
            .map(|v| v.split_whitespace().filter_map(Substitution::parse).collect())
            .unwrap_or_default()
    }

    /// Its lines of `sim-versions.env` (`<PREFIX>_…=…`, as written), the way the script greps them.
    fn settings(self) -> Vec<&'static str> {
        let prefix = format!("{}_", self.prefix());
        VERSIONS_ENV
            .lines()
            .filter(|l| {
                l.strip_prefix(&prefix)
                    .and_then(|rest| rest.split_once('='))
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            })
            .collect()
    }

    /// Its committed wrapper module files, `(relative path, contents)`.
    fn wrapper_files(self) -> Vec<(String, &'static str)> {
        WRAPPERS
            .iter()
            .filter(|(n, _)| *n == self.name())
            .flat_map(|(n, files)| files.iter().map(move |(f, contents)| (format!("sim-go/{n}/{f}"), *contents)))
            .collect()
    }

    /// What its cache key covers, as text (byte for byte what `scripts/sim-tools.sh` hashes).
    pub fn key_text(self, go_version: &str) -> String {
        let mut text = String::from("gitops-harness sim-tools cache key 1\n");
        text.push_str(&format!("script {}\n", sha256_hex(BUILD_SCRIPT.as_bytes())));
        for line in self.settings() {
            text.push_str(line);
            text.push('\n');
        }
        for (path, contents) in self.wrapper_files() {
            text.push_str(&format!("{path} {}\n", sha256_hex(contents.as_bytes())));
        }
        text.push_str(&format!("go {go_version}\n"));
        text
    }

    /// Its cache key with this Go (`go1.26.8`): 12 hex digits.
    pub fn key(self, go_version: &str) -> String {
        sha256_hex(self.key_text(go_version).as_bytes())[..12].to_string()
    }

    /// Its cache entry built with this Go: `<name>-<version>-<key>`.
    pub fn entry_for(self, go_version: &str) -> String {
        format!("{}-{}-{}", self.name(), self.version(), self.key(go_version))
    }

    /// Its cache entry for the Go on PATH (`<name>-<version>-<key>`, what `scripts/sim-tools.sh`
    /// creates); without Go, the entry [`Toolset::locate`] would find.
    pub fn entry(self) -> String {
        match go_version() {
            Some(go) => self.entry_for(go),
            None => find_entry(&cache_dir(), self, None)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| format!("{}-{}", self.name(), self.version())),
        }
    }
}

/// A pinned substitution: a dependency the module proxy refuses, and what is built instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    /// The refused module.
    pub module: String,
    /// The refused version.
    pub version: String,
    /// What is used instead.
    pub with: SubstituteWith,
}

/// What a refused dependency is replaced with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubstituteWith {
    /// The same module at this version.
    Version(String),
    /// The refused module is a fork another module is replaced with: the replace is dropped and
    /// the upstream module is used at the version the release requires.
    DropReplace,
}

impl Substitution {
    /// Parse `MODULE@VERSION=>WITH` (the `sim-versions.env` form).
    pub fn parse(entry: &str) -> Option<Substitution> {
        let (refused, with) = entry.split_once("=>")?;
        let (module, version) = refused.rsplit_once('@')?;
        let with = match with {
            "drop-replace" => SubstituteWith::DropReplace,
            v if v.starts_with('v') => SubstituteWith::Version(v.to_string()),
            _ => return None,
        };
        Some(Substitution { module: module.to_string(), version: version.to_string(), with })
    }
}

/// One line, the same words `scripts/sim-tools.sh` records in the entry's `substitutions.txt`.
impl std::fmt::Display for Substitution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.with {
            SubstituteWith::Version(v) => write!(f, "{} {v} instead of {} (not served)", self.module, self.version),
            SubstituteWith::DropReplace => write!(
                f,
                "{}@{} is not served: its replace is dropped, the upstream module is used at the version go.mod requires (not the released build)",
                self.module, self.version
            ),
        }
    }
}

/// Sentences saying where the sim tier's programs differ from the released ones (one per pinned
/// substitution), for `up` and `sim tools` to print.
pub fn release_differences() -> Vec<String> {
    let mut out: Vec<String> = helm_fork_note().into_iter().collect();
    for c in Component::ALL {
        for s in c.substitutions() {
            if let SubstituteWith::Version(v) = &s.with {
                out.push(format!(
                    "{} {} is built with {} {v} instead of {} (the module proxy refuses that version)",
                    c.name(),
                    c.version(),
                    s.module,
                    s.version
                ));
            }
        }
    }
    out
}

/// When helm-controller is built without Flux's helm fork (the module proxy refuses it), a
/// sentence saying so: it is then not the released helm-controller.
pub fn helm_fork_note() -> Option<String> {
    let c = Component::HelmController;
    let fork = c.substitutions().into_iter().find(|s| s.with == SubstituteWith::DropReplace)?;
    let helm = WRAPPERS
        .iter()
        .find(|(n, _)| *n == c.name())
        .and_then(|(_, files)| files.iter().find(|(f, _)| *f == "go.mod"))
        .and_then(|(_, gomod)| required_version(gomod, "helm.sh/helm/v4"))
        .map(|v| format!("helm.sh/helm/v4 {v}"))
        .unwrap_or_else(|| "upstream Helm".to_string());
    Some(format!(
        "helm-controller {} is built without Flux's helm fork ({}@{}, which the module proxy refuses) but with {helm}: it is not the released helm-controller, and what the fork changes in Helm is missing",
        c.version(),
        fork.module,
        fork.version
    ))
}

/// The version a go.mod requires of a module (`require` lines, single or in blocks).
fn required_version(gomod: &str, module: &str) -> Option<String> {
    gomod.lines().find_map(|l| {
        let l = l.trim().trim_start_matches("require").trim();
        let mut words = l.split_whitespace();
        (words.next()? == module).then(|| words.next().map(str::to_string))?
    })
}

/// A value from the pinned versions file (surrounding double quotes removed).
pub fn version_of(key: &str) -> Option<&'static str> {
    VERSIONS_ENV.lines().map(str::trim).filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
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

/// The Go on PATH (`go env GOVERSION`, e.g. `go1.26.8`), asked once, as the script asks it: from
/// `/` with `GOTOOLCHAIN=local`, so no go.mod around selects another toolchain.
pub fn go_version() -> Option<&'static str> {
    static GO: OnceLock<Option<String>> = OnceLock::new();
    GO.get_or_init(|| {
        let go = crate::tools::on_path("go")?;
        let out = std::process::Command::new(go)
            .args(["env", "GOVERSION"])
            .current_dir("/")
            .env("GOTOOLCHAIN", "local")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && v.starts_with("go")).then_some(v)
    })
    .as_deref()
}

/// Find a component's complete entry under `root`: with a Go version, exactly its key; without
/// one (Go not installed), an entry whose recorded `key.txt` matches every input but Go.
fn find_entry(root: &Path, c: Component, go: Option<&str>) -> Result<PathBuf, Vec<PathBuf>> {
    if let Some(go) = go {
        let dir = root.join(c.entry_for(go));
        return if dir.join(".complete").is_file() { Ok(dir) } else { Err(other_entries(root, c, &dir)) };
    }
    let candidates = other_entries(root, c, Path::new(""));
    candidates
        .iter()
        .find(|dir| {
            let Ok(text) = std::fs::read_to_string(dir.join("key.txt")) else { return false };
            let go = text.lines().find_map(|l| l.strip_prefix("go ")).unwrap_or_default();
            text == c.key_text(go)
        })
        .cloned()
        .ok_or(candidates)
}

/// Complete entries of this component and version other than `except` (built from other inputs).
fn other_entries(root: &Path, c: Component, except: &Path) -> Vec<PathBuf> {
    let prefix = format!("{}-{}", c.name(), c.version());
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    (name == prefix || name.starts_with(&format!("{prefix}-"))) && p != except && p.join(".complete").is_file()
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Errors locating the sim tools.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ToolsetError {
    /// Go is not installed, and tools are missing.
    #[error(
        "the sim backend's programs are not built ({missing}) and Go is not installed to build them; install Go {go} or newer (https://go.dev/doc/install), then run `scripts/sim-tools.sh` (about 20-40 min once on 2 cores; cached in {cache}){stale}"
    )]
    GoMissing {
        /// Components missing.
        missing: String,
        /// Minimum Go version.
        go: String,
        /// Cache directory.
        cache: String,
        /// Entries built from other inputs, if any (with a leading `; `).
        stale: String,
    },
    /// Tools are missing but can be built.
    #[error(
        "the sim backend's programs are not built yet ({missing} missing in {cache}); run `scripts/sim-tools.sh` (Go builds them once, about 20-40 min on 2 cores, then they are cached){stale}"
    )]
    NotBuilt {
        /// Components missing.
        missing: String,
        /// Cache directory.
        cache: String,
        /// Entries built from other inputs, if any (with a leading `; `).
        stale: String,
    },
}

/// The located programs and data of the sim tier.
#[derive(Debug, Clone)]
pub struct Toolset {
    root: PathBuf,
    /// Each component's entry directory, in [`Component::ALL`] order.
    dirs: Vec<PathBuf>,
    /// Whether Flagger was built.
    pub has_flagger: bool,
}

impl Toolset {
    /// Locate the tools in the cache; every component is required.
    pub fn locate() -> Result<Toolset, ToolsetError> {
        Self::locate_in(&cache_dir())
    }

    /// Locate the tools under `root`, for the Go on PATH.
    pub fn locate_in(root: &Path) -> Result<Toolset, ToolsetError> {
        Self::locate_with(root, go_version())
    }

    /// Locate the tools under `root` built with `go` (`None`: Go is not installed).
    pub fn locate_with(root: &Path, go: Option<&str>) -> Result<Toolset, ToolsetError> {
        let mut dirs = Vec::new();
        let mut missing = Vec::new();
        let mut stale = Vec::new();
        for c in Component::ALL {
            match find_entry(root, c, go) {
                Ok(dir) => dirs.push(dir),
                Err(others) => {
                    missing.push(c.name());
                    stale.extend(others);
                }
            }
        }
        if !missing.is_empty() {
            let missing = missing.join(", ");
            let cache = root.display().to_string();
            let stale = if stale.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = stale.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
                format!(
                    "; {} built from other inputs (the build script, its lines in harness/sim-versions.env, its harness/sim-go module or Go changed since)",
                    names.join(", ")
                )
            };
            return Err(if go.is_some() {
                ToolsetError::NotBuilt { missing, cache, stale }
            } else {
                ToolsetError::GoMissing { missing, go: version_of("GO_MIN").unwrap_or("1.26").to_string(), cache, stale }
            });
        }
        Ok(Toolset { root: root.to_path_buf(), dirs, has_flagger: true })
    }

    /// A toolset rooted anywhere, for tests of command lines.
    #[cfg(test)]
    pub fn for_tests(root: &Path) -> Toolset {
        let dirs = Component::ALL.iter().map(|c| root.join(format!("{}-{}", c.name(), c.version()))).collect();
        Toolset { root: root.to_path_buf(), dirs, has_flagger: false }
    }

    /// The cache it was found in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of a component's cache entry.
    pub fn dir(&self, c: Component) -> PathBuf {
        let i = Component::ALL.iter().position(|x| *x == c).unwrap_or(0);
        self.dirs.get(i).cloned().unwrap_or_else(|| self.root.join(c.entry()))
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

/// What a built entry records (read by `sim tools`).
#[derive(Debug, Clone, Default)]
pub struct EntryRecord {
    /// Build time in seconds.
    pub build_seconds: Option<u64>,
    /// The substitutions it was built with, as the script recorded them (one line each).
    pub substitutions: Vec<String>,
    /// The Go that built it (from its `key.txt`).
    pub go: Option<String>,
}

impl EntryRecord {
    /// Read an entry directory's records.
    pub fn read(dir: &Path) -> EntryRecord {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        EntryRecord {
            build_seconds: read("build-seconds").and_then(|s| s.trim().parse().ok()),
            substitutions: read("substitutions.txt")
                .map(|s| s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
                .unwrap_or_default(),
            go: read("key.txt").and_then(|t| t.lines().find_map(|l| l.strip_prefix("go ")).map(str::to_string)),
        }
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a `go` command is on PATH.
pub fn go_available() -> bool {
    crate::tools::on_path("go").is_some()
}

#[cfg(test)]
mod tests;
