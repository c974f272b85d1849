//! Live observation: kube watchers on the Canary, its routing object and the primary
//! Deployment, merged into one stream feeding the [`TimelineBuilder`], under our own deadline.

use std::time::Duration;

use futures::{StreamExt, stream::BoxStream};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use super::{CanaryError, RoutingKind, Timeline, TimelineBuilder, routing_for};

/// What to observe.
#[derive(Debug, Clone)]
pub struct ObserveRequest {
    /// Namespace of the Canary.
    pub namespace: String,
    /// Canary name.
    pub name: String,
    /// Flagger's `meshProvider` (used when the Canary has no `spec.provider`).
    pub default_provider: String,
    /// Our deadline for a new rollout to reach Succeeded/Failed.
    pub deadline: Duration,
    /// Append every observed object to this JSON-lines file: a real recording that
    /// [`super::replay`] replays (keep it as a test artifact).
    pub record_to: Option<std::path::PathBuf>,
    /// After the terminal phase, keep reading this long: events of the three watches can arrive
    /// out of order (Flagger resets the routing just before it writes Failed).
    pub settle: Duration,
}

impl ObserveRequest {
    /// Observe `namespace/name` with Flagger's `meshProvider: linkerd` default and a deadline.
    pub fn new(namespace: &str, name: &str, deadline: Duration) -> ObserveRequest {
        ObserveRequest {
            namespace: namespace.into(),
            name: name.into(),
            default_provider: "linkerd".into(),
            deadline,
            record_to: None,
            settle: super::replay::SETTLE.to_std().unwrap_or(Duration::from_secs(2)),
        }
    }
}

fn canary_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("flagger.app", "v1beta1", "Canary"), "canaries")
}

async fn resource_for(client: &Client, group: &str, version: Option<&str>, kind: &str, plural: &str) -> Result<ApiResource, kube::Error> {
    match version {
        Some(v) => Ok(ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, v, kind), plural)),
        None => {
            let g = kube::discovery::group(client, group).await?;
            Ok(g.recommended_kind(kind)
                .map(|(ar, _)| ar)
                .unwrap_or_else(|| ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)))
        }
    }
}

/// Watch one named object; emit it as JSON with apiVersion/kind filled in (list items lack them).
fn watch_named(client: &Client, ns: &str, ar: &ApiResource, name: &str) -> BoxStream<'static, Result<Value, String>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
    let api_version = ar.api_version.clone();
    let kind = ar.kind.clone();
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let name = name.to_string();
    watcher(api, cfg)
        .default_backoff()
        .applied_objects()
        .map(move |r| match r {
            Ok(obj) => {
                let mut v = serde_json::to_value(&obj).map_err(|e| e.to_string())?;
                if let Some(m) = v.as_object_mut() {
                    m.insert("apiVersion".into(), Value::String(api_version.clone()));
                    m.insert("kind".into(), Value::String(kind.clone()));
                }
                Ok(v)
            }
            Err(e) => Err(format!("{kind} {name}: {e}")),
        })
        .boxed()
}

/// Watch until a new rollout of the canary reaches Succeeded or Failed, or our deadline passes
/// (the timeout error carries the last state and the timeline).
pub async fn observe_rollout(client: &Client, req: &ObserveRequest) -> Result<Timeline, CanaryError> {
    observe_until(client, req, Timeline::finished).await
}

/// True once the A/B header route is active during a rollout (requests with the header now reach
/// the canary): the moment to run [`crate::flagger::abtest::run`].
pub fn header_route_active(t: &Timeline) -> bool {
    t.rollout().iter().any(|r| r.phase.is_active() && r.routed.as_ref().map(|x| x.header_match.is_some()).unwrap_or(false))
        && t.last().map(|r| r.phase.is_active()).unwrap_or(false)
}

