//! The sandbox's PKI: a certificate authority generated at start-up and one server certificate it
//! signs, valid for DNS `localhost` and the loopback IPs `127.0.0.1` and `::1`.
//!
//! Every TLS endpoint of the sandbox (Entra's HTTPS, the Kubernetes issuer, the TDS server) presents
//! the server certificate; clients trust the CA explicitly (its PEM is written to the state dir and
//! named by `AZURE_SQL_SANDBOX_CA`), never by switching certificate validation off. Microsoft's
//! ODBC driver matches a certificate's DNS names only, so clients connect to `localhost`.
//!
//! Keys are ECDSA P-256 (fast to generate; every TLS client in use accepts them), made with rcgen
//! on the aws-lc-rs backend, and the rustls configurations use the aws-lc-rs provider.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The file name of the CA certificate inside the state dir.
pub const CA_FILE_NAME: &str = "ca.pem";

/// Why the PKI could not be built or used.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused to generate a key or certificate (should not happen with fixed parameters).
    #[error("could not generate the sandbox's {what}: {source}")]
    Generate {
        /// Which object failed ("CA key", "server certificate", ...).
        what: &'static str,
        /// rcgen's reason.
        #[source]
        source: rcgen::Error,
    },
    /// The CA certificate could not be written.
    #[error("could not write the sandbox CA certificate to {path}: {source}; check that the state directory exists and is writable")]
    Write {
        /// The file that could not be written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// rustls refused the generated certificate or key.
    #[error("could not build a TLS configuration from the sandbox certificate: {0}")]
    Tls(#[from] rustls::Error),
    /// reqwest refused the CA certificate or could not build its client.
    #[error("could not build an HTTPS client trusting the sandbox CA: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// The CA and the server certificate it signed. Cheap to clone.
#[derive(Clone)]
pub struct Pki {
    inner: Arc<Inner>,
}

struct Inner {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("ca_pem_bytes", &self.inner.ca_pem.len())
            .field("server_key", &"<redacted>")
            .finish()
    }
}

/// The rustls crypto provider every sandbox TLS configuration uses.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn generate(what: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Generate { what, source }
}

impl Pki {
    /// Generates a fresh CA (valid for ten years from yesterday) and a server certificate signed by
    /// it for `localhost`, `127.0.0.1` and `::1`.
    pub fn generate() -> Result<Pki, PkiError> {
        let now = time::OffsetDateTime::now_utc();
        let not_before = now - Duration::from_secs(24 * 3600);
        let not_after = now + Duration::from_secs(10 * 365 * 24 * 3600);

        let ca_key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generate("CA key"))?;
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).map_err(generate("CA certificate"))?;
        let mut ca_name = DistinguishedName::new();
        // A distinct name per CA, so a client holding another sandbox's CA gets "unknown
        // issuer" rather than a confusing signature error.
        let ca_id = uuid::Uuid::new_v4().simple().to_string();
        ca_name.push(
            DnType::CommonName,
            format!("Azure SQL Sandbox Local CA {}", &ca_id[..12]),
        );
        ca_name.push(DnType::OrganizationName, "azure-sql-sandbox");
        ca_params.distinguished_name = ca_name;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.not_before = not_before;
        ca_params.not_after = not_after;
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(generate("CA certificate"))?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(generate("server key"))?;
        let mut params = CertificateParams::new(vec!["localhost".to_string()])
            .map_err(generate("server certificate"))?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "localhost");
        params.distinguished_name = name;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = not_after;
        let server_cert = params
            .signed_by(&server_key, &issuer)
            .map_err(generate("server certificate"))?;

        Ok(Pki {
            inner: Arc::new(Inner {
                ca_pem: ca_cert.pem(),
                ca_der: ca_cert.der().clone(),
                server_der: server_cert.der().clone(),
                server_key_der: server_key.serialize_der(),
            }),
        })
    }

    /// The CA certificate, PEM-encoded: what a client adds to its trust store.
    pub fn ca_pem(&self) -> &str {
        &self.inner.ca_pem
    }

    /// The CA certificate, DER-encoded.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.inner.ca_der
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns that path.
    pub fn write_ca_pem(&self, dir: &Path) -> Result<PathBuf, PkiError> {
        let path = dir.join(CA_FILE_NAME);
        std::fs::write(&path, self.inner.ca_pem.as_bytes()).map_err(|source| PkiError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// The server's certificate chain (leaf, then CA), as a TLS server sends it.
    pub fn server_cert_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.inner.server_der.clone(), self.inner.ca_der.clone()]
    }

    /// The server certificate's private key (PKCS#8).
    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.inner.server_key_der.clone()))
    }

    /// A rustls server configuration presenting the server certificate, TLS 1.2 and 1.3, with
    /// the given ALPN protocols (for example `[b"http/1.1"]`, `[b"tds/8.0"]`, or none).
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, PkiError> {
        let mut config = ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.server_cert_chain(), self.server_key())?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// A root store holding only the sandbox CA.
    pub fn root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        // The CA was generated above; rustls accepting its own parse of it is certain, and a
        // failure would surface as a handshake error naming the untrusted issuer anyway.
        let _ = roots.add(self.inner.ca_der.clone());
        roots
    }

    /// A rustls client configuration that trusts only the sandbox CA.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, PkiError> {
        let config = ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(self.root_store())
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// An HTTPS client that trusts only the sandbox CA (what the sandbox's own services use to
    /// reach each other, and what tests hand to `azure_identity` as its transport).
    pub fn http_client(&self) -> Result<reqwest::Client, PkiError> {
        http_client_trusting(self.ca_pem())
    }
}

