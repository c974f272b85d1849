//! Canary observer + assertions on the recorded sequences in fixtures/recorded/canary.

use std::path::{Path, PathBuf};

use chrono::Duration;
use gitops_harness::flagger::canary::assert::{
    AbExpectation, CanaryExpectation, RollbackExpectation, assert_ab_promotes, assert_fails_and_rolls_back, assert_promotes,
};
use gitops_harness::flagger::canary::replay::{load, replay, replay_file};
use gitops_harness::flagger::canary::{CanaryError, Phase, RoutingKind, Timeline};

fn recording(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/canary").join(name)
}

fn timeline(file: &str, name: &str) -> Timeline {
    replay_file(&recording(file), "faces", name, "linkerd", Some(Duration::minutes(10))).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn face_canary(file: &str) -> serde_json::Value {
    load(&recording(file)).unwrap().into_iter().find(|o| o["kind"] == "Canary").unwrap()
}

#[test]
fn smi_promotion_with_quantity_weights() {
    // Flagger's SMI v1alpha1 router writes weights as quantity strings.
    let raw = std::fs::read_to_string(recording("face-promotes-smi.jsonl")).unwrap();
    assert!(raw.contains(r#""apiVersion":"split.smi-spec.io/v1alpha1""#) && raw.contains(r#""weight":"95""#));
    let t = timeline("face-promotes-smi.jsonl", "face");
    assert_eq!(t.routing, RoutingKind::Smi);
    let mut exp = CanaryExpectation::from_canary(&face_canary("face-promotes-smi.jsonl"));
    assert_eq!((exp.step_weight, exp.max_weight), (5.0, 50.0));
    exp.new_image = Some("dwflynn/faces-service:0.8.1".into());
    assert_promotes(&t, &exp).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.last().unwrap().phase, Phase::Succeeded);
}

#[test]
fn smi_failure_rolls_back() {
    let t = timeline("face-fails-smi.jsonl", "face");
    let mut exp = RollbackExpectation::from_canary(&face_canary("face-fails-smi.jsonl"));
    assert_eq!(exp.threshold, 3);
    exp.old_image = Some("dwflynn/faces-service:0.8.0".into());
    exp.old_env = Some(("ERROR_FRACTION".into(), "0".into()));
    assert_fails_and_rolls_back(&t, &exp).unwrap_or_else(|e| panic!("{e}"));
    // A failed canary is not a promotion: the assertion says why, with the timeline.
    let err = assert_promotes(&t, &CanaryExpectation { step_weight: 5.0, max_weight: 50.0, ..Default::default() }).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("routed canary weights did not follow the analysis steps"), "{msg}");
    assert!(msg.contains("expected: routed canary weight [5, 10, 15, 20, 25, 30, 35, 40, 45, 50] (stepWeight 5, maxWeight 50)"), "{msg}");
    assert!(msg.contains("seen:     routed canary weight [5, 10] (TrafficSplit)"), "{msg}");
}

/// Flagger's status climbs every step, but the TrafficSplit skipped one (its 25% version was never
/// written): the weights are read from the routing object, so the promotion assertion fails.
#[test]
fn a_step_missing_from_the_routing_object_fails_the_promotion() {
    let objs = load(&recording("face-promotes-smi.jsonl")).unwrap();
    let canary_share = |o: &serde_json::Value| {
        o["spec"]["backends"].as_array().and_then(|bs| {
            bs.iter()
                .find(|b| b["service"] == "face-canary")
                .map(|b| b["weight"].as_str().map(str::to_string).unwrap_or(b["weight"].to_string()))
        })
    };
    let before = objs.iter().filter(|o| o["kind"] == "TrafficSplit" && canary_share(o).as_deref() == Some("25")).count();
    assert!(before > 0, "the recording has a TrafficSplit at 25% to the canary");
    let skipped: Vec<serde_json::Value> =
        objs.into_iter().filter(|o| !(o["kind"] == "TrafficSplit" && canary_share(o).as_deref() == Some("25"))).collect();
    let t = replay(&skipped, "faces", "face", "linkerd", Some(Duration::minutes(10))).unwrap();
    // Flagger's own status still has every step.
    let status: Vec<f64> = t.rows.iter().map(|r| r.canary_weight).filter(|w| *w > 0.0).collect();
    assert!(status.contains(&25.0), "{}", t.table());
    let exp = CanaryExpectation::from_canary(&face_canary("face-promotes-smi.jsonl"));
    let msg = assert_promotes(&t, &exp).unwrap_err().to_string();
    assert!(msg.contains("seen:     routed canary weight [5, 10, 15, 20, 30, 35, 40, 45, 50] (TrafficSplit)"), "{msg}");
}

/// The expected steps are Flagger's: stepWeight past maxWeight overshoots it (Flagger does not
/// clip to maxWeight), and stepWeights are followed as listed, capped at 100.
#[test]
fn expected_steps_follow_flaggers_scheduler() {
    let exp = |v: serde_json::Value| CanaryExpectation::from_canary(&serde_json::json!({"spec": {"analysis": v}}));
    assert_eq!(exp(serde_json::json!({"stepWeight": 5, "maxWeight": 20})).expected_weights(), vec![5.0, 10.0, 15.0, 20.0]);
    assert_eq!(exp(serde_json::json!({"stepWeight": 15, "maxWeight": 50})).expected_weights(), vec![15.0, 30.0, 45.0, 60.0]);
    assert_eq!(exp(serde_json::json!({"stepWeight": 30})).expected_weights(), vec![30.0, 60.0, 90.0, 100.0]);
    assert_eq!(exp(serde_json::json!({"stepWeights": [1, 2, 10, 80]})).expected_weights(), vec![1.0, 2.0, 10.0, 80.0]);
    assert_eq!(exp(serde_json::json!({"stepWeights": [20, 200]})).expected_weights(), vec![20.0, 100.0]);
    // As in Flagger: stepWeight wins over stepWeights for the step, but the last of stepWeights
    // is the maximum whenever they are set.
    assert_eq!(exp(serde_json::json!({"stepWeight": 25, "maxWeight": 50, "stepWeights": [1, 2]})).expected_weights(), vec![25.0]);
    assert_eq!(
        exp(serde_json::json!({"stepWeight": 25, "maxWeight": 50, "stepWeights": [1, 60]})).expected_weights(),
        vec![25.0, 50.0, 75.0]
    );
    assert!(exp(serde_json::json!({})).expected_weights().is_empty());
}

#[test]
fn gateway_api_promotion_of_an_env_change() {
    let t = timeline("face-promotes-gatewayapi.jsonl", "face");
    assert_eq!(t.routing, RoutingKind::GatewayApi { version: Some("v1beta1".into()) });
    let mut exp = CanaryExpectation::from_canary(&face_canary("face-promotes-gatewayapi.jsonl"));
    exp.new_env = Some(("ERROR_FRACTION".into(), "20".into()));
    exp.new_image = Some("dwflynn/faces-service:0.8.0".into());
    assert_promotes(&t, &exp).unwrap_or_else(|e| panic!("{e}"));
    // Routed weights came from backendRefs: 95/5 at the first step.
    assert!(t.rows.iter().any(|r| r.routed.as_ref().map(|x| x.primary == 95.0 && x.canary == 5.0).unwrap_or(false)), "{}", t.table());
}

#[test]
fn nginx_ab_test_routes_by_header() {
    let t = timeline("faces-gui-abtest-nginx.jsonl", "faces-gui");
    assert_eq!(t.routing, RoutingKind::Nginx { ingress: "faces-gui".into() });
    let exp = AbExpectation {
        header: "x-faces-user=testuser".into(),
        iterations: 10,
        new_image: None,
        new_env: Some(("COLOR".into(), "lightcyan".into())),
    };
    assert_ab_promotes(&t, &exp).unwrap_or_else(|e| panic!("{e}"));
    let wrong = AbExpectation { header: "x-faces-user=admin".into(), ..exp };
    let msg = assert_ab_promotes(&t, &wrong).unwrap_err().to_string();
    assert!(msg.contains("requests with x-faces-user=admin routed to the canary") && msg.contains("x-faces-user=testuser→canary"), "{msg}");
}

#[test]
fn failing_assertion_shows_expected_seen_and_the_timeline() {
    let t = timeline("face-promotes-smi.jsonl", "face");
    let err = assert_fails_and_rolls_back(&t, &RollbackExpectation { threshold: 3, ..Default::default() }).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("canary faces/face: failedChecks never reached the threshold\n"), "{msg}");
    assert!(msg.contains("  expected: status.failedChecks reaching 3\n"), "{msg}");
    assert!(msg.contains("  seen:     status.failedChecks 0\n"), "{msg}");
    assert!(msg.contains("timeline:\ncanary faces/face (routing: TrafficSplit)\n"), "{msg}");
    for needle in
        ["phase", "weight", "routed p/c", "Progressing", "Promoting", "Finalising", "Succeeded", "50/50", "dwflynn/faces-service:0.8.1"]
    {
        assert!(msg.contains(needle), "missing {needle:?} in:\n{msg}");
    }
    // The promotion itself, with the wrong image expectation: expected vs seen image.
    let exp = CanaryExpectation {
        step_weight: 5.0,
        max_weight: 50.0,
        new_image: Some("dwflynn/faces-service:9.9.9".into()),
        ..Default::default()
    };
    let msg = assert_promotes(&t, &exp).unwrap_err().to_string();
    assert!(
        msg.contains("expected: primary image dwflynn/faces-service:9.9.9")
            && msg.contains("seen:     primary image dwflynn/faces-service:0.8.1"),
        "{msg}"
    );
    // Wrong step weight.
    let exp = CanaryExpectation { step_weight: 10.0, max_weight: 50.0, ..Default::default() };
    let msg = assert_promotes(&t, &exp).unwrap_err().to_string();
    assert!(msg.contains("[10, 20, 30, 40, 50]") && msg.contains("seen:     routed canary weight [5, 10, 15"), "{msg}");
}

