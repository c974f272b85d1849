//! The live canary observer (real kube client, real watchers) against a small fake API server on
//! 127.0.0.1 that serves a recorded sequence: LIST returns the initial state, WATCH streams the
//! later objects in recorded order. Proves the merged watchers, the timeline and our deadline
//! without a cluster.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use gitops_harness::flagger::canary::CanaryError;
use gitops_harness::flagger::canary::assert::{CanaryExpectation, assert_promotes};
use gitops_harness::flagger::canary::live::{ObserveRequest, observe_rollout};
use gitops_harness::flagger::canary::replay::load;
use serde_json::{Value, json};

struct Fake {
    objects: Vec<Value>,
    /// Objects before this index form the initial state (what LIST returns).
    initial: usize,
    /// Pause between released watch events (keeps the recorded order across streams).
    tick: Duration,
    start: tokio::time::Instant,
}

fn collection_path(o: &Value) -> String {
    let api = o["apiVersion"].as_str().unwrap();
    let plural = match o["kind"].as_str().unwrap() {
        "Canary" => "canaries",
        "Deployment" => "deployments",
        "HTTPRoute" => "httproutes",
        "TrafficSplit" => "trafficsplits",
        "Ingress" => "ingresses",
        k => panic!("unexpected kind {k}"),
    };
    let prefix = if api.contains('/') { format!("/apis/{api}") } else { format!("/api/{api}") };
    format!("{prefix}/namespaces/{}/{plural}", o["metadata"]["namespace"].as_str().unwrap())
}

async fn handle(State(fake): State<Arc<Fake>>, req: Request<Body>) -> Response {
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req.uri().query().map(url_pairs).unwrap_or_default();
    let json_resp = |v: Value| Response::builder().header("content-type", "application/json").body(Body::from(v.to_string())).unwrap();
    // GET of one object (the initial state).
    for o in &fake.objects[..fake.initial] {
        if path == format!("{}/{}", collection_path(o), o["metadata"]["name"].as_str().unwrap()) {
            return json_resp(o.clone());
        }
    }
    let name = query.get("fieldSelector").and_then(|f| f.strip_prefix("metadata.name=")).map(str::to_string);
    let of_this: Vec<(usize, Value)> = fake
        .objects
        .iter()
        .enumerate()
        .filter(|(_, o)| collection_path(o) == path && Some(o["metadata"]["name"].as_str().unwrap().to_string()) == name)
        .map(|(i, o)| (i, o.clone()))
        .collect();
    if query.get("watch").map(|w| w == "true" || w == "1").unwrap_or(false) {
        let fake2 = fake.clone();
        let initial = fake.initial;
        let later: Vec<(usize, Value)> = of_this.into_iter().filter(|(i, _)| *i >= initial).collect();
        let events = futures::stream::iter(later)
            .then(move |(i, o)| {
                let fake = fake2.clone();
                async move {
                    // Release the i-th recorded object at its turn, whichever stream it is in.
                    tokio::time::sleep_until(fake.start + fake.tick * (i as u32 + 1)).await;
                    Ok::<_, std::io::Error>(format!("{}\n", json!({"type": "MODIFIED", "object": o})))
                }
            })
            .chain(futures::stream::pending());
        return Response::builder().header("content-type", "application/json").body(Body::from_stream(events)).unwrap();
    }
    if let Some((_, first)) = of_this.iter().find(|(i, _)| *i < fake.initial) {
        let api = first["apiVersion"].as_str().unwrap();
        let kind = first["kind"].as_str().unwrap();
        return json_resp(
            json!({"apiVersion": api, "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": [first]}),
        );
    }
    Response::builder().status(StatusCode::NOT_FOUND).body(Body::from(format!("no {path}"))).unwrap()
}

fn url_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3D", "=").replace("%3d", "=").replace("%2F", "/")))
        .collect()
}

async fn serve(file: &str, tick: Duration) -> (kube::Client, tokio::task::JoinHandle<()>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/canary").join(file);
    let objects = load(&path).unwrap();
    let fake = Arc::new(Fake { objects, initial: 3, tick, start: tokio::time::Instant::now() + Duration::from_millis(300) });
    let app = axum::Router::new().fallback(handle).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    // Without this, kube's client builder panics: ring (kube) and aws-lc-rs (reqwest) are both
    // compiled in and rustls cannot choose. live::connect needs the same.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cfg = kube::Config::new(format!("http://{addr}").parse().unwrap());
    (kube::Client::try_from(cfg).unwrap(), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_a_gateway_api_promotion_to_the_end() {
    let (client, task) = serve("face-promotes-gatewayapi.jsonl", Duration::from_millis(40)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut req = ObserveRequest::new("faces", "face", Duration::from_secs(60));
    req.record_to = Some(dir.path().join("recorded.jsonl"));
    let t = observe_rollout(&client, &req).await.unwrap_or_else(|e| panic!("{e}"));
    let exp = CanaryExpectation {
        step_weight: 5.0,
        max_weight: 50.0,
        new_env: Some(("ERROR_FRACTION".into(), "20".into())),
        ..Default::default()
    };
    assert_promotes(&t, &exp).unwrap_or_else(|e| panic!("{e}"));
    // What it saw was recorded, and replays to the same verdict.
    let replayed =
        gitops_harness::flagger::canary::replay::replay_file(&dir.path().join("recorded.jsonl"), "faces", "face", "linkerd", None).unwrap();
    assert_promotes(&replayed, &exp).unwrap_or_else(|e| panic!("{e}"));
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_deadline_stops_a_slow_rollout_with_the_last_state() {
    // 10 events at 300 ms each cannot finish within a 1 s deadline.
    let (client, task) = serve("face-fails-smi.jsonl", Duration::from_millis(300)).await;
    let mut req = ObserveRequest::new("faces", "face", Duration::from_secs(1));
    req.default_provider = "linkerd".into();
    // The SMI version comes from discovery, which this fake does not serve: the observer reports it.
    let err = observe_rollout(&client, &req).await.unwrap_err();
    assert!(matches!(err, CanaryError::Kube { .. }), "{err}");
    assert!(err.to_string().contains("discovering split.smi-spec.io (is linkerd-smi installed?)"), "{err}");
    task.abort();

    let (client, task) = serve("face-promotes-gatewayapi.jsonl", Duration::from_millis(300)).await;
    let req = ObserveRequest::new("faces", "face", Duration::from_secs(1));
    let err = observe_rollout(&client, &req).await.unwrap_err();
    let CanaryError::Timeout { waited_s, ref last, ref timeline, .. } = err else { panic!("expected a timeout: {err}") };
    assert_eq!(waited_s, 1);
    assert!(last.starts_with("phase="), "{last}");
    assert!(timeline.contains("canary faces/face (routing: HTTPRoute (v1beta1))"), "{timeline}");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_the_ab_header_route_through_the_canary_ingress() {
    use gitops_harness::flagger::canary::live::{header_route_active, observe_until};
    let (client, task) = serve("faces-gui-abtest-nginx.jsonl", Duration::from_millis(40)).await;
    let req = ObserveRequest::new("faces", "faces-gui", Duration::from_secs(30));
    let t = observe_until(&client, &req, header_route_active).await.unwrap_or_else(|e| panic!("{e}"));
    let last = t.last().unwrap();
    assert_eq!(last.routed.as_ref().and_then(|r| r.header_match.as_deref()), Some("x-faces-user=testuser"), "{}", t.table());
    assert!(!t.finished());
    task.abort();
}
