//! Status conditions as Flux (and Flagger, and Kubernetes) write them: the one place that reads
//! `status.conditions` and `observedGeneration`.

use serde_json::Value;

/// One condition of an object's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition<'a> {
    /// `Ready`, `Stalled`, `Reconciling`, `Promoted`, …
    pub type_: &'a str,
    /// `True`, `False` or `Unknown`.
    pub status: &'a str,
    /// CamelCase reason (`""` when absent).
    pub reason: &'a str,
    /// Human message (`""` when absent).
    pub message: &'a str,
}

impl Condition<'_> {
    /// `status: True`.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }

    /// `status: False`.
    pub fn is_false(&self) -> bool {
        self.status == "False"
    }
}

/// Condition `type_` of `obj` (a whole object with `status.conditions`).
pub fn find<'a>(obj: &'a Value, type_: &str) -> Option<Condition<'a>> {
    all(obj).find(|c| c.type_ == type_)
}

/// Every condition of `obj`, in order.
pub fn all(obj: &Value) -> impl Iterator<Item = Condition<'_>> {
    obj.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().map(|c| Condition {
        type_: text(c, "type"),
        status: text(c, "status"),
        reason: text(c, "reason"),
        message: text(c, "message"),
    })
}

fn text<'a>(c: &'a Value, key: &str) -> &'a str {
    c.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The `Ready` condition.
pub fn ready(obj: &Value) -> Option<Condition<'_>> {
    find(obj, "Ready")
}

/// Whether the controller has seen the current spec (`observedGeneration >= generation`);
/// true when either is absent (objects that do not record them).
pub fn observed_current(obj: &Value) -> bool {
    match (obj.pointer("/metadata/generation").and_then(Value::as_i64), obj.pointer("/status/observedGeneration").and_then(Value::as_i64)) {
        (Some(g), Some(o)) => o >= g,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_ready_and_generation() {
        let o = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 2, "conditions": [
            {"type": "Reconciling", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "BuildFailed", "message": "kustomize build failed"}]}});
        let r = ready(&o).unwrap();
        assert!(r.is_false() && r.reason == "BuildFailed" && r.message == "kustomize build failed");
        assert!(!observed_current(&o));
        assert_eq!(all(&o).count(), 2);
        assert!(ready(&json!({})).is_none());
        assert!(observed_current(&json!({})));
    }
}
