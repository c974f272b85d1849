//! Kubernetes quantities as traffic weights, and per-backend percentages of a routing object.
//!
//! SMI `split.smi-spec.io/v1alpha1` TrafficSplit backend weights are `resource.Quantity`
//! (`"950m"`, `"50"`, `50`); v1alpha2+ use integers; Gateway API HTTPRoute `backendRefs[].weight`
//! is an integer (default 1). All of them are relative: the share of a backend is its weight over
//! the sum.

use std::fmt;

use serde_json::Value;

/// Errors reading quantities and routing weights.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QuantityError {
    /// The text is not a Kubernetes quantity.
    #[error("`{text}` is not a Kubernetes quantity ({why}); expected e.g. `50`, `950m`, `0.5`, `1k`, `1Ki`")]
    Invalid {
        /// The text.
        text: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The JSON value is neither a number nor a string.
    #[error("weight {0} is neither a number nor a quantity string")]
    NotAQuantity(String),
    /// A routing object lacks the expected fields.
    #[error("{object}: {message}")]
    Shape {
        /// Object description (`TrafficSplit faces/face`).
        object: String,
        /// What is missing.
        message: String,
    },
}

/// A parsed quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    /// The value as a float.
    pub value: f64,
}

impl Quantity {
    /// Value in thousandths, rounded up like Kubernetes' `MilliValue()`.
    pub fn milli(&self) -> i64 {
        (self.value * 1000.0 - 1e-9).ceil() as i64
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)
    }
}

/// Parse a quantity string: `<number><suffix>` with decimal SI (`n u m k M G T P E`), binary
/// (`Ki Mi Gi Ti Pi Ei`) or exponent (`e3`, `E-2`) suffixes.
pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
    let bad = |why| QuantityError::Invalid { text: text.to_string(), why };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad("empty"));
    }
    let num_end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '+' || c == '-') && i == 0)))
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(num_end);
    if num.is_empty() || num == "+" || num == "-" || num.matches('.').count() > 1 || num.trim_start_matches(['+', '-']) == "." {
        return Err(bad("no number"));
    }
    let n: f64 = num.parse().map_err(|_| bad("bad number"))?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().map_err(|_| bad("bad exponent"))?;
            10f64.powi(exp)
        }
        _ => return Err(bad("unknown suffix")),
    };
    Ok(Quantity { value: n * mult })
}

/// Read a weight from JSON: a number, or a quantity string.
pub fn from_json(v: &Value) -> Result<Quantity, QuantityError> {
    match v {
        Value::Number(n) => n.as_f64().map(|value| Quantity { value }).ok_or_else(|| QuantityError::NotAQuantity(v.to_string())),
        Value::String(s) => parse(s),
        other => Err(QuantityError::NotAQuantity(other.to_string())),
    }
}

/// One backend of a routing object and its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendWeight {
    /// Backend service name.
    pub service: String,
    /// Raw weight (relative).
    pub weight: f64,
}

/// Weights of all backends of one routing object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Weights {
    /// Backends in the order the object lists them.
    pub backends: Vec<BackendWeight>,
}

impl Weights {
    /// Sum of all weights.
    pub fn total(&self) -> f64 {
        self.backends.iter().map(|b| b.weight).sum()
    }

    /// Percentage of traffic (0..=100) a backend gets; `None` if it is not listed. When all
    /// weights are 0 every backend gets 0.
    pub fn percent(&self, service: &str) -> Option<f64> {
        let b = self.backends.iter().find(|b| b.service == service)?;
        let total = self.total();
        Some(if total > 0.0 { b.weight * 100.0 / total } else { 0.0 })
    }

    /// Percentages per backend, in object order.
    pub fn percentages(&self) -> Vec<(String, f64)> {
        self.backends.iter().map(|b| (b.service.clone(), self.percent(&b.service).unwrap_or(0.0))).collect()
    }
}

fn object_name(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("object");
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
    format!("{kind} {ns}/{name}")
}

/// Weights of an SMI TrafficSplit (any version `split.smi-spec.io/v1alpha1..v1alpha4`).
pub fn traffic_split_weights(ts: &Value) -> Result<Weights, QuantityError> {
    let shape = |message: &str| QuantityError::Shape { object: object_name(ts), message: message.to_string() };
    let backends = ts.pointer("/spec/backends").and_then(Value::as_array).ok_or_else(|| shape("no spec.backends list"))?;
    let mut out = Weights::default();
    for b in backends {
        let service = b.get("service").and_then(Value::as_str).ok_or_else(|| shape("a backend has no service"))?;
        let weight = match b.get("weight") {
            Some(w) => from_json(w)?.value,
            None => return Err(shape(&format!("backend {service} has no weight"))),
        };
        out.backends.push(BackendWeight { service: service.to_string(), weight });
    }
    Ok(out)
}

