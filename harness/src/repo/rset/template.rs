//! Go `text/template` with the Flux Operator's settings: `<<`/`>>` delimiters, `missingkey=error`,
//! nil data, and the functions of [`super::funcs`] (slim-sprig's, `slugify`, `toYaml`, `inputs`).
//!
//! What Go's template language has is here: trim markers (`<<-`, `->>`), comments, pipelines,
//! parenthesised pipelines, field chains on maps, variables (`$x :=`, `$x =`, `$`), `if`/`else
//! if`/`else`, `range` (lists, maps in key order, integers; `$i, $v :=`; `else`; `break`,
//! `continue`), `with`/`else with`, and the builtins (`and`, `or`, `not`, `len`, `index`, `slice`,
//! `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`). `define`, `template` and
//! `block` are not: a template that uses them is reported as not expanded, never guessed.

use std::collections::BTreeMap;

use super::funcs;
use super::value::TVal;

/// Why a template did not expand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The operator refuses it too (Go's parse or execution error).
    #[error("{message}")]
    Invalid {
        /// 1-based line in the template text.
        line: usize,
        /// What Go would say.
        message: String,
    },
    /// Valid for the operator, but uses something this reader does not implement.
    #[error("{what} is not implemented by this check")]
    Unsupported {
        /// 1-based line in the template text.
        line: usize,
        /// The function or action.
        what: String,
    },
}

impl TemplateError {
    /// The 1-based line of the template text it is about.
    pub fn line(&self) -> usize {
        match self {
            TemplateError::Invalid { line, .. } | TemplateError::Unsupported { line, .. } => *line,
        }
    }
}

type Res<T> = Result<T, TemplateError>;

