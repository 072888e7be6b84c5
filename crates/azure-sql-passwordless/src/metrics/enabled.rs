//! The instruments, with the `opentelemetry` feature.

use super::{PoolReading, TokenReading};
use crate::error::{Error, TokenFailure};
use crate::retirement::RetireReason;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider};
use opentelemetry::{global, InstrumentationScope, KeyValue};
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The conventions' attribute naming the pool.
const POOL_NAME: &str = "db.client.connection.pool.name";
/// The conventions' connection state: `idle` or `used`.
const STATE: &str = "db.client.connection.state";
/// The conventions' class of error: here a SQL error number, an `AADSTS` code, or one word.
const ERROR_TYPE: &str = "error.type";
const TOKEN_PROVIDER: &str = "azure_sql.token.provider";
const TOKEN_OUTCOME: &str = "azure_sql.token.outcome";
const LOGIN_OUTCOME: &str = "azure_sql.login.outcome";
const RETIRE_REASON: &str = "azure_sql.connection.retire_reason";

/// Bucket bounds for waits and uses (seconds): a warm checkout takes microseconds, a wait for a
/// new login hundreds of milliseconds, a caller that gives up 30 s.
const WAIT_BOUNDS: [f64; 12] = [
    0.00001, 0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0,
];
/// Bucket bounds for logins (seconds): TLS and a redirect take tens to hundreds of
/// milliseconds; `Connect Timeout` is 15 s by default.
const CREATE_BOUNDS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Where instruments come from: a meter provider the caller gave, or the global one (as
/// installed when the pool or token source is built).
#[derive(Clone, Default)]
pub(crate) struct Meters(Option<Meter>);

impl Meters {
    pub(crate) fn from_provider<P: MeterProvider + ?Sized>(provider: &P) -> Self {
        Self(Some(provider.meter_with_scope(scope())))
    }

    fn meter(&self) -> Meter {
        self.0
            .clone()
            .unwrap_or_else(|| global::meter_with_scope(scope()))
    }
}

impl fmt::Debug for Meters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Meters(given)"
        } else {
            "Meters(global)"
        })
    }
}

/// When a pooled connection was handed out, and how long its caller waited for it: both are
/// recorded when it comes back (`db.client.connection.wait_time`, `.use_time`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stamp(Option<(Instant, Duration)>);

/// The pool's instruments.
pub(crate) struct PoolMetrics {
    meter: Meter,
    pool: [KeyValue; 1],
    wait_time: Histogram<f64>,
    use_time: Histogram<f64>,
    create_time: Histogram<f64>,
    timeouts: Counter<u64>,
    /// Connections the pool retired, by reason (`RetireReason as usize`).
    retired: Arc<[AtomicU64; RetireReason::ALL.len()]>,
}

impl PoolMetrics {
    pub(crate) fn new(meters: &Meters, pool_name: &str) -> Self {
        let meter = meters.meter();
        let histogram = |name: &'static str, description: &'static str, bounds: &[f64]| {
            meter
                .f64_histogram(name)
                .with_description(description)
                .with_unit("s")
                .with_boundaries(bounds.to_vec())
                .build()
        };
        Self {
            pool: [KeyValue::new(POOL_NAME, pool_name.to_owned())],
            wait_time: histogram(
                "db.client.connection.wait_time",
                "The time it took to obtain an open connection from the pool",
                &WAIT_BOUNDS,
            ),
            use_time: histogram(
                "db.client.connection.use_time",
                "The time between borrowing a connection and returning it to the pool",
                &WAIT_BOUNDS,
            ),
            create_time: histogram(
                "db.client.connection.create_time",
                "The time it took to create a new connection (token, TCP, TLS, login, redirects, retries)",
                &CREATE_BOUNDS,
            ),
            timeouts: meter
                .u64_counter("db.client.connection.timeouts")
                .with_description("The number of connection timeouts that have occurred trying to obtain a connection from the pool")
                .with_unit("{timeout}")
                .build(),
            retired: Arc::new(std::array::from_fn(|_| AtomicU64::new(0))),
            meter,
        }
    }

