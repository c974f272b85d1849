//! The real source-controller fetches through the egress gateway: etcd, kube-apiserver and
//! source-controller from the sim tools as host processes, source-controller given only the
//! gateway (`gateway::process_env`: proxy with its name, `SSL_CERT_FILE` with the gateway CA),
//! and a cassette recorded from the loopback stand-in for the internet (charts packaged at run
//! time from `shared/reference/charts`). The objects use the real URLs.
//!
//! Asserts: a HelmRepository index and a `1.x` chart from `https://charts.jetstack.io`, a `1.x`
//! chart from `oci://ghcr.io/fluxcd/charts`, an OCIRepository `semver` and a GitRepository branch
//! become Ready at the recorded versions; a chart range the cassette lacks and a host it does not
//! hold fail with source-controller's own message within their first reconciliation; the gateway
//! logged source-controller by name.
//!
//! Ignored with the reason when the sim tools are not built (`sim::tools_availability`).

use gitops_harness_testkit as common;
use gitops_harness_testkit::upstream;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::sim::{TestResult, fail};
use gitops_harness::cluster::sim::components::{self, Layout, Ports};
use gitops_harness::cluster::sim::gateway::{self, Gateway, GatewayCa, GatewayConfig};
use gitops_harness::cluster::sim::process::{self, ProcessRecord, ProcessSpec};
use gitops_harness::cluster::sim::toolset::{Component, Toolset};
use gitops_harness::cluster::sim::{apply_crds, pki};
use gitops_harness::sources::git::GitRef;
use gitops_harness::sources::plan::{ChartAsk, OciRef, Plan, Wanted};
use gitops_harness::sources::record::Recorder;
use gitops_harness::sources::replay::Replay;
use gitops_harness::sources::{Cassette, SourceKind, UrlOverride};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use libtest_mimic::Arguments;
use serde_json::Value;

/// Processes started here, stopped (by their recorded pid and start time) when dropped.
#[derive(Default)]
struct Procs(Vec<ProcessRecord>);

impl Procs {
    fn start(&mut self, spec: &ProcessSpec, logs: &Path) -> Result<(), libtest_mimic::Failed> {
        let rec = process::spawn(spec, &logs.join(format!("{}.log", spec.name))).map_err(|e| fail(e.to_string()))?;
        self.0.push(rec);
        Ok(())
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            p.stop(Duration::from_secs(10));
        }
    }
}

fn ask(chart: &str, version: &str) -> ChartAsk {
    ChartAsk { chart: chart.into(), version: version.into(), asked_by: vec![format!("HelmChart default/{chart}")] }
}

/// Record what the objects below fetch, from the stand-in.
async fn record(cassette: &Path) -> Result<(), libtest_mimic::Failed> {
    let helm = gitops_harness::tools::find(gitops_harness::tools::Tool::Helm).map_err(|e| fail(e.to_string()))?;
    let packaged = upstream::package(&helm, &common::shared_reference().join("charts")).map_err(fail)?;
    let mut site = upstream::site(&packaged).map_err(fail)?;
    upstream::add_artifact(&mut site, "stefanprodan/manifests/podinfo", &["5.9.0", "6.0.0", "6.5.1", "7.0.0-rc.1"], b"podinfo ");
    let other = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    std::fs::write(other.path().join("README.md"), "other\n").map_err(|e| fail(e.to_string()))?;
    let served_dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let served = gitops_harness::git::ServedRepo::prepare(other.path(), &served_dir.path().join("w")).map_err(|e| fail(e.to_string()))?;
    let git = gitops_harness::git::GitServer::start(&served, "127.0.0.1:0".parse().map_err(|_| fail("addr"))?)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let up = upstream::Upstream::start(site).await;
    let mut overrides: Vec<UrlOverride> = up.overrides().iter().map(|o| o.parse()).collect::<Result<_, _>>().map_err(fail)?;
    overrides.push(format!("https://github.com/org/other={}", git.url()).parse().map_err(fail)?);
    let plan = Plan {
        wanted: vec![
            Wanted::HelmRepo {
                url: "https://charts.jetstack.io".into(),
                objects: vec!["HelmRepository default/jetstack".into()],
                charts: vec![ask("cert-manager", "1.x")],
            },
            Wanted::OciChart { repo: "oci://ghcr.io/fluxcd/charts".into(), insecure: false, chart: ask("flagger", "1.x") },
            Wanted::OciArtifact {
                url: "oci://ghcr.io/stefanprodan/manifests/podinfo".into(),
                insecure: false,
                reference: OciRef::Semver { range: ">=6.0.0".into(), filter: None },
                object: "OCIRepository default/podinfo".into(),
            },
            Wanted::Git {
                url: "https://github.com/org/other".into(),
                reference: GitRef::Branch("main".into()),
                object: "GitRepository default/other".into(),
            },
        ],
        skipped: vec![],
    };
    let mut c = Cassette::open_or_create(cassette).map_err(|e| fail(e.to_string()))?;
    let out = Recorder::new(overrides).map_err(|e| fail(e.to_string()))?.record(&plan, &mut c).await.map_err(|e| fail(e.to_string()))?;
    git.shutdown().await;
    up.stop();
    if !out.failed.is_empty() {
        return Err(fail(format!("recording failed: {:?}", out.failed)));
    }
    Ok(())
}