/// Weights of a Gateway API HTTPRoute: backendRefs of every rule (a backend listed in several
/// rules is summed; weight defaults to 1 as the API specifies). `rule` picks one rule index.
pub fn http_route_weights(route: &Value, rule: Option<usize>) -> Result<Weights, QuantityError> {
    let shape = |message: &str| QuantityError::Shape { object: object_name(route), message: message.to_string() };
    let rules = route.pointer("/spec/rules").and_then(Value::as_array).ok_or_else(|| shape("no spec.rules list"))?;
    let picked: Vec<&Value> = match rule {
        Some(i) => vec![rules.get(i).ok_or_else(|| shape(&format!("no rule [{i}]; it has {}", rules.len())))?],
        None => rules.iter().collect(),
    };
    let mut out = Weights::default();
    for r in picked {
        for b in r.get("backendRefs").and_then(Value::as_array).into_iter().flatten() {
            let service = b.get("name").and_then(Value::as_str).ok_or_else(|| shape("a backendRef has no name"))?;
            let weight = match b.get("weight") {
                Some(w) => from_json(w)?.value,
                None => 1.0,
            };
            match out.backends.iter_mut().find(|x| x.service == service) {
                Some(x) => x.weight += weight,
                None => out.backends.push(BackendWeight { service: service.to_string(), weight }),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_quantities() {
        let cases = [
            ("50", 50.0),
            ("950m", 0.95),
            ("0.5", 0.5),
            ("1k", 1000.0),
            ("1Ki", 1024.0),
            ("+5", 5.0),
            ("1e3", 1000.0),
            ("100E-2", 1.0),
            ("0", 0.0),
            ("500u", 0.0005),
        ];
        for (t, v) in cases {
            let q = parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert!((q.value - v).abs() < 1e-12, "{t}: {} != {v}", q.value);
        }
        assert_eq!(parse("950m").unwrap().milli(), 950);
        assert_eq!(parse("50").unwrap().milli(), 50_000);
        assert_eq!(parse("1n").unwrap().milli(), 1, "MilliValue rounds up");
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        for t in ["", "m", "5x", "1.2.3", "abc", "--1", "1Kb"] {
            let e = parse(t).unwrap_err();
            assert!(e.to_string().contains("is not a Kubernetes quantity"), "{t}: {e}");
        }
        assert!(matches!(from_json(&json!(true)), Err(QuantityError::NotAQuantity(_))));
        assert_eq!(from_json(&json!(95)).unwrap().value, 95.0);
        assert_eq!(from_json(&json!("50m")).unwrap().milli(), 50);
    }

    #[test]
    fn traffic_split_percentages_from_mixed_weights() {
        let ts = json!({"apiVersion":"split.smi-spec.io/v1alpha1","kind":"TrafficSplit",
            "metadata":{"name":"face","namespace":"faces"},
            "spec":{"service":"face","backends":[{"service":"face-primary","weight":"950m"},{"service":"face-canary","weight":"50m"}]}});
        let w = traffic_split_weights(&ts).unwrap();
        assert!((w.percent("face-primary").unwrap() - 95.0).abs() < 1e-9);
        assert!((w.percent("face-canary").unwrap() - 5.0).abs() < 1e-9);
        let ts2 =
            json!({"spec":{"service":"face","backends":[{"service":"face-primary","weight":90},{"service":"face-canary","weight":"10"}]}});
        let w = traffic_split_weights(&ts2).unwrap();
        assert_eq!(w.percentages(), vec![("face-primary".into(), 90.0), ("face-canary".into(), 10.0)]);
        assert_eq!(w.percent("nope"), None);
        let bad = json!({"kind":"TrafficSplit","metadata":{"name":"x","namespace":"y"},"spec":{}});
        assert_eq!(traffic_split_weights(&bad).unwrap_err().to_string(), "TrafficSplit y/x: no spec.backends list");
    }

    #[test]
    fn http_route_weights_default_to_one_and_sum_over_rules() {
        let r = json!({"kind":"HTTPRoute","spec":{"rules":[{"backendRefs":[
            {"name":"face-primary","port":80,"weight":70},{"name":"face-canary","port":80,"weight":30}]}]}});
        let w = http_route_weights(&r, None).unwrap();
        assert_eq!(w.percent("face-canary"), Some(30.0));
        let r = json!({"kind":"HTTPRoute","spec":{"rules":[{"backendRefs":[{"name":"a"},{"name":"b","weight":3}]}]}});
        assert_eq!(http_route_weights(&r, Some(0)).unwrap().percent("a"), Some(25.0));
        let zero = json!({"spec":{"rules":[{"backendRefs":[{"name":"a","weight":0},{"name":"b","weight":0}]}]}});
        assert_eq!(http_route_weights(&zero, None).unwrap().percent("a"), Some(0.0));
    }
}
