//! cert-manager's own controllers on a sim cluster (libtest-mimic, `harness = false`): the
//! launcher `scripts/sim-tools.sh` builds from `harness/sim-go/cert-manager` is started from the
//! cert-manager chart's controller Deployment (rendered from `shared/reference/charts`, applied,
//! read back live, turned into a process by `cluster::sim::cert_manager::from_deployment`), and
//! must issue a SelfSigned → CA → leaf chain the way cert-manager does: the Linkerd identity
//! issuer of the fixture Ready with cert-manager's reason, its Secret with cert-manager's keys
//! and a verifiable chain; a Certificate whose issuer does not exist must show cert-manager's own
//! reason and message at once.
//!
//! Needs the sim tools (`scripts/sim-tools.sh`) and helm (`make tools`); without them the test is
//! listed as ignored and an always-run trial says why.

use gitops_harness_testkit as common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::sim::{TestResult, fail};
use gitops_harness::cluster::sim::cert_manager::{self, Ports};
use gitops_harness::cluster::sim::process::{self, tcp_sockets};
use gitops_harness::cluster::sim::toolset::{Component, Toolset};
use gitops_harness::cluster::sim::{self, Sim, SimRecord};
use gitops_harness::cluster::{ClusterBackend as _, ClusterSpec};
use gitops_harness::tools::{self, Tool};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};
use x509_parser::prelude::*;

const CLUSTER: &str = "cm";
/// How long any object may take to reach its state (the whole chain takes a few seconds).
const WITHIN: Duration = Duration::from_secs(90);
/// A missing issuer must be reported well before any global deadline.
const MISSING_ISSUER_WITHIN: Duration = Duration::from_secs(30);

fn gvk(kind: &str) -> ApiResource {
    let (group, version) = match kind {
        "CertificateRequest" | "Certificate" | "Issuer" | "ClusterIssuer" => ("cert-manager.io", "v1"),
        _ => unreachable!("no such kind in this test: {kind}"),
    };
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

fn api(client: &kube::Client, kind: &str, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &gvk(kind)),
        None => Api::all_with(client.clone(), &gvk(kind)),
    }
}

fn apply_params() -> PatchParams {
    PatchParams::apply("gitops-harness-test").force()
}

/// Server-side apply of a cert-manager object given as JSON.
async fn apply(client: &kube::Client, obj: Value) -> TestResult {
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
    api(client, &kind, ns.as_deref())
        .patch(&name, &apply_params(), &Patch::Apply(&obj))
        .await
        .map_err(|e| fail(format!("applying {kind} {name}: {e}")))?;
    Ok(())
}

fn condition<'a>(obj: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    obj.data["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

/// The launcher's process and log, for failure messages.
struct Launched {
    record: process::ProcessRecord,
}

impl Launched {
    fn tail(&self) -> String {
        self.record.log_tail(30)
    }
}

/// Wait until `kind ns/name` has condition Ready with `status` and `reason`; on timeout, name what
/// it has and the launcher's log.
/// An object by kind, namespace and name.
#[derive(Clone, Copy)]
struct Obj<'a> {
    kind: &'a str,
    ns: Option<&'a str>,
    name: &'a str,
}