const OBJECTS: &str = r#"
- {apiVersion: source.toolkit.fluxcd.io/v1, kind: HelmRepository, metadata: {name: jetstack}, spec: {interval: 1m, url: "https://charts.jetstack.io"}}
- {apiVersion: source.toolkit.fluxcd.io/v1, kind: HelmChart, metadata: {name: cert-manager}, spec: {interval: 1m, chart: cert-manager, version: "1.x", sourceRef: {kind: HelmRepository, name: jetstack}}}
- {apiVersion: source.toolkit.fluxcd.io/v1, kind: HelmChart, metadata: {name: cert-manager-2}, spec: {interval: 1m, chart: cert-manager, version: "2.x", sourceRef: {kind: HelmRepository, name: jetstack}}}
- {apiVersion: source.toolkit.fluxcd.io/v1, kind: HelmRepository, metadata: {name: flagger}, spec: {interval: 1m, type: oci, url: "oci://ghcr.io/fluxcd/charts"}}
- {apiVersion: source.toolkit.fluxcd.io/v1, kind: HelmChart, metadata: {name: flagger}, spec: {interval: 1m, chart: flagger, version: "1.x", sourceRef: {kind: HelmRepository, name: flagger}}}
- {apiVersion: source.toolkit.fluxcd.io/v1, kind: OCIRepository, metadata: {name: podinfo}, spec: {interval: 1m, url: "oci://ghcr.io/stefanprodan/manifests/podinfo", ref: {semver: ">=6.0.0"}}}
- {apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository, metadata: {name: other}, spec: {interval: 1m, url: "https://github.com/org/other", ref: {branch: main}}}
- {apiVersion: source.toolkit.fluxcd.io/v1, kind: HelmRepository, metadata: {name: bitnami}, spec: {interval: 1m, url: "https://charts.bitnami.com/bitnami"}}
"#;

fn api(client: &kube::Client, kind: &str) -> Api<DynamicObject> {
    let lower = kind.to_ascii_lowercase();
    let plural = match lower.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{lower}s"),
    };
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", kind), &plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn ready(obj: &Value) -> Option<(String, String)> {
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    let c = obj.pointer("/status/conditions")?.as_array()?.iter().find(|c| c["type"] == "Ready")?;
    // A failure is written on the condition's generation; status.observedGeneration moves on success.
    let observed =
        c.get("observedGeneration").and_then(Value::as_i64).or_else(|| obj.pointer("/status/observedGeneration").and_then(Value::as_i64));
    if c["status"] == "Unknown" || observed != generation {
        return None;
    }
    Some((c["status"].as_str()?.to_string(), c["message"].as_str().unwrap_or("").to_string()))
}

