//! The cassette on disk: content-addressed blobs, bare git repositories, and the lock file that
//! says what each source resolved to and which URL answers with which blob.
//!
//! ```text
//! <dir>/cassette.lock            YAML: sources (url, asked, version, digest) and files (url → digest)
//! <dir>/blobs/sha256/<hex>       every byte stream the replay serves (indexes, archives, manifests)
//! <dir>/git/<hex16>/.git         a bare repository per recorded git URL
//! ```
//!
//! Blobs are named by the sha256 of their bytes, so a cassette shared by several repositories
//! stores a chart once, and a changed byte is always detected ([`Cassette::verify`], and again at
//! every replay read).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SourcesError;

/// The lock file's name inside a cassette.
pub const LOCK_FILE: &str = "cassette.lock";
/// The lock format this build writes and reads.
pub const LOCK_VERSION: u32 = 1;

/// What kind of source a locked entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A chart from a Helm HTTP repository (`HelmRepository`, default type).
    Helm,
    /// The index of a Helm HTTP repository (source-controller fetches it for every HelmRepository).
    HelmIndex,
    /// A chart from an OCI registry (`HelmRepository` of type `oci`, or an `oci://` dependency).
    HelmOci,
    /// An `OCIRepository` artifact.
    Oci,
    /// A `GitRepository` other than the repository under test.
    Git,
}

impl SourceKind {
    /// How people call it.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Helm => "Helm chart",
            SourceKind::HelmIndex => "Helm repository index",
            SourceKind::HelmOci => "Helm OCI chart",
            SourceKind::Oci => "OCI artifact",
            SourceKind::Git => "git repository",
        }
    }
}

/// What one source resolved to when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedSource {
    /// Kind.
    pub kind: SourceKind,
    /// The source URL as written in git (`https://charts.jetstack.io`, `oci://ghcr.io/fluxcd/charts`).
    pub url: String,
    /// Chart name (charts); empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// What was asked: a chart version or constraint (`1.x`), an OCI or git reference (`tag:latest`,
    /// `semver:>=1.0`, `branch:main`).
    pub asked: String,
    /// What it resolved to: chart version, tag, or git reference.
    pub version: String,
    /// Digest of what was fetched: `sha256:…` of the archive or manifest, `sha1:…` of a git commit.
    pub digest: String,
    /// The URL whose bytes carry that digest (archive, manifest, index); the source URL for git.
    pub file: String,
    /// Who asked for it (`HelmRelease cert-manager/cert-manager`).
    #[serde(default)]
    pub objects: Vec<String>,
}

impl LockedSource {
    /// `chart cert-manager 1.x → v1.16.2 from https://charts.jetstack.io`.
    pub fn describe(&self) -> String {
        let what = if self.name.is_empty() { self.kind.label().to_string() } else { format!("{} {}", self.kind.label(), self.name) };
        format!("{what} `{}` → {} from {}", self.asked, self.version, self.url)
    }

    fn same_request(&self, o: &LockedSource) -> bool {
        self.kind == o.kind && self.url == o.url && self.name == o.name && self.asked == o.asked
    }
}

/// One URL the replay answers, and the blob it answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedFile {
    /// The URL (no query), as a client asks for it through the gateway.
    pub url: String,
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// `Content-Type` to answer with.
    pub media_type: String,
    /// The source URL it belongs to (for messages).
    pub source: String,
}

/// The lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// Format version ([`LOCK_VERSION`]).
    pub version: u32,
    /// What each recorded source resolved to.
    #[serde(default)]
    pub sources: Vec<LockedSource>,
    /// Every URL the replay answers.
    #[serde(default)]
    pub files: Vec<LockedFile>,
}

impl Default for Lock {
    fn default() -> Lock {
        Lock { version: LOCK_VERSION, sources: Vec::new(), files: Vec::new() }
    }
}

/// A problem [`Cassette::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file in the cassette (blob or git directory).
    pub path: PathBuf,
    /// What is wrong, naming the URL and the source.
    pub message: String,
}

/// A cassette directory and its lock.
#[derive(Debug, Clone)]
pub struct Cassette {
    dir: PathBuf,
    lock: Lock,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The key a URL is looked up by: scheme, lowercase host, port when not the default, path;
/// no query or fragment. `None` when it is not an absolute http(s) URL.
pub fn url_key(u: &str) -> Option<String> {
    let parsed = url::Url::parse(u).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str()?.to_ascii_lowercase();
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!("{}://{host}{port}{}", parsed.scheme(), parsed.path()))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SourcesError + '_ {
    move |source| SourcesError::Io { path: path.to_path_buf(), source }
}

