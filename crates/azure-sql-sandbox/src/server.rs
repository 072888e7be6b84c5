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
//!     logged in: SQLBatch → engine.execute, RPC sp_executesql → engine.execute_rpc,
//!                ATTENTION → DONE(ATTN) ─► closed
//! ```
//!
//! Gateway mode mirrors Azure SQL's Redirect connection policy: the first listener (the
//! "gateway") checks the login and answers with a routing ENVCHANGE to the second (the "node"),
//! which does real logins. Faults ([`Faults`]) and counters ([`Stats`]) are consulted on the way.

use crate::faults::Faults;
use crate::identity::AccessTokenValidator;
use crate::sql::{Engine, Outcome, Session, SqlError, SqlType, Value};
use crate::stats::Stats;
use crate::tds::collation::SQL_LATIN1_GENERAL_CP1_CI_AS;
use crate::tds::fedauth_token::FedAuthToken;
use crate::tds::login7::{FedAuthLibrary, Login7};
use crate::tds::packet::{
    frame_message, FrameError, Message, MessageReader, MessageType, DEFAULT_PACKET_SIZE,
    PACKET_SIZE_RANGE,
};
use crate::tds::prelogin::{negotiate_encryption, Negotiated, PreloginRequest, PreloginResponse};
use crate::tds::prelogin_tls::PreloginTls;
use crate::tds::rpc::SystemCall;
use crate::tds::token::FedAuthInfo;
use crate::tds::token::{
    done_status, ColMetaData, Done, DoneKind, EnvChange, FeatureAck, FeatureExtAck, LoginAck,
    Message as MessageToken, MessageKind, ReturnStatus, ReturnValue, Row,
};
use crate::tds::transaction::TmRequest;
use crate::tds::{batch::SqlBatch, login7, messages, rpc};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The ALPN protocol id TDS 8.0 (strict encryption) clients offer.
pub const TDS8_ALPN: &[u8] = b"tds/8.0";

/// Largest PRELOGIN or LOGIN7 message accepted (MS-TDS caps LOGIN7 at 128 KiB).
const MAX_LOGIN_MESSAGE: usize = 128 * 1024;
/// Largest request (SQL batch or RPC, PLP parameters included) accepted.
const MAX_REQUEST_MESSAGE: usize = 64 * 1024 * 1024;
/// How long a client may take from connecting to sending its LOGIN7.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// Redirect policy: the gateway listener routes logins to the node listener.
    pub gateway: bool,
    /// The host name sent in the routing ENVCHANGE (and as the server name in messages);
    /// `localhost`.
    pub host_name: String,
    /// The database of logins whose LOGIN7 names none.
    pub default_database: String,
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
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for TdsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdsServer")
            .field("port", &self.port)
            .field("node_port", &self.node_port)
            .finish()
    }
}

/// What a listener does with logins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Logs in (no gateway).
    Direct,
    /// Checks the login, then routes the client to the node.
    Gateway { node_port: u16 },
    /// Logs in (behind the gateway).
    Node,
}

struct Shared {
    engine: Engine,
    validator: Arc<dyn AccessTokenValidator>,
    faults: Faults,
    stats: Stats,
    host_name: String,
    default_database: String,
    strict_tls: TlsAcceptor,
    prelogin_tls: TlsAcceptor,
    next_spid: AtomicU16,
}

