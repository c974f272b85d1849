//! Artifacts of a failure: the objects involved, their Ready conditions, recent events,
//! Flux/Flagger controller logs and the last log lines of failing pods, saved under a directory
//! with a `summary.md` — what CI keeps and a person reads first.
//!
//! Gathering ([`collect`]) talks to the cluster; writing ([`write`]) is pure file layout.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams};
use serde_json::Value;

use crate::repo::ObjectRef;

/// Everything gathered for one failure.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// The objects involved, as the API returned them.
    pub objects: Vec<(ObjectRef, Value)>,
    /// Recent events (core/v1 Event as JSON), any order.
    pub events: Vec<Value>,
    /// Logs: (`namespace/pod/container`, text).
    pub logs: Vec<(String, String)>,
    /// What could not be gathered, and why.
    pub errors: Vec<String>,
}

/// Where the artifacts went.
#[derive(Debug, Clone)]
pub struct ArtifactsSummary {
    /// The directory.
    pub dir: PathBuf,
    /// Files written, relative to `dir`.
    pub files: Vec<PathBuf>,
}

/// Errors writing or gathering artifacts.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactsError {
    /// Writing failed.
    #[error("writing artifacts under {dir}: {source}")]
    Io {
        /// Directory.
        dir: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

fn safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
}

/// The Ready condition of an object as one line (`Ready=False BuildFailed: message`).
pub fn ready_line(obj: &Value) -> String {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| {
            format!(
                "Ready={} {}: {}",
                c["status"].as_str().unwrap_or("?"),
                c["reason"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_else(|| "no Ready condition".to_string())
}

/// One event as a line: time, type, reason, object, message.
pub fn event_line(ev: &Value) -> String {
    let time = ev
        .get("lastTimestamp")
        .or_else(|| ev.get("eventTime"))
        .or_else(|| ev.pointer("/metadata/creationTimestamp"))
        .and_then(Value::as_str)
        .unwrap_or("-");
    format!(
        "{time} {:<7} {:<24} {}/{} {}: {}",
        ev["type"].as_str().unwrap_or(""),
        ev["reason"].as_str().unwrap_or(""),
        ev.pointer("/involvedObject/kind").and_then(Value::as_str).unwrap_or(""),
        ev.pointer("/involvedObject/namespace").and_then(Value::as_str).unwrap_or(""),
        ev.pointer("/involvedObject/name").and_then(Value::as_str).unwrap_or(""),
        ev["message"].as_str().unwrap_or("").trim()
    )
}

fn event_time(ev: &Value) -> String {
    ev.get("lastTimestamp").or_else(|| ev.get("eventTime")).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Write the gathered data under `dir`: `objects/*.yaml`, `events.txt` (oldest first),
/// `logs/*.log`, and `summary.md` headed by `title` (the failure).
pub fn write(dir: &Path, title: &str, c: &Collected) -> Result<ArtifactsSummary, ArtifactsError> {
    let io = |source| ArtifactsError::Io { dir: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir.join("objects")).map_err(io)?;
    std::fs::create_dir_all(dir.join("logs")).map_err(io)?;
    let mut files = Vec::new();
    let mut summary = format!("# {title}\n\n## Objects\n\n");
    for (key, obj) in &c.objects {
        let rel = PathBuf::from("objects").join(format!(
            "{}_{}_{}.yaml",
            safe(&key.kind),
            safe(key.namespace.as_deref().unwrap_or("_")),
            safe(&key.name)
        ));
        let yaml = serde_norway::to_string(obj).unwrap_or_else(|e| format!("# could not render: {e}\n{obj}"));
        std::fs::write(dir.join(&rel), yaml).map_err(io)?;
        summary.push_str(&format!("- `{key}`: {} ([yaml]({}))\n", ready_line(obj), rel.display()));
        files.push(rel);
    }
    let mut events = c.events.clone();
    events.sort_by_key(event_time);
    let lines: Vec<String> = events.iter().map(event_line).collect();
    std::fs::write(dir.join("events.txt"), lines.join("\n") + "\n").map_err(io)?;
    files.push(PathBuf::from("events.txt"));
    let warnings: Vec<&String> = lines.iter().filter(|l| l.contains(" Warning ")).collect();
    summary.push_str(&format!("\n## Recent warning events ({} of {} events, all in events.txt)\n\n", warnings.len().min(15), lines.len()));
    for l in warnings.iter().rev().take(15).rev() {
        summary.push_str(&format!("    {l}\n"));
    }
    summary.push_str("\n## Logs\n\n");
    for (name, text) in &c.logs {
        let rel = PathBuf::from("logs").join(format!("{}.log", safe(name)));
        std::fs::write(dir.join(&rel), text).map_err(io)?;
        let last: Vec<&str> = text.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
        summary.push_str(&format!("- `{name}` ([full]({})):\n\n", rel.display()));
        for l in last {
            summary.push_str(&format!("      {l}\n"));
        }
        summary.push('\n');
        files.push(rel);
    }
    if !c.errors.is_empty() {
        summary.push_str("\n## Not gathered\n\n");
        for e in &c.errors {
            summary.push_str(&format!("- {e}\n"));
        }
    }
    std::fs::write(dir.join("summary.md"), summary).map_err(io)?;
    files.push(PathBuf::from("summary.md"));
    Ok(ArtifactsSummary { dir: dir.to_path_buf(), files })
}

/// API resource for the kinds the harness looks at.
pub fn resource_for(kind: &str) -> Option<ApiResource> {
    let (g, v, plural) = match kind {
        "Kustomization" => ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
        "HelmRelease" => ("helm.toolkit.fluxcd.io", "v2", "helmreleases"),
        "GitRepository" => ("source.toolkit.fluxcd.io", "v1", "gitrepositories"),
        "HelmRepository" => ("source.toolkit.fluxcd.io", "v1", "helmrepositories"),
        "HelmChart" => ("source.toolkit.fluxcd.io", "v1", "helmcharts"),
        "Canary" => ("flagger.app", "v1beta1", "canaries"),
        "Deployment" => ("apps", "v1", "deployments"),
        "TrafficSplit" => ("split.smi-spec.io", "v1alpha2", "trafficsplits"),
        "HTTPRoute" => ("gateway.networking.k8s.io", "v1", "httproutes"),
        _ => return None,
    };
    Some(ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, kind), plural))
}

/// Controllers whose logs explain most failures: (namespace, pod label selector). Flux's
/// manifests label the controllers' pods `app: <name>`; Flagger's chart labels its pods
/// `app.kubernetes.io/name: flagger` (and `app.kubernetes.io/instance`), not `app`.
pub const CONTROLLERS: &[(&str, &str)] = &[
    ("flux-system", "app=kustomize-controller"),
    ("flux-system", "app=helm-controller"),
    ("flux-system", "app=source-controller"),
    ("flagger-system", "app.kubernetes.io/name=flagger"),
];

/// Whether pod labels satisfy an equality-based selector (`k=v,k2=v2`), as the API server
/// evaluates the [`CONTROLLERS`] selectors.
pub fn selector_matches(selector: &str, labels: &std::collections::BTreeMap<String, String>) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| match term.split_once('=') {
        Some((k, v)) => labels.get(k.trim()).is_some_and(|have| have == v.trim()),
        None => false,
    })
}

