//! Which sources are this repository: its git remotes, and URL comparison that ignores the
//! spelling differences between `ssh://git@host/org/repo.git`, `git@host:org/repo` and
//! `https://host/org/repo`.

use std::path::Path;

/// The remote URLs in the repository's git config (`.git/config`, or the common dir of a
/// worktree), normalised with [`normalize_url`].
pub fn git_remote_urls(root: &Path) -> Vec<String> {
    let dot_git = root.join(".git");
    let config = if dot_git.is_dir() {
        dot_git.join("config")
    } else {
        // A worktree: `.git` is a file `gitdir: <dir>`; its `commondir` holds the shared config.
        let Ok(text) = std::fs::read_to_string(&dot_git) else { return Vec::new() };
        let Some(gitdir) = text.trim().strip_prefix("gitdir:").map(|s| root.join(s.trim())) else { return Vec::new() };
        let common = std::fs::read_to_string(gitdir.join("commondir")).map(|c| gitdir.join(c.trim())).unwrap_or(gitdir);
        common.join("config")
    };
    let Ok(text) = std::fs::read_to_string(config) else { return Vec::new() };
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            (k.trim() == "url").then(|| normalize_url(v.trim()))
        })
        .filter(|u| !u.is_empty())
        .collect()
}

/// `host/org/repo` for any of the ways a git URL is written (scheme, user, port-less scp form,
/// `.git` suffix, trailing slash, case of the host).
pub fn normalize_url(url: &str) -> String {
    let mut u = url.trim();
    if let Some((_, rest)) = u.split_once("://") {
        u = rest;
    }
    let u = match u.split_once('@') {
        Some((user, rest)) if !user.contains('/') => rest,
        _ => u,
    };
    // scp-like `host:org/repo`
    let u = match u.split_once(':') {
        Some((host, path))
            if !host.contains('/') && !path.starts_with("//") && !path.chars().next().is_some_and(|c| c.is_ascii_digit()) =>
        {
            format!("{host}/{path}")
        }
        _ => u.to_string(),
    };
    let u = u.trim_end_matches('/');
    let u = u.strip_suffix(".git").unwrap_or(u);
    match u.split_once('/') {
        Some((host, path)) => format!("{}/{path}", host.to_ascii_lowercase()),
        None => u.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_across_spellings() {
        let want = "github.com/org/fleet";
        for u in [
            "https://github.com/org/fleet",
            "ssh://git@github.com/org/fleet.git",
            "git@github.com:org/fleet.git",
            "https://GitHub.com/org/fleet/",
        ] {
            assert_eq!(normalize_url(u), want, "{u}");
        }
        assert_ne!(normalize_url("https://github.com/org/other"), want);
    }
}