impl TdsServer {
    /// Starts listening on loopback, port 0 (127.0.0.1, and ::1 on the same port when IPv6 is
    /// available). In gateway mode a second port serves the node.
    pub async fn start(options: TdsServerOptions) -> io::Result<TdsServer> {
        let shared = Arc::new(Shared {
            prelogin_tls: TlsAcceptor::from(prelogin_tls_config(&options.tls)?),
            strict_tls: TlsAcceptor::from(strict_tls_config(&options.tls)),
            engine: options.engine,
            validator: options.validator,
            faults: options.faults,
            stats: options.stats,
            host_name: options.host_name,
            default_database: options.default_database,
            next_spid: AtomicU16::new(51),
        });
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();

        let (port, node_port) = if options.gateway {
            let (node_port, node) = bind_loopback().await?;
            let (gateway_port, gateway) = bind_loopback().await?;
            for l in node {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::Node);
            }
            for l in gateway {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::Gateway { node_port });
            }
            (gateway_port, Some(node_port))
        } else {
            let (port, listeners) = bind_loopback().await?;
            for l in listeners {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::Direct);
            }
            (port, None)
        };
        tracing::info!(
            port,
            node_port,
            gateway = options.gateway,
            "TDS server listening"
        );
        Ok(TdsServer {
            port,
            node_port,
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
                    let shared = shared.clone();
                    let shutdown = shutdown.clone();
                    tracker_inner.spawn(async move {
                        let _open = shared.stats.session_opened();
                        let spid = shared.next_spid.fetch_add(1, Ordering::Relaxed);
                        tokio::select! {
                            _ = shutdown.cancelled() => {}
                            result = run_session(&shared, role, tcp, peer, spid) => {
                                if let Err(error) = result {
                                    tracing::debug!(%peer, spid, %error, "session ended with an error");
                                }
                            }
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

/// Why a session ended early (logged, never sent).
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("{0}")]
    Protocol(String),
}

type Tls = tokio_rustls::server::TlsStream<PreloginTls<TcpStream>>;

/// One connection's TDS conversation after TLS.
struct Conn {
    stream: Tls,
    reader: MessageReader,
    spid: u16,
    packet_size: usize,
    peer: SocketAddr,
}

impl Conn {
    async fn next(&mut self) -> Result<Option<Message>, FrameError> {
        self.reader.next(&mut self.stream).await
    }

    async fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut wire = Vec::with_capacity(payload.len() + 64);
        frame_message(
            &mut wire,
            MessageType::TABULAR_RESULT,
            self.spid,
            payload,
            self.packet_size,
        );
        self.stream.write_all(&wire).await?;
        self.stream.flush().await
    }

    /// Sends part of the response, then resets the connection (the "reset mid-response" fault).
    async fn send_then_reset(mut self, payload: &[u8]) -> io::Result<()> {
        let mut wire = Vec::new();
        frame_message(
            &mut wire,
            MessageType::TABULAR_RESULT,
            self.spid,
            payload,
            self.packet_size,
        );
        let cut = (wire.len() / 2).max(9).min(wire.len());
        self.stream.write_all(&wire[..cut]).await?;
        self.stream.flush().await?;
        self.stream.get_ref().0.get_ref().set_zero_linger()?;
        tracing::info!(peer = %self.peer, sent = cut, of = wire.len(), "fault: resetting the connection mid-response");
        Ok(())
    }

    async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }
}

async fn read_message<S: AsyncRead + Unpin>(
    reader: &mut MessageReader,
    io: &mut S,
    expected: MessageType,
) -> Result<Option<Message>, SessionError> {
    match reader.next(io).await? {
        None => Ok(None),
        Some(m) if m.ty == expected => Ok(Some(m)),
        Some(m) => Err(SessionError::Protocol(format!(
            "the client sent a {} message (0x{:02X}) where {} was expected",
            m.ty.name(),
            m.ty.0,
            expected.name()
        ))),
    }
}

async fn write_raw<S: AsyncWrite + Unpin>(io: &mut S, spid: u16, payload: &[u8]) -> io::Result<()> {
    let mut wire = Vec::new();
    frame_message(
        &mut wire,
        MessageType::TABULAR_RESULT,
        spid,
        payload,
        DEFAULT_PACKET_SIZE,
    );
    io.write_all(&wire).await?;
    io.flush().await
}

fn prelogin_answer(request: &PreloginRequest) -> (PreloginResponse, Negotiated) {
    let (encryption, negotiated) = negotiate_encryption(request.encryption);
    let response = PreloginResponse {
        version: (12, 0, 2000),
        encryption,
        fed_auth_required: request.fed_auth_required.then_some(true),
        nonce: request.nonce.map(|_| rand::random::<[u8; 32]>()),
    };
    (response, negotiated)
}

/// PRELOGIN and TLS, both ways; returns the encrypted connection and the client's PRELOGIN.
async fn handshake(
    shared: &Shared,
    mut tcp: TcpStream,
    peer: SocketAddr,
    spid: u16,
) -> Result<Option<(Conn, PreloginRequest)>, SessionError> {
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 {
        return Ok(None);
    }
    match first[0] {
        0x16 => {
            // TDS 8.0: TLS first, then PRELOGIN inside it.
            let mut stream = shared
                .strict_tls
                .accept(PreloginTls::new(tcp, false))
                .await?;
            let mut reader = MessageReader::new(MAX_LOGIN_MESSAGE);
            let Some(message) =
                read_message(&mut reader, &mut stream, MessageType::PRELOGIN).await?
            else {
                return Ok(None);
            };
            let request = PreloginRequest::parse(&message.payload)
                .map_err(|e| SessionError::Protocol(e.to_string()))?;
            let (response, _) = prelogin_answer(&request);
            write_raw(&mut stream, spid, &response.encode()).await?;
            tracing::debug!(%peer, "TDS 8.0 (strict) handshake done");
            let conn = Conn {
                stream,
                reader,
                spid,
                packet_size: DEFAULT_PACKET_SIZE,
                peer,
            };
            Ok(Some((conn, request)))
        }
        0x12 => {
            // TDS 7.x: PRELOGIN in the clear, then TLS inside PRELOGIN packets.
            let mut reader = MessageReader::new(MAX_LOGIN_MESSAGE);
            let Some(message) = read_message(&mut reader, &mut tcp, MessageType::PRELOGIN).await?
            else {
                return Ok(None);
            };
            let request = PreloginRequest::parse(&message.payload)
                .map_err(|e| SessionError::Protocol(e.to_string()))?;
            let (response, negotiated) = prelogin_answer(&request);
            write_raw(&mut tcp, spid, &response.encode()).await?;
            if negotiated == Negotiated::Refuse {
                tracing::warn!(%peer, "refused a client that cannot encrypt (Azure SQL requires encryption)");
                return Ok(None);
            }
            if reader.buffered() > 0 {
                return Err(SessionError::Protocol(
                    "the client sent data before the TLS handshake".into(),
                ));
            }
            let mut stream = shared
                .prelogin_tls
                .accept(PreloginTls::new(tcp, true))
                .await?;
            stream.get_mut().0.handshake_done();
            tracing::debug!(%peer, "TDS 7.x handshake done (TLS in PRELOGIN)");
            let conn = Conn {
                stream,
                reader,
                spid,
                packet_size: DEFAULT_PACKET_SIZE,
                peer,
            };
            Ok(Some((conn, request)))
        }
        other => Err(SessionError::Protocol(format!(
            "the first byte 0x{other:02X} is neither a PRELOGIN packet nor a TLS handshake"
        ))),
    }
}

/// How a login was authenticated.
enum Authenticated {
    /// An Entra access token (FEDAUTH): acknowledge FEDAUTH, revalidate at `expires_at`.
    Token { expires_at: SystemTime },
    /// SQL login.
    Sql,
}

/// The SPN of Azure SQL Database in FEDAUTHINFO: clients ask Entra for `{spn}.default`.
pub const AZURE_SQL_SPN: &str = "https://database.windows.net/";

async fn run_session(
    shared: &Shared,
    role: Role,
    tcp: TcpStream,
    peer: SocketAddr,
    spid: u16,
) -> Result<(), SessionError> {
    let _ = tcp.set_nodelay(true);
    let handshake_and_login = async {
        let Some((mut conn, prelogin)) = handshake(shared, tcp, peer, spid).await? else {
            return Ok(None);
        };
        let Some(login) =
            read_message(&mut conn.reader, &mut conn.stream, MessageType::LOGIN7).await?
        else {
            return Ok(None);
        };
        Ok::<_, SessionError>(Some((conn, prelogin, login)))
    };
    let Some((mut conn, prelogin, login)) =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake_and_login)
            .await
            .map_err(|_| {
                SessionError::Protocol("the client did not log in within 60 s".into())
            })??
    else {
        return Ok(());
    };

    if shared.faults.take_drop_after_login_request() {
        tracing::info!(%peer, "fault: dropping the connection after LOGIN7");
        return Ok(());
    }
    if let Some(delay) = shared.faults.login_delay() {
        tokio::time::sleep(delay).await;
    }

    let login = match Login7::parse(&login.payload) {
        Ok(login) => login,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "malformed LOGIN7");
            shared.stats.logins_failed();
            send_login_failure(&mut conn, shared, &messages::protocol_error(&e.to_string()))
                .await?;
            return Ok(());
        }
    };
    let requested = if login.packet_size == 0 {
        DEFAULT_PACKET_SIZE as u32
    } else {
        login.packet_size
    };
    let packet_size = requested.clamp(*PACKET_SIZE_RANGE.start(), *PACKET_SIZE_RANGE.end());
    let database = if login.database.is_empty() {
        shared.default_database.clone()
    } else {
        login.database.clone()
    };

    let (session, auth) =
        match authenticate(shared, &mut conn, &prelogin, &login, &database).await? {
            Ok(ok) => ok,
            Err(error) => {
                shared.stats.logins_failed();
                send_login_failure(&mut conn, shared, &error).await?;
                return Ok(());
            }
        };

    // SqlClient requires the FEDAUTH acknowledgement to carry no data, for both libraries.
    let fedauth_ack = match &auth {
        Authenticated::Token { .. } => Some(Vec::new()),
        Authenticated::Sql => None,
    };
    let routing = match role {
        Role::Gateway { node_port } => Some(node_port),
        Role::Direct | Role::Node => None,
    };
    let mut response = Vec::new();
    login_response(
        &mut response,
        shared,
        &session.database,
        packet_size,
        fedauth_ack,
        routing,
    );
    conn.send(&response).await?;

    if let Some(node_port) = routing {
        shared.stats.redirects();
        tracing::info!(%peer, node_port, database = %session.database, "gateway: routed the login to the node");
        conn.close().await;
        return Ok(());
    }
    shared.stats.logins_ok();
    tracing::info!(%peer, spid, database = %session.database, user = %session.user, "login succeeded");
    conn.packet_size = packet_size as usize;
    conn.reader.set_max_message(MAX_REQUEST_MESSAGE);
    let token_expires = match auth {
        Authenticated::Token { expires_at } => Some(expires_at),
        Authenticated::Sql => None,
    };
    serve_requests(shared, conn, session, token_expires).await
}

