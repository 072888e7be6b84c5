//! Opening a logged-in connection: TCP (with the connect timeout and `TCP_NODELAY`), TLS and the
//! TDS login with the cached access token, then the two bounded loops Azure SQL needs:
//!
//! What it does for callers, and its bounds, is documented on [`Connector`].

use crate::config::{ApplicationIntent, Authentication, Config, Encrypt, IpAddressPreference};
use crate::connection::{Client, Connection, Liveness};
use crate::credential;
use crate::error::{Error, TimeoutKind, LOGIN_FAILED};
use crate::metrics::{self, ConnectMetrics, Meters};
use crate::retirement::Retirement;
use crate::token::{RenewalPolicy, TokenSource};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tiberius::{AuthMethod, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

// Public as `Connector::MAX_REDIRECTS`.
pub(crate) const MAX_REDIRECTS: u32 = 10;

// Public as `Connector::MAX_RETRY_DELAY`.
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// Opens one connection for `config`, for programs that need no pool: builds the token provider
/// the `Authentication` keyword names, fetches a token, logs in (following redirects, retrying
/// transient errors). For repeated use, prefer a [`crate::Pool`] (or a [`Connector`]), which
/// keeps the token between connections.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let config: azure_sql_passwordless::Config =
///     "Server=tcp:myserver.database.windows.net,1433;Database=mydb;\
///      Authentication=Active Directory Default"
///         .parse()?;
/// let mut conn = azure_sql_passwordless::connect(&config).await?;
/// let row = conn.simple_query("SELECT 1").await?.into_row().await?;
/// assert!(row.is_some());
/// # Ok(())
/// # }
/// ```
pub async fn connect(config: &Config) -> Result<Connection, Error> {
    Connector::new(config.clone())?.connect().await
}

/// Opens connections for one configuration, sharing one [`TokenSource`] between them. Cheap to
/// clone. This is what a [`crate::Pool`] uses; use it directly to manage connections yourself.
///
/// - **Redirect**: Azure SQL's gateway (the `Redirect` connection policy) answers the login with
///   a routing address; we log in again there with the same token, validating TLS against the
///   new host (unless `HostNameInCertificate` is set, which then applies to every hop). At most
///   [`Connector::MAX_REDIRECTS`] hops; an address seen twice is a loop and an error. A route
///   lasts one connect (every connect starts at the gateway), and a redirect target that
///   refuses the connection sends the attempt back to the gateway at once, once: when Azure SQL
///   moves a database to another node the old address stops answering, and the gateway knows
///   the new one (a client that kept the node's address kept failing: tedious#262, #269).
/// - **Transient retry**: a connect that fails with one of
///   [`TRANSIENT_SQL_ERRORS`](Error::TRANSIENT_SQL_ERRORS), an I/O error or a timeout is
///   tried again up to `Connect Retry Count` times, the delays starting at `Connect Retry
///   Interval` and doubling (at most 60 s), each with ±25% jitter. Login failure 18456, TLS
///   errors and token errors are never retried here (the token cache retries its own requests).
///   Every attempt asks the [`TokenSource`] again, so a retry never uses a stale token.
///
/// `Connect Timeout` bounds one attempt as a whole: the TCP connects, TLS handshakes and logins
/// of all its hops together (each hop gets what the earlier ones left). Retries get a fresh
/// bound each, so a connect that retries can take `Connect Retry Count + 1` times as long plus
/// the delays; a pool's `get()` is bounded by its connection timeout in any case.
#[derive(Clone)]
pub struct Connector {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    auth: Auth,
    metrics: ConnectMetrics,
}

enum Auth {
    Token(TokenSource),
    Sql,
}

impl Connector {
    /// A connector with its own [`TokenSource`] over the provider the configuration's
    /// `Authentication` names (none for `Sql Password`).
    pub fn new(config: Config) -> Result<Self, Error> {
        let tokens = credential::provider_for(&config)?
            .map(|p| TokenSource::new(p, config.get_token_scope()));
        Self::standalone(config, tokens)
    }

    /// A connector using `tokens`, for example one shared with other pools (several databases
    /// on one server make one token request per lifetime between them). The configuration's
    /// `Authentication` keyword is then not used to pick a provider.
    pub fn with_token_source(config: Config, tokens: TokenSource) -> Result<Self, Error> {
        Self::standalone(config, Some(tokens))
    }

    /// A connector of its own (not a pool's): its metrics go to the global meter provider,
    /// named as a pool on the same configuration would be.
    fn standalone(config: Config, tokens: Option<TokenSource>) -> Result<Self, Error> {
        let metrics = ConnectMetrics::new(&Meters::default(), &metrics::default_pool_name(&config));
        Self::build(config, tokens, metrics)
    }

    pub(crate) fn build(
        mut config: Config,
        tokens: Option<TokenSource>,
        metrics: ConnectMetrics,
    ) -> Result<Self, Error> {
        config.validate_once()?;
        // Before tiberius builds its first TLS configuration (it takes the installed default).
        crate::crypto::install_default_provider();
        let auth = match tokens {
            Some(t) => Auth::Token(t),
            None if config.get_authentication() == Authentication::SqlPassword => Auth::Sql,
            None => {
                // provider_for returns a provider for every Entra mode; reaching this is a bug.
                return Err(Error::NoTokenSource {
                    authentication: config.get_authentication().as_str(),
                });
            }
        };
        // (`Config::validate` refuses TrustServerCertificate with Encrypt=Strict.)
        if config.get_trust_server_certificate() {
            if !config.get_trusted_root_certificates().is_empty() {
                tracing::warn!(
                    server = config.get_host(),
                    "TrustServerCertificate=true is ignored because trusted root certificates are configured"
                );
            } else {
                tracing::warn!(
                    server = config.get_host(),
                    "TrustServerCertificate=true: the server certificate is NOT validated; anyone on the network path can impersonate the server"
                );
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                auth,
                metrics,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The token source (`None` for `Sql Password`).
    pub fn token_source(&self) -> Option<&TokenSource> {
        match &self.inner.auth {
            Auth::Token(t) => Some(t),
            Auth::Sql => None,
        }
    }

    /// Opens a logged-in connection: redirects followed, transient errors retried (see the
    /// module docs).
    pub async fn connect(&self) -> Result<Connection, Error> {
        self.connect_reporting(&|_| {}).await
    }

    /// [`connect`](Self::connect), telling `failed_attempt` about every attempt that fails,
    /// retried or not (the pool keeps the last one to say why callers waited).
    pub(crate) async fn connect_reporting(
        &self,
        failed_attempt: &(dyn Fn(&Error) + Send + Sync),
    ) -> Result<Connection, Error> {
        let config = &self.inner.config;
        let retries = u32::from(config.get_connect_retry_count());
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let error = match self.attempt(attempt, &|_| {}).await {
                Ok(conn) => {
                    self.inner.metrics.login(Ok(()), false);
                    return Ok(conn);
                }
                Err(e) => e,
            };
            failed_attempt(&error);
            let transient = retried_at_connect(&error);
            self.inner.metrics.login(Err(&error), transient);
            if !transient {
                return Err(error);
            }
            if attempt > retries {
                if attempt == 1 {
                    return Err(error);
                }
                tracing::warn!(
                    server = config.get_host(),
                    attempts = attempt,
                    error = %error,
                    "connect: giving up after transient errors"
                );
                return Err(Error::TransientExhausted {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            self.inner.metrics.retrying(&error);
            let delay = retry_delay(attempt, config.get_connect_retry_interval());
            tracing::warn!(
                server = config.get_host(),
                attempt,
                retries,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                sql_error = error.sql_error_number(),
                error = %error,
                "connect: transient error, retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One login attempt, following redirects but never retrying, telling `observe` about each
    /// hop as it goes: what the doctor (`doctor/sql.rs`) needs to say which hop failed.
    pub(crate) async fn attempt_observed(
        &self,
        observe: &(dyn Fn(Hop) + Send + Sync),
    ) -> Result<Connection, Error> {
        self.attempt(1, observe).await
    }

    /// One login, following redirects.
    async fn attempt(
        &self,
        attempt: u32,
        observe: &(dyn Fn(Hop) + Send + Sync),
    ) -> Result<Connection, Error> {
        let config = &self.inner.config;
        let (auth, token) = match &self.inner.auth {
            Auth::Token(tokens) => {
                let token = tokens.token().await?;
                (AuthMethod::aad_token(token.secret()), Some(token))
            }
            Auth::Sql => {
                let user = config.get_user_id().unwrap_or_default();
                let password = config
                    .get_password()
                    .map(|p| p.expose())
                    .unwrap_or_default();
                (AuthMethod::sql_server(user, password), None)
            }
        };
        let started = tokio::time::Instant::now();
        let deadline = started + config.get_connect_timeout();
        let mut host = config.get_host().to_owned();
        let mut port = config.get_port();
        let mut visited: Vec<(String, u16)> = vec![(host.clone(), port)];
        let mut hops: u32 = 0;
        let mut asked_again = false;
        'hops: loop {
            // Connect Timeout bounds the whole attempt: each hop gets what is left of it.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let error = 'hop: {
                let connected = tcp_connect(
                    &host,
                    port,
                    config.get_ip_address_preference(),
                    left,
                    config.get_connect_timeout(),
                )
                .await;
                let tcp = match connected {
                    Ok(tcp) => tcp,
                    Err(e) => break 'hop e,
                };
                observe(Hop::Connected {
                    host: host.clone(),
                    port,
                    peer: tcp.peer_addr().ok(),
                });
                let liveness = Liveness::of(&tcp);
                let tds = self.tds_config(&host, port, auth.clone(), left);
                match Client::connect(tds, tcp.compat_write()).await {
                    Ok(client) => {
                        let server = format!("{host}:{port}");
                        tracing::info!(
                            server = %server,
                            database = config.get_database().unwrap_or_default(),
                            attempt,
                            redirects = hops,
                            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                            token_expires_in_s = token.as_ref().map(|t| t.expires_in().as_secs()),
                            "connect: logged in"
                        );
                        let policy = match &self.inner.auth {
                            Auth::Token(tokens) => tokens.policy().clone(),
                            Auth::Sql => RenewalPolicy::default(),
                        };
                        let retirement = Retirement::at_login(
                            token.as_ref(),
                            &policy,
                            config.get_connection_lifetime(),
                        );
                        return Ok(Connection::new(
                            client,
                            server,
                            retirement,
                            config.get_command_timeout(),
                            liveness,
                        ));
                    }
                    Err(tiberius::error::Error::Routing {
                        host: next_host,
                        port: next_port,
                    }) => {
                        observe(Hop::Redirected {
                            host: next_host.clone(),
                            port: next_port,
                        });
                        hops = follow_redirect(&mut visited, &next_host, next_port)?;
                        self.inner.metrics.redirected();
                        tracing::info!(
                            from = %format!("{host}:{port}"),
                            to = %format!("{next_host}:{next_port}"),
                            hop = hops,
                            "connect: gateway redirect"
                        );
                        host = next_host;
                        port = next_port;
                        continue 'hops;
                    }
                    Err(e) => break 'hop self.login_error(e, &host, port),
                }
            };
            // A redirect target that refuses or resets the connection: the database may have
            // moved since the gateway answered (a failover), and its route lasts this one
            // connect. Ask the gateway again at once, once, rather than wait out a retry
            // interval on a dead address.
            let stale_route = matches!(
                error,
                Error::Connect { .. } | Error::ConnectionBroken { .. }
            );
            if hops == 0 || asked_again || !stale_route {
                return Err(error);
            }
            tracing::info!(
                target = %format!("{host}:{port}"),
                error = %error,
                "connect: the redirect target is gone; asking the gateway again"
            );
            asked_again = true;
            host = config.get_host().to_owned();
            port = config.get_port();
            visited = vec![(host.clone(), port)];
            hops = 0;
        }
    }

    /// The driver's configuration for one hop, whose TLS handshake and login must finish within
    /// `handshake`.
    fn tds_config(
        &self,
        host: &str,
        port: u16,
        auth: AuthMethod,
        handshake: Duration,
    ) -> tiberius::Config {
        let config = &self.inner.config;
        let mut tds = tiberius::Config::new();
        tds.host(host);
        tds.port(port);
        if let Some(db) = config.get_database() {
            tds.database(db);
        }
        tds.application_name(config.get_application_name());
        if config.get_application_intent() == ApplicationIntent::ReadOnly {
            tds.readonly(true);
        }
        if let Some(wsid) = config.get_workstation_id() {
            tds.client_name(wsid);
        }
        if let Some(size) = config.get_packet_size() {
            tds.packet_size(size);
        }
        let encrypt = config.get_encrypt();
        tds.encryption(match encrypt {
            Encrypt::Mandatory => EncryptionLevel::Required,
            Encrypt::Strict => EncryptionLevel::Strict,
            // Encrypted as `True` (see `Encrypt::Optional`): never data in the clear.
            Encrypt::Optional => EncryptionLevel::On,
        });
        let roots = config.get_trusted_root_certificates();
        if config.get_trust_server_certificate() && encrypt != Encrypt::Strict && roots.is_empty() {
            tds.trust_cert();
        } else {
            for pem in roots {
                tds.trust_cert_ca_bundle(pem.clone());
            }
        }
        if let Some(name) = config.get_host_name_in_certificate() {
            tds.hostname_in_certificate(name);
        }
        tds.handshake_timeout(Some(handshake));
        tds.command_timeout(config.get_command_timeout());
        tds.authentication(auth);
        tds
    }

    /// Classifies a failed login.
    fn login_error(&self, e: tiberius::error::Error, host: &str, port: u16) -> Error {
        use tiberius::error::Error as T;
        let config = &self.inner.config;
        let server = format!("{host}:{port}");
        match e {
            T::Server(t) if t.code() == LOGIN_FAILED => Error::LoginFailed {
                server,
                database: config.get_database().unwrap_or("<default>").to_owned(),
                message: crate::error::redact_jwts(t.message()),
            },
            T::Io {
                kind: std::io::ErrorKind::TimedOut,
                ..
            } => Error::Timeout {
                what: TimeoutKind::Login,
                target: Some(server),
                after: config.get_connect_timeout(),
            },
            T::Io { message, .. } => Error::ConnectionBroken {
                message: format!("during the login to {server}: {message}"),
            },
            T::Tls(message) => Error::Tls {
                host: config
                    .get_host_name_in_certificate()
                    .unwrap_or(host)
                    .to_owned(),
                message,
            },
            other => Error::Sql(other),
        }
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("config", &self.inner.config)
            .field("token_source", &self.token_source())
            .finish()
    }
}

/// What one login attempt went through, hop by hop (for [`Connector::attempt_observed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hop {
    /// TCP is open to `host:port` (the first one is the configured server); TLS and the login
    /// come next.
    Connected {
        host: String,
        port: u16,
        /// The address connected to, as the socket reports it.
        peer: Option<SocketAddr>,
    },
    /// The server there answered the login with a routing address (the gateway's redirect).
    Redirected { host: String, port: u16 },
}

/// Records a redirect to `host:port` after the addresses already `visited` (the first one is
/// where the login started) and returns the hop count, or the error for a loop or one hop too
/// many.
fn follow_redirect(visited: &mut Vec<(String, u16)>, host: &str, port: u16) -> Result<u32, Error> {
    let hops = u32::try_from(visited.len()).unwrap_or(u32::MAX);
    if visited
        .iter()
        .any(|(h, p)| *p == port && h.eq_ignore_ascii_case(host))
    {
        return Err(Error::RedirectLoop {
            host: host.to_owned(),
            port,
            hops,
        });
    }
    if hops > MAX_REDIRECTS {
        return Err(Error::TooManyRedirects {
            max: MAX_REDIRECTS,
            host: host.to_owned(),
            port,
        });
    }
    visited.push((host.to_owned(), port));
    Ok(hops)
}

/// Whether the connect loop retries this error: transient SQL errors, I/O errors and timeouts
/// while connecting. Not: 18456, TLS, redirect loops, token errors.
fn retried_at_connect(e: &Error) -> bool {
    match e {
        Error::Connect { .. } | Error::ConnectionBroken { .. } | Error::Timeout { .. } => true,
        Error::Sql(_) => e.is_transient(),
        _ => false,
    }
}

/// `interval · 2^(attempt-1)`, at most [`Connector::MAX_RETRY_DELAY`], ±25% jitter.
fn retry_delay(attempt: u32, interval: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(16);
    let base = interval.saturating_mul(1 << exp).min(MAX_RETRY_DELAY);
    base.mul_f64(rand::random_range(0.75..=1.25))
}

/// Opens the TCP connection within `bound`: resolves `host`, orders its addresses by
/// `preference`, and tries each in turn (each with what is left of the bound), as SqlClient
/// does. `TCP_NODELAY` and keep-alive on. A time-out reports `connect_timeout`, the setting the
/// caller would raise; a failure, the last address's error.
async fn tcp_connect(
    host: &str,
    port: u16,
    preference: IpAddressPreference,
    bound: Duration,
    connect_timeout: Duration,
) -> Result<TcpStream, Error> {
    let server = format!("{host}:{port}");
    let deadline = tokio::time::Instant::now() + bound;
    let timed_out = || Error::Timeout {
        what: TimeoutKind::TcpConnect,
        target: Some(server.clone()),
        after: connect_timeout,
    };
    let failed = |e: std::io::Error| Error::Connect {
        server: server.clone(),
        kind: e.kind(),
        message: e.to_string(),
    };
    let addresses =
        match tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(found)) => ordered(found.collect(), preference),
            Ok(Err(e)) => return Err(failed(e)),
            Err(_) => return Err(timed_out()),
        };
    let mut last = None;
    for address in addresses {
        match tokio::time::timeout_at(deadline, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                let configured = stream
                    .set_nodelay(true)
                    .and_then(|()| socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive()));
                configured.map_err(failed)?;
                return Ok(stream);
            }
            Ok(Err(e)) => {
                tracing::debug!(%address, error = %e, "connect: address refused, trying the next");
                last = Some(e);
            }
            Err(_) => return Err(timed_out()),
        }
    }
    Err(failed(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the name resolved to no address",
        )
    })))
}

