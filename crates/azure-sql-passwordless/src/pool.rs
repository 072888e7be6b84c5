//! The connection pool: `bb8` over the [`Connector`], with the bounds that keep tokens and
//! permissions honest.
//!
//! # Bounds
//!
//! | bound | default | why |
//! |---|---|---|
//! | login token freshness | a connection is not handed out once its login token is within the policy's minimum remaining lifetime of expiry (2 min for Entra's tokens, scaled down for short ones), plus a random share of up to a tenth of the token's lifetime, and a newer token is cached; with no newer token (renewal failing), it serves until its token expires, since a new login would carry the same token | TDS cannot give an open session a new token, and Azure SQL may revalidate a session's token (error 37396) |
//! | `Connection Lifetime` | 10 minutes ([`Config::connection_lifetime`]); each connection's own bound is drawn between 90% and 100% of it | a revoked role or a dropped user takes effect within it: new logins see the new permissions; the spread keeps connections opened together from reconnecting together |
//! | idle ping | a connection idle for more than 30 s is pinged (`SELECT 1`) before it is handed out; others are not | a round trip per `get()` would double the cost of short requests; a connection idle that long may have been cut by a failover or the gateway |
//! | idle timeout | 5 minutes | idle connections beyond `Min Pool Size` are closed |
//! | wait for a connection | 30 s ([`PoolBuilder::connection_timeout`]) | then [`Error::PoolTimeout`] |
//! | size | `Max Pool Size` 100, `Min Pool Size` 0 | |
//!
//! Checking freshness, lifetime and brokenness costs no round trip. A connection that reports
//! an I/O error, a timeout or 37396 is marked broken (see [`crate::connection`]) and discarded
//! when it returns to the pool; the caller gets the error, the next `get()` a fresh connection.
//!
//! A connect that fails (after its own retries) fails the callers waiting in `get()` at that
//! moment with its error (the Entra `AADSTS` text, the login refusal, ...), rather than
//! letting them wait out the connection timeout.

use crate::config::Config;
use crate::connect::Connector;
use crate::connection::Connection;
use crate::credential::{self, TokenProvider};
use crate::error::Error;
use crate::token::{RenewalPolicy, TokenSource, TokenState};
use azure_core::credentials::TokenCredential;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A pooled connection; derefs to [`Connection`] and returns to the pool when dropped.
pub type PooledConnection<'a> = bb8::PooledConnection<'a, Manager>;

/// Default for [`PoolBuilder::ping_after_idle`].
pub const DEFAULT_PING_AFTER_IDLE: Duration = Duration::from_secs(30);
/// Default for [`PoolBuilder::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Default for [`PoolBuilder::connection_timeout`].
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A pool of logged-in connections sharing one self-renewing token. Cheap to clone.
///
/// ```no_run
/// use azure_sql_passwordless::{Config, Pool};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let config: Config = "Server=tcp:myserver.database.windows.net,1433;Database=mydb;\
///                       Authentication=Active Directory Workload Identity"
///     .parse()?;
/// let pool = Pool::new(config).await?;
/// let mut conn = pool.get().await?;
/// let rows = conn
///     .simple_query("SELECT customer_id FROM dbo.Customer")
///     .await?
///     .into_first_result()
///     .await?;
/// println!("{} customers; pool: {:?}", rows.len(), pool.state());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: bb8::Pool<Manager>,
    shared: Arc<Shared>,
}

struct Shared {
    waiting: AtomicU32,
    max_size: u32,
    failures: Arc<watch::Sender<Option<Error>>>,
    tokens: Option<TokenSource>,
}

/// What the pool holds now: [`Pool::state`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PoolState {
    /// Connections open (idle and in use).
    pub size: u32,
    /// Connections idle in the pool.
    pub idle: u32,
    /// Connections handed out.
    pub in_use: u32,
    /// Callers inside [`Pool::get`] now.
    pub waiting: u32,
    /// `Max Pool Size`.
    pub max_size: u32,
    /// Connections opened since the pool was built.
    pub opened: u64,
    /// Connections discarded on return because they broke (I/O error, timeout, 37396) or
    /// their token or lifetime ran out while in use.
    pub closed_broken: u64,
    /// Connections discarded at checkout (token too old, lifetime reached, ping failed).
    pub closed_invalid: u64,
    /// Connections closed by the lifetime or idle bounds while idle.
    pub closed_reaped: u64,
    /// Callers that gave up waiting ([`Error::PoolTimeout`]).
    pub timed_out: u64,
    /// The token cache (`None` for `Sql Password`).
    pub token: Option<TokenState>,
}

