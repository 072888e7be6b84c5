//! The connection pool: `bb8` over the [`Connector`], with the bounds that keep tokens,
//! permissions and sessions honest.
//!
//! What it does for callers, and its bounds, is documented on [`Pool`].

mod manager;
mod waiters;

pub use manager::Manager;

use crate::config::Config;
use crate::connect::Connector;
use crate::credential::{self, TokenProvider};
use crate::error::Error;
use crate::metrics::{self, ConnectMetrics, Meters, PoolMetrics, PoolReading};
use crate::retirement::RetireReason;
use crate::token::{RenewalPolicy, TokenSource, TokenState};
use azure_core::credentials::TokenCredential;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use waiters::ConnectFailures;

/// A pooled connection; derefs to [`crate::Connection`] and returns to the pool when dropped.
pub type PooledConnection<'a> = bb8::PooledConnection<'a, Manager>;

// Public as `PoolBuilder::DEFAULT_PING_AFTER_IDLE`.
pub(crate) const DEFAULT_PING_AFTER_IDLE: Duration = Duration::from_secs(30);
// Public as `PoolBuilder::DEFAULT_PING_TIMEOUT`.
pub(crate) const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(5);
// Public as `PoolBuilder::DEFAULT_IDLE_TIMEOUT`.
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
// Public as `PoolBuilder::DEFAULT_CONNECTION_TIMEOUT`.
pub(crate) const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

impl PoolBuilder {
    /// Default for [`PoolBuilder::ping_after_idle`].
    pub const DEFAULT_PING_AFTER_IDLE: Duration = DEFAULT_PING_AFTER_IDLE;
    /// Default for [`PoolBuilder::ping_timeout`]: HikariCP's `validationTimeout` default. A `SELECT 1`
    /// answers in milliseconds even on a busy Azure SQL database; 5 s without an answer means the
    /// node is gone, not slow.
    pub const DEFAULT_PING_TIMEOUT: Duration = DEFAULT_PING_TIMEOUT;
    /// Default for [`PoolBuilder::idle_timeout`].
    pub const DEFAULT_IDLE_TIMEOUT: Duration = DEFAULT_IDLE_TIMEOUT;
    /// Default for [`PoolBuilder::connection_timeout`].
    pub const DEFAULT_CONNECTION_TIMEOUT: Duration = DEFAULT_CONNECTION_TIMEOUT;
}

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
///
/// # Bounds
///
/// | bound | default | why |
/// |---|---|---|
/// | login token freshness | a connection is not handed out once its login token is within the policy's minimum remaining lifetime of expiry (2 min for Entra's tokens, scaled down for short ones), plus a random share of up to a tenth of the token's lifetime, and a newer token is cached; with no newer token (renewal failing), it serves until its token expires, since a new login would carry the same token (see `retirement.rs`) | TDS cannot give an open session a new token, and Azure SQL may revalidate a session's token (error 37396) |
/// | `Connection Lifetime` | 10 minutes ([`Config::connection_lifetime`]); each connection's own bound is drawn between 90% and 100% of it | a revoked role or a dropped user takes effect within it: new logins see the new permissions; the spread keeps connections opened together from reconnecting together |
/// | session reset | every connection that comes back is reset by the server before the next caller's first statement runs (open transaction rolled back, temporary tables dropped, `SET` options, database and session context back to the login's); a reset the server does not acknowledge discards the connection | what one caller leaves on a session must never reach the next; the reset rides on the next request's first packet (TDS RESETCONNECTION), so it costs no round trip. The isolation level is the one thing a reset keeps (on SQL Server and Azure SQL): after a caller may have changed it ([`Connection::transaction_at`](crate::Connection::transaction_at), a `SET TRANSACTION ISOLATION LEVEL` statement, the raw client) the next checkout puts it back to READ COMMITTED in one round trip (`connection/leftovers.rs`). A session left acting as another user (`EXECUTE AS` without `REVERT`, `sp_setapprole`) cannot be reset (18059, the server drops it): after a statement that may do that, the next checkout sends the reset with a round trip of its own and passes over a connection the server refuses |
/// | server gone | every checkout asks the socket, without a round trip, whether the server closed or reset the connection while it sat idle (a non-blocking peek, `connection/liveness.rs`); such a connection is discarded and the same `get()` goes on to another or a new one | when Azure SQL moves a database (failover, maintenance) every session on the old node is cut at once, most of them idle in the pool: without the check each would cost a caller a failed request, and a retry could draw another dead one |
/// | idle ping | a connection idle for more than 30 s is pinged (`SELECT 1`) before it is handed out, and the ping gets 5 s ([`PoolBuilder::ping_timeout`]); others are not pinged | a round trip per `get()` would double the cost of short requests; a connection idle that long may have been cut by a failover or the gateway, and a node that vanished without a reset must cost the caller seconds, not its whole wait: a ping that fails or times out discards the connection and the same `get()` goes on to another or a new one |
/// | TCP keep-alive | probes after 30 s of silence, every second, 10 of them (as SqlClient) | a connection in use on a node that vanished fails within about 40 s instead of hanging |
/// | idle timeout | 5 minutes | idle connections beyond `Min Pool Size` are closed |
/// | wait for a connection | 30 s ([`PoolBuilder::connection_timeout`]) | then [`Error::PoolTimeout`], which carries the last connect error when connecting has been failing |
/// | size | `Max Pool Size` 100, `Min Pool Size` 0 | |
///
/// Checking freshness, lifetime, brokenness and the reset's acknowledgement costs no round trip.
/// A connection that reports an I/O error, a timeout or 37396 is marked broken (see [`Connection`](crate::Connection)) and discarded when it returns to the pool; the caller gets the error,
/// the next `get()` a fresh connection.
///
/// A connect that fails (after its own retries) fails one caller waiting for a connection, the
/// one that has waited longest, with its error (the Entra `AADSTS` text, the login refusal,
/// ...) rather than letting it wait out the connection timeout; callers holding a connection are
/// not affected (see `waiters`).
///
/// [`Pool::close`] drains the pool for a graceful shutdown.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    inner: bb8::Pool<Manager>,
    /// `db.client.connection.pool.name` in metrics, and in logs.
    name: String,
    min_idle: u32,
    waiting: AtomicU32,
    max_size: u32,
    connection_timeout: Duration,
    ping_after_idle: Duration,
    ping_timeout: Duration,
    manager: Manager,
    /// Connections discarded at checkout (bb8 counts them as broken: they go back marked so).
    closed_invalid: AtomicU64,
    tokens: Option<TokenSource>,
    /// Whether this pool made its token source (and so may stop it when it closes).
    owns_tokens: bool,
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
    /// Connections discarded on return because they broke (I/O error, timeout, 37396), their
    /// session reset went unacknowledged, or their token or lifetime ran out while in use.
    pub closed_broken: u64,
    /// Connections discarded at checkout (token too old, lifetime reached, ping failed or timed
    /// out, reset unacknowledged).
    pub closed_invalid: u64,
    /// Connections closed by the lifetime or idle bounds while idle.
    pub closed_reaped: u64,
    /// Callers that gave up waiting ([`Error::PoolTimeout`]).
    pub timed_out: u64,
    /// Whether [`Pool::close`] was called.
    pub closed: bool,
    /// The token cache (`None` for `Sql Password`).
    pub token: Option<TokenState>,
}

