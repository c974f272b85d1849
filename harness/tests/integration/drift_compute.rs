//! Drift computation on real rendered manifests (kubectl kustomize of the fixture repo's
//! apps/faces) vs recorded live objects (fixtures/recorded/drift/<scenario>).

use crate::common;

use std::path::{Path, PathBuf};

use gitops_harness::scenarios::drift::{DriftKind, DriftReport, compute};
use gitops_harness::scenarios::yaml_edit::{ContainerSel, DocSelector, YamlEditor, parse_all};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/recorded/drift")
}

fn jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p).unwrap().lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn rendered_text() -> String {
    std::fs::read_to_string(dir().join("rendered-faces.yaml")).unwrap()
}

fn rendered(text: &str) -> Vec<Value> {
    parse_all(Path::new("rendered-faces.yaml"), text).unwrap().into_iter().filter(|v| !v.is_null()).collect()
}

fn run(scenario: &str, rendered: &[Value]) -> DriftReport {
    let d = dir().join(scenario);
    let head = std::fs::read_to_string(d.join("head")).unwrap();
    compute(rendered, &jsonl(&d.join("live.jsonl")), &jsonl(&d.join("kustomizations.jsonl")), head.trim())
}

type Summary = (DriftKind, String, Option<String>, Option<String>, Option<String>);

fn summary(r: &DriftReport) -> Vec<Summary> {
    r.items.iter().map(|i| (i.kind, i.object.clone(), i.field.clone(), i.git.clone(), i.live.clone())).collect()
}

#[test]
fn clean_cluster_has_no_drift() {
    let r = run("clean", &rendered(&rendered_text()));
    assert!(r.items.is_empty(), "{}", r.table());
    assert_eq!((r.exit().code(), r.objects_checked, r.kustomizations_checked), (0, 14, 1));
    assert!(r.table().starts_with("no drift: 14 objects and 1 Kustomizations match git"));
}

#[test]
fn after_failed_canary_reports_rollback_drift() {
    // git: ERROR_FRACTION 75 on face (the workshop's failing change), edited like the harness does.
    let mut ed = YamlEditor::new("rendered-faces.yaml", rendered_text());
    ed.set_env(&DocSelector::object("Deployment", "face"), &ContainerSel::Name("face".into()), "ERROR_FRACTION", "75").unwrap();
    let r = run("after-failed-canary", &rendered(ed.text()));
    assert_eq!(
        summary(&r),
        vec![(
            DriftKind::Rollback,
            "Deployment faces/face-primary".to_string(),
            Some("spec.template.spec.containers[name=face].env[name=ERROR_FRACTION].value".to_string()),
            Some("75".to_string()),
            Some("0".to_string()),
        )],
        "{}",
        r.table()
    );
    assert_eq!(r.exit().code(), 1);
    assert!(r.items[0].message.contains("Canary faces/face failed and was rolled back"), "{}", r.items[0].message);
    let table = r.table();
    assert!(
        table.contains(
            "rollback  Deployment faces/face-primary  spec.template.spec.containers[name=face].env[name=ERROR_FRACTION].value  75   0"
        ),
        "{table}"
    );
}

#[test]
fn manual_edits_are_reported_per_field() {
    let r = run("manual-edit", &rendered(&rendered_text()));
    assert_eq!(
        summary(&r),
        vec![
            (
                DriftKind::Edit,
                "Ingress faces/faces-gui".to_string(),
                Some("spec.rules[0].host".to_string()),
                Some("faces.localhost".to_string()),
                Some("faces.example.com".to_string())
            ),
            (
                DriftKind::Edit,
                "Namespace faces".to_string(),
                Some("metadata.annotations.linkerd.io/inject".to_string()),
                Some("enabled".to_string()),
                Some("disabled".to_string())
            ),
        ],
        "{}",
        r.table()
    );
    let json = r.to_json();
    assert_eq!(json["drift"], true);
    assert_eq!(json["items"][0]["kind"], "edit");
    assert_eq!(json["items"][1]["field"], "metadata.annotations.linkerd.io/inject");
}

#[test]
fn kustomization_behind_head_and_suspended() {
    let r = run("behind-head", &rendered(&rendered_text()));
    assert_eq!(r.items.len(), 1, "{}", r.table());
    let i = &r.items[0];
    assert_eq!(i.kind, DriftKind::Revision);
    assert_eq!(i.object, "Kustomization flux-system/apps");
    assert_eq!(i.live.as_deref(), Some("main@sha1:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"));
    assert!(i.message.contains("applying the head failed: Deployment/faces/face dry-run failed"), "{}", i.message);

    let r = run("suspended", &rendered(&rendered_text()));
    assert_eq!(summary(&r).iter().map(|s| s.0).collect::<Vec<_>>(), vec![DriftKind::Suspended], "{}", r.table());
    assert!(r.items[0].message.contains("flux resume kustomization apps -n flux-system"));
}

#[test]
fn deleted_object_is_missing_once() {
    let r = run("missing", &rendered(&rendered_text()));
    assert_eq!(
        summary(&r),
        vec![(DriftKind::Missing, "Deployment faces/color".to_string(), None, Some("declared".to_string()), None)],
        "{}",
        r.table()
    );
    // Without rendered manifests (e.g. git unreadable), the inventory still finds it.
    let r = run("missing", &[]);
    assert_eq!(r.items.len(), 1);
    assert!(r.items[0].git.as_deref().unwrap().contains("inventory of Kustomization flux-system/apps"));
}

#[test]
fn in_progress_rollout_is_not_drift() {
    let mut ed = YamlEditor::new("rendered-faces.yaml", rendered_text());
    ed.set_env(&DocSelector::object("Deployment", "face"), &ContainerSel::Name("face".into()), "ERROR_FRACTION", "75").unwrap();
    let d = dir().join("after-failed-canary");
    let mut live = jsonl(&d.join("live.jsonl"));
    for o in &mut live {
        if o["kind"] == "Canary" && o["metadata"]["name"] == "face" {
            o["status"]["phase"] = "Progressing".into();
        }
    }
    let r = compute(
        &rendered(ed.text()),
        &live,
        &jsonl(&d.join("kustomizations.jsonl")),
        std::fs::read_to_string(d.join("head")).unwrap().trim(),
    );
    assert_eq!(r.items.iter().map(|i| i.kind).collect::<Vec<_>>(), vec![DriftKind::RolloutInProgress]);
    assert_eq!(r.exit().code(), 0);
}

#[test]
fn recorded_kustomizations_match_the_crd() {
    let cat = gitops_harness::crds::CrdCatalog::load_dir(&common::crds_dir()).unwrap();
    for scenario in ["clean", "after-failed-canary", "manual-edit", "behind-head", "suspended", "missing"] {
        for path in ["kustomizations.jsonl", "live.jsonl"] {
            for o in jsonl(&dir().join(scenario).join(path)) {
                if let Some(errors) = cat.validate(&o) {
                    assert!(errors.is_empty(), "{scenario}/{path}: {} {}: {errors:?}", o["kind"], o["metadata"]["name"]);
                }
            }
        }
    }
}
