//! The load-tester stand-in: what Flagger's load tester (v1.44 `pkg/loadtester`) answers, for a
//! host that names a load tester Service which exists in the API server.
//!
//! Behaviour carried over from the real one: gates keyed per canary (`<name>.<namespace>`, and
//! `rollback.<name>.<namespace>` for the rollback gate), closed until opened; `/gate/approve`
//! always 200, `/gate/halt` always 403, `/gate/check` and `/rollback/check` 200 when open else
//! 403, `/gate/{open,close}` and `/rollback/{open,close}` 202; any other path is a task: a payload
//! without `metadata` is 400, a blocking `bash` task answers 200 when done, a `cmd` task is
//! queued (202), an unknown type is 400. Sim runs no command: what it would have run is logged,
//! and tasks it cannot pretend to run (helm, kubectl, concord, ngrinder) get an explicit 502.

use serde_json::Value;

/// What a host means to a Pod in the cluster: a Service name and the namespace it resolves in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceHost {
    /// Service name.
    pub name: String,
    /// Namespace (None: a bare name, which resolves in the caller's own namespace).
    pub namespace: Option<String>,
}

/// Read `host` the way cluster DNS resolves a Service: `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`
/// or `<svc>.<ns>.svc.cluster.local`. Anything else is not a Service name.
pub fn service_host(host: &str) -> Option<ServiceHost> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let dns_label = |l: &str| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !labels.iter().all(|l| dns_label(l)) {
        return None;
    }
    match labels.as_slice() {
        [name] => Some(ServiceHost { name: name.to_string(), namespace: None }),
        [name, ns] | [name, ns, "svc"] | [name, ns, "svc", "cluster", "local"] => {
            Some(ServiceHost { name: name.to_string(), namespace: Some(ns.to_string()) })
        }
        _ => None,
    }
}

/// The hosts a load-test command sends requests to (`http(s)://host[:port]/…` in the command).
pub fn command_hosts(cmd: &str) -> Vec<String> {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(re) = RE.get_or_init(|| regex::Regex::new(r"(?i)\bhttps?://([a-z0-9.-]+)").ok()) else { return Vec::new() };
    re.captures_iter(cmd).filter_map(|c| c.get(1)).map(|m| m.as_str().to_ascii_lowercase()).collect()
}

/// Whether `cmd` sends its load to the canary Service `<apex>-canary` in `canary_ns`, as a load
/// tester Pod in `tester_ns` resolves the name (a bare name resolves in the tester's namespace).
pub fn targets_canary(cmd: &str, apex: &str, canary_ns: &str, tester_ns: &str) -> bool {
    let want = format!("{apex}-canary");
    command_hosts(cmd)
        .iter()
        .filter_map(|h| service_host(h))
        .any(|s| s.name == want && s.namespace.as_deref().unwrap_or(tester_ns) == canary_ns)
}

