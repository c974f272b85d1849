//! `drift::live::gather` with the real kube client (discovery, inventory GETs, the canary
//! primaries) against a fake API server holding the after-failed-canary snapshot; then
//! `drift::check` on the fixture repo with the gathered state.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use gitops_harness::scenarios::drift::live::{LiveState, gather};
use serde_json::{Value, json};

struct Fake {
    objects: Vec<Value>,
    kustomizations: Vec<Value>,
}

fn plural(kind: &str) -> String {
    match kind {
        "Ingress" => "ingresses".into(),
        "Canary" => "canaries".into(),
        k => format!("{}s", k.to_lowercase()),
    }
}

fn path_of(o: &Value) -> String {
    let api = o["apiVersion"].as_str().unwrap();
    let base = if api.contains('/') { format!("/apis/{api}") } else { format!("/api/{api}") };
    let kind = o["kind"].as_str().unwrap();
    let name = o["metadata"]["name"].as_str().unwrap();
    match o["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{base}/namespaces/{ns}/{}/{name}", plural(kind)),
        None => format!("{base}/{}/{name}", plural(kind)),
    }
}

fn resources(objs: &[&Value]) -> Vec<Value> {
    let mut seen = BTreeMap::new();
    for o in objs {
        let kind = o["kind"].as_str().unwrap().to_string();
        let namespaced = o["metadata"].get("namespace").is_some();
        seen.insert(kind.clone(), json!({"name": plural(&kind), "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind, "verbs": ["get", "list", "watch"]}));
    }
    seen.into_values().collect()
}

async fn handle(State(fake): State<Arc<Fake>>, req: Request<Body>) -> Response {
    let path = req.uri().path().to_string();
    let ok = |v: Value| Response::builder().header("content-type", "application/json").body(Body::from(v.to_string())).unwrap();
    let all: Vec<&Value> = fake.objects.iter().chain(fake.kustomizations.iter()).collect();
    let gvs: BTreeMap<String, Vec<&Value>> = all.iter().fold(BTreeMap::new(), |mut m, o| {
        m.entry(o["apiVersion"].as_str().unwrap().to_string()).or_default().push(*o);
        m
    });
    match path.as_str() {
        "/api" => return ok(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})),
        "/api/v1" => {
            return ok(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": resources(&gvs["v1"])}));
        }
        "/apis" => {
            let groups: Vec<Value> = gvs
                .keys()
                .filter(|gv| gv.contains('/'))
                .map(|gv| {
                    let (g, v) = gv.split_once('/').unwrap();
                    json!({"name": g, "versions": [{"groupVersion": gv, "version": v}], "preferredVersion": {"groupVersion": gv, "version": v}})
                })
                .collect();
            return ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}));
        }
        "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations" => {
            return ok(
                json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "KustomizationList", "metadata": {"resourceVersion": "9"}, "items": fake.kustomizations}),
            );
        }
        _ => {}
    }
    if let Some((gv, objs)) = path.strip_prefix("/apis/").and_then(|gv| gvs.get(gv).map(|o| (gv, o))) {
        return ok(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources(objs)}));
    }
    match all.iter().find(|o| path_of(o) == path) {
        Some(o) => ok((*o).clone()),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header("content-type", "application/json")
            .body(Body::from(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("{path} not found")}).to_string()))
            .unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gathers_inventory_objects_and_primaries() {
    let snap = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/drift/missing");
    let recorded = LiveState::load_snapshot(&snap).unwrap();
    // Objects not in any inventory (Flagger's primaries) must still be fetched.
    let fake = Arc::new(Fake { objects: recorded.objects.clone(), kustomizations: recorded.kustomizations.clone() });
    let app = axum::Router::new().fallback(handle).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_from(kube::Config::new(format!("http://{addr}").parse().unwrap())).unwrap();

    let live = gather(&client).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(live.kustomizations.len(), 1);
    let names: Vec<String> =
        live.objects.iter().map(|o| format!("{} {}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap())).collect();
    // 14 inventory entries, `color` deleted by hand (404 → absent), 4 primaries.
    assert_eq!(names.len(), 13 + 4, "{names:?}");
    assert!(!names.contains(&"Deployment color".to_string()));
    for p in ["face-primary", "smiley-primary", "color-primary", "faces-gui-primary"] {
        assert!(names.contains(&format!("Deployment {p}")), "{p} missing from {names:?}");
    }
    assert!(live.objects.iter().all(|o| o.get("apiVersion").is_some() && o.get("kind").is_some()));

    let report = tokio::task::spawn_blocking(move || {
        gitops_harness::scenarios::drift::check(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd"),
            Some(Path::new("clusters/my-cluster")),
            &live,
        )
    })
    .await
    .unwrap()
    .unwrap();
    let items: Vec<String> = report.items.iter().map(|i| format!("{} {}", i.kind, i.object)).collect();
    assert_eq!(items, vec!["missing Deployment faces/color"], "{}", report.table());
    server.abort();
}
