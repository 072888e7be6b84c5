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

/// When to renew, when callers must wait, and how to retry. Every duration is an upper bound
/// that [`scaled`](RenewalPolicy::scaled) shrinks for short-lived tokens.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RenewalPolicy {
    /// Renewal starts once this fraction of the token's lifetime (counted from its receipt) has
    /// passed. Default `0.8`: a 60-minute Entra token is renewed 12 minutes before it expires, a
    /// 90-minute one 18 minutes before, a 24-hour managed identity token about 5 hours before.
    ///
    /// That is 1.25 requests per token lifetime (`1 / 0.8`), against the floor of 1 that only
    /// renewing at expiry would reach (with callers waiting) and the 2 that half-life renewal
    /// makes. The 20% left is the head start: on a 1-hour token, 10 minutes of retries
    /// (13 to 19 attempts with the default backoff) before callers would wait on the last
    /// 2 minutes ([`min_remaining`](Self::min_remaining)), and 4 minutes before the pool starts
    /// retiring connections logged in with the old token (from `min_remaining` plus a tenth of
    /// the lifetime before expiry), so a renewal that needs its full 30-second timeout and a few
    /// retries still lands before them and every replacement login carries the new token. An
    /// earlier fraction buys more of an outage margin at the price of more requests; a later
    /// one shrinks that 4-minute lead below what a slow renewal needs (and for tokens under
    /// 20 minutes, whose margins are scaled down, retirement starts at 80% already).
    pub renew_at_fraction: f64,
    /// ...and no later than this long before expiry, whatever the fraction. Default 10 minutes,
    /// capped at a fifth of the lifetime (so for tokens under 50 minutes the floor is 80% of the
    /// lifetime): the bound that keeps a custom, late fraction safe. The default fraction
    /// already renews at least this early, so with the defaults the floor never binds.
    pub renew_before_expiry: Duration,
    /// A token with less than this left is not handed to a new login while renewal may still
    /// bring a better one: callers wait on the one in-flight renewal instead (once a renewal
    /// has failed, the token serves until it expires), and pooled connections logged in with a
    /// token that close to expiry are retired once a newer token is cached. Default 2 minutes
    /// (capped at a tenth of the lifetime): a login with its redirect takes well under a second
    /// on Azure, and up to the 15-second connect timeout when things are slow; 2 minutes covers
    /// that and leaves the connection usable for a while.
    pub min_remaining: Duration,
    /// First delay between failed renewals. Default 1 second (capped at a hundredth of the
    /// lifetime). Doubles on each failure, with ±25% jitter so many processes do not retry in
    /// step.
    pub retry_initial: Duration,
    /// Longest delay between failed renewals. Default 1 minute (capped at a twentieth of the
    /// lifetime): the backoff reaches it after 6 failures (1 + 2 + ... + 32 s), so the 10
    /// minutes between renewal and the callers' 2-minute margin on a 1-hour token hold 13 to 19
    /// attempts, depending on jitter.
    pub retry_max: Duration,
    /// The most one request to the identity provider may take before it counts as failed.
    /// Default 30 seconds (capped at a quarter of the lifetime).
    pub fetch_timeout: Duration,
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        Self {
            renew_at_fraction: 0.8,
            renew_before_expiry: Duration::from_secs(10 * 60),
            min_remaining: Duration::from_secs(2 * 60),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            fetch_timeout: Duration::from_secs(30),
        }
    }
}

/// The policy's margins for one token lifetime (see [`RenewalPolicy::scaled`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Margins {
    /// How long after receipt renewal starts.
    pub renew_after: Duration,
    /// See [`RenewalPolicy::min_remaining`].
    pub min_remaining: Duration,
    /// See [`RenewalPolicy::retry_initial`].
    pub retry_initial: Duration,
    /// See [`RenewalPolicy::retry_max`].
    pub retry_max: Duration,
    /// See [`RenewalPolicy::fetch_timeout`].
    pub fetch_timeout: Duration,
}

/// Builder-style setters (the struct is `#[non_exhaustive]`, so it grows without breaking
/// callers): `RenewalPolicy::default().renew_at_fraction(0.9)`.
impl RenewalPolicy {
    /// Sets [`renew_at_fraction`](Self::renew_at_fraction).
    pub fn renew_at_fraction(mut self, fraction: f64) -> Self {
        self.renew_at_fraction = fraction;
        self
    }
    /// Sets [`renew_before_expiry`](Self::renew_before_expiry).
    pub fn renew_before_expiry(mut self, before: Duration) -> Self {
        self.renew_before_expiry = before;
        self
    }
    /// Sets [`min_remaining`](Self::min_remaining).
    pub fn min_remaining(mut self, left: Duration) -> Self {
        self.min_remaining = left;
        self
    }
    /// Sets [`retry_initial`](Self::retry_initial).
    pub fn retry_initial(mut self, delay: Duration) -> Self {
        self.retry_initial = delay;
        self
    }
    /// Sets [`retry_max`](Self::retry_max).
    pub fn retry_max(mut self, delay: Duration) -> Self {
        self.retry_max = delay;
        self
    }
    /// Sets [`fetch_timeout`](Self::fetch_timeout).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }
}

