//! Which Flux API versions each Flux release serves, deprecates or has removed.
//!
//! Sources of the mapping (recorded so it can be re-checked):
//! - Flux 2.0 release notes: `GitRepository` and `Kustomization` promoted to v1 (GA); their
//!   v1beta2 (and all v1beta1) deprecated.
//! - Flux 2.2 release notes: `HelmRelease` v2beta2 added, v2beta1 deprecated.
//! - Flux 2.3 release notes: `HelmRelease` v2 GA (v2beta1/v2beta2 deprecated); `HelmRepository`,
//!   `HelmChart`, `Bucket` v1 GA (their v1beta2 deprecated).
//! - Flux 2.6 release notes: `OCIRepository` v1 GA (v1beta2 deprecated).
//! - Flux 2.7 (fluxcd/flux2#5474, fluxcd/kustomize-controller#1494): every `v1beta1`/`v2beta1`
//!   API removed (source, kustomize, helm, image, notification).
//! - Flux 2.8 (fluxcd/flux2#5711; kustomize-controller#1584, helm-controller#1404,
//!   source-controller#1983): `kustomize v1beta2`, `helm v2beta2`, `source v1beta2` removed.
//! - Flux 2.9 ships kustomize-controller v1.9, source-controller v1.9, helm-controller v1.6: the
//!   CRDs under `shared/reference/crds` (a test checks this table's newest entry against them).

use std::fmt;

/// A Flux minor release, e.g. 2.7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FluxVersion {
    /// Major (2).
    pub major: u32,
    /// Minor.
    pub minor: u32,
}

impl fmt::Display for FluxVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The newest Flux release this table knows (the default target of `check`).
pub const LATEST: FluxVersion = FluxVersion { major: 2, minor: 9 };
/// The oldest Flux release this table knows.
pub const OLDEST: FluxVersion = FluxVersion { major: 2, minor: 0 };

/// Errors parsing a Flux version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FluxVersionError {
    /// Not of the form `2.N`.
    #[error("--flux-version {0:?} is not a Flux version: use MAJOR.MINOR, e.g. 2.7 (known: {OLDEST} to {LATEST})")]
    Invalid(String),
    /// Outside the table.
    #[error("Flux {0} is not in the API table (known: {OLDEST} to {LATEST}); pick one of those")]
    Unknown(FluxVersion),
}

impl std::str::FromStr for FluxVersion {
    type Err = FluxVersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('v');
        let mut parts = t.split('.');
        let major = parts.next().and_then(|p| p.parse().ok());
        let minor = parts.next().and_then(|p| p.parse().ok());
        match (major, minor) {
            (Some(major), Some(minor)) => {
                let v = FluxVersion { major, minor };
                if v < OLDEST || v > LATEST { Err(FluxVersionError::Unknown(v)) } else { Ok(v) }
            }
            _ => Err(FluxVersionError::Invalid(s.to_string())),
        }
    }
}

/// Lifecycle of one API version of one kind.
#[derive(Debug, Clone, Copy)]
struct ApiLifecycle {
    group: &'static str,
    version: &'static str,
    /// Kinds this row covers (`*` = every Flux kind of the group).
    kind: &'static str,
    deprecated_in: Option<FluxVersion>,
    removed_in: Option<FluxVersion>,
    /// What to use instead.
    replacement: &'static str,
}

const fn v(minor: u32) -> Option<FluxVersion> {
    Some(FluxVersion { major: 2, minor })
}

