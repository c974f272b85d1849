//! Tokens into the template's nodes, as Go's `text/template/parse` builds them.

use super::super::funcs;
use super::lex::Tok;
use super::{Arg, Cmd, Node, Pipe, Res, TemplateError, invalid};

/// The parser's position in the tokens.
pub(super) struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    range_depth: usize,
}

/// How a list of nodes ended.
pub(super) enum Stop {
    Eof,
    End,
    Else(Option<(String, Pipe)>),
}

impl Parser {
    pub(super) fn new(toks: Vec<(Tok, usize)>) -> Parser {
        Parser { toks, pos: 0, range_depth: 0 }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    pub(super) fn line(&self) -> usize {
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

    pub(super) fn list(&mut self) -> Res<(Vec<Node>, Stop)> {
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
