//! The token cache: one access token shared by every connection of one or more pools, fetched
//! from a [`TokenProvider`] by a single background task that renews it before it expires.
//!
//! What it does for callers, and its bounds, is documented on [`TokenSource`].

use crate::credential::TokenProvider;
use crate::error::{Error, TokenFailure};
use crate::metrics::{Meters, TokenMetrics, TokenReading};
use azure_core::credentials::AccessToken;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod policy;

use policy::backoff;
#[cfg(test)]
use policy::BACKOFF_CEILING;
pub use policy::{Margins, RenewalPolicy};

/// When a token expires, on both clocks: Tokio's (monotonic, and paused in tests) and the wall
/// clock. The monotonic clock stops while the machine sleeps (a suspended VM, a laptop), so after
/// a resume only the wall clock tells that a token has expired; each check takes whichever clock
/// says less is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expiry {
    /// On Tokio's clock.
    pub(crate) at: Instant,
    /// The same moment on the wall clock.
    at_wall: OffsetDateTime,
}

impl Expiry {
    /// Time left at `now` (Tokio's clock), by whichever clock says less.
    pub(crate) fn left(&self, now: Instant) -> Duration {
        let monotonic = self.at.saturating_duration_since(now);
        let wall =
            Duration::try_from(self.at_wall - OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO);
        monotonic.min(wall)
    }

    /// An expiry `at` on Tokio's clock, the wall clock agreeing (tests build these).
    #[cfg(test)]
    pub(crate) fn on_tokio_clock(at: Instant) -> Self {
        Self {
            at,
            at_wall: OffsetDateTime::now_utc() + at.saturating_duration_since(Instant::now()),
        }
    }

    /// Whether it has passed at `now` on either clock.
    pub(crate) fn passed(&self, now: Instant) -> bool {
        self.left(now).is_zero()
    }

    /// How long ago it passed (zero while it has not), by whichever clock says longer.
    fn passed_ago(&self, now: Instant) -> Duration {
        let monotonic = now.saturating_duration_since(self.at);
        let wall =
            Duration::try_from(OffsetDateTime::now_utc() - self.at_wall).unwrap_or(Duration::ZERO);
        monotonic.max(wall)
    }
}

/// An access token handed out by a [`TokenSource`]. `Debug` shows its expiry, never the token.
#[derive(Clone)]
pub struct Token {
    secret: Arc<str>,
    expiry: Expiry,
    expires_on: OffsetDateTime,
    lifetime: Duration,
}

impl Token {
    /// The token itself, for the one place that sends it (the TDS login).
    pub fn secret(&self) -> &str {
        &self.secret
    }
    /// When it expires, on Tokio's clock (counted conservatively: see [`TokenSource::EXPIRY_GRANULARITY`]).
    pub fn expires_at(&self) -> Instant {
        self.expiry.at
    }
    /// When it expires, as the provider said.
    pub fn expires_on(&self) -> OffsetDateTime {
        self.expires_on
    }
    /// How long it lives from its receipt (used to scale the policy's margins).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }
    /// Time left before it expires (zero once expired), by Tokio's clock and by the wall
    /// clock, whichever says less.
    pub fn expires_in(&self) -> Duration {
        self.expiry.left(Instant::now())
    }

    pub(crate) fn expiry(&self) -> Expiry {
        self.expiry
    }

    fn left(&self, now: Instant) -> Duration {
        self.expiry.left(now)
    }

    fn expired(&self, now: Instant) -> bool {
        self.expiry.passed(now)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"<redacted>")
            .field("expires_on", &self.expires_on)
            .field("expires_in", &self.expires_in())
            .finish()
    }
}

/// The outcome of the last request to the identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// A token was issued, valid for this long from receipt.
    Ok {
        /// Its lifetime from receipt.
        lifetime: Duration,
    },
    /// The request failed.
    Failed(TokenFailure),
}

/// One request to the identity provider, as [`TokenState`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshRecord {
    /// When it started (wall clock).
    pub started: OffsetDateTime,
    /// How long it took.
    pub duration: Duration,
    /// What came of it.
    pub outcome: RefreshOutcome,
}

