//! Minimal-diff edits of a user's YAML: change one scalar (or add one list entry / key) and leave
//! every other byte — comments, quoting, indentation, document separators — exactly as it was.
//!
//! How: parse with `yaml-rust2`'s event parser (which reports where each node starts), build a
//! small position-aware tree, find the byte span of the target scalar, splice only that text, then
//! re-parse the whole file with `serde_norway` and check that the value at the path is the new one.
//!
//! Paths look like `spec.template.spec.containers[name=face].image`: `.key`, `[3]` (index),
//! `[key=value]` (the list item whose `key` is `value`), `["a.b/c"]` (a key with dots), and `|`
//! after a segment whose value is a block scalar holding YAML (a kustomize inline `patch: |`), to
//! continue inside it: `spec.patches[0].patch|[0].value.value`.

// Errors carry file, document and path context for the message; edits are not a hot path.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Errors of YAML edits; each names the file, the document, the path and what was found.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Reading or writing the file failed.
    #[error("{file}: {source}")]
    Io {
        /// File involved.
        file: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not valid YAML (before or after the edit).
    #[error("{file}:{line}:{col}: YAML does not parse: {message}; fix the file before editing it")]
    Parse {
        /// File.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// Parser message.
        message: String,
    },
    /// No document matches the selector.
    #[error("{file}: no document {selector}; the file has: {found}")]
    DocNotFound {
        /// File.
        file: PathBuf,
        /// What was asked for.
        selector: String,
        /// What the file holds (kind/name per document).
        found: String,
    },
    /// The path syntax is wrong.
    #[error("invalid YAML path `{path}`: {message} (expected e.g. `spec.containers[name=app].image`, `a[0]`, `[\"a.b\"]`)")]
    BadPath {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The path does not lead to a node.
    #[error("{file}: document {doc}: path `{path}`: at `{at}` {expected}, found {found}")]
    PathNotFound {
        /// File.
        file: PathBuf,
        /// Document description.
        doc: String,
        /// Full path.
        path: String,
        /// Prefix of the path that was resolved.
        at: String,
        /// What the next segment needed.
        expected: String,
        /// What is there instead.
        found: String,
    },
    /// The target exists but cannot be edited in place with a minimal diff.
    #[error("{file}:{line}: document {doc}: path `{path}`: {message}")]
    Unsupported {
        /// File.
        file: PathBuf,
        /// Document description.
        doc: String,
        /// Path.
        path: String,
        /// 1-based line of the node.
        line: usize,
        /// Why.
        message: String,
    },
    /// After the splice the file did not hold the expected value (a bug in the editor; the file
    /// was not written).
    #[error(
        "{file}: document {doc}: path `{path}`: after the edit the value is {found}, expected {expected}; the file was left unchanged (please report this)"
    )]
    Verify {
        /// File.
        file: PathBuf,
        /// Document description.
        doc: String,
        /// Path.
        path: String,
        /// Expected value.
        expected: String,
        /// Found value.
        found: String,
    },
}

/// Which document of a multi-document file to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocSelector {
    /// The n-th document (0-based, counting empty documents too).
    Index(usize),
    /// The document with this `kind` and `metadata.name` (the first one if several).
    Object {
        /// `kind`, e.g. `Deployment`.
        kind: String,
        /// `metadata.name`.
        name: String,
    },
}

impl DocSelector {
    /// Select by `kind` and `metadata.name`.
    pub fn object(kind: &str, name: &str) -> DocSelector {
        DocSelector::Object { kind: kind.to_string(), name: name.to_string() }
    }
}

impl fmt::Display for DocSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocSelector::Index(i) => write!(f, "#{i}"),
            DocSelector::Object { kind, name } => write!(f, "{kind} {name}"),
        }
    }
}

/// A new scalar value.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    /// A string (quoted when it would otherwise read as a number, bool, null...).
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for ScalarValue {
    fn from(s: &str) -> Self {
        ScalarValue::Str(s.to_string())
    }
}
impl From<String> for ScalarValue {
    fn from(s: String) -> Self {
        ScalarValue::Str(s)
    }
}
impl From<i64> for ScalarValue {
    fn from(n: i64) -> Self {
        ScalarValue::Int(n)
    }
}
impl From<bool> for ScalarValue {
    fn from(b: bool) -> Self {
        ScalarValue::Bool(b)
    }
}

