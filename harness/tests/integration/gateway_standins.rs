//! The egress gateway without a cassette: Flagger's Prometheus queries and load-tester webhooks
//! reach the stand-ins, which answer only what a real cluster would (the Prometheus Flagger was
//! configured with, a load tester Service that exists, gates as the real load tester keeps them,
//! load only when aimed at the canary); everything else is refused with a log line naming the
//! process, host and URL, and a CONNECT is never dialled.

use std::sync::{Arc, Mutex};

use gitops_harness::cluster::sim::gateway::{self, Gateway, GatewayCa, GatewayConfig};
use gitops_harness::cluster::sim::standins::StandIns;
use serde_json::{Value, json};

/// What the stand-ins read instead of an API server: the face Canary and its target, the load
/// tester Service in flagger-system, and a MetricTemplate with its own Prometheus.
fn cluster() -> Vec<Value> {
    vec![
        json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "face", "namespace": "faces"},
            "spec": {"provider": "linkerd", "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "face"},
                "analysis": {"stepWeight": 5, "maxWeight": 50}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "face", "namespace": "faces"},
            "spec": {"template": {"spec": {"containers": [{"name": "face", "env": [{"name": "ERROR_FRACTION", "value": "10"}]}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "flagger-loadtester", "namespace": "flagger-system"},
            "spec": {"selector": {"app": "flagger-loadtester"}, "ports": [{"name": "http", "port": 80}]}}),
        json!({"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "faces-gui", "namespace": "faces"},
            "spec": {"provider": "nginx", "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "faces-gui"},
                "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "faces-gui"},
                "analysis": {"iterations": 10, "match": [{"headers": {"x-faces-user": {"exact": "testuser"}}}]}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "faces-gui", "namespace": "faces"},
            "spec": {"template": {"spec": {"containers": [{"name": "gui", "env": [{"name": "ERROR_FRACTION", "value": "5"}]}]}}}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "faces-gui", "namespace": "faces"},
            "spec": {"rules": [{"host": "faces.localhost"}]}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
            "spec": {"ports": [{"port": 80}]}}),
        json!({"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate", "metadata": {"name": "custom", "namespace": "faces"},
            "spec": {"provider": {"type": "prometheus", "address": "http://prom.monitoring:9091"}, "query": "vector(1)"}}),
    ]
}

struct Run {
    http: reqwest::Client,
    log: Arc<Mutex<Vec<Value>>>,
    gw: Gateway,
}

async fn start() -> Run {
    gitops_harness::live::ensure_crypto_provider();
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = Arc::new(GatewayCa::ensure(ca_dir.path()).unwrap());
    let log: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = log.clone();
    let standins = StandIns::from_objects(cluster(), Some("http://prometheus.linkerd-viz:9090".into()));
    let gw = Gateway::start(GatewayConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        replay: None,
        ca,
        standins: Some(standins),
        log: Arc::new(move |v| sink.lock().unwrap().push(v)),
    })
    .await
    .unwrap();
    let http = reqwest::Client::builder().proxy(reqwest::Proxy::all(gateway::proxy_url(gw.addr(), "flagger")).unwrap()).build().unwrap();
    Run { http, log, gw }
}

const SUCCESS_RATE: &str = r#"sum(rate(response_total{namespace="faces",deployment=~"face",classification!="failure",direction="inbound"}[1m])) / sum(rate(response_total{namespace="faces",deployment=~"face",direction="inbound"}[1m])) * 100"#;

