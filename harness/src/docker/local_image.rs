//! Images built from this machine's own binaries (`docker import` of a rootfs tar), for proving
//! container handling where no registry can be reached. Each image gets the harness labels.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;

use super::DockerError;
use crate::labels;

/// The shared libraries a dynamically linked binary loads (from `ldd`), the loader included.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let out = duct::cmd!("ldd", binary).stdout_capture().stderr_capture().unchecked().run().map_err(|e| format!("ldd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for line in text.lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`
        let candidate = match line.split_once("=>") {
            Some((_, rhs)) => rhs.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = candidate.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

/// A rootfs tar with `files` (at their own paths, symlinks resolved) and their shared libraries,
/// plus empty `/tmp`, `/root` and `/etc`.
pub fn rootfs_tar(files: &[PathBuf]) -> Result<Vec<u8>, String> {
    let mut all: BTreeSet<PathBuf> = BTreeSet::new();
    for f in files {
        all.insert(f.clone());
        if f.is_file() {
            all.extend(shared_libraries(f).unwrap_or_default());
        }
    }
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(true);
    for dir in ["tmp", "root", "etc", "dev", "proc", "sys"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if dir == "tmp" { 0o1777 } else { 0o755 });
        h.set_size(0);
        b.append_data(&mut h, format!("{dir}/"), std::io::empty()).map_err(|e| e.to_string())?;
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(passwd.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "etc/passwd", &passwd[..]).map_err(|e| e.to_string())?;
    for p in &all {
        let rel = p.strip_prefix("/").unwrap_or(p);
        if p.is_dir() {
            b.append_dir_all(rel, p).map_err(|e| format!("{}: {e}", p.display()))?;
        } else {
            b.append_path_with_name(p, rel).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    b.into_inner().map_err(|e| e.to_string())
}

/// Label holding a digest of what an imported image was built from (files and entrypoint).
pub const CONTENT_LABEL: &str = "io.gitops-harness.content";

/// Build and import an image `reference` (e.g. `gitops-harness-test/git:local`) from host files,
/// labelled as the harness's (kind `test-image`), with the given entrypoint. When the image
/// already there was built from the same content it is used as it is: importing again would
/// leave the previous one behind as a dangling image on every run.
pub async fn import(docker: &Docker, reference: &str, files: &[PathBuf], entrypoint: &[&str]) -> Result<String, DockerError> {
    let err = |message: String| DockerError::LocalImage { image: reference.to_string(), message };
    let tar = rootfs_tar(files).map_err(err)?;
    let mut content = ring::digest::Context::new(&ring::digest::SHA256);
    content.update(&tar);
    content.update(entrypoint.join("\0").as_bytes());
    let content: String = content.finish().as_ref()[..12].iter().map(|b| format!("{b:02x}")).collect();
    if let Ok(existing) = docker.inspect_image(reference).await
        && existing.config.and_then(|c| c.labels).and_then(|l| l.get(CONTENT_LABEL).cloned()).as_deref() == Some(content.as_str())
    {
        return Ok(reference.to_string());
    }
    let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    let mut changes: Vec<String> = labels::labels("test", "test-image").into_iter().map(|(k, v)| format!("LABEL {k}={v}")).collect();
    changes.push(format!("LABEL {CONTENT_LABEL}={content}"));
    changes.push("ENV PATH=/usr/local/bin:/usr/bin:/bin".to_string());
    if !entrypoint.is_empty() {
        let quoted: Vec<String> = entrypoint.iter().map(|c| format!("{c:?}")).collect();
        changes.push(format!("ENTRYPOINT [{}]", quoted.join(",")));
    }
    let opts = CreateImageOptions {
        from_src: Some("-".to_string()),
        repo: Some(repo.to_string()),
        tag: Some(tag.to_string()),
        changes,
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(opts), Some(bollard::body_full(tar.into())), None);
    while let Some(item) = stream.next().await {
        item.map_err(|e| err(e.to_string()))?;
    }
    Ok(reference.to_string())
}
