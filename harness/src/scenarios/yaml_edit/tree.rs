//! A small position-aware YAML tree from `yaml-rust2` events, and document selection.
use super::*;

// ---------------------------------------------------------------------------------------------
// Position-aware tree

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Scalar { value: String, style: TScalarStyle },
    Alias,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    /// Byte offset of the node start in the text.
    pub(crate) start: usize,
    /// Byte offset of the key of this node (for mapping values), else `start`.
    pub(crate) key_start: usize,
    /// 1-based line.
    pub(crate) line: usize,
}

impl Node {
    pub(crate) fn describe(&self) -> String {
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

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// One document: its root node (None when empty) and first line.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub(crate) root: Option<Node>,
    pub(crate) line: usize,
}

pub(crate) struct TreeBuilder<'a> {
    pub(crate) text: &'a str,
    pub(crate) parser: Parser<std::str::Chars<'a>>,
    /// char index -> byte offset (yaml-rust2 markers count chars).
    pub(crate) char_to_byte: Vec<usize>,
}

impl TreeBuilder<'_> {
    pub(crate) fn byte(&self, m: &Marker) -> usize {
        self.char_to_byte.get(m.index()).copied().unwrap_or_else(|| self.char_to_byte.last().copied().unwrap_or(0))
    }

    pub(crate) fn line_of(&self, byte: usize) -> usize {
        self.text[..byte].matches('\n').count() + 1
    }

    pub(crate) fn next(&mut self) -> Result<(Event, Marker), (Marker, String)> {
        self.parser.next_token().map_err(|e| (*e.marker(), e.info().to_string()))
    }

    pub(crate) fn node(&mut self, ev: Event, m: Marker) -> Result<Node, (Marker, String)> {
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

pub(crate) fn char_table(text: &str) -> Vec<usize> {
    let mut t: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    t.push(text.len());
    t
}

pub(crate) fn parse_docs(file: &Path, text: &str) -> Result<Vec<Doc>, EditError> {
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

pub(crate) fn doc_label(doc: &Doc) -> Option<String> {
    let root = doc.root.as_ref()?;
    let kind = root.get("kind")?.scalar()?;
    let name = root.get("metadata").and_then(|m| m.get("name")).and_then(Node::scalar).unwrap_or("?");
    Some(format!("{kind} {name}"))
}

pub(crate) fn describe_doc(i: usize, doc: &Doc) -> String {
    match doc_label(doc) {
        Some(l) => format!("#{i} ({l}, line {})", doc.line),
        None => format!("#{i} (line {})", doc.line),
    }
}

pub(crate) fn select_doc<'d>(file: &Path, docs: &'d [Doc], sel: &DocSelector) -> Result<(usize, &'d Doc), EditError> {
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
