//! Bootstrap steps outside the Flux tree that install CRDs (and Flux itself) before Flux starts:
//! helmfile releases, `kubectl apply`/`helm install`/`helmfile` commands in a Taskfile, justfile
//! or Makefile, and manifests in a `bootstrap/` directory.
//!
//! Commands are read from their lines, as written: a path is resolved against the repository
//! root or the file's own directory after dropping a leading variable (`{{.ROOT_DIR}}/`,
//! `$(ROOT)/`, `${ROOT_DIR}/`, `{{ justfile_directory() }}/`). A chart installed this way counts
//! with its CRD switches on (a bootstrap installs a chart for its CRDs). A remote manifest
//! cannot be read offline: its groups come from its well-known URL when it has one.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::charts::{self, ChartRef, ChartSources};
use super::flux_operator::{self, FluxInstance};
use super::model::Origin;
use crate::yaml_docs::{self, YamlDoc};

/// A bootstrap step found, with what it installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// The file (or directory) looked at.
    pub file: PathBuf,
    /// What it is: `helmfile`, `Taskfile`, `justfile`, `Makefile`, `bootstrap directory`.
    pub what: &'static str,
    /// CRD groups it installs, with the line that installs them.
    pub installs: Vec<(String, Origin)>,
    /// Remote manifests it applies whose content this check cannot read (URL, line).
    pub remote: Vec<(String, Origin)>,
}

/// Well-known remote CRD manifests (a URL substring → groups).
const REMOTE_CRDS: &[(&str, &[&str])] = &[
    ("prometheus-operator", &["monitoring.coreos.com"]),
    ("gateway-api", &["gateway.networking.k8s.io"]),
    ("cert-manager", &["cert-manager.io", "acme.cert-manager.io"]),
    ("external-snapshotter", &["snapshot.storage.k8s.io"]),
    ("external-secrets", &["external-secrets.io", "generators.external-secrets.io"]),
    ("flux-operator", &["fluxcd.controlplane.io"]),
];

fn on_values() -> Value {
    serde_json::json!({"installCRDs": true, "crds": {"enabled": true, "install": true}, "installGatewayAPI": true})
}

/// A helmfile release whose chart is not written in it (a template supplies it).
#[derive(Debug, Clone)]
pub(super) struct Pending {
    /// Index of its helmfile in [`Found::bootstraps`].
    pub bootstrap: usize,
    /// Release name.
    pub name: String,
    /// Release namespace, when written.
    pub namespace: Option<String>,
    /// The release entry.
    pub origin: Origin,
}

/// What the scan collects from bootstrap files.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub bootstraps: Vec<Bootstrap>,
    pub instances: Vec<FluxInstance>,
    pub pending: Vec<Pending>,
}

/// The CRD groups of helmfile releases whose chart a template supplies: the chart of the
/// cluster's HelmRelease of the same name (and namespace), else a chart named like the release.
pub(super) fn resolve_pending(pending: &[Pending], releases: &[super::model::HelmRelease], bootstraps: &mut [Bootstrap]) {
    let on = on_values();
    for p in pending {
        let hr = releases.iter().find(|h| {
            h.key.name == p.name
                && p.namespace.as_deref().is_none_or(|ns| h.release_namespace() == Some(ns) || h.key.namespace.as_deref() == Some(ns))
        });
        let groups = match hr {
            Some(h) => match &h.chart_found {
                Some((dir, _)) => charts::chart_crd_groups(dir, true, &on),
                None => charts::known_chart_crd_groups(&h.chart, &on, true),
            },
            None => charts::known_chart_crd_groups(&p.name, &on, true),
        };
        if let Some(b) = bootstraps.get_mut(p.bootstrap) {
            b.installs.extend(groups.into_iter().map(|g| (g, p.origin.clone())));
        }
    }
}

/// Where a path written in a bootstrap command leads, inside the repo.
fn resolve_written(root: &Path, base: &Path, written: &str) -> Option<PathBuf> {
    let w = written.trim().trim_matches(|c| c == '"' || c == '\'');
    if w.is_empty() || w.contains("://") {
        return None;
    }
    // Drop a leading variable: everything up to the last closing of `{{…}}`, `${…}`, `$(…)`.
    let mut rest = w;
    for close in ["}}", "}", ")"] {
        if rest.starts_with(['{', '$'])
            && let Some(p) = rest.rfind(close)
        {
            rest = &rest[p + close.len()..];
            break;
        }
    }
    let rest = rest.trim_start_matches('/').trim_start_matches("./");
    if rest.is_empty() || rest.contains("{{") || rest.contains('$') {
        return None;
    }
    for b in [Path::new(""), base] {
        if let super::paths::Resolved::Inside(rel) = super::paths::resolve(root, b, rest)
            && root.join(&rel).exists()
        {
            return Some(rel);
        }
    }
    None
}

