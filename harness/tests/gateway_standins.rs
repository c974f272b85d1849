//! The egress gateway without a cassette: Flagger's Prometheus queries and load-tester webhooks
//! reach the stand-ins (as Flagger's proxy did before), everything else is refused with a log
//! line naming the process, host and URL, and a CONNECT is never dialled.

use std::sync::{Arc, Mutex};

use gitops_harness::cluster::sim::gateway::{self, Gateway, GatewayCa, GatewayConfig};
use gitops_harness::cluster::sim::standins::StandIns;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flagger_traffic_goes_to_the_standins_and_the_rest_is_refused() {
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = Arc::new(GatewayCa::ensure(ca_dir.path()).unwrap());
    // The stand-ins answer `vector(1)` and load-tester calls without asking the API server; a
    // client for an address nothing listens on proves it.
    gitops_harness::live::ensure_crypto_provider();
    let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:1".parse().unwrap())).unwrap();
    let log: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = log.clone();
    let gw = Gateway::start(GatewayConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        replay: None,
        ca,
        standins: Some(StandIns::new(client)),
        log: Arc::new(move |v| sink.lock().unwrap().push(v)),
    })
    .await
    .unwrap();
    let http = reqwest::Client::builder().proxy(reqwest::Proxy::all(gateway::proxy_url(gw.addr(), "flagger")).unwrap()).build().unwrap();

    let r = http.get("http://prometheus.linkerd-viz:9090/api/v1/query?query=vector(1)").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "1", "{v}");

    let hook =
        serde_json::json!({"name": "face", "namespace": "faces", "phase": "Rollout", "metadata": {"cmd": "hey -z 2m http://face.faces/"}});
    let r = http.post("http://flagger-loadtester.flagger-system/").json(&hook).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = http.get("http://prometheus.linkerd-viz:9090/graph").send().await.unwrap();
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap();
    assert!(body.contains("refused for flagger"), "{body}");

    // HTTPS without a cassette: the CONNECT is refused, never dialled.
    let r = http.get("https://charts.jetstack.io/index.yaml").send().await;
    assert!(r.is_err(), "{r:?}");

    let lines = log.lock().unwrap().clone();
    let refused = |url: &str| lines.iter().any(|l| l["gateway"] == "refused" && l["process"] == "flagger" && l["url"] == url);
    assert!(refused("http://prometheus.linkerd-viz:9090/graph"), "{lines:?}");
    assert!(refused("CONNECT charts.jetstack.io:443"), "{lines:?}");
    assert!(lines.iter().any(|l| l["host"] == "charts.jetstack.io"), "{lines:?}");
    gw.shutdown();
}