impl RenewalPolicy {
    /// The margins for a token that lives `lifetime` from its receipt: each bound is capped at
    /// a fixed share of the lifetime (renew-before-expiry ⅕, minimum remaining ⅒, first retry
    /// 1⁄100, longest retry 1⁄20, request timeout ¼), so the same policy serves 1-hour tokens
    /// and the few-second tokens of tests. With the default fraction, renewal starts at 80% of
    /// every lifetime.
    ///
    /// ```
    /// use azure_sql_passwordless::RenewalPolicy;
    /// use std::time::Duration;
    ///
    /// let policy = RenewalPolicy::default();
    /// let hour = policy.scaled(Duration::from_secs(3600));
    /// assert_eq!(hour.renew_after, Duration::from_secs(48 * 60));
    /// assert_eq!(hour.min_remaining, Duration::from_secs(120));
    /// let test = policy.scaled(Duration::from_secs(6));
    /// assert_eq!(test.renew_after, Duration::from_millis(4800));
    /// assert_eq!(test.min_remaining, Duration::from_millis(600));
    /// ```
    pub fn scaled(&self, lifetime: Duration) -> Margins {
        let fraction = if self.renew_at_fraction.is_finite() {
            self.renew_at_fraction.clamp(0.0, 1.0)
        } else {
            RenewalPolicy::default().renew_at_fraction
        };
        let by_fraction = lifetime.mul_f64(fraction);
        let floor = lifetime.saturating_sub(self.renew_before_expiry.min(lifetime / 5));
        let min_remaining = self.min_remaining.min(lifetime / 10);
        // Renewal always starts before callers would have to wait.
        let renew_after = by_fraction
            .min(floor)
            .min(lifetime.saturating_sub(min_remaining));
        Margins {
            renew_after,
            min_remaining,
            retry_initial: self
                .retry_initial
                .min(lifetime / 100)
                .max(Duration::from_millis(1)),
            retry_max: self
                .retry_max
                .min(lifetime / 20)
                .max(Duration::from_millis(1)),
            fetch_timeout: self
                .fetch_timeout
                .min(lifetime / 4)
                .max(Duration::from_millis(10)),
        }
    }

    /// Margins before any token has been seen (lifetime unknown): the unscaled bounds.
    fn unscaled(&self) -> Margins {
        Margins {
            renew_after: Duration::ZERO,
            min_remaining: self.min_remaining,
            retry_initial: self.retry_initial.max(Duration::from_millis(1)),
            retry_max: self.retry_max.max(Duration::from_millis(1)),
            fetch_timeout: self.fetch_timeout.max(Duration::from_millis(10)),
        }
    }
}

/// The longest backoff whatever the policy says (a policy's durations come from code, and one
/// near `Duration::MAX` must not overflow the jitter or the next attempt's deadline).
const BACKOFF_CEILING: Duration = Duration::from_secs(24 * 3600);

/// Exponential backoff with ±25% jitter: `initial · 2^(failures-1)`, at most `max` (and at most
/// a day).
fn backoff(failures: u32, initial: Duration, max: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    let base = initial
        .saturating_mul(1u32 << exp)
        .min(max)
        .min(BACKOFF_CEILING);
    let jitter: f64 = rand::random_range(0.75..=1.25);
    base.mul_f64(jitter)
}

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
mod tests {
    use super::*;
    use azure_core::error::ErrorKind;
    use azure_core::http::StatusCode;
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use tokio::sync::Semaphore;

    /// A provider that counts its requests, issues tokens living `lifetime`, fails the next
    /// `fail_next` requests with an Entra-shaped error, and can be held with a semaphore.
    #[derive(Debug)]
    struct Counting {
        lifetime: Duration,
        fetches: AtomicU64,
        fail_next: AtomicU32,
        gate: Option<Arc<Semaphore>>,
        times: Mutex<Vec<Instant>>,
        _dropped: Option<tokio::sync::oneshot::Sender<()>>,
    }

