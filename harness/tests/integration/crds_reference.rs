//! The CRD catalog against the real upstream CRDs, and the Flux API table against them.

use crate::common;

use gitops_harness::crds::CrdCatalog;
use gitops_harness::flux_versions::{self, ApiStatus};

#[test]
fn loads_every_reference_crd() {
    let cat = CrdCatalog::load_dir(&common::crds_dir()).unwrap();
    for (g, k) in [
        ("kustomize.toolkit.fluxcd.io", "Kustomization"),
        ("helm.toolkit.fluxcd.io", "HelmRelease"),
        ("source.toolkit.fluxcd.io", "GitRepository"),
        ("source.toolkit.fluxcd.io", "OCIRepository"),
        ("source.toolkit.fluxcd.io", "HelmRepository"),
        ("source.toolkit.fluxcd.io", "Bucket"),
        ("flagger.app", "Canary"),
        ("split.smi-spec.io", "TrafficSplit"),
        ("gateway.networking.k8s.io", "HTTPRoute"),
    ] {
        let crd = cat.get(g, k).unwrap_or_else(|| panic!("{g}/{k} missing"));
        assert!(!crd.served().is_empty(), "{g}/{k} serves nothing");
    }
}

#[test]
fn newest_flux_table_agrees_with_the_crds() {
    let cat = CrdCatalog::load_dir(&common::crds_dir()).unwrap();
    for crd in cat.iter().filter(|c| c.group.ends_with("toolkit.fluxcd.io")) {
        for v in &crd.versions {
            let api = format!("{}/{}", crd.group, v.name);
            let st = flux_versions::status(&api, &crd.kind, flux_versions::LATEST);
            assert!(
                !matches!(st, ApiStatus::Removed { .. }) || !v.served,
                "{api} {} is served by the reference CRD but the table says removed in Flux {}",
                crd.kind,
                flux_versions::LATEST
            );
        }
        // Every version the table calls removed is indeed not served.
        for removed in ["v1beta1", "v1beta2", "v2beta1", "v2beta2"] {
            let api = format!("{}/{removed}", crd.group);
            if matches!(flux_versions::status(&api, &crd.kind, flux_versions::LATEST), ApiStatus::Removed { .. }) {
                assert!(crd.version(removed).map(|v| !v.served).unwrap_or(true), "{api} {} still served", crd.kind);
            }
        }
    }
}

#[test]
fn schema_validation_catches_wrong_types_and_accepts_good_objects() {
    let cat = CrdCatalog::load_dir(&common::crds_dir()).unwrap();
    let good = serde_json::json!({"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"a"},
        "spec":{"interval":"10m","prune":true,"sourceRef":{"kind":"GitRepository","name":"flux-system"}}});
    assert_eq!(cat.validate(&good), Some(vec![]));
    let mut bad = good.clone();
    bad["spec"]["prune"] = serde_json::json!("yes");
    let errs = cat.validate(&bad).unwrap();
    assert!(errs.iter().any(|e| e.contains("/spec/prune")), "{errs:?}");
    let mut missing = good.clone();
    missing["spec"].as_object_mut().unwrap().remove("sourceRef");
    assert!(!cat.validate(&missing).unwrap().is_empty());
}

/// The TrafficSplit CRD sim installs is the one linkerd-smi's chart installs: same versions
/// (served, storage), same schemas (weight int-or-string in v1alpha1, number in v1alpha2, the same
/// required fields, nothing more preserved), same names, scope and conversion. Descriptions and
/// labels are left out of the comparison (text, not shape).
#[test]
fn sim_traffic_split_crd_is_linkerd_smis() {
    let path = common::shared_reference().join("charts/linkerd-smi/templates/trafficsplit-crd.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // A chart template: lines with template actions are dropped (this one has none today).
    let plain: String = text.lines().filter(|l| !l.contains("{{")).map(|l| format!("{l}\n")).collect();
    let upstream: serde_json::Value = serde_norway::from_str(&plain).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ours = gitops_harness::cluster::sim::flagger::traffic_split_crd();

    fn strip(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                m.iter().filter(|(k, _)| k.as_str() != "description").map(|(k, v)| (k.clone(), strip(v))).collect()
            }
            serde_json::Value::Array(a) => a.iter().map(strip).collect(),
            other => other.clone(),
        }
    }
    let versions = |crd: &serde_json::Value| -> Vec<(String, bool, bool)> {
        crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap().to_string(), v["served"] == true, v["storage"] == true))
            .collect()
    };
    assert_eq!(versions(&ours), versions(&upstream), "versions (name, served, storage)");
    assert_eq!(versions(&upstream), vec![("v1alpha1".into(), true, true), ("v1alpha2".into(), true, false)]);
    for (i, v) in upstream["spec"]["versions"].as_array().unwrap().iter().enumerate() {
        let name = v["name"].as_str().unwrap();
        let weight = "/schema/openAPIV3Schema/properties/spec/properties/backends/items/properties/weight";
        assert_eq!(
            strip(&ours["spec"]["versions"][i].pointer(weight).cloned().unwrap_or_default()),
            strip(&v.pointer(weight).cloned().unwrap()),
            "{name} weight type"
        );
        assert_eq!(strip(&ours["spec"]["versions"][i]), strip(v), "{name}: schema and printer columns");
    }
    assert_eq!(strip(&ours["spec"]), strip(&upstream["spec"]), "the whole spec");
    assert_eq!(ours["metadata"]["name"], upstream["metadata"]["name"]);
}