/// Whether a pod is failing (not Ready, waiting with a reason, or restarting).
pub fn pod_failing(pod: &Pod) -> bool {
    let Some(status) = &pod.status else { return false };
    if status.phase.as_deref() == Some("Succeeded") {
        return false;
    }
    let ready = status.conditions.as_ref().is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let waiting = status
        .container_statuses
        .as_ref()
        .is_some_and(|cs| cs.iter().any(|c| c.state.as_ref().and_then(|s| s.waiting.as_ref()).is_some() || c.restart_count > 0));
    !ready || waiting
}

/// Gather and write the artifacts of a failure involving `keys`, looking at `namespaces` for
/// events and failing pods. Whatever cannot be gathered is listed, not fatal.
pub async fn collect(
    client: kube::Client,
    dir: &Path,
    title: &str,
    keys: &[ObjectRef],
    namespaces: &[String],
) -> Result<ArtifactsSummary, ArtifactsError> {
    let mut c = Collected::default();
    for key in keys {
        let Some(ar) = resource_for(&key.kind) else { continue };
        let api: Api<DynamicObject> = match &key.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        match api.get(&key.name).await {
            Ok(obj) => c.objects.push((key.clone(), serde_json::to_value(&obj).unwrap_or(Value::Null))),
            Err(e) => c.errors.push(format!("{key}: {e}")),
        }
    }
    let mut all_ns: Vec<String> = namespaces.to_vec();
    all_ns.extend(keys.iter().filter_map(|k| k.namespace.clone()));
    all_ns.sort();
    all_ns.dedup();
    for ns in &all_ns {
        let events: Api<Event> = Api::namespaced(client.clone(), ns);
        match events.list(&ListParams::default()).await {
            Ok(list) => c.events.extend(list.items.iter().filter_map(|e| serde_json::to_value(e).ok())),
            Err(e) => c.errors.push(format!("events in {ns}: {e}")),
        }
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        match pods.list(&ListParams::default()).await {
            Ok(list) => {
                for pod in list.items.iter().filter(|p| pod_failing(p)) {
                    pod_logs(&pods, pod, 100, &mut c).await;
                }
            }
            Err(e) => c.errors.push(format!("pods in {ns}: {e}")),
        }
    }
    for (ns, selector) in CONTROLLERS {
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let lp = ListParams::default().labels(selector);
        match pods.list(&lp).await {
            Ok(list) => {
                for pod in &list.items {
                    pod_logs(&pods, pod, 300, &mut c).await;
                }
            }
            Err(e) => c.errors.push(format!("logs of {ns} pods {selector}: {e}")),
        }
    }
    write(dir, title, &c)
}

