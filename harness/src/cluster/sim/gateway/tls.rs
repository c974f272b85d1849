//! The gateway's per-cluster CA: HTTPS hosts reached through `CONNECT` are answered with a
//! certificate for that host signed by it, and the sim's processes trust it through
//! `SSL_CERT_FILE` (Go reads extra roots from there), so no URL in git needs rewriting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The CA certificate's file name in the CA directory (what `SSL_CERT_FILE` points at).
pub const CA_CERT: &str = "ca.crt";
/// The CA key's file name (mode 0600).
pub const CA_KEY: &str = "ca.key";

/// Errors of the gateway CA.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// rcgen.
    #[error("gateway certificate for {what}: {source}; remove {dir} to make a new CA")]
    Cert {
        /// For what.
        what: String,
        /// CA directory.
        dir: PathBuf,
        /// Cause.
        source: rcgen::Error,
    },
    /// rustls.
    #[error("TLS configuration for {host}: {source}")]
    Rustls {
        /// Host.
        host: String,
        /// Cause.
        source: rustls::Error,
    },
}

/// A loaded CA that issues host certificates on demand.
pub struct GatewayCa {
    dir: PathBuf,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    configs: Mutex<HashMap<String, Arc<rustls::ServerConfig>>>,
}

impl std::fmt::Debug for GatewayCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayCa").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(days);
}

impl GatewayCa {
    /// The file to give processes as `SSL_CERT_FILE`.
    pub fn cert_file(dir: &Path) -> PathBuf {
        dir.join(CA_CERT)
    }

    /// Load the CA in `dir`, or create one there (`ca.crt`, `ca.key`).
    pub fn ensure(dir: &Path) -> Result<GatewayCa, TlsError> {
        let (crt, key) = (dir.join(CA_CERT), dir.join(CA_KEY));
        let cert_err = |what: &str| {
            let (what, dir) = (what.to_string(), dir.to_path_buf());
            move |source| TlsError::Cert { what, dir, source }
        };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TlsError::Io { path, source }
        };
        if !(crt.is_file() && key.is_file()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err("the CA"))?;
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err("the CA"))?;
            params.distinguished_name.push(DnType::CommonName, "gitops-harness sim egress gateway CA");
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
            validity(&mut params, 365);
            let cert = params.self_signed(&ca_key).map_err(cert_err("the CA"))?;
            crate::cluster::write_private(&key, &ca_key.serialize_pem()).map_err(io(&key))?;
            std::fs::write(&crt, cert.pem()).map_err(io(&crt))?;
        }
        let pem = std::fs::read_to_string(&crt).map_err(io(&crt))?;
        let key_pem = std::fs::read_to_string(&key).map_err(io(&key))?;
        let ca_key = KeyPair::from_pem(&key_pem).map_err(cert_err("the CA key"))?;
        let issuer = Issuer::from_ca_cert_pem(&pem, ca_key).map_err(cert_err("the CA certificate"))?;
        let ca_der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| TlsError::Io { path: crt.clone(), source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()) })?;
        Ok(GatewayCa { dir: dir.to_path_buf(), ca_der, issuer, configs: Mutex::new(HashMap::new()) })
    }

    /// A TLS server configuration presenting a certificate for `host` (a name or an IP),
    /// issued on first use and cached.
    pub fn server_config(&self, host: &str) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if let Some(c) = self.configs.lock().unwrap_or_else(|e| e.into_inner()).get(&host) {
            return Ok(c.clone());
        }
        let err = |source| TlsError::Cert { what: host.clone(), dir: self.dir.clone(), source };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err)?;
        let mut params = CertificateParams::new(vec![host.clone()]).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, host.clone());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        validity(&mut params, 30);
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls { host: host.clone(), source })?
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone(), self.ca_der.clone()], key_der)
            .map_err(|source| TlsError::Rustls { host: host.clone(), source })?;
        // HTTP/1.1 only: one parser for plain and tunnelled requests.
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let cfg = Arc::new(cfg);
        self.configs.lock().unwrap_or_else(|e| e.into_inner()).insert(host, cfg.clone());
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let a = GatewayCa::ensure(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let pem = std::fs::read_to_string(GatewayCa::cert_file(dir.path())).unwrap_or_default();
        let b = GatewayCa::ensure(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pem, std::fs::read_to_string(GatewayCa::cert_file(dir.path())).unwrap_or_default());
        assert!(a.server_config("charts.jetstack.io").is_ok());
        assert!(b.server_config("127.0.0.1").is_ok());
    }
}