    impl Counting {
        fn new(lifetime: Duration) -> Self {
            Self {
                lifetime,
                fetches: AtomicU64::new(0),
                fail_next: AtomicU32::new(0),
                gate: None,
                times: Mutex::new(Vec::new()),
                _dropped: None,
            }
        }
        fn fetches(&self) -> u64 {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl TokenProvider for Counting {
        async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken> {
            assert_eq!(scope, "https://database.windows.net/.default");
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            if let Ok(mut times) = self.times.lock() {
                times.push(Instant::now());
            }
            if let Some(gate) = &self.gate {
                if let Ok(permit) = gate.acquire().await {
                    permit.forget();
                }
            }
            if self
                .fail_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(azure_core::Error::with_message(
                    ErrorKind::HttpResponse {
                        status: StatusCode::ServiceUnavailable,
                        error_code: Some("90033".into()),
                        raw_response: None,
                    },
                    "AADSTS90033: A transient error has occurred. Please try again.",
                ));
            }
            let lifetime = time::Duration::try_from(self.lifetime).unwrap_or_default();
            Ok(AccessToken::new(
                format!("eyJ0eXAiOiJKV1QifQ.token-{n}.sig"),
                OffsetDateTime::now_utc() + lifetime,
            ))
        }
        fn kind(&self) -> &'static str {
            "counting"
        }
    }

    const SCOPE: &str = "https://database.windows.net/.default";

    fn source(p: &Arc<Counting>) -> TokenSource {
        TokenSource::new(p.clone(), SCOPE)
    }

    #[test]
    fn default_policy_numbers_scale_with_the_lifetime() {
        let p = RenewalPolicy::default();
        let min = |m: u64| Duration::from_secs(m * 60);
        // Entra's tokens live 60–90 minutes: renewed 12 and 18 minutes before expiry.
        let hour = p.scaled(min(60));
        assert_eq!(hour.renew_after, min(48));
        assert_eq!(hour.min_remaining, min(2));
        assert_eq!(hour.retry_initial, Duration::from_secs(1));
        assert_eq!(hour.retry_max, Duration::from_secs(60));
        assert_eq!(hour.fetch_timeout, Duration::from_secs(30));
        assert_eq!(p.scaled(min(90)).renew_after, min(72));
        // A 24-hour managed identity token: 4.8 hours ahead.
        let day = p.scaled(min(24 * 60));
        assert_eq!(day.renew_after, Duration::from_secs(24 * 3600 * 4 / 5));
        // A late custom fraction is held back by the renew-before-expiry floor: 10 minutes
        // before expiry, or 80% of a token living under 50 minutes.
        let late = RenewalPolicy {
            renew_at_fraction: 0.99,
            ..RenewalPolicy::default()
        };
        assert_eq!(late.scaled(min(60)).renew_after, min(50));
        assert_eq!(late.scaled(min(20)).renew_after, min(16));
        let six = p.scaled(Duration::from_secs(6));
        assert_eq!(six.renew_after, Duration::from_millis(4800));
        assert_eq!(six.min_remaining, Duration::from_millis(600));
        assert_eq!(six.retry_initial, Duration::from_millis(60));
        assert_eq!(six.retry_max, Duration::from_millis(300));
        assert_eq!(six.fetch_timeout, Duration::from_millis(1500));
        assert_eq!(
            late.scaled(Duration::from_secs(6)).renew_after,
            Duration::from_millis(4800)
        );
        // Nonsense fractions cannot schedule renewal after callers would wait.
        let odd = RenewalPolicy {
            renew_at_fraction: f64::NAN,
            renew_before_expiry: Duration::from_secs(100_000),
            ..RenewalPolicy::default()
        };
        let m = odd.scaled(Duration::from_secs(6));
        assert!(m.renew_after + m.min_remaining <= Duration::from_secs(6));
        assert_eq!(
            m.renew_after,
            Duration::from_millis(4800),
            "NaN: the default"
        );
    }

    #[test]
    fn the_default_renews_at_80_percent_of_any_lifetime_before_connections_retire() {
        let p = RenewalPolicy::default();
        let mut lifetime = Duration::from_millis(100);
        while lifetime <= Duration::from_secs(48 * 3600) {
            let m = p.scaled(lifetime);
            // 1.25 requests per lifetime, whatever the lifetime (to the nanosecond).
            let at_80 = lifetime.mul_f64(0.8);
            assert!(
                m.renew_after.abs_diff(at_80) <= Duration::from_nanos(1),
                "{lifetime:?}: renews after {:?}",
                m.renew_after
            );
            // The pool retires a connection from `min_remaining` plus up to a tenth of the
            // lifetime before its token expires: renewal has started by then, so replacement
            // logins carry the new token.
            let first_retirement = lifetime - m.min_remaining - lifetime / 10;
            assert!(m.renew_after <= first_retirement, "{lifetime:?}: {m:?}");
            // Callers never wait while renewal is due: it starts before the last margin.
            assert!(m.renew_after + m.min_remaining < lifetime, "{lifetime:?}");
            lifetime = lifetime * 3 / 2;
        }
    }