/// What [`Pool::close`] left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Closed {
    /// Connections still handed out when the grace period ran out (0: every one came back and
    /// was closed). They are closed when their holders drop them.
    pub in_use: u32,
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
            ping_timeout: DEFAULT_PING_TIMEOUT,
            name: None,
            meters: Meters::default(),
        }
    }

    /// A logged-in connection whose session is clean: an idle one that is still fresh (its
    /// session reset by the server with the first request the caller sends), or a new one.
    /// Waits at most the connection timeout ([`Error::PoolTimeout`], with the last connect error
    /// if connecting has been failing); a connect that fails while the caller waits for a
    /// connection fails the wait with its error.
    pub async fn get(&self) -> Result<PooledConnection<'_>, Error> {
        self.checkout(|| self.shared.inner.get()).await
    }

    /// Like [`get`](Self::get), for a connection that must outlive the borrow of the pool (to
    /// move it into a task).
    pub async fn get_owned(&self) -> Result<PooledConnection<'static>, Error> {
        self.checkout(|| self.shared.inner.get_owned()).await
    }

    /// Waits for a connection from bb8, checks it, and goes on to another while a check fails,
    /// all within the connection timeout.
    async fn checkout<'a, G, F>(&self, get: G) -> Result<PooledConnection<'a>, Error>
    where
        G: Fn() -> F,
        F: Future<Output = Result<PooledConnection<'a>, bb8::RunError<Error>>>,
    {
        let shared = &self.shared;
        if shared.manager.closing.load(Ordering::Acquire) {
            return Err(Error::PoolClosed);
        }
        let _waiting = Waiting::enter(&shared.waiting);
        let started = Instant::now();
        let deadline = started + shared.connection_timeout;
        loop {
            let got = tokio::time::timeout_at(deadline, get());
            tokio::pin!(got);
            // An idle connection comes at the first poll: only a caller that has to wait is
            // registered to hear of failed connects (the warm path stays lock-free).
            let got = match futures_util::poll!(&mut got) {
                std::task::Poll::Ready(got) => got,
                std::task::Poll::Pending => {
                    let mut waiter = shared.manager.failures.wait();
                    tokio::select! {
                        biased;
                        got = &mut got => got,
                        error = waiter.failed() => {
                            tracing::debug!(error = %error, "pool: a connect failed while waiting");
                            return Err(error);
                        }
                    }
                }
            };
            let mut conn = match got {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return Err(self.run_error(e, started)),
                Err(_elapsed) => return Err(self.pool_timeout(started)),
            };
            match self.check_out(&mut conn, deadline).await {
                Ok(at) => {
                    conn.checked_out = shared.manager.metrics.checked_out(started, at);
                    return Ok(conn);
                }
                Err(reason) => {
                    tracing::debug!(
                        server = conn.server(),
                        reason = reason.as_str(),
                        "pool: retiring a connection at checkout"
                    );
                    shared.closed_invalid.fetch_add(1, Ordering::Relaxed);
                    // Discarded on its way back, where the reason is counted.
                    conn.retire(reason);
                }
            }
        }
    }

    /// When `conn` was found fit to hand out, or why it must not be: the free checks (one
    /// clock read for all of them), the socket's word on whether the server let go of it (no
    /// round trip), then, when due, one round trip bounded by the ping timeout (and the caller's
    /// deadline): the isolation level put back after a caller changed it, or a ping for a
    /// connection idle long enough. Either also proves the session reset asked for at its
    /// return.
    async fn check_out(
        &self,
        conn: &mut PooledConnection<'_>,
        deadline: Instant,
    ) -> Result<Instant, RetireReason> {
        let shared = &self.shared;
        let now = Instant::now();
        if let Some(reason) = shared.manager.retire_reason(conn, now) {
            return Err(reason);
        }
        if let Some(gone) = conn.server_gone() {
            tracing::info!(server = conn.server(), %gone, "pool: an idle connection is gone");
            return Err(RetireReason::ServerClosed);
        }
        // One round trip when it is due: when a caller may have left what a reset does not undo
        // (the isolation level, put back; another identity, which the server refuses to reset),
        // else a ping after a long idle. Either proves the connection, and the reset asked for
        // at its return.
        let prove = conn.reset_needs_proof();
        if !prove && conn.idle_at(now) <= shared.ping_after_idle {
            return Ok(now);
        }
        let what = if prove {
            "putting the session back"
        } else {
            "checkout ping"
        };
        let bound = shared
            .ping_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let trip = async {
            if prove {
                conn.prove_reset().await
            } else {
                conn.ping().await
            }
        };
        match tokio::time::timeout(bound, trip).await {
            Ok(Ok(())) if conn.reset_unacknowledged() => Err(RetireReason::ResetUnacknowledged),
            Ok(Ok(())) => Ok(Instant::now()),
            Ok(Err(e)) => {
                tracing::info!(server = conn.server(), error = %e, "pool: {what} failed");
                Err(RetireReason::PingFailed)
            }
            Err(_) => {
                tracing::warn!(
                    server = conn.server(),
                    after_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
                    "pool: {what} got no answer; the server may have gone away"
                );
                Err(RetireReason::PingFailed)
            }
        }
    }

    /// Stops handing out connections ([`get`](Self::get) then fails with
    /// [`Error::PoolClosed`]), closes the idle ones, waits up to `grace` for those in use to
    /// come back (each is closed as it does), and stops the token source's background
    /// renewal if this pool made the source and nobody else holds it. For a graceful shutdown:
    ///
    /// ```no_run
    /// # async fn example(pool: azure_sql_passwordless::Pool) {
    /// let closed = pool.close(std::time::Duration::from_secs(10)).await;
    /// if closed.in_use > 0 {
    ///     eprintln!("{} connections were still in use", closed.in_use);
    /// }
    /// # }
    /// ```
    pub async fn close(&self, grace: Duration) -> Closed {
        let shared = &self.shared;
        let deadline = Instant::now() + grace;
        shared.manager.closing.store(true, Ordering::Release);
        // Idle connections: take each out and drop it (a closing pool keeps none).
        while shared.inner.state().idle_connections > 0 {
            match tokio::time::timeout(Duration::from_millis(50), shared.inner.get()).await {
                Ok(Ok(conn)) => drop(conn),
                _ => break,
            }
        }
        // Connections in use: each is closed as it comes back.
        loop {
            let returned = shared.manager.returned.notified();
            let in_use = self.state().in_use;
            if in_use == 0 || Instant::now() >= deadline {
                break;
            }
            // A return's notification can land before bb8 has updated its count: look again
            // soon in any case.
            let soon = (Instant::now() + Duration::from_millis(20)).min(deadline);
            tokio::select! {
                _ = returned => {}
                _ = tokio::time::sleep_until(soon) => {}
            }
        }
        if let Some(tokens) = shared.tokens.as_ref().filter(|_| shared.owns_tokens) {
            tokens.stop_renewal_if_unshared();
        }
        let in_use = self.state().in_use;
        tracing::info!(in_use, "pool: closed");
        Closed { in_use }
    }

    /// Size, idle, in use, waiting, lifetime counters and the token's state.
    pub fn state(&self) -> PoolState {
        let s = self.shared.inner.state();
        let st = &s.statistics;
        let closed_invalid = self.shared.closed_invalid.load(Ordering::Relaxed);
        PoolState {
            size: s.connections,
            idle: s.idle_connections,
            in_use: s.connections.saturating_sub(s.idle_connections),
            waiting: self.shared.waiting.load(Ordering::Relaxed),
            max_size: self.shared.max_size,
            opened: st.connections_created,
            closed_broken: st.connections_closed_broken.saturating_sub(closed_invalid),
            closed_invalid: closed_invalid + st.connections_closed_invalid,
            closed_reaped: st.connections_closed_max_lifetime + st.connections_closed_idle_timeout,
            timed_out: st.get_timed_out,
            closed: self.shared.manager.closing.load(Ordering::Relaxed),
            token: self.shared.tokens.as_ref().map(TokenSource::state),
        }
    }

    /// The token source the pool's connections log in with (`None` for `Sql Password`): pass
    /// it to another pool's builder to share it.
    pub fn token_source(&self) -> Option<&TokenSource> {
        self.shared.tokens.as_ref()
    }

    /// The pool's name: [`PoolBuilder::name`], by default `host:port/database`.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    fn run_error(&self, e: bb8::RunError<Error>, started: Instant) -> Error {
        match e {
            bb8::RunError::User(e) => e,
            bb8::RunError::TimedOut => self.pool_timeout(started),
        }
    }

    fn pool_timeout(&self, started: Instant) -> Error {
        self.shared.manager.metrics.timed_out();
        let s = self.shared.inner.state();
        Error::PoolTimeout {
            waited: started.elapsed(),
            size: s.connections,
            max_size: self.shared.max_size,
            connecting: self
                .shared
                .manager
                .failures
                .last_attempt_since(started)
                .map(Box::new),
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.name)
            .field("state", &self.state())
            .finish()
    }
}

