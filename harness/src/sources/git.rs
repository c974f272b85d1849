//! Git repositories in a cassette: a GitRepository's reference resolved as source-controller
//! resolves it (commit > name > semver > tag > branch, `master` when none is given), fetched
//! with its history into a bare repository, and served back over smart HTTP by the git server's
//! `git http-backend` wrapper.

use std::path::Path;

use serde_json::Value;

use super::cassette::LockedSource;
use super::semver::{Candidate, resolve};
use super::{Cassette, SourcesError};

/// A GitRepository's `spec.ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// `branch` (the default: `master`).
    Branch(String),
    /// `tag`.
    Tag(String),
    /// `semver` over the tags.
    Semver(String),
    /// `name` (a full reference name such as `refs/pull/1/head`).
    Name(String),
    /// `commit`, fetched from `branch` when one is given.
    Commit {
        /// Commit SHA.
        commit: String,
        /// Branch holding it.
        branch: Option<String>,
    },
}

impl GitRef {
    /// Read `spec.ref` with Flux's precedence.
    pub fn from_spec(r: Option<&Value>) -> GitRef {
        let s = |k: &str| r.and_then(|r| r.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        if let Some(commit) = s("commit") {
            return GitRef::Commit { commit, branch: s("branch") };
        }
        if let Some(n) = s("name") {
            return GitRef::Name(n);
        }
        if let Some(v) = s("semver") {
            return GitRef::Semver(v);
        }
        if let Some(t) = s("tag") {
            return GitRef::Tag(t);
        }
        GitRef::Branch(s("branch").unwrap_or_else(|| "master".to_string()))
    }

    /// `branch:main`, `semver:>=1.0`, … (the lock's `asked`).
    pub fn asked(&self) -> String {
        match self {
            GitRef::Branch(b) => format!("branch:{b}"),
            GitRef::Tag(t) => format!("tag:{t}"),
            GitRef::Semver(v) => format!("semver:{v}"),
            GitRef::Name(n) => format!("name:{n}"),
            GitRef::Commit { commit, branch: Some(b) } => format!("commit:{commit}@{b}"),
            GitRef::Commit { commit, branch: None } => format!("commit:{commit}"),
        }
    }
}

/// `host/org/repo` of a git URL, however it is spelled.
pub fn normalize(url: &str) -> String {
    crate::repo::sources::normalize_url(url)
}

fn git(dir: &Path, args: &[&str]) -> Result<String, SourcesError> {
    crate::git::run_text(dir, args).map_err(|e| SourcesError::Git { args: args.join(" "), message: e.to_string() })
}

/// Fetch what `r` names from `remote` (the upstream, possibly overridden) into the cassette's
/// bare repository for `url`; returns the reference name and commit.
pub fn record(cassette: &Cassette, url: &str, remote: &str, r: &GitRef) -> Result<(String, String), SourcesError> {
    record_into(&cassette.git_dir(url), url, remote, r)
}

/// [`record`] into the bare repository `dir` (blocking: runs git).
pub fn record_into(dir: &Path, url: &str, remote: &str, r: &GitRef) -> Result<(String, String), SourcesError> {
    let dir = dir.to_path_buf();
    if !dir.join("HEAD").is_file() {
        std::fs::create_dir_all(&dir).map_err(|source| SourcesError::Io { path: dir.clone(), source })?;
        git(&dir, &["init", "--bare", "--quiet"])?;
    }
    let listing = git(&dir, &["ls-remote", remote])?;
    let refs: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).filter(|(_, n)| !n.ends_with("^{}")).collect();
    let has = |name: &str| refs.iter().any(|(_, n)| *n == name);
    let missing = |what: String| SourcesError::NotFound(format!("{url}: {what}"));
    let (refname, refspecs): (String, Vec<String>) = match r {
        GitRef::Branch(b) => {
            let n = format!("refs/heads/{b}");
            if !has(&n) {
                return Err(missing(format!("no branch `{b}`")));
            }
            (n.clone(), vec![format!("+{n}:{n}")])
        }
        GitRef::Tag(t) => {
            let n = format!("refs/tags/{t}");
            if !has(&n) {
                return Err(missing(format!("no tag `{t}`")));
            }
            (n.clone(), vec![format!("+{n}:{n}")])
        }
        GitRef::Semver(c) => {
            let tags: Vec<Candidate> = refs
                .iter()
                .filter_map(|(_, n)| n.strip_prefix("refs/tags/"))
                .map(|t| Candidate { version: t.to_string(), created: String::new() })
                .collect();
            let pick = resolve(&tags, c)
                .map_err(|e| missing(format!("semver `{c}`: {e}")))?
                .ok_or_else(|| missing(format!("no tag matches semver `{c}`")))?;
            let n = format!("refs/tags/{}", pick.version);
            (n.clone(), vec![format!("+{n}:{n}")])
        }
        GitRef::Name(n) => {
            if !has(n) {
                return Err(missing(format!("no reference `{n}`")));
            }
            (n.clone(), vec![format!("+{n}:{n}")])
        }
        GitRef::Commit { commit, branch } => match branch {
            Some(b) => (commit.clone(), vec![format!("+refs/heads/{b}:refs/heads/{b}")]),
            None => (commit.clone(), vec!["+refs/heads/*:refs/heads/*".to_string()]),
        },
    };
    let mut args = vec!["fetch", "--quiet", "--no-tags", remote];
    args.extend(refspecs.iter().map(String::as_str));
    git(&dir, &args)?;
    let commit = git(&dir, &["rev-parse", "--verify", &format!("{refname}^{{commit}}")])
        .map_err(|_| missing(format!("`{refname}` is not a commit there")))?;
    if let GitRef::Branch(b) = r
        && git(&dir, &["rev-parse", "--verify", "HEAD"]).is_err()
    {
        // A clone without a reference follows HEAD: point it at the recorded branch.
        git(&dir, &["symbolic-ref", "HEAD", &format!("refs/heads/{b}")])?;
    }
    Ok((refname, commit))
}