fn source_controller_fetches_through_the_gateway() -> TestResult {
    let tools = Toolset::locate().map_err(|e| fail(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| fail(e.to_string()))?;
    rt.block_on(async {
        let state = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let cassette = state.path().join("cassette");
        record(&cassette).await?;
        let c = Cassette::open(&cassette).map_err(|e| fail(e.to_string()))?;
        let lock = |kind: SourceKind| {
            c.lock().sources.iter().find(|s| s.kind == kind).cloned().ok_or_else(|| fail(format!("{kind:?} not recorded")))
        };
        let (oci, git) = (lock(SourceKind::Oci)?, lock(SourceKind::Git)?);

        // The gateway, in this process.
        let log: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = log.clone();
        let ca_dir = state.path().join("gateway");
        let gw = Gateway::start(GatewayConfig {
            addr: "127.0.0.1:0".parse().map_err(|_| fail("addr"))?,
            replay: Some(Arc::new(Replay::new(c.clone(), "gitops-harness sources record …".into()))),
            ca: Arc::new(GatewayCa::ensure(&ca_dir).map_err(|e| fail(e.to_string()))?),
            standins: None,
            log: Arc::new(move |v| sink.lock().unwrap_or_else(|e| e.into_inner()).push(v)),
        })
        .await
        .map_err(|e| fail(e.to_string()))?;

        // etcd, kube-apiserver, source-controller.
        let layout = Layout { root: state.path().join("sim") };
        for d in [layout.root.clone(), layout.logs(), layout.etcd_data(), layout.apiserver_certs(), layout.source_storage()] {
            std::fs::create_dir_all(&d).map_err(|e| fail(e.to_string()))?;
        }
        let port = || process::free_port().map_err(|e| fail(e.to_string()));
        let ports =
            Ports { etcd: port()?, etcd_peer: port()?, apiserver: port()?, source: [port()?, port()?, port()?], ..Ports::default() };
        let pki = pki::generate(&layout.pki()).map_err(|e| fail(e.to_string()))?;
        std::fs::write(layout.kubeconfig(), pki::kubeconfig("sources", ports.apiserver, &pki.ca_pem, &pki.admin_token))
            .map_err(|e| fail(e.to_string()))?;
        let mut procs = Procs::default();
        procs.start(&components::etcd(&tools, &layout, &ports), &layout.logs())?;
        procs.start(&components::apiserver(&tools, &layout, &ports, &pki), &layout.logs())?;
        let target = gitops_harness::live::Target { kubeconfig: Some(layout.kubeconfig()), context: None };
        let client = gitops_harness::live::connect(&target).await.map_err(|e| fail(e.to_string()))?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while client.request_text(http::Request::get("/readyz").body(Vec::new()).map_err(|e| fail(e.to_string()))?).await.is_err() {
            if Instant::now() > deadline {
                return Err(fail("kube-apiserver did not become ready"));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        apply_crds(&client, &tools.crds(Component::SourceController)).await.map_err(|e| fail(e.to_string()))?;
        let mut sc = components::source_controller(&tools, &layout, &ports);
        // What the backend should give every sim process: the gateway, and nothing else.
        sc.env.retain(|(k, _)| !k.to_ascii_uppercase().ends_with("_PROXY"));
        sc.env.extend(gateway::process_env(gw.addr(), "source-controller", &GatewayCa::cert_file(&ca_dir)));
        procs.start(&sc, &layout.logs())?;

        let objects: Vec<Value> = serde_norway::from_str(OBJECTS).map_err(|e| fail(e.to_string()))?;
        for o in &objects {
            let (kind, name) = (o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""));
            let obj: DynamicObject = serde_json::from_value(o.clone()).map_err(|e| fail(e.to_string()))?;
            api(&client, kind)
                .patch(name, &PatchParams::apply("sources-sim-test").force(), &Patch::Apply(&obj))
                .await
                .map_err(|e| fail(format!("{kind}/{name}: {e}")))?;
        }
        let want: Vec<(&str, &str, bool, String)> = vec![
            ("HelmRepository", "jetstack", true, String::new()),
            ("HelmChart", "cert-manager", true, "v1.21.0".into()),
            ("HelmChart", "flagger", true, "1.44.0".into()),
            ("OCIRepository", "podinfo", true, format!("6.5.1@{}", oci.digest)),
            ("GitRepository", "other", true, format!("@{}", git.digest)),
            ("HelmChart", "cert-manager-2", false, "no 'cert-manager' chart with version matching '2.x' found".into()),
            ("HelmRepository", "bitnami", false, "charts.bitnami.com".into()),
        ];
        // Each first reconciliation is immediate: well inside their 1m intervals.
        let started = Instant::now();
        let mut pending = want.clone();
        let mut seen = Vec::new();
        let mut last = std::collections::BTreeMap::new();
        while !pending.is_empty() {
            if started.elapsed() > Duration::from_secs(90) {
                let tail = procs.0.last().map(|p| p.log_tail(30)).unwrap_or_default();
                return Err(fail(format!(
                    "not decided within 90 s: {pending:?}\nlast seen: {last:#?}\ndecided: {seen:?}\nsource-controller log:\n{tail}\ngateway: {:?}",
                    log.lock().unwrap_or_else(|e| e.into_inner())
                )));
            }
            let mut still = Vec::new();
            for (kind, name, ok, expect) in pending {
                let obj = api(&client, kind).get(name).await.ok().and_then(|o| serde_json::to_value(o).ok()).unwrap_or(Value::Null);
                match ready(&obj) {
                    Some((status, message)) => {
                        let revision = obj.pointer("/status/artifact/revision").and_then(Value::as_str).unwrap_or("").to_string();
                        // A HelmChart reads `no artifact available` until its HelmRepository has
                        // one: only the expected outcome decides; anything else is retried and
                        // shown if the deadline passes.
                        let decided = if ok {
                            status == "True" && revision.contains(&expect)
                        } else {
                            status != "True" && message.contains(&expect)
                        };
                        let line = format!("{kind}/{name}: Ready={status} revision={revision} message={message} after {:?}", started.elapsed());
                        if decided {
                            println!("{line}");
                            seen.push(format!("{kind}/{name}"));
                        } else {
                            last.insert(format!("{kind}/{name}"), line);
                            still.push((kind, name, ok, expect));
                        }
                    }
                    None => still.push((kind, name, ok, expect)),
                }
            }
            pending = still;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let lines = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let by_sc = |pred: &dyn Fn(&Value) -> bool| lines.iter().any(|l| l["process"] == "source-controller" && pred(l));
        if !by_sc(&|l| l["outcome"] == "served" && l["url"] == "https://charts.jetstack.io/index.yaml")
            || !by_sc(&|l| l["gateway"] == "refused" && l["host"] == "charts.bitnami.com")
            || !by_sc(&|l| {
                l["outcome"] == "served"
                    && l["url"].as_str().is_some_and(|u| u.starts_with("https://ghcr.io/v2/fluxcd/charts/flagger/blobs/"))
            })
        {
            return Err(fail(format!("the gateway log does not show source-controller's fetches: {lines:?}")));
        }
        drop(procs);
        gw.shutdown();
        Ok(())
    })
}

/// A repository whose only source is a GitRepository on the internet, applied by a Kustomization.
const INTERNET_REPO: &str = r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: other
  namespace: flux-system
spec:
  interval: 1m
  url: https://github.com/org/other
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: other
  namespace: flux-system
spec:
  interval: 10m
  path: ./
  prune: true
  sourceRef:
    kind: GitRepository
    name: other
"#;

/// `up --backend sim --cassette` gives every sim process the one egress gateway: the real
/// source-controller clones `https://github.com/org/other` from the cassette (the URL in the
/// cluster is the one in git) and the Kustomization becomes Ready; without `--cassette` the same
/// repository fails fast naming the GitRepository, and the gateway's log names who asked for what.
fn up_replays_the_cassette_through_the_gateway() -> TestResult {
    let rt = tokio::runtime::Runtime::new().map_err(|e| fail(e.to_string()))?;
    let work = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let cassette = work.path().join("cassette");
    rt.block_on(record(&cassette))?;
    let repo = work.path().join("repo");
    common::write_files(&repo, &[("clusters/sim/other.yaml", INTERNET_REPO)])?;
    let repo = repo.display().to_string();
    let cassette = cassette.display().to_string();
    let up = |sb: &common::sim::Sandbox, extra: &[&str]| {
        let mut args = vec![
            "up",
            "--backend",
            "sim",
            "--name",
            sb.name.as_str(),
            "--repo",
            &repo,
            "--cluster-dir",
            "clusters/sim",
            "--timeout",
            "240",
        ];
        args.extend(extra);
        let out = sb.run(&args);
        let log = std::fs::read_to_string(sb.state().join("logs/gateway.log")).unwrap_or_default();
        let down = sb.run(&["down", "--name", &sb.name]);
        (out, log, down)
    };

    let sb = common::sim::Sandbox::new("replay");
    let (out, log, down) = up(&sb, &["--cassette", &cassette]);
    let t = common::sim::text(&out);
    if !out.status.success() {
        return Err(fail(format!("up --cassette must reach Ready, got {:?}:\n{t}\ngateway log:\n{log}", out.status.code())));
    }
    if !t.contains("one egress gateway") {
        return Err(fail(format!("up must say how the sim reaches sources:\n{t}")));
    }
    let served = log.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|l| {
        l["process"] == "source-controller"
            && l["gateway"] == "cassette"
            && l["outcome"] == "served"
            && l["url"].as_str().is_some_and(|u| u.contains("github.com/org/other"))
    });
    if !served {
        return Err(fail(format!("the gateway log does not show source-controller's clone served from the cassette:\n{log}")));
    }
    if !down.status.success() {
        return Err(fail(format!("down failed:\n{}", common::sim::text(&down))));
    }

    let sb = common::sim::Sandbox::new("noreplay");
    let started = Instant::now();
    let (out, log, _down) = up(&sb, &[]);
    let t = common::sim::text(&out);
    if out.status.code() != Some(1) || !t.contains("GitRepository flux-system/other") || started.elapsed() > Duration::from_secs(150) {
        return Err(fail(format!(
            "without a cassette up must fail fast (exit 1) naming the GitRepository, got {:?} after {:?}:\n{t}",
            out.status.code(),
            started.elapsed()
        )));
    }
    let refused = log.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|l| {
        l["process"] == "source-controller" && l["gateway"] == "refused" && l["host"].as_str().is_some_and(|h| h.starts_with("github.com"))
    });
    if !refused {
        return Err(fail(format!("the gateway must log the refused clone by process and host:\n{log}")));
    }
    Ok(())
}

/// The cert-manager chart from `https://charts.jetstack.io` (in the cassette), then a
/// self-signed ClusterIssuer and a Certificate that must become Ready (`wait: true`).
const CERT_MANAGER_REPO: &[(&str, &str)] = &[
    (
        "clusters/sim/layers.yaml",
        r#"apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra
  namespace: flux-system
spec:
  interval: 10m
  path: ./infra
  prune: true
  wait: true
  timeout: 3m
  sourceRef:
    kind: GitRepository
    name: flux-system
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: certs
  namespace: flux-system
spec:
  dependsOn:
    - name: infra
  interval: 10m
  path: ./certs
  prune: true
  wait: true
  timeout: 3m
  sourceRef:
    kind: GitRepository
    name: flux-system
"#,
    ),
    (
        "infra/cert-manager.yaml",
        r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: jetstack
  namespace: flux-system
spec:
  interval: 10m
  url: https://charts.jetstack.io
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: cert-manager
  namespace: flux-system
spec:
  interval: 10m
  targetNamespace: cert-manager
  releaseName: cert-manager
  install:
    createNamespace: true
  chart:
    spec:
      chart: cert-manager
      version: "1.x"
      sourceRef:
        kind: HelmRepository
        name: jetstack
  values:
    crds:
      enabled: true
"#,
    ),
    (
        "certs/certs.yaml",
        r#"apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: selfsigned
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: demo
  namespace: cert-manager
spec:
  isCA: true
  commonName: demo.example
  secretName: demo-tls
  issuerRef:
    kind: ClusterIssuer
    name: selfsigned
"#,
    ),
];

/// `up` on a repository that installs cert-manager from its chart: once helm-controller has
/// applied the chart's controller Deployment, sim starts cert-manager's own controllers from it
/// (its args and env), and a Certificate the next layer applies becomes Ready through them.
fn cert_manager_runs_from_its_live_deployment() -> TestResult {
    let rt = tokio::runtime::Runtime::new().map_err(|e| fail(e.to_string()))?;
    let work = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let cassette = work.path().join("cassette");
    rt.block_on(record(&cassette))?;
    let repo = work.path().join("repo");
    common::write_files(&repo, CERT_MANAGER_REPO)?;
    let sb = common::sim::Sandbox::new("certmgr");
    let (repo, cassette) = (repo.display().to_string(), cassette.display().to_string());
    let out = sb.run(&[
        "up",
        "--backend",
        "sim",
        "--name",
        "certmgr",
        "--repo",
        &repo,
        "--cluster-dir",
        "clusters/sim",
        "--timeout",
        "300",
        "--cassette",
        &cassette,
    ]);
    let t = common::sim::text(&out);
    let log = std::fs::read_to_string(sb.state().join("logs/cert-manager.log")).unwrap_or_default();
    let recorded = sb.record().is_some_and(|r| r.processes.iter().any(|p| p.name == "cert-manager"));
    let down = sb.run(&["down", "--name", "certmgr"]);
    if !out.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        return Err(fail(format!(
            "up must reach Ready (the Certificate issued), got {:?}:\n{t}\ncert-manager log (last lines, newest first):\n{}",
            out.status.code(),
            tail.join("\n")
        )));
    }
    if !t.contains("cert-manager's controllers run on the host from Deployment cert-manager/cert-manager") || !recorded {
        return Err(fail(format!("up must say it started cert-manager from its Deployment, and record it:\n{t}")));
    }
    if !down.status.success() {
        return Err(fail(format!("down failed:\n{}", common::sim::text(&down))));
    }
    Ok(())
}

