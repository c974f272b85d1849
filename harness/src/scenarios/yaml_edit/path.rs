//! Edit paths (`spec.containers[name=face].image`): parsing and display.
use super::*;

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
