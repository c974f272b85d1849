//! Text helpers of sprig and the operator: `slugify`, case conversions, `indent`, regexes.

use super::{FuncError, fail};

/// gosimple/slug's `Make` with the operator's settings (63 characters, smart truncation), for
/// ASCII text: lower case, `&` → `and`, `@` → `at`, every run of other characters → `-`,
/// `-`/`_` trimmed at both ends. Text beyond ASCII is transliterated upstream: not implemented.
pub(super) fn slugify(s: &str) -> Result<String, FuncError> {
    if !s.is_ascii() {
        return Err(FuncError::Unsupported);
    }
    let s = s.replace('&', " and ").replace('@', " at ").to_ascii_lowercase();
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else {
            out.push('-');
        }
    }
    let mut collapsed = String::new();
    for c in out.chars() {
        if c == '-' && collapsed.ends_with('-') {
            continue;
        }
        collapsed.push(c);
    }
    let trimmed = collapsed.trim_matches(|c| c == '-' || c == '_').to_string();
    if trimmed.len() <= 63 {
        return Ok(trimmed);
    }
    // Smart truncation: cut at the last word boundary within the limit.
    let cut = &trimmed[..63];
    Ok(match cut.rfind('-') {
        Some(p) if p > 0 => cut[..p].to_string(),
        _ => cut.to_string(),
    })
}

pub(super) fn case_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let boundary = c.is_uppercase() && i > 0 && (chars[i - 1].is_lowercase() || chars.get(i + 1).is_some_and(|n| n.is_lowercase()));
        if boundary && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

pub(super) fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '\'';
    }
    out
}

pub(super) fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

pub(super) fn regex(name: &str, pattern: &str) -> Result<regex::Regex, FuncError> {
    regex::Regex::new(pattern).map_err(|e| fail(format!("{name}: {e}")))
}
