//! Kubeconfig handling: rewriting a cluster's kubeconfig to the address the host reaches it on,
//! and merging it into another file without touching anything else there.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Errors reading or writing kubeconfigs.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// Not valid YAML / not a kubeconfig.
    #[error("{what} is not a valid kubeconfig: {message}")]
    Invalid {
        /// Which file or source.
        what: String,
        /// Why.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

fn parse(text: &str, what: &str) -> Result<Value, KubeconfigError> {
    let v: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| KubeconfigError::Invalid { what: what.to_string(), message: e.to_string() })?;
    let v = crate::yaml_docs::to_json(v);
    if v.get("clusters").and_then(Value::as_array).is_none() {
        return Err(KubeconfigError::Invalid { what: what.to_string(), message: "no clusters list".to_string() });
    }
    Ok(v)
}

fn dump(v: &Value) -> Result<String, KubeconfigError> {
    serde_norway::to_string(v).map_err(|e| KubeconfigError::Invalid { what: "generated kubeconfig".to_string(), message: e.to_string() })
}

/// Name used for the cluster, context and user entries of harness cluster `name`.
pub fn entry_name(cluster: &str) -> String {
    format!("harness-{cluster}")
}

/// Point every cluster entry at `server` and rename the (single) cluster/context/user to
/// `harness-<cluster>`, making it the current context.
pub fn rewrite(text: &str, server: &str, cluster: &str) -> Result<String, KubeconfigError> {
    let mut v = parse(text, "the cluster's kubeconfig")?;
    let name = entry_name(cluster);
    for key in ["clusters", "contexts", "users"] {
        if let Some(items) = v.get_mut(key).and_then(Value::as_array_mut) {
            for item in items.iter_mut() {
                item["name"] = json!(name);
                if key == "clusters" {
                    item["cluster"]["server"] = json!(server);
                }
                if key == "contexts" {
                    item["context"]["cluster"] = json!(name);
                    item["context"]["user"] = json!(name);
                }
            }
        }
    }
    v["current-context"] = json!(name);
    dump(&v)
}

/// The API server URL of the current context.
pub fn server_of(text: &str) -> Result<String, KubeconfigError> {
    let v = parse(text, "kubeconfig")?;
    let ctx_name = v.get("current-context").and_then(Value::as_str).unwrap_or("");
    let cluster_name = v
        .get("contexts")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["name"] == ctx_name))
        .and_then(|c| c["context"]["cluster"].as_str())
        .unwrap_or("");
    v["clusters"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == cluster_name).or_else(|| cs.first()))
        .and_then(|c| c["cluster"]["server"].as_str())
        .map(str::to_string)
        .ok_or_else(|| KubeconfigError::Invalid { what: "kubeconfig".to_string(), message: "no server".to_string() })
}

/// Merge `incoming` into the kubeconfig at `target`: entries with the same names are replaced,
/// all others are kept as they are; `current-context` is set only when `switch` is true.
pub fn merge_into(target: &Path, incoming: &str, switch: bool) -> Result<(), KubeconfigError> {
    let inc = parse(incoming, "the cluster's kubeconfig")?;
    let mut base = if target.is_file() {
        let text = std::fs::read_to_string(target).map_err(|source| KubeconfigError::Io { path: target.to_path_buf(), source })?;
        if text.trim().is_empty() {
            json!({"apiVersion": "v1", "kind": "Config", "clusters": []})
        } else {
            parse(&text, &target.display().to_string())?
        }
    } else {
        json!({"apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [], "users": []})
    };
    for key in ["clusters", "contexts", "users"] {
        let incoming_items = inc.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        if base.get(key).and_then(Value::as_array).is_none() {
            base[key] = json!([]);
        }
        if let Some(items) = base.get_mut(key).and_then(Value::as_array_mut) {
            for item in incoming_items {
                match items.iter_mut().find(|i| i["name"] == item["name"]) {
                    Some(existing) => *existing = item,
                    None => items.push(item),
                }
            }
        }
    }
    if switch && let Some(ctx) = inc.get("current-context") {
        base["current-context"] = ctx.clone();
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|source| KubeconfigError::Io { path: parent.to_path_buf(), source })?;
    }
    // Write beside and rename, so a crash never leaves a half-written kubeconfig.
    let tmp = target.with_extension("gitops-harness.tmp");
    std::fs::write(&tmp, dump(&base)?).map_err(|source| KubeconfigError::Io { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, target).map_err(|source| KubeconfigError::Io { path: target.to_path_buf(), source })
}

/// The user's kubeconfig: the first path in `$KUBECONFIG`, else `~/.kube/config`.
pub fn user_kubeconfig_path() -> PathBuf {
    if let Some(first) = std::env::var_os("KUBECONFIG").and_then(|v| std::env::split_paths(&v).next()) {
        return first;
    }
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".kube/config")
}

#[cfg(test)]
mod tests {
    use super::*;

    const K3S: &str = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: QUJD\n    server: https://127.0.0.1:6443\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\nkind: Config\nusers:\n- name: default\n  user:\n    client-certificate-data: QUJD\n    client-key-data: QUJD\n";

    #[test]
    fn rewrites_server_and_names() {
        let out = rewrite(K3S, "https://127.0.0.1:40123", "demo").unwrap();
        assert_eq!(server_of(&out).unwrap(), "https://127.0.0.1:40123");
        assert!(out.contains("current-context: harness-demo"));
        assert!(out.contains("certificate-authority-data: QUJD"));
        assert!(!out.contains("name: default"));
    }

    #[test]
    fn merge_keeps_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("config");
        std::fs::write(&target, K3S.replace("6443", "7443")).unwrap();
        let mine = rewrite(K3S, "https://127.0.0.1:40123", "demo").unwrap();
        merge_into(&target, &mine, false).unwrap();
        let merged = std::fs::read_to_string(&target).unwrap();
        assert!(merged.contains("https://127.0.0.1:7443") && merged.contains("https://127.0.0.1:40123"));
        assert!(merged.contains("current-context: default"), "did not switch: {merged}");
        merge_into(&target, &mine, true).unwrap();
        let merged = std::fs::read_to_string(&target).unwrap();
        assert!(merged.contains("current-context: harness-demo"));
        assert_eq!(merged.matches("name: harness-demo").count(), 3, "replaced, not duplicated: {merged}");
        assert!(parse("clusters: [", "x").is_err());
    }
}