impl Cassette {
    /// Open an existing cassette (its lock must be there).
    pub fn open(dir: &Path) -> Result<Cassette, SourcesError> {
        let lock_path = dir.join(LOCK_FILE);
        let text = match std::fs::read_to_string(&lock_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SourcesError::NoCassette { dir: dir.to_path_buf() }),
            Err(e) => return Err(io_err(&lock_path)(e)),
        };
        let lock: Lock =
            serde_norway::from_str(&text).map_err(|e| SourcesError::BadLock { path: lock_path.clone(), message: e.to_string() })?;
        if lock.version != LOCK_VERSION {
            return Err(SourcesError::BadLock {
                path: lock_path,
                message: format!(
                    "lock version {} is not {LOCK_VERSION}, the one this gitops-harness reads; record the cassette again",
                    lock.version
                ),
            });
        }
        Ok(Cassette { dir: dir.to_path_buf(), lock })
    }

    /// Open the cassette at `dir`, or start an empty one there.
    pub fn open_or_create(dir: &Path) -> Result<Cassette, SourcesError> {
        match Cassette::open(dir) {
            Err(SourcesError::NoCassette { .. }) => {
                std::fs::create_dir_all(dir.join("blobs/sha256")).map_err(io_err(dir))?;
                Ok(Cassette { dir: dir.to_path_buf(), lock: Lock::default() })
            }
            other => other,
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its lock.
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// Where the blob of `digest` is (whether or not it exists).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join("blobs/sha256").join(hex)
    }

    /// The bare repository of a git URL (`<dir>/git/<hex16>/.git`; the `.git` name lets the git
    /// server's `git http-backend` wrapper serve it).
    pub fn git_dir(&self, url: &str) -> PathBuf {
        let key = super::git::normalize(url);
        let hex = sha256(key.as_bytes());
        self.dir.join("git").join(&hex[7..23]).join(".git")
    }

    /// Store bytes as a blob; returns its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, SourcesError> {
        let digest = sha256(bytes);
        let path = self.blob_path(&digest);
        // An existing blob is kept only when its bytes still have its digest: recording again
        // repairs a corrupt one.
        if std::fs::read(&path).map(|b| sha256(&b)).ok().as_deref() != Some(digest.as_str()) {
            let dir = self.dir.join("blobs/sha256");
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            // Write then rename: a reader never sees half a blob.
            let tmp = dir.join(format!(".{}.tmp-{}", &digest[7..], std::process::id()));
            std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        }
        Ok(digest)
    }

    /// Read a blob and check its digest.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).map_err(|e| BlobError::Unreadable { path: path.clone(), message: e.to_string() })?;
        let got = sha256(&bytes);
        if got != digest {
            return Err(BlobError::Mismatch { path, want: digest.to_string(), got });
        }
        Ok(bytes)
    }

    /// Store `bytes` as what `url` answers with.
    pub fn put_file(&mut self, url: &str, bytes: &[u8], media_type: &str, source: &str) -> Result<String, SourcesError> {
        let key = url_key(url).ok_or_else(|| SourcesError::BadUrl { url: url.to_string(), why: "not an http(s) URL".into() })?;
        let digest = self.put_blob(bytes)?;
        let entry = LockedFile {
            url: key.clone(),
            digest: digest.clone(),
            size: bytes.len() as u64,
            media_type: media_type.to_string(),
            source: source.to_string(),
        };
        match self.lock.files.iter_mut().find(|f| f.url == key) {
            Some(f) => *f = entry,
            None => self.lock.files.push(entry),
        }
        Ok(digest)
    }

    /// The file recorded for `url`.
    pub fn file(&self, url: &str) -> Option<&LockedFile> {
        let key = url_key(url)?;
        self.lock.files.iter().find(|f| f.url == key)
    }

    /// The bytes recorded for `url` (digest checked); `Ok(None)` when it is not recorded.
    pub fn read_file(&self, url: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match self.file(url) {
            Some(f) => self.read_blob(&f.digest).map(Some),
            None => Ok(None),
        }
    }

    /// Record what a request resolved to (replacing an earlier answer to the same request), and
    /// merge who asked.
    pub fn put_source(&mut self, mut s: LockedSource) {
        if let Some(old) = self.lock.sources.iter_mut().find(|o| o.same_request(&s)) {
            s.objects.append(&mut old.objects);
            s.objects.sort();
            s.objects.dedup();
            *old = s;
        } else {
            s.objects.sort();
            s.objects.dedup();
            self.lock.sources.push(s);
        }
    }

    /// Write the lock (sorted, so diffs of a committed cassette stay small).
    pub fn save(&mut self) -> Result<(), SourcesError> {
        self.lock.sources.sort_by(|a, b| (a.kind, &a.url, &a.name, &a.asked).cmp(&(b.kind, &b.url, &b.name, &b.asked)));
        self.lock.files.sort_by(|a, b| a.url.cmp(&b.url));
        let body = serde_norway::to_string(&self.lock)
            .map_err(|e| SourcesError::BadLock { path: self.dir.join(LOCK_FILE), message: e.to_string() })?;
        let text = format!(
            "# gitops-harness source cassette: what this repository's sources resolved to.\n\
             # Written by `gitops-harness sources record`; checked by `gitops-harness sources verify`.\n{body}"
        );
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.dir.join(LOCK_FILE);
        let tmp = self.dir.join(format!(".{LOCK_FILE}.tmp-{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// Who asked for what a file belongs to, for messages: `(source URL; asked by X, Y)`.
    pub fn owners_of(&self, f: &LockedFile) -> String {
        let objects: BTreeSet<&str> = self
            .lock
            .sources
            .iter()
            .filter(|s| s.url == f.source || s.file == f.url)
            .flat_map(|s| s.objects.iter().map(String::as_str))
            .collect();
        if objects.is_empty() {
            format!("source {}", f.source)
        } else {
            format!("source {}, asked by {}", f.source, objects.into_iter().collect::<Vec<_>>().join(", "))
        }
    }

    /// Check every file against its digest and every git source against its commit.
    pub fn verify(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        for f in &self.lock.files {
            match self.read_blob(&f.digest) {
                Ok(_) => {}
                Err(BlobError::Mismatch { path, got, .. }) => out.push(Problem {
                    message: format!(
                        "{} (answers {}, {}) has digest {got}, the lock says {}: the file is corrupt or was changed; record it again",
                        path.display(),
                        f.url,
                        self.owners_of(f),
                        f.digest
                    ),
                    path,
                }),
                Err(BlobError::Unreadable { path, message }) => out.push(Problem {
                    message: format!(
                        "{} (answers {}, {}) cannot be read: {message}; record it again",
                        path.display(),
                        f.url,
                        self.owners_of(f)
                    ),
                    path,
                }),
            }
        }
        for s in self.lock.sources.iter().filter(|s| s.kind != SourceKind::Git) {
            if self.file(&s.file).is_none_or(|f| f.digest != s.digest) {
                out.push(Problem {
                    path: self.dir.join(LOCK_FILE),
                    message: format!("{}: the lock has no file {} with digest {}; record it again", s.describe(), s.file, s.digest),
                });
            }
        }
        for s in self.lock.sources.iter().filter(|s| s.kind == SourceKind::Git) {
            let dir = self.git_dir(&s.url);
            if let Err(message) = super::git::verify(&dir, s) {
                out.push(Problem { path: dir, message: format!("{}: {message}", s.describe()) });
            }
        }
        out
    }

    /// Bytes on disk (blobs and git repositories).
    pub fn size(&self) -> u64 {
        walkdir::WalkDir::new(&self.dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    }
}

/// A blob that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// Missing or unreadable.
    #[error("{path}: {message}")]
    Unreadable {
        /// Blob path.
        path: PathBuf,
        /// Cause.
        message: String,
    },
    /// Its bytes do not have its digest.
    #[error("{path} has digest {got}, the lock says {want}")]
    Mismatch {
        /// Blob path.
        path: PathBuf,
        /// Digest in the lock.
        want: String,
        /// Digest of the bytes.
        got: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keys_ignore_query_case_and_default_ports() {
        assert_eq!(url_key("https://Charts.Jetstack.io:443/index.yaml?x=1").as_deref(), Some("https://charts.jetstack.io/index.yaml"));
        assert_eq!(url_key("http://127.0.0.1:8080/a/b").as_deref(), Some("http://127.0.0.1:8080/a/b"));
        assert_eq!(url_key("oci://ghcr.io/x"), None);
    }

    #[test]
    fn blobs_are_content_addressed_and_checked() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut c = Cassette::open_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let d = c.put_file("https://h/a.tgz", b"chart", "application/gzip", "https://h").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d, sha256(b"chart"));
        c.save().unwrap_or_else(|e| panic!("{e}"));
        let c = Cassette::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.read_file("https://H/a.tgz").ok().flatten().as_deref(), Some(&b"chart"[..]));
        assert!(c.verify().is_empty());
        std::fs::write(c.blob_path(&d), b"charT").unwrap_or_else(|e| panic!("{e}"));
        let problems = c.verify();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("https://h/a.tgz") && problems[0].message.contains("source https://h"), "{problems:?}");
        // Recording the same bytes again repairs the blob.
        c.put_blob(b"chart").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.verify().is_empty());
    }
}
