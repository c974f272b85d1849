//! Flux `postBuild` variable substitution, as kustomize-controller does it (fluxcd/pkg/kustomize
//! `SubstituteVariables` with fluxcd/pkg/envsubst): only `${var}` forms, `$${var}` escapes one,
//! `${var:=default}` / `${var:-default}` (unset or empty) and `${var=default}` / `${var-default}`
//! (unset). Without strict mode every variable counts as set (empty when unknown), so only the
//! `:` forms fall back to their default; in strict mode an unset variable without a default is an
//! error. Resources labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` are
//! left alone. Variable values lose their newlines, as in Flux.

use std::collections::BTreeMap;

use serde_json::Value;

/// The label/annotation that turns substitution off for one resource.
pub const DISABLE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// What to do with a variable nobody defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Flux without strict mode: it is empty.
    Empty,
    /// Flux in strict mode: an error unless the expression has a default.
    Error,
    /// `check` when some variables come from objects outside git: leave `${…}` as written.
    Keep,
}

/// Substitution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvsubstError {
    /// A variable name is not `[_a-zA-Z][_a-zA-Z0-9]*`.
    #[error("'{0}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'; rename it in postBuild")]
    InvalidName(String),
    /// Strict mode and the variable is not set.
    #[error(
        "variable not set (strict mode): {0}; define it in postBuild.substitute or substituteFrom, or give it a default (${{{0}:=value}})"
    )]
    Unset(String),
    /// `${` without its `}`.
    #[error("unclosed `${{` at byte {0}; close it with `}}` or escape it as `$${{`")]
    Unclosed(usize),
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic()) && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Variables as Flux builds them: names checked, newlines dropped from values.
pub fn vars(raw: impl IntoIterator<Item = (String, String)>) -> Result<BTreeMap<String, String>, EnvsubstError> {
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        if !valid_name(&k) {
            return Err(EnvsubstError::InvalidName(k));
        }
        out.insert(k, v.replace('\n', ""));
    }
    Ok(out)
}

/// Whether substitution is disabled on a resource by its label or annotation.
pub fn disabled(resource: &Value) -> bool {
    ["labels", "annotations"]
        .iter()
        .any(|m| resource.pointer(&format!("/metadata/{m}/{}", DISABLE_KEY.replace('/', "~1"))).and_then(Value::as_str) == Some("disabled"))
}

/// Substitute `${…}` in `text`.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>, unknown: Unknown) -> Result<String, EnvsubstError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0usize;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(escaped) = after.strip_prefix("${") {
            // `$${x}` is the literal `${x}`.
            out.push_str("${");
            offset += i + 3;
            rest = escaped;
            continue;
        }
        let Some(body_start) = after.strip_prefix('{') else {
            out.push('$');
            offset += i + 1;
            rest = after;
            continue;
        };
        let Some(close) = closing_brace(body_start) else { return Err(EnvsubstError::Unclosed(offset + i)) };
        let expr = &body_start[..close];
        let whole = &rest[i..i + 2 + close + 1];
        out.push_str(&eval(expr, whole, vars, unknown)?);
        offset += i + 2 + close + 1;
        rest = &body_start[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The `}` that closes a `${`, past the ones of `${…}` nested in a default
/// (`${CLAIM:-${APP}}`, which Flux's envsubst expands).
fn closing_brace(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// One `${expr}`; `whole` is the expression as written (kept for [`Unknown::Keep`]).
fn eval(expr: &str, whole: &str, vars: &BTreeMap<String, String>, unknown: Unknown) -> Result<String, EnvsubstError> {
    let name_end = expr.find(|c: char| !(c == '_' || c.is_ascii_alphanumeric())).unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_end);
    if !valid_name(name) {
        // Not a variable reference envsubst understands (`${1}`, `${#x}`…): left as written.
        return Ok(whole.to_string());
    }
    let value = vars.get(name);
    let (default, when_empty) = if let Some(d) = op.strip_prefix(":=").or_else(|| op.strip_prefix(":-")) {
        (Some(d), true)
    } else if let Some(d) = op.strip_prefix('=').or_else(|| op.strip_prefix('-')) {
        (Some(d), false)
    } else {
        (None, false)
    };
    // A default may itself hold `${…}`, expanded only when it is used.
    let default_value = |d: Option<&str>| substitute(d.unwrap_or(""), vars, unknown);
    match (value, unknown) {
        (Some(v), _) if !(when_empty && v.is_empty()) => Ok(v.clone()),
        (Some(_), _) => default_value(default),
        (None, Unknown::Keep) => Ok(whole.to_string()),
        (None, Unknown::Empty) => default_value(default.filter(|_| when_empty)),
        (None, Unknown::Error) => match default {
            Some(d) => default_value(Some(d)),
            None => Err(EnvsubstError::Unset(name.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn flux_forms() {
        let vars = v(&[("a", "x"), ("empty", "")]);
        let s = |t: &str, u| substitute(t, &vars, u).unwrap();
        assert_eq!(s("p: ${a}/$a/$${a}", Unknown::Empty), "p: x/$a/${a}");
        assert_eq!(s("${empty:=d} ${empty=d} ${nope:-d} ${nope-d}", Unknown::Empty), "d  d ");
        assert_eq!(s("${nope:-d} ${nope-d}", Unknown::Error), "d d");
        assert_eq!(s("${nope} ${a}", Unknown::Keep), "${nope} x");
        assert_eq!(substitute("${nope}", &vars, Unknown::Error), Err(EnvsubstError::Unset("nope".into())));
        // Nested defaults, expanded when used.
        assert_eq!(s("${nope:-${a}}-x ${a:-${nope}} ${empty:-${nope:-d}}", Unknown::Empty), "x-x x d");
        assert_eq!(s("${nope:-${a}}", Unknown::Keep), "${nope:-${a}}");
        assert_eq!(substitute("${nope:-${a}", &vars, Unknown::Empty), Err(EnvsubstError::Unclosed(0)));
        assert!(matches!(substitute("a ${b", &vars, Unknown::Empty), Err(EnvsubstError::Unclosed(2))));
        assert!(vars_err("bad-name"));
        assert_eq!(super::vars([("k".to_string(), "a\nb".to_string())]).unwrap()["k"], "ab");
    }

    fn vars_err(name: &str) -> bool {
        matches!(vars([(name.to_string(), String::new())]), Err(EnvsubstError::InvalidName(_)))
    }

    #[test]
    fn disabled_by_label_or_annotation() {
        let r = serde_json::json!({"metadata": {"annotations": {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}}});
        assert!(disabled(&r));
        assert!(!disabled(&serde_json::json!({"metadata": {}})));
    }
}