fn invalid(line: usize, message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid { line, message: message.into() }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Open,
    Close,
    Space,
    Ident(String),
    Field(String),
    Dot,
    Var(String),
    Str(String),
    Num(String),
    Char(char),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

/// Lex the template into text and action tokens (with their lines), applying trim markers.
fn lex(src: &str, left: &str, right: &str) -> Res<Vec<(Tok, usize)>> {
    let (ll, rl) = (left.len(), right.len());
    let mut out: Vec<(Tok, usize)> = Vec::new();
    let b = src.as_bytes();
    let mut i = 0usize;
    let mut line = 1usize;
    let mut trim_next_text = false;
    while i < b.len() {
        let open = src[i..].find(left).map(|p| p + i);
        let text_end = open.unwrap_or(b.len());
        let mut text = &src[i..text_end];
        if trim_next_text {
            text = text.trim_start_matches(is_space);
            trim_next_text = false;
        }
        let trim_left = open.is_some_and(|o| b.get(o + ll) == Some(&b'-') && b.get(o + ll + 1).is_some_and(|c| is_space(*c as char)));
        if trim_left {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            out.push((Tok::Text(text.to_string()), line));
        }
        line += src[i..text_end].matches('\n').count();
        let Some(o) = open else { break };
        i = o + ll + if trim_left { 2 } else { 0 };
        // A comment: `<</* … */>>` (with optional trim markers around it).
        let rest = &src[i..];
        if rest.starts_with("/*") {
            let Some(end) = rest.find("*/") else { return Err(invalid(line, "unclosed comment")) };
            line += rest[..end].matches('\n').count();
            let after = &rest[end + 2..];
            let (trim_right, skip) = if after.starts_with(" -") && after[2..].starts_with(right) {
                (true, 2 + rl)
            } else if after.starts_with(right) {
                (false, rl)
            } else {
                return Err(invalid(line, "comment ends before closing delimiter"));
            };
            i += end + 2 + skip;
            trim_next_text = trim_right;
            continue;
        }
        out.push((Tok::Open, line));
        // Action tokens up to `>>` / ` ->>`.
        loop {
            let Some(&c) = b.get(i) else { return Err(invalid(line, "unclosed action")) };
            let c = c as char;
            if src[i..].starts_with(right) {
                out.push((Tok::Close, line));
                i += rl;
                break;
            }
            if c == '-' && src[i + 1..].starts_with(right) && out.last().is_some_and(|(t, _)| *t == Tok::Space) {
                out.push((Tok::Close, line));
                i += 1 + rl;
                trim_next_text = true;
                break;
            }
            if is_space(c) {
                let start = i;
                while b.get(i).is_some_and(|c| is_space(*c as char)) {
                    i += 1;
                }
                line += src[start..i].matches('\n').count();
                if out.last().is_none_or(|(t, _)| *t != Tok::Space) {
                    out.push((Tok::Space, line));
                }
                continue;
            }
            match c {
                '|' => {
                    out.push((Tok::Pipe, line));
                    i += 1;
                }
                '(' => {
                    out.push((Tok::LParen, line));
                    i += 1;
                }
                ')' => {
                    out.push((Tok::RParen, line));
                    i += 1;
                }
                ',' => {
                    out.push((Tok::Comma, line));
                    i += 1;
                }
                ':' if src[i..].starts_with(":=") => {
                    out.push((Tok::Declare, line));
                    i += 2;
                }
                '=' => {
                    out.push((Tok::Assign, line));
                    i += 1;
                }
                '"' => {
                    let (s, n) = go_unquote(&src[i..]).ok_or_else(|| invalid(line, "unterminated quoted string"))?;
                    out.push((Tok::Str(s), line));
                    i += n;
                }
                '`' => {
                    let end = src[i + 1..].find('`').ok_or_else(|| invalid(line, "unterminated raw quoted string"))?;
                    let s = &src[i + 1..i + 1 + end];
                    line += s.matches('\n').count();
                    out.push((Tok::Str(s.to_string()), line));
                    i += end + 2;
                }
                '\'' => {
                    let end = src[i + 1..].find('\'').ok_or_else(|| invalid(line, "unterminated character constant"))?;
                    let inner = &src[i + 1..i + 1 + end];
                    let ch = match inner {
                        "\\n" => '\n',
                        "\\t" => '\t',
                        "\\\\" => '\\',
                        "\\'" => '\'',
                        _ => inner.chars().next().ok_or_else(|| invalid(line, "empty character constant"))?,
                    };
                    out.push((Tok::Char(ch), line));
                    i += end + 2;
                }
                '$' => {
                    let start = i;
                    i += 1;
                    while b.get(i).is_some_and(|c| is_ident(*c as char)) {
                        i += 1;
                    }
                    out.push((Tok::Var(src[start..i].to_string()), line));
                }
                '.' => {
                    if b.get(i + 1).is_some_and(|c| (*c as char).is_ascii_digit()) {
                        let n = number_len(&src[i..]);
                        out.push((Tok::Num(src[i..i + n].to_string()), line));
                        i += n;
                        continue;
                    }
                    let start = i + 1;
                    i += 1;
                    while b.get(i).is_some_and(|c| is_ident(*c as char)) {
                        i += 1;
                    }
                    if i == start {
                        out.push((Tok::Dot, line));
                    } else {
                        out.push((Tok::Field(src[start..i].to_string()), line));
                    }
                }
                c if c.is_ascii_digit() || ((c == '-' || c == '+') && b.get(i + 1).is_some_and(|d| (*d as char).is_ascii_digit())) => {
                    let n = number_len(&src[i..]);
                    out.push((Tok::Num(src[i..i + n].to_string()), line));
                    i += n;
                }
                c if is_ident(c) => {
                    let start = i;
                    while b.get(i).is_some_and(|c| is_ident(*c as char)) {
                        i += 1;
                    }
                    out.push((Tok::Ident(src[start..i].to_string()), line));
                }
                other => return Err(invalid(line, format!("unexpected {other:?} in command"))),
            }
        }
    }
    Ok(out)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_ident(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn number_len(s: &str) -> usize {
    let mut n = 0;
    let b = s.as_bytes();
    if matches!(b.first(), Some(b'-' | b'+')) {
        n = 1;
    }
    while n < b.len() {
        let c = b[n] as char;
        let exp_sign = (c == '-' || c == '+') && n > 0 && matches!(b[n - 1], b'e' | b'E');
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' || exp_sign {
            n += 1;
        } else {
            break;
        }
    }
    n
}

/// A Go double-quoted string at the start of `s`: its value and length.
fn go_unquote(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '\'' => out.push('\''),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// An operand of a command.
#[derive(Debug, Clone)]
enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Str(String),
    Int(i64),
    Float(f64),
    /// `.a.b` on dot.
    Fields(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    /// A function name, with fields chained on its result (`inputs.tenant`).
    Func(String, Vec<String>),
    /// `(pipeline).a.b`.
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone)]
struct Cmd {
    args: Vec<Arg>,
    line: usize,
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
    line: usize,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    With(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    Break,
    Continue,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    range_depth: usize,
}

/// How a list of nodes ended.
enum Stop {
    Eof,
    End,
    Else(Option<(String, Pipe)>),
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn line(&self) -> usize {
        self.toks.get(self.pos).or(self.toks.last()).map(|(_, l)| *l).unwrap_or(1)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(t, _)| t.clone());
        self.pos += 1;
        t
    }
    fn skip_space(&mut self) {
        while self.peek() == Some(&Tok::Space) {
            self.pos += 1;
        }
    }

    fn list(&mut self) -> Res<(Vec<Node>, Stop)> {
        let mut nodes = Vec::new();
        loop {
            match self.next() {
                None => return Ok((nodes, Stop::Eof)),
                Some(Tok::Text(t)) => nodes.push(Node::Text(t)),
                Some(Tok::Open) => {
                    self.skip_space();
                    let line = self.line();
                    let kw = match self.peek() {
                        Some(Tok::Ident(k)) => k.clone(),
                        _ => String::new(),
                    };
                    match kw.as_str() {
                        "end" => {
                            self.pos += 1;
                            self.close()?;
                            return Ok((nodes, Stop::End));
                        }
                        "else" => {
                            self.pos += 1;
                            self.skip_space();
                            let chained = match self.peek() {
                                Some(Tok::Ident(k)) if k == "if" || k == "with" => Some(k.clone()),
                                _ => None,
                            };
                            match chained {
                                Some(k) => {
                                    self.pos += 1;
                                    let p = self.pipeline(false)?;
                                    self.close()?;
                                    return Ok((nodes, Stop::Else(Some((k, p)))));
                                }
                                None => {
                                    self.close()?;
                                    return Ok((nodes, Stop::Else(None)));
                                }
                            }
                        }
                        "if" | "with" => {
                            self.pos += 1;
                            let p = self.pipeline(false)?;
                            self.close()?;
                            let node = self.branches(&kw, p, line)?;
                            nodes.push(node);
                        }
                        "range" => {
                            self.pos += 1;
                            let p = self.pipeline(true)?;
                            self.close()?;
                            self.range_depth += 1;
                            let (body, end) = self.list()?;
                            let els = match end {
                                Stop::End => Vec::new(),
                                Stop::Else(None) => {
                                    self.range_depth -= 1;
                                    let (els, end) = self.list()?;
                                    self.range_depth += 1;
                                    if !matches!(end, Stop::End) {
                                        return Err(invalid(line, "range: expected end"));
                                    }
                                    els
                                }
                                _ => return Err(invalid(line, "unexpected EOF in range")),
                            };
                            self.range_depth -= 1;
                            nodes.push(Node::Range(p, body, els));
                        }
                        "break" | "continue" => {
                            self.pos += 1;
                            self.close()?;
                            if self.range_depth == 0 {
                                return Err(invalid(line, format!("{{{{{kw}}}}} outside {{{{range}}}}")));
                            }
                            nodes.push(if kw == "break" { Node::Break } else { Node::Continue });
                        }
                        "define" | "template" | "block" => {
                            return Err(TemplateError::Unsupported { line, what: format!("the `{kw}` action") });
                        }
                        _ => {
                            let p = self.pipeline(true)?;
                            self.close()?;
                            nodes.push(Node::Action(p));
                        }
                    }
                }
                Some(other) => return Err(invalid(self.line(), format!("unexpected {other:?}"))),
            }
        }
    }

    /// The branches of an `if`/`with` after its first pipeline.
    fn branches(&mut self, kw: &str, first: Pipe, line: usize) -> Res<Node> {
        let mut branches = vec![];
        let mut cond = first;
        let els;
        loop {
            let (body, end) = self.list()?;
            branches.push((cond, body));
            match end {
                Stop::End => {
                    els = Vec::new();
                    break;
                }
                Stop::Else(Some((k, p))) if k == kw => cond = p,
                Stop::Else(Some((k, p))) => {
                    // `else with` inside `if` (or the reverse): a nested construct ending at the same `end`.
                    let nested = self.branches(&k, p, line)?;
                    els = vec![nested];
                    break;
                }
                Stop::Else(None) => {
                    let (body, end) = self.list()?;
                    if !matches!(end, Stop::End) {
                        return Err(invalid(line, format!("{kw}: expected end")));
                    }
                    els = body;
                    break;
                }
                Stop::Eof => return Err(invalid(line, format!("unexpected EOF in {kw}"))),
            }
        }
        Ok(if kw == "if" { Node::If(branches, els) } else { Node::With(branches, els) })
    }

    fn close(&mut self) -> Res<()> {
        self.skip_space();
        match self.next() {
            Some(Tok::Close) => Ok(()),
            other => Err(invalid(self.line(), format!("unexpected {other:?}, expected >>"))),
        }
    }

    /// A pipeline up to `>>` or `)`, with a declaration when allowed.
    fn pipeline(&mut self, allow_decl: bool) -> Res<Pipe> {
        self.skip_space();
        let line = self.line();
        let mut decl = Vec::new();
        let mut assign = false;
        // `$x :=`, `$x =`, `$i, $v :=`
        let save = self.pos;
        let mut vars = Vec::new();
        while let Some(Tok::Var(v)) = self.peek().cloned() {
            self.pos += 1;
            self.skip_space();
            vars.push(v);
            match self.peek() {
                Some(Tok::Comma) => {
                    self.pos += 1;
                    self.skip_space();
                }
                Some(Tok::Declare) | Some(Tok::Assign) => break,
                _ => {
                    vars.clear();
                    break;
                }
            }
        }
        match self.peek() {
            Some(Tok::Declare) | Some(Tok::Assign) if !vars.is_empty() => {
                assign = self.peek() == Some(&Tok::Assign);
                self.pos += 1;
                if !allow_decl && vars.len() > 1 {
                    return Err(invalid(line, "too many declarations"));
                }
                decl = vars;
            }
            _ => self.pos = save,
        }
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            let cmd = self.command()?;
            cmds.push(cmd);
            self.skip_space();
            match self.peek() {
                Some(Tok::Pipe) => {
                    self.pos += 1;
                }
                _ => break,
            }
        }
        Ok(Pipe { decl, assign, cmds, line })
    }

    fn command(&mut self) -> Res<Cmd> {
        let line = self.line();
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None | Some(Tok::Close) | Some(Tok::RParen) | Some(Tok::Pipe) => break,
                _ => args.push(self.operand()?),
            }
        }
        if args.is_empty() {
            return Err(invalid(line, "missing value for command"));
        }
        Ok(Cmd { args, line })
    }

    /// Fields chained right after an operand (no space between).
    fn chain(&mut self) -> Vec<String> {
        let mut fields = Vec::new();
        while let Some(Tok::Field(f)) = self.peek().cloned() {
            self.pos += 1;
            fields.push(f);
        }
        fields
    }

    fn operand(&mut self) -> Res<Arg> {
        let line = self.line();
        let tok = self.next().ok_or_else(|| invalid(line, "unexpected EOF"))?;
        Ok(match tok {
            Tok::Dot => Arg::Dot,
            Tok::Field(f) => {
                let mut fields = vec![f];
                fields.extend(self.chain());
                Arg::Fields(fields)
            }
            Tok::Var(v) => {
                let fields = self.chain();
                Arg::Var(v, fields)
            }
            Tok::Str(s) => Arg::Str(s),
            Tok::Char(c) => Arg::Int(c as i64),
            Tok::Num(n) => number(&n).ok_or_else(|| invalid(line, format!("bad number syntax: {n:?}")))?,
            Tok::Ident(id) => match id.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => {
                    if !funcs::defined(&id) {
                        return Err(invalid(line, format!("function {id:?} not defined")));
                    }
                    let fields = self.chain();
                    Arg::Func(id, fields)
                }
            },
            Tok::LParen => {
                let p = self.pipeline(false)?;
                self.skip_space();
                match self.next() {
                    Some(Tok::RParen) => {}
                    _ => return Err(invalid(line, "unclosed left paren")),
                }
                let fields = self.chain();
                Arg::Sub(Box::new(p), fields)
            }
            other => return Err(invalid(line, format!("unexpected {other:?} in operand"))),
        })
    }
}