impl Shared {
    /// What the metrics callbacks read at collection time.
    fn reading(&self) -> PoolReading {
        let s = self.inner.state();
        PoolReading {
            idle: s.idle_connections,
            used: s.connections.saturating_sub(s.idle_connections),
            pending: self.waiting.load(Ordering::Relaxed),
            max: self.max_size,
            min_idle: self.min_idle,
            reaped_lifetime: s.statistics.connections_closed_max_lifetime,
            reaped_idle: s.statistics.connections_closed_idle_timeout,
        }
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
    ping_timeout: Duration,
    name: Option<String>,
    meters: Meters,
}

impl PoolBuilder {
    /// The pool's name in metrics (`db.client.connection.pool.name`) and logs; unique within the
    /// application. Default: `host:port/database` (the OpenTelemetry conventions' suggestion).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Record this pool's metrics (and those of the token source it creates) through
    /// `provider` instead of the global meter provider (`opentelemetry::global`, read when the
    /// pool is built). README "Metrics" lists what is recorded.
    #[cfg(feature = "opentelemetry")]
    pub fn meter_provider<P>(mut self, provider: &P) -> Self
    where
        P: opentelemetry::metrics::MeterProvider + ?Sized,
    {
        self.meters = Meters::from_provider(provider);
        self
    }

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