impl Run {
    async fn query(&self, base: &str, q: &str) -> (u16, String) {
        let url = url::Url::parse_with_params(&format!("{base}/api/v1/query"), [("query", q)]).unwrap();
        let r = self.http.get(url).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn hook(&self, url: &str, payload: Value) -> (u16, String) {
        let r = self.http.post(url).json(&payload).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn face(extra: Value) -> Value {
    let mut p = json!({"name": "face", "namespace": "faces", "phase": "Progressing", "checksum": "x"});
    if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_answers_only_where_flagger_was_pointed() {
    let run = start().await;
    let (status, body) = run.query("http://prometheus.linkerd-viz:9090", "vector(1)").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "1", "{v}");
    // A MetricTemplate's own Prometheus is an address Flagger uses too.
    assert_eq!(run.query("http://prom.monitoring:9091", "vector(1)").await.0, 200);

    // A wrong metrics server (the chart's default, another port, another path) fails as on a real
    // cluster, naming what was asked and what Flagger was configured with.
    for wrong in ["http://prometheus:9090", "http://prometheus.linkerd-viz:9091", "http://prometheus.linkerd-viz:9090/prom"] {
        let (status, body) = run.query(wrong, "vector(1)").await;
        assert_eq!(status, 502, "{wrong}: {body}");
        assert!(body.contains("prometheus.linkerd-viz:9090/api/v1/query (Flagger's -metrics-server)"), "{body}");
        assert!(body.contains("prom.monitoring:9091/api/v1/query (MetricTemplate faces/custom)"), "{body}");
    }
    let (_, body) = run.query("http://prometheus:9090", "vector(1)").await;
    assert!(body.contains("prometheus:9090 is not a Prometheus Flagger was configured with"), "{body}");
    run.gw.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_counts_only_when_the_command_targets_the_canary() {
    let run = start().await;
    let lt = "http://flagger-loadtester.flagger-system/";
    let empty = |body: &str| serde_json::from_str::<Value>(body).unwrap()["data"]["result"] == json!([]);
    let (_, body) = run.query("http://prometheus.linkerd-viz:9090", SUCCESS_RATE).await;
    assert!(empty(&body), "no load yet, no samples: {body}");

    // Load on the primary (or the apex) is not load on the canary. A `cmd` task is queued: 202.
    for wrong in ["http://face-primary.faces/", "http://face.faces/", "http://face-canary/"] {
        let (status, _) = run.hook(lt, face(json!({"metadata": {"cmd": format!("hey -z 2m {wrong}")}}))).await;
        assert_eq!(status, 202);
        let (_, body) = run.query("http://prometheus.linkerd-viz:9090", SUCCESS_RATE).await;
        assert!(empty(&body), "{wrong} is not the canary: {body}");
    }
    // A blocking bash task aimed at the canary: 200, and the canary has samples.
    let (status, _) =
        run.hook(lt, face(json!({"metadata": {"type": "bash", "cmd": "hey -z 20s -q 10 -c 2 http://face-canary.faces/"}}))).await;
    assert_eq!(status, 200);
    let (_, body) = run.query("http://prometheus.linkerd-viz:9090", SUCCESS_RATE).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "90", "{v}");
    run.gw.shutdown();
}

/// An A/B canary behind NGINX gets load through the ingress: only requests with the Ingress's
/// host and the canary's match header reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ab_load_counts_only_with_the_match_header() {
    let run = start().await;
    let lt = "http://flagger-loadtester.flagger-system/";
    let q = r#"sum(rate(nginx_ingress_controller_requests{namespace="faces",ingress="faces-gui",canary!="",status!~"5.*"}[1m])) / sum(rate(nginx_ingress_controller_requests{namespace="faces",ingress="faces-gui",canary!=""}[1m])) * 100"#;
    let gui = |user: &str| {
        json!({"name": "faces-gui", "namespace": "faces", "phase": "Progressing", "metadata": {"cmd":
            format!("hey -z 2m -q 10 -c 2 -H 'x-faces-user: {user}' -host faces.localhost http://ingress-nginx-controller.ingress-nginx")}})
    };
    assert_eq!(run.hook(lt, gui("normaluser")).await.0, 202);
    let (_, body) = run.query("http://prometheus.linkerd-viz:9090", q).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["data"]["result"], json!([]), "normaluser stays on the primary: {body}");
    assert_eq!(run.hook(lt, gui("testuser")).await.0, 202);
    let (_, body) = run.query("http://prometheus.linkerd-viz:9090", q).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["data"]["result"][0]["value"][1], "95", "{body}");
    run.gw.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_tester_answers_only_for_a_service_that_exists() {
    let run = start().await;
    let payload = face(json!({"metadata": {"cmd": "hey -z 2m http://face-canary.faces/"}}));
    for (url, why) in [
        ("http://flagger-loadtester.test/", "Service test/flagger-loadtester does not exist"),
        ("http://flagger-loadtester.flagger-system:8080/", "has no port 8080"),
        ("http://flagger-loadtester/", "has no namespace"),
    ] {
        let (status, body) = run.hook(url, payload.clone()).await;
        assert_eq!(status, 502, "{url}: {body}");
        assert!(body.contains(why), "{url}: {body}");
    }
    for url in ["http://flagger-loadtester.flagger-system.svc.cluster.local/", "http://flagger-loadtester.flagger-system.svc:80/"] {
        assert_eq!(run.hook(url, payload.clone()).await.0, 202, "{url}");
    }
    // A payload without metadata is refused as the real load tester refuses it.
    let (status, body) = run.hook("http://flagger-loadtester.flagger-system/", face(json!({}))).await;
    assert_eq!((status, body.as_str()), (400, "metadata not found in payload"));

    // Anything that is not a stand-in is refused by the gateway, naming the process.
    let r = run.http.get("http://prometheus.linkerd-viz:9090/graph").send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.text().await.unwrap().contains("refused for flagger"));
    let r = run.http.get("https://charts.jetstack.io/index.yaml").send().await;
    assert!(r.is_err(), "{r:?}");
    let lines = run.log.lock().unwrap().clone();
    let refused = |url: &str| lines.iter().any(|l| l["gateway"] == "refused" && l["process"] == "flagger" && l["url"] == url);
    assert!(refused("http://prometheus.linkerd-viz:9090/graph"), "{lines:?}");
    assert!(refused("CONNECT charts.jetstack.io:443"), "{lines:?}");
    run.gw.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_are_kept_per_canary_as_the_load_tester_keeps_them() {
    let run = start().await;
    let lt = |path: &str| format!("http://flagger-loadtester.flagger-system{path}");
    let smiley = json!({"name": "smiley", "namespace": "faces", "phase": "Progressing"});
    // Closed until opened, per canary; open/close answer 202.
    assert_eq!(run.hook(&lt("/gate/check"), face(json!({}))).await, (403, "Forbidden".into()));
    assert_eq!(run.hook(&lt("/gate/open"), face(json!({}))).await.0, 202);
    assert_eq!(run.hook(&lt("/gate/check"), face(json!({}))).await, (200, "Approved".into()));
    assert_eq!(run.hook(&lt("/gate/check"), smiley.clone()).await.0, 403, "another canary's gate is its own");
    // The rollback gate is separate from the confirm gate.
    assert_eq!(run.hook(&lt("/rollback/check"), face(json!({}))).await.0, 403);
    assert_eq!(run.hook(&lt("/rollback/open"), face(json!({}))).await.0, 202);
    assert_eq!(run.hook(&lt("/rollback/check"), face(json!({}))).await.0, 200);
    assert_eq!(run.hook(&lt("/gate/close"), face(json!({}))).await.0, 202);
    assert_eq!(run.hook(&lt("/gate/check"), face(json!({}))).await.0, 403);
    // Fixed answers.
    assert_eq!(run.hook(&lt("/gate/halt"), face(json!({}))).await.0, 403);
    assert_eq!(run.hook(&lt("/gate/approve"), face(json!({}))).await.0, 200);
    // A gate call whose body is not Flagger's payload is a 400.
    let r = run.http.post(lt("/gate/check")).body("not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    run.gw.shutdown();
}

/// The stand-ins' own server (Flagger's proxy on `up --backend sim`) answers the same way, and
/// refuses what no stand-in claims with a 502 and CONNECT with a 403, dialling nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standins_server_answers_alike_and_refuses_the_rest() {
    gitops_harness::live::ensure_crypto_provider();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let standins = StandIns::from_objects(cluster(), Some("http://prometheus.linkerd-viz:9090".into()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gitops_harness::cluster::sim::standins::serve(addr, standins, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().proxy(reqwest::Proxy::all(format!("http://{addr}")).unwrap()).build().unwrap();
    let mut answered = None;
    for _ in 0..50 {
        match http.get("http://prometheus.linkerd-viz:9090/api/v1/query?query=vector(1)").send().await {
            Ok(r) => {
                answered = Some(r.status().as_u16());
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert_eq!(answered, Some(200));
    assert_eq!(http.get("http://prometheus:9090/api/v1/query?query=vector(1)").send().await.unwrap().status(), 502);
    let r = http.post("http://flagger-loadtester.flagger-system/gate/check").json(&face(json!({}))).send().await.unwrap();
    assert_eq!(r.status(), 403, "a gate is closed until opened");
    let r = http.get("http://faces-gui.faces/").send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.text().await.unwrap().contains("no data plane"));
    assert!(http.get("https://charts.jetstack.io/").send().await.is_err(), "CONNECT is refused");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