/// The headers a command sends (`-H 'Name: value'`, as hey and curl take them; hey's `-host X`
/// as `host: X`), names lower-cased.
pub fn command_headers(cmd: &str) -> Vec<(String, String)> {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    static HOST: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let mut out = Vec::new();
    if let Some(re) = RE.get_or_init(|| regex::Regex::new(r#"(?:^|\s)(?:-H|--header)\s+(?:'([^']*)'|"([^"]*)"|(\S+))"#).ok()) {
        for c in re.captures_iter(cmd) {
            let h = c.get(1).or(c.get(2)).or(c.get(3)).map(|m| m.as_str()).unwrap_or("");
            if let Some((k, v)) = h.split_once(':') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    if let Some(re) = HOST.get_or_init(|| regex::Regex::new(r"(?:^|\s)-host\s+(\S+)").ok()) {
        out.extend(re.captures_iter(cmd).filter_map(|c| c.get(1)).map(|m| ("host".to_string(), m.as_str().to_string())));
    }
    out
}

/// The header sets a canary's A/B analysis routes to it (`spec.analysis.match[].headers`,
/// `exact` values): a request reaches the canary when it carries every header of one set.
pub fn header_matches(canary: &Value) -> Vec<Vec<(String, String)>> {
    let Some(matches) = canary.pointer("/spec/analysis/match").and_then(Value::as_array) else { return Vec::new() };
    matches
        .iter()
        .filter_map(|m| m.get("headers").and_then(Value::as_object))
        .map(|hs| {
            hs.iter().filter_map(|(k, v)| v.get("exact").and_then(Value::as_str).map(|x| (k.to_ascii_lowercase(), x.to_string()))).collect()
        })
        .collect()
}

/// Whether `cmd` sends requests that an ingress serving `ingress_hosts` routes to the canary:
/// with one of those hosts (the URL's, or a `Host` header) and, when the canary routes by
/// header (A/B), the headers of one match set. The URL host must still reach the ingress
/// controller; the caller checks that.
pub fn reaches_canary_through_ingress(cmd: &str, ingress_hosts: &[String], matches: &[Vec<(String, String)>]) -> bool {
    let headers = command_headers(cmd);
    let host_ok = headers.iter().any(|(k, v)| k == "host" && ingress_hosts.iter().any(|h| h.eq_ignore_ascii_case(v)))
        || command_hosts(cmd).iter().any(|u| ingress_hosts.iter().any(|h| h.eq_ignore_ascii_case(u)));
    let header_ok = matches.is_empty() || matches.iter().any(|set| set.iter().all(|kv| headers.contains(kv)));
    host_ok && header_ok
}

/// The Service that answers for a load tester: named `flagger-loadtester…`, or selecting the
/// pods of a Deployment that runs the `flagger-loadtester` image.
pub fn is_load_tester(service: &Value, deployments: &[Value]) -> bool {
    let name = service.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if name.starts_with("flagger-loadtester") {
        return true;
    }
    let Some(selector) = service.pointer("/spec/selector").and_then(Value::as_object).filter(|s| !s.is_empty()) else {
        return false;
    };
    deployments.iter().any(|d| {
        let labels = d.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
        let selected = labels.is_some_and(|l| selector.iter().all(|(k, v)| l.get(k) == Some(v)));
        let runs_it = d
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c.get("image").and_then(Value::as_str).is_some_and(|i| i.contains("flagger-loadtester"))));
        selected && runs_it
    })
}

/// The ports a Service serves (`spec.ports[].port`).
pub fn service_ports(service: &Value) -> Vec<u16> {
    service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| p.get("port").and_then(Value::as_u64)).filter_map(|p| u16::try_from(p).ok()).collect())
        .unwrap_or_default()
}

/// What the load tester does with a request, before any state is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `/healthz`, `/gate/approve`: 200.
    Ok,
    /// `/gate/halt`: 403.
    Halt,
    /// `/gate/check` (`rollback: false`) or `/rollback/check`: 200 if that gate is open.
    Check {
        /// The rollback gate.
        rollback: bool,
    },
    /// `/gate/open|close`, `/rollback/open|close`: 202.
    Set {
        /// The rollback gate.
        rollback: bool,
        /// Open (true) or close.
        open: bool,
    },
    /// A task (any other path).
    Task,
    /// `/metrics`: the load tester's own metrics, which sim does not model.
    Metrics,
}

/// The call a path makes (Go's `ServeMux`: exact paths, `/` for everything else).
pub fn call_of(path: &str) -> Call {
    match path {
        "/healthz" | "/gate/approve" => Call::Ok,
        "/gate/halt" => Call::Halt,
        "/gate/check" => Call::Check { rollback: false },
        "/rollback/check" => Call::Check { rollback: true },
        "/gate/open" => Call::Set { rollback: false, open: true },
        "/gate/close" => Call::Set { rollback: false, open: false },
        "/rollback/open" => Call::Set { rollback: true, open: true },
        "/rollback/close" => Call::Set { rollback: true, open: false },
        "/metrics" => Call::Metrics,
        _ => Call::Task,
    }
}

/// The gate key the load tester keeps for a canary.
pub fn gate_key(name: &str, namespace: &str, rollback: bool) -> String {
    if rollback { format!("rollback.{name}.{namespace}") } else { format!("{name}.{namespace}") }
}

/// How a task is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskAnswer {
    /// 200 (a blocking `bash` task, done).
    Done,
    /// 202 (a `cmd` task, queued).
    Queued,
    /// 400 with this text (what the real load tester refuses).
    BadRequest(String),
    /// 502 with this text: a task sim does not pretend to run.
    NotOnSim(String),
}

