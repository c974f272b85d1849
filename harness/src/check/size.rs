//! ConfigMaps and Secrets over the 1 MiB the API server accepts.

use base64::Engine as _;
use serde_json::Value;

use super::{Finding, Severity, codes};
use crate::repo::{Origin, Repo};

/// The API server's limit on a ConfigMap's or Secret's data.
const LIMIT: usize = 1024 * 1024;

/// Bytes of data an object holds, as the API server counts them (keys and decoded values).
fn data_bytes(v: &Value, secret: bool) -> usize {
    let mut total = 0;
    for (field, b64) in [("data", secret), ("binaryData", true), ("stringData", false)] {
        for (k, val) in v.get(field).and_then(Value::as_object).into_iter().flatten() {
            let s = val.as_str().unwrap_or("");
            let len =
                if b64 { base64::engine::general_purpose::STANDARD.decode(s.trim()).map(|b| b.len()).unwrap_or(s.len()) } else { s.len() };
            total += k.len() + len;
        }
    }
    total
}

pub(super) fn config_size(repo: &Repo, out: &mut Vec<Finding>) {
    for o in repo.objects() {
        let secret = match (o.api_version.as_str(), o.key.kind.as_str()) {
            ("v1", "ConfigMap") => false,
            ("v1", "Secret") => true,
            _ => continue,
        };
        let bytes = data_bytes(&o.doc.value, secret);
        if bytes > LIMIT {
            out.push(Finding::new(
                Severity::Error,
                codes::OBJECT_TOO_LARGE,
                &Origin::at(&o.doc, "data"),
                format!(
                    "{} holds {bytes} bytes of data, over the 1 MiB ({LIMIT} bytes) the API server accepts; the apply fails: split it or mount the data another way",
                    o.key
                ),
            ));
        }
    }
}
