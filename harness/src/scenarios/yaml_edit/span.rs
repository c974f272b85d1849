//! From a path to the exact bytes of a scalar: stepping the tree, block scalars holding YAML,
//! quoting styles, and rendering a new scalar in the old one's style.
use super::*;

/// Where a path ended up: a node inside `text` (which may be the body of an embedded block scalar,
/// mapped back to the outer file through `line_map`).
pub(crate) struct Located<'t> {
    pub(crate) node: Node,
    /// Text the node's offsets refer to.
    pub(crate) text: std::borrow::Cow<'t, str>,
    /// For embedded text: outer byte offset of each inner line start, and inner line starts.
    pub(crate) mapping: Option<EmbedMap>,
}

#[derive(Debug, Clone)]
pub(crate) struct EmbedMap {
    /// (inner line start, outer offset of the same character)
    pub(crate) lines: Vec<(usize, usize)>,
}

impl EmbedMap {
    pub(crate) fn to_outer(&self, inner: usize) -> usize {
        let idx = self.lines.partition_point(|(s, _)| *s <= inner).saturating_sub(1);
        let (s, o) = self.lines[idx];
        o + (inner - s)
    }
}

pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a Path,
    pub(crate) doc: String,
    pub(crate) path: String,
}

impl Ctx<'_> {
    pub(crate) fn not_found(&self, at: &[Segment], expected: String, found: String) -> EditError {
        EditError::PathNotFound {
            file: self.file.to_path_buf(),
            doc: self.doc.clone(),
            path: self.path.clone(),
            at: if at.is_empty() { "(document root)".to_string() } else { path_to_string(at) },
            expected,
            found,
        }
    }
    pub(crate) fn unsupported(&self, line: usize, message: String) -> EditError {
        EditError::Unsupported { file: self.file.to_path_buf(), doc: self.doc.clone(), path: self.path.clone(), line, message }
    }
}

pub(crate) fn step<'n>(ctx: &Ctx<'_>, node: &'n Node, seg: &Segment, done: &[Segment]) -> Result<&'n Node, EditError> {
    match (seg, &node.kind) {
        (Segment::Key(k), NodeKind::Map(entries)) => entries
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v)
            .ok_or_else(|| ctx.not_found(done, format!("expected key `{k}`"), node.describe())),
        (Segment::Index(i), NodeKind::Seq(items)) => {
            items.get(*i).ok_or_else(|| ctx.not_found(done, format!("expected item [{i}]"), node.describe()))
        }
        (Segment::Match { key, value }, NodeKind::Seq(items)) => {
            items.iter().find(|it| it.get(key).and_then(Node::scalar) == Some(value.as_str())).ok_or_else(|| {
                let seen: Vec<String> = items.iter().map(|it| it.get(key).and_then(Node::scalar).unwrap_or("(none)").to_string()).collect();
                ctx.not_found(done, format!("expected an item with {key}={value}"), format!("items with {key}: [{}]", seen.join(", ")))
            })
        }
        (seg, _) => Err(ctx.not_found(done, format!("cannot apply `{seg}`"), node.describe())),
    }
}

/// Turn a literal/folded block scalar starting at `start` (the `|`/`>` indicator) into its inner
/// text (indentation stripped) plus the map back to outer offsets.
pub(crate) fn embedded_text(ctx: &Ctx<'_>, text: &str, node: &Node) -> Result<(String, EmbedMap), EditError> {
    // yaml-rust2 marks a block scalar at the first character of its body; the body's
    // indentation is that character's column.
    let body_start = text[..node.start].rfind('\n').map(|p| p + 1).unwrap_or(0);
    let indent = node.start - body_start;
    let header_line = text[..body_start.saturating_sub(1)].rfind('\n').map(|p| p + 1).unwrap_or(0);
    if !text[header_line..body_start].trim_end().ends_with(['|', '-', '+']) || !text[header_line..body_start].contains('|') {
        return Err(ctx.unsupported(node.line, "only literal block scalars (`|`) can be edited inside".into()));
    }
    let mut inner = String::new();
    let mut lines = Vec::new();
    let mut pos = body_start;
    while pos < text.len() {
        let end = text[pos..].find('\n').map(|e| pos + e + 1).unwrap_or(text.len());
        let line = &text[pos..end];
        let content = line.trim_end_matches(['\n', '\r']);
        let lead = content.len() - content.trim_start_matches(' ').len();
        if content.trim().is_empty() {
            lines.push((inner.len(), pos + lead.min(indent)));
            inner.push('\n');
            pos = end;
            continue;
        }
        if lead < indent {
            break;
        }
        lines.push((inner.len(), pos + indent));
        inner.push_str(&line[indent..]);
        if !line.ends_with('\n') {
            inner.push('\n');
        }
        pos = end;
    }
    Ok((inner, EmbedMap { lines }))
}