/// An HTTPS client that trusts only the CA in `ca_pem` (and speaks plain HTTP too).
pub fn http_client_trusting(ca_pem: &str) -> Result<reqwest::Client, PkiError> {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).map_err(PkiError::HttpClient)?;
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(PkiError::HttpClient)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn handshake(pki: &Pki, client: Arc<ClientConfig>, name: &str) -> Result<(), String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let acceptor =
            tokio_rustls::TlsAcceptor::from(pki.server_config(&[]).map_err(|e| e.to_string())?);
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.ok()?;
            let mut tls = acceptor.accept(tcp).await.ok()?;
            tls.write_all(b"ok").await.ok()?;
            tls.shutdown().await.ok()
        });
        let connector = tokio_rustls::TlsConnector::from(client);
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let server_name =
            rustls_pki_types::ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        let mut tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let _ = server.await;
        if buf == b"ok" {
            Ok(())
        } else {
            Err(format!("unexpected payload {buf:?}"))
        }
    }

    #[tokio::test]
    async fn a_client_trusting_the_ca_accepts_localhost_and_loopback_ips() {
        let pki = Pki::generate().unwrap();
        let client = pki.client_config().unwrap();
        for name in ["localhost", "127.0.0.1", "::1"] {
            handshake(&pki, client.clone(), name)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[tokio::test]
    async fn the_certificate_is_refused_for_other_names_and_by_clients_without_the_ca() {
        let pki = Pki::generate().unwrap();
        let err = handshake(&pki, pki.client_config().unwrap(), "example.com")
            .await
            .unwrap_err();
        assert!(
            err.contains("NotValidForName") || err.contains("not valid for name"),
            "{err}"
        );

        let other = Pki::generate().unwrap();
        let err = handshake(&pki, other.client_config().unwrap(), "localhost")
            .await
            .unwrap_err();
        assert!(
            err.contains("UnknownIssuer") || err.contains("unknown issuer"),
            "{err}"
        );
    }

    #[test]
    fn the_ca_pem_is_written_to_the_state_dir_and_debug_hides_the_key() {
        let pki = Pki::generate().unwrap();
        let dir = std::env::temp_dir().join(format!("pki-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = pki.write_ca_pem(&dir).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(written, pki.ca_pem());
        std::fs::remove_dir_all(&dir).unwrap();

        let debug = format!("{pki:?}");
        assert!(debug.contains("<redacted>"));
        assert!(!debug.contains("PRIVATE"));
    }

    #[test]
    fn writing_to_a_missing_directory_says_which_file() {
        let pki = Pki::generate().unwrap();
        let err = pki
            .write_ca_pem(Path::new("/nonexistent/sandbox/state"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("/nonexistent/sandbox/state/ca.pem"),
            "{err}"
        );
    }
}