async fn send_login_failure(conn: &mut Conn, shared: &Shared, error: &SqlError) -> io::Result<()> {
    let mut out = Vec::new();
    let mut token = MessageToken::from_sql(error, &shared.host_name);
    token.kind = MessageKind::Error;
    token.encode(&mut out);
    Done::new(DoneKind::Done, done_status::ERROR).encode(&mut out);
    conn.send(&out).await
}

/// Checks a LOGIN7's credentials and logs the session in. The outer error ends the connection
/// (transport trouble); the inner one is the SQL error the client gets.
async fn authenticate(
    shared: &Shared,
    conn: &mut Conn,
    prelogin: &PreloginRequest,
    login: &Login7,
    database: &str,
) -> Result<Result<(Session, Authenticated), SqlError>, SessionError> {
    let peer = conn.peer;
    if let Some(number) = shared.faults.take_failed_login() {
        tracing::info!(%peer, number, "fault: failing the login");
        let trace = uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase();
        return Ok(Err(messages::login_error(
            number,
            database,
            &shared.host_name,
            &trace,
        )));
    }
    let Some(fed) = login.fed_auth() else {
        if login.integrated_security() {
            tracing::warn!(%peer, "integrated (Windows) authentication is not offered");
            return Ok(Err(messages::integrated_auth_not_supported()));
        }
        let engine = shared.engine.clone();
        let db = database.to_string();
        let user = login.user_name.clone();
        let password = login.password.clone();
        let session = blocking(move || engine.login_sql(Some(&db), &user, password.expose())).await;
        let session = session.and_then(|s| s);
        if let Err(e) = &session {
            tracing::warn!(%peer, database, user = %login.user_name, number = e.number, "SQL login refused");
        }
        return Ok(session.map(|s| (s, Authenticated::Sql)));
    };

    // MS-TDS 3.3.5.2: fFedAuthEcho must match the server's FEDAUTHREQUIRED answer.
    if fed.echo != prelogin.fed_auth_required {
        tracing::warn!(%peer, echo = fed.echo, "FEDAUTH echo does not match the PRELOGIN answer");
        return Ok(Err(messages::protocol_error(
            "The FEDAUTH fFedAuthEcho bit does not match the server's FEDAUTHREQUIRED answer.",
        )));
    }
    let token = match &fed.library {
        FedAuthLibrary::SecurityToken { token, .. } => token.clone(),
        FedAuthLibrary::Msal { workflow } => {
            // Tell the client where to get a token and for what, then wait for it.
            let Some(sts_url) = shared.validator.sts_url() else {
                tracing::warn!(%peer, workflow, "the validator gives no STS URL: the ADAL/MSAL workflow is refused");
                return Ok(Err(messages::login_failed_token()));
            };
            let mut out = Vec::new();
            FedAuthInfo {
                sts_url,
                spn: AZURE_SQL_SPN.into(),
            }
            .encode(&mut out);
            conn.send(&out).await?;
            let Some(message) = conn.next().await? else {
                return Err(SessionError::Protocol(
                    "the client left before sending its token".into(),
                ));
            };
            if message.ty != MessageType::FEDAUTH_TOKEN {
                return Ok(Err(messages::protocol_error(&format!(
                    "A {} message arrived where the FEDAUTH token was expected.",
                    message.ty.name()
                ))));
            }
            match FedAuthToken::parse(&message.payload) {
                Ok(parsed) => parsed.token,
                Err(e) => return Ok(Err(messages::protocol_error(&e.to_string()))),
            }
        }
        FedAuthLibrary::Other(library) => {
            tracing::warn!(%peer, library, "unknown FEDAUTH library");
            return Ok(Err(messages::login_failed_token()));
        }
    };
    let identity = match shared.validator.validate(token.expose()).await {
        Ok(identity) => identity,
        Err(rejection) => {
            tracing::warn!(%peer, database, reason = %rejection.reason, "login refused: access token rejected");
            return Ok(Err(messages::login_failed_token()));
        }
    };
    let engine = shared.engine.clone();
    let db = database.to_string();
    let who = identity.clone();
    let session = blocking(move || engine.login_external(&db, &who))
        .await
        .and_then(|s| s);
    if let Err(e) = &session {
        tracing::warn!(%peer, database, number = e.number, object_id = %identity.object_id, "login refused by the database");
    }
    Ok(session.map(|s| {
        (
            s,
            Authenticated::Token {
                expires_at: identity.expires_at,
            },
        )
    }))
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

/// What SQL Server sends after a successful login, in its order; the gateway adds the routing
/// ENVCHANGE after LOGINACK and before FEATUREEXTACK, as Azure's gateway does.
fn login_response(
    out: &mut Vec<u8>,
    shared: &Shared,
    database: &str,
    packet_size: u32,
    fedauth_ack: Option<Vec<u8>>,
    routing: Option<u16>,
) {
    let info = |number, state, text: String| MessageToken {
        kind: MessageKind::Info,
        number,
        state,
        class: 0,
        text,
        server: shared.host_name.clone(),
        procedure: String::new(),
        line: 1,
    };
    EnvChange::Database {
        new: database.into(),
        old: "master".into(),
    }
    .encode(out);
    info(
        5701,
        2,
        format!("Changed database context to '{database}'."),
    )
    .encode(out);
    EnvChange::SqlCollation {
        new: SQL_LATIN1_GENERAL_CP1_CI_AS,
    }
    .encode(out);
    EnvChange::Language {
        new: "us_english".into(),
        old: String::new(),
    }
    .encode(out);
    info(5703, 1, "Changed language setting to us_english.".into()).encode(out);
    LoginAck::azure_sql().encode(out);
    EnvChange::PacketSize {
        new: packet_size,
        old: DEFAULT_PACKET_SIZE as u32,
    }
    .encode(out);
    if let Some(port) = routing {
        EnvChange::Routing {
            port,
            host: shared.host_name.clone(),
        }
        .encode(out);
    }
    if let Some(data) = fedauth_ack {
        FeatureExtAck(vec![FeatureAck {
            id: login7::FEATURE_FEDAUTH,
            data,
        }])
        .encode(out);
    }
    Done::new(DoneKind::Done, done_status::FINAL).encode(out);
}

/// A parsed request.
enum Work {
    Batch(String),
    Rpc(Vec<rpc::RpcRequest>),
    Transaction(TmRequest),
}

async fn serve_requests(
    shared: &Shared,
    mut conn: Conn,
    session: Session,
    token_expires: Option<SystemTime>,
) -> Result<(), SessionError> {
    let mut state = SessionState {
        session,
        prepared: HashMap::new(),
        next_handle: 1,
        transaction: None,
        transactions_begun: 0,
    };
    loop {
        let message = match conn.next().await {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(FrameError::Codec(e)) => {
                // The framing is lost: tell the client why, then close as SQL Server does.
                tracing::warn!(peer = %conn.peer, error = %e, "malformed packet; closing");
                let mut out = Vec::new();
                error_response(
                    &mut out,
                    &shared.host_name,
                    &messages::protocol_error(&e.to_string()),
                    DoneKind::Done,
                );
                conn.send(&out).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let kind = match message.ty {
            MessageType::RPC => DoneKind::Proc,
            _ => DoneKind::Done,
        };
        let mut out = Vec::new();
        if message.reset_connection {
            EnvChange::ResetConnection.encode(&mut out);
        }
        let work = match message.ty {
            MessageType::ATTENTION => {
                // Nothing is running: acknowledge at once.
                Done::new(DoneKind::Done, done_status::ATTN).encode(&mut out);
                conn.send(&out).await?;
                continue;
            }
            MessageType::SQL_BATCH => {
                shared.stats.requests();
                SqlBatch::parse(&message.payload)
                    .map(|b| Work::Batch(b.text))
                    .map_err(|e| messages::protocol_error(&e.to_string()))
            }
            MessageType::RPC => {
                shared.stats.requests();
                rpc::parse(&message.payload)
                    .map(Work::Rpc)
                    .map_err(|e| messages::rpc_protocol_error(&e.to_string()))
            }
            MessageType::TRANSACTION_MANAGER => {
                shared.stats.requests();
                TmRequest::parse(&message.payload)
                    .map(Work::Transaction)
                    .map_err(|e| messages::protocol_error(&e.to_string()))
            }
            MessageType::BULK_LOAD => Err(messages::unsupported_request("INSERT BULK")),
            other => {
                tracing::warn!(peer = %conn.peer, ty = other.0, "unexpected message on a logged-in session; closing");
                let e = messages::protocol_error(&format!(
                    "A {} message (0x{:02X}) is not valid after login.",
                    other.name(),
                    other.0
                ));
                error_response(&mut out, &shared.host_name, &e, DoneKind::Done);
                conn.send(&out).await?;
                return Ok(());
            }
        };
        let work = match work {
            Ok(work) => work,
            Err(error) => {
                error_response(&mut out, &shared.host_name, &error, kind);
                conn.send(&out).await?;
                continue;
            }
        };

        if shared.faults.revalidate_sessions()
            && token_expires.is_some_and(|t| t <= SystemTime::now())
        {
            tracing::info!(peer = %conn.peer, "revalidation: the session's access token has expired");
            error_response(
                &mut out,
                &shared.host_name,
                &messages::session_token_expired(),
                kind,
            );
            conn.send(&out).await?;
            continue;
        }

        if let Some(delay) = shared.faults.query_delay() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                next = conn.next() => match next? {
                    Some(m) if m.ty == MessageType::ATTENTION => {
                        tracing::debug!(peer = %conn.peer, "attention: request cancelled");
                        let mut ack = Vec::new();
                        Done::new(DoneKind::Done, done_status::ATTN).encode(&mut ack);
                        conn.send(&ack).await?;
                        continue;
                    }
                    Some(m) => {
                        return Err(SessionError::Protocol(format!(
                            "the client sent a {} message while a request was running",
                            m.ty.name()
                        )))
                    }
                    None => return Ok(()),
                },
            }
        }

        let (back, outcomes) = run_work(shared, state.clone(), work).await;
        if let Some(changed) = back {
            if changed.session.database != state.session.database {
                let change = EnvChange::Database {
                    new: changed.session.database.clone(),
                    old: state.session.database.clone(),
                };
                let mut head = Vec::new();
                change.encode(&mut head);
                out.splice(0..0, head);
            }
            state = changed;
        }
        out.extend_from_slice(&outcomes);

        if shared.faults.take_reset_query() {
            conn.send_then_reset(&out).await?;
            return Ok(());
        }
        conn.send(&out).await?;
    }
}

/// A statement `sp_prepare`/`sp_prepexec` prepared on this session.
#[derive(Clone, Debug)]
struct Prepared {
    statement: String,
    declared: Vec<String>,
}

/// What a logged-in session carries between requests.
#[derive(Clone, Debug)]
struct SessionState {
    session: Session,
    prepared: HashMap<i32, Prepared>,
    next_handle: i32,
    /// The transaction begun with a transaction manager request, if any.
    transaction: Option<Transaction>,
    transactions_begun: u64,
}

/// Runs a request on the engine; returns the session state after it (if the engine ran) and
/// the encoded response tokens.
async fn run_work(
    shared: &Shared,
    state: SessionState,
    work: Work,
) -> (Option<SessionState>, Vec<u8>) {
    let engine = shared.engine.clone();
    let server = shared.host_name.clone();
    let result = blocking(move || {
        let mut state = state;
        let mut out = Vec::new();
        match work {
            Work::Batch(text) => {
                let outcomes = engine.execute(&mut state.session, &text);
                note_changes(&mut state, &outcomes);
                encode_outcomes(&mut out, &outcomes, DoneKind::Done, &server, false);
            }
            Work::Transaction(request) => run_transaction(&mut state, request, &mut out, &server),
            Work::Rpc(requests) => {
                for request in requests {
                    tracing::debug!(procedure = %request.proc_ref.display_name(), params = request.params.len(), "RPC");
                    match request.system_call() {
                        Ok(call) => {
                            let no_metadata = request.options & rpc::OPTION_NO_METADATA != 0;
                            run_call(&engine, &mut state, call, no_metadata, &mut out, &server)
                        }
                        Err(e) => error_response(&mut out, &server, &e, DoneKind::Proc),
                    }
                }
            }
        }
        (state, out)
    })
    .await;
    match result {
        Ok((state, out)) => (Some(state), out),
        Err(e) => {
            let mut out = Vec::new();
            error_response(&mut out, &shared.host_name, &e, DoneKind::Done);
            (None, out)
        }
    }
}

fn unknown_handle(handle: i32) -> SqlError {
    SqlError {
        number: 8179,
        state: 2,
        severity: 16,
        message: format!("Could not find prepared statement with handle {handle}."),
        line: 1,
    }
}

/// Runs one system-procedure call and appends its response, DONEPROC included.
fn run_call(
    engine: &Engine,
    state: &mut SessionState,
    call: SystemCall,
    no_metadata: bool,
    out: &mut Vec<u8>,
    server: &str,
) {
    match call {
        SystemCall::ExecuteSql { statement, params } => {
            let outcomes = engine.execute_rpc(&mut state.session, &statement, &params);
            note_changes(state, &outcomes);
            let failed = encode_outcomes(out, &outcomes, DoneKind::Proc, server, no_metadata);
            end_proc(out, failed, None, server);
        }
        SystemCall::PrepExec {
            unprepare,
            handle_name,
            statement,
            declared,
            params,
        } => {
            if let Some(old) = unprepare {
                state.prepared.remove(&old);
            }
            let outcomes = engine.execute_rpc(&mut state.session, &statement, &params);
            note_changes(state, &outcomes);
            let failed = encode_outcomes(out, &outcomes, DoneKind::Proc, server, no_metadata);
            let handle = (!failed).then(|| prepare(state, statement, declared));
            end_proc(
                out,
                failed,
                handle.map(|h| (handle_name.as_str(), h)),
                server,
            );
        }
        SystemCall::Prepare {
            unprepare,
            handle_name,
            statement,
            declared,
        } => {
            if let Some(old) = unprepare {
                state.prepared.remove(&old);
            }
            // Like SQL Server, describe the result set of a query being prepared (ODBC reads
            // its columns from here and may then execute with fNoMetaData).
            if returns_rows(&statement) {
                let nulls: Vec<(String, Value)> =
                    declared.iter().map(|n| (n.clone(), Value::Null)).collect();
                let outcomes = engine.execute_rpc(&mut state.session, &statement, &nulls);
                let error = outcomes.iter().find_map(|o| match o {
                    Outcome::Error(e) => Some(e.clone()),
                    _ => None,
                });
                if let Some(e) = error {
                    error_response(out, server, &e, DoneKind::Proc);
                    return;
                }
                if let Some(Outcome::Rows(rs)) =
                    outcomes.iter().find(|o| matches!(o, Outcome::Rows(_)))
                {
                    ColMetaData(&rs.columns).encode(out);
                }
            }
            let handle = prepare(state, statement, declared);
            end_proc(out, false, Some((handle_name.as_str(), handle)), server);
        }
        SystemCall::Execute { handle, values } => {
            let Some(prepared) = state.prepared.get(&handle).cloned() else {
                error_response(out, server, &unknown_handle(handle), DoneKind::Proc);
                return;
            };
            match rpc::bind(&prepared.declared, &values) {
                Ok(params) => {
                    let outcomes =
                        engine.execute_rpc(&mut state.session, &prepared.statement, &params);
                    note_changes(state, &outcomes);
                    let failed =
                        encode_outcomes(out, &outcomes, DoneKind::Proc, server, no_metadata);
                    end_proc(out, failed, None, server);
                }
                Err(e) => error_response(out, server, &e, DoneKind::Proc),
            }
        }
        SystemCall::Unprepare { handle } => {
            if state.prepared.remove(&handle).is_some() {
                end_proc(out, false, None, server);
            } else {
                error_response(out, server, &unknown_handle(handle), DoneKind::Proc);
            }
        }
    }
}

/// A transaction begun with a transaction manager request.
///
/// The engine ends every transaction with its batch (one SQLite connection serves all sessions
/// of a database), so a transaction manager transaction is kept here: each request inside it is
/// committed as it runs. COMMIT is therefore exact; ROLLBACK is exact when nothing changed in
/// between (ODBC's autocommit switches, read-only work) and otherwise fails loudly rather than
/// pretend the changes were undone.
#[derive(Clone, Debug)]
struct Transaction {
    descriptor: [u8; 8],
    depth: u32,
    changed: bool,
}

fn tm_error(number: u32, state: u8, message: &str) -> SqlError {
    SqlError {
        number,
        state,
        severity: 16,
        message: message.to_string(),
        line: 1,
    }
}

/// Whether outcomes may have changed data (row counts above zero, or statements without a
/// count: DDL, principals).
fn may_have_changed(outcomes: &[Outcome]) -> bool {
    outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Done { rows_affected } if *rows_affected != Some(0)))
}