fn number(n: &str) -> Option<Arg> {
    let clean = n.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let int = if let Some(h) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = digits.strip_prefix("0o").or_else(|| digits.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = digits.strip_prefix("0b").or_else(|| digits.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()
    } else if digits.len() > 1 && digits.starts_with('0') && digits.chars().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&digits[1..], 8).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(Arg::Int(if neg { -i } else { i }));
    }
    clean.parse::<f64>().ok().map(Arg::Float)
}

/// Parse a template (the operator's `<<`/`>>` delimiters).
pub fn parse(src: &str) -> Res<Template> {
    parse_delims(src, "<<", ">>")
}

/// Parse a template with other delimiters (`{{`/`}}` for a Helm chart's guard conditions).
pub fn parse_delims(src: &str, left: &str, right: &str) -> Res<Template> {
    let toks = lex(src, left, right)?;
    let mut p = Parser { toks, pos: 0, range_depth: 0 };
    let (nodes, end) = p.list()?;
    match end {
        Stop::Eof => Ok(Template { nodes }),
        Stop::End => Err(invalid(p.line(), "unexpected {{end}}")),
        Stop::Else(_) => Err(invalid(p.line(), "unexpected {{else}}")),
    }
}

/// Control flow out of a node list.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// One execution: the input set `inputs` returns, variables, output.
pub struct Exec<'a> {
    inputs: &'a TVal,
    /// `missingkey=zero` (Helm) instead of the operator's `missingkey=error`.
    missing_is_nil: bool,
    vars: Vec<(String, TVal)>,
    out: String,
    /// Guard against runaway templates (`until 1e9`): output and steps are bounded.
    budget: usize,
}