    /// A caller waiting since `since` got a connection, found fit at `at` (the checkout's own
    /// clock read): the stamp its return records the wait and the use from. Nothing is recorded
    /// here: the histogram points (an attribute-set lookup and a lock each in the SDK) are
    /// recorded at the return, off the path of a caller waiting for its connection.
    #[inline]
    pub(crate) fn checked_out(&self, since: Instant, at: Instant) -> Stamp {
        Stamp(Some((at, at.saturating_duration_since(since))))
    }

    /// A connection came back: records how long its caller waited for it and how long it was
    /// used (once per checkout).
    #[inline]
    pub(crate) fn returned(&self, stamp: &mut Stamp) {
        if let Some((at, waited)) = stamp.0.take() {
            self.wait_time.record(waited.as_secs_f64(), &self.pool);
            self.use_time.record(at.elapsed().as_secs_f64(), &self.pool);
        }
    }

    /// A connection was opened, starting at `started`.
    pub(crate) fn created(&self, started: Instant) {
        self.create_time
            .record(started.elapsed().as_secs_f64(), &self.pool);
    }

    /// A caller gave up waiting.
    pub(crate) fn timed_out(&self) {
        self.timeouts.add(1, &self.pool);
    }

    /// A connection was retired (discarded when it came back or at checkout).
    pub(crate) fn retired(&self, reason: RetireReason) {
        self.retired[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Registers the instruments read at collection time; `read` answers `None` once the pool
    /// is gone (the provider keeps callbacks for its own lifetime).
    pub(crate) fn observe(&self, read: impl Fn() -> Option<PoolReading> + Send + Sync + 'static) {
        let read = Arc::new(read);
        let pool = self.pool[0].clone();
        let gauge = |name: &'static str,
                     description: &'static str,
                     unit: &'static str,
                     value: fn(&PoolReading) -> u32| {
            let read = read.clone();
            let attrs = [pool.clone()];
            self.meter
                .i64_observable_up_down_counter(name)
                .with_description(description)
                .with_unit(unit)
                .with_callback(move |observer| {
                    if let Some(r) = read() {
                        observer.observe(i64::from(value(&r)), &attrs);
                    }
                })
                .build();
        };
        gauge(
            "db.client.connection.idle.max",
            "The maximum number of idle open connections allowed",
            "{connection}",
            |r| r.max,
        );
        gauge(
            "db.client.connection.idle.min",
            "The minimum number of idle open connections allowed",
            "{connection}",
            |r| r.min_idle,
        );
        gauge(
            "db.client.connection.max",
            "The maximum number of open connections allowed",
            "{connection}",
            |r| r.max,
        );
        gauge(
            "db.client.connection.pending_requests",
            "The number of current pending requests for an open connection",
            "{request}",
            |r| r.pending,
        );
        {
            let read = read.clone();
            let idle = [pool.clone(), KeyValue::new(STATE, "idle")];
            let used = [pool.clone(), KeyValue::new(STATE, "used")];
            self.meter
                .i64_observable_up_down_counter("db.client.connection.count")
                .with_description("The number of connections that are currently in state described by the state attribute")
                .with_unit("{connection}")
                .with_callback(move |observer| {
                    if let Some(r) = read() {
                        observer.observe(i64::from(r.idle), &idle);
                        observer.observe(i64::from(r.used), &used);
                    }
                })
                .build();
        }
        let retired = self.retired.clone();
        let by_reason: Vec<(RetireReason, [KeyValue; 2])> = RetireReason::ALL
            .iter()
            .map(|&reason| {
                (
                    reason,
                    [pool.clone(), KeyValue::new(RETIRE_REASON, reason.code())],
                )
            })
            .collect();
        let idle_timeout = [pool, KeyValue::new(RETIRE_REASON, "idle_timeout")];
        self.meter
            .u64_observable_counter("azure_sql.connection.retired")
            .with_description("Connections closed by the pool, by reason: broken, session_token_expired (37396, or 18456 on an open session), token_expiring, lifetime (Connection Lifetime), idle_timeout, ping_failed, server_closed, reset_unacknowledged, pool_closing")
            .with_unit("{connection}")
            .with_callback(move |observer| {
                let Some(r) = read() else { return };
                for (reason, attrs) in &by_reason {
                    let mut n = retired[*reason as usize].load(Ordering::Relaxed);
                    if *reason == RetireReason::LifetimeReached {
                        n += r.reaped_lifetime;
                    }
                    observer.observe(n, attrs);
                }
                observer.observe(r.reaped_idle, &idle_timeout);
            })
            .build();
    }
}

/// The connector's instruments: logins, redirects, retries.
pub(crate) struct ConnectMetrics {
    pool: [KeyValue; 1],
    logins: Counter<u64>,
    redirects: Counter<u64>,
    retries: Counter<u64>,
}

impl ConnectMetrics {
    pub(crate) fn new(meters: &Meters, pool_name: &str) -> Self {
        let meter = meters.meter();
        Self {
            pool: [KeyValue::new(POOL_NAME, pool_name.to_owned())],
            logins: meter
                .u64_counter("azure_sql.connection.logins")
                .with_description("Login attempts (token, TCP, TLS, LOGIN7, redirects), by outcome: ok, refused (a SQL error not retried), transient (retried at connect), failed; error.type the SQL error number or the failure's kind")
                .with_unit("{login}")
                .build(),
            redirects: meter
                .u64_counter("azure_sql.connection.redirects")
                .with_description("Gateway redirects followed (Redirect connection policy)")
                .with_unit("{redirect}")
                .build(),
            retries: meter
                .u64_counter("azure_sql.connection.retries")
                .with_description("Connect attempts retried after a transient error (error.type: what was retried)")
                .with_unit("{retry}")
                .build(),
        }
    }

    /// One login attempt ended: `Ok`, or its error and whether the connector retries it.
    pub(crate) fn login(&self, result: Result<(), &Error>, transient: bool) {
        match result {
            Ok(()) => self.logins.add(
                1,
                &[self.pool[0].clone(), KeyValue::new(LOGIN_OUTCOME, "ok")],
            ),
            Err(e) => {
                let outcome = if transient {
                    "transient"
                } else if e.sql_error_number().is_some() {
                    "refused"
                } else {
                    "failed"
                };
                self.logins.add(
                    1,
                    &[
                        self.pool[0].clone(),
                        KeyValue::new(LOGIN_OUTCOME, outcome),
                        KeyValue::new(ERROR_TYPE, error_type(e)),
                    ],
                );
            }
        }
    }

    pub(crate) fn redirected(&self) {
        self.redirects.add(1, &self.pool);
    }

    pub(crate) fn retrying(&self, error: &Error) {
        self.retries.add(
            1,
            &[
                self.pool[0].clone(),
                KeyValue::new(ERROR_TYPE, error_type(error)),
            ],
        );
    }
}

/// `error.type` for a connect's error: the SQL error number when the server gave one, else one
/// word for its kind (the conventions' `_OTHER` for the rest). Never the message.
fn error_type(e: &Error) -> Cow<'static, str> {
    if let Some(n) = e.sql_error_number() {
        return Cow::Owned(n.to_string());
    }
    Cow::Borrowed(match e {
        Error::Timeout { .. } => "timeout",
        Error::Connect { .. } | Error::ConnectionBroken { .. } => "io",
        Error::Tls { .. } => "tls",
        Error::TokenAcquisition { .. } | Error::TokenExpired { .. } => "token",
        Error::RedirectLoop { .. } | Error::TooManyRedirects { .. } => "redirect",
        Error::TransientExhausted { last, .. } => return error_type(last),
        _ => "_OTHER",
    })
}

/// The token cache's instruments.
pub(crate) struct TokenMetrics {
    provider: [KeyValue; 1],
    requests: Counter<u64>,
    renewals: Counter<u64>,
    waits: Counter<u64>,
}

impl TokenMetrics {
    /// The instruments of a token source over a `provider`-kind provider; `read` answers what
    /// the cache holds (`None` once the source is gone).
    pub(crate) fn new(
        meters: &Meters,
        provider: &'static str,
        read: impl Fn() -> Option<TokenReading> + Send + Sync + 'static,
    ) -> Self {
        let meter = meters.meter();
        let attr = KeyValue::new(TOKEN_PROVIDER, provider);
        let read = Arc::new(read);
        {
            let read = read.clone();
            let attrs = [attr.clone()];
            meter
                .f64_observable_gauge("azure_sql.token.time_to_expiry")
                .with_description("Seconds until the cached access token expires (0: expired, or no token could be had)")
                .with_unit("s")
                .with_callback(move |observer| {
                    if let Some(left) = read().and_then(|r| r.expires_in) {
                        observer.observe(left.as_secs_f64(), &attrs);
                    }
                })
                .build();
        }
        {
            let attrs = [attr.clone()];
            meter
                .u64_observable_gauge("azure_sql.token.consecutive_failures")
                .with_description(
                    "Token requests failed since the last success (renewal failing when above 0)",
                )
                .with_unit("{failure}")
                .with_callback(move |observer| {
                    if let Some(r) = read() {
                        observer.observe(u64::from(r.consecutive_failures), &attrs);
                    }
                })
                .build();
        }
        Self {
            requests: meter
                .u64_counter("azure_sql.token.requests")
                .with_description("Requests to the identity provider, by outcome: ok, refused, unavailable (HTTP 5xx or 429), unreachable, timeout, failed (a local failure); error.type the AADSTS code or HTTP status")
                .with_unit("{request}")
                .build(),
            renewals: meter
                .u64_counter("azure_sql.token.renewals")
                .with_description("Tokens received that replaced an earlier cached token")
                .with_unit("{renewal}")
                .build(),
            waits: meter
                .u64_counter("azure_sql.token.waits")
                .with_description("Callers that had to wait for a token request because no usable token was cached")
                .with_unit("{wait}")
                .build(),
            provider: [attr],
        }
    }