pub(crate) fn locate<'t>(ctx: &Ctx<'_>, text: &'t str, root: &Node, segs: &[Segment]) -> Result<Located<'t>, EditError> {
    let mut node = root;
    for (i, seg) in segs.iter().enumerate() {
        if *seg == Segment::Embedded {
            let NodeKind::Scalar { style: TScalarStyle::Literal, .. } = node.kind else {
                return Err(ctx.not_found(&segs[..i], "expected a literal block scalar (`|`) holding YAML".into(), node.describe()));
            };
            let (inner, map) = embedded_text(ctx, text, node)?;
            let docs =
                parse_docs(ctx.file, &inner).map_err(|e| ctx.unsupported(node.line, format!("the embedded YAML does not parse: {e}")))?;
            let inner_root = docs
                .into_iter()
                .next()
                .and_then(|d| d.root)
                .ok_or_else(|| ctx.unsupported(node.line, "the embedded YAML is empty".into()))?;
            let rest = &segs[i + 1..];
            if rest.is_empty() {
                return Err(ctx.unsupported(node.line, "path ends at `|`: name a value inside the embedded YAML".into()));
            }
            let sub_ctx = Ctx { file: ctx.file, doc: ctx.doc.clone(), path: ctx.path.clone() };
            let located = locate(&sub_ctx, &inner, &inner_root, rest)?;
            let node = located.node;
            if located.mapping.is_some() {
                return Err(ctx.unsupported(node.line, "nested embedded YAML is not supported".into()));
            }
            return Ok(Located { node, text: std::borrow::Cow::Owned(inner), mapping: Some(map) });
        }
        node = step(ctx, node, seg, &segs[..i])?;
    }
    Ok(Located { node: node.clone(), text: std::borrow::Cow::Borrowed(text), mapping: None })
}

/// True when the scalar at `start` sits in a flow collection (`[a, b]`, `{a: b}`).
pub(crate) fn in_flow(text: &str, start: usize) -> bool {
    // Walk back over this line and earlier ones, counting unclosed brackets; good enough for the
    // single-line flow collections Kubernetes manifests use.
    let line_start = text[..start].rfind('\n').map(|p| p + 1).unwrap_or(0);
    let mut depth: i32 = 0;
    for c in text[line_start..start].chars() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    depth > 0
}

/// Byte span [start, end) of a single-line scalar's source text.
pub(crate) fn scalar_span(ctx: &Ctx<'_>, text: &str, node: &Node) -> Result<(usize, usize, TScalarStyle, bool), EditError> {
    let NodeKind::Scalar { value, style } = &node.kind else {
        return Err(ctx.unsupported(node.line, format!("expected a scalar, found {}", node.describe())));
    };
    let s = node.start;
    let rest = &text[s..];
    let line_end = rest.find('\n').map(|e| s + e).unwrap_or(text.len());
    let flow = in_flow(text, s);
    let end = match style {
        TScalarStyle::DoubleQuoted => {
            if !rest.starts_with('"') {
                return Err(ctx.unsupported(node.line, "scalar has a tag or anchor; edit it by hand".into()));
            }
            let mut esc = false;
            let mut end = None;
            for (i, c) in rest.char_indices().skip(1) {
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    end = Some(s + i + 1);
                    break;
                }
            }
            end.ok_or_else(|| ctx.unsupported(node.line, "unterminated double-quoted string".into()))?
        }
        TScalarStyle::SingleQuoted => {
            if !rest.starts_with('\'') {
                return Err(ctx.unsupported(node.line, "scalar has a tag or anchor; edit it by hand".into()));
            }
            let b = rest.as_bytes();
            let mut i = 1;
            let mut end = None;
            while i < b.len() {
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    end = Some(s + i + 1);
                    break;
                }
                i += 1;
            }
            end.ok_or_else(|| ctx.unsupported(node.line, "unterminated single-quoted string".into()))?
        }
        TScalarStyle::Plain => {
            let seg = &text[s..line_end];
            let mut end = seg.len();
            let bytes = seg.as_bytes();
            for i in 0..bytes.len() {
                let c = bytes[i];
                if c == b'#' && i > 0 && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
                    end = i;
                    break;
                }
                if flow && matches!(c, b',' | b']' | b'}') {
                    end = i;
                    break;
                }
                if c == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
                    end = i;
                    break;
                }
            }
            let raw = seg[..end].trim_end();
            if raw != value {
                return Err(ctx
                    .unsupported(node.line, format!("the scalar {value:?} spans several lines or carries a tag/anchor; edit it by hand")));
            }
            s + raw.len()
        }
        TScalarStyle::Literal | TScalarStyle::Folded => {
            return Err(ctx.unsupported(
                node.line,
                "block scalars (`|`, `>`) are not edited in place; use `|` in the path to edit YAML inside a literal block".into(),
            ));
        }
    };
    if end > line_end && !matches!(style, TScalarStyle::Plain) && text[s..end].contains('\n') {
        return Err(ctx.unsupported(node.line, "the quoted scalar spans several lines; edit it by hand".into()));
    }
    Ok((s, end, *style, flow))
}