impl ScalarValue {
    fn to_json(&self) -> serde_json::Value {
        match self {
            ScalarValue::Str(s) => serde_json::Value::String(s.clone()),
            ScalarValue::Int(n) => serde_json::Value::from(*n),
            ScalarValue::Bool(b) => serde_json::Value::Bool(*b),
        }
    }
}

/// Which container of a pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerSel {
    /// By container `name`.
    Name(String),
    /// By image repository (the image without tag/digest), e.g. `dwflynn/faces-service`.
    ImageRepo(String),
}

impl fmt::Display for ContainerSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContainerSel::Name(n) => write!(f, "container named `{n}`"),
            ContainerSel::ImageRepo(r) => write!(f, "container with image `{r}`"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Paths

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Mapping key.
    Key(String),
    /// Sequence index.
    Index(usize),
    /// Sequence item whose mapping has `key: value`.
    Match {
        /// Key inside the item.
        key: String,
        /// Its scalar value.
        value: String,
    },
    /// The current node is a block scalar holding YAML: continue inside it.
    Embedded,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Key(k) if k.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') => write!(f, ".{k}"),
            Segment::Key(k) => write!(f, "[\"{k}\"]"),
            Segment::Index(i) => write!(f, "[{i}]"),
            Segment::Match { key, value } => write!(f, "[{key}={value}]"),
            Segment::Embedded => write!(f, "|"),
        }
    }
}

/// Render path segments back to text (`a.b[0]`).
pub fn path_to_string(segs: &[Segment]) -> String {
    let mut s = String::new();
    for seg in segs {
        s.push_str(&seg.to_string());
    }
    s.strip_prefix('.').map(str::to_string).unwrap_or(s)
}

/// Parse a path like `spec.containers[name=face].env[name=X].value`.
pub fn parse_path(path: &str) -> Result<Vec<Segment>, EditError> {
    let bad = |message: &str| EditError::BadPath { path: path.to_string(), message: message.to_string() };
    let mut segs = Vec::new();
    let chars: Vec<char> = path.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if i >= chars.len() || matches!(chars[i], '.' | '[' | '|') {
                    return Err(bad("empty key after `.`"));
                }
            }
            '|' => {
                segs.push(Segment::Embedded);
                i += 1;
            }
            '[' => {
                let close = chars[i..].iter().position(|&c| c == ']').map(|p| p + i).ok_or_else(|| bad("unclosed `[`"))?;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    segs.push(Segment::Key(q.to_string()));
                } else if let Some((k, v)) = inner.split_once('=') {
                    let v = v.trim();
                    let v = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(v);
                    if k.trim().is_empty() {
                        return Err(bad("empty key in `[key=value]`"));
                    }
                    segs.push(Segment::Match { key: k.trim().to_string(), value: v.to_string() });
                } else if let Ok(n) = inner.parse::<usize>() {
                    segs.push(Segment::Index(n));
                } else {
                    return Err(bad(&format!("`[{inner}]` is neither an index, `key=value` nor a quoted key")));
                }
                i = close + 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], '.' | '[' | '|') {
                    i += 1;
                }
                segs.push(Segment::Key(chars[start..i].iter().collect()));
            }
        }
    }
    if segs.is_empty() {
        return Err(bad("empty path"));
    }
    Ok(segs)
}

// ---------------------------------------------------------------------------------------------
// Position-aware tree

#[derive(Debug, Clone)]
enum NodeKind {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Scalar { value: String, style: TScalarStyle },
    Alias,
}

#[derive(Debug, Clone)]
struct Node {
    kind: NodeKind,
    /// Byte offset of the node start in the text.
    start: usize,
    /// Byte offset of the key of this node (for mapping values), else `start`.
    key_start: usize,
    /// 1-based line.
    line: usize,
}

impl Node {
    fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Map(entries) => {
                let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
                format!("a mapping with keys [{}]", keys.join(", "))
            }
            NodeKind::Seq(items) => format!("a list of {} item(s)", items.len()),
            NodeKind::Scalar { value, .. } => format!("the scalar {value:?}"),
            NodeKind::Alias => "an alias".to_string(),
        }
    }

    fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// One document: its root node (None when empty) and first line.