/// What the cache knows now: [`TokenSource::state`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenState {
    /// The provider's kind (`workload identity`, ...).
    pub provider: &'static str,
    /// The scope tokens are requested for.
    pub scope: String,
    /// Time left on the cached token (`None`: none cached, or it has expired).
    pub expires_in: Option<Duration>,
    /// When the cached token expires, as the provider said.
    pub expires_on: Option<OffsetDateTime>,
    /// Time until background renewal is due (zero: due or in progress; `None`: no token).
    pub renewal_due_in: Option<Duration>,
    /// Whether a request to the provider is in flight now.
    pub renewing: bool,
    /// The last request, successful or not.
    pub last_refresh: Option<RefreshRecord>,
    /// When the last successful request started.
    pub last_success: Option<OffsetDateTime>,
    /// Requests made to the provider.
    pub fetches: u64,
    /// Requests that failed.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Times a caller had to wait for a request because no usable token was cached.
    pub waits: u64,
}

/// A shared, self-renewing access token. Cheap to clone: every clone shares the one token, the
/// one in-flight request and the one background task, so several pools can share it and make
/// one request per token lifetime between them.
///
/// ```
/// use azure_sql_passwordless::{TokenProvider, TokenSource};
/// use azure_core::credentials::AccessToken;
/// use std::sync::Arc;
///
/// #[derive(Debug)]
/// struct Fixed;
///
/// #[async_trait::async_trait]
/// impl TokenProvider for Fixed {
///     async fn fetch(&self, _scope: &str) -> azure_core::Result<AccessToken> {
///         let expires_on = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
///         Ok(AccessToken::new("a-token".to_string(), expires_on))
///     }
///     fn kind(&self) -> &'static str {
///         "fixed"
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), azure_sql_passwordless::Error> {
/// let tokens = TokenSource::new(Arc::new(Fixed), "https://database.windows.net/.default");
/// let token = tokens.token().await?;
/// assert_eq!(token.secret(), "a-token");
/// assert_eq!(tokens.state().fetches, 1);
/// # Ok(())
/// # }
/// ```
///
/// # The renewal policy, and how it compares
///
/// | | renews | Entra requests per token lifetime | who waits |
/// |---|---|---|---|
/// | Microsoft.Data.SqlClient | lazily, at login, once the token is within 45 min of expiry (one caller refreshes, the others reuse the old token); within 10 min of expiry every login fetches its own | depends on logins: with steady logins one per 15–45 min for a 60–90 min token (up to 4); none while no login happens | the login that refreshes |
/// | mssql-python | at checkout, within 5 min of expiry | about 1 | the checkout that refreshes |
/// | MSAL (what `azure-identity` libraries build on) | at the next token request, once half the lifetime has passed, but only for tokens living 2 h or more; shorter tokens (SQL's are 60–90 min) within 5 min of expiry | about 1 (2 for long tokens) | the request that refreshes |
/// | **this crate** | in the background, at 80% of the token's lifetime (12 min before expiry for a 60-min token, 18 for a 90-min one; no later than 10 min before expiry), retrying failures with backoff and jitter | **1.25** | nobody, unless the cached token has less than 2 min left and renewal has not failed yet (then callers wait on the one in-flight request; once one has failed, the token serves until it expires) |
///
/// Why 80%: renewing any later saves little (1 request per lifetime is the floor, reached only
/// by renewing at expiry, when callers would wait), and renewing earlier costs much (half-life
/// renewal makes 2 requests per lifetime: double the load every pod puts on the tenant, for a
/// 30-minute head start nobody needs). The 12 minutes it leaves on a 1-hour token hold 10
/// minutes of retries before any caller would wait (13 to 19 attempts with the default backoff:
/// enough to ride out an Entra incident or a throttling spell of several minutes), and the
/// renewal finishes before the pool starts retiring connections logged in with the old token
/// (from 8 minutes before expiry: see [`Pool`](crate::Pool)), so every replacement login carries the
/// new token. The reasoning for each number is in [`RenewalPolicy`]. All margins shrink with the
/// token's lifetime (see [`RenewalPolicy::scaled`]), so a token that lives 6 seconds in a test
/// is renewed after 4.8 seconds just as a 1-hour token is renewed after 48 minutes.
///
/// # Guarantees
///
/// - **Single flight**: one request to the identity provider is in flight at a time, however
///   many callers, connections and pools share the [`TokenSource`].
/// - **No waiting while a usable token is cached**: [`TokenSource::token`] answers from the cache
///   whenever the token has more than the minimum remaining lifetime left.
/// - **Failed renewal keeps serving**: the still-valid token is handed out while renewal retries
///   with exponential backoff and jitter, through its last margin too (callers wait on a renewal
///   inside that margin only until one has failed); callers see an error only once the token
///   has expired, and that error carries the provider's answer (the Entra `AADSTS` code and
///   text).
/// - **No leaked task**: the background task holds no strong reference to the cache; it ends
///   when the last [`TokenSource`] clone is dropped (even in the middle of a request), and it is
///   a plain Tokio task, so it never keeps a runtime from shutting down. If its runtime goes away
///   (a test's runtime, say), even in the middle of a request, the next caller starts a new one;
///   a provider that panics counts as a failed request.
///
/// Deadlines use [`tokio::time::Instant`], so the logic also runs under paused time; the expiry
/// is computed from [`AccessToken::expires_on`] relative to the wall clock at receipt.
#[derive(Clone)]
pub struct TokenSource {
    shared: Arc<Shared>,
}

struct Shared {
    provider: Arc<dyn TokenProvider>,
    kind: &'static str,
    scope: Arc<str>,
    policy: RenewalPolicy,
    state: Mutex<State>,
    /// Bumped after every request and when the task ends: waiters re-check the state.
    changed: watch::Sender<u64>,
    /// Wakes the task (a caller needs a token now).
    wake: Arc<Notify>,
    /// Cancelled when the last handle goes: stops the task.
    stop: CancellationToken,
    metrics: TokenMetrics,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[derive(Default)]
struct State {
    current: Option<Token>,
    renew_at: Option<Instant>,
    in_flight: bool,
    demand: bool,
    task_running: bool,
    consecutive_failures: u32,
    /// Renewals that brought back a token expiring no later than the cached one (an upstream
    /// cache such as IMDS answering with the same token): retried with backoff, not at once.
    stale_renewals: u32,
    next_attempt_at: Option<Instant>,
    last_failure: Option<TokenFailure>,
    last_failure_at: Option<Instant>,
    last_refresh: Option<RefreshRecord>,
    last_success: Option<OffsetDateTime>,
    fetches: u64,
    /// Requests that have ended, successfully or not.
    completed: u64,
    failures: u64,
    waits: u64,
}

impl State {
    fn margins(&self, policy: &RenewalPolicy) -> Margins {
        match &self.current {
            Some(t) => policy.scaled(t.lifetime),
            None => policy.unscaled(),
        }
    }

    fn usable(&self, now: Instant, policy: &RenewalPolicy) -> Option<Token> {
        let t = self.current.as_ref()?;
        let need = policy.scaled(t.lifetime).min_remaining;
        (t.left(now) > need).then(|| t.clone())
    }

    /// The error for a caller when no usable token is cached and no request may be made yet
    /// (the last one failed within the backoff delay).
    fn blocked(&self, now: Instant, shared: &Shared) -> Option<Error> {
        let failure = self.last_failure.clone()?;
        let next = self.next_attempt_at?;
        if now >= next {
            return None;
        }
        Some(self.failure_error(now, shared, failure))
    }

    /// The error for a caller left without a valid token (the cached one has expired, or none
    /// was ever had).
    fn failure_error(&self, now: Instant, shared: &Shared, failure: TokenFailure) -> Error {
        match &self.current {
            Some(t) => Error::TokenExpired {
                provider: shared.kind,
                expired_ago: t.expiry.passed_ago(now),
                failures: self.consecutive_failures,
                failure,
            },
            None => Error::TokenAcquisition {
                provider: shared.kind,
                failure,
            },
        }
    }
}

/// What the task does next.
enum Next {
    Fetch,
    Sleep(Option<Instant>),
}

impl TokenSource {
    /// A cache over `provider` for `scope` with the default [`RenewalPolicy`].
    ///
    /// Nothing is fetched until the first [`token`](Self::token) call, so this can be called
    /// outside a runtime.
    pub fn new(provider: Arc<dyn TokenProvider>, scope: impl Into<String>) -> Self {
        Self::with_policy(provider, scope, RenewalPolicy::default())
    }

    /// A cache with an explicit policy.
    ///
    /// With the `opentelemetry` feature, its metrics go to the global meter provider as
    /// installed now (a pool's builder can name another: `PoolBuilder::meter_provider`).
    pub fn with_policy(
        provider: Arc<dyn TokenProvider>,
        scope: impl Into<String>,
        policy: RenewalPolicy,
    ) -> Self {
        Self::with_meters(provider, scope, policy, &Meters::default())
    }

    /// A cache whose metrics go through `meters`.
    pub(crate) fn with_meters(
        provider: Arc<dyn TokenProvider>,
        scope: impl Into<String>,
        policy: RenewalPolicy,
        meters: &Meters,
    ) -> Self {
        let scope: String = scope.into();
        let (changed, _) = watch::channel(0);
        let kind = provider.kind();
        Self {
            // The metrics read the state at collection time through a weak reference: the meter
            // provider keeps its callbacks for its own lifetime and must not keep the cache
            // (or its renewal task) alive.
            shared: Arc::new_cyclic(|weak: &Weak<Shared>| {
                let weak = weak.clone();
                Shared {
                    kind,
                    provider,
                    scope: scope.into(),
                    policy,
                    state: Mutex::new(State::default()),
                    changed,
                    wake: Arc::new(Notify::new()),
                    stop: CancellationToken::new(),
                    metrics: TokenMetrics::new(meters, kind, move || {
                        weak.upgrade().map(|shared| shared.reading())
                    }),
                }
            }),
        }
    }

    /// A token with at least the minimum remaining lifetime left.
    ///
    /// Answers from the cache without waiting whenever it can. Otherwise (first call, or the
    /// cached token is about to expire because renewal has been failing) it waits for the one
    /// in-flight request, starting it if needed; if that request fails it returns the
    /// provider's error ([`Error::TokenAcquisition`], or [`Error::TokenExpired`] when a token
    /// had been cached). After a failure, callers get that error at once, without a new
    /// request, until the backoff delay has passed.
    pub async fn token(&self) -> Result<Token, Error> {
        let shared = &self.shared;
        // When this caller started waiting, and how many requests had completed by then.
        let mut waited: Option<(Instant, u64)> = None;
        loop {
            let mut rx = {
                let mut st = shared.lock();
                let now = Instant::now();
                if let Some(t) = st.usable(now, &shared.policy) {
                    if let Some((since, _)) = waited {
                        tracing::debug!(
                            provider = shared.kind,
                            waited_ms = millis(now - since),
                            "token: caller waited for a fresh token"
                        );
                    }
                    if !st.task_running {
                        self.spawn_task(&mut st)?;
                    }
                    return Ok(t);
                }
                // Inside its last margin, the cached token is kept for new logins only while
                // renewal is expected to bring a better one. Once renewal has failed, waiting on
                // the provider helps no one: the token serves until it has truly expired, while
                // the task retries with backoff.
                if st.consecutive_failures > 0 {
                    if let Some(t) = st.current.as_ref().filter(|t| !t.expired(now)) {
                        tracing::debug!(
                            provider = shared.kind,
                            expires_in_ms = millis(t.left(now)),
                            "token: renewal is failing; serving the cached token until it expires"
                        );
                        return Ok(t.clone());
                    }
                }
                // A request that ended while we were waiting, with no valid token since: its
                // failure is our answer (the task may already have started another).
                if let Some((_, completed_before)) = waited {
                    if st.completed > completed_before {
                        if let Some(f) = st.last_failure.clone() {
                            return Err(st.failure_error(now, shared, f));
                        }
                    }
                }
                if !st.in_flight {
                    if let Some(e) = st.blocked(now, shared) {
                        return Err(e);
                    }
                    st.demand = true;
                }
                if waited.is_none() {
                    waited = Some((now, st.completed));
                    st.waits += 1;
                    shared.metrics.waited();
                    tracing::debug!(
                        provider = shared.kind,
                        in_flight = st.in_flight,
                        "token: no usable token cached, waiting for the provider"
                    );
                }
                if !st.task_running {
                    self.spawn_task(&mut st)?;
                }
                shared.changed.subscribe()
            };
            shared.wake.notify_one();
            // The sender lives in `shared`, which we hold: `changed` cannot fail.
            let _ = rx.changed().await;
        }
    }

    /// What the cache knows now: expiry, the last request and its result, counters.
    pub fn state(&self) -> TokenState {
        let st = self.shared.lock();
        let now = Instant::now();
        let current = st.current.as_ref().filter(|t| !t.expired(now));
        TokenState {
            provider: self.shared.kind,
            scope: self.shared.scope.to_string(),
            expires_in: current.map(|t| t.left(now)),
            expires_on: current.map(|t| t.expires_on),
            renewal_due_in: current
                .and(st.renew_at)
                .map(|at| at.saturating_duration_since(now)),
            renewing: st.in_flight,
            last_refresh: st.last_refresh.clone(),
            last_success: st.last_success,
            fetches: st.fetches,
            failures: st.failures,
            consecutive_failures: st.consecutive_failures,
            waits: st.waits,
        }
    }

    /// When the cached token expires (even inside its last margin; `None` once it has expired or
    /// before the first). Cheaper than [`state`](Self::state): the pool asks at checkout.
    pub(crate) fn cached_expires_at(&self) -> Option<Instant> {
        let st = self.shared.lock();
        st.current
            .as_ref()
            .filter(|t| !t.expired(Instant::now()))
            .map(|t| t.expiry.at)
    }

    /// The policy in force.
    pub fn policy(&self) -> &RenewalPolicy {
        &self.shared.policy
    }

    /// The scope tokens are requested for.
    pub fn scope(&self) -> &str {
        &self.shared.scope
    }

    /// The provider's kind (`workload identity`, ...).
    pub fn provider_kind(&self) -> &'static str {
        self.shared.kind
    }

    /// Whether two handles share one cache.
    pub fn same_source(&self, other: &TokenSource) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Stops background renewal for good if no handle but the closing pool's two (its own and
    /// its connector's) is left: another pool sharing the source keeps it renewing.
    pub(crate) fn stop_renewal_if_unshared(&self) {
        if Arc::strong_count(&self.shared) <= 2 {
            self.shared.stop.cancel();
            tracing::debug!(provider = self.shared.kind, "token: renewal stopped");
        }
    }

    fn spawn_task(&self, st: &mut State) -> Result<(), Error> {
        if self.shared.stop.is_cancelled() {
            return Err(Error::PoolClosed);
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let task = Task {
            shared: Arc::downgrade(&self.shared),
            provider: self.shared.provider.clone(),
            scope: self.shared.scope.clone(),
            wake: self.shared.wake.clone(),
            stop: self.shared.stop.clone(),
        };
        st.task_running = true;
        // The guard exists before the task is spawned and moves into it: if the runtime drops
        // the task before its first poll (a current-thread runtime that answered from the cache
        // and was dropped), dropping the guard still marks the task gone, so the next caller
        // starts a new one instead of waiting for ever on a task that never ran.
        let alive = Alive(Arc::downgrade(&self.shared));
        handle.spawn(task.run(alive));
        tracing::trace!(provider = self.shared.kind, "token: renewal task started");
        Ok(())
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("TokenSource")
            .field("provider", &state.provider)
            .field("scope", &state.scope)
            .field("expires_in", &state.expires_in)
            .field("renewing", &state.renewing)
            .field("fetches", &state.fetches)
            .field("failures", &state.failures)
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every await-free step; a panic elsewhere while holding
        // the lock cannot leave it half-written, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify_changed(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// What the metrics callbacks read at collection time.
    fn reading(&self) -> TokenReading {
        let st = self.lock();
        let expires_in = match &st.current {
            Some(t) => Some(t.left(Instant::now())),
            // Every request so far failed: no time left, for alerts to see.
            None if st.completed > 0 => Some(Duration::ZERO),
            None => None,
        };
        TokenReading {
            expires_in,
            consecutive_failures: st.consecutive_failures,
        }
    }
}

/// The background task: the only code that calls the provider.
struct Task {
    shared: Weak<Shared>,
    provider: Arc<dyn TokenProvider>,
    scope: Arc<str>,
    wake: Arc<Notify>,
    stop: CancellationToken,
}

/// Marks the task as gone when it ends, however it ends (runtime shutdown included), so the
/// next caller starts a new one and waiters do not wait on a task that will never answer.
///
/// A task that dies in the middle of a request (its runtime shut down, or the provider
/// panicked) also clears `in_flight`: otherwise waiters, and the next task, would wait forever
/// for the answer to a request nobody is making any more. A panic counts as a failed request
/// (with backoff), so a provider that always panics is not called in a loop and waiting callers
/// get an error saying so.
struct Alive(Weak<Shared>);

impl Drop for Alive {
    fn drop(&mut self) {
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        let mut st = shared.lock();
        st.task_running = false;
        if st.in_flight {
            st.in_flight = false;
            if std::thread::panicking() {
                let failure = TokenFailure::other(format!(
                    "the {} token provider panicked during the request (the panic message is in the process's output)",
                    shared.kind
                ));
                let now = Instant::now();
                st.completed += 1;
                st.failures += 1;
                st.consecutive_failures += 1;
                let margins = st.margins(&shared.policy);
                let delay = backoff(
                    st.consecutive_failures,
                    margins.retry_initial,
                    margins.retry_max,
                );
                st.next_attempt_at = Some(now + delay);
                st.last_failure_at = Some(now);
                tracing::error!(
                    provider = shared.kind,
                    consecutive_failures = st.consecutive_failures,
                    retry_in_ms = millis(delay),
                    "token: the provider panicked during a request"
                );
                shared.metrics.requested(Some(&failure), false);
                st.last_failure = Some(failure);
            }
        }
        drop(st);
        shared.notify_changed();
    }
}

impl Task {
    async fn run(self, _alive: Alive) {
        loop {
            let next = match self.shared.upgrade() {
                Some(shared) => next_action(&shared),
                None => return,
            };
            match next {
                Next::Fetch => {
                    if !self.fetch_once().await {
                        return;
                    }
                }
                Next::Sleep(until) => {
                    let sleep = async {
                        match until {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = self.stop.cancelled() => return,
                        _ = self.wake.notified() => {}
                        _ = sleep => {}
                    }
                }
            }
        }
    }

    /// One request; `false` when the cache is gone.
    async fn fetch_once(&self) -> bool {
        let (kind, timeout, reason) = {
            let Some(shared) = self.shared.upgrade() else {
                return false;
            };
            let mut st = shared.lock();
            let reason = if st.demand {
                "caller waiting"
            } else if st.consecutive_failures > 0 {
                "retry"
            } else {
                "scheduled renewal"
            };
            st.demand = false;
            st.in_flight = true;
            st.fetches += 1;
            let timeout = st.margins(&shared.policy).fetch_timeout;
            drop(st);
            shared.notify_changed();
            (shared.kind, timeout, reason)
        };
        tracing::debug!(provider = kind, reason, "token: request started");
        let started = Instant::now();
        let started_wall = OffsetDateTime::now_utc();
        let result = tokio::select! {
            _ = self.stop.cancelled() => return false,
            r = tokio::time::timeout(timeout, self.provider.fetch(&self.scope)) => r,
        };
        let now = Instant::now();
        let took = now - started;
        let Some(shared) = self.shared.upgrade() else {
            return false;
        };
        let timed_out = result.is_err();
        let outcome = match result {
            Ok(Ok(access)) => receive(access, now, took),
            Ok(Err(e)) => Err(TokenFailure::from_azure(&e)),
            Err(_) => Err(TokenFailure::timed_out(timeout)),
        };
        let mut st = shared.lock();
        st.in_flight = false;
        st.completed += 1;
        match outcome {
            Ok(token) => {
                let margins = shared.policy.scaled(token.lifetime);
                // The same token again (an upstream cache) is no progress, even when the two
                // clocks its expiry is computed from moved a few microseconds apart.
                let progressed = st.current.as_ref().is_none_or(|old| {
                    old.secret != token.secret && token.expiry.at > old.expiry.at
                });
                st.consecutive_failures = 0;
                st.last_failure = None;
                st.last_failure_at = None;
                st.last_success = Some(started_wall);
                st.last_refresh = Some(RefreshRecord {
                    started: started_wall,
                    duration: took,
                    outcome: RefreshOutcome::Ok {
                        lifetime: token.lifetime,
                    },
                });
                let renew_at = now + margins.renew_after;
                if progressed {
                    st.stale_renewals = 0;
                    st.next_attempt_at = None;
                    st.renew_at = Some(renew_at);
                } else {
                    st.stale_renewals += 1;
                    let delay =
                        backoff(st.stale_renewals, margins.retry_initial, margins.retry_max);
                    st.renew_at = Some(renew_at.max(now + delay));
                    st.next_attempt_at = None;
                }
                shared.metrics.requested(None, false);
                if progressed && st.current.is_some() {
                    shared.metrics.renewed();
                }
                tracing::info!(
                    provider = kind,
                    expires_in_ms = millis(token.lifetime),
                    duration_ms = millis(took),
                    renew_in_ms = st.renew_at.map(|at| millis(at - now)),
                    same_token_again = !progressed,
                    "token: acquired"
                );
                st.current = Some(token);
            }
            Err(failure) => {
                st.failures += 1;
                st.consecutive_failures += 1;
                let margins = st.margins(&shared.policy);
                let delay = backoff(
                    st.consecutive_failures,
                    margins.retry_initial,
                    margins.retry_max,
                );
                st.next_attempt_at = Some(now + delay);
                st.last_failure_at = Some(now);
                st.last_refresh = Some(RefreshRecord {
                    started: started_wall,
                    duration: took,
                    outcome: RefreshOutcome::Failed(failure.clone()),
                });
                let cached_left = st.current.as_ref().map(|t| millis(t.left(now)));
                tracing::warn!(
                    provider = kind,
                    aadsts = failure.aadsts,
                    http_status = failure.http_status,
                    error = %failure,
                    consecutive_failures = st.consecutive_failures,
                    cached_token_expires_in_ms = cached_left,
                    retry_in_ms = millis(delay),
                    duration_ms = millis(took),
                    "token: request failed"
                );
                shared.metrics.requested(Some(&failure), timed_out);
                st.last_failure = Some(failure);
            }
        }
        drop(st);
        shared.notify_changed();
        true
    }
}

fn next_action(shared: &Shared) -> Next {
    let st = shared.lock();
    let now = Instant::now();
    if st.demand {
        return Next::Fetch;
    }
    match &st.current {
        // Background renewal while the cached token is valid; retries wait out the backoff.
        Some(t) if !t.expired(now) => {
            let due = st.renew_at.unwrap_or(now);
            let at = match st.next_attempt_at {
                Some(retry) if st.consecutive_failures > 0 => retry.max(due),
                _ => due,
            };
            if now >= at {
                Next::Fetch
            } else {
                Next::Sleep(Some(at))
            }
        }
        // Nothing valid cached: fetch only when a caller asks (an unused source stays quiet).
        _ => Next::Sleep(None),
    }
}

// Public as `TokenSource::EXPIRY_GRANULARITY`.
pub(crate) const EXPIRY_GRANULARITY: Duration = Duration::from_secs(1);

impl TokenSource {
    /// Entra's `expires_in` and the token's own `exp` claim are whole seconds (`exp` = the issue
    /// second, truncated, plus the lifetime), and `azure_identity` turns `expires_in` into an
    /// `expires_on` counted from when the answer arrived: so the token can expire up to a second,
    /// plus the time the request took, before that `expires_on`. The cache counts it as expiring
    /// that much earlier (at most half of what is left: a token living under 2 seconds cannot be
    /// counted safely at whole-second precision, and only tests make such tokens), so a token it
    /// hands out is never one the server already considers expired.
    pub const EXPIRY_GRANULARITY: Duration = EXPIRY_GRANULARITY;
}

/// Turns the provider's answer to a request that took `took` into a cached token: expiry
/// relative to now at receipt, less [`TokenSource::EXPIRY_GRANULARITY`] and `took`, at most half of what is
/// left.
fn receive(access: AccessToken, now: Instant, took: Duration) -> Result<Token, TokenFailure> {
    let left = access.expires_on - OffsetDateTime::now_utc();
    let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
    let lifetime = left.saturating_sub((EXPIRY_GRANULARITY + took).min(left / 2));
    if lifetime.is_zero() {
        return Err(TokenFailure::other(format!(
            "the provider returned a token that had already expired (expires_on {}); check this machine's clock",
            access.expires_on
        )));
    }
    Ok(Token {
        secret: Arc::from(access.token.secret()),
        expiry: Expiry {
            at: now + lifetime,
            at_wall: OffsetDateTime::now_utc() + lifetime,
        },
        expires_on: access.expires_on,
        lifetime,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
