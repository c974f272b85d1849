//! `change_and_observe` fails on the git side before touching the cluster, naming the problem.

use std::path::Path;
use std::time::Duration;

use gitops_harness::flagger::canary::live::{ObserveRequest, ScenarioError, change_and_observe};
use gitops_harness::flux::ObjectRef;
use gitops_harness::git::ServedRepo;
use gitops_harness::scenarios::gitops_change::{Change, ChangeError, Edit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_edits_nothing_is_reported_and_the_observer_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd");
    let served = ServedRepo::prepare(&src, &tmp.path().join("served")).unwrap();
    let head = served.head().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Nothing listens there: the observer would fail, but the git side fails first.
    let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
    let change = Change {
        edits: vec![Edit::deployment_env("apps/faces/faces.yaml", "face", "face", "ERROR_FRACTION", "0")],
        message: "no-op".into(),
    };
    let err = change_and_observe(
        &client,
        &served,
        &change,
        &ObjectRef::kustomization("flux-system", "apps"),
        Duration::from_secs(5),
        &ObserveRequest::new("faces", "face", Duration::from_secs(5)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ScenarioError::Change(ChangeError::NoChange(_))), "{err}");
    assert!(err.to_string().contains("edits nothing"), "{err}");
    assert_eq!(served.head().unwrap(), head, "nothing committed");
}

mod happy_path {
    //! The whole scenario against one fake API server: Flux objects answer the reconcile
    //! request; the canary's recorded rollout starts streaming only after the Kustomization was
    //! asked to reconcile (as Flagger reacts to Flux applying the commit).

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::body::Body;
    use axum::extract::State;
    use axum::http::{Method, Request};
    use axum::response::Response;
    use futures::StreamExt;
    use gitops_harness::flagger::canary::assert::{RollbackExpectation, assert_fails_and_rolls_back};
    use gitops_harness::flagger::canary::live::{ObserveRequest, change_and_observe};
    use gitops_harness::flagger::canary::replay::load;
    use gitops_harness::flux::ObjectRef;
    use gitops_harness::git::ServedRepo;
    use gitops_harness::scenarios::gitops_change::{Change, Edit};

    use serde_json::{Value, json};

    struct Fake {
        recording: Vec<Value>,
        head: Mutex<String>,
        ks_patched: tokio::sync::watch::Sender<bool>,
    }