async fn wait_ready(
    client: &kube::Client,
    launched: &Launched,
    obj: Obj<'_>,
    (status, reason): (&str, &str),
    within: Duration,
) -> Result<DynamicObject, Failed> {
    let Obj { kind, ns, name } = obj;
    let deadline = Instant::now() + within;
    let a = api(client, kind, ns);
    loop {
        let obj = a.get_opt(name).await.map_err(|e| fail(format!("reading {kind} {name}: {e}")))?;
        if let Some(o) = obj.clone()
            && condition(&o, "Ready").is_some_and(|c| c["status"] == status && c["reason"] == reason)
        {
            return Ok(o);
        }
        if !launched.record.is_alive() {
            return Err(fail(format!("the cert-manager launcher exited; its log:\n{}", launched.tail())));
        }
        if Instant::now() > deadline {
            let status_now = obj.map(|o| o.data["status"].to_string()).unwrap_or_else(|| "(not found)".into());
            return Err(fail(format!(
                "{kind} {}{name} did not reach Ready={status} ({reason}) within {within:?}; status: {status_now}\nlauncher log:\n{}",
                ns.map(|n| format!("{n}/")).unwrap_or_default(),
                launched.tail()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pem_der(pem_bytes: &[u8], what: &str) -> Result<Vec<u8>, Failed> {
    let (_, pem) = parse_x509_pem(pem_bytes).map_err(|e| fail(format!("{what} is not PEM: {e}")))?;
    Ok(pem.contents)
}

async fn secret_data(client: &kube::Client, ns: &str, name: &str) -> Result<Secret, Failed> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    api.get(name).await.map_err(|e| fail(format!("reading Secret {ns}/{name}: {e}")))
}

fn key<'a>(s: &'a Secret, k: &str) -> Result<&'a [u8], Failed> {
    s.data.as_ref().and_then(|d| d.get(k)).map(|b| b.0.as_slice()).ok_or_else(|| {
        fail(format!(
            "Secret {} has no key {k} (keys: {:?})",
            s.metadata.name.as_deref().unwrap_or("?"),
            s.data.as_ref().map(|d| d.keys().collect::<Vec<_>>())
        ))
    })
}

/// The Secret of a Certificate is cert-manager's: type kubernetes.io/tls, keys tls.crt, tls.key,
/// ca.crt, the leaf signed by the CA in `ca_secret`, ca.crt that CA; returns the leaf's DER.
async fn assert_chain(client: &kube::Client, ns: &str, name: &str, ca_ns: &str, ca_secret: &str) -> Result<Vec<u8>, Failed> {
    let s = secret_data(client, ns, name).await?;
    if s.type_.as_deref() != Some("kubernetes.io/tls") {
        return Err(fail(format!("Secret {ns}/{name} has type {:?}, not kubernetes.io/tls", s.type_)));
    }
    let leaf_der = pem_der(key(&s, "tls.crt")?, "tls.crt")?;
    let key_pem = String::from_utf8_lossy(key(&s, "tls.key")?).to_string();
    if !key_pem.contains("PRIVATE KEY-----") {
        return Err(fail(format!("Secret {ns}/{name}: tls.key is not a PEM private key")));
    }
    let ca = secret_data(client, ca_ns, ca_secret).await?;
    let ca_der = pem_der(key(&ca, "tls.crt")?, "the CA's tls.crt")?;
    let (_, leaf) = X509Certificate::from_der(&leaf_der).map_err(|e| fail(format!("{ns}/{name} tls.crt: {e}")))?;
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).map_err(|e| fail(format!("{ca_ns}/{ca_secret} tls.crt: {e}")))?;
    if leaf.issuer() != ca_cert.subject() {
        return Err(fail(format!("{ns}/{name} is issued by {}, not by the CA {}", leaf.issuer(), ca_cert.subject())));
    }
    leaf.verify_signature(Some(ca_cert.public_key()))
        .map_err(|e| fail(format!("{ns}/{name} is not signed by the CA in {ca_ns}/{ca_secret}: {e}")))?;
    let ca_crt = pem_der(key(&s, "ca.crt")?, "ca.crt")?;
    if ca_crt != ca_der {
        return Err(fail(format!("{ns}/{name}: ca.crt is not the issuing CA's certificate")));
    }
    Ok(leaf_der)
}

/// Render the cert-manager chart (controller Deployment and its config ConfigMap).
fn render_chart(helm: &Path, dir: &Path) -> Result<Vec<Value>, Failed> {
    let chart = common::shared_reference().join("charts/cert-manager");
    let values = dir.join("values.yaml");
    // The chart's own `config` value: written to a ConfigMap, read through --config.
    std::fs::write(&values, "crds:\n  enabled: false\nconfig:\n  enableCertificateOwnerRef: true\n").map_err(|e| fail(e.to_string()))?;
    let out = std::process::Command::new(helm)
        .args(["template", "cert-manager"])
        .arg(&chart)
        .args(["--namespace", "cert-manager", "-f"])
        .arg(&values)
        .output()
        .map_err(|e| fail(format!("running {}: {e}", helm.display())))?;
    if !out.status.success() {
        return Err(fail(format!("helm template {}: {}", chart.display(), String::from_utf8_lossy(&out.stderr))));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let docs = gitops_harness::yaml_docs::parse_str(&chart, &text).map_err(|e| fail(e.to_string()))?;
    Ok(docs
        .into_iter()
        .map(|d| d.value)
        .filter(|v| {
            matches!((v["kind"].as_str(), v["metadata"]["name"].as_str()), (Some("Deployment" | "ConfigMap"), Some("cert-manager")))
        })
        .collect())
}

/// Peak resident memory of a process (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

/// The whole chain, through the launcher started from the chart's live Deployment.
async fn chain(helm: PathBuf, home: PathBuf) -> TestResult {
    let tools = Toolset::locate().map_err(|e| fail(e.to_string()))?;
    let started = Instant::now();
    Sim::default().create(&ClusterSpec::new(CLUSTER)).await.map_err(|e| fail(format!("creating the sim cluster: {e}")))?;
    let layout = sim::layout(CLUSTER);
    let client = gitops_harness::live::connect(&gitops_harness::live::Target { kubeconfig: Some(layout.kubeconfig()), context: None })
        .await
        .map_err(|e| fail(e.to_string()))?;
    println!("sim cluster up in {:.1}s", started.elapsed().as_secs_f64());

    let crds = sim::apply_crds(&client, &tools.crds(Component::CertManager)).await.map_err(|e| fail(e.to_string()))?;
    if crds.len() != 6 {
        return Err(fail(format!("expected cert-manager's 6 CRDs, applied {crds:?}")));
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in ["cert-manager", "linkerd"] {
        namespaces
            .patch(ns, &apply_params(), &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})))
            .await
            .map_err(|e| fail(format!("namespace {ns}: {e}")))?;
    }

    // The chart's controller Deployment and its config, applied as helm-controller would, then
    // read back live.
    let rendered = render_chart(&helm, &home)?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "cert-manager");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "cert-manager");
    for obj in &rendered {
        let r = if obj["kind"] == "Deployment" {
            deployments.patch("cert-manager", &apply_params(), &Patch::Apply(obj)).await.map(|_| ())
        } else {
            configmaps.patch("cert-manager", &apply_params(), &Patch::Apply(obj)).await.map(|_| ())
        };
        r.map_err(|e| fail(format!("applying the chart's {}: {e}", obj["kind"])))?;
    }
    if rendered.len() != 2 {
        return Err(fail(format!("the chart rendered {} of the Deployment and ConfigMap named cert-manager", rendered.len())));
    }
    let live = deployments.get("cert-manager").await.map_err(|e| fail(e.to_string()))?;
    let ports = Ports {
        metrics: process::free_port().map_err(|e| fail(e.to_string()))?,
        healthz: process::free_port().map_err(|e| fail(e.to_string()))?,
    };
    let launch = cert_manager::from_deployment(&tools, &layout, &live, ports).map_err(|e| fail(e.to_string()))?;
    // The source chart's placeholder appVersion (v0.0.0) is not the version sim built: named.
    if !launch.warnings.iter().any(|w| w.contains("v0.0.0") && w.contains(Component::CertManager.version())) {
        return Err(fail(format!("expected a warning naming the Deployment's image tag and the built version: {:?}", launch.warnings)));
    }
    cert_manager::write_volumes(&client, &launch.volumes).await.map_err(|e| fail(e.to_string()))?;

    let spawned = Instant::now();
    let record = process::spawn(&launch.spec, &layout.log(cert_manager::PROCESS)).map_err(|e| fail(e.to_string()))?;
    // Recorded with the cluster's processes: `down`/`reap` (and this test's cleanup) stop it.
    let mut sim_record = SimRecord::load(CLUSTER).ok_or_else(|| fail("no sim.json"))?;
    sim_record.processes.push(record.clone());
    sim_record.save().map_err(|e| fail(e.to_string()))?;
    let launched = Launched { record };
    println!("launcher args: {:?}", launch.spec.args);

    // A SelfSigned ClusterIssuer; a CA Certificate from it in linkerd; then the fixture's own
    // linkerd-certs.yaml: a CA Issuer on that Secret and the identity issuer Certificate.
    apply(&client, json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "sim-selfsigned"}, "spec": {"selfSigned": {}}})).await?;
    apply(
        &client,
        json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "linkerd-trust-anchor", "namespace": "linkerd"},
            "spec": {"isCA": true, "commonName": "root.linkerd.cluster.local", "secretName": "linkerd-trust-anchor",
                     "privateKey": {"algorithm": "ECDSA"},
                     "issuerRef": {"name": "sim-selfsigned", "kind": "ClusterIssuer", "group": "cert-manager.io"}},
        }),
    )
    .await?;
    let fixture = common::fixtures().join("gitops-linkerd/infrastructure/linkerd/linkerd-certs.yaml");
    let text = std::fs::read_to_string(&fixture).map_err(|e| fail(format!("{}: {e}", fixture.display())))?;
    for d in gitops_harness::yaml_docs::parse_str(&fixture, &text).map_err(|e| fail(e.to_string()))? {
        apply(&client, d.value).await?;
    }
    // A CA ClusterIssuer: its Secret is looked up in --cluster-resource-namespace, which the
    // chart passes as $(POD_NAMESPACE).
    apply(
        &client,
        json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "sim-root-ca", "namespace": "cert-manager"},
            "spec": {"isCA": true, "commonName": "sim-root-ca", "secretName": "sim-root-ca",
                     "issuerRef": {"name": "sim-selfsigned", "kind": "ClusterIssuer"}},
        }),
    )
    .await?;
    apply(&client, json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "sim-ca"}, "spec": {"ca": {"secretName": "sim-root-ca"}}})).await?;
    apply(
        &client,
        json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"secretName": "web-tls", "dnsNames": ["web.default.svc.cluster.local"],
                     "issuerRef": {"name": "sim-ca", "kind": "ClusterIssuer"}},
        }),
    )
    .await?;

    let ready = |kind: &'static str, ns: Option<&'static str>, name: &'static str, reason: &'static str| {
        wait_ready(&client, &launched, Obj { kind, ns, name }, ("True", reason), WITHIN)
    };
    ready("ClusterIssuer", None, "sim-selfsigned", "IsReady").await?;
    ready("Certificate", Some("linkerd"), "linkerd-trust-anchor", "Ready").await?;
    ready("Issuer", Some("linkerd"), "linkerd-trust-anchor", "KeyPairVerified").await?;
    let identity = ready("Certificate", Some("linkerd"), "linkerd-identity-issuer", "Ready").await?;
    ready("Certificate", Some("cert-manager"), "sim-root-ca", "Ready").await?;
    ready("ClusterIssuer", None, "sim-ca", "KeyPairVerified").await?;
    ready("Certificate", Some("default"), "web", "Ready").await?;
    let chain_secs = spawned.elapsed().as_secs_f64();
    let message = condition(&identity, "Ready").and_then(|c| c["message"].as_str()).unwrap_or_default();
    if message != "Certificate is up to date and has not expired" {
        return Err(fail(format!("linkerd-identity-issuer is Ready with message {message:?}, not cert-manager's")));
    }

    let leaf_der = assert_chain(&client, "linkerd", "linkerd-identity-issuer", "linkerd", "linkerd-trust-anchor").await?;
    let (_, leaf) = X509Certificate::from_der(&leaf_der).map_err(|e| fail(e.to_string()))?;
    let cn = leaf.subject().iter_common_name().next().and_then(|c| c.as_str().ok()).unwrap_or_default().to_string();
    if cn != "identity.linkerd.cluster.local" || !leaf.is_ca() {
        return Err(fail(format!(
            "the identity issuer is CN={cn}, CA={}; the fixture asks for identity.linkerd.cluster.local, isCA",
            leaf.is_ca()
        )));
    }
    if leaf.public_key().algorithm.algorithm != x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY {
        return Err(fail("the identity issuer's key is not ECDSA, as the fixture asks"));
    }
    let hours = (leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp()) / 3600;
    if hours != 48 {
        return Err(fail(format!("the identity issuer is valid {hours}h; the fixture asks for 48h")));
    }
    assert_chain(&client, "default", "web-tls", "cert-manager", "sim-root-ca").await?;
    // enableCertificateOwnerRef came through the chart's ConfigMap and --config.
    let s = secret_data(&client, "linkerd", "linkerd-identity-issuer").await?;
    let owners: Vec<String> = s.metadata.owner_references.iter().flatten().map(|o| format!("{}/{}", o.kind, o.name)).collect();
    if owners != ["Certificate/linkerd-identity-issuer"] {
        return Err(fail(format!("the Secret's owners are {owners:?}: the config file's enableCertificateOwnerRef was not applied")));
    }

    // A Certificate whose Issuer does not exist: cert-manager's own conditions, at once.
    let asked = Instant::now();
    apply(&client, json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "orphan", "namespace": "default"},
        "spec": {"secretName": "orphan-tls", "dnsNames": ["orphan.default.svc"], "issuerRef": {"name": "does-not-exist", "kind": "Issuer"}},
    }))
    .await?;
    let orphan = Obj { kind: "Certificate", ns: Some("default"), name: "orphan" };
    wait_ready(&client, &launched, orphan, ("False", "DoesNotExist"), MISSING_ISSUER_WITHIN).await?;
    let requests = api(&client, "CertificateRequest", Some("default"));
    let deadline = Instant::now() + MISSING_ISSUER_WITHIN;
    let pending = loop {
        let list = requests.list(&ListParams::default()).await.map_err(|e| fail(e.to_string()))?;
        let found = list.items.into_iter().find(|r| {
            r.metadata.owner_references.iter().flatten().any(|o| o.name == "orphan")
                && condition(r, "Ready").is_some_and(|c| c["reason"] == "Pending" && c["status"] == "False")
        });
        if let Some(r) = found {
            break r;
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "no CertificateRequest of orphan became Pending within {MISSING_ISSUER_WITHIN:?}\n{}",
                launched.tail()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let msg = condition(&pending, "Ready").and_then(|c| c["message"].as_str()).unwrap_or_default().to_string();
    if !msg.contains(r#"Referenced "Issuer" not found"#) || !msg.contains(r#""does-not-exist" not found"#) {
        return Err(fail(format!("the CertificateRequest's message is {msg:?}, not cert-manager's missing-issuer message")));
    }
    let approved = condition(&pending, "Approved").is_some_and(|c| c["status"] == "True");
    println!(
        "missing issuer reported in {:.1}s: CertificateRequest Ready=False Pending: {msg} (approved: {approved})",
        asked.elapsed().as_secs_f64()
    );

    // What is not linked is said, and nothing was dialled off loopback.
    let log = std::fs::read_to_string(&launched.record.log).unwrap_or_default();
    if !log.contains("not built into the sim launcher") || !log.contains("certificaterequests-issuer-acme") {
        return Err(fail(format!("the launcher's log does not name the controllers it does not run:\n{}", launched.tail())));
    }
    let off: Vec<String> =
        tcp_sockets(launched.record.pid).into_iter().filter(|s| !s.peer_is_loopback()).map(|s| s.remote.to_string()).collect();
    if !off.is_empty() {
        return Err(fail(format!("the launcher has connections off loopback: {off:?}")));
    }
    let size = std::fs::metadata(&launched.record.program).map(|m| m.len() as f64 / 1048576.0).unwrap_or(0.0);
    println!(
        "cert-manager launcher: chain Ready {chain_secs:.1}s after start; binary {size:.0} MiB; peak RSS {:.0} MiB",
        peak_rss_mib(launched.record.pid).unwrap_or(0.0)
    );
    Ok(())
}

fn issues_a_ca_chain_and_names_a_missing_issuer(helm: PathBuf) -> TestResult {
    let work = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| fail(e.to_string()))?;
    // Failures carry the launcher's log tail; the cluster's state goes with the test's home.
    let result = rt.block_on(chain(helm, work.path().to_path_buf()));
    // Whatever happened: every recorded process (the launcher included) stopped, state removed.
    let seen = SimRecord::load(CLUSTER);
    let down = sim::stop_and_forget(CLUSTER);
    result?;
    down.map_err(|e| fail(format!("stopping the sim cluster: {e}")))?;
    if let Some(seen) = seen
        && let Some(p) = seen.processes.iter().find(|p| p.is_alive())
    {
        return Err(fail(format!("{} (pid {}) still runs after the cluster was stopped", p.name, p.pid)));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    // One harness state directory for this binary. SAFETY: no other thread exists yet.
    let home = tempfile::Builder::new().prefix("gh-cm-sim-").tempdir().expect("temp dir");
    unsafe { std::env::set_var("GITOPS_HARNESS_HOME", home.path()) };
    let helm = tools::find(Tool::Helm);
    let name = "cert_manager::issues_a_ca_chain_and_names_a_missing_issuer";
    let (always, needs_tools): (Vec<Trial>, Vec<common::sim::NamedTest>) = match &helm {
        Ok(_) => (
            vec![],
            vec![(name, || issues_a_ca_chain_and_names_a_missing_issuer(tools::find(Tool::Helm).map_err(|e| fail(e.to_string()))?))],
        ),
        Err(e) => {
            let reason = format!("needs helm to render the cert-manager chart: {e}");
            let why = reason.clone();
            (
                vec![
                    Trial::test("cert_manager::helm_availability", move || {
                        println!("1 cert_manager test ignored: {why}");
                        Ok(())
                    }),
                    Trial::test(name, move || Err(fail(reason.clone()))).with_ignored_flag(true),
                ],
                vec![],
            )
        }
    };
    let trials = common::sim::trials("cert_manager", always, needs_tools);
    let code = libtest_mimic::run(&args, trials).exit_code();
    drop(home);
    code
}
