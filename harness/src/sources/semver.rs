//! Versions and version constraints as Flux's source-controller and Helm read them: the
//! semantics of `github.com/Masterminds/semver/v3` (constraints such as `1.x`, `>=2025.1.1`,
//! `~1.2`, `^0.3`, `1.2 - 1.4`, `>=1.0 <2.0 || 3.x`), and source-controller's choice of the
//! chart version or tag a constraint resolves to.
//!
//! What this module reproduces (behaviour, checked against those sources):
//! - a chart version or tag counts only when it is strict `MAJOR.MINOR.PATCH[-PRE][+META]`,
//!   optionally with one leading `v` (fluxcd/pkg `version.ParseVersion`);
//! - a version written in a constraint may be partial (`1`, `1.2`) or use `x`/`X`/`*` wildcards;
//! - prereleases never match unless the same `||` branch of the constraint names a prerelease;
//! - an exact string match wins before any constraint is parsed; `""` and `*` mean the latest
//!   stable; among matches the highest version wins (for chart indexes, equal versions differing
//!   only in build metadata are ordered by the entry's `created` time).

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

/// Errors of version and constraint parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemverError {
    /// Not a version.
    #[error("`{0}` is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])")]
    InvalidVersion(String),
    /// Not a constraint.
    #[error("improper constraint `{0}`: use e.g. `1.x`, `>=1.2.0 <2.0.0`, `~1.2`, `^1.2.3` or an exact version")]
    InvalidConstraint(String),
}

/// A semantic version (Masterminds' `Version`): numbers, prerelease, build metadata, and the
/// string it was parsed from.
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    meta: String,
    original: String,
}

