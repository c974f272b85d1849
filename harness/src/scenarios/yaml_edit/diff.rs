//! Diffs of an edit, for messages and assertions.
use super::*;

/// Unified diff (3 lines of context) with `a/` `b/` headers like `git diff`.
pub fn unified_diff(file: &Path, old: &str, new: &str) -> String {
    let name = file.display();
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(&format!("a/{name}"), &format!("b/{name}")).to_string()
}

/// Only the changed lines of a diff (`-old`/`+new`), for compact assertions.
pub fn changed_lines(old: &str, new: &str) -> Vec<String> {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => continue,
        };
        out.push(format!("{sign}{}", change.value().trim_end_matches('\n')));
    }
    out
}