/// Marks the open transaction manager transaction as having changed data, if it may have.
fn note_changes(state: &mut SessionState, outcomes: &[Outcome]) {
    if let Some(tx) = state.transaction.as_mut() {
        tx.changed |= may_have_changed(outcomes);
    }
}

/// Answers a transaction manager request: the transaction ENVCHANGE SQL Server sends (begin,
/// commit, rollback, with the 8-byte descriptor) and a DONE, or the error SQL Server gives.
fn run_transaction(state: &mut SessionState, request: TmRequest, out: &mut Vec<u8>, server: &str) {
    tracing::debug!(request = request.name(), "transaction manager request");
    let result = match request {
        TmRequest::Begin { .. } => {
            begin_transaction(state, out);
            Ok(())
        }
        TmRequest::Commit { begin_new, .. } => match state.transaction.as_mut() {
            None if begin_new.is_none() => Err(tm_error(
                3902,
                1,
                "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.",
            )),
            Some(tx) if tx.depth > 1 => {
                tx.depth -= 1;
                Ok(())
            }
            _ => {
                if let Some(tx) = state.transaction.take() {
                    EnvChange::CommitTransaction {
                        descriptor: tx.descriptor,
                    }
                    .encode(out);
                }
                if begin_new.is_some() {
                    begin_transaction(state, out);
                }
                Ok(())
            }
        },
        TmRequest::Rollback { begin_new, .. } => match state.transaction.take() {
            None if begin_new.is_none() => Err(tm_error(
                3903,
                1,
                "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.",
            )),
            tx => {
                let changed = tx.as_ref().is_some_and(|t| t.changed);
                if let Some(tx) = tx {
                    EnvChange::RollbackTransaction {
                        descriptor: tx.descriptor,
                    }
                    .encode(out);
                }
                if begin_new.is_some() {
                    begin_transaction(state, out);
                }
                if changed {
                    Err(messages::unsupported_request(
                        "ROLLBACK of changes made by earlier requests (the sandbox commits each request of a transaction manager transaction as it runs)",
                    ))
                } else {
                    Ok(())
                }
            }
        },
        TmRequest::Save { .. } if state.transaction.is_none() => Err(tm_error(
            628,
            0,
            "Cannot issue SAVE TRANSACTION when there is no active transaction.",
        )),
        TmRequest::Save { .. } => Ok(()),
        TmRequest::Distributed(_) => Err(messages::unsupported_request("distributed transactions")),
    };
    match result {
        Ok(()) => Done::new(DoneKind::Done, done_status::FINAL).encode(out),
        Err(e) => error_response(out, server, &e, DoneKind::Done),
    }
}