    /// A request ended: `None` for a token, or its failure and whether it timed out.
    pub(crate) fn requested(&self, failure: Option<&TokenFailure>, timed_out: bool) {
        let Some(failure) = failure else {
            self.requests.add(
                1,
                &[self.provider[0].clone(), KeyValue::new(TOKEN_OUTCOME, "ok")],
            );
            return;
        };
        let outcome = if timed_out {
            "timeout"
        } else if failure.transient {
            if failure.http_status.is_some() {
                "unavailable"
            } else {
                "unreachable"
            }
        } else if failure.aadsts.is_some() || failure.http_status.is_some() {
            "refused"
        } else {
            "failed"
        };
        let mut attrs = vec![
            self.provider[0].clone(),
            KeyValue::new(TOKEN_OUTCOME, outcome),
        ];
        match (failure.aadsts, failure.http_status) {
            (Some(code), _) => attrs.push(KeyValue::new(ERROR_TYPE, format!("AADSTS{code}"))),
            (None, Some(status)) => attrs.push(KeyValue::new(ERROR_TYPE, status.to_string())),
            (None, None) => {}
        }
        self.requests.add(1, &attrs);
    }

    /// A token replaced an earlier cached one.
    pub(crate) fn renewed(&self) {
        self.renewals.add(1, &self.provider);
    }

    /// A caller had to wait for a request.
    pub(crate) fn waited(&self) {
        self.waits.add(1, &self.provider);
    }
}
