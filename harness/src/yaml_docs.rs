//! Loading YAML files as a list of documents with exact line numbers.
//!
//! Documents are split on `---` lines by hand (not by the parser) so each document knows the
//! line it starts on, and a parse error can be reported as `file:line` in the user's file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the fields of a generated document are written: an entry of another document (a
/// ResourceSet's `spec.resources[i]`), so positions and findings point at what the user wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The writing document's text (its first line is [`Generated::line`] of the file).
    pub text: Arc<str>,
    /// 1-based line of that document in its file.
    pub line: usize,
    /// Dotted path of the entry inside that document (`spec.resources.2`).
    pub prefix: String,
    /// Whether a field path of the generated document is the same path below `prefix` (a
    /// templated object); otherwise every field points at `prefix` (a template string).
    pub exact: bool,
    /// What generated it and from which input, for messages.
    pub note: Arc<str>,
}

/// One YAML document of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlDoc {
    /// File, relative to the repository root.
    pub file: PathBuf,
    /// 1-based line of the document's first line.
    pub line: usize,
    /// 0-based index of the document in its file (empty documents count too).
    pub index: usize,
    /// The parsed document.
    pub value: serde_json::Value,
    /// The document's source text.
    pub text: String,
    /// Set when the document was generated (by a ResourceSet) rather than read: `file` is then
    /// the generating document's file, and positions map into it.
    pub generated: Option<Arc<Generated>>,
}

impl YamlDoc {
    /// String field at a dotted path (`metadata.name`), if present.
    pub fn str_at(&self, path: &str) -> Option<&str> {
        value_at(&self.value, path).and_then(|v| v.as_str())
    }

    /// 1-based line in the file of the field at a dotted `path` (`spec.dependsOn.0.name`: numeric
    /// segments index lists), from the parser's positions: the key's line for a mapping entry, the
    /// item's line for a list item. When the path does not exist, the line of its deepest existing
    /// prefix; `""` is the document's first node (past leading comments).
    pub fn line_at(&self, path: &str) -> usize {
        let segs: Vec<&str> = if path.is_empty() { Vec::new() } else { path.split('.').collect() };
        self.line_at_segments(&segs)
    }

    /// Like [`YamlDoc::line_at`], with the path as segments (for keys that hold dots, such as
    /// `data."values.yaml"`).
    pub fn line_at_segments(&self, segs: &[&str]) -> usize {
        if let Some(g) = &self.generated {
            let mut at: Vec<&str> = g.prefix.split('.').filter(|s| !s.is_empty()).collect();
            if g.exact {
                at.extend_from_slice(segs);
            }
            return positions::line_in(&g.text, &at).map(|l| g.line + l.saturating_sub(1)).unwrap_or(g.line);
        }
        positions::line_in(&self.text, segs).map(|l| self.line + l.saturating_sub(1)).unwrap_or(self.line)
    }

    /// What generated this document, when it was generated.
    pub fn generated_note(&self) -> Option<&Arc<str>> {
        self.generated.as_ref().map(|g| &g.note)
    }
}

/// Field positions from `yaml-rust2`'s event parser, computed on demand: only findings need them,
/// so loading thousands of manifests keeps no position tables.
mod positions {
    use yaml_rust2::parser::{Event, Parser};

    /// 1-based line (within `text`) of the node at `path`, or of its deepest existing prefix.
    pub(super) fn line_in(text: &str, segs: &[&str]) -> Option<usize> {
        let mut p = Parser::new_from_str(text);
        loop {
            let (ev, m) = p.next_token().ok()?;
            match ev {
                Event::StreamStart | Event::DocumentStart | Event::Nothing => continue,
                Event::StreamEnd | Event::DocumentEnd => return None,
                ev => return Some(descend(&mut p, ev, m.line(), segs)),
            }
        }
    }