/// The answer to a task payload (`metadata.type`, default `cmd`).
pub fn task_answer(payload: &Value) -> TaskAnswer {
    let Some(meta) = payload.get("metadata").and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return TaskAnswer::BadRequest("metadata not found in payload".into());
    };
    match meta.get("type").and_then(Value::as_str).unwrap_or("cmd") {
        "bash" => TaskAnswer::Done,
        "cmd" => TaskAnswer::Queued,
        t @ ("helm" | "helmv3" | "kubectl" | "concord" | "ngrinder") => {
            TaskAnswer::NotOnSim(format!("sim does not run `{t}` load tester tasks (no pods, no data plane)"))
        }
        other => TaskAnswer::BadRequest(format!("unknown task type {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hosts_resolve_like_cluster_dns() {
        let sh = |n: &str, ns: Option<&str>| Some(ServiceHost { name: n.into(), namespace: ns.map(str::to_string) });
        assert_eq!(service_host("flagger-loadtester.flagger-system"), sh("flagger-loadtester", Some("flagger-system")));
        assert_eq!(service_host("lt.test.svc.cluster.local"), sh("lt", Some("test")));
        assert_eq!(service_host("lt.test.svc"), sh("lt", Some("test")));
        assert_eq!(service_host("flagger-loadtester"), sh("flagger-loadtester", None));
        assert_eq!(service_host("example.com.evil.org"), None);
        assert_eq!(service_host("10.0.0.1"), None);
    }

    #[test]
    fn load_counts_only_when_aimed_at_the_canary() {
        let t = |cmd: &str| targets_canary(cmd, "face", "faces", "flagger-system");
        assert!(t("hey -z 2m -q 10 -c 2 http://face-canary.faces/"));
        assert!(t("hey -z 1m http://face-canary.faces.svc.cluster.local:80/"));
        assert!(!t("hey -z 2m http://face-primary.faces/"));
        assert!(!t("hey -z 2m http://face.faces/"));
        assert!(!t("hey -z 2m http://face-canary.other/"));
        // A bare name resolves in the load tester's namespace, not the canary's.
        assert!(!t("hey -z 2m http://face-canary/"));
        assert!(targets_canary("hey http://face-canary/", "face", "faces", "faces"));
        assert!(!t("echo face-canary.faces"));
    }

    #[test]
    fn ab_load_reaches_the_canary_only_with_the_host_and_the_header() {
        let canary = json!({"spec": {"analysis": {"match": [{"headers": {"x-faces-user": {"exact": "testuser"}}}]}}});
        let m = header_matches(&canary);
        assert_eq!(m, vec![vec![("x-faces-user".to_string(), "testuser".to_string())]]);
        let hosts = vec!["faces.localhost".to_string()];
        let hey = |h: &str, host: &str| {
            format!("hey -z 2m -q 10 -c 2 -H 'x-faces-user: {h}' -host {host} http://ingress-nginx-controller.ingress-nginx")
        };
        assert!(reaches_canary_through_ingress(&hey("testuser", "faces.localhost"), &hosts, &m));
        assert!(!reaches_canary_through_ingress(&hey("normaluser", "faces.localhost"), &hosts, &m));
        assert!(!reaches_canary_through_ingress(&hey("testuser", "other.localhost"), &hosts, &m));
        assert!(reaches_canary_through_ingress(
            r#"curl -H "Host: faces.localhost" http://ingress-nginx-controller.ingress-nginx/"#,
            &hosts,
            &[]
        ));
    }

    #[test]
    fn gates_and_tasks_follow_the_real_load_tester() {
        assert_eq!(call_of("/gate/check"), Call::Check { rollback: false });
        assert_eq!(call_of("/rollback/open"), Call::Set { rollback: true, open: true });
        assert_eq!(call_of("/gate/halt"), Call::Halt);
        assert_eq!(call_of("/"), Call::Task);
        assert_eq!(call_of("/anything"), Call::Task);
        assert_eq!(gate_key("face", "faces", true), "rollback.face.faces");
        assert_eq!(task_answer(&json!({"name": "face"})), TaskAnswer::BadRequest("metadata not found in payload".into()));
        assert_eq!(task_answer(&json!({"metadata": {"cmd": "hey"}})), TaskAnswer::Queued);
        assert_eq!(task_answer(&json!({"metadata": {"type": "bash", "cmd": "hey"}})), TaskAnswer::Done);
        assert_eq!(task_answer(&json!({"metadata": {"type": "k6"}})), TaskAnswer::BadRequest("unknown task type k6".into()));
        assert!(matches!(task_answer(&json!({"metadata": {"type": "helmv3", "cmd": "test x"}})), TaskAnswer::NotOnSim(_)));
    }

    #[test]
    fn a_load_tester_is_named_so_or_runs_the_image() {
        let svc = json!({"metadata": {"name": "lt"}, "spec": {"selector": {"app": "lt"}}});
        let dep = |image: &str| json!({"spec": {"template": {"metadata": {"labels": {"app": "lt"}}, "spec": {"containers": [{"image": image}]}}}});
        assert!(is_load_tester(&svc, &[dep("ghcr.io/fluxcd/flagger-loadtester:0.35.0")]));
        assert!(!is_load_tester(&svc, &[dep("nginx")]));
        assert!(is_load_tester(&json!({"metadata": {"name": "flagger-loadtester"}}), &[]));
    }
}