async fn pod_logs(pods: &Api<Pod>, pod: &Pod, tail: i64, c: &mut Collected) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let containers: Vec<String> = pod.spec.as_ref().map(|s| s.containers.iter().map(|c| c.name.clone()).collect()).unwrap_or_default();
    for container in containers {
        let restarted = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.name == container))
            .is_some_and(|c| c.restart_count > 0);
        let lp = LogParams { container: Some(container.clone()), tail_lines: Some(tail), previous: restarted, ..Default::default() };
        match pods.logs(&name, &lp).await {
            Ok(text) => c.logs.push((format!("{ns}/{name}/{container}"), text)),
            Err(e) => c.errors.push(format!("logs of {ns}/{name}/{container}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The selectors find the pods as their manifests label them: Flux's gotk-components
    /// (`app: source-controller`, …) and Flagger's chart templates/deployment.yaml
    /// (`app.kubernetes.io/name`, `app.kubernetes.io/instance`, `app.kubernetes.io/version`).
    #[test]
    fn controller_selectors_match_the_labels_upstream_sets() {
        let selector = |app: &str| CONTROLLERS.iter().find(|(_, s)| s.ends_with(app)).map(|(_, s)| *s).unwrap();
        let flagger_pod = labels(&[
            ("app.kubernetes.io/name", "flagger"),
            ("app.kubernetes.io/instance", "flagger"),
            ("app.kubernetes.io/version", "1.44.0"),
        ]);
        assert!(selector_matches(selector("flagger"), &flagger_pod));
        assert!(!selector_matches("app=flagger", &flagger_pod), "the old selector found no Flagger pod");
        for c in ["kustomize-controller", "helm-controller", "source-controller"] {
            let flux_pod = labels(&[("app", c), ("app.kubernetes.io/component", c)]);
            assert!(selector_matches(selector(c), &flux_pod), "{c}");
        }
    }

    #[test]
    fn writes_layout_and_summary() {
        let dir = tempfile::tempdir().unwrap();
        let ks = serde_json::json!({"kind":"Kustomization","metadata":{"name":"linkerd","namespace":"flux-system"},
            "status":{"conditions":[{"type":"Ready","status":"False","reason":"BuildFailed","message":"kustomize build failed: ca.crt"}]}});
        let c = Collected {
            objects: vec![(ObjectRef::of_kind("Kustomization", Some("flux-system"), "linkerd"), ks)],
            events: vec![
                serde_json::json!({"type":"Warning","reason":"BuildFailed","lastTimestamp":"2026-11-20T10:02:00Z","message":"second","involvedObject":{"kind":"Kustomization","namespace":"flux-system","name":"linkerd"}}),
                serde_json::json!({"type":"Normal","reason":"Progressing","lastTimestamp":"2026-11-20T10:01:00Z","message":"first","involvedObject":{"kind":"Kustomization","namespace":"flux-system","name":"linkerd"}}),
            ],
            logs: vec![("flux-system/kustomize-controller-abc/manager".into(), "line1\nline2 error\n".into())],
            errors: vec!["HelmRelease linkerd/x: not found".into()],
        };
        let s = write(dir.path(), "linkerd failed", &c).unwrap();
        assert!(s.files.contains(&PathBuf::from("objects/Kustomization_flux-system_linkerd.yaml")));
        let events = std::fs::read_to_string(dir.path().join("events.txt")).unwrap();
        assert!(events.find("first").unwrap() < events.find("second").unwrap(), "oldest first: {events}");
        let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
        assert!(summary.starts_with("# linkerd failed"));
        assert!(summary.contains("Ready=False BuildFailed: kustomize build failed: ca.crt"));
        assert!(summary.contains("line2 error") && summary.contains("Not gathered"));
        assert!(dir.path().join("logs/flux-system_kustomize-controller-abc_manager.log").is_file());
    }
}