// ---------------------------------------------------------------------------------------------
// Rendering scalars

/// True when `s` can be written as a plain YAML scalar and still read back as that string, under
/// both YAML 1.2 (serde_norway) and YAML 1.1 (go-yaml v2, which Kubernetes tooling uses).
pub fn plain_is_safe(s: &str, flow: bool) -> bool {
    if s.is_empty() || s.trim() != s {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    // `-` may start a plain scalar when a non-space follows (`-x`), but not as `- ` or `--`.
    let dash_ok = first == '-' && s.len() > 1 && !s.starts_with("- ") && !s.starts_with("--");
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) && !dash_ok {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c.is_control()) {
        return false;
    }
    if flow && s.chars().any(|c| matches!(c, ',' | '[' | ']' | '{' | '}')) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~") {
        return false;
    }
    // Anything number-like (ints, floats, hex/octal/binary, 1_000, sexagesimal 1:30) gets quoted.
    let numberish = s.trim_start_matches(['+', '-']);
    if numberish.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && numberish.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '+' | '-'))
        && (numberish.chars().filter(|&c| c == '.').count() <= 1 || numberish.contains(':'))
        && !numberish.chars().any(|c| {
            c.is_ascii_alphabetic() && !matches!(c.to_ascii_lowercase(), 'e' | 'x' | 'o' | 'b' | 'a' | 'c' | 'd' | 'f' | 'i' | 'n')
        })
    {
        return false;
    }
    if matches!(lower.trim_start_matches(['+', '-']), ".inf" | ".nan") {
        return false;
    }
    // Final word: YAML 1.2 must read it back as the same string.
    matches!(serde_norway::from_str::<serde_norway::Value>(s), Ok(serde_norway::Value::String(ref back)) if back == s)
}