#[derive(Debug, Clone)]
struct Doc {
    root: Option<Node>,
    line: usize,
}

struct TreeBuilder<'a> {
    text: &'a str,
    parser: Parser<std::str::Chars<'a>>,
    /// char index -> byte offset (yaml-rust2 markers count chars).
    char_to_byte: Vec<usize>,
}

impl TreeBuilder<'_> {
    fn byte(&self, m: &Marker) -> usize {
        self.char_to_byte.get(m.index()).copied().unwrap_or_else(|| self.char_to_byte.last().copied().unwrap_or(0))
    }

    fn line_of(&self, byte: usize) -> usize {
        self.text[..byte].matches('\n').count() + 1
    }

    fn next(&mut self) -> Result<(Event, Marker), (Marker, String)> {
        self.parser.next_token().map_err(|e| (*e.marker(), e.info().to_string()))
    }

    fn node(&mut self, ev: Event, m: Marker) -> Result<Node, (Marker, String)> {
        let start = self.byte(&m);
        let line = m.line();
        let kind = match ev {
            Event::Scalar(value, style, _, _) => NodeKind::Scalar { value, style },
            Event::Alias(_) => NodeKind::Alias,
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev, m)?);
                }
                NodeKind::Seq(items)
            }
            Event::MappingStart(..) => {
                let mut entries = Vec::new();
                loop {
                    let (ev, km) = self.next()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let key = match &ev {
                        Event::Scalar(k, ..) => k.clone(),
                        _ => String::new(),
                    };
                    let key_node = self.node(ev, km)?;
                    let (vev, vm) = self.next()?;
                    let mut value = self.node(vev, vm)?;
                    value.key_start = key_node.start;
                    entries.push((key, value));
                }
                // Mapping markers point at the first `:`; use the first key's position.
                if let Some((_, first)) = entries.first() {
                    return Ok(Node {
                        start: first.key_start,
                        key_start: first.key_start,
                        line: self.line_of(first.key_start),
                        kind: NodeKind::Map(entries),
                    });
                }
                NodeKind::Map(entries)
            }
            other => return Err((m, format!("unexpected YAML event {other:?}"))),
        };
        Ok(Node { kind, start, key_start: start, line })
    }
}

fn char_table(text: &str) -> Vec<usize> {
    let mut t: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    t.push(text.len());
    t
}

fn parse_docs(file: &Path, text: &str) -> Result<Vec<Doc>, EditError> {
    let mut b = TreeBuilder { text, parser: Parser::new_from_str(text), char_to_byte: char_table(text) };
    let err = |(m, message): (Marker, String)| EditError::Parse { file: file.to_path_buf(), line: m.line(), col: m.col() + 1, message };
    let mut docs = Vec::new();
    loop {
        let (ev, m) = b.next().map_err(err)?;
        match ev {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                let line = m.line();
                let (ev, m) = b.next().map_err(err)?;
                if ev == Event::DocumentEnd {
                    docs.push(Doc { root: None, line });
                    continue;
                }
                let root = b.node(ev, m).map_err(err)?;
                let (end, m) = b.next().map_err(err)?;
                if end != Event::DocumentEnd {
                    return Err(err((m, "expected the end of the document".into())));
                }
                docs.push(Doc { root: Some(root), line });
            }
            _ => {}
        }
    }
    Ok(docs)
}

fn doc_label(doc: &Doc) -> Option<String> {
    let root = doc.root.as_ref()?;
    let kind = root.get("kind")?.scalar()?;
    let name = root.get("metadata").and_then(|m| m.get("name")).and_then(Node::scalar).unwrap_or("?");
    Some(format!("{kind} {name}"))
}

fn describe_doc(i: usize, doc: &Doc) -> String {
    match doc_label(doc) {
        Some(l) => format!("#{i} ({l}, line {})", doc.line),
        None => format!("#{i} (line {})", doc.line),
    }
}

