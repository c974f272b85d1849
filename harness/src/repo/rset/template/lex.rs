//! Go template text into tokens: text, delimiters (with trim markers), identifiers, fields,
//! variables, strings, numbers, comments.

use super::{Res, invalid};

/// A token, with the line it starts on beside it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
pub(super) fn lex(src: &str, left: &str, right: &str) -> Res<Vec<(Tok, usize)>> {
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
