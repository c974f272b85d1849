//! Linkerd certificates, generated in Rust: the trust anchor (root CA) and the identity issuer.
//!
//! Repos like gitops-linkerd expect the anchor as files (`ca.crt`/`ca.key` in a kustomize
//! `secretGenerator`) or as a Secret created out of band. The harness generates it when missing,
//! into its served copy or the cluster only: never into the user's repo.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256};
use serde_json::Value;

use crate::git::{GitError, ServedRepo};
use crate::repo::Repo;

/// Common name of Linkerd's trust anchor.
pub const TRUST_ANCHOR_CN: &str = "root.linkerd.cluster.local";
/// Common name of Linkerd's identity issuer.
pub const ISSUER_CN: &str = "identity.linkerd.cluster.local";
/// Name of the trust anchor Secret (namespace `linkerd`).
pub const TRUST_ANCHOR_SECRET: &str = "linkerd-trust-anchor";

/// Errors generating or placing certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen failed.
    #[error("generating the {what}: {source}")]
    Generate {
        /// Which certificate.
        what: &'static str,
        /// Cause.
        source: rcgen::Error,
    },
    /// Writing into the served copy failed.
    #[error(transparent)]
    Served(#[from] GitError),
    /// The running cluster's trust anchor could not be read (`up --reuse`).
    #[error(
        "reading the Linkerd trust anchor of the running cluster (Secrets in namespace linkerd): {source}; without it a new anchor would break mTLS for every meshed pod, so nothing was applied; check the cluster answers (`kubectl get secrets -n linkerd`) and retry"
    )]
    ReadAnchor {
        /// Cause.
        source: kube::Error,
    },
}

/// A certificate and its private key, PEM encoded.
#[derive(Debug, Clone)]
pub struct CertPair {
    /// Certificate PEM.
    pub cert_pem: String,
    /// PKCS#8 private key PEM.
    pub key_pem: String,
}

/// Linkerd's trust anchor: a self-signed ECDSA P-256 root CA.
pub struct TrustAnchor {
    params: CertificateParams,
    key: KeyPair,
    /// The anchor's certificate and key.
    pub pair: CertPair,
}

impl std::fmt::Debug for TrustAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchor").field("cert_pem", &self.pair.cert_pem).finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    // Backdate a little: clocks of a fresh cluster node may lag the host's.
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(days);
}

impl TrustAnchor {
    /// A new anchor valid for ten years.
    pub fn generate() -> Result<TrustAnchor, CertError> {
        TrustAnchor::generate_valid_for(3650)
    }

    /// A new anchor valid for `days`.
    pub fn generate_valid_for(days: i64) -> Result<TrustAnchor, CertError> {
        let err = |source| CertError::Generate { what: "Linkerd trust anchor", source };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, TRUST_ANCHOR_CN);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        validity(&mut params, days);
        let cert = params.self_signed(&key).map_err(err)?;
        let pair = CertPair { cert_pem: cert.pem(), key_pem: key.serialize_pem() };
        Ok(TrustAnchor { params, key, pair })
    }

    /// An identity issuer (intermediate CA, path length 0) signed by this anchor, valid one year.
    pub fn issue_identity_issuer(&self) -> Result<CertPair, CertError> {
        let err = |source| CertError::Generate { what: "Linkerd identity issuer", source };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err)?;
        let mut params = CertificateParams::new(vec![ISSUER_CN.to_string()]).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, ISSUER_CN);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        validity(&mut params, 365);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(err)?;
        Ok(CertPair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

/// The trust anchor as the `kubernetes.io/tls` Secret cert-manager's Issuer and the control
/// plane's `valuesFrom` read.
pub fn trust_anchor_secret(anchor: &CertPair) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": TRUST_ANCHOR_SECRET,
            "namespace": "linkerd",
            "labels": {"app.kubernetes.io/managed-by": "gitops-harness"},
        },
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": anchor.cert_pem, "tls.key": anchor.key_pem, "ca.crt": anchor.cert_pem},
    })
}

/// What [`ensure_linkerd_certs`] did.
#[derive(Debug)]
pub struct CertOutcome {
    /// The anchor generated for this bootstrap.
    pub anchor: CertPair,
    /// Files written into the served copy (relative), for secretGenerators that read them.
    pub written: Vec<PathBuf>,
    /// The commit that added them, if any.
    pub commit: Option<String>,
    /// Whether the repo reads a `linkerd-trust-anchor` Secret nothing in it creates, so the
    /// bootstrap must create it.
    pub needs_secret: bool,
}

