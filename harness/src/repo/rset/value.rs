//! Template values as the Flux Operator's Go templates see them, and how Go prints them.
//!
//! Inputs reach the operator's templates through `encoding/json` into `any`, so every number
//! of an input is a `float64`; integer literals in a template are `int`. Go's `text/template`
//! refuses to compare the two (`eq` of an input number with `2` is an error), prints a float with
//! `%v` (shortest form, exponent from 1e+06 on) and a nil value as `<no value>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// A value inside a template.
#[derive(Debug, Clone, PartialEq)]
pub enum TVal {
    /// Go's nil (an absent or null value).
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int` / `int64` (template literals, results of `int`, `add`, `len`, …).
    Int(i64),
    /// `float64` (every number of an input, float literals).
    Float(f64),
    /// `string`.
    Str(String),
    /// `[]any`.
    List(Vec<TVal>),
    /// `map[string]any` (Go iterates it in key order, as this does).
    Map(BTreeMap<String, TVal>),
}

impl TVal {
    /// An input value as `json.Unmarshal` into `any` gives it: numbers are floats.
    pub fn from_input(v: &Value) -> TVal {
        match v {
            Value::Null => TVal::Nil,
            Value::Bool(b) => TVal::Bool(*b),
            Value::Number(n) => TVal::Float(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => TVal::Str(s.clone()),
            Value::Array(a) => TVal::List(a.iter().map(TVal::from_input).collect()),
            Value::Object(m) => TVal::Map(m.iter().map(|(k, v)| (k.clone(), TVal::from_input(v))).collect()),
        }
    }

    /// Back to JSON (for `toJson`, and for reading inputs back).
    pub fn to_json(&self) -> Value {
        match self {
            TVal::Nil => Value::Null,
            TVal::Bool(b) => Value::Bool(*b),
            TVal::Int(i) => Value::from(*i),
            TVal::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            TVal::Str(s) => Value::String(s.clone()),
            TVal::List(l) => Value::Array(l.iter().map(TVal::to_json).collect()),
            TVal::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Go's truth of a value (`if`, `with`, `and`, `or`, `not`).
    pub fn truthy(&self) -> bool {
        match self {
            TVal::Nil => false,
            TVal::Bool(b) => *b,
            TVal::Int(i) => *i != 0,
            TVal::Float(f) => *f != 0.0,
            TVal::Str(s) => !s.is_empty(),
            TVal::List(l) => !l.is_empty(),
            TVal::Map(m) => !m.is_empty(),
        }
    }

    /// The Go type name, for error messages and `typeOf`.
    pub fn type_name(&self) -> &'static str {
        match self {
            TVal::Nil => "<nil>",
            TVal::Bool(_) => "bool",
            TVal::Int(_) => "int",
            TVal::Float(_) => "float64",
            TVal::Str(_) => "string",
            TVal::List(_) => "[]interface {}",
            TVal::Map(_) => "map[string]interface {}",
        }
    }

    /// `fmt.Sprint(v)` (`%v`).
    pub fn go_string(&self) -> String {
        let mut s = String::new();
        self.write_v(&mut s);
        s
    }

    fn write_v(&self, out: &mut String) {
        match self {
            TVal::Nil => out.push_str("<nil>"),
            TVal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            TVal::Int(i) => {
                let _ = write!(out, "{i}");
            }
            TVal::Float(f) => out.push_str(&go_float(*f)),
            TVal::Str(s) => out.push_str(s),
            TVal::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_v(out);
                }
                out.push(']');
            }
            TVal::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_v(out);
                }
                out.push(']');
            }
        }
    }
}

/// A float64 as Go's `%v` / `strconv.FormatFloat(f, 'g', -1, 64)` prints it: the shortest
/// digits that read back, in exponent form when the exponent is below -4 or at least 6
/// (`1e+06`, `1.5e-05`), else plainly (`100000`, `2.5`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: `d.ddde±X`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(2.0), "2");
        assert_eq!(go_float(2.5), "2.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-3.0), "-3");
        assert_eq!(TVal::from_input(&serde_json::json!({"b": [1, "x"], "a": null})).go_string(), "map[a:<nil> b:[1 x]]");
    }
}