const TABLE: &[ApiLifecycle] = &[
    ApiLifecycle {
        group: "kustomize.toolkit.fluxcd.io",
        version: "v1beta1",
        kind: "*",
        deprecated_in: v(0),
        removed_in: v(7),
        replacement: "kustomize.toolkit.fluxcd.io/v1",
    },
    ApiLifecycle {
        group: "kustomize.toolkit.fluxcd.io",
        version: "v1beta2",
        kind: "*",
        deprecated_in: v(0),
        removed_in: v(8),
        replacement: "kustomize.toolkit.fluxcd.io/v1",
    },
    ApiLifecycle {
        group: "helm.toolkit.fluxcd.io",
        version: "v2beta1",
        kind: "*",
        deprecated_in: v(2),
        removed_in: v(7),
        replacement: "helm.toolkit.fluxcd.io/v2",
    },
    ApiLifecycle {
        group: "helm.toolkit.fluxcd.io",
        version: "v2beta2",
        kind: "*",
        deprecated_in: v(3),
        removed_in: v(8),
        replacement: "helm.toolkit.fluxcd.io/v2",
    },
    ApiLifecycle {
        group: "source.toolkit.fluxcd.io",
        version: "v1beta1",
        kind: "*",
        deprecated_in: v(0),
        removed_in: v(7),
        replacement: "source.toolkit.fluxcd.io/v1",
    },
    ApiLifecycle {
        group: "source.toolkit.fluxcd.io",
        version: "v1beta2",
        kind: "GitRepository",
        deprecated_in: v(0),
        removed_in: v(8),
        replacement: "source.toolkit.fluxcd.io/v1",
    },
    ApiLifecycle {
        group: "source.toolkit.fluxcd.io",
        version: "v1beta2",
        kind: "HelmRepository",
        deprecated_in: v(3),
        removed_in: v(8),
        replacement: "source.toolkit.fluxcd.io/v1",
    },
    ApiLifecycle {
        group: "source.toolkit.fluxcd.io",
        version: "v1beta2",
        kind: "HelmChart",
        deprecated_in: v(3),
        removed_in: v(8),
        replacement: "source.toolkit.fluxcd.io/v1",
    },
    ApiLifecycle {
        group: "source.toolkit.fluxcd.io",
        version: "v1beta2",
        kind: "Bucket",
        deprecated_in: v(3),
        removed_in: v(8),
        replacement: "source.toolkit.fluxcd.io/v1",
    },
    ApiLifecycle {
        group: "source.toolkit.fluxcd.io",
        version: "v1beta2",
        kind: "OCIRepository",
        deprecated_in: v(6),
        removed_in: v(8),
        replacement: "source.toolkit.fluxcd.io/v1",
    },
    ApiLifecycle {
        group: "notification.toolkit.fluxcd.io",
        version: "v1beta1",
        kind: "*",
        deprecated_in: v(1),
        removed_in: v(7),
        replacement: "notification.toolkit.fluxcd.io/v1beta3 (Alert, Provider) or v1 (Receiver)",
    },
    ApiLifecycle {
        group: "image.toolkit.fluxcd.io",
        version: "v1beta1",
        kind: "*",
        deprecated_in: v(0),
        removed_in: v(7),
        replacement: "image.toolkit.fluxcd.io/v1beta2",
    },
];

/// The status of an API version in a Flux release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiStatus {
    /// Served and not deprecated (or not a Flux API this table tracks).
    Current,
    /// Served but deprecated since the given release.
    Deprecated {
        /// Release that deprecated it.
        since: FluxVersion,
        /// Release that removes (or removed) it, if known.
        removed_in: Option<FluxVersion>,
        /// What to use instead.
        replacement: &'static str,
    },
    /// No longer served.
    Removed {
        /// Release that removed it.
        since: FluxVersion,
        /// What to use instead.
        replacement: &'static str,
    },
}

/// The status of `apiVersion`/`kind` in Flux `flux`.
pub fn status(api_version: &str, kind: &str, flux: FluxVersion) -> ApiStatus {
    let Some((group, version)) = api_version.rsplit_once('/') else { return ApiStatus::Current };
    let row = TABLE.iter().find(|r| r.group == group && r.version == version && (r.kind == kind || r.kind == "*"));
    let Some(row) = row else { return ApiStatus::Current };
    if let Some(removed) = row.removed_in
        && flux >= removed
    {
        return ApiStatus::Removed { since: removed, replacement: row.replacement };
    }
    match row.deprecated_in {
        Some(dep) if flux >= dep => ApiStatus::Deprecated { since: dep, removed_in: row.removed_in, replacement: row.replacement },
        _ => ApiStatus::Current,
    }
}

/// A Flux release the repository pins, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The release (clamped to the table: newer than [`LATEST`] is checked as [`LATEST`]).
    pub version: FluxVersion,
    /// The line that pins it.
    pub origin: crate::repo::Origin,
    /// What pins it (`gotk-components.yaml header v2.4.0`, `kustomize-controller image v1.4.0`).
    pub what: String,
}

