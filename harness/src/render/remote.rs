//! The kustomize `resources`/`components` a build would fetch from the network, found before
//! the build: `render` says so, and `render --offline` refuses the build.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::repo::{is_remote, kustomization_file};
use crate::yaml_docs;

/// Remote entries (`url (file:line)`) reachable from the directories `dirs` (absolute).
pub(super) fn remote_entries(root: &Path, dirs: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = stack.pop() {
        if seen.len() > 10_000 || !seen.insert(dir.clone()) || !dir.is_dir() {
            continue;
        }
        let Some(kfile) = kustomization_file(&dir) else {
            // A plain directory: its sub-directories with a kustomization are built as units.
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.filter_map(Result::ok) {
                    let p = e.path();
                    if p.is_dir() && !p.is_symlink() {
                        stack.push(p);
                    }
                }
            }
            continue;
        };
        let file = dir.join(kfile);
        let rel = file.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| file.clone());
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let Ok(docs) = yaml_docs::parse_str(&rel, &text) else { continue };
        let Some(doc) = docs.first() else { continue };
        for key in ["resources", "bases", "components"] {
            for (i, e) in doc.value.get(key).and_then(Value::as_array).into_iter().flatten().enumerate() {
                let Some(entry) = e.as_str() else { continue };
                if is_remote(entry) {
                    out.push(format!("{entry} ({}:{})", rel.display(), doc.line_at(&format!("{key}.{i}"))));
                } else {
                    let target = crate::repo::normalize(&dir.join(entry));
                    if target.starts_with(root) && target.is_dir() {
                        stack.push(target);
                    }
                }
            }
        }
    }
    out.sort();
    out
}
