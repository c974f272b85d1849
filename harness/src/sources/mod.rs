//! The source cassette: what a repository's external sources resolved to, recorded once (on a
//! machine with internet) and replayed offline, so the sim tier can run a repository that
//! installs charts from Helm and OCI repositories without a dial off the machine.
//!
//! - [`plan`]: which sources a bootstrap of a cluster directory fetches (HelmRepository indexes,
//!   the charts HelmReleases and HelmCharts ask for with their versions or ranges, `oci://`
//!   charts, OCIRepository artifacts, other GitRepositories, chart dependencies of charts in git);
//! - [`record`]: resolve each one as source-controller does (semver in [`semver`]) and store what
//!   it fetched in a [`Cassette`] (content-addressed, with a lock of URL, version and digest);
//! - [`coverage`]: whether a cassette answers everything a repository asks for, before anything
//!   starts;
//! - [`replay`]: answer HTTP requests from the cassette (Helm index and archives, the read side
//!   of the OCI distribution API, git smart HTTP); a miss is an immediate error naming the URL and
//!   the command that records it. The sim's egress gateway (`cluster::sim::gateway`) puts it in
//!   front of every sim process;
//! - [`charts`]: the cassette's charts as a [`crate::repo::ChartSource`] for `check` and `render`.

pub mod cassette;
pub mod charts;
pub mod coverage;
pub mod git;
pub mod helm_index;
pub mod oci;
pub mod plan;
pub mod record;
pub mod replay;
pub mod semver;

use std::path::PathBuf;

pub use cassette::{Cassette, LockedFile, LockedSource, SourceKind};
pub use plan::{Plan, Wanted};

/// Environment variable naming the default cassette directory.
pub const CASSETTE_ENV: &str = "GITOPS_HARNESS_CASSETTE";

/// The default cassette: `$GITOPS_HARNESS_CASSETTE`, else `~/.cache/gitops-harness/cassette`
/// (one cassette can hold several repositories' sources: blobs are shared by digest).
pub fn default_cassette_dir() -> PathBuf {
    if let Some(p) = std::env::var_os(CASSETTE_ENV) {
        return PathBuf::from(p);
    }
    crate::cluster::sim::toolset::cache_dir().parent().map(|p| p.join("cassette")).unwrap_or_else(|| PathBuf::from("cassette"))
}

/// The cassette to replay: `given`, else the default one ([`default_cassette_dir`]) when
/// `sources record` has written it; `None`: no cassette, every fetch is refused.
pub fn cassette_or_default(given: Option<&std::path::Path>) -> Option<PathBuf> {
    match given {
        Some(p) => Some(p.to_path_buf()),
        None => Some(default_cassette_dir()).filter(|d| d.join(cassette::LOCK_FILE).is_file()),
    }
}

/// The command that records a repository's sources into a cassette (for messages).
pub fn record_command(repo: &str, cluster_dir: &str, cassette: &std::path::Path) -> String {
    format!("gitops-harness sources record --repo {repo} --cluster-dir {cluster_dir} --cassette {}", cassette.display())
}

/// Errors of the sources module.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// No lock in the directory.
    #[error(
        "{dir} is not a source cassette (no cassette.lock); record one with `gitops-harness sources record --repo R --cluster-dir D --cassette {dir}`"
    )]
    NoCassette {
        /// Directory.
        dir: PathBuf,
    },
    /// The lock cannot be read.
    #[error("{path}: {message}")]
    BadLock {
        /// Lock file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A URL that cannot be used.
    #[error("{url}: {why}")]
    BadUrl {
        /// URL.
        url: String,
        /// Why.
        why: String,
    },
    /// Fetching from upstream failed.
    #[error("fetching {url}: {message}")]
    Fetch {
        /// URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// What was asked for does not exist upstream.
    #[error("{0}")]
    NotFound(String),
    /// A git command failed.
    #[error("git {args}: {message}")]
    Git {
        /// Arguments.
        args: String,
        /// git's message.
        message: String,
    },
}

/// A URL prefix fetched from elsewhere while recording: tests record from stand-ins on loopback
/// (`https://charts.jetstack.io=http://127.0.0.1:PORT/jetstack`); the cassette keeps the
/// original URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlOverride {
    /// Prefix as the repository writes it.
    pub from: String,
    /// Where to fetch it instead.
    pub to: String,
}

impl std::str::FromStr for UrlOverride {
    type Err = String;
    fn from_str(s: &str) -> Result<UrlOverride, String> {
        let (from, to) =
            s.split_once('=').ok_or_else(|| format!("`{s}`: expected FROM=TO, e.g. https://charts.jetstack.io=http://127.0.0.1:8080"))?;
        Ok(UrlOverride { from: from.trim_end_matches('/').to_string(), to: to.trim_end_matches('/').to_string() })
    }
}

/// Apply the first matching override to `url` (a prefix match at a path boundary).
pub fn apply_overrides(overrides: &[UrlOverride], url: &str) -> String {
    for o in overrides {
        if let Some(rest) = url.strip_prefix(&o.from)
            && (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') || rest.starts_with(':'))
        {
            return format!("{}{rest}", o.to);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_match_at_boundaries() {
        let o: Vec<UrlOverride> = vec!["https://ghcr.io=http://127.0.0.1:9/ghcr".parse().unwrap_or_else(|e: String| panic!("{e}"))];
        assert_eq!(apply_overrides(&o, "https://ghcr.io/v2/x"), "http://127.0.0.1:9/ghcr/v2/x");
        assert_eq!(apply_overrides(&o, "https://ghcr.io.evil/v2/x"), "https://ghcr.io.evil/v2/x");
    }
}