/// Begins a transaction (or nests one level deeper) and announces a new one's descriptor.
fn begin_transaction(state: &mut SessionState, out: &mut Vec<u8>) {
    if let Some(tx) = state.transaction.as_mut() {
        tx.depth += 1;
        return;
    }
    state.transactions_begun += 1;
    let descriptor = state.transactions_begun.to_le_bytes();
    state.transaction = Some(Transaction {
        descriptor,
        depth: 1,
        changed: false,
    });
    EnvChange::BeginTransaction { descriptor }.encode(out);
}

/// Whether a statement is a query (its first keyword SELECT or WITH), so preparing it can
/// describe its result set without side effects.
fn returns_rows(statement: &str) -> bool {
    let first = statement
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    first.eq_ignore_ascii_case("SELECT") || first.eq_ignore_ascii_case("WITH")
}

fn prepare(state: &mut SessionState, statement: String, declared: Vec<String>) -> i32 {
    let handle = state.next_handle;
    state.next_handle = state.next_handle.checked_add(1).unwrap_or(1);
    state.prepared.insert(
        handle,
        Prepared {
            statement,
            declared,
        },
    );
    handle
}

/// Ends a procedure: RETURNSTATUS (unless it failed), the `@handle` RETURNVALUE when one was
/// prepared, and the final DONEPROC.
fn end_proc(out: &mut Vec<u8>, failed: bool, handle: Option<(&str, i32)>, server: &str) {
    if !failed {
        ReturnStatus(0).encode(out);
    }
    if let Some((name, handle)) = handle {
        let value = Value::Int(i64::from(handle));
        let token = ReturnValue {
            ordinal: 0,
            name,
            ty: &SqlType::Int,
            value: &value,
        };
        if let Err(e) = token.encode(out) {
            // An INT always fits; report rather than send a broken token if that ever changes.
            MessageToken::from_sql(&messages::conversion_failed(&e.to_string()), server)
                .encode(out);
        }
    }
    let status = if failed {
        done_status::ERROR
    } else {
        done_status::FINAL
    };
    Done::new(DoneKind::Proc, status).encode(out);
}