#[test]
fn our_deadline_reports_the_last_state() {
    let objs = load(&recording("face-promotes-smi.jsonl")).unwrap();
    let err = replay(&objs, "faces", "face", "linkerd", Some(Duration::seconds(120))).unwrap_err();
    let CanaryError::Timeout { waited_s, ref last, ref timeline, .. } = err else { panic!("expected a timeout, got {err}") };
    assert_eq!(waited_s, 120);
    assert!(last.starts_with("phase=Progressing canaryWeight=20 "), "{last}");
    eprintln!("{err}");
    assert!(timeline.contains("Progressing"), "{timeline}");
    let msg = err.to_string();
    assert!(msg.contains("within our deadline of 120s") && msg.contains("progressDeadlineSeconds is not relied on"), "{msg}");
}

#[test]
fn a_recording_that_stops_early_is_incomplete() {
    let objs = load(&recording("face-fails-smi.jsonl")).unwrap();
    let err = replay(&objs[..6], "faces", "face", "linkerd", None).unwrap_err();
    assert!(matches!(err, CanaryError::Incomplete { .. }), "{err}");
    assert!(err.to_string().contains("last state: phase=Progressing"), "{err}");
    // Before any new rollout, the previous Succeeded state is not a finished rollout.
    let err = replay(&objs[..3], "faces", "face", "linkerd", None).unwrap_err();
    assert!(err.to_string().contains("phase=Succeeded"), "{err}");
}