/// Record cert-manager from `https://charts.jetstack.io` at each of `asks`.
async fn record_cert_manager(cassette: &Path, asks: &[&str]) -> Result<(), libtest_mimic::Failed> {
    let helm = gitops_harness::tools::find(gitops_harness::tools::Tool::Helm).map_err(|e| fail(e.to_string()))?;
    let packaged = upstream::package(&helm, &common::shared_reference().join("charts")).map_err(fail)?;
    let site = upstream::site(&packaged).map_err(fail)?;
    let up = upstream::Upstream::start(site).await;
    let overrides: Vec<UrlOverride> = up.overrides().iter().map(|o| o.parse()).collect::<Result<_, _>>().map_err(fail)?;
    let plan = Plan {
        wanted: vec![Wanted::HelmRepo {
            url: "https://charts.jetstack.io".into(),
            objects: vec!["HelmRepository flux-system/jetstack".into()],
            charts: asks.iter().map(|v| ask("cert-manager", v)).collect(),
        }],
        skipped: vec![],
    };
    let mut c = Cassette::open_or_create(cassette).map_err(|e| fail(e.to_string()))?;
    let out = Recorder::new(overrides).map_err(|e| fail(e.to_string()))?.record(&plan, &mut c).await.map_err(|e| fail(e.to_string()))?;
    up.stop();
    if !out.failed.is_empty() {
        return Err(fail(format!("recording failed: {:?}", out.failed)));
    }
    Ok(())
}

