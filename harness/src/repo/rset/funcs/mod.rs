//! The functions a ResourceSet template may call: Go's builtins, slim-sprig's (the hermetic
//! text set the Flux Operator registers), `slugify`, `toYaml`/`mustToYaml` and `inputs`.
//!
//! Every name the operator knows is [`defined`] (a template calling anything else fails in the
//! operator too); the ones implemented here behave as documented by Go and sprig. A known
//! function that is not implemented is [`FuncError::Unsupported`]: the ResourceSet is then
//! reported as not expanded instead of being expanded wrongly.

use std::collections::BTreeMap;

use super::value::{TVal, go_float};

mod call;
mod fmt;
mod text;

pub use call::call;

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
