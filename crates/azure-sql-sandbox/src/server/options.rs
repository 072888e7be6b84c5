//! What a TDS server is started with: its bounds ([`Limits`]), its parts ([`TdsServerOptions`])
//! and the TLS configurations derived from one certificate (TDS 8.0 strict, TLS in PRELOGIN).

use crate::faults::Faults;
use crate::identity::AccessTokenValidator;
use crate::sql::Engine;
use crate::stats::Stats;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// The ALPN protocol id TDS 8.0 (strict encryption) clients offer.
pub const TDS8_ALPN: &[u8] = b"tds/8.0";
/// The bounds a server keeps so that a slow, stalled or hostile client cannot hold its memory or
/// its sessions. `Default` gives what `serve` runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take from connecting to a complete login: PRELOGIN, TLS, LOGIN7
    /// and, in the ADAL/MSAL workflow, the FEDAUTH token after the server's FEDAUTHINFO.
    /// Default 60 s. Past it the server closes the connection.
    pub login_timeout: Duration,
    /// Largest request message (SQL batch or RPC, PLP parameters included) a session may send,
    /// in bytes. Default 64 MiB. A larger one gets error 4002 and the connection is closed.
    pub max_request_bytes: usize,
    /// TCP connections open at once, in any state (both listeners of a gateway count). Default
    /// 4096, well under Azure SQL's 30,000 sessions of a vCore database but above what a pool of
    /// a thousand connections opens through the gateway. Past it a connection gets, at its
    /// LOGIN7, Azure SQL's session-limit error (10928, Resource ID 2), which clients retry; the
    /// connections being refused so are bounded too ([`REFUSALS_AT_ONCE`]), beyond them a
    /// connection is closed at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            login_timeout: Duration::from_secs(60),
            max_request_bytes: 64 * 1024 * 1024,
            max_connections: 4096,
        }
    }
}

/// How many connections past [`Limits::max_connections`] are answered with 10928 at once.
pub const REFUSALS_AT_ONCE: usize = 64;

/// Everything the TDS server needs.
///
/// `tls` is the certificate (valid for `localhost`, `127.0.0.1` and `::1`) and TLS settings for
/// TDS 8.0 strict clients; build it with [`tls_config`], which offers the `tds/8.0` ALPN id
/// (strict clients offer it; TDS 7.x clients offer no ALPN and rustls then negotiates none). The
/// server derives from it a TLS 1.2 configuration with the same certificate for the handshake
/// carried inside PRELOGIN packets, as SQL Server does for TDS 7.x (TLS 1.3 is used only when
/// TLS comes first).
pub struct TdsServerOptions {
    /// TLS certificate and settings (see above).
    pub tls: Arc<rustls::ServerConfig>,
    /// The SQL engine sessions log into and run requests on.
    pub engine: Engine,
    /// Checks the access tokens of FEDAUTH logins.
    pub validator: Arc<dyn AccessTokenValidator>,
    /// Injectable faults.
    pub faults: Faults,
    /// Counters.
    pub stats: Stats,
    /// Redirect policy: the gateway listener routes logins to the node listener, and logins with
    /// `ApplicationIntent=ReadOnly` to the read-only replica's. Without it one listener serves
    /// every login read-write, as Azure SQL does for a database without read scale-out.
    pub gateway: bool,
    /// The host name sent in the routing ENVCHANGE (and as the server name in messages);
    /// `localhost`.
    pub host_name: String,
    /// The server's bounds.
    pub limits: Limits,
}

/// Builds the TLS configuration for [`TdsServerOptions::tls`]: this certificate chain and key,
/// TLS 1.2 and 1.3 with the aws-lc-rs provider, no client certificates, ALPN `tds/8.0`.
pub fn tls_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)?;
    config.alpn_protocols = vec![TDS8_ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// The configuration for TLS inside PRELOGIN packets: same certificate, TLS 1.2 only (as SQL
/// Server for TDS 7.x; a TLS 1.3 server would send session tickets after the handshake, when the
/// client has already stopped unwrapping PRELOGIN packets), no ALPN.
pub(super) fn prelogin_tls_config(
    base: &rustls::ServerConfig,
) -> io::Result<Arc<rustls::ServerConfig>> {
    let config = rustls::ServerConfig::builder_with_provider(base.crypto_provider().clone())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the TLS provider cannot do TLS 1.2, which TDS 7.x clients need: {e}"),
            )
        })?
        .with_no_client_auth()
        .with_cert_resolver(base.cert_resolver.clone());
    Ok(Arc::new(config))
}

pub(super) fn strict_tls_config(base: &rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
    let mut config = base.clone();
    if !config.alpn_protocols.iter().any(|p| p == TDS8_ALPN) {
        config.alpn_protocols.push(TDS8_ALPN.to_vec());
    }
    Arc::new(config)
}