fn valid_ident_chars(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_prerelease(pre: &str) -> bool {
    pre.split('.').all(|p| valid_ident_chars(p) && !(p.len() > 1 && p.starts_with('0') && p.chars().all(|c| c.is_ascii_digit())))
}

fn valid_metadata(meta: &str) -> bool {
    meta.split('.').all(valid_ident_chars)
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

impl Version {
    /// Strict `MAJOR.MINOR.PATCH[-PRE][+META]`, no leading `v` (Masterminds `StrictNewVersion`).
    pub fn parse_strict(s: &str) -> Result<Version, SemverError> {
        let bad = || SemverError::InvalidVersion(s.to_string());
        let (rest, meta) = match s.split_once('+') {
            Some((r, m)) if valid_metadata(m) => (r, m),
            Some(_) => return Err(bad()),
            None => (s, ""),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) if valid_prerelease(p) => (c, p),
            Some(_) => return Err(bad()),
            None => (rest, ""),
        };
        let mut parts = core.split('.');
        let (Some(a), Some(b), Some(c), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
        Ok(Version {
            major: number(a).ok_or_else(bad)?,
            minor: number(b).ok_or_else(bad)?,
            patch: number(c).ok_or_else(bad)?,
            pre: pre.to_string(),
            meta: meta.to_string(),
            original: s.to_string(),
        })
    }

    /// A chart version or tag as source-controller accepts it: strict, with at most one
    /// leading `v` (fluxcd/pkg `version.ParseVersion`); the original string is kept.
    pub fn parse_flux(s: &str) -> Result<Version, SemverError> {
        let mut v = Version::parse_strict(s.strip_prefix('v').unwrap_or(s)).map_err(|_| SemverError::InvalidVersion(s.to_string()))?;
        v.original = s.to_string();
        Ok(v)
    }

    /// Masterminds `NewVersion`: a leading `v`, and missing minor or patch (read as 0).
    pub fn parse_lenient(s: &str) -> Result<Version, SemverError> {
        let bad = || SemverError::InvalidVersion(s.to_string());
        let body = s.strip_prefix('v').unwrap_or(s);
        let (rest, meta) = match body.split_once('+') {
            Some((r, m)) if valid_metadata(m) => (r, m),
            Some(_) => return Err(bad()),
            None => (body, ""),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) if valid_prerelease(p) => (c, p),
            Some(_) => return Err(bad()),
            None => (rest, ""),
        };
        let nums: Vec<&str> = core.split('.').collect();
        if nums.is_empty() || nums.len() > 3 {
            return Err(bad());
        }
        // Unlike strict parsing, Masterminds' NewVersion accepts leading zeros here.
        let lenient_number = |p: &str| (!p.is_empty() && p.chars().all(|c| c.is_ascii_digit())).then(|| p.parse::<u64>().ok()).flatten();
        let n = |i: usize| -> Result<u64, SemverError> { nums.get(i).map_or(Ok(0), |p| lenient_number(p).ok_or_else(bad)) };
        Ok(Version { major: n(0)?, minor: n(1)?, patch: n(2)?, pre: pre.to_string(), meta: meta.to_string(), original: s.to_string() })
    }

    /// The string it was parsed from.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The build metadata (empty when none; ignored in comparisons).
    pub fn metadata(&self) -> &str {
        &self.meta
    }

    /// The prerelease part (empty when none).
    pub fn prerelease(&self) -> &str {
        &self.pre
    }

    /// Precedence order (build metadata ignored), as Masterminds `Compare`.
    pub fn precedence(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch)).then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => compare_prerelease(&self.pre, &o.pre),
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (pa.get(i).copied().unwrap_or(""), pb.get(i).copied().unwrap_or(""));
        if x == y {
            continue;
        }
        // A shorter prerelease sorts first; numbers sort numerically and before words.
        let ord = match (x.is_empty(), y.is_empty(), x.parse::<u64>(), y.parse::<u64>()) {
            (true, _, _, _) => Ordering::Less,
            (_, true, _, _) => Ordering::Greater,
            (_, _, Ok(m), Ok(n)) => m.cmp(&n),
            (_, _, Ok(_), Err(_)) => Ordering::Less,
            (_, _, Err(_), Ok(_)) => Ordering::Greater,
            (_, _, Err(_), Err(_)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

/// One comparison of a constraint.
#[derive(Debug, Clone)]
struct Comparison {
    op: Op,
    con: Version,
    /// A wildcard stands somewhere (`1.x`, `1.2.*`, `*`).
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// A version constraint: `||`-separated branches of comparisons that must all hold.
#[derive(Debug, Clone)]
pub struct Constraints {
    text: String,
    branches: Vec<(Vec<Comparison>, bool)>,
}

const CV: &str = r"v?([0-9xX*]+)(\.[0-9xX*]+)?(\.[0-9xX*]+)?(-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?";
const OPS: &str = r"!=|>=|=>|<=|=<|~>|>|<|=|~|\^|";

#[allow(clippy::expect_used)] // constant patterns, exercised by every test below
static RANGE: LazyLock<regex::Regex> = LazyLock::new(|| {
    let cv = CV.replace('(', "(?:").replace("(?:?:", "(?:");
    regex::Regex::new(&format!(r"\s*({cv})\s+-\s+({cv})\s*")).expect("range pattern")
});
#[allow(clippy::expect_used)]
static VALID: LazyLock<regex::Regex> = LazyLock::new(|| {
    let cv = CV.replace('(', "(?:").replace("(?:?:", "(?:");
    regex::Regex::new(&format!(r"^\s*(?:{OPS})\s*{cv}\s*(?:(?:\s+|,\s*)(?:{OPS})\s*{cv}\s*)*$")).expect("validation pattern")
});
#[allow(clippy::expect_used)]
static ONE: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(&format!(r"({OPS})\s*({CV})")).expect("comparison pattern"));

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_comparison(op: &str, caps: &regex::Captures<'_>, whole: &str) -> Result<Comparison, SemverError> {
    let bad = || SemverError::InvalidConstraint(whole.to_string());
    let op = match op {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Greater,
        "<" => Op::Less,
        ">=" | "=>" => Op::GreaterEqual,
        "<=" | "=<" => Op::LessEqual,
        "~" | "~>" => Op::Tilde,
        "^" => Op::Caret,
        _ => return Err(bad()),
    };
    let g = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    let (major, minor, patch, pre) = (g(3), g(4), g(5), g(6));
    let strip = |s: &str| s.trim_start_matches('.').to_string();
    let (text, dirty, minor_dirty, patch_dirty) = if is_x(major) {
        (format!("0.0.0{pre}"), true, false, false)
    } else if minor.is_empty() || is_x(&strip(minor)) {
        (format!("{major}.0.0{pre}"), true, true, false)
    } else if patch.is_empty() || is_x(&strip(patch)) {
        (format!("{major}{minor}.0{pre}"), true, false, true)
    } else {
        (g(2).to_string(), false, false, false)
    };
    let con = Version::parse_lenient(&text).map_err(|_| bad())?;
    Ok(Comparison { op, con, dirty, minor_dirty, patch_dirty })
}

impl Constraints {
    /// Parse a constraint (Masterminds `NewConstraint`).
    pub fn parse(text: &str) -> Result<Constraints, SemverError> {
        // `A - B` ranges become `>= A, <= B`.
        let rewritten = RANGE.replace_all(text, ">= $1, <= $2 ").into_owned();
        let mut branches = Vec::new();
        for part in rewritten.split("||") {
            if !VALID.is_match(part) {
                return Err(SemverError::InvalidConstraint(part.trim().to_string()));
            }
            let mut comps = Vec::new();
            for caps in ONE.captures_iter(part) {
                comps.push(parse_comparison(caps.get(1).map_or("", |m| m.as_str()), &caps, text)?);
            }
            let has_pre = comps.iter().any(|c| !c.con.pre.is_empty());
            branches.push((comps, has_pre));
        }
        Ok(Constraints { text: text.to_string(), branches })
    }

    /// Whether `v` satisfies the constraint.
    pub fn check(&self, v: &Version) -> bool {
        self.branches.iter().any(|(comps, has_pre)| comps.iter().all(|c| c.check(v, *has_pre)))
    }
}

impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Comparison {
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        let cmp = v.precedence(c);
        match self.op {
            Op::TildeOrEqual if self.dirty => self.tilde(v),
            Op::TildeOrEqual => cmp == Ordering::Equal,
            Op::Tilde => self.tilde(v),
            Op::NotEqual => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if self.minor_dirty {
                        return false;
                    }
                    if c.minor != v.minor {
                        return true;
                    }
                    if self.patch_dirty {
                        return (!v.pre.is_empty() || !c.pre.is_empty()) && compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                    }
                }
                cmp != Ordering::Equal
            }
            Op::Greater => {
                if !self.dirty {
                    return cmp == Ordering::Greater;
                }
                match v.major.cmp(&c.major) {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal if self.minor_dirty => false,
                    Ordering::Equal if self.patch_dirty => v.minor > c.minor,
                    Ordering::Equal => cmp == Ordering::Greater,
                }
            }
            Op::Less => cmp == Ordering::Less,
            Op::GreaterEqual => cmp != Ordering::Less,
            Op::LessEqual => {
                if !self.dirty {
                    return cmp != Ordering::Greater;
                }
                !(v.major > c.major || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            Op::Caret => self.caret(v),
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.precedence(c) == Ordering::Less {
            return false;
        }
        // `~0`, `*`: anything from 0.0.0 on.
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.precedence(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

/// One candidate for [`resolve`]: a chart index entry's version (with its `created` time, which
/// orders equal versions) or a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The version or tag as written.
    pub version: String,
    /// The index entry's `created` (RFC 3339), empty for tags.
    pub created: String,
}

/// Pick what `asked` (a chart's `version`, an OCIRepository's `ref.semver`) resolves to among
/// `candidates`, as source-controller does: an exact string match first; else the highest
/// version that satisfies the constraint (`""`/`*`: the latest stable); candidates that are not
/// versions are skipped. `Ok(None)`: nothing matches.
pub fn resolve<'a>(candidates: &'a [Candidate], asked: &str) -> Result<Option<&'a Candidate>, SemverError> {
    if !asked.is_empty()
        && let Some(c) = candidates.iter().find(|c| c.version == asked)
    {
        return Ok(Some(c));
    }
    let constraint = Constraints::parse(if asked.is_empty() { "*" } else { asked })?;
    let mut matched: Vec<(Version, &Candidate)> =
        candidates.iter().filter_map(|c| Version::parse_flux(&c.version).ok().filter(|v| constraint.check(v)).map(|v| (v, c))).collect();
    // Highest first; equal versions (differing in build metadata) newest first.
    matched.sort_by(|(a, ca), (b, cb)| b.precedence(a).then_with(|| cb.created.cmp(&ca.created)));
    Ok(matched.into_iter().next().map(|(_, c)| c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        Constraints::parse(c).unwrap_or_else(|e| panic!("{e}")).check(&Version::parse_lenient(v).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn wildcards_ranges_and_operators() {
        for (c, v, want) in [
            ("1.x", "1.16.2", true),
            ("1.x", "v1.16.2", true),
            ("1.x", "2.0.0", false),
            ("1.x", "0.9.0", false),
            ("4.x", "4.15.1", true),
            (">=2025.1.1", "2026.8.3", true),
            (">=2025.1.1", "2024.12.1", false),
            ("*", "0.0.1", true),
            ("~1.2", "1.2.9", true),
            ("~1.2", "1.3.0", false),
            ("~1.2.3", "1.2.2", false),
            ("^1.2.3", "1.9.0", true),
            ("^1.2.3", "2.0.0", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.4", false),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            (">=1.0 <2.0", "1.5.0", true),
            (">=1.0, <2.0", "2.0.0", false),
            ("<1.0 || >=3.x", "3.1.0", true),
            ("<1.0 || >=3.x", "2.1.0", false),
            ("!=1.2.x", "1.2.5", false),
            ("!=1.2.x", "1.3.0", true),
            (">1.x", "1.9.0", false),
            (">1.x", "2.0.0", true),
            (">1.2.x", "1.3.0", true),
            ("<=1.2.x", "1.2.9", true),
            ("<=1.2.x", "1.3.0", false),
            ("1.2.3", "1.2.3", true),
            ("=1.2.3", "1.2.3+build.1", true),
        ] {
            assert_eq!(ok(c, v), want, "{c} vs {v}");
        }
    }

    #[test]
    fn prereleases_only_when_the_branch_asks_for_one() {
        assert!(!ok(">=2025.1.1", "2026.9.1-rc.1"));
        assert!(!ok("*", "1.0.0-alpha"));
        assert!(ok(">=1.0.0-0", "1.2.0-rc.1"));
        assert!(ok(">=1.0.0-0", "1.2.0"));
        // The prerelease in the other branch does not open this one.
        assert!(!ok("2.x || >=1.0.0-0 <1.1", "2.1.0-beta"));
        assert!(ok("1.2.3-beta.2", "1.2.3-beta.2"));
        assert!(ok(">1.2.3-beta.2", "1.2.3-beta.10"));
    }

    #[test]
    fn prerelease_precedence_follows_semver() {
        let v = |s: &str| Version::parse_strict(s).unwrap_or_else(|e| panic!("{e}"));
        let order =
            ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"];
        for w in order.windows(2) {
            assert_eq!(v(w[0]).precedence(&v(w[1])), Ordering::Less, "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn bad_input_is_named() {
        assert!(Constraints::parse("latest").is_err());
        assert!(Constraints::parse(">>1").is_err());
        assert!(Version::parse_flux("1.2").is_err());
        assert!(Version::parse_flux("01.2.3").is_err());
        assert!(Version::parse_flux("vv1.2.3").is_err());
        assert_eq!(Version::parse_flux("v1.16.2").map(|v| v.original().to_string()), Ok("v1.16.2".to_string()));
    }

    #[test]
    fn resolution_as_source_controller() {
        let c = |v: &str, created: &str| Candidate { version: v.into(), created: created.into() };
        let index = vec![
            c("v1.15.0", "2024"),
            c("v1.16.2", "2025"),
            c("v1.17.0-alpha.0", "2026"),
            c("not-a-version", ""),
            c("2.0.0", "2026"),
            c("1.16", ""),
        ];
        assert_eq!(resolve(&index, "1.x").ok().flatten().map(|c| c.version.as_str()), Some("v1.16.2"));
        assert_eq!(resolve(&index, "").ok().flatten().map(|c| c.version.as_str()), Some("2.0.0"));
        assert_eq!(resolve(&index, "*").ok().flatten().map(|c| c.version.as_str()), Some("2.0.0"));
        // An exact string wins even when it is not a strict version.
        assert_eq!(resolve(&index, "1.16").ok().flatten().map(|c| c.version.as_str()), Some("1.16"));
        assert_eq!(resolve(&index, "3.x").ok().flatten(), None);
        assert!(resolve(&index, "latest").is_err());
        // Equal precedence (build metadata differs): the newest entry.
        let meta = vec![c("1.0.0+a", "2024-01-01T00:00:00Z"), c("1.0.0+b", "2025-01-01T00:00:00Z")];
        assert_eq!(resolve(&meta, "1.x").ok().flatten().map(|c| c.version.as_str()), Some("1.0.0+b"));
    }
}
