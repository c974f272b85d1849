//! Linkerd certificates: generated, parsed back and verified; placed only in the served copy.

use crate::common;

use gitops_harness::certs::{self, TrustAnchor};
use gitops_harness::git::ServedRepo;
use gitops_harness::repo::Repo;
use x509_parser::prelude::*;

fn parse(pem_text: &str) -> Vec<u8> {
    let (_, pem) = parse_x509_pem(pem_text.as_bytes()).expect("PEM");
    pem.contents
}

#[test]
fn trust_anchor_and_issuer_verify() {
    let anchor = TrustAnchor::generate().unwrap();
    let anchor_der = parse(&anchor.pair.cert_pem);
    let (_, root) = X509Certificate::from_der(&anchor_der).unwrap();
    assert_eq!(root.subject().iter_common_name().next().unwrap().as_str().unwrap(), certs::TRUST_ANCHOR_CN);
    assert!(root.is_ca());
    assert_eq!(root.public_key().algorithm.algorithm, x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY);
    let curve = root.public_key().algorithm.parameters.as_ref().unwrap().as_oid().unwrap();
    assert_eq!(curve, x509_parser::oid_registry::OID_EC_P256);
    let ku = root.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    let years = (root.validity().not_after.timestamp() - root.validity().not_before.timestamp()) / (365 * 86400);
    assert!(years >= 9, "anchor valid {years} years");
    root.verify_signature(None).expect("self-signed anchor verifies");

    let issuer = anchor.issue_identity_issuer().unwrap();
    let issuer_der = parse(&issuer.cert_pem);
    let (_, inter) = X509Certificate::from_der(&issuer_der).unwrap();
    assert_eq!(inter.subject().iter_common_name().next().unwrap().as_str().unwrap(), certs::ISSUER_CN);
    assert_eq!(inter.issuer(), root.subject());
    assert!(inter.is_ca());
    assert_eq!(inter.basic_constraints().unwrap().unwrap().value.path_len_constraint, Some(0));
    inter.verify_signature(Some(root.public_key())).expect("issuer signed by the anchor");
    assert!(
        inter
            .verify_signature(Some(
                X509Certificate::from_der(&parse(&TrustAnchor::generate().unwrap().pair.cert_pem)).unwrap().1.public_key()
            ))
            .is_err()
    );
    assert!(issuer.key_pem.contains("PRIVATE KEY"));
}

#[test]
fn upstream_repo_gets_ca_files_in_the_served_copy_only() {
    let src = common::shared_reference().join("gitops-linkerd");
    let tmp = tempfile::tempdir().unwrap();
    let served = ServedRepo::prepare(&src, &tmp.path().join("served")).unwrap();
    let before = served.head().unwrap();
    let model = Repo::load(served.path(), None).unwrap();
    let out = certs::ensure_linkerd_certs(&served, &model, None).unwrap();
    assert_eq!(out.written.len(), 2, "{:?}", out.written);
    assert!(served.path().join("infrastructure/linkerd/ca.crt").is_file());
    assert!(served.path().join("infrastructure/linkerd/ca.key").is_file());
    assert!(!src.join("infrastructure/linkerd/ca.crt").exists(), "the user's repo was written");
    assert_ne!(out.commit.as_deref(), Some(before.as_str()));
    assert!(!out.needs_secret, "the generator creates the Secret");
    // With the files there, the model has no missing-generator finding any more.
    let again = Repo::load(served.path(), None).unwrap();
    assert!(again.issues().is_empty(), "{:?}", again.issues());
}

#[test]
fn fixture_needs_the_secret_created() {
    let tmp = tempfile::tempdir().unwrap();
    let served = ServedRepo::prepare(&common::fixtures().join("gitops-linkerd"), &tmp.path().join("served")).unwrap();
    let model = Repo::load(served.path(), Some(std::path::Path::new("clusters/my-cluster"))).unwrap();
    let out = certs::ensure_linkerd_certs(&served, &model, None).unwrap();
    assert!(out.written.is_empty() && out.commit.is_none());
    assert!(out.needs_secret);
    let secret = certs::trust_anchor_secret(&out.anchor);
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(secret["metadata"]["namespace"], "linkerd");
    assert!(secret["stringData"]["tls.crt"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
}

/// A Secret as the API returns it (`data`, base64).
fn api_secret(name: &str, created: &str, keys: [&str; 2], pair: &certs::CertPair) -> serde_json::Value {
    use base64::Engine as _;
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    serde_json::json!({"metadata": {"name": name, "namespace": "linkerd", "creationTimestamp": created},
        "type": "kubernetes.io/tls", "data": {keys[0]: b(&pair.cert_pem), keys[1]: b(&pair.key_pem)}})
}

/// `up --reuse` keeps the running cluster's trust anchor (issue 12): found under the fixture's
/// name or a secretGenerator's hashed one, and used for the Secret and the generator's files.
#[test]
fn reuse_keeps_the_running_clusters_anchor() {
    let running = TrustAnchor::generate().unwrap().pair;
    let older = TrustAnchor::generate().unwrap().pair;
    let other = TrustAnchor::generate().unwrap().pair;
    // The fixture's Secret, created by the bootstrap.
    let found = certs::anchor_from_secrets(&[
        api_secret("linkerd-identity-issuer", "2026-01-02T00:00:00Z", ["tls.crt", "tls.key"], &other),
        api_secret("linkerd-trust-anchor", "2026-01-01T00:00:00Z", ["tls.crt", "tls.key"], &running),
    ])
    .unwrap();
    assert_eq!(found.cert_pem, running.cert_pem);
    // Upstream's secretGenerator: hashed names; the newest is the one in use.
    let found = certs::anchor_from_secrets(&[
        api_secret("linkerd-trust-anchor-5g2hk8mt4b", "2026-01-01T00:00:00Z", ["tls.crt", "tls.key"], &older),
        api_secret("linkerd-trust-anchor-7c9f2b6d8m", "2026-02-01T00:00:00Z", ["tls.crt", "tls.key"], &running),
    ])
    .unwrap();
    assert_eq!(found.cert_pem, running.cert_pem);
    assert!(certs::anchor_from_secrets(&[api_secret("linkerd-identity-issuer", "x", ["tls.crt", "tls.key"], &other)]).is_none());

    // The fixture: the Secret the bootstrap applies is the running anchor.
    let tmp = tempfile::tempdir().unwrap();
    let served = ServedRepo::prepare(&common::fixtures().join("gitops-linkerd"), &tmp.path().join("served")).unwrap();
    let model = Repo::load(served.path(), Some(std::path::Path::new("clusters/my-cluster"))).unwrap();
    let out = certs::ensure_linkerd_certs(&served, &model, Some(running.clone())).unwrap();
    assert_eq!(certs::trust_anchor_secret(&out.anchor)["stringData"]["tls.crt"], running.cert_pem.as_str());
    // Upstream: the generator's files are the running anchor, so its hashed name does not change.
    let served = ServedRepo::prepare(&common::shared_reference().join("gitops-linkerd"), &tmp.path().join("up")).unwrap();
    let model = Repo::load(served.path(), None).unwrap();
    certs::ensure_linkerd_certs(&served, &model, Some(running.clone())).unwrap();
    assert_eq!(std::fs::read_to_string(served.path().join("infrastructure/linkerd/ca.crt")).unwrap(), running.cert_pem);
    assert_eq!(std::fs::read_to_string(served.path().join("infrastructure/linkerd/ca.key")).unwrap(), running.key_pem);
}