/// CRD groups of manifests at `rel` (a file, or every YAML file below a directory).
fn manifest_groups(root: &Path, rel: &Path, origin: &Origin, out: &mut Bootstrap) {
    let abs = root.join(rel);
    let files: Vec<PathBuf> = if abs.is_file() {
        vec![abs]
    } else {
        walkdir::WalkDir::new(&abs)
            .follow_links(false)
            .max_depth(8)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && yaml_docs::is_yaml(e.path()))
            .take(5000)
            .map(|e| e.into_path())
            .collect()
    };
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        if f.file_name().and_then(|n| n.to_str()).is_some_and(|n| super::loader::KUSTOMIZATION_FILES.contains(&n)) {
            // Remote resources of a kustomization the step builds.
            for line in text.lines() {
                let t = line.trim().trim_start_matches("- ").trim();
                if t.starts_with("http://") || t.starts_with("https://") {
                    remote(t, origin, out);
                }
            }
            continue;
        }
        if !text.contains("CustomResourceDefinition") {
            continue;
        }
        let plain: String = text.lines().filter(|l| !l.contains("{{")).map(|l| format!("{l}\n")).collect();
        for d in yaml_docs::parse_str(&f, &plain).unwrap_or_default() {
            if d.str_at("kind") == Some("CustomResourceDefinition")
                && let Some(g) = d.str_at("spec.group")
            {
                out.installs.push((g.to_string(), origin.clone()));
            }
        }
    }
}

fn remote(url: &str, origin: &Origin, out: &mut Bootstrap) {
    let url = url.trim_matches(|c| c == '"' || c == '\'');
    let known: Vec<&str> = REMOTE_CRDS.iter().filter(|(k, _)| url.contains(k)).flat_map(|(_, g)| g.iter().copied()).collect();
    if known.is_empty() {
        out.remote.push((url.to_string(), origin.clone()));
    }
    out.installs.extend(known.into_iter().map(|g| (g.to_string(), origin.clone())));
}

/// A chart installed by a bootstrap: its CRD groups (from the chart itself when reachable).
fn chart_groups(root: &Path, base: &Path, chart: &str, version: Option<&str>, sources: &ChartSources) -> Vec<String> {
    let on = on_values();
    if chart.starts_with('.') || chart.starts_with('/') {
        return resolve_written(root, base, chart)
            .filter(|d| root.join(d).join("Chart.yaml").is_file())
            .map(|d| charts::chart_crd_groups(&root.join(d), true, &on))
            .unwrap_or_default();
    }
    let name = charts::chart_name_of(chart);
    match charts::find(sources, &ChartRef { name, version, repository: None }) {
        Some(dir) => charts::chart_crd_groups(&dir, true, &on),
        None => charts::known_chart_crd_groups(name, &on, true),
    }
}

