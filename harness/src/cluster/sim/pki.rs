//! Credentials of a sim control plane, generated per cluster: a CA and the API server's serving
//! certificate (127.0.0.1 and localhost), the service-account signing key, and an admin bearer
//! token (static token file, group `system:masters`). Nothing leaves the cluster's state dir.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType};

/// Files of the sim PKI inside `<state>/pki/`.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    /// CA certificate.
    pub ca_crt: PathBuf,
    /// API server serving certificate.
    pub serving_crt: PathBuf,
    /// API server serving key.
    pub serving_key: PathBuf,
    /// Service-account signing key (private, PKCS#8).
    pub sa_key: PathBuf,
    /// Service-account verification key (public).
    pub sa_pub: PathBuf,
    /// Static token file (`token,user,uid,"groups"`).
    pub tokens: PathBuf,
    /// The admin bearer token.
    pub admin_token: String,
    /// The CA certificate PEM (for kubeconfigs).
    pub ca_pem: String,
}

/// Errors generating the PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen failed.
    #[error("generating the sim {what}: {source}")]
    Generate {
        /// What.
        what: &'static str,
        /// Cause.
        source: rcgen::Error,
    },
    /// Writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

fn write_private(path: &Path, text: &str) -> Result<(), PkiError> {
    crate::cluster::write_private(path, text).map_err(|source| PkiError::Io { path: path.to_path_buf(), source })
}

fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(365);
}

/// Generate the PKI into `dir` (created).
pub fn generate(dir: &Path) -> Result<PkiFiles, PkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Io { path: dir.to_path_buf(), source })?;
    let ca_err = |source| PkiError::Generate { what: "CA", source };
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(ca_err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(ca_err)?;
    ca_params.distinguished_name.push(DnType::CommonName, "gitops-harness sim CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    validity(&mut ca_params);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(ca_err)?;

    let srv_err = |source| PkiError::Generate { what: "API server certificate", source };
    let srv_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(srv_err)?;
    let names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"];
    let mut srv_params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map_err(srv_err)?;
    srv_params.subject_alt_names.push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    srv_params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    validity(&mut srv_params);
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let srv_cert = srv_params.signed_by(&srv_key, &issuer).map_err(srv_err)?;

    let sa_key =
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Generate { what: "service-account key", source })?;
    let admin_token = format!("{:032x}", rand::random::<u128>());

    let files = PkiFiles {
        ca_crt: dir.join("ca.crt"),
        serving_crt: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        sa_key: dir.join("sa.key"),
        sa_pub: dir.join("sa.pub"),
        tokens: dir.join("tokens.csv"),
        admin_token,
        ca_pem: ca_cert.pem(),
    };
    write_private(&files.ca_crt, &files.ca_pem)?;
    write_private(&files.serving_crt, &srv_cert.pem())?;
    write_private(&files.serving_key, &srv_key.serialize_pem())?;
    write_private(&files.sa_key, &sa_key.serialize_pem())?;
    write_private(&files.sa_pub, &sa_key.public_key_pem())?;
    write_private(&files.tokens, &format!("{},gitops-harness-admin,gitops-harness-admin,\"system:masters\"\n", files.admin_token))?;
    Ok(files)
}

/// A kubeconfig for the sim API server at `https://127.0.0.1:<port>` with the admin token.
pub fn kubeconfig(name: &str, port: u16, ca_pem: &str, token: &str) -> String {
    use base64::Engine as _;
    let ctx = format!("sim-{name}");
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {ctx}\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority-data: {ca}\ncontexts:\n- name: {ctx}\n  context:\n    cluster: {ctx}\n    user: {ctx}-admin\ncurrent-context: {ctx}\nusers:\n- name: {ctx}-admin\n  user:\n    token: {token}\n",
        ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pki_files_are_written_private_and_parse() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let pki = generate(&dir.path().join("pki")).unwrap();
        for p in [&pki.ca_crt, &pki.serving_crt, &pki.serving_key, &pki.sa_key, &pki.sa_pub, &pki.tokens] {
            assert_eq!(std::fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
        }
        let pem = std::fs::read(&pki.serving_crt).unwrap();
        let (_, parsed) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
        let cert = parsed.parse_x509().unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert!(format!("{:?}", san.value).contains("127.0.0.1") || format!("{:?}", san.value).contains("[127, 0, 0, 1]"));
        let kc = kubeconfig("x", 6443, &pki.ca_pem, &pki.admin_token);
        assert!(kc.contains("https://127.0.0.1:6443"));
        assert!(kc.contains(&pki.admin_token));
    }
}