fn select_doc<'d>(file: &Path, docs: &'d [Doc], sel: &DocSelector) -> Result<(usize, &'d Doc), EditError> {
    let found = match sel {
        DocSelector::Index(i) => docs.get(*i).map(|d| (*i, d)),
        DocSelector::Object { kind, name } => docs.iter().enumerate().find(|(_, d)| {
            let Some(root) = d.root.as_ref() else { return false };
            root.get("kind").and_then(Node::scalar) == Some(kind.as_str())
                && root.get("metadata").and_then(|m| m.get("name")).and_then(Node::scalar) == Some(name.as_str())
        }),
    };
    found.ok_or_else(|| EditError::DocNotFound {
        file: file.to_path_buf(),
        selector: sel.to_string(),
        found: if docs.is_empty() {
            "no documents".to_string()
        } else {
            docs.iter().enumerate().map(|(i, d)| describe_doc(i, d)).collect::<Vec<_>>().join(", ")
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Resolution

/// Where a path ended up: a node inside `text` (which may be the body of an embedded block scalar,
/// mapped back to the outer file through `line_map`).
struct Located<'t> {
    node: Node,
    /// Text the node's offsets refer to.
    text: std::borrow::Cow<'t, str>,
    /// For embedded text: outer byte offset of each inner line start, and inner line starts.
    mapping: Option<EmbedMap>,
}

#[derive(Debug, Clone)]
struct EmbedMap {
    /// (inner line start, outer offset of the same character)
    lines: Vec<(usize, usize)>,
}

impl EmbedMap {
    fn to_outer(&self, inner: usize) -> usize {
        let idx = self.lines.partition_point(|(s, _)| *s <= inner).saturating_sub(1);
        let (s, o) = self.lines[idx];
        o + (inner - s)
    }
}

struct Ctx<'a> {
    file: &'a Path,
    doc: String,
    path: String,
}

impl Ctx<'_> {
    fn not_found(&self, at: &[Segment], expected: String, found: String) -> EditError {
        EditError::PathNotFound {
            file: self.file.to_path_buf(),
            doc: self.doc.clone(),
            path: self.path.clone(),
            at: if at.is_empty() { "(document root)".to_string() } else { path_to_string(at) },
            expected,
            found,
        }
    }
    fn unsupported(&self, line: usize, message: String) -> EditError {
        EditError::Unsupported { file: self.file.to_path_buf(), doc: self.doc.clone(), path: self.path.clone(), line, message }
    }
}

fn step<'n>(ctx: &Ctx<'_>, node: &'n Node, seg: &Segment, done: &[Segment]) -> Result<&'n Node, EditError> {
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
fn embedded_text(ctx: &Ctx<'_>, text: &str, node: &Node) -> Result<(String, EmbedMap), EditError> {
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

fn locate<'t>(ctx: &Ctx<'_>, text: &'t str, root: &Node, segs: &[Segment]) -> Result<Located<'t>, EditError> {
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
fn in_flow(text: &str, start: usize) -> bool {
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
fn scalar_span(ctx: &Ctx<'_>, text: &str, node: &Node) -> Result<(usize, usize, TScalarStyle, bool), EditError> {
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

fn double_quoted(s: &str) -> String {
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

fn render_scalar(v: &ScalarValue, old_style: TScalarStyle, flow: bool) -> String {
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

fn json_at<'v>(v: &'v serde_json::Value, segs: &[Segment]) -> Option<std::borrow::Cow<'v, serde_json::Value>> {
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

fn json_scalar_text(v: &serde_json::Value) -> String {
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

// ---------------------------------------------------------------------------------------------
// The editor

/// A YAML file being edited in memory; every edit keeps all other bytes as they were.
#[derive(Debug, Clone)]
pub struct YamlEditor {
    file: PathBuf,
    original: String,
    text: String,
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

    fn ctx(&self, idx: usize, doc: &Doc, path: &str) -> Ctx<'_> {
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

    fn verify(&self, new_text: &str, idx: usize, ctx: &Ctx<'_>, segs: &[Segment], expected: &serde_json::Value) -> Result<(), EditError> {
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

    /// Paths of the pod template's container lists in a workload document.
    fn containers_paths(root: &Node) -> Vec<Vec<Segment>> {
        let k = |s: &str| Segment::Key(s.to_string());
        let candidates = [
            vec![k("spec"), k("template"), k("spec")],
            vec![k("spec"), k("jobTemplate"), k("spec"), k("template"), k("spec")],
            vec![k("spec")],
        ];
        let mut out = Vec::new();
        for base in candidates {
            for list in ["containers", "initContainers"] {
                let mut p = base.clone();
                p.push(k(list));
                let mut n = Some(root);
                for seg in &p {
                    n = n.and_then(|n| if let Segment::Key(key) = seg { n.get(key) } else { None });
                }
                if matches!(n.map(|n| &n.kind), Some(NodeKind::Seq(_))) {
                    out.push(p);
                }
            }
            if !out.is_empty() {
                break;
            }
        }
        out
    }

    /// Path of the selected container (e.g. `spec.template.spec.containers[name=face]`).
    fn container_path(&self, doc: &DocSelector, sel: &ContainerSel) -> Result<(String, Vec<Segment>, Option<String>), EditError> {
        let docs = parse_docs(&self.file, &self.text)?;
        let (idx, d) = select_doc(&self.file, &docs, doc)?;
        let ctx = self.ctx(idx, d, "spec.template.spec.containers");
        let root = d.root.as_ref().ok_or_else(|| ctx.not_found(&[], "expected a workload".into(), "an empty document".into()))?;
        let lists = Self::containers_paths(root);
        if lists.is_empty() {
            return Err(ctx.not_found(&[], "expected a pod template with containers".into(), root.describe()));
        }
        let mut seen = Vec::new();
        for list in &lists {
            let mut n = root;
            for seg in list {
                n = step(&ctx, n, seg, &[])?;
            }
            let NodeKind::Seq(items) = &n.kind else { continue };
            for it in items {
                let name = it.get("name").and_then(Node::scalar).unwrap_or("").to_string();
                let image = it.get("image").and_then(Node::scalar).map(str::to_string);
                seen.push(format!("{name} ({})", image.as_deref().unwrap_or("no image")));
                let hit = match sel {
                    ContainerSel::Name(want) => &name == want,
                    ContainerSel::ImageRepo(repo) => image.as_deref().map(|i| split_image(i).0 == repo.as_str()).unwrap_or(false),
                };
                if hit {
                    let mut p = list.clone();
                    p.push(Segment::Match { key: "name".into(), value: name });
                    return Ok((path_to_string(&p), p, image));
                }
            }
        }
        Err(EditError::PathNotFound {
            file: self.file.clone(),
            doc: describe_doc(idx, d),
            path: path_to_string(&lists[0]),
            at: path_to_string(&lists[0]),
            expected: format!("expected a {sel}"),
            found: format!("containers [{}]", seen.join(", ")),
        })
    }

    /// Set the image tag of a container (keeping its repository); returns whether it changed.
    pub fn set_image_tag(&mut self, doc: &DocSelector, container: &ContainerSel, tag: &str) -> Result<bool, EditError> {
        let (cpath, _, image) = self.container_path(doc, container)?;
        let image = image.unwrap_or_default();
        let (repo, _) = split_image(&image);
        let new_image = format!("{repo}:{tag}");
        self.set(doc, &format!("{cpath}.image"), new_image)
    }

    /// Set the value of env var `name` of a container; adds the entry at the end of the `env`
    /// list (or adds `env:` right after the container's `name:`) when it is missing.
    pub fn set_env(&mut self, doc: &DocSelector, container: &ContainerSel, name: &str, value: &str) -> Result<bool, EditError> {
        let (cpath, csegs, _) = self.container_path(doc, container)?;
        let value_path = format!("{cpath}.env[name={name}].value");
        let docs = parse_docs(&self.file, &self.text)?;
        let (idx, d) = select_doc(&self.file, &docs, doc)?;
        let ctx = self.ctx(idx, d, &value_path);
        let root = d.root.as_ref().ok_or_else(|| ctx.not_found(&[], "expected a workload".into(), "an empty document".into()))?;
        let mut cnode = root;
        for (i, seg) in csegs.iter().enumerate() {
            cnode = step(&ctx, cnode, seg, &csegs[..i])?;
        }
        let env = cnode.get("env");
        let existing = match env.map(|e| &e.kind) {
            Some(NodeKind::Seq(items)) => items.iter().find(|it| it.get("name").and_then(Node::scalar) == Some(name)).cloned(),
            _ => None,
        };
        if let Some(entry) = existing {
            if entry.get("value").is_some() {
                return self.set(doc, &value_path, value);
            }
            return Err(ctx.unsupported(entry.line, format!("env var {name} has no `value` (valueFrom?); edit it by hand")));
        }
        let seq_indent_style = sequence_indent(&self.text, cnode);
        let (insert_at, text) = match env {
            Some(env_node) => {
                let NodeKind::Seq(items) = &env_node.kind else {
                    return Err(ctx.unsupported(env_node.line, format!("`env` is {}, expected a list", env_node.describe())));
                };
                if items.is_empty() || text_at_flow(&self.text, env_node.start) {
                    return Err(ctx.unsupported(env_node.line, "`env` is a flow list (`[...]`); write it as a block list first".into()));
                }
                let last = &items[items.len() - 1];
                let dash_col = col_of(&self.text, dash_before(&self.text, last.start));
                let end = block_item_end(&self.text, last.start, dash_col);
                let pad = " ".repeat(dash_col);
                (
                    end,
                    format!(
                        "{pad}- name: {name}\n{pad}  value: {}\n",
                        render_scalar(&ScalarValue::Str(value.to_string()), TScalarStyle::DoubleQuoted, false)
                    ),
                )
            }
            None => {
                // After the container's `name:` line, at the container's key column.
                let name_node = cnode.get("name").ok_or_else(|| ctx.unsupported(cnode.line, "container has no name".into()))?;
                let key_col = col_of(&self.text, name_node.key_start);
                let line_end = self.text[name_node.start..].find('\n').map(|e| name_node.start + e + 1).unwrap_or(self.text.len());
                let pad = " ".repeat(key_col);
                let item_pad = " ".repeat(key_col + seq_indent_style);
                (line_end, format!("{pad}env:\n{item_pad}- name: {name}\n{item_pad}  value: {}\n", double_quoted(value)))
            }
        };
        let text = with_eol(&self.text, &text);
        let mut new_text = String::with_capacity(self.text.len() + text.len() + 2);
        new_text.push_str(&self.text[..insert_at]);
        if insert_at > 0 && !self.text[..insert_at].ends_with('\n') {
            new_text.push_str(eol(&self.text));
        }
        new_text.push_str(&text);
        new_text.push_str(&self.text[insert_at..]);
        let segs = parse_path(&value_path)?;
        self.verify(&new_text, idx, &ctx, &segs, &serde_json::Value::String(value.to_string()))?;
        self.text = new_text;
        Ok(true)
    }

    /// Set a value under a HelmRelease's `spec.values` (dotted path inside values); missing keys
    /// are added at the top of the deepest existing mapping.
    pub fn set_helm_value(&mut self, doc: &DocSelector, values_path: &str, value: impl Into<ScalarValue>) -> Result<bool, EditError> {
        self.upsert(doc, &format!("spec.values.{values_path}"), value)
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

/// Split `registry:5000/repo/name:tag@sha256:...` into (repository, tag-or-digest suffix).
pub fn split_image(image: &str) -> (&str, &str) {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last_slash = no_digest.rfind('/').map(|p| p + 1).unwrap_or(0);
    match no_digest[last_slash..].rfind(':') {
        Some(c) => (&image[..last_slash + c], &image[last_slash + c..]),
        None => (no_digest, &image[no_digest.len()..]),
    }
}

/// The file's line ending (CRLF files stay CRLF).
fn eol(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// `lines` (written with `\n`) in the file's line ending.
fn with_eol(text: &str, lines: &str) -> String {
    if eol(text) == "\r\n" { lines.replace('\n', "\r\n") } else { lines.to_string() }
}

fn col_of(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map(|p| p + 1).unwrap_or(0);
    text[line_start..at].chars().count()
}

fn text_at_flow(text: &str, at: usize) -> bool {
    text[at..].starts_with(['[', '{']) || in_flow(text, at)
}

/// Offset of the `- ` that introduces a block sequence item whose content starts at `at`.
fn dash_before(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map(|p| p + 1).unwrap_or(0);
    let lead = text[line_start..at].len() - text[line_start..at].trim_start_matches(' ').len();
    if text[line_start + lead..].starts_with('-') { line_start + lead } else { at }
}

/// Byte offset just after the last content line of a block sequence item whose `-` is at
/// `dash_col` (trailing comments and blank lines are not part of the item).
fn block_item_end(text: &str, item_start: usize, dash_col: usize) -> usize {
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
fn sequence_indent(text: &str, container: &Node) -> usize {
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
