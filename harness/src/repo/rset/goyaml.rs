//! YAML as the operator's Go code writes it (`sigs.k8s.io/yaml` over go-yaml v2): keys sorted,
//! two-space indentation, lists inside mappings not indented, strings plain unless they would read
//! back as another type (then double-quoted) or cannot be plain (then single-quoted), multi-line
//! strings as literal blocks.
//!
//! The layout matters: a `spec.resources` entry is turned into this YAML *before* its `<< >>`
//! actions run, so `<< x | toYaml | nindent 4 >>` lands where its author counted the columns.

use serde_json::Value;

use super::value::{TVal, go_float};

enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

fn from_tval(v: &TVal) -> Node {
    match v {
        TVal::Nil => Node::Null,
        TVal::Bool(b) => Node::Bool(*b),
        TVal::Int(i) => Node::Int(*i),
        TVal::Float(f) => Node::Float(*f),
        TVal::Str(s) => Node::Str(s.clone()),
        TVal::List(l) => Node::Seq(l.iter().map(from_tval).collect()),
        TVal::Map(m) => Node::Map(m.iter().map(|(k, v)| (k.clone(), from_tval(v))).collect()),
    }
}

/// JSON read back by go-yaml: integers stay integers (also a float without fraction, which Go's
/// JSON encoder writes as an integer).
fn from_json(v: &Value) -> Node {
    match v {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Node::Int(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e18 => Node::Int(f as i64),
            (None, Some(f)) => Node::Float(f),
            _ => Node::Null,
        },
        Value::String(s) => Node::Str(s.clone()),
        Value::Array(a) => Node::Seq(a.iter().map(from_json).collect()),
        Value::Object(m) => {
            let mut entries: Vec<(String, Node)> = m.iter().map(|(k, v)| (k.clone(), from_json(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Node::Map(entries)
        }
    }
}

/// `toYaml` of a template value.
pub fn to_yaml(v: &TVal) -> String {
    emit(&from_tval(v))
}

/// `yaml.JSONToYAML` of a resource template.
pub fn json_to_yaml(v: &Value) -> String {
    emit(&from_json(v))
}

fn emit(n: &Node) -> String {
    let mut out = String::new();
    match n {
        Node::Map(m) if !m.is_empty() => map(&mut out, m, 0),
        Node::Seq(s) if !s.is_empty() => seq(&mut out, s, 0),
        other => {
            out.push_str(&inline(other, 0));
            out.push('\n');
        }
    }
    out
}

/// A scalar or empty collection on the current line; multi-line strings as a literal block whose
/// lines are indented by `indent + 2`.
fn inline(n: &Node, indent: usize) -> String {
    match n {
        Node::Null => "null".to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Float(f) => float(*f),
        Node::Str(s) => string(s, indent),
        Node::Seq(_) => "[]".to_string(),
        Node::Map(_) => "{}".to_string(),
    }
}

fn float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+.inf".into() } else { "-.inf".into() }
    } else {
        go_float(f)
    }
}

fn map(out: &mut String, m: &[(String, Node)], indent: usize) {
    let pad = " ".repeat(indent);
    for (k, v) in m {
        out.push_str(&pad);
        out.push_str(&string(k, indent));
        out.push(':');
        match v {
            Node::Map(inner) if !inner.is_empty() => {
                out.push('\n');
                map(out, inner, indent + 2);
            }
            // go-yaml v2 does not indent a list under its key.
            Node::Seq(items) if !items.is_empty() => {
                out.push('\n');
                seq(out, items, indent);
            }
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar, indent));
                out.push('\n');
            }
        }
    }
}

fn seq(out: &mut String, items: &[Node], indent: usize) {
    let pad = " ".repeat(indent);
    for item in items {
        out.push_str(&pad);
        out.push_str("- ");
        match item {
            Node::Map(m) if !m.is_empty() => {
                // The first entry shares the dash's line; the rest align under it.
                let mut inner = String::new();
                map(&mut inner, m, indent + 2);
                out.push_str(inner.trim_start_matches(' '));
            }
            Node::Seq(s) if !s.is_empty() => {
                let mut inner = String::new();
                seq(&mut inner, s, indent + 2);
                out.push_str(inner.trim_start_matches(' '));
            }
            scalar => {
                out.push_str(&inline(scalar, indent));
                out.push('\n');
            }
        }
    }
}