    #[test]
    fn expiry_is_counted_a_second_and_the_request_early() {
        let token = |secs: i64| {
            AccessToken::new(
                "t".to_string(),
                OffsetDateTime::now_utc() + time::Duration::seconds(secs),
            )
        };
        let near = |d: Duration, want: Duration| d <= want && want - d < Duration::from_millis(5);
        // Whole-second `exp`, and an `expires_on` counted from the answer's arrival: the token
        // may expire up to a second plus the request's 200 ms before what `expires_on` says.
        let hour = receive(token(3600), Instant::now(), Duration::from_millis(200)).expect("ok");
        assert!(
            near(hour.lifetime(), Duration::from_millis(3_598_800)),
            "{hour:?}"
        );
        // Short test tokens keep at least half of what is left.
        let three = receive(token(3), Instant::now(), Duration::ZERO).expect("ok");
        assert!(near(three.lifetime(), Duration::from_secs(2)), "{three:?}");
        let two = receive(token(2), Instant::now(), Duration::from_millis(300)).expect("ok");
        assert!(near(two.lifetime(), Duration::from_secs(1)), "{two:?}");
        let err = receive(token(-5), Instant::now(), Duration::ZERO).expect_err("expired");
        assert!(err.to_string().contains("already expired"), "{err}");
    }

