//! The functions a ResourceSet template may call: Go's builtins, slim-sprig's (the hermetic
//! text set the Flux Operator registers), `slugify`, `toYaml`/`mustToYaml` and `inputs`.
//!
//! Every name the operator knows is [`defined`] (a template calling anything else fails in the
//! operator too); the ones implemented here behave as documented by Go and sprig. A known
//! function that is not implemented is [`FuncError::Unsupported`]: the ResourceSet is then
//! reported as not expanded instead of being expanded wrongly.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::goyaml;
use super::value::{TVal, go_float};

/// A function call that did not give a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FuncError {
    /// The call fails in Go too (wrong arguments, `fail`, …).
    Failed(String),
    /// A function the operator has and this check does not implement.
    Unsupported,
}

type R = Result<TVal, FuncError>;

fn fail(m: impl Into<String>) -> FuncError {
    FuncError::Failed(m.into())
}

/// Go's template builtins.
const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge", "html", "js",
    "urlquery", "call",
];

/// slim-sprig's hermetic text functions (what `sprig.HermeticTxtFuncMap()` registers), by name.
const SPRIG: &[&str] = &[
    "hello",
    "ago",
    "date",
    "date_in_zone",
    "date_modify",
    "dateInZone",
    "dateModify",
    "duration",
    "durationRound",
    "htmlDate",
    "htmlDateInZone",
    "must_date_modify",
    "mustDateModify",
    "mustToDate",
    "toDate",
    "unixEpoch",
    "abbrev",
    "abbrevboth",
    "trunc",
    "trim",
    "upper",
    "lower",
    "title",
    "untitle",
    "substr",
    "repeat",
    "trimall",
    "trimAll",
    "trimSuffix",
    "trimPrefix",
    "nospace",
    "initials",
    "swapcase",
    "snakecase",
    "camelcase",
    "kebabcase",
    "wrap",
    "wrapWith",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "replace",
    "plural",
    "sha1sum",
    "sha256sum",
    "adler32sum",
    "toString",
    "atoi",
    "int64",
    "int",
    "float64",
    "seq",
    "toDecimal",
    "split",
    "splitList",
    "splitn",
    "toStrings",
    "until",
    "untilStep",
    "add1",
    "add",
    "sub",
    "div",
    "mod",
    "mul",
    "add1f",
    "addf",
    "subf",
    "divf",
    "mulf",
    "biggest",
    "max",
    "min",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "join",
    "sortAlpha",
    "default",
    "empty",
    "coalesce",
    "all",
    "any",
    "compact",
    "mustCompact",
    "fromJson",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "mustFromJson",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "ternary",
    "deepCopy",
    "mustDeepCopy",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "kindOf",
    "kindIs",
    "deepEqual",
    "base",
    "dir",
    "clean",
    "ext",
    "isAbs",
    "osBase",
    "osClean",
    "osDir",
    "osExt",
    "osIsAbs",
    "b64enc",
    "b64dec",
    "b32enc",
    "b32dec",
    "tuple",
    "list",
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "pluck",
    "keys",
    "pick",
    "omit",
    "merge",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
    "values",
    "append",
    "push",
    "mustAppend",
    "mustPush",
    "prepend",
    "mustPrepend",
    "first",
    "mustFirst",
    "rest",
    "mustRest",
    "last",
    "mustLast",
    "initial",
    "mustInitial",
    "reverse",
    "mustReverse",
    "uniq",
    "mustUniq",
    "without",
    "mustWithout",
    "has",
    "mustHas",
    "slice",
    "mustSlice",
    "concat",
    "dig",
    "chunk",
    "mustChunk",
    "fail",
    "regexMatch",
    "mustRegexMatch",
    "regexFindAll",
    "mustRegexFindAll",
    "regexFind",
    "mustRegexFind",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
    "regexQuoteMeta",
    "urlParse",
    "urlJoin",
];

/// The operator's own additions.
const OPERATOR: &[&str] = &["inputs", "slugify", "toYaml", "mustToYaml"];

/// Whether the operator's templates know a function of this name.
pub fn defined(name: &str) -> bool {
    BUILTINS.contains(&name) || SPRIG.contains(&name) || OPERATOR.contains(&name)
}

fn want(name: &str, args: &[TVal], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(fail(format!("wrong number of args for {name}: want {n} got {}", args.len())));
    }
    Ok(())
}

