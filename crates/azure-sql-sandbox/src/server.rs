//! The Azure SQL endpoint: accept loops on loopback (127.0.0.1 and ::1, one port) and one
//! session state machine per connection:
//!
//! ```text
//! first byte 0x12: PRELOGIN ─► answer (encryption required) ─► TLS inside PRELOGIN packets ─┐
//! first byte 0x16: TLS first (TDS 8.0, ALPN tds/8.0) ─► PRELOGIN inside TLS ─► answer ───────┤
//!                                                                                              ▼
//!     LOGIN7 ─► FEDAUTH token → validator → engine.login_external / SQL login → engine.login_sql
//!        │ (gateway: full login answer + routing ENVCHANGE, then close)
//!        ▼
//!     logged in: SQLBatch → engine.execute; RPC sp_executesql, sp_prepexec/sp_prepare/
//!                sp_execute/sp_unprepare → engine.execute_rpc; transaction manager requests;
//!                ATTENTION → DONE(ATTN) ─► closed
//! ```
//!
//! Gateway mode mirrors Azure SQL's Redirect connection policy: the first listener (the
//! "gateway") checks the login and answers with a routing ENVCHANGE to the second (the "node"),
//! which does real logins; a login with `ApplicationIntent=ReadOnly` is routed to a third, the
//! read-only replica of read scale-out, serving the same databases read-only. Faults
//! ([`Faults`]) and counters ([`Stats`]) are consulted on the way.
//!
//! This file starts the listeners; the conversation lives in `server/`: `session.rs` (the state
//! machine, faults, ATTENTION), `login.rs` (credentials and the login answer), `requests.rs`
//! (batches and system procedures on the engine), `transaction_manager.rs` (transaction
//! manager requests) and `outcomes.rs` (outcomes as tokens).

mod login;
mod requests;
mod outcomes;
mod session;
mod transaction_manager;

pub use login::AZURE_SQL_SPN;

use crate::faults::Faults;
use crate::identity::AccessTokenValidator;
use crate::sql::{Engine, SqlError};
use crate::stats::Stats;
use crate::tds::messages;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The ALPN protocol id TDS 8.0 (strict encryption) clients offer.
pub const TDS8_ALPN: &[u8] = b"tds/8.0";

/// Largest PRELOGIN or LOGIN7 message accepted (MS-TDS caps LOGIN7 at 128 KiB).
const MAX_LOGIN_MESSAGE: usize = 128 * 1024;

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
/// How long a connection past the limit may take to send its LOGIN7 before it is closed.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(10);

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
fn prelogin_tls_config(base: &rustls::ServerConfig) -> io::Result<Arc<rustls::ServerConfig>> {
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

fn strict_tls_config(base: &rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
    let mut config = base.clone();
    if !config.alpn_protocols.iter().any(|p| p == TDS8_ALPN) {
        config.alpn_protocols.push(TDS8_ALPN.to_vec());
    }
    Arc::new(config)
}

/// A running TDS server. Dropping it without [`TdsServer::shutdown`] leaves it running until the
/// runtime stops.
pub struct TdsServer {
    port: u16,
    node_port: Option<u16>,
    read_only_port: Option<u16>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for TdsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdsServer")
            .field("port", &self.port)
            .field("node_port", &self.node_port)
            .field("read_only_port", &self.read_only_port)
            .finish()
    }
}

/// What a listener does with logins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Logs in (no gateway).
    Direct,
    /// Checks the login, then routes the client to the node, or a read-only login (MS-TDS
    /// 2.2.6.4 `fReadOnlyIntent`) to the read-only replica.
    Gateway { node_port: u16, replica_port: u16 },
    /// Logs in (behind the gateway).
    Node,
    /// Logs in read-only sessions (behind the gateway): the read-only replica.
    ReadOnlyReplica,
}

struct Shared {
    engine: Engine,
    validator: Arc<dyn AccessTokenValidator>,
    faults: Faults,
    stats: Stats,
    host_name: String,
    limits: Limits,
    connections: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    strict_tls: TlsAcceptor,
    prelogin_tls: TlsAcceptor,
    next_spid: AtomicU16,
}