/// Infrastructure upgrade rehearsals on the real chart from the cassette: cert-manager 1.20 to
/// 1.21 passes (its controller rolled on purpose, the Certificate still Ready); a values change
/// the chart's `values.schema.json` rejects fails naming the HelmRelease with helm-controller's
/// message.
fn cert_manager_chart_upgrade_rehearsals() -> TestResult {
    let rt = tokio::runtime::Runtime::new().map_err(|e| fail(e.to_string()))?;
    let work = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let cassette = work.path().join("cassette");
    rt.block_on(record_cert_manager(&cassette, &["1.20.x", "1.21.x"]))?;
    let repo = work.path().join("repo");
    let at_1_20: Vec<(&str, String)> =
        CERT_MANAGER_REPO.iter().map(|(p, t)| (*p, t.replace("version: \"1.x\"", "version: \"1.20.x\""))).collect();
    common::write_files(&repo, &at_1_20.iter().map(|(p, t)| (*p, t.as_str())).collect::<Vec<_>>())?;
    let release = repo.join("infra/cert-manager.yaml");
    common::git(&repo, &["init", "-q", "-b", "main"])?;
    common::git(&repo, &["add", "-A"])?;
    common::git(&repo, &["commit", "-q", "-m", "base: cert-manager 1.20"])?;
    common::git(&repo, &["tag", "base"])?;
    let text = std::fs::read_to_string(&release).map_err(|e| fail(e.to_string()))?;
    std::fs::write(&release, text.replace("version: \"1.20.x\"", "version: \"1.21.x\"")).map_err(|e| fail(e.to_string()))?;
    common::git(&repo, &["commit", "-q", "-am", "cert-manager 1.21"])?;
    common::git(&repo, &["tag", "bump"])?;
    let text = std::fs::read_to_string(&release).map_err(|e| fail(e.to_string()))?;
    std::fs::write(&release, text.replace("    crds:\n", "    replicaCount: two\n    crds:\n")).map_err(|e| fail(e.to_string()))?;
    common::git(&repo, &["commit", "-q", "-am", "cert-manager: a value its schema rejects"])?;
    common::git(&repo, &["tag", "rejected"])?;

    let (repo, cassette) = (repo.display().to_string(), cassette.display().to_string());
    let upgrade = |sb: &common::sim::Sandbox, to: &str| {
        sb.run(&[
            "upgrade",
            "--backend",
            "sim",
            "--repo",
            &repo,
            "--cluster-dir",
            "clusters/sim",
            "--from",
            "base",
            "--to",
            to,
            "--name",
            &sb.name,
            "--cassette",
            &cassette,
        ])
    };
    let sb = common::sim::Sandbox::new("cm-bump");
    let out = upgrade(&sb, "bump");
    let t = common::sim::text(&out);
    if out.status.code() != Some(0) {
        return Err(fail(format!("cert-manager 1.20 -> 1.21 must pass (exit 0), got {:?}:\n{t}", out.status.code())));
    }
    let sb = common::sim::Sandbox::new("cm-rejected");
    let out = upgrade(&sb, "rejected");
    let t = common::sim::text(&out);
    // helm-controller's own words: the chart's values.schema.json decides, on the cluster.
    if out.status.code() != Some(1)
        || !t.contains("HelmRelease flux-system/cert-manager")
        || !t.contains("values don't meet the specifications of the schema")
        || !t.contains("/replicaCount")
    {
        return Err(fail(format!(
            "a value the chart's schema rejects must fail (exit 1) naming the HelmRelease with helm-controller's message, got {:?}:\n{t}",
            out.status.code()
        )));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let needs_tools: Vec<common::sim::NamedTest> = vec![
        ("sim::source_controller_fetches_through_the_gateway", source_controller_fetches_through_the_gateway),
        ("sim::up_replays_the_cassette_through_the_gateway", up_replays_the_cassette_through_the_gateway),
        ("sim::cert_manager_runs_from_its_live_deployment", cert_manager_runs_from_its_live_deployment),
        ("sim::cert_manager_chart_upgrade_rehearsals", cert_manager_chart_upgrade_rehearsals),
    ];
    let trials = common::sim::trials("sim", vec![], needs_tools);
    libtest_mimic::run(&args, trials).exit_code()
}