/// The trust anchor among Secrets of namespace `linkerd` as the API returns them: the one named
/// `linkerd-trust-anchor`, else the newest `linkerd-trust-anchor-<hash>` (a kustomize
/// secretGenerator's name), read from `tls.crt`/`tls.key` (or `ca.crt`/`ca.key`).
pub fn anchor_from_secrets(secrets: &[Value]) -> Option<CertPair> {
    use base64::Engine as _;
    let name = |s: &Value| s.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let hashed =
        |n: &str| n.strip_prefix(TRUST_ANCHOR_SECRET).and_then(|r| r.strip_prefix('-')).is_some_and(|h| !h.is_empty() && !h.contains('-'));
    let mut candidates: Vec<&Value> = secrets.iter().filter(|s| name(s) == TRUST_ANCHOR_SECRET || hashed(&name(s))).collect();
    // Exact name first, then the newest generated one (RFC 3339 times sort as text).
    candidates.sort_by_key(|s| {
        (
            name(s) != TRUST_ANCHOR_SECRET,
            std::cmp::Reverse(s.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or("").to_string()),
        )
    });
    candidates.into_iter().find_map(|s| {
        let field = |keys: [&str; 2]| {
            keys.iter().find_map(|k| {
                let b64 = s.get("data")?.get(*k)?.as_str()?;
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).ok()?).ok()
            })
        };
        let pair = CertPair { cert_pem: field(["tls.crt", "ca.crt"])?, key_pem: field(["tls.key", "ca.key"])? };
        (pair.cert_pem.contains("BEGIN CERTIFICATE") && pair.key_pem.contains("PRIVATE KEY")).then_some(pair)
    })
}

/// The trust anchor the running cluster's Linkerd uses, if it has one ([`anchor_from_secrets`]).
pub async fn read_cluster_anchor(client: &kube::Client) -> Result<Option<CertPair>, CertError> {
    use k8s_openapi::api::core::v1::Secret;
    let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), "linkerd");
    match api.list(&Default::default()).await {
        Ok(list) => Ok(anchor_from_secrets(&list.items.iter().filter_map(|s| serde_json::to_value(s).ok()).collect::<Vec<_>>())),
        // No namespace yet, or no Linkerd: nothing to keep.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
        Err(source) => Err(CertError::ReadAnchor { source }),
    }
}

/// Give the repo the Linkerd trust anchor it expects: write `ca.crt`/`ca.key` into the served
/// copy for secretGenerators that read missing files (and commit), and say whether the Secret
/// must be created in the cluster instead. `repo` is the model of the served copy. `keep` is the
/// anchor of a running cluster (`up --reuse`): it is used instead of a new one, since a new
/// anchor would break mTLS between every meshed pod and the identity service.
pub fn ensure_linkerd_certs(served: &ServedRepo, repo: &Repo, keep: Option<CertPair>) -> Result<CertOutcome, CertError> {
    let anchor = match keep {
        Some(pair) => pair,
        None => TrustAnchor::generate()?.pair,
    };
    let mut written = Vec::new();
    let mut generated_secret = false;
    for kf in repo.kustomize_files() {
        let Some(gens) = kf.doc.value.get("secretGenerator").and_then(Value::as_array) else { continue };
        for g in gens {
            let name = g.get("name").and_then(Value::as_str).unwrap_or("");
            let files: Vec<&str> =
                g.get("files").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            for f in files {
                let (key, path) = f.split_once('=').unwrap_or((f, f));
                let contents = match (key, path) {
                    (_, p) if p.ends_with("ca.crt") => &anchor.cert_pem,
                    (_, p) if p.ends_with("ca.key") => &anchor.key_pem,
                    _ => continue,
                };
                if name == TRUST_ANCHOR_SECRET {
                    generated_secret = true;
                }
                let rel = kf.dir.join(path);
                if !served.path().join(&rel).exists() {
                    served.write_file(&rel, contents.as_bytes())?;
                    written.push(rel);
                }
            }
        }
    }
    let commit = if written.is_empty() {
        None
    } else {
        Some(served.commit_all("gitops-harness: generate the Linkerd trust anchor (served copy only)")?)
    };
    let reads_secret = repo.objects().iter().any(|o| {
        let t = &o.doc.text;
        t.contains(TRUST_ANCHOR_SECRET) && (o.key.kind == "HelmRelease" || o.key.kind == "Issuer")
    });
    let creates_secret = generated_secret || repo.objects().iter().any(|o| o.key.kind == "Secret" && o.key.name == TRUST_ANCHOR_SECRET);
    Ok(CertOutcome { anchor, written, commit, needs_secret: reads_secret && !creates_secret })
}