/// Watch until `done(timeline)` holds (then read [`ObserveRequest::settle`] longer when the
/// rollout finished), or our deadline passes.
pub async fn observe_until(client: &Client, req: &ObserveRequest, done: impl Fn(&Timeline) -> bool) -> Result<Timeline, CanaryError> {
    let key = format!("{}/{}", req.namespace, req.name);
    let canaries: Api<DynamicObject> = Api::namespaced_with(client.clone(), &req.namespace, &canary_resource());
    let canary = canaries.get(&req.name).await.map_err(|source| CanaryError::Kube {
        canary: key.clone(),
        action: "reading the Canary".into(),
        source,
    })?;
    let canary_json = serde_json::to_value(&canary).map_err(|e| CanaryError::Shape(e.to_string()))?;
    let target = canary_json.pointer("/spec/targetRef/name").and_then(Value::as_str).unwrap_or(&req.name).to_string();
    let apex = canary_json.pointer("/spec/service/name").and_then(Value::as_str).unwrap_or(&target).to_string();
    let routing = routing_for(&canary_json, &req.default_provider);

    let mut streams = vec![
        watch_named(client, &req.namespace, &canary_resource(), &req.name),
        watch_named(
            client,
            &req.namespace,
            &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "Deployment"), "deployments"),
            &format!("{target}-primary"),
        ),
    ];
    let kube_err = |action: &str| {
        let key = key.clone();
        let action = action.to_string();
        move |source| CanaryError::Kube { canary: key, action, source }
    };
    match &routing {
        RoutingKind::Smi => {
            let ar = resource_for(client, "split.smi-spec.io", None, "TrafficSplit", "trafficsplits")
                .await
                .map_err(kube_err("discovering split.smi-spec.io (is linkerd-smi installed?)"))?;
            streams.push(watch_named(client, &req.namespace, &ar, &apex));
        }
        RoutingKind::GatewayApi { version } => {
            let ar = resource_for(client, "gateway.networking.k8s.io", version.as_deref(), "HTTPRoute", "httproutes")
                .await
                .map_err(kube_err("discovering gateway.networking.k8s.io (are the Gateway API CRDs installed?)"))?;
            streams.push(watch_named(client, &req.namespace, &ar, &apex));
        }
        RoutingKind::Nginx { ingress } => {
            let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("networking.k8s.io", "v1", "Ingress"), "ingresses");
            streams.push(watch_named(client, &req.namespace, &ar, &format!("{ingress}-canary")));
        }
        RoutingKind::Unsupported(p) => {
            tracing::warn!(canary = %key, provider = %p, "routing object of this provider is not observed");
        }
    }

    let mut merged = futures::stream::select_all(streams);
    let mut builder = TimelineBuilder::new(&req.namespace, &req.name, &req.default_provider);
    let until = tokio::time::Instant::now() + req.deadline;
    let mut last_error: Option<String> = None;
    let mut recording = match &req.record_to {
        Some(p) => Some(std::fs::OpenOptions::new().create(true).append(true).open(p).map_err(|e| CanaryError::Recording {
            file: p.display().to_string(),
            line: 0,
            message: format!("cannot open for recording: {e}"),
        })?),
        None => None,
    };
    let mut settle_until: Option<tokio::time::Instant> = None;
    loop {
        match tokio::time::timeout_at(settle_until.unwrap_or(until), merged.next()).await {
            Err(_) if settle_until.is_some() => return Ok(builder.timeline()),
            Err(_) => {
                return Err(
                    builder.timeout(req.deadline.as_secs(), last_error.as_deref().map(|e| format!("last watch error: {e}")).as_deref())
                );
            }
            Ok(None) if settle_until.is_some() => return Ok(builder.timeline()),
            Ok(None) => return Err(builder.incomplete()),
            Ok(Some(Err(e))) => {
                // The watcher retries with backoff; keep the error for the timeout message.
                tracing::debug!(canary = %key, error = %e, "watch error");
                last_error = Some(e);
            }
            Ok(Some(Ok(obj))) => {
                if let Some(f) = recording.as_mut() {
                    use std::io::Write as _;
                    // A recording is a by-product: a full disk must not fail the observation.
                    if let Err(e) = writeln!(f, "{obj}") {
                        tracing::warn!(canary = %key, error = %e, "recording stopped");
                        recording = None;
                    }
                }
                builder.observe(&obj, Some(chrono::Utc::now()))?;
                if settle_until.is_none() {
                    let t = builder.timeline();
                    if done(&t) {
                        if !t.finished() {
                            return Ok(t);
                        }
                        settle_until = Some((tokio::time::Instant::now() + req.settle).min(until));
                    } else if t.finished() {
                        // The rollout ended without what we wait for: waiting on to our deadline
                        // cannot change that. Return the timeline now; the caller's assertion says
                        // what was expected and what was seen.
                        return Ok(t);
                    }
                }
            }
        }
    }
}

/// Errors of [`change_and_observe`].
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The git change or its reconciliation failed.
    #[error(transparent)]
    Change(#[from] crate::scenarios::gitops_change::ChangeError),
    /// Observing the rollout failed (includes our deadline, with the timeline).
    #[error(transparent)]
    Canary(#[from] CanaryError),
    /// The observer task died.
    #[error("the canary observer task failed: {0}")]
    Task(String),
}

/// The events about Canary `ns/name` (Flagger's account of it), oldest first.
pub async fn canary_events(client: &Client, ns: &str, name: &str) -> Result<Vec<k8s_openapi::api::core::v1::Event>, kube::Error> {
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    let lp = kube::api::ListParams::default().fields(&format!("involvedObject.kind=Canary,involvedObject.name={name}"));
    let mut events = api.list(&lp).await?.items;
    events.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0).or(e.event_time.clone().map(|t| t.0)));
    Ok(events)
}

/// The canary scenario in one call: start watching the canary FIRST (so the first weight steps
/// are not missed), then edit + commit + `flux reconcile --with-source` + wait for the
/// Kustomization to apply the commit, then wait for the rollout to end. Returns the commit and
/// the timeline to assert on.
pub async fn change_and_observe(
    client: &Client,
    repo: &dyn crate::git::WorkingCopy,
    change: &crate::scenarios::gitops_change::Change,
    kustomization: &crate::flux::ObjectRef,
    reconcile_deadline: Duration,
    observe: &ObserveRequest,
) -> Result<(crate::scenarios::gitops_change::Committed, Timeline), ScenarioError> {
    let observer = {
        let (client, req) = (client.clone(), observe.clone());
        tokio::spawn(async move { observe_rollout(&client, &req).await })
    };
    let committed = match crate::scenarios::gitops_change::drive(client, repo, change, kustomization, reconcile_deadline).await {
        Ok(c) => c,
        Err(e) => {
            observer.abort();
            return Err(e.into());
        }
    };
    let timeline = observer.await.map_err(|e| ScenarioError::Task(e.to_string()))??;
    Ok((committed, timeline))
}