pub(crate) fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn render_scalar(v: &ScalarValue, old_style: TScalarStyle, flow: bool) -> String {
    match v {
        ScalarValue::Int(n) => n.to_string(),
        ScalarValue::Bool(b) => b.to_string(),
        ScalarValue::Str(s) => match old_style {
            TScalarStyle::SingleQuoted if !s.contains('\n') => format!("'{}'", s.replace('\'', "''")),
            TScalarStyle::Plain if plain_is_safe(s, flow) => s.clone(),
            _ => double_quoted(s),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Verification against a full re-parse

pub(crate) fn json_at<'v>(v: &'v serde_json::Value, segs: &[Segment]) -> Option<std::borrow::Cow<'v, serde_json::Value>> {
    let mut cur = v;
    for (i, seg) in segs.iter().enumerate() {
        cur = match seg {
            Segment::Key(k) => cur.get(k)?,
            Segment::Index(n) => cur.get(*n)?,
            Segment::Match { key, value } => {
                cur.as_array()?.iter().find(|it| it.get(key).map(json_scalar_text).as_deref() == Some(value.as_str()))?
            }
            Segment::Embedded => {
                let inner: serde_json::Value = serde_norway::from_str(cur.as_str()?).ok()?;
                return json_at(&inner, &segs[i + 1..]).map(|c| std::borrow::Cow::Owned(c.into_owned()));
            }
        };
    }
    Some(std::borrow::Cow::Borrowed(cur))
}

pub(crate) fn json_scalar_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parse every document of `text` into JSON values (empty documents become `null`).
pub fn parse_all(file: &Path, text: &str) -> Result<Vec<serde_json::Value>, EditError> {
    use serde::Deserialize as _;
    let mut out = Vec::new();
    for de in serde_norway::Deserializer::from_str(text) {
        let v = serde_json::Value::deserialize(de).map_err(|e| {
            let (line, col) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            EditError::Parse { file: file.to_path_buf(), line, col, message: e.to_string() }
        })?;
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The span `scalar_span` gives for the scalar at `path` in a one-document `text`.
    fn span_of<'t>(text: &'t str, path: &str) -> (&'t str, TScalarStyle, bool) {
        let file = Path::new("t.yaml");
        let docs = parse_docs(file, text).unwrap();
        let root = docs[0].root.as_ref().unwrap();
        let ctx = Ctx { file, doc: "document 1".into(), path: path.into() };
        let located = locate(&ctx, text, root, &parse_path(path).unwrap()).unwrap();
        let (s, e, style, flow) = scalar_span(&ctx, &located.text, &located.node).unwrap();
        assert!(located.mapping.is_none(), "plain text only here");
        (&text[s..e], style, flow)
    }

    #[test]
    fn scalar_span_covers_exactly_the_scalar_in_every_style() {
        let text =
            "a: plain value # comment\nb: \"dq \\\" esc\"  \nc: 'sq ''x'''\nd: [one, \"two\", three]\ne: {k: v}\nf: -x\ng: |\n  block\n";
        assert_eq!(span_of(text, "a"), ("plain value", TScalarStyle::Plain, false));
        assert_eq!(span_of(text, "b"), ("\"dq \\\" esc\"", TScalarStyle::DoubleQuoted, false));
        assert_eq!(span_of(text, "c"), ("'sq ''x'''", TScalarStyle::SingleQuoted, false));
        assert_eq!(span_of(text, "d[0]"), ("one", TScalarStyle::Plain, true));
        assert_eq!(span_of(text, "d[1]"), ("\"two\"", TScalarStyle::DoubleQuoted, true));
        assert_eq!(span_of(text, "d[2]"), ("three", TScalarStyle::Plain, true));
        assert_eq!(span_of(text, "e.k"), ("v", TScalarStyle::Plain, true));
        assert_eq!(span_of(text, "f"), ("-x", TScalarStyle::Plain, false));
    }

    #[test]
    fn scalar_span_keeps_tags_and_refuses_aliases() {
        // A tag stays; only the scalar after it is spliced.
        assert_eq!(span_of("a: !!str \"tagged\"\n", "a"), ("\"tagged\"", TScalarStyle::DoubleQuoted, false));
        let file = Path::new("t.yaml");
        let text = "a: &x v\nb: *x\n";
        let docs = parse_docs(file, text).unwrap();
        let ctx = Ctx { file, doc: "document 1".into(), path: "b".into() };
        let located = locate(&ctx, text, docs[0].root.as_ref().unwrap(), &parse_path("b").unwrap()).unwrap();
        let err = scalar_span(&ctx, &located.text, &located.node).unwrap_err().to_string();
        assert!(err.contains("expected a scalar"), "{err}");
    }

    #[test]
    fn plain_is_safe_only_when_yaml_reads_the_same_string_back() {
        for ok in ["face", "ghcr.io/x/y:1.2.3", "-x", "a-b", "1.2.3", "v1", "with space", "a:b"] {
            assert!(plain_is_safe(ok, false), "{ok}");
        }
        for quoted in [
            "", " lead", "trail ", "true", "No", "on", "null", "~", "123", "1.5", "0x1F", "1_000", "1:30", ".inf", "-.NaN", "- x", "--",
            "a: b", "a #c", "end:", "#x", "&a", "*a", "!t", "|", ">", "'q", "\"q", "%x", "@x", "`x", "{a}", "[a]", "tab\tin",
        ] {
            assert!(!plain_is_safe(quoted, false), "{quoted:?} must be quoted");
        }
        assert!(plain_is_safe("a,b", false));
        assert!(!plain_is_safe("a,b", true), "a comma ends a flow scalar");
        assert!(!plain_is_safe("a]", true));
    }
}