/// Whether a plain scalar would read back as something other than this string (YAML 1.1 as
/// go-yaml v2 resolves it: null, booleans including yes/no/on/off, numbers, base-60 floats).
fn resolves_to_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
        "-.INF", ".nan", ".NaN", ".NAN", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let t = s.replace('_', "");
    let body = t.strip_prefix(['-', '+']).unwrap_or(&t);
    if body.is_empty() {
        return false;
    }
    if let Some(h) = body.strip_prefix("0x") {
        return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(b) = body.strip_prefix("0b") {
        return !b.is_empty() && b.chars().all(|c| c == '0' || c == '1');
    }
    if body.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    // Base 60 (`1:20`), which go-yaml v2 quotes too.
    if body.contains(':') && body.split(':').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) {
        return true;
    }
    static FLOAT: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    FLOAT
        .get_or_init(|| regex::Regex::new(r"^(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(body))
}

/// Whether libyaml's emitter allows a string as a plain scalar in block context.
fn plain_allowed(s: &str) -> bool {
    if s.is_empty() || s.starts_with(' ') || s.ends_with(' ') || s.starts_with('\t') || s.ends_with('\t') {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    let first = chars[0];
    let next_blank = |i: usize| chars.get(i + 1).is_none_or(|c| *c == ' ' || *c == '\t');
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    if (first == '-' || first == '?' || first == ':') && next_blank(0) {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    for (i, &c) in chars.iter().enumerate() {
        if c == ':' && next_blank(i) {
            return false;
        }
        if c == '#' && i > 0 && (chars[i - 1] == ' ' || chars[i - 1] == '\t') {
            return false;
        }
        if c == '\n' || c == '\r' || (c as u32) < 0x20 || c == '\u{feff}' {
            return false;
        }
    }
    true
}

fn string(s: &str, indent: usize) -> String {
    if s.contains('\n') && literal_allowed(s) {
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s.ends_with("\n\n") {
            "+"
        } else {
            ""
        };
        let pad = " ".repeat(indent + 2);
        let body = s.strip_suffix('\n').unwrap_or(s);
        let mut out = format!("|{chomp}");
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
        }
        return out;
    }
    if resolves_to_non_string(s) {
        return double_quoted(s);
    }
    if plain_allowed(s) {
        return s.to_string();
    }
    if s.chars().any(|c| (c as u32) < 0x20 && c != '\t') {
        return double_quoted(s);
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// libyaml writes a literal block only when no line starts with a space on the first line and no
/// line ends in a space (else it double-quotes).
fn literal_allowed(s: &str) -> bool {
    !s.starts_with(' ')
        && !s.lines().any(|l| l.ends_with(' ') || l.ends_with('\t'))
        && !s.chars().any(|c| (c as u32) < 0x20 && c != '\n' && c != '\t')
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_go_yaml_v2() {
        let v = serde_json::json!({
            "metadata": {"name": "app-<< inputs.tenant >>", "labels": {"b": "true", "a": "x: y"}},
            "spec": {"replicas": "<< inputs.replicas | int >>", "list": [{"name": "a", "items": [1, 2]}, "s"], "empty": {}, "n": 3},
            "apiVersion": "v1",
        });
        let y = json_to_yaml(&v);
        // `n` is a YAML 1.1 boolean to go-yaml v2: quoted, also as a key.
        let want = "apiVersion: v1\nmetadata:\n  labels:\n    a: 'x: y'\n    b: \"true\"\n  name: app-<< inputs.tenant >>\nspec:\n  empty: {}\n  list:\n  - items:\n    - 1\n    - 2\n    name: a\n  - s\n  \"n\": 3\n  replicas: << inputs.replicas | int >>\n";
        assert_eq!(y, want);
        let block = json_to_yaml(&serde_json::json!({"a": {"k": "l1,\nl2\n"}}));
        assert_eq!(block, "a:\n  k: |\n    l1,\n    l2\n");
        assert_eq!(to_yaml(&TVal::Map([("k1".to_string(), TVal::Str("v1".into()))].into())), "k1: v1\n");
        assert_eq!(to_yaml(&TVal::Float(1e6)), "1e+06\n");
        assert_eq!(
            json_to_yaml(&serde_json::json!({"v": "010", "w": "1.5", "x": "-", "y": "- a", "z": "#x", "q": "a #b"})),
            "q: 'a #b'\nv: \"010\"\nw: \"1.5\"\nx: '-'\n\"y\": '- a'\nz: '#x'\n"
        );
    }
}