/// One helmfile (any of its documents): releases and what their charts install; the
/// `flux-instance` release's values as a FluxInstance.
pub(super) fn helmfile(root: &Path, rel: &Path, text: &str, sources: &ChartSources, found: &mut Found) {
    let mut b = Bootstrap { file: rel.to_path_buf(), what: "helmfile", installs: Vec::new(), remote: Vec::new() };
    let base = rel.parent().unwrap_or(Path::new("")).to_path_buf();
    // Templated helmfiles (`.gotmpl`) parse once their template lines are dropped.
    let plain: String =
        text.lines().map(|l| if l.contains("{{") && !l.contains(':') { "\n".to_string() } else { format!("{l}\n") }).collect();
    let docs = yaml_docs::parse_str(rel, text).or_else(|_| yaml_docs::parse_str(rel, &plain)).unwrap_or_default();
    for d in &docs {
        for (i, r) in d.value.get("releases").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let Some(chart) = r.get("chart").and_then(Value::as_str).filter(|c| !c.contains("{{")) else {
                // The chart comes from a helmfile template (often read from the cluster's own
                // HelmRelease of that name): resolved once the tree is loaded.
                if let Some(name) = r.get("name").and_then(Value::as_str) {
                    let ns = r.get("namespace").and_then(Value::as_str).map(str::to_string);
                    found.pending.push(Pending {
                        bootstrap: found.bootstraps.len(),
                        name: name.to_string(),
                        namespace: ns,
                        origin: Origin::at(d, &format!("releases.{i}")),
                    });
                }
                continue;
            };
            let origin = Origin::at(d, &format!("releases.{i}.chart"));
            let version = r.get("version").and_then(Value::as_str);
            for g in chart_groups(root, &base, chart, version, sources) {
                b.installs.push((g, origin.clone()));
            }
            if charts::chart_name_of(chart) == "flux-instance" {
                let ns = r.get("namespace").and_then(Value::as_str).unwrap_or("flux-system");
                let name = r.get("name").and_then(Value::as_str).unwrap_or("flux-instance");
                instance_values(
                    root,
                    &base,
                    d,
                    &format!("releases.{i}"),
                    r,
                    ns,
                    &format!("helmfile {} release {name}", rel.display()),
                    found,
                );
            }
        }
    }
    if docs.is_empty() {
        // Not YAML even without its template lines: read `chart:` lines.
        for (i, line) in text.lines().enumerate() {
            let Some(chart) = line.trim().strip_prefix("chart:") else { continue };
            let origin = Origin::new(rel, i + 1);
            for g in chart_groups(root, &base, chart.trim().trim_matches(|c| c == '"' || c == '\''), None, sources) {
                b.installs.push((g, origin.clone()));
            }
        }
    }
    found.bootstraps.push(b);
}