    #[test]
    fn backoff_from_an_extreme_policy_neither_panics_nor_exceeds_a_day() {
        for failures in [1, 2, 30] {
            let d = backoff(failures, Duration::MAX, Duration::MAX);
            assert!(d <= BACKOFF_CEILING.mul_f64(1.25), "{d:?}");
            assert!(Instant::now().checked_add(d).is_some());
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_the_max() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for failures in 1..=10 {
            let d = backoff(failures, initial, max);
            let base = (initial * (1 << (failures - 1))).min(max);
            assert!(
                d >= base.mul_f64(0.75) && d <= base.mul_f64(1.25),
                "{failures}: {d:?}"
            );
        }
        assert!(backoff(u32::MAX, initial, max) <= max.mul_f64(1.25));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_concurrent_callers_cause_one_request() {
        let p = Arc::new(Counting::new(Duration::from_secs(60)));
        let tokens = source(&p);
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let t = tokens.clone();
            tasks.push(tokio::spawn(async move { t.token().await }));
        }
        for t in tasks {
            let token = t.await.expect("task").expect("token");
            assert!(token.secret().ends_with("token-1.sig"));
        }
        assert_eq!(p.fetches(), 1);
        assert_eq!(tokens.state().fetches, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn renews_in_the_background_before_expiry_without_callers_waiting() {
        // 2 s tokens, counted as 1 s (whole-second expiry): renewal every 0.8 s.
        let p = Arc::new(Counting::new(Duration::from_secs(2)));
        let tokens = source(&p);
        let first = tokens.token().await.expect("first token");
        assert_eq!(
            tokens.state().waits,
            1,
            "the very first call waits for the first request"
        );
        assert!(first.lifetime() <= Duration::from_secs(1));
        let renew_after = tokens.policy().scaled(first.lifetime()).renew_after;
        assert!(renew_after > Duration::from_millis(790), "{renew_after:?}");
        // Call every 20 ms across three lifetimes; every call must be answered from the cache
        // with a token that is not about to expire.
        let min_remaining = tokens.policy().scaled(first.lifetime()).min_remaining;
        let deadline = Instant::now() + Duration::from_millis(4500);
        let mut seen = vec![first.secret().to_owned()];
        while Instant::now() < deadline {
            let t = tokens.token().await.expect("token");
            assert!(
                t.expires_in() > min_remaining,
                "handed out a nearly expired token: {t:?}"
            );
            if seen.last().map(String::as_str) != Some(t.secret()) {
                seen.push(t.secret().to_owned());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let state = tokens.state();
        assert_eq!(
            state.waits, 1,
            "no caller after the first waited: {state:?}"
        );
        // Renewal at 80% of the lifetime: requests at 0, 0.8, 1.6, 2.4, 3.2 and 4 s, each while
        // the token it replaced still had a fifth of its lifetime left.
        assert_eq!(p.fetches(), 6);
        let times = p.times.lock().expect("times").clone();
        for gap in times.windows(2).map(|w| w[1] - w[0]) {
            assert!(
                gap.abs_diff(renew_after) < Duration::from_millis(2),
                "renewed {gap:?} after the previous request, not {renew_after:?}"
            );
        }
        assert_eq!(seen.len(), 6, "each renewal replaced the token");
    }

    #[tokio::test(start_paused = true)]
    async fn an_hour_long_token_is_renewed_12_minutes_before_expiry_under_paused_time() {
        let p = Arc::new(Counting::new(Duration::from_secs(3600)));
        let tokens = source(&p);
        tokens.token().await.expect("token");
        let due = tokens.state().renewal_due_in.expect("due");
        // 80% of the lifetime, counted from an expiry one second early (less the microseconds
        // the wall clock moved during the request): 2879.2 s.
        assert!(
            due <= Duration::from_millis(2_879_200) && due > Duration::from_millis(2_879_000),
            "{due:?}"
        );
        tokio::time::sleep(Duration::from_secs(2879)).await;
        assert_eq!(p.fetches(), 1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(p.fetches(), 2);
        // 24 hours: one request every 48 minutes, 1.25 an hour (half-life renewal made 48).
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
        assert_eq!(p.fetches(), 2 + 30);
        assert_eq!(tokens.state().waits, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_renewal_keeps_serving_the_valid_token_and_retries_with_backoff() {
        let p = Arc::new(Counting::new(Duration::from_secs(3600)));
        let tokens = source(&p);
        let first = tokens.token().await.expect("token");
        p.fail_next.store(5, Ordering::SeqCst);
        // Past the renewal point: the renewals fail, the first token keeps serving at once.
        tokio::time::sleep(Duration::from_secs(2881)).await;
        let t = tokens.token().await.expect("still serving");
        assert_eq!(t.secret(), first.secret());
        // Backoff: 1, 2, 4, 8, 16 s (±25%) after the failures, then the 6th request succeeds.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let state = tokens.state();
        assert_eq!(state.failures, 5);
        assert_eq!(p.fetches(), 7);
        assert_eq!(state.consecutive_failures, 0);
        assert!(matches!(
            state.last_refresh.map(|r| r.outcome),
            Some(RefreshOutcome::Ok { .. })
        ));
        assert_ne!(
            tokens.token().await.expect("token").secret(),
            first.secret()
        );
        assert_eq!(tokens.state().waits, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_spacing_is_exponential() {
        let p = Arc::new(Counting::new(Duration::from_secs(3600)));
        let tokens = source(&p);
        tokens.token().await.expect("token");
        p.fail_next.store(u32::MAX, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(2880 + 300)).await;
        let times = p.times.lock().expect("times").clone();
        // The first request, then the failed renewal at 2879 s and its retries.
        let gaps: Vec<f64> = times[1..]
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        // 1, 2, 4, 8, 16, 32, 60, 60 s, each ±25%.
        let expected = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0];
        assert!(gaps.len() >= expected.len(), "gaps {gaps:?}");
        for (gap, want) in gaps.iter().zip(expected) {
            assert!(*gap >= want * 0.75 && *gap <= want * 1.25, "gaps {gaps:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_entra_outage_from_the_renewal_on_gets_13_to_19_attempts_before_callers_notice() {
        let p = Arc::new(Counting::new(Duration::from_secs(3600)));
        let tokens = source(&p);
        let first = tokens.token().await.expect("token");
        p.fail_next.store(u32::MAX, Ordering::SeqCst);
        // Renewal starts at 2879.2 s; callers would have to wait from 3479 s (the token, counted
        // as expiring at 3599 s, has 2 minutes left). Just before that, the first token still
        // serves at once and renewal has been retried with backoff all along.
        tokio::time::sleep(Duration::from_secs(3478)).await;
        let t = tokens.token().await.expect("still serving");
        assert_eq!(t.secret(), first.secret());
        let state = tokens.state();
        assert_eq!(state.waits, 1, "{state:?}");
        assert!(
            (13..=19).contains(&state.failures),
            "{} attempts in the 10 minutes of head start",
            state.failures
        );
        assert_eq!(p.fetches(), 1 + state.failures);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_renewal_leaves_the_token_serving_until_it_expires_then_says_why() {
        let p = Arc::new(Counting::new(Duration::from_secs(3600)));
        let tokens = source(&p);
        let first = tokens.token().await.expect("token");
        p.fail_next.store(u32::MAX, Ordering::SeqCst);
        // The token counts as expiring at 3599 s. Inside its last 2 minutes (from 3479 s), with
        // renewal failing, it still serves, at once: nobody waits on the failing provider.
        tokio::time::sleep(Duration::from_secs(3490)).await;
        let t = tokens.token().await.expect("served inside the last margin");
        assert_eq!(t.secret(), first.secret());
        let waits = tokens.state().waits;
        let fetches = p.fetches();
        tokio::time::sleep(Duration::from_secs(100)).await;
        let t = tokens.token().await.expect("served 9 s before expiry");
        assert_eq!(t.secret(), first.secret());
        assert!(t.expires_in() <= Duration::from_secs(10), "{t:?}");
        let state = tokens.state();
        assert_eq!(state.waits, waits, "nobody waited: {state:?}");
        assert!(p.fetches() > fetches, "renewal kept retrying");
        // Past expiry: the error says since when, and why renewal fails.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let err = tokens.token().await.expect_err("expired");
        assert!(
            matches!(err, Error::TokenExpired { expired_ago, .. } if expired_ago < Duration::from_secs(2)),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("AADSTS90033: A transient error has occurred"),
            "{text}"
        );
        assert!(text.contains("from counting"), "{text}");
        assert!(!text.contains("eyJ"), "{text}");
        // Entra recovers: the next caller past the backoff gets a fresh token.
        p.fail_next.store(0, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(80)).await;
        let t = tokens.token().await.expect("recovered");
        assert!(t.expires_in() > Duration::from_secs(3500));
    }

    #[tokio::test(start_paused = true)]
    async fn inside_the_last_margin_callers_wait_for_the_renewal_until_one_fails() {
        // A policy whose renewal starts only as the token enters its last 2 minutes (3479 s),
        // and a provider that answers the first request only: the renewal stalls until its
        // 30-second timeout.
        let gate = Arc::new(Semaphore::new(1));
        let p = Arc::new(Counting {
            gate: Some(gate),
            ..Counting::new(Duration::from_secs(3600))
        });
        let policy = RenewalPolicy {
            renew_at_fraction: 1.0,
            renew_before_expiry: Duration::ZERO,
            ..RenewalPolicy::default()
        };
        let tokens = TokenSource::with_policy(p.clone(), SCOPE, policy);
        let first = tokens.token().await.expect("token");
        tokio::time::sleep(Duration::from_secs(3480)).await;
        // Too close to expiry, and renewal has not failed yet: the caller waits on it...
        let caller = tokio::spawn({
            let tokens = tokens.clone();
            async move { tokens.token().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!caller.is_finished(), "the caller waits on the renewal");
        assert_eq!(tokens.state().waits, 2, "the first call, and this one");
        // ...until it fails (times out): then the still-valid token is the answer.
        let t = caller.await.expect("caller").expect("the cached token");
        assert_eq!(t.secret(), first.secret());
        assert_eq!(tokens.state().failures, 1);
        // From then on, callers get it at once while the task retries.
        let t = tokens.token().await.expect("the cached token");
        assert_eq!(t.secret(), first.secret());
        assert_eq!(tokens.state().waits, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn first_failure_is_returned_and_later_callers_do_not_hammer_the_provider() {
        let p = Arc::new(Counting::new(Duration::from_secs(3600)));
        p.fail_next.store(1, Ordering::SeqCst);
        let tokens = source(&p);
        let err = tokens.token().await.expect_err("first request fails");
        assert!(
            matches!(
                err,
                Error::TokenAcquisition {
                    provider: "counting",
                    ..
                }
            ),
            "{err:?}"
        );
        // Within the backoff delay: the same error, no new request.
        let again = tokens.token().await.expect_err("blocked");
        assert_eq!(again.to_string(), err.to_string());
        assert_eq!(p.fetches(), 1);
        // An unused source does not retry on its own.
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(p.fetches(), 1);
        tokens.token().await.expect("next caller succeeds");
        assert_eq!(p.fetches(), 2);
    }

    #[tokio::test]
    async fn callers_wait_on_the_one_in_flight_request() {
        let gate = Arc::new(Semaphore::new(0));
        let p = Arc::new(Counting {
            gate: Some(gate.clone()),
            ..Counting::new(Duration::from_secs(60))
        });
        let tokens = source(&p);
        let waiters: Vec<_> = (0..50)
            .map(|_| {
                let t = tokens.clone();
                tokio::spawn(async move { t.token().await })
            })
            .collect();
        // Let every waiter reach the wait, then release the one request.
        while tokens.state().waits < 50 || !tokens.state().renewing {
            tokio::task::yield_now().await;
        }
        gate.add_permits(1);
        for w in waiters {
            w.await.expect("task").expect("token");
        }
        assert_eq!(p.fetches(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_provider_times_out() {
        let gate = Arc::new(Semaphore::new(0));
        let p = Arc::new(Counting {
            gate: Some(gate),
            ..Counting::new(Duration::from_secs(60))
        });
        let tokens = source(&p);
        let err = tokens.token().await.expect_err("stalled");
        assert!(err.to_string().contains("no answer within 30s"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_token_again_is_retried_with_backoff_not_in_a_loop() {
        // An upstream cache (IMDS, `az`) answering with the token we already hold, which expires
        // at a fixed instant. Paused time does not move the wall clock, so the provider states
        // the expiry relative to Tokio's clock, as a real one would relative to the wall clock.
        #[derive(Debug)]
        struct Cached(Instant, AtomicU64);
        #[async_trait::async_trait]
        impl TokenProvider for Cached {
            async fn fetch(&self, _: &str) -> azure_core::Result<AccessToken> {
                let n = self.1.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(n < 100, "the provider is being asked in a loop");
                let left = self.0.saturating_duration_since(Instant::now());
                let left = time::Duration::try_from(left).unwrap_or_default();
                Ok(AccessToken::new(
                    "same".to_string(),
                    OffsetDateTime::now_utc() + left,
                ))
            }
            fn kind(&self) -> &'static str {
                "cached"
            }
        }
        let p = Arc::new(Cached(
            Instant::now() + Duration::from_secs(3600),
            AtomicU64::new(0),
        ));
        let tokens = TokenSource::new(p.clone(), SCOPE);
        tokens.token().await.expect("token");
        tokio::time::sleep(Duration::from_secs(3590)).await;
        // Renewal at 2879 s gets the same token back (12 minutes left), then again after 80%
        // of what is left each time (3455 s, 3569 s): a handful of requests, not a loop.
        let n = p.1.load(Ordering::SeqCst);
        assert_eq!(n, 4, "requests");
        let t = tokens.token().await.expect("the same token still serves");
        assert_eq!(t.secret(), "same");
        assert_eq!(tokens.state().waits, 1);
    }

    #[tokio::test]
    async fn the_task_stops_when_the_last_handle_is_dropped() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let gate = Arc::new(Semaphore::new(0));
        let p = Arc::new(Counting {
            _dropped: Some(tx),
            gate: Some(gate.clone()),
            ..Counting::new(Duration::from_millis(300))
        });
        let tokens = TokenSource::new(p, SCOPE);
        let second = tokens.clone();
        gate.add_permits(1);
        tokens.token().await.expect("token");
        drop(tokens);
        // One handle left: the task keeps renewing (the gate holds the next request).
        second.token().await.expect("token");
        drop(second);
        // The task held the provider; with every handle gone it ends (even mid-request) and
        // drops it, which fires the provider's drop signal.
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("the task did not stop")
            .ok();
    }

    #[test]
    fn a_runtime_that_goes_away_does_not_strand_the_source() {
        let p = Arc::new(Counting::new(Duration::from_millis(200)));
        let tokens = source(&p);
        for round in 0..2 {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime");
            let before = p.fetches();
            rt.block_on(async {
                let renewed = tokio::time::timeout(Duration::from_secs(10), async {
                    let first = tokens.token().await.expect("token");
                    // Outlive it: only a request made from this runtime can answer now.
                    tokio::time::sleep(first.expires_in() + Duration::from_millis(10)).await;
                    let later = tokens.token().await.expect("token after renewal");
                    assert_ne!(later.secret(), first.secret(), "round {round}");
                })
                .await;
                renewed.expect("stranded: no task answered in the new runtime");
            });
            drop(rt);
            assert!(p.fetches() > before, "round {round}: nothing fetched");
        }
    }

    #[test]
    fn a_runtime_that_goes_away_mid_request_does_not_strand_later_callers() {
        // The first request is held by the gate when its runtime shuts down: the task dies in
        // the middle of it. A caller on another runtime must get a token, not wait for an answer
        // to a request nobody is making any more.
        let gate = Arc::new(Semaphore::new(0));
        let p = Arc::new(Counting {
            gate: Some(gate.clone()),
            ..Counting::new(Duration::from_secs(60))
        });
        let tokens = source(&p);
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        first.block_on(async {
            let t = tokens.clone();
            tokio::spawn(async move { t.token().await });
            while !tokens.state().renewing {
                tokio::task::yield_now().await;
            }
        });
        drop(first);
        assert_eq!(p.fetches(), 1);
        gate.add_permits(1);
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        second.block_on(async {
            // Paused time: the timeout only fires once nothing else can make progress.
            let got = tokio::time::timeout(Duration::from_secs(3600), tokens.token()).await;
            got.expect("stranded: waiting on a request whose task had died")
                .expect("token");
            assert!(!tokens.state().renewing);
        });
        assert_eq!(p.fetches(), 2);
    }

    #[test]
    fn a_task_dropped_before_its_first_poll_does_not_strand_later_callers() {
        // Runtime A fetches; its task ends with it. Runtime B (current-thread) answers from the
        // cache, which spawns a new task that B never polls before it is dropped. Runtime C,
        // once the token has expired, must get a new one rather than wait on that task.
        let p = Arc::new(Counting::new(Duration::from_millis(1500)));
        let tokens = source(&p);
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime")
        };
        let first = runtime().block_on(async { tokens.token().await.expect("token") });
        runtime().block_on(async {
            let cached = tokens.token().await.expect("cached");
            assert_eq!(cached.secret(), first.secret(), "answered from the cache");
        });
        // The token's expiry is wall-clock time, not something to await from here.
        std::thread::sleep(first.expires_in() + Duration::from_millis(10));
        runtime().block_on(async {
            let renewed = tokio::time::timeout(Duration::from_secs(10), tokens.token()).await;
            let renewed = renewed
                .expect("stranded: waiting on a task that was never polled")
                .expect("token");
            assert_ne!(renewed.secret(), first.secret());
        });
        assert_eq!(p.fetches(), 2);
    }

    #[test]
    fn a_token_past_its_wall_clock_expiry_is_expired_whatever_the_monotonic_clock_says() {
        // After a system suspend Tokio's clock has not moved but the wall clock has.
        let now = Instant::now();
        let token = |wall_left: i64| Token {
            secret: Arc::from("t"),
            expiry: Expiry {
                at: now + Duration::from_secs(3600),
                at_wall: OffsetDateTime::now_utc() + time::Duration::seconds(wall_left),
            },
            expires_on: OffsetDateTime::now_utc() + time::Duration::seconds(wall_left),
            lifetime: Duration::from_secs(3600),
        };
        let slept = token(-30);
        assert!(slept.expired(now));
        assert_eq!(slept.expires_in(), Duration::ZERO);
        assert!(slept.expiry.passed_ago(now) >= Duration::from_secs(29));
        let st = State {
            current: Some(slept),
            ..State::default()
        };
        assert!(st.usable(now, &RenewalPolicy::default()).is_none());
        // Inside the last margin by the wall clock: not handed to a new login either.
        let st = State {
            current: Some(token(60)),
            ..State::default()
        };
        assert!(st.usable(now, &RenewalPolicy::default()).is_none());
        let fresh = token(3000);
        assert!(!fresh.expired(now));
        assert!(fresh.left(now) <= Duration::from_secs(3000));
        let st = State {
            current: Some(fresh),
            ..State::default()
        };
        assert!(st.usable(now, &RenewalPolicy::default()).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_that_panics_fails_the_waiting_caller_instead_of_hanging_it() {
        #[derive(Debug)]
        struct PanicsFirst(AtomicU64);
        #[async_trait::async_trait]
        impl TokenProvider for PanicsFirst {
            async fn fetch(&self, _: &str) -> azure_core::Result<AccessToken> {
                if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("a bug in the token callback");
                }
                Ok(AccessToken::new(
                    "eyJ0eXAiOiJKV1QifQ.after-panic.sig".to_string(),
                    OffsetDateTime::now_utc() + time::Duration::minutes(60),
                ))
            }
            fn kind(&self) -> &'static str {
                "panics first"
            }
        }
        let p = Arc::new(PanicsFirst(AtomicU64::new(0)));
        let tokens = TokenSource::new(p.clone(), SCOPE);
        // Paused time: the timeout only fires once nothing else can make progress.
        let first = tokio::time::timeout(Duration::from_secs(3600), tokens.token())
            .await
            .expect("hung: the caller waited on a request whose task had panicked");
        let err = first.expect_err("the request panicked");
        assert!(err.to_string().contains("panicked"), "{err}");
        let state = tokens.state();
        assert!(!state.renewing);
        assert_eq!((state.failures, state.consecutive_failures), (1, 1));
        // The next request, once the backoff has passed, goes to the provider again.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let t = tokio::time::timeout(Duration::from_secs(3600), tokens.token())
            .await
            .expect("hung after a panic")
            .expect("token");
        assert!(t.secret().contains("after-panic"));
        assert_eq!(p.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn outside_tokio_it_is_a_clear_error() {
        let p = Arc::new(Counting::new(Duration::from_secs(60)));
        let tokens = source(&p);
        let result =
            std::thread::spawn(move || futures_util::FutureExt::now_or_never(tokens.token()))
                .join()
                .expect("thread");
        assert!(matches!(result, Some(Err(Error::NoRuntime))), "{result:?}");
    }

    #[tokio::test]
    async fn debug_output_never_shows_the_token() {
        let p = Arc::new(Counting::new(Duration::from_secs(60)));
        let tokens = source(&p);
        let t = tokens.token().await.expect("token");
        let shown = format!("{t:?} {tokens:?} {:?}", tokens.state());
        assert!(!shown.contains(t.secret()), "{shown}");
        assert!(!shown.contains("eyJ"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
