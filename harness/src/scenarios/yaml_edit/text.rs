//! Layout helpers on raw text: line endings, columns, block sequence items.
use super::*;

/// The file's line ending (CRLF files stay CRLF).
pub(crate) fn eol(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// `lines` (written with `\n`) in the file's line ending.
pub(crate) fn with_eol(text: &str, lines: &str) -> String {
    if eol(text) == "\r\n" { lines.replace('\n', "\r\n") } else { lines.to_string() }
}

pub(crate) fn col_of(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map(|p| p + 1).unwrap_or(0);
    text[line_start..at].chars().count()
}

pub(crate) fn text_at_flow(text: &str, at: usize) -> bool {
    text[at..].starts_with(['[', '{']) || in_flow(text, at)
}

/// Offset of the `- ` that introduces a block sequence item whose content starts at `at`.
pub(crate) fn dash_before(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map(|p| p + 1).unwrap_or(0);
    let lead = text[line_start..at].len() - text[line_start..at].trim_start_matches(' ').len();
    if text[line_start + lead..].starts_with('-') { line_start + lead } else { at }
}

/// Byte offset just after the last content line of a block sequence item whose `-` is at
/// `dash_col` (trailing comments and blank lines are not part of the item).
pub(crate) fn block_item_end(text: &str, item_start: usize, dash_col: usize) -> usize {
    let mut pos = text[item_start..].find('\n').map(|e| item_start + e + 1).unwrap_or(text.len());
    let mut end = pos;
    while pos < text.len() {
        let line_end = text[pos..].find('\n').map(|e| pos + e + 1).unwrap_or(text.len());
        let line = &text[pos..line_end];
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        let blank_or_comment = trimmed.trim().is_empty() || trimmed.starts_with('#');
        if !blank_or_comment {
            if indent <= dash_col {
                break;
            }
            end = line_end;
        }
        pos = line_end;
    }
    end
}

/// How many columns the file indents block sequence items relative to their key (0 for
/// `containers:\n- name`, 2 for `containers:\n  - name`), judged from the container's list.
pub(crate) fn sequence_indent(text: &str, container: &Node) -> usize {
    let dash = dash_before(text, container.start);
    let dash_col = col_of(text, dash);
    // The key owning the list is on a previous line with a smaller or equal column.
    let mut pos = text[..dash].rfind('\n').unwrap_or(0);
    while pos > 0 {
        let prev_start = text[..pos].rfind('\n').map(|p| p + 1).unwrap_or(0);
        let line = &text[prev_start..pos];
        let trimmed = line.trim_start();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            let key_col = line.len() - trimmed.len();
            if trimmed.ends_with(':') && key_col <= dash_col {
                return dash_col - key_col;
            }
            if key_col <= dash_col && !trimmed.starts_with('-') {
                return dash_col.saturating_sub(key_col);
            }
        }
        pos = prev_start.saturating_sub(1);
    }
    0
}
