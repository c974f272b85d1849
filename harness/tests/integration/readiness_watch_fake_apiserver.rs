//! The live readiness watch (real kube client, real watchers on DynamicObject APIs) against a
//! small fake API server on 127.0.0.1 that serves the final states of the `all-ready`
//! recording. Proves that a transient watch error (here: the HelmRelease API answering 503 a
//! few times with 404 NotFound, as before Flux's CRDs are established) does not end the wait, and that an API
//! that keeps failing is reported as the watch's error at the deadline, not as stale states.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use gitops_harness::graph;
use gitops_harness::readiness::{self, Outcome, ReadinessError};
use gitops_harness::repo::Repo;
use serde_json::{Value, json};

struct Fake {
    /// Final state of each object, by collection path (`/apis/<group>/<version>/<plural>`).
    lists: BTreeMap<String, Vec<Value>>,
    /// How many HelmRelease LISTs fail with 404 before they succeed.
    hr_failures: usize,
    hr_calls: AtomicUsize,
}

const KS: &str = "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations";
const HR: &str = "/apis/helm.toolkit.fluxcd.io/v2/helmreleases";

async fn handle(State(fake): State<Arc<Fake>>, req: Request<Body>) -> Response {
    let path = req.uri().path().to_string();
    let watching = req.uri().query().unwrap_or("").split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
    if path == HR && !watching && fake.hr_calls.fetch_add(1, Ordering::SeqCst) < fake.hr_failures {
        // (Not a 503: kube's client retries those itself, so they never reach the watcher.)
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "the server could not find the requested resource", "reason": "NotFound", "details": {}, "code": 404});
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header("content-type", "application/json")
            .body(Body::from(status.to_string()))
            .unwrap();
    }
    let Some(items) = fake.lists.get(&path) else {
        return Response::builder().status(StatusCode::NOT_FOUND).body(Body::from(format!("no {path}"))).unwrap();
    };
    if watching {
        // Nothing changes after the LIST: keep the watch open.
        let events = futures::stream::pending::<Result<String, std::io::Error>>();
        return Response::builder().header("content-type", "application/json").body(Body::from_stream(events)).unwrap();
    }
    let api = items[0]["apiVersion"].as_str().unwrap();
    let kind = items[0]["kind"].as_str().unwrap();
    let list = json!({"apiVersion": api, "kind": format!("{kind}List"), "metadata": {"resourceVersion": "5000"}, "items": items});
    Response::builder().header("content-type", "application/json").body(Body::from(list.to_string())).unwrap()
}

async fn serve(hr_failures: usize) -> (kube::Client, tokio::task::JoinHandle<()>) {
    let events = readiness::load_recording(&common::fixtures().join("recorded/readiness/all-ready.jsonl")).unwrap();
    let mut last: BTreeMap<(String, String, String), Value> = BTreeMap::new();
    for ev in events {
        let o = ev.object;
        let k = (
            o["kind"].as_str().unwrap().to_string(),
            o["metadata"]["namespace"].as_str().unwrap().to_string(),
            o["metadata"]["name"].as_str().unwrap().to_string(),
        );
        last.insert(k, o);
    }
    let mut lists: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for ((kind, _, _), o) in last {
        lists.entry(if kind == "Kustomization" { KS.to_string() } else { HR.to_string() }).or_default().push(o);
    }
    assert!(lists.contains_key(KS) && lists.contains_key(HR), "the recording has both kinds");
    let fake = Arc::new(Fake { lists, hr_failures, hr_calls: AtomicUsize::new(0) });
    let app = axum::Router::new().fallback(handle).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    // kube's client builder needs one rustls provider chosen (as live::connect does).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cfg = kube::Config::new(format!("http://{addr}").parse().unwrap());
    (kube::Client::try_from(cfg).unwrap(), task)
}

fn plan() -> graph::Plan {
    let repo = Repo::load(&common::fixtures().join("gitops-linkerd"), Some(std::path::Path::new("clusters/my-cluster"))).unwrap();
    graph::plan(&repo).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_watch_errors_do_not_end_the_wait() {
    let (client, task) = serve(2).await;
    let mut changes = 0;
    let (outcome, tracker) =
        readiness::watch(client, &plan(), Duration::from_secs(120), |_, _| changes += 1).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(outcome, Outcome::AllReady { .. }), "{outcome}");
    assert!(tracker.tracks().keys().any(|k| k.kind == "HelmRelease"), "HelmReleases were seen after the retries");
    assert!(changes > 0);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_keeps_failing_is_reported_at_the_deadline() {
    let (client, task) = serve(usize::MAX).await;
    let err = readiness::watch(client, &plan(), Duration::from_secs(2), |_, _| {}).await.unwrap_err();
    assert!(matches!(err, ReadinessError::Watch { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("watching Flux Kustomizations and HelmReleases") && text.contains("is the cluster reachable"), "{text}");
    task.abort();
}
