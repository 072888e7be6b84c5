//! When a logged-in connection must stop being used: the one home of the bounds that retire it.
//!
//! A connection carries a [`Retirement`], drawn once at login:
//!
//! - **its login token**: TDS cannot give an open session a new token, and Azure SQL may
//!   revalidate a session's token (37396, or 18456 "Token is expired"). The connection is retired
//!   from `min_remaining` (the [`RenewalPolicy`]'s last margin, 2 minutes for Entra's tokens)
//!   plus a random share of up to a tenth of the token's lifetime before the token expires, so
//!   the connections that logged in with one token do not all retire at the same moment (a wave
//!   of logins). It is retired then only if a newer token is cached: with none (renewal still in
//!   flight, or failing) a new login would carry the same token, so the connection serves on
//!   until its token truly expires (by the monotonic or the wall clock, see [`Expiry`]).
//! - **its own lifetime** (`Connection Lifetime`, 10 minutes by default): drawn between 90% and
//!   100% of the configured bound, so connections opened together do not reconnect together; a
//!   revoked role or a dropped user takes effect within it.
//!
//! What the pool adds on top (a broken connection, a session reset the server did not
//! acknowledge, a closing pool) lives with the pool's manager; [`RetireReason`] names them all.

use crate::token::{Expiry, RenewalPolicy, Token};
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// Why a connection is not handed out again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetireReason {
    /// A request failed in a way that leaves the session unusable (see [`crate::connection`]).
    Broken,
    /// The server refused the session's token on an open session (37396, or 18456 "Token is
    /// expired" after Azure SQL revalidated it): broken too, but for a reason of its own.
    SessionTokenExpired,
    /// A session reset went out with a request and the server never acknowledged it: nothing
    /// proves the previous caller's state is gone.
    ResetUnacknowledged,
    /// Its login token is within its last margin and a newer token is cached (or it expired).
    TokenExpiring,
    /// It has lived its `Connection Lifetime`.
    LifetimeReached,
    /// The checkout ping failed or got no answer in time.
    PingFailed,
    /// The server let go of it while it sat idle (closed or reset it: a failover, a node that
    /// moved or restarted), seen at checkout without a round trip (`connection/liveness.rs`).
    ServerClosed,
    /// The pool is closing.
    PoolClosing,
}

impl RetireReason {
    /// Every reason, in declaration order (`reason as usize` indexes it).
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) const ALL: [RetireReason; 8] = [
        RetireReason::Broken,
        RetireReason::SessionTokenExpired,
        RetireReason::ResetUnacknowledged,
        RetireReason::TokenExpiring,
        RetireReason::LifetimeReached,
        RetireReason::PingFailed,
        RetireReason::ServerClosed,
        RetireReason::PoolClosing,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RetireReason::Broken => "broken",
            RetireReason::SessionTokenExpired => "the server refused the session's token (37396)",
            RetireReason::ResetUnacknowledged => "session reset not acknowledged by the server",
            RetireReason::TokenExpiring => "login token about to expire",
            RetireReason::LifetimeReached => "Connection Lifetime reached",
            RetireReason::PingFailed => "checkout ping failed",
            RetireReason::ServerClosed => "the server closed it while it was idle",
            RetireReason::PoolClosing => "pool closing",
        }
    }
}

impl RetireReason {
    /// One word for it, as metrics label it (`azure_sql.connection.retire_reason`).
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn code(self) -> &'static str {
        match self {
            RetireReason::Broken => "broken",
            RetireReason::SessionTokenExpired => "session_token_expired",
            RetireReason::ResetUnacknowledged => "reset_unacknowledged",
            RetireReason::TokenExpiring => "token_expiring",
            RetireReason::LifetimeReached => "lifetime",
            RetireReason::PingFailed => "ping_failed",
            RetireReason::ServerClosed => "server_closed",
            RetireReason::PoolClosing => "pool_closing",
        }
    }
}

impl fmt::Display for RetireReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The login token's part: when it expires and from when the connection is retired.
#[derive(Clone, Copy, Debug)]
struct LoginToken {
    expiry: Expiry,
    retire_at: Instant,
}

/// The bounds of one connection, drawn at login.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retirement {
    token: Option<LoginToken>,
    opened_at: Instant,
    retire_after: Duration,
}