/// An ERROR token and the DONE (or, for an RPC, DONEPROC) that closes the failed request.
fn error_response(out: &mut Vec<u8>, server: &str, error: &SqlError, kind: DoneKind) {
    let mut token = MessageToken::from_sql(error, server);
    token.kind = MessageKind::Error;
    token.encode(out);
    Done::new(kind, done_status::ERROR).encode(out);
}

/// The tokens of a request's outcomes. A batch ends each statement with DONE (DONE_MORE on all
/// but the last, a final DONE added when needed); a procedure ends each with DONEINPROC and
/// leaves the end to [`end_proc`]. Returns whether a statement failed.
fn encode_outcomes(
    out: &mut Vec<u8>,
    outcomes: &[Outcome],
    kind: DoneKind,
    server: &str,
    no_metadata: bool,
) -> bool {
    let statement_done = match kind {
        DoneKind::Proc => DoneKind::InProc,
        other => other,
    };
    let mut dones = Vec::new();
    let mut last_is_done = false;
    let mut failed = false;
    for outcome in outcomes {
        match outcome {
            Outcome::Rows(rs) => {
                let start = out.len();
                if no_metadata {
                    ColMetaData::encode_none(out);
                } else {
                    ColMetaData(&rs.columns).encode(out);
                }
                let mut bad = None;
                for values in &rs.rows {
                    if let Err(e) = (Row {
                        columns: &rs.columns,
                        values,
                    })
                    .encode(out)
                    {
                        bad = Some(e);
                        break;
                    }
                }
                if let Some(e) = bad {
                    out.truncate(start);
                    tracing::warn!(error = %e, "a result value does not fit its column type");
                    MessageToken::from_sql(&messages::conversion_failed(&e.to_string()), server)
                        .encode(out);
                    dones.push(out.len());
                    Done::new(statement_done, done_status::ERROR).encode(out);
                    failed = true;
                    last_is_done = true;
                    break;
                }
                dones.push(out.len());
                Done {
                    kind: statement_done,
                    status: done_status::COUNT,
                    cur_cmd: 0xC1,
                    row_count: rs.rows.len() as u64,
                }
                .encode(out);
                last_is_done = true;
            }
            Outcome::Done { rows_affected } => {
                dones.push(out.len());
                Done {
                    kind: statement_done,
                    status: if rows_affected.is_some() {
                        done_status::COUNT
                    } else {
                        0
                    },
                    cur_cmd: 0,
                    row_count: rows_affected.unwrap_or(0),
                }
                .encode(out);
                last_is_done = true;
            }
            Outcome::Info(message) => {
                let mut token = MessageToken::from_sql(message, server);
                token.kind = MessageKind::Info;
                token.encode(out);
                last_is_done = false;
            }
            Outcome::Error(error) => {
                let mut token = MessageToken::from_sql(error, server);
                token.kind = MessageKind::Error;
                token.encode(out);
                dones.push(out.len());
                Done::new(statement_done, done_status::ERROR).encode(out);
                failed = true;
                last_is_done = true;
            }
        }
    }
    match kind {
        DoneKind::Proc => {
            // Every DONEINPROC is followed by more; the procedure ends with its own DONEPROC.
            for at in &dones {
                out[at + 1] |= done_status::MORE as u8;
            }
        }
        _ => {
            if !last_is_done {
                dones.push(out.len());
                Done::new(DoneKind::Done, done_status::FINAL).encode(out);
            }
            let last = dones.len() - 1;
            for at in &dones[..last] {
                out[at + 1] |= done_status::MORE as u8;
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{Column, ResultSet, SqlType, Value};

    fn tokens(outcomes: &[Outcome], kind: DoneKind) -> Vec<u8> {
        let mut out = Vec::new();
        let failed = encode_outcomes(&mut out, outcomes, kind, "s", false);
        if kind == DoneKind::Proc {
            end_proc(&mut out, failed, None, "s");
        }
        out
    }

    fn rows() -> Outcome {
        Outcome::Rows(ResultSet {
            columns: vec![Column {
                name: "x".into(),
                ty: SqlType::Int,
                nullable: false,
            }],
            rows: vec![vec![Value::Int(1)], vec![Value::Int(2)]],
        })
    }

    #[test]
    fn a_batch_marks_all_but_the_last_done_with_more() {
        let out = tokens(
            &[
                rows(),
                Outcome::Done {
                    rows_affected: Some(3),
                },
            ],
            DoneKind::Done,
        );
        // COLMETADATA (3 + 4 + 2 + 2 + 3) = 14, two ROWs of 6, then two DONEs.
        let first_done = 14 + 12;
        assert_eq!(out[first_done], 0xFD);
        assert_eq!(
            out[first_done + 1],
            (done_status::COUNT | done_status::MORE) as u8
        );
        assert_eq!(out[first_done + 5], 2);
        let second = first_done + 13;
        assert_eq!(out[second..second + 2], [0xFD, done_status::COUNT as u8]);
        assert_eq!(out[second + 5], 3);
        assert_eq!(out.len(), second + 13);
    }

    #[test]
    fn a_batch_ending_in_info_gets_a_final_done() {
        let info = SqlError {
            number: 5701,
            state: 2,
            severity: 0,
            message: "m".into(),
            line: 1,
        };
        let out = tokens(&[Outcome::Info(info)], DoneKind::Done);
        assert_eq!(out[0], 0xAB);
        assert_eq!(out[out.len() - 13..out.len() - 11], [0xFD, 0x00]);
        assert_eq!(
            tokens(&[], DoneKind::Done),
            [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn an_error_ends_with_done_error() {
        let error = SqlError {
            number: 208,
            state: 1,
            severity: 16,
            message: "Invalid object name 'x'.".into(),
            line: 1,
        };
        let out = tokens(&[Outcome::Error(error)], DoneKind::Done);
        assert_eq!(out[0], 0xAA);
        assert_eq!(
            out[out.len() - 13..out.len() - 11],
            [0xFD, done_status::ERROR as u8]
        );
    }

    #[test]
    fn an_rpc_uses_doneinproc_returnstatus_and_doneproc() {
        let out = tokens(&[rows()], DoneKind::Proc);
        let n = out.len();
        assert_eq!(out[n - 13..n - 11], [0xFE, 0x00], "final DONEPROC");
        assert_eq!(out[n - 18..n - 13], [0x79, 0, 0, 0, 0], "RETURNSTATUS 0");
        assert_eq!(
            out[n - 31..n - 29],
            [0xFF, (done_status::COUNT | done_status::MORE) as u8]
        );
    }

    #[test]
    fn a_value_that_does_not_fit_becomes_an_error() {
        let bad = Outcome::Rows(ResultSet {
            columns: vec![Column {
                name: "x".into(),
                ty: SqlType::TinyInt,
                nullable: false,
            }],
            rows: vec![vec![Value::Int(1000)]],
        });
        let out = tokens(&[bad], DoneKind::Done);
        assert_eq!(out[0], 0xAA, "an ERROR token, not a broken ROW");
        assert_eq!(
            out[out.len() - 13..out.len() - 11],
            [0xFD, done_status::ERROR as u8]
        );
    }
}