    fn flux_obj(kind: &str, rev: &str) -> Value {
        let (api, name) = if kind == "GitRepository" {
            ("source.toolkit.fluxcd.io/v1", "flux-system")
        } else {
            ("kustomize.toolkit.fluxcd.io/v1", "apps")
        };
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "flux-system", "resourceVersion": "1", "generation": 1},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
            "status": {"observedGeneration": 1, "artifact": {"revision": format!("main@sha1:{rev}")}, "lastAppliedRevision": format!("main@sha1:{rev}"),
                "conditions": [{"type": "Ready", "status": "True", "message": "ok"}]}})
    }

    fn collection(o: &Value) -> String {
        let plural = match o["kind"].as_str().unwrap() {
            "Canary" => "canaries",
            "Deployment" => "deployments",
            _ => "trafficsplits",
        };
        format!("/apis/{}/namespaces/faces/{plural}", o["apiVersion"].as_str().unwrap())
    }

    async fn handle(State(fake): State<Arc<Fake>>, req: Request<Body>) -> Response {
        let (method, path, query) = (req.method().clone(), req.uri().path().to_string(), req.uri().query().unwrap_or("").to_string());
        let json_resp = |v: Value| Response::builder().header("content-type", "application/json").body(Body::from(v.to_string())).unwrap();
        let watch = query.contains("watch=true") || query.contains("watch=1");
        if path.contains("fluxcd.io") {
            let kind = if path.contains("gitrepositories") { "GitRepository" } else { "Kustomization" };
            if method == Method::PATCH {
                if kind == "Kustomization" {
                    let _ = fake.ks_patched.send(true);
                }
                return json_resp(flux_obj(kind, "old"));
            }
            if path.ends_with("/apps") || path.ends_with("/flux-system") {
                return json_resp(flux_obj(kind, "old"));
            }
            if !watch {
                return json_resp(
                    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": [flux_obj(kind, "old")]}),
                );
            }
            let head = fake.head.lock().unwrap().clone();
            let ev = json!({"type": "MODIFIED", "object": flux_obj(kind, &head)}).to_string() + "\n";
            return Response::builder()
                .body(Body::from_stream(futures::stream::iter([Ok::<_, std::io::Error>(ev)]).chain(futures::stream::pending())))
                .unwrap();
        }
        // The discovery of split.smi-spec.io.
        if path == "/apis/split.smi-spec.io" {
            return json_resp(json!({"kind": "APIGroup", "apiVersion": "v1", "name": "split.smi-spec.io",
                "versions": [{"groupVersion": "split.smi-spec.io/v1alpha2", "version": "v1alpha2"}],
                "preferredVersion": {"groupVersion": "split.smi-spec.io/v1alpha2", "version": "v1alpha2"}}));
        }
        if path == "/apis/split.smi-spec.io/v1alpha2" {
            return json_resp(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "split.smi-spec.io/v1alpha2",
                "resources": [{"name": "trafficsplits", "singularName": "trafficsplit", "namespaced": true, "kind": "TrafficSplit", "verbs": ["get", "list", "watch"]}]}));
        }
        if path == "/apis" {
            return json_resp(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{"name": "split.smi-spec.io",
                "versions": [{"groupVersion": "split.smi-spec.io/v1alpha2", "version": "v1alpha2"}],
                "preferredVersion": {"groupVersion": "split.smi-spec.io/v1alpha2", "version": "v1alpha2"}}]}));
        }
        for o in &fake.recording[..3] {
            if path == format!("{}/{}", collection(o), o["metadata"]["name"].as_str().unwrap()) {
                return json_resp(o.clone());
            }
        }
        let mine: Vec<(usize, Value)> = fake.recording.iter().cloned().enumerate().filter(|(_, o)| collection(o) == path).collect();
        if !watch {
            let first = mine.first().map(|(_, o)| o.clone()).unwrap_or(Value::Null);
            return json_resp(json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": [first]}));
        }
        let mut gate = fake.ks_patched.subscribe();
        let later: Vec<(usize, Value)> = mine.into_iter().filter(|(i, _)| *i >= 3).collect();
        let events = futures::stream::once(async move {
            let _ = gate.wait_for(|p| *p).await;
        })
        .flat_map(move |_| {
            futures::stream::iter(later.clone()).then(|(i, o)| async move {
                tokio::time::sleep(Duration::from_millis(30 * i as u64)).await;
                Ok::<_, std::io::Error>(json!({"type": "MODIFIED", "object": o}).to_string() + "\n")
            })
        })
        .chain(futures::stream::pending());
        Response::builder().body(Body::from_stream(events)).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_change_is_committed_reconciled_and_rolled_back() {
        let tmp = tempfile::tempdir().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gitops-linkerd");
        let served = ServedRepo::prepare(&src, &tmp.path().join("served")).unwrap();
        let recording =
            load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/canary/face-fails-smi.jsonl")).unwrap();
        let (tx, _) = tokio::sync::watch::channel(false);
        let fake = Arc::new(Fake { recording, head: Mutex::new(String::new()), ks_patched: tx });
        let app = axum::Router::new().fallback(handle).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = kube::Client::try_from(kube::Config::new(format!("http://{addr}").parse().unwrap())).unwrap();

        let change = Change {
            edits: vec![Edit::deployment_env("apps/faces/faces.yaml", "face", "face", "ERROR_FRACTION", "75")],
            message: "Force ERROR_FRACTION for face to 75%".into(),
        };
        // Flux "fetches" whatever the served repo's head is when it is asked.
        struct Tracking<'a>(&'a ServedRepo, Arc<Fake>);
        impl gitops_harness::git::WorkingCopy for Tracking<'_> {
            fn root(&self) -> &std::path::Path {
                self.0.path()
            }
            fn commit_all(&self, m: &str) -> Result<String, gitops_harness::git::GitError> {
                let sha = gitops_harness::git::WorkingCopy::commit_all(self.0, m)?;
                *self.1.head.lock().unwrap() = sha.clone();
                Ok(sha)
            }
            fn branch(&self) -> String {
                "main".into()
            }
        }
        let (committed, timeline) = change_and_observe(
            &client,
            &Tracking(&served, fake.clone()),
            &change,
            &ObjectRef::kustomization("flux-system", "apps"),
            Duration::from_secs(20),
            &ObserveRequest::new("faces", "face", Duration::from_secs(30)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(served.head().unwrap(), committed.sha);
        let exp = RollbackExpectation {
            threshold: 3,
            old_image: Some("dwflynn/faces-service:0.8.0".into()),
            old_env: Some(("ERROR_FRACTION".into(), "0".into())),
        };
        assert_fails_and_rolls_back(&timeline, &exp).unwrap_or_else(|e| panic!("{e}"));
        server.abort();
    }
}