    /// How long the checkout ping may take before the connection is discarded and `get()`
    /// goes on to another (default 5 s, [`PoolBuilder::DEFAULT_PING_TIMEOUT`]; always within the
    /// connection timeout).
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// Builds the pool and opens `Min Pool Size` connections.
    pub async fn build(self) -> Result<Pool, Error> {
        for (setting, value) in [
            ("connection_timeout", Some(self.connection_timeout)),
            ("idle_timeout", self.idle_timeout),
            ("ping_timeout", Some(self.ping_timeout)),
        ] {
            if value.is_some_and(|t| t.is_zero()) {
                return Err(Error::InvalidPoolSetting {
                    setting,
                    reason: if setting == "idle_timeout" {
                        "must be more than zero (None: never)"
                    } else {
                        "must be more than zero"
                    },
                });
            }
        }
        let mut config = self.config;
        // Checked (and its warnings logged) once on the way to the pool.
        config.validate_once()?;
        let owns_tokens = !matches!(self.tokens, Tokens::Source(_));
        let meters = self.meters;
        let tokens = match self.tokens {
            Tokens::Source(t) => Some(t),
            Tokens::Provider(p) => Some(TokenSource::with_meters(
                p,
                config.get_token_scope(),
                self.policy,
                &meters,
            )),
            Tokens::FromConfig => credential::provider_for(&config)?.map(|p| {
                TokenSource::with_meters(p, config.get_token_scope(), self.policy, &meters)
            }),
        };
        let name = self
            .name
            .unwrap_or_else(|| metrics::default_pool_name(&config));
        let connector =
            Connector::build(config, tokens.clone(), ConnectMetrics::new(&meters, &name))?;
        let config = connector.config();
        let lifetime = config.get_connection_lifetime();
        let max_size = config.get_max_pool_size();
        let min_idle = config.get_min_pool_size();
        let manager = Manager {
            connector: connector.clone(),
            failures: Arc::new(ConnectFailures::default()),
            closing: Arc::new(AtomicBool::new(false)),
            returned: Arc::new(Notify::new()),
            metrics: Arc::new(PoolMetrics::new(&meters, &name)),
        };
        let builder = bb8::Pool::builder()
            .max_size(max_size)
            .min_idle((min_idle > 0).then_some(min_idle))
            // Checked by Pool::get after bb8 hands the connection over (see manager.rs).
            .test_on_check_out(false)
            .max_lifetime(Some(lifetime))
            .idle_timeout(self.idle_timeout)
            .connection_timeout(self.connection_timeout)
            // Our connector retries transient errors itself; a failure is final and is handed to
            // a caller waiting.
            .retry_connection(false)
            // Retire connections past their lifetime within a quarter of it.
            .reaper_rate((lifetime / 4).clamp(Duration::from_millis(100), Duration::from_secs(30)))
            .queue_strategy(bb8::QueueStrategy::Lifo)
            .error_sink(Box::new(LogSink));
        let inner = builder.build(manager.clone()).await?;
        tracing::info!(
            pool = %name,
            server = config.get_host(),
            database = config.get_database().unwrap_or_default(),
            max_size,
            min_idle,
            lifetime_s = lifetime.as_secs(),
            token_provider = tokens.as_ref().map(TokenSource::provider_kind),
            "pool: ready"
        );
        let shared = Arc::new(Shared {
            inner,
            name,
            min_idle,
            waiting: AtomicU32::new(0),
            max_size,
            connection_timeout: self.connection_timeout,
            ping_after_idle: self.ping_after_idle,
            ping_timeout: self.ping_timeout,
            manager,
            closed_invalid: AtomicU64::new(0),
            tokens,
            owns_tokens,
        });
        // Read at collection time through a weak reference: the meter provider keeps its
        // callbacks for its own lifetime, and must not keep the pool alive.
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        shared
            .manager
            .metrics
            .observe(move || weak.upgrade().map(|shared| shared.reading()));
        Ok(Pool { shared })
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("config", &self.config)
            .field("connection_timeout", &self.connection_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("ping_after_idle", &self.ping_after_idle)
            .field("ping_timeout", &self.ping_timeout)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Logs what bb8 reports (connects that failed in the background).
#[derive(Debug, Clone, Copy)]
struct LogSink;

impl bb8::ErrorSink<Error> for LogSink {
    fn sink(&self, error: Error) {
        match error {
            Error::PoolClosed => tracing::debug!("pool: no new connection, the pool is closing"),
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
        let port = crate::test_support::closed_port();
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