/// Check a recorded git source: the commit is there, the reference still names it, and every
/// object is intact.
pub fn verify(dir: &Path, s: &LockedSource) -> Result<(), String> {
    let commit = s.digest.strip_prefix("sha1:").unwrap_or(&s.digest);
    if !dir.join("HEAD").is_file() {
        return Err(format!("{} is missing; record it again", dir.display()));
    }
    git(dir, &["cat-file", "-e", &format!("{commit}^{{commit}}")])
        .map_err(|_| format!("commit {commit} is not in {}; record it again", dir.display()))?;
    if s.version != commit {
        let at = git(dir, &["rev-parse", "--verify", &format!("{}^{{commit}}", s.version)]).unwrap_or_default();
        if at != commit {
            return Err(format!("{} points at {at}, the lock says {commit}; record it again", s.version));
        }
    }
    git(dir, &["fsck", "--no-dangling", "--no-progress"]).map_err(|e| format!("{} is corrupt: {e}; record it again", dir.display()))?;
    Ok(())
}

/// Which recorded git repository a request path of `key` (a URL key, see
/// [`super::cassette::url_key`]) asks for, and the smart-HTTP path below it (`/info/refs`,
/// `/git-upload-pack`).
pub fn route<'a>(cassette: &'a Cassette, key: &'a str) -> Option<(&'a LockedSource, &'a str)> {
    cassette.lock().sources.iter().filter(|s| s.kind == super::SourceKind::Git).find_map(|s| {
        let base = super::cassette::url_key(&s.url)?;
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix(".git").unwrap_or(base);
        let rest = key.strip_prefix(base)?;
        let rest = rest.strip_prefix(".git").unwrap_or(rest);
        let known = ["/info/refs", "/git-upload-pack", "/HEAD", "/objects/"];
        known.iter().any(|k| rest.starts_with(k)).then_some((s, rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_follow_flux_precedence() {
        let v = serde_json::json!({"branch": "main", "tag": "v1", "semver": ">=1"});
        assert_eq!(GitRef::from_spec(Some(&v)), GitRef::Semver(">=1".into()));
        assert_eq!(GitRef::from_spec(None), GitRef::Branch("master".into()));
        let c = serde_json::json!({"branch": "main", "commit": "abc"});
        assert_eq!(GitRef::from_spec(Some(&c)).asked(), "commit:abc@main");
    }
}
