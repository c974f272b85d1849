//! The A/B counting and assertion against a tiny local "ingress" on 127.0.0.1 that routes by
//! header like ingress-nginx's canary-by-header (and a broken one that ignores it).

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use gitops_harness::flagger::abtest::{AbRequest, Identify, Marker, assert_header_routing, run};

const PRIMARY: &str = "<html><body style=\"background: white\">faces-gui-primary</body></html>";
const CANARY: &str = "<html><body style=\"background: lightcyan\">faces-gui-canary</body></html>";

/// Start a server; `honour_header` false mimics a canary ingress whose header route is missing.
async fn ingress(honour_header: bool) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let app = Router::new().route(
        "/",
        get(move |headers: HeaderMap| async move {
            if headers.get("host").and_then(|h| h.to_str().ok()) != Some("faces.localhost") {
                return (StatusCode::NOT_FOUND, "default backend - 404".to_string());
            }
            let testuser = headers.get("x-faces-user").and_then(|h| h.to_str().ok()) == Some("testuser");
            (StatusCode::OK, if testuser && honour_header { CANARY } else { PRIMARY }.to_string())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, task)
}

fn identify() -> Identify {
    Identify::canary_by(Marker::Body("lightcyan".into()))
}

#[tokio::test]
async fn header_routes_to_the_canary_and_counts_are_reported() {
    let (addr, task) = ingress(true).await;
    let mut req = AbRequest::faces_gui(&format!("http://{addr}/"), "faces.localhost");
    req.requests = 7;
    let counts = run(&req, &identify()).await.unwrap();
    assert_eq!((counts.with_header.canary, counts.with_header.primary), (7, 0));
    assert_eq!((counts.without_header.primary, counts.without_header.canary), (7, 0));
    assert_header_routing(&counts).unwrap();
    assert_eq!(
        counts.to_string(),
        "with `x-faces-user: testuser`:    primary 0, canary 7, unknown 0 (of 7)\nwithout the header: primary 7, canary 0, unknown 0 (of 7)"
    );
    task.abort();
}

#[tokio::test]
async fn missing_header_route_fails_with_counts() {
    let (addr, task) = ingress(false).await;
    let mut req = AbRequest::faces_gui(&format!("http://{addr}"), "faces.localhost");
    req.requests = 5;
    let counts = run(&req, &identify()).await.unwrap();
    let err = assert_header_routing(&counts).unwrap_err().to_string();
    assert!(err.contains("requests with the header did not all reach the canary"), "{err}");
    assert!(err.contains("expected: all requests with `x-faces-user: testuser` → canary, all without → primary"), "{err}");
    assert!(err.contains("with `x-faces-user: testuser`:    primary 5, canary 0"), "{err}");
    task.abort();
}

#[tokio::test]
async fn wrong_host_and_unreachable_ingress_are_errors_not_passes() {
    let (addr, task) = ingress(true).await;
    let mut req = AbRequest::faces_gui(&format!("http://{addr}"), "other.localhost");
    req.requests = 3;
    let counts = run(&req, &identify()).await.unwrap();
    assert_eq!(counts.with_header.statuses.get(&404), Some(&3));
    let err = assert_header_routing(&counts).unwrap_err().to_string();
    assert!(err.contains("failed (is the ingress reachable and the Host right?)") && err.contains("HTTP errors 404×3"), "{err}");
    task.abort();

    // Nothing listens on this port any more.
    let (addr, task) = ingress(true).await;
    task.abort();
    let _ = task.await;
    let mut req = AbRequest::faces_gui(&format!("http://{addr}"), "faces.localhost");
    req.requests = 2;
    req.timeout = std::time::Duration::from_secs(2);
    let counts = run(&req, &identify()).await.unwrap();
    assert_eq!(counts.with_header.transport_errors, 2);
    assert!(assert_header_routing(&counts).unwrap_err().to_string().contains("transport errors 2"));
}