/// `MAJOR.MINOR` of a `vX.Y.Z` tag or version.
fn major_minor(v: &str) -> Option<(u32, u32)> {
    let t = v.trim().trim_start_matches('v');
    let mut parts = t.split(['.', '-', '@']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn clamp(v: FluxVersion) -> FluxVersion {
    v.clamp(OLDEST, LATEST)
}

/// The newest release in the table that a version or semver range allows (`2.x` → the newest
/// known, `2.4.x` → 2.4, `>=2.3 <2.6` → 2.5, `~2.4.0` → 2.4, `^2.3` → the newest 2.N). A release
/// counts when one of its patch versions satisfies the range. `None` when none does or the
/// range does not parse.
pub fn resolve_range(range: &str) -> Option<FluxVersion> {
    let mut candidates = (OLDEST.minor..=LATEST.minor).rev().map(|minor| FluxVersion { major: 2, minor });
    candidates.find(|&v| range.split("||").any(|alt| satisfies_minor(alt.trim(), v)))
}

/// Whether some `2.M.p` satisfies every comparator of `alt` (space or comma separated).
fn satisfies_minor(alt: &str, v: FluxVersion) -> bool {
    let comps: Vec<&str> = alt.split([' ', ',']).map(str::trim).filter(|c| !c.is_empty()).collect();
    if comps.is_empty() {
        return true;
    }
    // The release's patch range: [M.0, M.999].
    (0..1000u32).any(|patch| comps.iter().all(|c| comparator(c, (v.major, v.minor, patch)) == Some(true)))
        && comps.iter().all(|c| comparator(c, (v.major, v.minor, 0)).is_some())
}

/// `(major, minor?, patch?)` of a partial version; `x`/`*` or missing parts are wildcards.
fn partial(v: &str) -> Option<(u32, Option<u32>, Option<u32>)> {
    let t = v.trim().trim_start_matches(['v', '=']).trim();
    let t = t.split(['-', '+']).next()?;
    let mut parts = t.split('.');
    let num = |p: Option<&str>| -> Option<Option<u32>> {
        match p {
            None | Some("x") | Some("X") | Some("*") => Some(None),
            Some(n) => n.parse().ok().map(Some),
        }
    };
    let major = match parts.next()? {
        "x" | "X" | "*" => return Some((u32::MAX, None, None)),
        m => m.parse().ok()?,
    };
    Some((major, num(parts.next())?, num(parts.next())?))
}

/// One comparator against a concrete version; `None` when it does not parse.
fn comparator(c: &str, (ma, mi, pa): (u32, u32, u32)) -> Option<bool> {
    let (op, rest) = ["<=", ">=", "<", ">", "=", "~", "^"].iter().find_map(|op| c.strip_prefix(op).map(|r| (*op, r))).unwrap_or(("", c));
    let (pma, pmi, ppa) = partial(rest)?;
    if pma == u32::MAX {
        return Some(true);
    }
    let v = (ma, mi, pa);
    let lo = (pma, pmi.unwrap_or(0), ppa.unwrap_or(0));
    Some(match op {
        "" | "=" => ma == pma && pmi.is_none_or(|m| m == mi) && ppa.is_none_or(|p| p == pa),
        ">=" => v >= lo,
        ">" => match (pmi, ppa) {
            (None, _) => ma > pma,
            (Some(m), None) => (ma, mi) > (pma, m),
            _ => v > lo,
        },
        "<" => v < lo,
        "<=" => match (pmi, ppa) {
            (None, _) => ma <= pma,
            (Some(m), None) => (ma, mi) <= (pma, m),
            _ => v <= lo,
        },
        "~" => v >= lo && (ma, mi) == (pma, pmi.unwrap_or(mi)) && (pmi.is_some() || ma == pma),
        "^" => v >= lo && ma == pma,
        _ => false,
    })
}

/// The Flux release the repo pins, first found of: the `# Flux Version: vX.Y.Z` header `flux
/// install --export` writes into `gotk-components.yaml`; a FluxInstance's
/// `spec.distribution.version` (a range resolves to the newest release it allows); the tag of
/// the `flux-manifests` OCI artifact an OCIRepository pulls Flux from; the tag of the
/// kustomize-controller image it deploys (kustomize-controller v1.N ships in Flux 2.N).
pub fn pinned(repo: &crate::repo::Repo) -> Option<Pinned> {
    let mut files: Vec<&std::path::Path> =
        repo.objects().iter().map(|o| o.doc.file.as_path()).filter(|f| f.ends_with("gotk-components.yaml")).collect();
    files.dedup();
    for f in files {
        let Ok(text) = std::fs::read_to_string(repo.root.join(f)) else { continue };
        for (i, line) in text.lines().take(20).enumerate() {
            let Some(ver) = line.trim_start_matches('#').trim().strip_prefix("Flux Version:") else { continue };
            if let Some((2, minor)) = major_minor(ver) {
                let origin = crate::repo::Origin::new(f.to_path_buf(), i + 1);
                return Some(Pinned {
                    version: clamp(FluxVersion { major: 2, minor }),
                    origin,
                    what: format!("gotk-components.yaml header {}", ver.trim()),
                });
            }
        }
    }
    // The FluxInstance that bootstraps this cluster directory first, then any.
    let mut instances: Vec<&crate::repo::FluxInstance> = repo.flux_instances().iter().collect();
    instances.sort_by_key(|i| !i.syncs(&repo.cluster_dir));
    for i in instances {
        let Some((range, origin)) = &i.version else { continue };
        let resolved = match major_minor(range) {
            Some((2, minor)) if !range.contains(['x', 'X', '*', '<', '>', '~', '^', '|', ' ']) => {
                Some(clamp(FluxVersion { major: 2, minor }))
            }
            _ => resolve_range(range),
        };
        if let Some(version) = resolved {
            return Some(Pinned { version, origin: origin.clone(), what: format!("{} distribution.version {range}", i.declared_as) });
        }
    }
    for s in repo.sources() {
        let Some(doc) = &s.doc else { continue };
        if s.key.kind != "OCIRepository" || !s.url.trim_end_matches('/').ends_with("/flux-manifests") {
            continue;
        }
        let Some(tag) = doc.str_at("spec.ref.tag") else { continue };
        if let Some((2, minor)) = major_minor(tag) {
            return Some(Pinned {
                version: clamp(FluxVersion { major: 2, minor }),
                origin: crate::repo::Origin::at(doc, "spec.ref.tag"),
                what: format!("flux-manifests artifact tag {tag}"),
            });
        }
    }
    for d in repo.deployments() {
        for (i, (_, image)) in d.images.iter().enumerate() {
            let Some((repo_part, tag)) = image.rsplit_once(':') else { continue };
            if !repo_part.ends_with("/kustomize-controller") {
                continue;
            }
            if let Some((1, minor)) = major_minor(tag) {
                let origin = crate::repo::Origin::at(&d.doc, &format!("spec.template.spec.containers.{i}.image"));
                return Some(Pinned {
                    version: clamp(FluxVersion { major: 2, minor }),
                    origin,
                    what: format!("kustomize-controller image {tag}"),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let f = |s: &str| s.parse::<FluxVersion>().unwrap();
        assert!(matches!(status("kustomize.toolkit.fluxcd.io/v1beta2", "Kustomization", f("2.9")), ApiStatus::Removed { .. }));
        assert!(matches!(status("kustomize.toolkit.fluxcd.io/v1beta2", "Kustomization", f("2.7")), ApiStatus::Deprecated { .. }));
        assert!(matches!(status("helm.toolkit.fluxcd.io/v2beta1", "HelmRelease", f("2.2")), ApiStatus::Deprecated { .. }));
        assert!(matches!(status("helm.toolkit.fluxcd.io/v2beta1", "HelmRelease", f("2.1")), ApiStatus::Current));
        assert!(matches!(status("source.toolkit.fluxcd.io/v1beta2", "OCIRepository", f("2.5")), ApiStatus::Current));
        assert!(matches!(status("kustomize.toolkit.fluxcd.io/v1", "Kustomization", LATEST), ApiStatus::Current));
        assert!("3".parse::<FluxVersion>().is_err());
        assert!("2.99".parse::<FluxVersion>().is_err());
        assert_eq!(major_minor("v2.4.0"), Some((2, 4)));
        assert_eq!(major_minor("v1.7.2@sha256:abc"), Some((1, 7)));
    }

    #[test]
    fn ranges_resolve_to_the_newest_release_they_allow() {
        let r = |s: &str| resolve_range(s).map(|v| v.to_string());
        assert_eq!(r("2.x").as_deref(), Some("2.9"));
        assert_eq!(r("*").as_deref(), Some("2.9"));
        assert_eq!(r("2.4.x").as_deref(), Some("2.4"));
        assert_eq!(r("2.3.0").as_deref(), Some("2.3"));
        assert_eq!(r(">=2.3.0 <2.6.0").as_deref(), Some("2.5"));
        assert_eq!(r("~2.4.0").as_deref(), Some("2.4"));
        assert_eq!(r("^2.3").as_deref(), Some("2.9"));
        assert_eq!(r("<2.2").as_deref(), Some("2.1"));
        assert_eq!(r("2.2.x || 2.4.x").as_deref(), Some("2.4"));
        assert_eq!(r("3.x"), None);
        assert_eq!(r("nonsense"), None);
    }
}