/// `addresses` in the order `preference` asks for (stable within each family).
fn ordered(mut addresses: Vec<SocketAddr>, preference: IpAddressPreference) -> Vec<SocketAddr> {
    match preference {
        IpAddressPreference::Ipv4First => addresses.sort_by_key(|a| a.is_ipv6()),
        IpAddressPreference::Ipv6First => addresses.sort_by_key(|a| a.is_ipv4()),
        _ => {}
    }
    addresses
}

/// TCP keep-alive as SqlClient sets it (dotnet/SqlClient `SNITcpHandle.SetKeepAliveValues`:
/// first probe after 30 s of silence, then every second; go-mssqldb also uses 30 s), with 10
/// probes (Windows' fixed count, which SqlClient gets there): a server that vanished without a
/// reset (a failover behind a firewall that drops the flow, a node gone) is noticed about 40 s
/// into a silence, and the blocked read fails instead of waiting for ever. The pool's checkout
/// ping has its own shorter bound ([`crate::PoolBuilder::ping_timeout`]).
pub(crate) fn keepalive() -> socket2::TcpKeepalive {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_TIME)
        .with_interval(KEEPALIVE_INTERVAL);
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    let keepalive = keepalive.with_retries(KEEPALIVE_PROBES);
    keepalive
}

// Public as `Connector::KEEPALIVE_TIME`.
pub(crate) const KEEPALIVE_TIME: Duration = Duration::from_secs(30);
// Public as `Connector::KEEPALIVE_INTERVAL`.
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
// Public as `Connector::KEEPALIVE_PROBES`.
pub(crate) const KEEPALIVE_PROBES: u32 = 10;