impl Pool {
    /// A pool for `config`, with the token provider its `Authentication` keyword names and the
    /// default bounds. Opens `Min Pool Size` connections before returning (none by default).
    pub async fn new(config: Config) -> Result<Self, Error> {
        Self::builder(config).build().await
    }

    /// A builder, to share a token source or set the pool's bounds.
    pub fn builder(config: Config) -> PoolBuilder {
        PoolBuilder {
            config,
            tokens: Tokens::FromConfig,
            policy: RenewalPolicy::default(),
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            ping_after_idle: DEFAULT_PING_AFTER_IDLE,
        }
    }

    /// A logged-in connection: an idle one that is still fresh, or a new one. Waits at most the
    /// connection timeout ([`Error::PoolTimeout`]); a connect that fails while the caller waits
    /// fails the wait with its error.
    pub async fn get(&self) -> Result<PooledConnection<'_>, Error> {
        self.wait(self.inner.get()).await
    }

    /// Like [`get`](Self::get), for a connection that must outlive the borrow of the pool (to
    /// move it into a task).
    pub async fn get_owned(&self) -> Result<PooledConnection<'static>, Error> {
        self.wait(self.inner.get_owned()).await
    }

    async fn wait<'a, F>(&self, get: F) -> Result<PooledConnection<'a>, Error>
    where
        F: std::future::Future<Output = Result<PooledConnection<'a>, bb8::RunError<Error>>>,
    {
        let _waiting = Waiting::enter(&self.shared.waiting);
        let started = Instant::now();
        let mut failures = self.shared.failures.subscribe();
        tokio::pin!(get);
        loop {
            tokio::select! {
                biased;
                result = &mut get => {
                    return result.map_err(|e| self.run_error(e, started));
                }
                changed = failures.changed() => {
                    if changed.is_err() {
                        // The sender lives as long as the pool; just keep waiting.
                        return (&mut get).await.map_err(|e| self.run_error(e, started));
                    }
                    let failure = failures.borrow_and_update().clone();
                    if let Some(error) = failure {
                        tracing::debug!(error = %error, "pool: a connect failed while waiting");
                        return Err(error);
                    }
                }
            }
        }
    }

    /// Size, idle, in use, waiting, lifetime counters and the token's state.
    pub fn state(&self) -> PoolState {
        let s = self.inner.state();
        let st = &s.statistics;
        PoolState {
            size: s.connections,
            idle: s.idle_connections,
            in_use: s.connections.saturating_sub(s.idle_connections),
            waiting: self.shared.waiting.load(Ordering::Relaxed),
            max_size: self.shared.max_size,
            opened: st.connections_created,
            closed_broken: st.connections_closed_broken,
            closed_invalid: st.connections_closed_invalid,
            closed_reaped: st.connections_closed_max_lifetime + st.connections_closed_idle_timeout,
            timed_out: st.get_timed_out,
            token: self.shared.tokens.as_ref().map(TokenSource::state),
        }
    }

    /// The token source the pool's connections log in with (`None` for `Sql Password`): pass
    /// it to another pool's builder to share it.
    pub fn token_source(&self) -> Option<&TokenSource> {
        self.shared.tokens.as_ref()
    }

    fn run_error(&self, e: bb8::RunError<Error>, started: Instant) -> Error {
        match e {
            bb8::RunError::User(e) => e,
            bb8::RunError::TimedOut => {
                let s = self.inner.state();
                Error::PoolTimeout {
                    waited: started.elapsed(),
                    size: s.connections,
                    max_size: self.shared.max_size,
                }
            }
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("state", &self.state())
            .finish()
    }
}

