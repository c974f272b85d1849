//! The live watch: Kustomizations and HelmReleases of every namespace fed to a tracker.

use std::time::Duration;

use super::{Change, Outcome, ReadinessError, Tracker};
use crate::flux::api;
use crate::graph::Plan;

/// Watch the live cluster's Kustomizations and HelmReleases (all namespaces) until the plan is
/// Ready, a component fails, or `deadline` passes. Event-driven: no polling.
pub async fn watch(
    client: kube::Client,
    plan: &Plan,
    deadline: Duration,
    on_change: impl FnMut(&Change, &Tracker),
) -> Result<(Outcome, Tracker), ReadinessError> {
    watch_with(client, Tracker::new(plan), deadline, on_change).await
}

/// [`watch`] into a prepared tracker (e.g. with [`Tracker::require`]d components).
pub async fn watch_with(
    client: kube::Client,
    mut tracker: Tracker,
    deadline: Duration,
    mut on_change: impl FnMut(&Change, &Tracker),
) -> Result<(Outcome, Tracker), ReadinessError> {
    use futures::StreamExt;
    use kube::api::{Api, ApiResource, DynamicObject};
    use kube::runtime::{WatchStreamExt, watcher};

    let ks = api::KUSTOMIZATION.api_resource();
    let hr = api::HELM_RELEASE.api_resource();
    let stream_of = |ar: &ApiResource, idx: usize| {
        let watched: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        let ar = ar.clone();
        watcher(watched, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .map(move |r| (idx, r.map(|o| api::to_value(&o, &ar))))
    };
    let mut merged = futures::stream::select(stream_of(&ks, 0).boxed(), stream_of(&hr, 1).boxed());
    let start = tokio::time::Instant::now();
    // Wake up at least every few seconds so the failure grace and the deadline are honoured
    // even when nothing changes.
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    // Watch errors are usually transient (API server restart, expired resourceVersion, a CRD
    // not yet established right after the Flux install): the watcher re-lists after its
    // backoff, so keep going and let our deadline decide. Only an error that is still the
    // latest news of its stream when the deadline passes is reported: then the states are stale.
    let mut last_error: [Option<kube::runtime::watcher::Error>; 2] = [None, None];
    loop {
        tokio::select! {
            item = merged.next() => {
                let Some((idx, item)) = item else { break };
                match item {
                    Ok(obj) => {
                        last_error[idx] = None;
                        if let Some(change) = tracker.observe(start.elapsed(), &obj) {
                            on_change(&change, &tracker);
                        }
                    }
                    Err(e) => {
                        tracing::warn!("watching Flux Kustomizations and HelmReleases: {e} (retrying)");
                        last_error[idx] = Some(e);
                    }
                }
            }
            _ = ticker.tick() => tracker.tick(start.elapsed()),
        }
        if let Some(o) = tracker.outcome(deadline) {
            return finish(o, tracker, last_error);
        }
    }
    tracker.tick(start.elapsed().max(deadline));
    let outcome = tracker.outcome(deadline).unwrap_or(Outcome::TimedOut { after: deadline, not_ready: tracker.not_ready() });
    finish(outcome, tracker, last_error)
}

/// A timeout while the watch was failing is the watch's error, not a verdict on the components.
fn finish(
    outcome: Outcome,
    tracker: Tracker,
    last_error: [Option<kube::runtime::watcher::Error>; 2],
) -> Result<(Outcome, Tracker), ReadinessError> {
    match (outcome, last_error.into_iter().flatten().next()) {
        (Outcome::TimedOut { .. }, Some(source)) => {
            Err(ReadinessError::Watch { what: "Flux Kustomizations and HelmReleases".to_string(), source })
        }
        (outcome, _) => Ok((outcome, tracker)),
    }
}
