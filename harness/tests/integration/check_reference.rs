//! `check` on the real upstream gitops-linkerd repository (shared/reference).

use crate::common;

use std::process::Command;

use gitops_harness::check::{self, CheckOptions, Severity, codes};
use gitops_harness::crds::CrdCatalog;
use gitops_harness::repo::Repo;

fn report() -> (Repo, check::Report) {
    let root = common::shared_reference().join("gitops-linkerd");
    let repo = Repo::load(&root, Some(std::path::Path::new("clusters/my-cluster"))).expect("load reference repo");
    let crds = CrdCatalog::load_dir(&common::crds_dir()).expect("load CRDs");
    let r = check::run(&repo, &CheckOptions { crds: Some(crds), ..Default::default() });
    (repo, r)
}

#[test]
fn reports_missing_trust_anchor_files() {
    let (_, r) = report();
    let missing = r.with_code(codes::KUSTOMIZE_GENERATOR_FILE_MISSING);
    let files: Vec<String> = missing.iter().map(|f| f.message.clone()).collect();
    assert!(files.iter().any(|m| m.contains("`ca.crt`")), "{files:?}");
    assert!(files.iter().any(|m| m.contains("`ca.key`")), "{files:?}");
    for f in &missing {
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.file, std::path::PathBuf::from("infrastructure/linkerd/kustomization.yaml"));
        assert!(f.line >= 15, "points at the secretGenerator entry, got line {}", f.line);
    }
}

#[test]
fn reports_removed_api_versions_for_current_flux() {
    let (_, r) = report();
    let removed = r.with_code(codes::API_VERSION_REMOVED);
    assert!(removed.iter().any(|f| f.message.contains("kustomize.toolkit.fluxcd.io/v1beta2")), "{removed:?}");
    assert!(removed.iter().any(|f| f.message.contains("helm.toolkit.fluxcd.io/v2beta1")), "{removed:?}");
    assert!(removed.iter().all(|f| f.message.contains("change apiVersion to")));
}

#[test]
fn older_flux_deprecates_instead_of_removing() {
    let root = common::shared_reference().join("gitops-linkerd");
    let repo = Repo::load(&root, None).unwrap();
    let r = check::run(&repo, &CheckOptions { flux_version: Some("2.6".parse().unwrap()), crds: None });
    assert!(r.with_code(codes::API_VERSION_REMOVED).is_empty());
    assert!(r.with_code(codes::API_VERSION_DEPRECATED).len() >= 20);
}

#[test]
fn plan_orders_the_stack() {
    let (_, r) = report();
    let wave = |name: &str| {
        r.plan
            .waves
            .iter()
            .position(|w| w.iter().any(|k| k.kind == "Kustomization" && k.name == name))
            .unwrap_or_else(|| panic!("{name} not in plan {:?}", r.plan.waves_short()))
    };
    assert!(wave("cert-manager") < wave("linkerd"));
    assert!(wave("linkerd") < wave("flagger"));
    assert!(wave("linkerd") < wave("ingress-nginx"));
    assert!(wave("ingress-nginx") < wave("apps"));
    assert!(wave("flagger") < wave("apps"));
    // The nested Kustomizations come after the Kustomization that applies them.
    assert!(wave("flagger") < wave("loadtester"));
    assert!(wave("apps") < wave("faces"));
}

#[test]
fn external_sources_are_reported_not_guessed() {
    let (_, r) = report();
    assert_eq!(r.with_code(codes::SOURCE_EXTERNAL).len(), 2);
    assert_eq!(r.with_code(codes::CANARY_TARGET_EXTERNAL).len(), 4);
    assert!(r.with_code(codes::CANARY_TARGET_MISSING).is_empty());
    // faces (from faces-demo) has no wait: Flux would report the demo ready before it runs.
    let leaves = r.with_code(codes::LEAF_NOT_WAITED);
    assert_eq!(leaves.len(), 1, "{leaves:?}");
    assert!(leaves[0].message.contains("faces/faces"));
}

#[test]
fn cli_exits_1_and_prints_json_shape() {
    let root = common::shared_reference().join("gitops-linkerd");
    let out = Command::new(common::bin())
        .args(["check", root.to_str().unwrap(), "--cluster-dir", "clusters/my-cluster", "--format", "json", "--crds"])
        .arg(common::crds_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["findings"][0];
    for key in ["severity", "code", "message", "file", "line"] {
        assert!(f.get(key).is_some(), "finding lacks {key}: {f}");
    }
    let waves = v["plan"]["waves"].as_array().unwrap();
    let cert_manager = serde_json::json!({"kind": "Kustomization", "namespace": "flux-system", "name": "cert-manager"});
    assert!(waves.iter().any(|w| w.as_array().unwrap().contains(&cert_manager)), "{waves:?}");
    // The kind keeps a Kustomization and a HelmRelease of the same namespace/name apart.
    let hr = serde_json::json!({"kind": "HelmRelease", "namespace": "cert-manager", "name": "cert-manager"});
    assert!(waves.iter().any(|w| w.as_array().unwrap().contains(&hr)), "{waves:?}");
    assert_eq!(v["flux"]["version"], "2.9");
}

/// The workshop's Flagger reads Linkerd viz's Prometheus without the chart's AuthorizationPolicy,
/// and its canaries start load only with the first analysis step.
#[test]
fn flagger_setup_gaps_of_the_workshop_repo() {
    let (repo, r) = report();
    let auth = r.with_code(codes::FLAGGER_LINKERD_AUTH_POLICY);
    assert_eq!(auth.len(), 1, "{auth:?}");
    assert_eq!(auth[0].severity, Severity::Warning);
    assert_eq!(auth[0].file, std::path::PathBuf::from("infrastructure/flagger/release.yaml"));
    assert!(auth[0].message.contains("linkerdAuthPolicy") && auth[0].message.contains("403"), "{}", auth[0].message);
    let cold = gitops_harness::flagger_setup::canaries_without_warmup(&repo);
    assert_eq!(cold.len(), repo.canaries().len(), "none of the workshop's canaries has a pre-rollout load");
}