/// Counts a caller inside `get()` until it leaves (however it leaves).
struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    fn enter(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Tokens {
    FromConfig,
    Source(TokenSource),
    Provider(Arc<dyn TokenProvider>),
}

/// Builds a [`Pool`]: where tokens come from, and the pool's bounds (see the module docs).
///
/// ```no_run
/// use azure_sql_passwordless::{Config, Pool};
/// use std::time::Duration;
///
/// # async fn example(orders: Config, billing: Config) -> Result<(), azure_sql_passwordless::Error> {
/// // Two databases on one server: one token, one Entra request per lifetime between them.
/// let orders = Pool::new(orders).await?;
/// let shared = orders.token_source().cloned().expect("an Entra pool has a token source");
/// let billing = Pool::builder(billing)
///     .token_source(shared)
///     .connection_timeout(Duration::from_secs(10))
///     .build()
///     .await?;
/// # Ok(())
/// # }
/// ```
pub struct PoolBuilder {
    config: Config,
    tokens: Tokens,
    policy: RenewalPolicy,
    connection_timeout: Duration,
    idle_timeout: Option<Duration>,
    ping_after_idle: Duration,
}

impl PoolBuilder {
    /// Log in with tokens from `tokens` (shared with other pools, say) instead of a provider
    /// picked from the `Authentication` keyword.
    pub fn token_source(mut self, tokens: TokenSource) -> Self {
        self.tokens = Tokens::Source(tokens);
        self
    }

    /// Log in with tokens from `provider`, cached by a new [`TokenSource`].
    pub fn provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.tokens = Tokens::Provider(provider);
        self
    }

    /// Log in with tokens from any `azure_core` credential (for example one of
    /// `azure_identity`'s), cached by a new [`TokenSource`].
    pub fn credential(self, credential: Arc<dyn TokenCredential>) -> Self {
        self.provider(credential::from_token_credential(credential))
    }

    /// The renewal policy of the token source this builder creates (not used with
    /// [`token_source`](Self::token_source), which has its own).
    pub fn renewal_policy(mut self, policy: RenewalPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long `get()` waits for a connection (default 30 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Idle connections beyond `Min Pool Size` are closed after this long (default 5 min;
    /// `None`: never).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// A connection idle for longer than this is pinged before it is handed out (default
    /// 30 s; [`Duration::ZERO`]: every checkout pings).
    pub fn ping_after_idle(mut self, after: Duration) -> Self {
        self.ping_after_idle = after;
        self
    }

    /// Builds the pool and opens `Min Pool Size` connections.
    pub async fn build(self) -> Result<Pool, Error> {
        if self.connection_timeout.is_zero() {
            return Err(Error::InvalidPoolSetting {
                setting: "connection_timeout",
                reason: "must be more than zero",
            });
        }
        if self.idle_timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::InvalidPoolSetting {
                setting: "idle_timeout",
                reason: "must be more than zero (None: never)",
            });
        }
        let config = self.config;
        let tokens = match self.tokens {
            Tokens::Source(t) => Some(t),
            Tokens::Provider(p) => Some(TokenSource::with_policy(
                p,
                config.get_token_scope(),
                self.policy,
            )),
            Tokens::FromConfig => credential::provider_for(&config)?
                .map(|p| TokenSource::with_policy(p, config.get_token_scope(), self.policy)),
        };
        let connector = Connector::build(config, tokens.clone())?;
        let config = connector.config();
        let lifetime = config.get_connection_lifetime();
        let max_size = config.get_max_pool_size();
        let min_idle = config.get_min_pool_size();
        let failures = Arc::new(watch::channel(None).0);
        let manager = Manager {
            connector: connector.clone(),
            lifetime,
            ping_after_idle: self.ping_after_idle,
            failures: failures.clone(),
        };
        let builder = bb8::Pool::builder()
            .max_size(max_size)
            .min_idle((min_idle > 0).then_some(min_idle))
            .test_on_check_out(true)
            .max_lifetime(Some(lifetime))
            .idle_timeout(self.idle_timeout)
            .connection_timeout(self.connection_timeout)
            // Our connector retries transient errors itself; a failure is final and is handed to
            // the callers waiting.
            .retry_connection(false)
            // Retire connections past their lifetime within a quarter of it.
            .reaper_rate((lifetime / 4).clamp(Duration::from_millis(100), Duration::from_secs(30)))
            .queue_strategy(bb8::QueueStrategy::Lifo)
            .error_sink(Box::new(LogSink));
        let inner = builder.build(manager).await?;
        tracing::info!(
            server = config.get_host(),
            database = config.get_database().unwrap_or_default(),
            max_size,
            min_idle,
            lifetime_s = lifetime.as_secs(),
            token_provider = tokens.as_ref().map(TokenSource::provider_kind),
            "pool: ready"
        );
        Ok(Pool {
            inner,
            shared: Arc::new(Shared {
                waiting: AtomicU32::new(0),
                max_size,
                failures,
                tokens,
            }),
        })
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("config", &self.config)
            .field("connection_timeout", &self.connection_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("ping_after_idle", &self.ping_after_idle)
            .finish_non_exhaustive()
    }
}

/// The `bb8` connection manager: opens connections with a [`Connector`], checks them cheaply
/// at checkout, and tells the pool which ones to discard.
#[derive(Clone)]
pub struct Manager {
    connector: Connector,
    lifetime: Duration,
    ping_after_idle: Duration,
    failures: Arc<watch::Sender<Option<Error>>>,
}

impl Manager {
    /// Why `conn` must not be handed out or kept, if it must not.
    fn retire_reason(&self, conn: &Connection) -> Option<&'static str> {
        if conn.is_broken() {
            Some("broken")
        } else if conn.token_retired() && self.token_replaceable(conn) {
            Some("login token about to expire")
        } else if conn.lifetime_reached() {
            Some("Connection Lifetime reached")
        } else {
            None
        }
    }
}

impl Manager {
    /// Whether replacing a connection past its token retirement point brings anything: a newer
    /// token is cached, or its own has expired. Otherwise (renewal still in flight, or failing)
    /// a new login would carry the same token, so the connection serves on until its token
    /// expires or a newer one arrives.
    fn token_replaceable(&self, conn: &Connection) -> bool {
        let Some(expires_at) = conn.token_expires_at() else {
            return true;
        };
        Instant::now() >= expires_at
            || self
                .connector
                .token_source()
                .and_then(TokenSource::cached_expires_at)
                .is_none_or(|cached| cached > expires_at)
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = Connection;
    type Error = Error;

    async fn connect(&self) -> Result<Connection, Error> {
        match self.connector.connect().await {
            Ok(conn) => Ok(conn),
            Err(e) => {
                tracing::warn!(error = %e, "pool: connect failed");
                self.failures.send_replace(Some(e.clone()));
                Err(e)
            }
        }
    }

    async fn is_valid(&self, conn: &mut Connection) -> Result<(), Error> {
        if let Some(reason) = self.retire_reason(conn) {
            tracing::debug!(
                server = conn.server(),
                reason,
                "pool: retiring a connection at checkout"
            );
            return Err(Error::ConnectionRetired { reason });
        }
        if conn.idle_for() > self.ping_after_idle {
            conn.ping().await?;
        }
        Ok(())
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        match self.retire_reason(conn) {
            Some(reason) => {
                tracing::debug!(
                    server = conn.server(),
                    reason,
                    "pool: discarding a returned connection"
                );
                true
            }
            None => false,
        }
    }
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("connector", &self.connector)
            .field("lifetime", &self.lifetime)
            .field("ping_after_idle", &self.ping_after_idle)
            .finish()
    }
}

/// Logs what bb8 reports (connects that failed in the background, connections retired at
/// checkout).
#[derive(Debug, Clone, Copy)]
struct LogSink;

impl bb8::ErrorSink<Error> for LogSink {
    fn sink(&self, error: Error) {
        match error {
            Error::ConnectionRetired { reason } => {
                tracing::debug!(reason, "pool: connection retired");
            }
            other => tracing::warn!(error = %other, "pool: connection error"),
        }
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<Error>> {
        Box::new(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Authentication;

    fn unreachable_sql_config() -> Config {
        // A port nobody listens on: bind, learn the port, close.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let mut config = Config::new("127.0.0.1");
        config
            .port(port)
            .authentication(Authentication::SqlPassword)
            .user_id("reader")
            .password("not-shown")
            .connect_retry_count(0);
        config
    }

    #[tokio::test]
    async fn out_of_range_settings_are_refused_before_anything_connects() {
        let err = Pool::builder(unreachable_sql_config())
            .connection_timeout(Duration::ZERO)
            .build()
            .await
            .expect_err("zero timeout");
        assert!(
            matches!(
                err,
                Error::InvalidPoolSetting {
                    setting: "connection_timeout",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = Pool::builder(unreachable_sql_config())
            .idle_timeout(Some(Duration::ZERO))
            .build()
            .await
            .expect_err("zero idle timeout");
        assert!(
            matches!(
                err,
                Error::InvalidPoolSetting {
                    setting: "idle_timeout",
                    ..
                }
            ),
            "{err:?}"
        );
        let mut config = unreachable_sql_config();
        config.min_pool_size(5).max_pool_size(2);
        let err = Pool::new(config).await.expect_err("min above max");
        assert!(matches!(err, Error::Config(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_failing_connect_fails_the_waiting_caller_with_its_error_not_a_timeout() {
        let pool = Pool::builder(unreachable_sql_config())
            .connection_timeout(Duration::from_secs(20))
            .build()
            .await
            .expect("a pool with no minimum connects lazily");
        let state = pool.state();
        assert_eq!((state.size, state.waiting), (0, 0));
        assert!(state.token.is_none(), "Sql Password has no token");
        // The connect's own error, not the pool's 20-second timeout (Error::PoolTimeout).
        let err = pool.get().await.expect_err("nobody listens");
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        assert_eq!(pool.state().timed_out, 0);
        assert_eq!(pool.state().waiting, 0, "the caller is no longer counted");
        assert!(!format!("{err} {pool:?}").contains("not-shown"));
    }
}
