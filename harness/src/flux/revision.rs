//! Revisions as Flux writes them in `status.artifact.revision`, `lastAppliedRevision` and
//! `lastAttemptedRevision`: `main@sha1:<sha>` (Flux 2.1+; `refs/heads/main@sha1:…` with
//! `ref.name`, a tag for `ref.tag`), `sha1:<sha>` for a commit ref, `v1.0@sha256:<digest>` or
//! `sha256:<digest>` for OCI artifacts and buckets, legacy `main/<sha>`, or a bare sha.

/// A parsed revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision<'a> {
    /// Branch, tag or ref name before the digest, if any.
    pub reference: Option<&'a str>,
    /// Digest algorithm (`sha1`, `sha256`), if written.
    pub algorithm: Option<&'a str>,
    /// The commit sha or digest.
    pub digest: &'a str,
}

impl<'a> Revision<'a> {
    /// Parse any of the forms above.
    pub fn parse(text: &'a str) -> Revision<'a> {
        let (reference, rest) = match text.rsplit_once('@') {
            Some((r, d)) => (Some(r), d),
            None => (None, text),
        };
        if let Some((algorithm, digest)) = rest.split_once(':') {
            return Revision { reference, algorithm: Some(algorithm), digest };
        }
        if reference.is_none()
            && let Some((r, d)) = text.rsplit_once('/')
        {
            // Legacy `<branch>/<sha>` (before Flux 2.1).
            return Revision { reference: Some(r), algorithm: None, digest: d };
        }
        Revision { reference, algorithm: None, digest: rest }
    }

    /// The commit of this revision when it is a git commit on `branch` (or names no branch):
    /// `None` for another branch, an OCI digest, or no sha.
    pub fn commit_on(&self, branch: &str) -> Option<&'a str> {
        let branch_ok = self.reference.is_none_or(|r| r == branch || r.strip_prefix("refs/heads/") == Some(branch));
        let git = self.algorithm.is_none_or(|a| a == "sha1");
        (branch_ok && git && !self.digest.is_empty()).then_some(self.digest)
    }

    /// True when this names commit `sha` on `branch`; short shas match as prefixes.
    pub fn is_commit(&self, branch: &str, sha: &str) -> bool {
        !sha.is_empty() && self.commit_on(branch).is_some_and(|own| own.starts_with(sha) || sha.starts_with(own))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let cases = [
            (format!("main@sha1:{sha}"), Some("main"), Some("sha1")),
            (format!("refs/heads/main@sha1:{sha}"), Some("refs/heads/main"), Some("sha1")),
            (format!("sha1:{sha}"), None, Some("sha1")),
            (format!("main/{sha}"), Some("main"), None),
            (sha.to_string(), None, None),
        ];
        for (text, reference, algorithm) in cases {
            let r = Revision::parse(&text);
            assert_eq!((r.reference, r.algorithm, r.digest), (reference, algorithm, sha), "{text}");
            assert!(r.is_commit("main", &sha[..12]), "{text}");
        }
        let oci = Revision::parse("v1.2.0@sha256:abc");
        assert_eq!((oci.reference, oci.algorithm, oci.digest), (Some("v1.2.0"), Some("sha256"), "abc"));
        assert_eq!(oci.commit_on("main"), None);
        // Drift compares digests whatever the reference (a tag, a branch or none).
        assert_eq!(Revision::parse("main/abc123").digest, "abc123");
        assert_eq!(Revision::parse("abc123").digest, "abc123");
    }

    #[test]
    fn another_branch_is_not_our_commit() {
        let r = Revision::parse("feature@sha1:abc123");
        assert!(!r.is_commit("main", "abc123"));
        assert!(r.is_commit("feature", "abc"));
        assert!(!Revision::parse("main@sha1:").is_commit("main", ""));
    }
}