/// sprig's `strval`: a string as is, anything else as `%v`.
fn strval(v: &TVal) -> String {
    match v {
        TVal::Str(s) => s.clone(),
        TVal::Nil => String::new(),
        other => other.go_string(),
    }
}

/// `cast.ToInt64`: numbers truncated, strings parsed (base prefixes allowed), bools 1/0, else 0.
fn to_i64(v: &TVal) -> i64 {
    match v {
        TVal::Int(i) => *i,
        TVal::Float(f) => *f as i64,
        TVal::Bool(b) => i64::from(*b),
        TVal::Str(s) => {
            let t = s.trim();
            // cast trims a zero decimal part ("2.0" → 2) before parsing.
            let t = t.strip_suffix(".0").unwrap_or(t);
            let (neg, d) = match t.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, t.trim_start_matches('+')),
            };
            let n = if let Some(h) = d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
                i64::from_str_radix(h, 16).ok()
            } else if let Some(b) = d.strip_prefix("0b").or_else(|| d.strip_prefix("0B")) {
                i64::from_str_radix(b, 2).ok()
            } else if let Some(o) = d.strip_prefix("0o").or_else(|| d.strip_prefix("0O")) {
                i64::from_str_radix(o, 8).ok()
            } else if d.len() > 1 && d.starts_with('0') {
                i64::from_str_radix(&d[1..], 8).ok()
            } else {
                d.parse().ok()
            };
            n.map(|n| if neg { -n } else { n }).unwrap_or(0)
        }
        _ => 0,
    }
}

