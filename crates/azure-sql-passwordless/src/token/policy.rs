//! [`RenewalPolicy`]: when the cache renews, when callers wait, and how it retries, and the
//! [`Margins`] it works out for one token's lifetime; the backoff between failed requests.

use std::time::Duration;

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
    /// Default 30 seconds (capped at a tenth of the lifetime).
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
    /// 1⁄100, longest retry 1⁄20, request timeout 1⁄10), so the same policy serves 1-hour tokens
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
                // A tenth: renewal starts with a fifth of the life left, so two requests
                // that each run into the timeout still end before expiry. A quarter (as
                // before) let one stalled request outlast the whole head start of a
                // few-second token (the soak found it; README "Reliability").
                .min(lifetime / 10)
                .max(Duration::from_millis(10)),
        }
    }

    /// Margins before any token has been seen (lifetime unknown): the unscaled bounds.
    pub(super) fn unscaled(&self) -> Margins {
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
pub(super) const BACKOFF_CEILING: Duration = Duration::from_secs(24 * 3600);

/// Exponential backoff with ±25% jitter: `initial · 2^(failures-1)`, at most `max` (and at most
/// a day).
pub(super) fn backoff(failures: u32, initial: Duration, max: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    let base = initial
        .saturating_mul(1u32 << exp)
        .min(max)
        .min(BACKOFF_CEILING);
    let jitter: f64 = rand::random_range(0.75..=1.25);
    base.mul_f64(jitter)
}
