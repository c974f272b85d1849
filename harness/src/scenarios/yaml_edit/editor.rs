//! The editor: a file in memory, `get`/`set`/`upsert` that splice one span and re-check the
//! whole file.
use super::*;

// ---------------------------------------------------------------------------------------------
// The editor

/// A YAML file being edited in memory; every edit keeps all other bytes as they were.
#[derive(Debug, Clone)]
pub struct YamlEditor {
    pub(crate) file: PathBuf,
    pub(crate) original: String,
    pub(crate) text: String,
}

impl YamlEditor {
    /// Edit `text`; `file` is only used in messages (use the repo-relative path).
    pub fn new(file: impl Into<PathBuf>, text: impl Into<String>) -> YamlEditor {
        let text = text.into();
        YamlEditor { file: file.into(), original: text.clone(), text }
    }

    /// Read `root/rel` for editing; messages name `rel`.
    pub fn open(root: &Path, rel: &Path) -> Result<YamlEditor, EditError> {
        let text = std::fs::read_to_string(root.join(rel)).map_err(|source| EditError::Io { file: rel.to_path_buf(), source })?;
        Ok(YamlEditor::new(rel, text))
    }

    /// Write the edited text to `root/<file>`.
    pub fn save(&self, root: &Path) -> Result<(), EditError> {
        crate::git::write_atomic(&root.join(&self.file), self.text.as_bytes())
            .map_err(|source| EditError::Io { file: self.file.clone(), source })
    }

    /// The file name used in messages.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The current (edited) text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when an edit changed the text.
    pub fn changed(&self) -> bool {
        self.text != self.original
    }

    /// Unified diff from the original text to the current one (`git diff` style, 0 context
    /// lines are not used: 3 lines of context like git).
    pub fn diff(&self) -> String {
        unified_diff(&self.file, &self.original, &self.text)
    }