fn to_f64(v: &TVal) -> f64 {
    match v {
        TVal::Int(i) => *i as f64,
        TVal::Float(f) => *f,
        TVal::Bool(b) => f64::from(u8::from(*b)),
        TVal::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// sprig's `empty`.
fn empty(v: &TVal) -> bool {
    !v.truthy()
}

fn list_of(name: &str, v: &TVal) -> Result<Vec<TVal>, FuncError> {
    match v {
        TVal::List(l) => Ok(l.clone()),
        TVal::Nil => Ok(Vec::new()),
        other => Err(fail(format!("{name}: cannot find first on type {}", other.type_name()))),
    }
}

fn map_of(name: &str, v: &TVal) -> Result<BTreeMap<String, TVal>, FuncError> {
    match v {
        TVal::Map(m) => Ok(m.clone()),
        TVal::Nil => Ok(BTreeMap::new()),
        other => Err(fail(format!("{name}: expected a map, got {}", other.type_name()))),
    }
}

/// Go's basic kinds for comparisons.
#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(v: &TVal) -> Kind {
    match v {
        TVal::Bool(_) => Kind::Bool,
        TVal::Int(_) => Kind::Int,
        TVal::Float(_) => Kind::Float,
        TVal::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn go_eq(a: &TVal, b: &TVal) -> Result<bool, FuncError> {
    if matches!(a, TVal::Nil) || matches!(b, TVal::Nil) {
        return Ok(matches!(a, TVal::Nil) && matches!(b, TVal::Nil));
    }
    if kind(a) == Kind::Other || kind(b) == Kind::Other {
        return Err(fail("non-comparable type"));
    }
    if kind(a) != kind(b) {
        return Err(fail("incompatible types for comparison"));
    }
    Ok(a == b)
}

fn go_lt(a: &TVal, b: &TVal) -> Result<bool, FuncError> {
    if kind(a) != kind(b) {
        return Err(fail("incompatible types for comparison"));
    }
    match (a, b) {
        (TVal::Int(x), TVal::Int(y)) => Ok(x < y),
        (TVal::Float(x), TVal::Float(y)) => Ok(x < y),
        (TVal::Str(x), TVal::Str(y)) => Ok(x < y),
        _ => Err(fail("invalid type for comparison")),
    }
}

/// Go's `%q` of a string.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `fmt.Sprint`: spaces between operands when neither is a string.
fn sprint(args: &[TVal]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, TVal::Str(_)) && !matches!(args[i - 1], TVal::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.go_string());
    }
    out
}

/// `fmt.Sprintf` for the verbs templates use (`%s %v %d %q %t %f %x %%`, width and precision).
fn sprintf(format: &str, args: &[TVal]) -> Result<String, FuncError> {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut ai = 0usize;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = it.peek() {
            if "+-# 0".contains(f) {
                flags.push(f);
                it.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                it.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        ai += 1;
        let s = match verb {
            'v' | 's' => match (verb, arg) {
                ('s', TVal::Int(_) | TVal::Float(_) | TVal::Bool(_)) => format!("%!s({}={})", arg.type_name(), arg.go_string()),
                _ => arg.go_string(),
            },
            'd' => match arg {
                TVal::Int(i) => i.to_string(),
                other => format!("%!d({}={})", other.type_name(), other.go_string()),
            },
            'q' => match arg {
                TVal::Str(s) => go_quote(s),
                other => go_quote(&other.go_string()),
            },
            't' => match arg {
                TVal::Bool(b) => b.to_string(),
                other => format!("%!t({}={})", other.type_name(), other.go_string()),
            },
            'f' | 'F' => match arg {
                TVal::Float(f) => format!("{:.*}", prec.unwrap_or(6), f),
                other => format!("%!f({}={})", other.type_name(), other.go_string()),
            },
            'x' => match arg {
                TVal::Int(i) => format!("{i:x}"),
                TVal::Str(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                other => format!("%!x({}={})", other.type_name(), other.go_string()),
            },
            _ => return Err(FuncError::Unsupported),
        };
        let s = match prec {
            Some(p) if verb == 's' || verb == 'v' => s.chars().take(p).collect(),
            _ => s,
        };
        let w: usize = width.parse().unwrap_or(0);
        let pad = w.saturating_sub(s.chars().count());
        if flags.contains('-') {
            out.push_str(&s);
            out.push_str(&" ".repeat(pad));
        } else {
            let fill = if flags.contains('0') && verb != 's' { '0' } else { ' ' };
            out.extend(std::iter::repeat_n(fill, pad));
            out.push_str(&s);
        }
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        out.push_str(&args[ai..].iter().map(|a| format!("{}={}", a.type_name(), a.go_string())).collect::<Vec<_>>().join(", "));
        out.push(')');
    }
    Ok(out)
}

/// gosimple/slug's `Make` with the operator's settings (63 characters, smart truncation), for
/// ASCII text: lower case, `&` → `and`, `@` → `at`, every run of other characters → `-`,
/// `-`/`_` trimmed at both ends. Text beyond ASCII is transliterated upstream: not implemented.
fn slugify(s: &str) -> Result<String, FuncError> {
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

fn case_words(s: &str) -> Vec<String> {
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

fn title(s: &str) -> String {
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

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

fn regex(name: &str, pattern: &str) -> Result<regex::Regex, FuncError> {
    regex::Regex::new(pattern).map_err(|e| fail(format!("{name}: {e}")))
}

/// Call a function (not `and`/`or`/`inputs`, which the executor evaluates itself).
pub fn call(name: &str, args: Vec<TVal>) -> R {
    let a = &args;
    let s = |i: usize| a.get(i).map(strval).unwrap_or_default();
    Ok(match name {
        "not" => {
            want(name, a, 1)?;
            TVal::Bool(!a[0].truthy())
        }
        "len" => {
            want(name, a, 1)?;
            TVal::Int(match &a[0] {
                TVal::Str(s) => s.len() as i64,
                TVal::List(l) => l.len() as i64,
                TVal::Map(m) => m.len() as i64,
                other => return Err(fail(format!("len of type {}", other.type_name()))),
            })
        }
        "index" => {
            let Some((first, keys)) = a.split_first() else { return Err(fail("wrong number of args for index")) };
            let mut v = first.clone();
            for k in keys {
                v = match (v, k) {
                    (TVal::List(l), TVal::Int(i)) => l.get(*i as usize).cloned().ok_or_else(|| fail(format!("index out of range: {i}")))?,
                    (TVal::Map(m), TVal::Str(k)) => m.get(k).cloned().unwrap_or(TVal::Nil),
                    (TVal::Nil, _) => return Err(fail("index of untyped nil")),
                    (v, k) => return Err(fail(format!("cannot index {} with {}", v.type_name(), k.type_name()))),
                };
            }
            v
        }
        "slice" | "mustSlice" => {
            let Some((first, idx)) = a.split_first() else { return Err(fail("wrong number of args for slice")) };
            let i: Vec<usize> = idx.iter().map(|x| to_i64(x).max(0) as usize).collect();
            match first {
                TVal::List(l) => {
                    let lo = i.first().copied().unwrap_or(0).min(l.len());
                    let hi = i.get(1).copied().unwrap_or(l.len()).min(l.len()).max(lo);
                    TVal::List(l[lo..hi].to_vec())
                }
                TVal::Str(st) => {
                    let lo = i.first().copied().unwrap_or(0).min(st.len());
                    let hi = i.get(1).copied().unwrap_or(st.len()).min(st.len()).max(lo);
                    TVal::Str(st.get(lo..hi).unwrap_or("").to_string())
                }
                other => return Err(fail(format!("can't slice item of type {}", other.type_name()))),
            }
        }
        "print" => TVal::Str(sprint(a)),
        "println" => TVal::Str(format!("{}\n", a.iter().map(TVal::go_string).collect::<Vec<_>>().join(" "))),
        "printf" => {
            let Some((f, rest)) = a.split_first() else { return Err(fail("wrong number of args for printf")) };
            TVal::Str(sprintf(&strval(f), rest)?)
        }
        "eq" => {
            let Some((first, rest)) = a.split_first() else { return Err(fail("missing argument for comparison")) };
            if rest.is_empty() {
                return Err(fail("missing argument for comparison"));
            }
            let mut any = false;
            for r in rest {
                if go_eq(first, r)? {
                    any = true;
                    break;
                }
            }
            TVal::Bool(any)
        }
        "ne" => {
            want(name, a, 2)?;
            TVal::Bool(!go_eq(&a[0], &a[1])?)
        }
        "lt" => {
            want(name, a, 2)?;
            TVal::Bool(go_lt(&a[0], &a[1])?)
        }
        "le" => {
            want(name, a, 2)?;
            TVal::Bool(go_lt(&a[0], &a[1])? || go_eq(&a[0], &a[1])?)
        }
        "gt" => {
            want(name, a, 2)?;
            TVal::Bool(!(go_lt(&a[0], &a[1])? || go_eq(&a[0], &a[1])?))
        }
        "ge" => {
            want(name, a, 2)?;
            TVal::Bool(!go_lt(&a[0], &a[1])?)
        }
        // Strings.
        "quote" => TVal::Str(a.iter().filter(|v| !matches!(v, TVal::Nil)).map(|v| go_quote(&strval(v))).collect::<Vec<_>>().join(" ")),
        "squote" => {
            TVal::Str(a.iter().filter(|v| !matches!(v, TVal::Nil)).map(|v| format!("'{}'", strval(v))).collect::<Vec<_>>().join(" "))
        }
        "cat" => TVal::Str(a.iter().filter(|v| !matches!(v, TVal::Nil)).map(strval).collect::<Vec<_>>().join(" ")),
        "upper" => TVal::Str(s(0).to_uppercase()),
        "lower" => TVal::Str(s(0).to_lowercase()),
        "title" => TVal::Str(title(&s(0))),
        "trim" => TVal::Str(s(0).trim().to_string()),
        "trimAll" | "trimall" => {
            let cut = s(0);
            TVal::Str(s(1).trim_matches(|c| cut.contains(c)).to_string())
        }
        "trimPrefix" => TVal::Str(s(1).strip_prefix(s(0).as_str()).map(str::to_string).unwrap_or_else(|| s(1))),
        "trimSuffix" => TVal::Str(s(1).strip_suffix(s(0).as_str()).map(str::to_string).unwrap_or_else(|| s(1))),
        "nospace" => TVal::Str(s(0).chars().filter(|c| !c.is_whitespace()).collect()),
        "repeat" => TVal::Str(s(1).repeat(to_i64(&a[0]).max(0) as usize)),
        "substr" => {
            want(name, a, 3)?;
            let st = s(2);
            let (lo, hi) = (to_i64(&a[0]), to_i64(&a[1]));
            let lo = if lo < 0 { 0 } else { lo as usize };
            let hi = if hi < 0 || hi as usize > st.len() { st.len() } else { hi as usize };
            TVal::Str(st.get(lo.min(hi)..hi).unwrap_or("").to_string())
        }
        "trunc" => {
            want(name, a, 2)?;
            let (n, st) = (to_i64(&a[0]), s(1));
            TVal::Str(if n < 0 {
                let k = (-n) as usize;
                if st.len() > k { st[st.len() - k..].to_string() } else { st }
            } else {
                st.chars().take(n as usize).collect()
            })
        }
        "contains" => TVal::Bool(s(1).contains(s(0).as_str())),
        "hasPrefix" => TVal::Bool(s(1).starts_with(s(0).as_str())),
        "hasSuffix" => TVal::Bool(s(1).ends_with(s(0).as_str())),
        "replace" => {
            want(name, a, 3)?;
            TVal::Str(s(2).replace(s(0).as_str(), &s(1)))
        }
        "indent" => {
            want(name, a, 2)?;
            TVal::Str(indent(to_i64(&a[0]), &s(1)))
        }
        "nindent" => {
            want(name, a, 2)?;
            TVal::Str(format!("\n{}", indent(to_i64(&a[0]), &s(1))))
        }
        "snakecase" => TVal::Str(case_words(&s(0)).iter().map(|w| w.to_lowercase()).collect::<Vec<_>>().join("_")),
        "kebabcase" => TVal::Str(case_words(&s(0)).iter().map(|w| w.to_lowercase()).collect::<Vec<_>>().join("-")),
        "camelcase" => TVal::Str(s(0).split('_').map(|w| title(&w.to_lowercase())).collect()),
        "plural" => {
            want(name, a, 3)?;
            TVal::Str(if to_i64(&a[2]) == 1 { s(0) } else { s(1) })
        }
        "split" => TVal::Map(s(1).split(s(0).as_str()).enumerate().map(|(i, p)| (format!("_{i}"), TVal::Str(p.to_string()))).collect()),
        "splitList" => TVal::List(s(1).split(s(0).as_str()).map(|p| TVal::Str(p.to_string())).collect()),
        "splitn" => {
            want(name, a, 3)?;
            let n = to_i64(&a[1]);
            let st = s(2);
            let sep = s(0);
            let parts: Vec<&str> = if n < 0 { st.split(sep.as_str()).collect() } else { st.splitn(n as usize, sep.as_str()).collect() };
            TVal::Map(parts.iter().enumerate().map(|(i, p)| (format!("_{i}"), TVal::Str(p.to_string()))).collect())
        }
        "join" => {
            want(name, a, 2)?;
            let items = match &a[1] {
                TVal::List(l) => l.iter().filter(|v| !matches!(v, TVal::Nil)).map(strval).collect::<Vec<_>>(),
                TVal::Nil => Vec::new(),
                other => vec![strval(other)],
            };
            TVal::Str(items.join(&s(0)))
        }
        "toString" => TVal::Str(s(0)),
        "toStrings" => TVal::List(list_of(name, &a[0])?.iter().map(|v| TVal::Str(strval(v))).collect()),
        "slugify" => TVal::Str(slugify(&s(0))?),
        "b64enc" => TVal::Str(base64::engine::general_purpose::STANDARD.encode(s(0))),
        "b64dec" => TVal::Str(
            base64::engine::general_purpose::STANDARD
                .decode(s(0))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| e.to_string()),
        ),
        "adler32sum" => TVal::Str(adler32(s(0).as_bytes()).to_string()),
        "base" => {
            TVal::Str(std::path::Path::new(&s(0)).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| ".".into()))
        }
        "ext" => TVal::Str(std::path::Path::new(&s(0)).extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default()),
        // Conversions and numbers.
        "int" | "int64" | "atoi" => TVal::Int(to_i64(&a[0])),
        "float64" => TVal::Float(to_f64(&a[0])),
        "add" => TVal::Int(a.iter().map(to_i64).sum()),
        "add1" => TVal::Int(to_i64(&a[0]) + 1),
        "sub" => {
            want(name, a, 2)?;
            TVal::Int(to_i64(&a[0]) - to_i64(&a[1]))
        }
        "mul" => TVal::Int(a.iter().map(to_i64).product()),
        "div" => {
            want(name, a, 2)?;
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err(fail("integer divide by zero"));
            }
            TVal::Int(to_i64(&a[0]) / d)
        }
        "mod" => {
            want(name, a, 2)?;
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err(fail("integer divide by zero"));
            }
            TVal::Int(to_i64(&a[0]) % d)
        }
        "max" | "biggest" => TVal::Int(a.iter().map(to_i64).max().unwrap_or(0)),
        "min" => TVal::Int(a.iter().map(to_i64).min().unwrap_or(0)),
        "until" => TVal::List((0..to_i64(&a[0]).clamp(0, 100_000)).map(TVal::Int).collect()),
        "untilStep" => {
            want(name, a, 3)?;
            let (start, stop, step) = (to_i64(&a[0]), to_i64(&a[1]), to_i64(&a[2]));
            let mut out = Vec::new();
            let mut i = start;
            while step != 0 && ((step > 0 && i < stop) || (step < 0 && i > stop)) && out.len() < 100_000 {
                out.push(TVal::Int(i));
                i += step;
            }
            TVal::List(out)
        }
        // Defaults and logic.
        "default" => {
            if a.len() < 2 || empty(&a[1]) {
                a.first().cloned().unwrap_or(TVal::Nil)
            } else {
                a[1].clone()
            }
        }
        "empty" => TVal::Bool(empty(a.first().unwrap_or(&TVal::Nil))),
        "coalesce" => a.iter().find(|v| !empty(v)).cloned().unwrap_or(TVal::Nil),
        "all" => TVal::Bool(a.iter().all(|v| !empty(v))),
        "any" => TVal::Bool(a.iter().any(|v| !empty(v))),
        "ternary" => {
            want(name, a, 3)?;
            if a[2].truthy() { a[0].clone() } else { a[1].clone() }
        }
        "fail" => return Err(fail(s(0))),
        "typeOf" => TVal::Str(a.first().map(TVal::type_name).unwrap_or("<nil>").to_string()),
        "kindOf" => TVal::Str(
            match a.first() {
                Some(TVal::List(_)) => "slice",
                Some(TVal::Map(_)) => "map",
                Some(TVal::Str(_)) => "string",
                Some(TVal::Int(_)) => "int",
                Some(TVal::Float(_)) => "float64",
                Some(TVal::Bool(_)) => "bool",
                _ => "invalid",
            }
            .to_string(),
        ),
        "kindIs" => {
            want(name, a, 2)?;
            let k = call("kindOf", vec![a[1].clone()])?;
            TVal::Bool(k == TVal::Str(s(0)))
        }
        "deepEqual" => {
            want(name, a, 2)?;
            TVal::Bool(a[0] == a[1])
        }
        "deepCopy" | "mustDeepCopy" => a.first().cloned().unwrap_or(TVal::Nil),
        // Lists.
        "list" | "tuple" => TVal::List(a.clone()),
        "first" | "mustFirst" => list_of(name, &a[0])?.first().cloned().unwrap_or(TVal::Nil),
        "last" | "mustLast" => list_of(name, &a[0])?.last().cloned().unwrap_or(TVal::Nil),
        "rest" | "mustRest" => TVal::List(list_of(name, &a[0])?.into_iter().skip(1).collect()),
        "initial" | "mustInitial" => {
            let mut l = list_of(name, &a[0])?;
            l.pop();
            TVal::List(l)
        }
        "append" | "push" | "mustAppend" | "mustPush" => {
            want(name, a, 2)?;
            let mut l = list_of(name, &a[0])?;
            l.push(a[1].clone());
            TVal::List(l)
        }
        "prepend" | "mustPrepend" => {
            want(name, a, 2)?;
            let mut l = list_of(name, &a[0])?;
            l.insert(0, a[1].clone());
            TVal::List(l)
        }
        "concat" => TVal::List(a.iter().map(|v| list_of(name, v)).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect()),
        "reverse" | "mustReverse" => TVal::List(list_of(name, &a[0])?.into_iter().rev().collect()),
        "uniq" | "mustUniq" => {
            let mut out: Vec<TVal> = Vec::new();
            for v in list_of(name, &a[0])? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            TVal::List(out)
        }
        "compact" | "mustCompact" => TVal::List(list_of(name, &a[0])?.into_iter().filter(|v| !empty(v)).collect()),
        "without" | "mustWithout" => {
            let Some((l, drop)) = a.split_first() else { return Err(fail("wrong number of args for without")) };
            TVal::List(list_of(name, l)?.into_iter().filter(|v| !drop.contains(v)).collect())
        }
        "has" | "mustHas" => {
            want(name, a, 2)?;
            TVal::Bool(list_of(name, &a[1])?.contains(&a[0]))
        }
        "sortAlpha" => {
            let mut l: Vec<String> = list_of(name, &a[0])?.iter().map(strval).collect();
            l.sort();
            TVal::List(l.into_iter().map(TVal::Str).collect())
        }
        "chunk" | "mustChunk" => {
            want(name, a, 2)?;
            let n = to_i64(&a[0]).max(1) as usize;
            TVal::List(list_of(name, &a[1])?.chunks(n).map(|c| TVal::List(c.to_vec())).collect())
        }
        // Dictionaries.
        "dict" => {
            let mut m = BTreeMap::new();
            for pair in a.chunks(2) {
                m.insert(strval(&pair[0]), pair.get(1).cloned().unwrap_or(TVal::Str(String::new())));
            }
            TVal::Map(m)
        }
        "get" => {
            want(name, a, 2)?;
            map_of(name, &a[0])?.get(&s(1)).cloned().unwrap_or(TVal::Str(String::new()))
        }
        "set" => {
            want(name, a, 3)?;
            let mut m = map_of(name, &a[0])?;
            m.insert(s(1), a[2].clone());
            TVal::Map(m)
        }
        "unset" => {
            want(name, a, 2)?;
            let mut m = map_of(name, &a[0])?;
            m.remove(&s(1));
            TVal::Map(m)
        }
        "hasKey" => {
            want(name, a, 2)?;
            TVal::Bool(map_of(name, &a[0])?.contains_key(&s(1)))
        }
        "keys" => {
            let mut k: Vec<String> = Vec::new();
            for m in a {
                k.extend(map_of(name, m)?.into_keys());
            }
            TVal::List(k.into_iter().map(TVal::Str).collect())
        }
        "values" => TVal::List(map_of(name, &a[0])?.into_values().collect()),
        "pick" | "omit" => {
            let Some((m, ks)) = a.split_first() else { return Err(fail("wrong number of args")) };
            let ks: Vec<String> = ks.iter().map(strval).collect();
            TVal::Map(map_of(name, m)?.into_iter().filter(|(k, _)| ks.contains(k) == (name == "pick")).collect())
        }
        "pluck" => {
            let Some((k, ms)) = a.split_first() else { return Err(fail("wrong number of args")) };
            let k = strval(k);
            TVal::List(ms.iter().filter_map(|m| map_of(name, m).ok().and_then(|m| m.get(&k).cloned())).collect())
        }
        "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite" => {
            let Some((dst, srcs)) = a.split_first() else { return Err(fail("wrong number of args")) };
            let mut out = map_of(name, dst)?;
            let overwrite = name.contains("Overwrite");
            for src in srcs {
                merge_into(&mut out, &map_of(name, src)?, overwrite);
            }
            TVal::Map(out)
        }
        "dig" => {
            if a.len() < 3 {
                return Err(fail("dig needs at least three arguments"));
            }
            let map = &a[a.len() - 1];
            let default = &a[a.len() - 2];
            let mut cur = map.clone();
            for k in &a[..a.len() - 2] {
                cur = match cur {
                    TVal::Map(mut m) => match m.remove(&strval(k)) {
                        Some(v) => v,
                        None => return Ok(default.clone()),
                    },
                    _ => return Ok(default.clone()),
                };
            }
            cur
        }
        // Encodings.
        "toJson" | "mustToJson" | "toRawJson" | "mustToRawJson" => {
            TVal::Str(serde_json::to_string(&a.first().map(TVal::to_json).unwrap_or_default()).unwrap_or_default())
        }
        "toPrettyJson" | "mustToPrettyJson" => {
            TVal::Str(serde_json::to_string_pretty(&a.first().map(TVal::to_json).unwrap_or_default()).unwrap_or_default())
        }
        "fromJson" | "mustFromJson" => match serde_json::from_str::<serde_json::Value>(&s(0)) {
            Ok(v) => TVal::from_input(&v),
            Err(e) if name == "mustFromJson" => return Err(fail(e.to_string())),
            Err(_) => TVal::Map(BTreeMap::new()),
        },
        "toYaml" | "mustToYaml" => TVal::Str(goyaml::to_yaml(a.first().unwrap_or(&TVal::Nil))),
        // Regular expressions (Go's RE2 and Rust's regex agree on the common syntax).
        "regexMatch" | "mustRegexMatch" => {
            want(name, a, 2)?;
            TVal::Bool(regex(name, &s(0))?.is_match(&s(1)))
        }
        "regexFind" | "mustRegexFind" => {
            want(name, a, 2)?;
            TVal::Str(regex(name, &s(0))?.find(&s(1)).map(|m| m.as_str().to_string()).unwrap_or_default())
        }
        "regexFindAll" | "mustRegexFindAll" => {
            want(name, a, 3)?;
            let n = to_i64(&a[2]);
            let hay = s(1);
            let re = regex(name, &s(0))?;
            let all = re.find_iter(&hay).map(|m| TVal::Str(m.as_str().to_string()));
            TVal::List(if n < 0 { all.collect() } else { all.take(n as usize).collect() })
        }
        "regexReplaceAll" | "mustRegexReplaceAll" => {
            want(name, a, 3)?;
            // Go's `${1}` expansion is Rust's too.
            TVal::Str(regex(name, &s(0))?.replace_all(&s(1), s(2).as_str()).into_owned())
        }
        "regexReplaceAllLiteral" | "mustRegexReplaceAllLiteral" => {
            want(name, a, 3)?;
            TVal::Str(regex(name, &s(0))?.replace_all(&s(1), regex::NoExpand(&s(2))).into_owned())
        }
        "regexSplit" | "mustRegexSplit" => {
            want(name, a, 3)?;
            let n = to_i64(&a[2]);
            let hay = s(1);
            let re = regex(name, &s(0))?;
            TVal::List(if n < 0 {
                re.split(&hay).map(|p| TVal::Str(p.to_string())).collect()
            } else {
                re.splitn(&hay, n as usize).map(|p| TVal::Str(p.to_string())).collect()
            })
        }
        "regexQuoteMeta" => TVal::Str(regex::escape(&s(0))),
        "html" | "js" | "urlquery" | "call" => return Err(FuncError::Unsupported),
        _ if defined(name) => return Err(FuncError::Unsupported),
        _ => return Err(fail(format!("function {name:?} not defined"))),
    })
}

/// mergo's merge as sprig uses it: keys missing in `dst` are copied; with `overwrite`, `src` wins
/// (maps merged recursively either way).
fn merge_into(dst: &mut BTreeMap<String, TVal>, src: &BTreeMap<String, TVal>, overwrite: bool) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(TVal::Map(d)), TVal::Map(s)) => merge_into(d, s, overwrite),
            (Some(slot), v) if overwrite && !empty(v) => *slot = v.clone(),
            (Some(slot), v) if empty(slot) => *slot = v.clone(),
            (Some(_), _) => {}
            (None, v) => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Adler-32, as Go's `hash/adler32` (the operator's input ids).
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// A float the way `toString` of an input number prints it (exposed for ids).
pub fn float_string(f: f64) -> String {
    go_float(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, args: Vec<TVal>) -> TVal {
        call(name, args).unwrap_or_else(|e| panic!("{name}: {e:?}"))
    }
    fn st(s: &str) -> TVal {
        TVal::Str(s.to_string())
    }

    #[test]
    fn sprig_semantics() {
        assert_eq!(c("quote", vec![st("a\"b")]), st("\"a\\\"b\""));
        assert_eq!(c("quote", vec![TVal::Float(2.0)]), st("\"2\""));
        assert_eq!(c("int", vec![st("3")]), TVal::Int(3));
        assert_eq!(c("int", vec![TVal::Float(2.9)]), TVal::Int(2));
        assert_eq!(c("default", vec![st("d"), st("")]), st("d"));
        assert_eq!(c("default", vec![st("d"), st("x")]), st("x"));
        assert_eq!(c("nindent", vec![TVal::Int(2), st("a: 1\nb: 2\n")]), st("\n  a: 1\n  b: 2\n  "));
        assert_eq!(c("slugify", vec![st(">=1.0.0-rc.0")]), st("1-0-0-rc-0"));
        assert_eq!(c("slugify", vec![st("Team One & Two")]), st("team-one-and-two"));
        assert_eq!(c("trunc", vec![TVal::Int(3), st("abcdef")]), st("abc"));
        assert_eq!(c("replace", vec![st("-"), st("_"), st("a-b-c")]), st("a_b_c"));
        assert_eq!(c("printf", vec![st("%s-%03d"), st("x"), TVal::Int(7)]), st("x-007"));
        assert_eq!(c("join", vec![st(","), TVal::List(vec![st("a"), TVal::Int(1)])]), st("a,1"));
        assert_eq!(adler32(b"podinfo"), 198_050_544, "zlib.adler32(b\"podinfo\")");
        assert_eq!(call("sha1sum", vec![st("x")]), Err(FuncError::Unsupported));
        assert!(matches!(call("nope", vec![]), Err(FuncError::Failed(_))));
    }
}