#[test]
fn unrelated_objects_are_ignored_and_bad_lines_are_named() {
    let mut objs = load(&recording("face-fails-smi.jsonl")).unwrap();
    let mut other = objs[0].clone();
    other["metadata"]["name"] = "smiley".into();
    objs.insert(1, other);
    let t = replay(&objs, "faces", "face", "linkerd", None).unwrap();
    assert!(t.rows.iter().all(|r| r.phase != Phase::Other("x".into())));
    assert_fails_and_rolls_back(&t, &RollbackExpectation { threshold: 3, ..Default::default() }).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.jsonl");
    std::fs::write(&p, "{\"kind\":\"Canary\"}\n\nnot json\n").unwrap();
    let err = load(&p).unwrap_err().to_string();
    assert!(err.contains("bad.jsonl:3: not a JSON object"), "{err}");
}

#[test]
fn routing_reset_arriving_after_the_terminal_phase_still_counts() {
    // Separate watches may deliver Flagger's routing reset after its `Failed` status write.
    let mut objs = load(&recording("face-fails-smi.jsonl")).unwrap();
    let n = objs.len();
    assert_eq!((objs[n - 2]["kind"].as_str(), objs[n - 1]["kind"].as_str()), (Some("TrafficSplit"), Some("Canary")));
    objs.swap(n - 2, n - 1);
    let t = replay(&objs, "faces", "face", "linkerd", None).unwrap();
    assert_fails_and_rolls_back(&t, &RollbackExpectation { threshold: 3, ..Default::default() }).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn ab_test_window_opens_when_the_header_route_is_set() {
    use gitops_harness::flagger::canary::live::header_route_active;
    use gitops_harness::flagger::canary::replay::replay_until;
    let objs = load(&recording("faces-gui-abtest-nginx.jsonl")).unwrap();
    let t = replay_until(&objs, "faces", "faces-gui", "linkerd", None, header_route_active).unwrap();
    let last = t.last().unwrap();
    assert_eq!(last.phase, Phase::Progressing);
    assert_eq!(last.routed.as_ref().unwrap().header_match.as_deref(), Some("x-faces-user=testuser"));
    assert!(last.iterations <= 1, "stopped at the start of the analysis: {}", t.table());
    // Before the rollout there is no window.
    assert!(replay_until(&objs[..3], "faces", "faces-gui", "linkerd", None, header_route_active).is_err());
}