/// The `flux-instance` chart's values of a helmfile release: inline maps and values files.
#[allow(clippy::too_many_arguments)]
fn instance_values(root: &Path, base: &Path, doc: &YamlDoc, at: &str, release: &Value, ns: &str, what: &str, found: &mut Found) {
    for (j, v) in release.get("values").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let declared = format!("flux-instance chart values of {what}");
        match v {
            Value::Object(_) => {
                if let Some(i) = flux_operator::from_chart_values(doc, &format!("{at}.values.{j}"), ns, declared) {
                    found.instances.push(i);
                }
            }
            Value::String(file) => {
                let Some(p) = resolve_written(root, base, file) else { continue };
                let Ok(text) = std::fs::read_to_string(root.join(&p)) else { continue };
                let plain: String = text.lines().filter(|l| !l.contains("{{")).map(|l| format!("{l}\n")).collect();
                for d in yaml_docs::parse_str(&p, &plain).unwrap_or_default() {
                    if let Some(i) = flux_operator::from_chart_values(&d, "", ns, declared.clone()) {
                        found.instances.push(i);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A task runner file found by the scan: path, text, kind.
pub(super) type RunnerFile = (PathBuf, String, &'static str);

/// Variables the task runners define: Taskfile `vars`/`env` (top level and per task, every
/// Taskfile of the repo: included ones use the root's) and justfile `name := "value"`; string
/// values only. Task's `ROOT_DIR` is the repository root.
fn runner_vars(files: &[RunnerFile]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = vec![("ROOT_DIR".into(), String::new()), ("USER_WORKING_DIR".into(), String::new())];
    fn add(vars: &mut Vec<(String, String)>, m: Option<&Value>) {
        for (k, v) in m.and_then(Value::as_object).into_iter().flatten() {
            if let Some(s) = v.as_str() {
                vars.push((k.clone(), s.to_string()));
            }
        }
    }
    for (rel, text, kind) in files {
        match *kind {
            "Taskfile" => {
                for d in yaml_docs::parse_str(rel, text).unwrap_or_default() {
                    add(&mut vars, d.value.get("vars"));
                    add(&mut vars, d.value.get("env"));
                    for t in d.value.get("tasks").and_then(Value::as_object).into_iter().flatten().map(|(_, t)| t) {
                        add(&mut vars, t.get("vars"));
                        add(&mut vars, t.get("env"));
                    }
                }
            }
            "justfile" => {
                for line in text.lines() {
                    let Some((name, value)) = line.split_once(":=") else { continue };
                    let name = name.trim().trim_start_matches("export ").trim();
                    let value = value.trim();
                    if name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') && value.starts_with(['"', '\'']) {
                        vars.push((name.to_string(), value.trim_matches(|c| c == '"' || c == '\'').to_string()));
                    }
                }
            }
            _ => {}
        }
    }
    vars
}

/// `{{.NAME}}` (Task) and `{{NAME}}` (just) replaced by their values, a few rounds deep.
fn expand(line: &str, vars: &[(String, String)], file_dir: &str) -> String {
    let mut out = line.to_string();
    for _ in 0..5 {
        if !out.contains("{{") {
            break;
        }
        let before = out.clone();
        out = out.replace("{{.TASKFILE_DIR}}", file_dir).replace("{{ .TASKFILE_DIR }}", file_dir);
        for (k, v) in vars.iter().rev() {
            for pat in [format!("{{{{.{k}}}}}"), format!("{{{{ .{k} }}}}"), format!("{{{{{k}}}}}"), format!("{{{{ {k} }}}}")] {
                out = out.replace(&pat, v);
            }
        }
        if out == before {
            break;
        }
    }
    out
}

/// The task runner files (Taskfile, justfile, Makefile): the commands that install something.
pub(super) fn task_runners(root: &Path, files: &[RunnerFile], sources: &ChartSources, found: &mut Found) {
    let vars = runner_vars(files);
    for (rel, text, what) in files {
        let mut b = Bootstrap { file: rel.to_path_buf(), what, installs: Vec::new(), remote: Vec::new() };
        let base = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let file_dir = format!("/{}", base.display());
        // Commands continued with a trailing backslash are one command.
        let mut lines: Vec<(usize, String)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match lines.last_mut() {
                Some((_, prev)) if prev.ends_with('\\') => {
                    prev.pop();
                    prev.push(' ');
                    prev.push_str(line.trim());
                }
                _ => lines.push((i + 1, line.to_string())),
            }
        }
        for (n, line) in lines {
            let origin = Origin::new(rel, n);
            let line = expand(&line, &vars, &file_dir);
            // A line may hold several commands (`a && b`, pipes).
            for cmd in line.split(['|', ';', '&']) {
                let words: Vec<&str> = cmd.split_whitespace().map(|w| w.trim_matches(|c| c == '"' || c == '\'' || c == '`')).collect();
                command(root, &base, &words, &origin, sources, &mut b, found);
            }
        }
        found.bootstraps.push(b);
    }
}

fn flag_values<'a>(words: &[&'a str], short: &str, long: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut it = words.iter().peekable();
    while let Some(w) = it.next() {
        if *w == short || *w == long {
            if let Some(v) = it.next() {
                out.push(*v);
            }
        } else if let Some(v) = w.strip_prefix(&format!("{long}=")) {
            out.push(v);
        } else if let Some(v) = w.strip_prefix(short).filter(|v| short.len() == 2 && !v.is_empty() && !v.starts_with('-')) {
            out.push(v.trim_start_matches('='));
        }
    }
    out
}

fn command(root: &Path, base: &Path, words: &[&str], origin: &Origin, sources: &ChartSources, b: &mut Bootstrap, found: &mut Found) {
    let Some(pos) = words.iter().position(|w| {
        let tool = w.rsplit('/').next().unwrap_or(w);
        matches!(tool, "kubectl" | "kustomize" | "helm" | "helmfile")
    }) else {
        return;
    };
    let tool = words[pos].rsplit('/').next().unwrap_or(words[pos]);
    let args = &words[pos + 1..];
    let sub = args.iter().find(|w| !w.starts_with('-')).copied().unwrap_or("");
    match tool {
        "kubectl" if matches!(sub, "apply" | "create" | "replace") => {
            for f in flag_values(args, "-f", "--filename").into_iter().chain(flag_values(args, "-k", "--kustomize")) {
                if f.starts_with("http://") || f.starts_with("https://") {
                    remote(f, origin, b);
                } else if let Some(p) = resolve_written(root, base, f) {
                    manifest_groups(root, &p, origin, b);
                }
            }
        }
        "kustomize" if sub == "build" => {
            if let Some(p) = args.iter().skip_while(|w| **w != "build").nth(1).and_then(|d| resolve_written(root, base, d)) {
                manifest_groups(root, &p, origin, b);
            }
        }
        "helm" if matches!(sub, "install" | "upgrade" | "template") => {
            // helm install|upgrade|template [flags] NAME CHART: the second positional argument.
            let mut positional = Vec::new();
            let mut it = args.iter().skip_while(|w| **w != sub).skip(1);
            while let Some(w) = it.next() {
                if w.starts_with('-') {
                    if !w.contains('=')
                        && !matches!(
                            *w,
                            "--install"
                                | "--wait"
                                | "--atomic"
                                | "--create-namespace"
                                | "--skip-crds"
                                | "--include-crds"
                                | "--debug"
                                | "--force"
                                | "--dry-run"
                                | "--reuse-values"
                                | "--reset-values"
                                | "--devel"
                        )
                    {
                        it.next();
                    }
                    continue;
                }
                positional.push(*w);
            }
            if let Some(chart) = positional.get(1) {
                let version = flag_values(args, "--version", "--version").first().copied();
                for g in chart_groups(root, base, chart, version, sources) {
                    b.installs.push((g, origin.clone()));
                }
            }
        }
        "helmfile" => {
            for f in flag_values(args, "-f", "--file") {
                if let Some(p) = resolve_written(root, base, f)
                    && root.join(&p).is_file()
                    && let Ok(text) = std::fs::read_to_string(root.join(&p))
                {
                    let mut sub_found = Found::default();
                    helmfile(root, &p, &text, sources, &mut sub_found);
                    for s in sub_found.bootstraps {
                        b.installs.extend(s.installs);
                        b.remote.extend(s.remote);
                    }
                    found.instances.extend(sub_found.instances);
                }
            }
        }
        _ => {}
    }
}

/// What kind of task runner file a name is, if any.
pub(super) fn task_runner_kind(rel: &Path) -> Option<&'static str> {
    let name = rel.file_name()?.to_str()?;
    let in_taskfiles = rel.components().any(|c| c.as_os_str() == ".taskfiles");
    if name.to_ascii_lowercase().starts_with("taskfile") || (in_taskfiles && yaml_docs::is_yaml(rel)) {
        Some("Taskfile")
    } else if matches!(name, "justfile" | "Justfile" | ".justfile") || name.ends_with(".just") {
        Some("justfile")
    } else if matches!(name, "Makefile" | "makefile" | "GNUmakefile") || name.ends_with(".mk") {
        Some("Makefile")
    } else {
        None
    }
}

/// Whether a file is a helmfile (`helmfile.yaml`, `helmfile.yaml.gotmpl`, files of `helmfile.d/`).
pub(super) fn is_helmfile(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let in_d = rel.parent().and_then(|p| p.file_name()).is_some_and(|n| n == "helmfile.d");
    (name.starts_with("helmfile") && (name.contains(".yaml") || name.contains(".yml")))
        || (in_d && (name.contains(".yaml") || name.contains(".yml")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_behind_variables_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("bootstrap/crds")).unwrap();
        for w in [
            "{{.ROOT_DIR}}/bootstrap/crds",
            "$(ROOT)/bootstrap/crds",
            "${ROOT_DIR}/bootstrap/crds",
            "./bootstrap/crds",
            "\"{{ justfile_directory() }}/bootstrap/crds\"",
        ] {
            assert_eq!(resolve_written(&root, Path::new("x"), w), Some(PathBuf::from("bootstrap/crds")), "{w}");
        }
        assert_eq!(resolve_written(&root, Path::new(""), "{{.NOPE}}/missing"), None);
        assert_eq!(flag_values(&["apply", "--server-side", "-f", "a", "--filename=b", "-fc"], "-f", "--filename"), vec!["a", "b", "c"]);
    }

    #[test]
    fn task_variables_expand() {
        let files: Vec<RunnerFile> = vec![(
            PathBuf::from("Taskfile.yaml"),
            "vars:\n  BOOTSTRAP_DIR: '{{.ROOT_DIR}}/bootstrap'\n  CRDS: '{{.BOOTSTRAP_DIR}}/crds'\n".to_string(),
            "Taskfile",
        )];
        let vars = runner_vars(&files);
        assert_eq!(expand("kubectl apply -f {{.CRDS}}/x.yaml", &vars, "/t"), "kubectl apply -f /bootstrap/crds/x.yaml");
        assert_eq!(expand("kubectl apply -f {{.TASKFILE_DIR}}/y", &vars, "/t"), "kubectl apply -f /t/y");
    }
}