const MAX_OUTPUT: usize = 16 * 1024 * 1024;

impl Template {
    /// Execute with `inputs` as what the `inputs` function returns (nil data, as the operator).
    pub fn execute(&self, inputs: &TVal) -> Res<String> {
        let mut e = Exec { inputs, missing_is_nil: false, vars: vec![("$".to_string(), TVal::Nil)], out: String::new(), budget: 5_000_000 };
        e.walk(&self.nodes, &TVal::Nil)?;
        Ok(e.out)
    }

    /// Execute with `dot` as the data and `missingkey=zero`, as Helm renders a chart.
    pub fn execute_data(&self, dot: &TVal) -> Res<String> {
        let nil = TVal::Nil;
        let mut e =
            Exec { inputs: &nil, missing_is_nil: true, vars: vec![("$".to_string(), dot.clone())], out: String::new(), budget: 1_000_000 };
        e.walk(&self.nodes, dot)?;
        Ok(e.out)
    }
}

impl Exec<'_> {
    fn walk(&mut self, nodes: &[Node], dot: &TVal) -> Res<Flow> {
        for n in nodes {
            if self.budget == 0 || self.out.len() > MAX_OUTPUT {
                return Err(invalid(1, "template output or work exceeds the limit this check allows"));
            }
            self.budget -= 1;
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        self.print(&v);
                    }
                }
                Node::If(branches, els) => {
                    let mark = self.vars.len();
                    let mut taken = false;
                    for (cond, body) in branches {
                        let v = self.pipe(cond, dot)?;
                        if v.truthy() {
                            let f = self.walk(body, dot)?;
                            self.vars.truncate(mark);
                            if !matches!(f, Flow::Normal) {
                                return Ok(f);
                            }
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        let f = self.walk(els, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(f, Flow::Normal) {
                            return Ok(f);
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::With(branches, els) => {
                    let mark = self.vars.len();
                    let mut taken = false;
                    for (cond, body) in branches {
                        let v = self.pipe(cond, dot)?;
                        if v.truthy() {
                            let f = self.walk(body, &v)?;
                            self.vars.truncate(mark);
                            if !matches!(f, Flow::Normal) {
                                return Ok(f);
                            }
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        let f = self.walk(els, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(f, Flow::Normal) {
                            return Ok(f);
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Range(p, body, els) => {
                    let mark = self.vars.len();
                    // The pipeline's variables are set per element, not to the pipeline's value.
                    let decl = p.decl.clone();
                    let bare = Pipe { decl: Vec::new(), assign: false, cmds: p.cmds.clone(), line: p.line };
                    let v = self.pipe(&bare, dot)?;
                    let items: Vec<(TVal, TVal)> = match v {
                        TVal::List(l) => l.into_iter().enumerate().map(|(i, v)| (TVal::Int(i as i64), v)).collect(),
                        TVal::Map(m) => m.into_iter().map(|(k, v)| (TVal::Str(k), v)).collect(),
                        TVal::Int(n) => (0..n.max(0)).map(|i| (TVal::Int(i), TVal::Int(i))).collect(),
                        TVal::Nil => Vec::new(),
                        other => return Err(invalid(p.line, format!("range can't iterate over {}", other.go_string()))),
                    };
                    if items.is_empty() {
                        let f = self.walk(els, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(f, Flow::Normal) {
                            return Ok(f);
                        }
                        continue;
                    }
                    for (k, v) in items {
                        self.vars.truncate(mark);
                        match decl.as_slice() {
                            [] => {}
                            [one] => self.vars.push((one.clone(), v.clone())),
                            [a, b, ..] => {
                                self.vars.push((a.clone(), k));
                                self.vars.push((b.clone(), v.clone()));
                            }
                        }
                        match self.walk(body, &v)? {
                            Flow::Break => break,
                            Flow::Continue | Flow::Normal => {}
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn print(&mut self, v: &TVal) {
        match v {
            // text/template prints a nil interface as `<no value>`.
            TVal::Nil => self.out.push_str("<no value>"),
            other => self.out.push_str(&other.go_string()),
        }
    }

    fn pipe(&mut self, p: &Pipe, dot: &TVal) -> Res<TVal> {
        let mut last: Option<TVal> = None;
        for c in &p.cmds {
            last = Some(self.cmd(c, dot, last)?);
        }
        let v = last.unwrap_or(TVal::Nil);
        for name in &p.decl {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(invalid(p.line, format!("undefined variable: {name}"))),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn var(&self, name: &str, line: usize) -> Res<TVal> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| invalid(line, format!("undefined variable: {name}")))
    }

    fn cmd(&mut self, c: &Cmd, dot: &TVal, piped: Option<TVal>) -> Res<TVal> {
        let line = c.line;
        let first = &c.args[0];
        if let Arg::Func(name, fields) = first
            && fields.is_empty()
        {
            return self.call(name, &c.args[1..], piped, dot, line);
        }
        if c.args.len() > 1 || piped.is_some() {
            return Err(invalid(line, "can't give argument to non-function"));
        }
        self.arg(first, dot, line)
    }

    fn arg(&mut self, a: &Arg, dot: &TVal, line: usize) -> Res<TVal> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Nil => TVal::Nil,
            Arg::Bool(b) => TVal::Bool(*b),
            Arg::Str(s) => TVal::Str(s.clone()),
            Arg::Int(i) => TVal::Int(*i),
            Arg::Float(f) => TVal::Float(*f),
            Arg::Fields(fields) => fields_of(dot.clone(), fields, line, self.missing_is_nil)?,
            Arg::Var(v, fields) => fields_of(self.var(v, line)?, fields, line, self.missing_is_nil)?,
            Arg::Func(name, fields) => {
                let v = self.call(name, &[], None, dot, line)?;
                fields_of(v, fields, line, self.missing_is_nil)?
            }
            Arg::Sub(p, fields) => {
                let v = self.pipe(p, dot)?;
                fields_of(v, fields, line, self.missing_is_nil)?
            }
        })
    }

    fn call(&mut self, name: &str, args: &[Arg], piped: Option<TVal>, dot: &TVal, line: usize) -> Res<TVal> {
        // `and`/`or` evaluate only as far as needed.
        if name == "and" || name == "or" {
            let mut last = TVal::Nil;
            let n = args.len() + usize::from(piped.is_some());
            if n == 0 {
                return Err(invalid(line, format!("wrong number of args for {name}: want at least 1 got 0")));
            }
            for a in args {
                last = self.arg(a, dot, line)?;
                if (name == "and") != last.truthy() {
                    return Ok(last);
                }
            }
            if let Some(p) = piped {
                last = p;
            }
            return Ok(last);
        }
        if name == "inputs" {
            if !args.is_empty() || piped.is_some() {
                return Err(invalid(line, "wrong number of args for inputs: want 0"));
            }
            return Ok(self.inputs.clone());
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(a, dot, line)?);
        }
        if let Some(p) = piped {
            vals.push(p);
        }
        funcs::call(name, vals).map_err(|e| match e {
            funcs::FuncError::Failed(m) => invalid(line, format!("error calling {name}: {m}")),
            funcs::FuncError::Unsupported => TemplateError::Unsupported { line, what: format!("the template function `{name}`") },
        })
    }
}

/// `.a.b` on a value, with `missingkey=error` (or `zero`).
fn fields_of(mut v: TVal, fields: &[String], line: usize, missing_is_nil: bool) -> Res<TVal> {
    for f in fields {
        v = match v {
            TVal::Map(mut m) => match m.remove(f) {
                Some(x) => x,
                None if missing_is_nil => TVal::Nil,
                None => return Err(invalid(line, format!("map has no entry for key {f:?}"))),
            },
            TVal::Nil => return Err(invalid(line, format!("nil pointer evaluating interface {{}}.{f}"))),
            other => return Err(invalid(line, format!("can't evaluate field {f} in type {}", other.type_name()))),
        };
    }
    Ok(v)
}

/// Convenience for tests and callers: parse and execute once.
pub fn render(src: &str, inputs: &TVal) -> Res<String> {
    parse(src)?.execute(inputs)
}

/// An input set from a JSON map.
pub fn inputs_of(m: &serde_json::Map<String, serde_json::Value>) -> TVal {
    TVal::Map(m.iter().map(|(k, v)| (k.clone(), TVal::from_input(v))).collect::<BTreeMap<_, _>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str, inputs: serde_json::Value) -> String {
        let m = inputs.as_object().cloned().unwrap_or_default();
        render(src, &inputs_of(&m)).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn fields_pipes_and_functions() {
        let i = serde_json::json!({"tenant": "team1", "app": {"version": "6.7.x", "replicas": 2}});
        assert_eq!(run("name: app-<< inputs.tenant >>", i.clone()), "name: app-team1");
        assert_eq!(run("v: << inputs.app.version | quote >>", i.clone()), "v: \"6.7.x\"");
        assert_eq!(run("r: << inputs.app.replicas | int >>", i.clone()), "r: 2");
        assert_eq!(run("r: << inputs.app.replicas >>", i.clone()), "r: 2");
        assert_eq!(run(r#"<< get inputs "name" | default inputs.tenant >>"#, i.clone()), "team1");
        assert_eq!(run("<< (inputs.app).version >>", i.clone()), "6.7.x");
        assert_eq!(run("<< $t := inputs.tenant >><< $t | upper >>", i.clone()), "TEAM1");
        let err = render("<< inputs.missing >>", &inputs_of(i.as_object().unwrap())).unwrap_err();
        assert!(err.to_string().contains("map has no entry for key \"missing\""), "{err}");
        // An input number is a float64: comparing it with an int literal fails in Go.
        let err = render("<< eq inputs.app.replicas 2 >>", &inputs_of(i.as_object().unwrap())).unwrap_err();
        assert!(err.to_string().contains("incompatible types"), "{err}");
        assert!(matches!(parse("<< nosuchfunc 1 >>"), Err(TemplateError::Invalid { .. })));
    }

    #[test]
    fn control_flow_and_trim_markers() {
        let i = serde_json::json!({"bundle": "apps", "decryption": true, "components": ["frontend", "backend"]});
        let src =
            "a\n<<- range $c := inputs.components >>\n- << $c >>\n<<- end >>\n<<- if inputs.decryption >> sops<< else >> none<< end >>";
        assert_eq!(run(src, i.clone()), "a\n- frontend\n- backend sops");
        assert_eq!(run("<< range $i, $c := inputs.components >><< $i >>=<< $c >> << end >>", i.clone()), "0=frontend 1=backend ");
        assert_eq!(run("<< range inputs.none >>x<< else >>empty<< end >>", serde_json::json!({"none": []})), "empty");
        assert_eq!(run("<< with inputs.bundle >><< . >><< end >>", i.clone()), "apps");
        assert_eq!(run("<<- /* note */ ->>\n  x", i.clone()), "x");
        assert_eq!(run("<< if eq inputs.bundle \"x\" >>1<< else if eq inputs.bundle \"apps\" >>2<< end >>", i.clone()), "2");
        assert_eq!(run("<< range $k, $v := dict \"b\" 1 \"a\" 2 >><< $k >><< end >>", i.clone()), "ab");
        assert_eq!(run("<< range 3 >><< . >><< end >>", i), "012");
        assert!(matches!(parse("<< define \"x\" >><< end >>"), Err(TemplateError::Unsupported { .. })));
    }

    #[test]
    fn nil_prints_no_value() {
        assert_eq!(run("<< inputs.x >>", serde_json::json!({"x": null})), "<no value>");
    }
}