    /// Walk `segs` down from the node `ev` starts; `here` is the line that stands for that node
    /// (its key's line for a mapping value, so a missing child points at its parent's key).
    fn descend(p: &mut Parser<std::str::Chars<'_>>, ev: Event, here: usize, segs: &[&str]) -> usize {
        let Some((seg, rest)) = segs.split_first() else { return here };
        match ev {
            Event::MappingStart(..) => loop {
                let Ok((kev, km)) = p.next_token() else { return here };
                let key = match &kev {
                    Event::MappingEnd => return here,
                    Event::Scalar(k, ..) => Some(k.clone()),
                    _ => None,
                };
                if key.is_none() && !skip(p, &kev) {
                    return here;
                }
                let Ok((vev, _)) = p.next_token() else { return here };
                if key.as_deref() == Some(*seg) {
                    return descend(p, vev, km.line(), rest);
                }
                if !skip(p, &vev) {
                    return here;
                }
            },
            Event::SequenceStart(..) => {
                let Ok(want) = seg.parse::<usize>() else { return here };
                let mut i = 0usize;
                loop {
                    let Ok((iev, im)) = p.next_token() else { return here };
                    if iev == Event::SequenceEnd {
                        return here;
                    }
                    if i == want {
                        return descend(p, iev, im.line(), rest);
                    }
                    if !skip(p, &iev) {
                        return here;
                    }
                    i += 1;
                }
            }
            _ => here,
        }
    }

    /// Consume the rest of the node that `ev` starts; false when the parser fails.
    fn skip(p: &mut Parser<std::str::Chars<'_>>, ev: &Event) -> bool {
        let mut depth = match ev {
            Event::MappingStart(..) | Event::SequenceStart(..) => 1usize,
            _ => return true,
        };
        while depth > 0 {
            match p.next_token() {
                Ok((Event::MappingStart(..) | Event::SequenceStart(..), _)) => depth += 1,
                Ok((Event::MappingEnd | Event::SequenceEnd, _)) => depth -= 1,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// Value at a dotted path of object keys.
pub fn value_at<'a>(value: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// Why a YAML file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// File, relative to the repository root.
        file: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// A document is not valid YAML.
    #[error("{file}:{line}:{column}: invalid YAML: {message}; fix the syntax at that line")]
    Parse {
        /// File, relative to the repository root.
        file: PathBuf,
        /// 1-based line in the file.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
}

impl YamlError {
    /// The file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            YamlError::Read { file, .. } | YamlError::Parse { file, .. } => file,
        }
    }

    /// The 1-based line the error is about (1 when unknown).
    pub fn line(&self) -> usize {
        match self {
            YamlError::Read { .. } => 1,
            YamlError::Parse { line, .. } => *line,
        }
    }
}

/// Split YAML text into documents: `(first line, text)` for each, 1-based lines.
pub fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut start = 1usize;
    let mut current = String::new();
    // Editors on Windows may save a byte-order mark; left in, it hides a leading `---` separator
    // and shifts every reported line of the first documents.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let is_separator = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let is_end = line == "..." || line.starts_with("... ");
        if is_separator || is_end {
            docs.push((start, std::mem::take(&mut current)));
            start = lineno + 1;
            // `--- value` keeps content on the separator line.
            if is_separator && line.len() > 3 {
                current.push_str(&" ".repeat(4));
                current.push_str(&line[4..]);
                current.push('\n');
                start = lineno;
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    docs.push((start, current));
    docs
}

/// Parse YAML text (the content of `file`) into its non-empty documents.
pub fn parse_str(file: &Path, text: &str) -> Result<Vec<YamlDoc>, YamlError> {
    let mut out = Vec::new();
    for (index, (line, doc_text)) in split_documents(text).into_iter().enumerate() {
        let parsed: serde_norway::Value = match serde_norway::from_str(&doc_text) {
            Ok(v) => v,
            Err(e) => {
                let (l, c) = e.location().map(|loc| (loc.line(), loc.column())).unwrap_or((1, 1));
                return Err(YamlError::Parse {
                    file: file.to_path_buf(),
                    line: line + l.saturating_sub(1),
                    column: c,
                    message: e.to_string(),
                });
            }
        };
        if parsed.is_null() {
            continue; // empty document or only comments
        }
        out.push(YamlDoc { file: file.to_path_buf(), line, index, value: to_json(parsed), text: doc_text, generated: None });
    }
    Ok(out)
}

/// Read `root/rel` and parse it.
pub fn load_file(root: &Path, rel: &Path) -> Result<Vec<YamlDoc>, YamlError> {
    let text = std::fs::read_to_string(root.join(rel)).map_err(|source| YamlError::Read { file: rel.to_path_buf(), source })?;
    parse_str(rel, &text)
}

/// Convert a YAML value to JSON, turning non-string keys into their YAML text.
pub fn to_json(v: serde_norway::Value) -> serde_json::Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => serde_json::Value::Null,
        Y::Bool(b) => serde_json::Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_json::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                serde_json::Value::from(u)
            } else {
                n.as_f64().and_then(serde_json::Number::from_f64).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
        }
        Y::String(s) => serde_json::Value::String(s),
        Y::Sequence(seq) => serde_json::Value::Array(seq.into_iter().map(to_json).collect()),
        Y::Mapping(m) => {
            let mut obj = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    other => serde_norway::to_string(&other).map(|s| s.trim().to_string()).unwrap_or_default(),
                };
                obj.insert(key, to_json(v));
            }
            serde_json::Value::Object(obj)
        }
        Y::Tagged(t) => to_json(t.value),
    }
}