impl Connector {
    /// The most gateway redirects one login follows.
    pub const MAX_REDIRECTS: u32 = MAX_REDIRECTS;
    /// The longest delay between two connect attempts, whatever `Connect Retry Interval` says.
    pub const MAX_RETRY_DELAY: Duration = MAX_RETRY_DELAY;
    /// Silence before the first keep-alive probe.
    pub const KEEPALIVE_TIME: Duration = KEEPALIVE_TIME;
    /// Between keep-alive probes.
    pub const KEEPALIVE_INTERVAL: Duration = KEEPALIVE_INTERVAL;
    /// Unanswered probes before the connection is declared dead.
    pub const KEEPALIVE_PROBES: u32 = KEEPALIVE_PROBES;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_from_the_interval_with_jitter_and_a_cap() {
        let interval = Duration::from_secs(10);
        for (attempt, base) in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 60.0), (9, 60.0)] {
            let d = retry_delay(attempt, interval).as_secs_f64();
            assert!(
                d >= base * 0.75 && d <= base * 1.25,
                "attempt {attempt}: {d}"
            );
        }
    }

    #[test]
    fn redirects_are_followed_up_to_the_bound_and_loops_are_refused() {
        let mut visited = vec![("gw.example".to_owned(), 1433)];
        assert_eq!(
            follow_redirect(&mut visited, "node1.example", 11000).ok(),
            Some(1)
        );
        // Back to the gateway (any case): a loop.
        let err = follow_redirect(&mut visited, "GW.example", 1433).expect_err("loop");
        assert!(
            matches!(err, Error::RedirectLoop { hops: 2, .. }),
            "{err:?}"
        );
        // Same host, another port: a new address.
        let mut visited = vec![("gw.example".to_owned(), 1433)];
        for hop in 1..=MAX_REDIRECTS {
            let port = 11000 + u16::try_from(hop).expect("small");
            assert_eq!(
                follow_redirect(&mut visited, "node.example", port).ok(),
                Some(hop)
            );
        }
        let err = follow_redirect(&mut visited, "node.example", 12000).expect_err("too many");
        assert!(
            matches!(
                err,
                Error::TooManyRedirects {
                    max: 10,
                    port: 12000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("more than 10 times"), "{err}");
    }

    #[test]
    fn only_connect_time_transient_errors_are_retried() {
        let connect = Error::Connect {
            server: "h:1".into(),
            kind: std::io::ErrorKind::ConnectionRefused,
            message: "refused".into(),
        };
        assert!(retried_at_connect(&connect));
        let login = Error::LoginFailed {
            server: "h:1".into(),
            database: "db".into(),
            message: "Login failed".into(),
        };
        assert!(!retried_at_connect(&login));
        let tls = Error::Tls {
            host: "h".into(),
            message: "bad cert".into(),
        };
        assert!(!retried_at_connect(&tls));
        let timeout = Error::Timeout {
            what: TimeoutKind::Login,
            target: None,
            after: Duration::from_secs(1),
        };
        assert!(retried_at_connect(&timeout));
    }

    /// A loopback listener (kept open while the returned handle lives) and its port.
    async fn listening() -> (tokio::net::TcpListener, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        (listener, port)
    }

    #[test]
    fn addresses_are_tried_in_the_preferred_family_first() {
        let v4a: SocketAddr = "10.0.0.1:1433".parse().expect("v4");
        let v4b: SocketAddr = "10.0.0.2:1433".parse().expect("v4");
        let v6: SocketAddr = "[2001:db8::1]:1433".parse().expect("v6");
        let resolved = vec![v6, v4a, v4b];
        assert_eq!(
            ordered(resolved.clone(), IpAddressPreference::Ipv4First),
            [v4a, v4b, v6]
        );
        assert_eq!(
            ordered(vec![v4a, v6, v4b], IpAddressPreference::Ipv6First),
            [v6, v4a, v4b]
        );
        assert_eq!(
            ordered(resolved.clone(), IpAddressPreference::UsePlatformDefault),
            resolved
        );
    }

    #[tokio::test]
    async fn a_refused_address_falls_back_to_the_next_one() {
        // `localhost` has an IPv6 and an IPv4 address on most machines; only IPv4 listens here.
        // Asked for IPv6 first, the connect is refused there (or has no IPv6 at all) and goes on.
        let (_listener, port) = listening().await;
        let stream = tcp_connect(
            "localhost",
            port,
            IpAddressPreference::Ipv6First,
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .await
        .expect("falls back to 127.0.0.1");
        assert!(stream.peer_addr().expect("peer").is_ipv4());
    }

    #[tokio::test]
    async fn connections_probe_a_silent_peer_with_tcp_keep_alive() {
        let (_listener, port) = listening().await;
        let stream = tcp_connect(
            "127.0.0.1",
            port,
            IpAddressPreference::Ipv4First,
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .await
        .expect("connects");
        let socket = socket2::SockRef::from(&stream);
        assert!(socket.keepalive().expect("SO_KEEPALIVE"));
        assert_eq!(socket.tcp_keepalive_time().expect("idle"), KEEPALIVE_TIME);
        #[cfg(target_os = "linux")]
        {
            assert_eq!(
                socket.tcp_keepalive_interval().expect("interval"),
                KEEPALIVE_INTERVAL
            );
            assert_eq!(
                socket.tcp_keepalive_retries().expect("probes"),
                KEEPALIVE_PROBES
            );
        }
        assert!(socket.tcp_nodelay().expect("nodelay"));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_connect_error_naming_it() {
        let port = crate::test_support::closed_port();
        let err = tcp_connect(
            "127.0.0.1",
            port,
            IpAddressPreference::Ipv4First,
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .await
        .expect_err("nobody listens");
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn sql_password_needs_no_token_source_and_retries_refused_connections() {
        let (mut config, _) = crate::test_support::sql_login_to_closed_port();
        config
            .connect_retry_count(1)
            .connect_retry_interval(Duration::from_secs(1));
        let connector = Connector::new(config).expect("connector");
        assert!(connector.token_source().is_none());
        let started = tokio::time::Instant::now();
        let err = connector.connect().await.expect_err("nobody listens");
        assert!(
            started.elapsed() >= Duration::from_millis(750),
            "retried without a delay"
        );
        match &err {
            Error::TransientExhausted { attempts, last } => {
                assert_eq!(*attempts, 2);
                assert!(matches!(**last, Error::Connect { .. }), "{last:?}");
            }
            other => panic!("expected TransientExhausted, got {other:?}"),
        }
        assert!(!format!("{err} {err:?} {connector:?}").contains("not-shown"));
    }
}