    pub(crate) fn ctx(&self, idx: usize, doc: &Doc, path: &str) -> Ctx<'_> {
        Ctx { file: &self.file, doc: describe_doc(idx, doc), path: path.to_string() }
    }

    /// Current value at a path (as JSON), from a full parse.
    pub fn get(&self, doc: &DocSelector, path: &str) -> Result<Option<serde_json::Value>, EditError> {
        let segs = parse_path(path)?;
        let docs = parse_docs(&self.file, &self.text)?;
        let (idx, _) = select_doc(&self.file, &docs, doc)?;
        let values = parse_all(&self.file, &self.text)?;
        Ok(values.get(idx).and_then(|v| json_at(v, &segs)).map(|c| c.into_owned()))
    }

    /// Set the scalar at `path` in the selected document to `value` (the key/item must exist).
    /// Returns whether the text changed (false when it already held that value).
    pub fn set(&mut self, doc: &DocSelector, path: &str, value: impl Into<ScalarValue>) -> Result<bool, EditError> {
        let value = value.into();
        let segs = parse_path(path)?;
        let docs = parse_docs(&self.file, &self.text)?;
        let (idx, d) = select_doc(&self.file, &docs, doc)?;
        let ctx = self.ctx(idx, d, path);
        let root = d.root.as_ref().ok_or_else(|| ctx.not_found(&[], "expected content".into(), "an empty document".into()))?;
        let located = locate(&ctx, &self.text, root, &segs)?;
        if let NodeKind::Scalar { value: old, .. } = &located.node.kind {
            let same = match &value {
                ScalarValue::Str(s) => {
                    s == old
                        && !matches!(located.node.kind, NodeKind::Scalar { style: TScalarStyle::Plain, .. } if !plain_is_safe(s, false))
                }
                ScalarValue::Int(n) => {
                    old == &n.to_string() && matches!(located.node.kind, NodeKind::Scalar { style: TScalarStyle::Plain, .. })
                }
                ScalarValue::Bool(b) => {
                    old == &b.to_string() && matches!(located.node.kind, NodeKind::Scalar { style: TScalarStyle::Plain, .. })
                }
            };
            if same {
                return Ok(false);
            }
        }
        let (s, e, style, flow) = scalar_span(&ctx, &located.text, &located.node)?;
        let rendered = render_scalar(&value, style, flow);
        let (s, e) = match &located.mapping {
            Some(map) => (map.to_outer(s), map.to_outer(e)),
            None => (s, e),
        };
        let mut new_text = String::with_capacity(self.text.len() + rendered.len());
        new_text.push_str(&self.text[..s]);
        new_text.push_str(&rendered);
        new_text.push_str(&self.text[e..]);
        self.verify(&new_text, idx, &ctx, &segs, &value.to_json())?;
        self.text = new_text;
        Ok(true)
    }

    pub(crate) fn verify(
        &self,
        new_text: &str,
        idx: usize,
        ctx: &Ctx<'_>,
        segs: &[Segment],
        expected: &serde_json::Value,
    ) -> Result<(), EditError> {
        let values = parse_all(&self.file, new_text)?;
        let found = values.get(idx).and_then(|v| json_at(v, segs)).map(|c| c.into_owned());
        if found.as_ref() != Some(expected) {
            return Err(EditError::Verify {
                file: self.file.clone(),
                doc: ctx.doc.clone(),
                path: ctx.path.clone(),
                expected: expected.to_string(),
                found: found.map(|f| f.to_string()).unwrap_or_else(|| "missing".to_string()),
            });
        }
        // Other documents must be untouched.
        let before = parse_all(&self.file, &self.text)?;
        if before.len() != values.len() {
            return Err(EditError::Verify {
                file: self.file.clone(),
                doc: ctx.doc.clone(),
                path: ctx.path.clone(),
                expected: format!("{} documents", before.len()),
                found: format!("{} documents", values.len()),
            });
        }
        Ok(())
    }

    /// Like [`YamlEditor::set`], but creates missing mapping keys (block mappings only).
    pub fn upsert(&mut self, doc: &DocSelector, path: &str, value: impl Into<ScalarValue>) -> Result<bool, EditError> {
        let value = value.into();
        let segs = parse_path(path)?;
        let docs = parse_docs(&self.file, &self.text)?;
        let (idx, d) = select_doc(&self.file, &docs, doc)?;
        let ctx = self.ctx(idx, d, path);
        let root = d.root.as_ref().ok_or_else(|| ctx.not_found(&[], "expected content".into(), "an empty document".into()))?;
        // Walk as far as the path exists.
        let mut node = root;
        let mut depth = 0;
        while depth < segs.len() {
            match step(&ctx, node, &segs[depth], &segs[..depth]) {
                Ok(n) => {
                    node = n;
                    depth += 1;
                }
                Err(e) => {
                    if !matches!(segs[depth], Segment::Key(_)) || !matches!(node.kind, NodeKind::Map(_)) {
                        return Err(e);
                    }
                    break;
                }
            }
        }
        if depth == segs.len() {
            drop(docs);
            return self.set(doc, path, value);
        }
        let missing: Vec<&str> = segs[depth..]
            .iter()
            .map(|s| match s {
                Segment::Key(k) => Ok(k.as_str()),
                other => Err(ctx.unsupported(node.line, format!("cannot create `{other}`: only mapping keys can be added"))),
            })
            .collect::<Result<_, _>>()?;
        let NodeKind::Map(entries) = &node.kind else {
            return Err(ctx.unsupported(node.line, format!("expected a mapping, found {}", node.describe())));
        };
        let Some((_, first)) = entries.first() else {
            return Err(ctx.unsupported(node.line, "the mapping is empty (`{}`); add the key by hand".into()));
        };
        if text_at_flow(&self.text, first.key_start) {
            return Err(ctx.unsupported(node.line, "the mapping is a flow mapping (`{...}`); add the key by hand".into()));
        }
        let col = col_of(&self.text, first.key_start);
        let line_start = self.text[..first.key_start].rfind('\n').map(|p| p + 1).unwrap_or(0);
        if self.text[line_start..first.key_start].trim() != "" {
            return Err(ctx.unsupported(first.line, "the mapping starts on a list item line (`- key:`); add the key by hand".into()));
        }
        let mut insert = String::new();
        for (i, k) in missing.iter().enumerate() {
            let pad = " ".repeat(col + 2 * i);
            let key = if plain_is_safe(k, false) { k.to_string() } else { double_quoted(k) };
            if i + 1 == missing.len() {
                insert.push_str(&format!("{pad}{key}: {}\n", render_scalar(&value, TScalarStyle::Plain, false)));
            } else {
                insert.push_str(&format!("{pad}{key}:\n"));
            }
        }
        let insert = with_eol(&self.text, &insert);
        let mut new_text = String::with_capacity(self.text.len() + insert.len());
        new_text.push_str(&self.text[..line_start]);
        new_text.push_str(&insert);
        new_text.push_str(&self.text[line_start..]);
        self.verify(&new_text, idx, &ctx, &segs, &value.to_json())?;
        self.text = new_text;
        Ok(true)
    }
}
