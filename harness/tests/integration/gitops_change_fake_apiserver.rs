//! `reconcile_and_wait` with the real kube client against a fake API server: it must patch
//! `reconcile.fluxcd.io/requestedAt` on the GitRepository, then on the Kustomization (in that
//! order, as merge patches), and return once the Kustomization applied the commit; on our
//! deadline it reports the last revision and Ready message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request};
use axum::response::Response;
use futures::StreamExt;
use gitops_harness::flux::ObjectRef;
use gitops_harness::scenarios::gitops_change::{ChangeError, reconcile_and_wait};
use serde_json::{Value, json};

const SHA: &str = "3f6c2a9d8e1b4c7a0f5e2d9c8b7a6f5e4d3c2b1a";
const OLD: &str = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";

#[derive(Default)]
struct Fake {
    /// (method, path, content-type, body) of every write.
    patches: Mutex<Vec<(String, String, String, Value)>>,
    /// Whether Flux "works": apply the commit after the Kustomization patch.
    applies: bool,
}

fn gitrepo(rev: &str) -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system", "resourceVersion": "1", "generation": 1},
        "spec": {"interval": "1m", "url": "http://host.k3d.internal:8080/repo.git", "ref": {"branch": "main"}},
        "status": {"artifact": {"revision": format!("main@sha1:{rev}")}, "conditions": [{"type": "Ready", "status": "True", "message": format!("stored artifact for revision 'main@sha1:{rev}'")}]}})
}

fn ks(rev: &str, ready: &str, msg: &str) -> Value {
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "resourceVersion": "1", "generation": 1},
        "spec": {"interval": "10m", "path": "./apps", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        "status": {"observedGeneration": 1, "lastAppliedRevision": format!("main@sha1:{rev}"), "lastAttemptedRevision": format!("main@sha1:{rev}"),
            "conditions": [{"type": "Ready", "status": ready, "message": msg}]}})
}

async fn handle(State(fake): State<Arc<Fake>>, req: Request<Body>) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let ctype = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let json_resp = |v: Value| Response::builder().header("content-type", "application/json").body(Body::from(v.to_string())).unwrap();
    let is_git = path.contains("/gitrepositories");
    if method == Method::PATCH {
        let bytes = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        fake.patches.lock().unwrap().push((method.to_string(), path.clone(), ctype, body));
        return json_resp(if is_git { gitrepo(OLD) } else { ks(OLD, "True", "Applied") });
    }
    let watch = query.contains("watch=true") || query.contains("watch=1");
    if !watch {
        if path.ends_with("/kustomizations/apps") {
            return json_resp(ks(OLD, "True", "Applied revision"));
        }
        let item = if is_git { gitrepo(OLD) } else { ks(OLD, "True", "Applied revision") };
        return json_resp(json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": [item]}));
    }
    // Watch: once the object was asked to reconcile, report the new state.
    let patched =
        fake.patches.lock().unwrap().iter().any(|(_, p, _, _)| p.contains(if is_git { "/gitrepositories/" } else { "/kustomizations/" }));
    let next = match (is_git, patched, fake.applies) {
        (true, true, _) => Some(gitrepo(SHA)),
        (false, true, true) => Some(ks(SHA, "True", "Applied revision: main@sha1:3f6c2a9d")),
        (false, true, false) => Some(ks(OLD, "False", "Deployment/faces/face dry-run failed: spec.replicas: Invalid value")),
        _ => None,
    };
    let events =
        futures::stream::iter(next.into_iter().map(|o| Ok::<_, std::io::Error>(format!("{}\n", json!({"type": "MODIFIED", "object": o})))))
            .chain(futures::stream::once(async {
                // Let the watcher come back (it re-watches when a stream ends).
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(String::new())
            }));
    Response::builder().header("content-type", "application/json").body(Body::from_stream(events)).unwrap()
}

async fn serve(applies: bool) -> (kube::Client, Arc<Fake>, tokio::task::JoinHandle<()>) {
    let fake = Arc::new(Fake { applies, ..Default::default() });
    let app = axum::Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    // kube (ring) and reqwest (aws-lc-rs) both compile rustls providers in: pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_from(kube::Config::new(format!("http://{addr}").parse().unwrap())).unwrap();
    (client, fake, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciles_source_then_kustomization_and_waits_for_the_commit() {
    let (client, fake, task) = serve(true).await;
    reconcile_and_wait(&client, &ObjectRef::kustomization("flux-system", "apps"), "main", SHA, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let patches = fake.patches.lock().unwrap().clone();
    let paths: Vec<&str> = patches.iter().map(|(_, p, _, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system",
            "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps",
        ]
    );
    for (_, _, ctype, body) in &patches {
        assert_eq!(ctype, "application/merge-patch+json");
        let at = body.pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt").and_then(Value::as_str).unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_reports_last_revision_and_ready_message() {
    let (client, _fake, task) = serve(false).await;
    let err = reconcile_and_wait(&client, &ObjectRef::kustomization("flux-system", "apps"), "main", SHA, Duration::from_secs(2))
        .await
        .unwrap_err();
    let ChangeError::Timeout { ref object, ref last_revision, ref ready, ref message, .. } = err else {
        panic!("expected a timeout: {err}")
    };
    assert_eq!(object, "Kustomization flux-system/apps");
    assert_eq!(last_revision, &format!("main@sha1:{OLD}"));
    assert_eq!(ready, "False");
    assert!(message.contains("dry-run failed"), "{message}");
    assert!(err.to_string().contains(&format!("did not apply main@sha1:{SHA} within 2s")), "{err}");
    task.abort();
}