impl Retirement {
    /// The bounds of a connection logging in now with `token` (`None` for a SQL login), under
    /// `policy`, with `Connection Lifetime` `lifetime`.
    pub(crate) fn at_login(
        token: Option<&Token>,
        policy: &RenewalPolicy,
        lifetime: Duration,
    ) -> Self {
        let token = token.map(|token| {
            let margins = policy.scaled(token.lifetime());
            let spread = token.lifetime() / 10;
            let expiry = token.expiry();
            LoginToken {
                expiry,
                retire_at: expiry
                    .at
                    .checked_sub(margins.min_remaining + jitter(spread))
                    .unwrap_or(expiry.at),
            }
        });
        Self {
            token,
            opened_at: Instant::now(),
            retire_after: lifetime.saturating_sub(jitter(lifetime / 10)),
        }
    }

    /// Why the connection must be retired now, if it must: `newest_token_expiry` is when the
    /// token the pool would log in with now expires (`None`: none is cached).
    pub(crate) fn reason(
        &self,
        now: Instant,
        newest_token_expiry: Option<Instant>,
    ) -> Option<RetireReason> {
        if let Some(token) = &self.token {
            if now >= token.retire_at {
                let replaceable = token.expiry.passed(now)
                    || newest_token_expiry.is_none_or(|newest| newest > token.expiry.at);
                if replaceable {
                    return Some(RetireReason::TokenExpiring);
                }
            }
        }
        (now.saturating_duration_since(self.opened_at) >= self.retire_after)
            .then_some(RetireReason::LifetimeReached)
    }

    /// Whether the login token is past the point where the connection stops being handed out
    /// (whether or not a newer token is cached yet).
    pub(crate) fn token_retired(&self, now: Instant) -> bool {
        self.token.is_some_and(|t| now >= t.retire_at)
    }

    /// Time left on the login token (`None` for SQL logins), by either clock.
    pub(crate) fn token_expires_in(&self, now: Instant) -> Option<Duration> {
        self.token.map(|t| t.expiry.left(now))
    }

    /// When the connection logged in.
    pub(crate) fn opened_at(&self) -> Instant {
        self.opened_at
    }

    /// Whether it has lived its drawn `Connection Lifetime`.
    pub(crate) fn lifetime_reached(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.opened_at) >= self.retire_after
    }
}

/// A random duration from zero to `spread`.
fn jitter(spread: Duration) -> Duration {
    spread.mul_f64(rand::random_range(0.0..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(token_secs: u64, lifetime_secs: u64) -> Retirement {
        let now = Instant::now();
        Retirement {
            token: Some(LoginToken {
                expiry: Expiry::on_tokio_clock(now + Duration::from_secs(token_secs)),
                retire_at: now + Duration::from_secs(token_secs) - Duration::from_secs(120),
            }),
            opened_at: now,
            retire_after: Duration::from_secs(lifetime_secs),
        }
    }

    #[test]
    fn a_connection_past_its_token_margin_retires_only_for_a_newer_token() {
        let r = at(3600, 600);
        let now = r.opened_at();
        assert_eq!(r.reason(now, None), None, "fresh");
        let late = now + Duration::from_secs(3600 - 60);
        assert!(r.token_retired(late));
        // The cache still holds the same token (renewal failing): a new login would carry it
        // too, so only the lifetime bound applies.
        let same = r.token.map(|t| t.expiry.at);
        assert_eq!(r.reason(late, same), Some(RetireReason::LifetimeReached));
        let r = at(3600, 100_000);
        assert_eq!(r.reason(late, same), None);
        let newer = same.map(|at| at + Duration::from_secs(3600));
        assert_eq!(r.reason(late, newer), Some(RetireReason::TokenExpiring));
        // Nothing valid cached: a new login fetches a new token anyway.
        assert_eq!(r.reason(late, None), Some(RetireReason::TokenExpiring));
        // Once its own token has expired it goes whatever is cached.
        let expired = now + Duration::from_secs(3601);
        assert_eq!(r.reason(expired, same), Some(RetireReason::TokenExpiring));
    }

    #[test]
    fn every_reason_is_listed_once_at_its_own_index() {
        for (i, reason) in RetireReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i, "{reason:?}");
            assert!(reason
                .code()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }

    #[test]
    fn the_lifetime_bound_is_drawn_within_its_last_tenth() {
        let lifetime = Duration::from_secs(600);
        for _ in 0..100 {
            let r = Retirement::at_login(None, &RenewalPolicy::default(), lifetime);
            assert!(r.retire_after <= lifetime && r.retire_after >= lifetime * 9 / 10);
            assert!(r.token_expires_in(r.opened_at()).is_none());
            assert!(!r.lifetime_reached(r.opened_at()));
            assert!(r.lifetime_reached(r.opened_at() + lifetime));
        }
    }
}