impl TdsServer {
    /// Starts listening on loopback, port 0 (127.0.0.1, and ::1 on the same port when IPv6 is
    /// available). In gateway mode a second port serves the node and a third the read-only
    /// replica.
    pub async fn start(options: TdsServerOptions) -> io::Result<TdsServer> {
        let shared = Arc::new(Shared {
            prelogin_tls: TlsAcceptor::from(prelogin_tls_config(&options.tls)?),
            strict_tls: TlsAcceptor::from(strict_tls_config(&options.tls)),
            engine: options.engine,
            validator: options.validator,
            faults: options.faults,
            stats: options.stats,
            host_name: options.host_name,
            connections: Arc::new(Semaphore::new(options.limits.max_connections)),
            refusals: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
            limits: options.limits,
            next_spid: AtomicU16::new(51),
        });
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();

        let (port, node_port, read_only_port) = if options.gateway {
            let (node_port, node) = bind_loopback().await?;
            let (replica_port, replica) = bind_loopback().await?;
            let (gateway_port, gateway) = bind_loopback().await?;
            for l in node {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::Node);
            }
            for l in replica {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::ReadOnlyReplica);
            }
            let role = Role::Gateway {
                node_port,
                replica_port,
            };
            for l in gateway {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, role);
            }
            (gateway_port, Some(node_port), Some(replica_port))
        } else {
            let (port, listeners) = bind_loopback().await?;
            for l in listeners {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::Direct);
            }
            (port, None, None)
        };
        tracing::info!(
            port,
            node_port,
            read_only_port,
            gateway = options.gateway,
            "TDS server listening"
        );
        Ok(TdsServer {
            port,
            node_port,
            read_only_port,
            shutdown,
            tracker,
        })
    }

    /// Where clients connect (the gateway in gateway mode).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The node's port in gateway mode.
    pub fn node_port(&self) -> Option<u16> {
        self.node_port
    }

    /// The read-only replica's port in gateway mode, where the gateway routes logins with
    /// `ApplicationIntent=ReadOnly`.
    pub fn read_only_port(&self) -> Option<u16> {
        self.read_only_port
    }

    /// Stops accepting, closes every session and waits for their tasks to end.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        tracing::info!(port = self.port, "TDS server stopped");
    }
}

/// Binds 127.0.0.1 on port 0, then ::1 on the same port (logged and skipped if unavailable).
async fn bind_loopback() -> io::Result<(u16, Vec<TcpListener>)> {
    let v4 = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await?;
    let port = v4.local_addr()?.port();
    let mut listeners = vec![v4];
    match TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)).await {
        Ok(v6) => listeners.push(v6),
        Err(error) => {
            tracing::warn!(port, %error, "cannot listen on [::1]; serving 127.0.0.1 only")
        }
    }
    Ok((port, listeners))
}

fn spawn_accept_loop(
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
    shared: &Arc<Shared>,
    listener: TcpListener,
    role: Role,
) {
    let tracker_inner = tracker.clone();
    let shutdown = shutdown.clone();
    let shared = shared.clone();
    tracker.spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((tcp, peer)) => {
                    shared.stats.tcp_connections();
                    if shared.faults.take_refuse_connection() {
                        tracing::info!(%peer, "fault: refusing the connection");
                        let _ = tcp.set_zero_linger();
                        drop(tcp);
                        continue;
                    }
                    let admitted = shared.connections.clone().try_acquire_owned().ok();
                    let refusal = match admitted {
                        Some(_) => None,
                        None => match shared.refusals.clone().try_acquire_owned() {
                            Ok(permit) => Some(permit),
                            Err(_) => {
                                tracing::warn!(%peer, "connection limit reached and refusals busy: closing the connection");
                                let _ = tcp.set_zero_linger();
                                drop(tcp);
                                continue;
                            }
                        },
                    };
                    let shared = shared.clone();
                    let shutdown = shutdown.clone();
                    tracker_inner.spawn(async move {
                        let _open = shared.stats.session_opened();
                        let spid = shared.next_spid.fetch_add(1, Ordering::Relaxed);
                        let result = if let Some(_refusal) = refusal {
                            tokio::select! {
                                _ = shutdown.cancelled() => Ok(()),
                                r = session::refuse_over_limit(&shared, tcp, peer, spid) => r,
                            }
                        } else {
                            let _admitted = admitted;
                            tokio::select! {
                                _ = shutdown.cancelled() => Ok(()),
                                r = session::run_session(&shared, role, tcp, peer, spid) => r,
                            }
                        };
                        if let Err(error) = result {
                            tracing::debug!(%peer, spid, %error, "session ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off briefly rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
}

/// Runs engine work off the async threads; a panic in it becomes an error message.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SqlError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "the SQL engine failed");
        messages::internal_error()
    })
}