/// Whether a file name looks like YAML.
pub fn is_yaml(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_mark_and_crlf_keep_separators_and_lines() {
        let text = "\u{feff}---\r\nkind: A\r\n--- # two\r\nkind: B\r\nbad: [\r\n";
        let docs = split_documents(text);
        assert_eq!(docs.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        let err = parse_str(Path::new("f.yaml"), "\u{feff}---\nkind: A\n---\nkind: B\nbad: [x\n  y: z\n").unwrap_err();
        assert_eq!(err.file(), Path::new("f.yaml"));
        assert!(err.line() >= 4, "error line {} should be in the second document (line 4+)", err.line());
        let ok = parse_str(Path::new("f.yaml"), "\u{feff}---\r\nkind: A\r\n---\r\nkind: B\r\n").unwrap();
        assert_eq!(ok.iter().map(|d| d.line).collect::<Vec<_>>(), vec![2, 4]);
    }

    #[test]
    fn splits_multi_doc_with_lines_and_skips_empty() {
        let text = "# leading comment\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n# only a comment\n---\nkind: B\n";
        let docs = parse_str(Path::new("f.yaml"), text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line, 3);
        assert_eq!(docs[0].str_at("metadata.name"), Some("a"));
        assert_eq!(docs[1].line, 10);
        assert_eq!(docs[1].index, 3);
        assert_eq!(docs[0].line_at("metadata.name"), 6);
    }

    #[test]
    fn parse_error_has_file_line() {
        let text = "a: 1\n---\nkind: X\nmetadata:\n  name: [unclosed\n";
        let err = parse_str(Path::new("dir/bad.yaml"), text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("dir/bad.yaml:"), "{msg}");
        assert!(err.line() >= 5, "line {} in {msg}", err.line());
    }

    /// Positions come from the parser: comments, repeated text and flow style do not mislead it.
    #[test]
    fn line_at_follows_the_structure_not_the_text() {
        let text = "# name: decoy\napiVersion: v1\nkind: X\nmetadata:\n  # path: decoy\n  name: a\nspec:\n  dependsOn:\n    - name: a\n    - name: b\n  path: ./x\n  flow: {a: 1, b: [1, 2]}\n";
        let docs = parse_str(Path::new("f.yaml"), &format!("---\n{text}")).unwrap();
        let d = &docs[0];
        assert_eq!(d.line_at(""), 3, "first node, past the comment");
        assert_eq!(d.line_at("metadata.name"), 7);
        assert_eq!(d.line_at("spec.dependsOn.1.name"), 11);
        assert_eq!(d.line_at("spec.dependsOn.1"), 11);
        assert_eq!(d.line_at("spec.path"), 12);
        assert_eq!(d.line_at("spec.flow.b.1"), 13);
        assert_eq!(d.line_at("spec.missing"), 8, "deepest existing prefix: the `spec` key");
    }

    #[test]
    fn non_string_keys_become_text() {
        let docs = parse_str(Path::new("f.yaml"), "1: one\ntrue: yes\n").unwrap();
        assert_eq!(docs[0].value["1"], "one");
    }
}
