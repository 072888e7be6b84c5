//! The health endpoints of `--watch --health-addr`: what `/livez` and `/readyz` mean
//! ([`Health`], pure and unit-tested) and the small HTTP/1 server that answers them ([`serve`]).
//!
//! - `GET /livez`: 200 while the watch loop makes progress: the query running now is within its
//!   deadline, or (between queries) the last one finished within 3 intervals. It never looks at
//!   the database, so an outage makes the pod unready rather than restarting it in a loop; a
//!   wedged process fails it.
//! - `GET /readyz`: 200 when the last query succeeded and a valid access token is cached (no
//!   token is needed with `Sql Password`); 503 with a one-line reason otherwise (no query yet,
//!   the last query's error, or why no token is cached).
//!
//! - `GET /metrics`: the library's metrics in Prometheus text (see `metrics`), when the build
//!   has the `metrics` feature; 404 otherwise.
//!
//! The probes answer `text/plain` with one line; `HEAD` works too. Anything else is 404 or 405.

use crate::metrics::Exporter;
use azure_sql_passwordless::{Pool, RefreshOutcome, TokenState};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// How many watch intervals may pass without a finished query before `/livez` fails.
pub const LIVENESS_INTERVALS: u32 = 3;

/// What the watch loop reports, and the two verdicts drawn from it.
#[derive(Debug)]
pub struct Health {
    interval: Duration,
    deadline: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// When the last query finished (or the loop started, before the first one).
    last_finished: Instant,
    /// When the query running now started.
    running_since: Option<Instant>,
    /// The last query's outcome and when it finished (`None`: no query has finished yet).
    last: Option<(Instant, Result<usize, String>)>,
}

/// A verdict: healthy or not, and one line saying why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// 200 or 503.
    pub healthy: bool,
    /// One line for the probe's body (and `kubectl describe pod`).
    pub reason: String,
}

impl Verdict {
    fn ok(reason: String) -> Self {
        Self {
            healthy: true,
            reason,
        }
    }
    fn fail(reason: String) -> Self {
        Self {
            healthy: false,
            reason,
        }
    }
}

/// Whole seconds (or milliseconds under a second) for messages.
struct Ago(Duration);

impl fmt::Display for Ago {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < Duration::from_secs(1) {
            write!(f, "{}ms", self.0.as_millis())
        } else {
            write!(f, "{}s", self.0.as_secs())
        }
    }
}

impl Health {
    /// Health of a loop querying every `interval`, each query cut at `deadline`; the loop
    /// starts `now`.
    pub fn new(interval: Duration, deadline: Duration, now: Instant) -> Self {
        Self {
            interval,
            deadline,
            state: Mutex::new(State {
                last_finished: now,
                running_since: None,
                last: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written (plain stores),
        // so a poisoned lock is still good to read.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A query starts.
    pub fn started(&self, now: Instant) {
        self.state().running_since = Some(now);
    }

    /// The query finished: with the number of rows, or the one-line error.
    pub fn finished(&self, now: Instant, outcome: Result<usize, String>) {
        let mut s = self.state();
        s.running_since = None;
        s.last_finished = now;
        s.last = Some((now, outcome));
    }

    /// `/livez`.
    pub fn liveness(&self, now: Instant) -> Verdict {
        let s = self.state();
        if let Some(since) = s.running_since {
            let running = now.saturating_duration_since(since);
            return if running <= self.deadline {
                Verdict::ok(format!(
                    "alive: a query has been running for {}",
                    Ago(running)
                ))
            } else {
                Verdict::fail(format!(
                    "stuck: a query has been running for {}, past its {} deadline",
                    Ago(running),
                    Ago(self.deadline)
                ))
            };
        }
        let idle = now.saturating_duration_since(s.last_finished);
        let bound = self.interval * LIVENESS_INTERVALS;
        if idle <= bound {
            Verdict::ok(format!("alive: the last query finished {} ago", Ago(idle)))
        } else {
            Verdict::fail(format!(
                "stuck: no query has finished for {} (interval {}, allowed {})",
                Ago(idle),
                Ago(self.interval),
                Ago(bound)
            ))
        }
    }

    /// `/readyz`, given the pool's token cache (`None` with `Sql Password`).
    pub fn readiness(&self, now: Instant, token: Option<&TokenView>) -> Verdict {
        let s = self.state();
        let (at, rows) = match &s.last {
            None => return Verdict::fail("not ready: no query has finished yet".into()),
            Some((at, Err(error))) => {
                return Verdict::fail(format!(
                    "not ready: the last query ({} ago) failed: {error}",
                    Ago(now.saturating_duration_since(*at))
                ))
            }
            Some((at, Ok(rows))) => (*at, *rows),
        };
        let ago = Ago(now.saturating_duration_since(at));
        let Some(token) = token else {
            return Verdict::ok(format!(
                "ready: the last query ({ago} ago) read {rows} row(s)"
            ));
        };
        match token.expires_in {
            Some(left) => Verdict::ok(format!(
                "ready: the last query ({ago} ago) read {rows} row(s); the access token from {} expires in {}",
                token.provider,
                Ago(left)
            )),
            None => {
                let why = match &token.last_failure {
                    Some(failure) => {
                        format!("the last request to {} failed: {failure}", token.provider)
                    }
                    None => format!("the token from {} has expired", token.provider),
                };
                Verdict::fail(format!("not ready: no valid access token is cached: {why}"))
            }
        }
    }
}

/// What readiness needs from the pool's [`TokenState`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenView {
    /// The provider's kind (`workload identity`, ...).
    pub provider: &'static str,
    /// Time left on the cached token (`None`: none cached, or it has expired).
    pub expires_in: Option<Duration>,
    /// The last request's failure, when the last request failed.
    pub last_failure: Option<String>,
}

impl From<&TokenState> for TokenView {
    fn from(state: &TokenState) -> Self {
        Self {
            provider: state.provider,
            expires_in: state.expires_in,
            last_failure: match state.last_refresh.as_ref().map(|r| &r.outcome) {
                Some(RefreshOutcome::Failed(failure)) => Some(failure.to_string()),
                _ => None,
            },
        }
    }
}

/// A bound listener, not yet serving (so the caller learns the port before it serves).
pub struct Listener {
    listener: TcpListener,
}

impl Listener {
    /// Binds `addr` (port 0: any free port).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Serves `/livez` and `/readyz` from `health` and `pool`, and `/metrics` from `metrics`,
/// until the task is dropped or aborted. A slow or broken client only ever holds its own
/// connection.
pub async fn serve(listener: Listener, health: Arc<Health>, pool: Pool, metrics: Arc<Exporter>) {
    loop {
        let (stream, peer) = match listener.listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "health: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let health = health.clone();
        let pool = pool.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = respond(&request, &health, &pool, &metrics);
                async move { Ok::<_, Infallible>(response) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "health: connection ended with an error");
            }
        });
    }
}

fn respond(
    request: &Request<Incoming>,
    health: &Health,
    pool: &Pool,
    metrics: &Exporter,
) -> Response<String> {
    let now = Instant::now();
    let path = request.uri().path();
    if !matches!(path, "/livez" | "/readyz" | "/metrics") {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: the endpoints are /livez, /readyz and /metrics".into(),
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET or HEAD".into(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let verdict = match path {
        "/livez" => health.liveness(now),
        "/readyz" => {
            let token = pool.state().token.as_ref().map(TokenView::from);
            health.readiness(now, token.as_ref())
        }
        _ => return exposition(metrics),
    };
    if !verdict.healthy {
        tracing::debug!(path = request.uri().path(), reason = %verdict.reason, "health: unhealthy");
    }
    let status = if verdict.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    plain(status, verdict.reason)
}

/// `/metrics`: the exporter's text, or 404 in a build without metrics.
fn exposition(metrics: &Exporter) -> Response<String> {
    match metrics.render() {
        Some(text) => {
            let mut response = Response::new(text);
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        None if cfg!(feature = "metrics") => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be encoded (see the log)".into(),
        ),
        None => plain(
            StatusCode::NOT_FOUND,
            "not found: this build has no metrics (cargo feature `metrics`)".into(),
        ),
    }
}

fn plain(status: StatusCode, line: String) -> Response<String> {
    let mut response = Response::new(format!("{line}\n"));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(30);
    const DEADLINE: Duration = Duration::from_secs(65);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn token(expires_in: Option<u64>, last_failure: Option<&str>) -> TokenView {
        TokenView {
            provider: "workload identity",
            expires_in: expires_in.map(secs),
            last_failure: last_failure.map(String::from),
        }
    }

    #[test]
    fn alive_at_start_and_while_queries_finish_each_interval() {
        let t0 = Instant::now();
        let health = Health::new(INTERVAL, DEADLINE, t0);
        assert!(health.liveness(t0).healthy);
        assert!(
            health.liveness(t0 + secs(90)).healthy,
            "3 intervals are allowed"
        );
        health.started(t0 + secs(30));
        health.finished(t0 + secs(31), Ok(5));
        let v = health.liveness(t0 + secs(60));
        assert!(v.healthy);
        assert_eq!(v.reason, "alive: the last query finished 29s ago");
    }

    #[test]
    fn dead_when_no_query_finishes_for_three_intervals() {
        let t0 = Instant::now();
        let health = Health::new(INTERVAL, DEADLINE, t0);
        health.finished(t0, Ok(5));
        let v = health.liveness(t0 + secs(91));
        assert!(!v.healthy);
        assert_eq!(
            v.reason,
            "stuck: no query has finished for 91s (interval 30s, allowed 90s)"
        );
    }

    #[test]
    fn a_running_query_is_alive_until_its_deadline() {
        let t0 = Instant::now();
        let health = Health::new(INTERVAL, DEADLINE, t0);
        health.started(t0 + secs(60));
        // Past 3 intervals since the loop started, but the query is within its deadline.
        assert!(health.liveness(t0 + secs(120)).healthy);
        let v = health.liveness(t0 + secs(126));
        assert!(!v.healthy);
        assert!(v.reason.contains("past its 65s deadline"), "{}", v.reason);
    }

    #[test]
    fn failed_queries_keep_the_loop_alive() {
        let t0 = Instant::now();
        let health = Health::new(INTERVAL, DEADLINE, t0);
        health.started(t0);
        health.finished(t0 + secs(1), Err("permission denied (error 229)".into()));
        assert!(health.liveness(t0 + secs(2)).healthy);
        assert!(!health.readiness(t0 + secs(2), None).healthy);
    }

    #[test]
    fn not_ready_before_the_first_query() {
        let t0 = Instant::now();
        let health = Health::new(INTERVAL, DEADLINE, t0);
        let v = health.readiness(t0, Some(&token(Some(3000), None)));
        assert!(!v.healthy);
        assert_eq!(v.reason, "not ready: no query has finished yet");
    }

    #[test]
    fn ready_after_a_good_query_with_a_valid_token() {
        let t0 = Instant::now();
        let health = Health::new(INTERVAL, DEADLINE, t0);
        health.finished(t0, Ok(5));
        let v = health.readiness(t0 + secs(2), Some(&token(Some(3000), None)));
        assert!(v.healthy);
        assert_eq!(
            v.reason,
            "ready: the last query (2s ago) read 5 row(s); the access token from workload identity expires in 3000s"
        );
        // Sql Password: no token to look at.
        assert!(health.readiness(t0, None).healthy);
    }

    #[test]
    fn not_ready_when_the_last_query_failed_and_it_says_why() {
        let t0 = Instant::now();
        let health = Health::new(INTERVAL, DEADLINE, t0);
        health.finished(t0, Ok(5));
        health.finished(
            t0 + secs(30),
            Err("permission denied (error 229): The SELECT permission was denied".into()),
        );
        let v = health.readiness(t0 + secs(31), Some(&token(Some(3000), None)));
        assert!(!v.healthy);
        assert_eq!(
            v.reason,
            "not ready: the last query (1s ago) failed: permission denied (error 229): The SELECT permission was denied"
        );
        // And ready again once a query succeeds.
        health.finished(t0 + secs(60), Ok(5));
        assert!(
            health
                .readiness(t0 + secs(61), Some(&token(Some(3000), None)))
                .healthy
        );
    }

    #[test]
    fn not_ready_without_a_valid_token_and_it_says_why() {
        let t0 = Instant::now();
        let health = Health::new(INTERVAL, DEADLINE, t0);
        health.finished(t0, Ok(5));
        let v = health.readiness(
            t0,
            Some(&token(
                None,
                Some("AADSTS700213: No matching federated identity record found"),
            )),
        );
        assert!(!v.healthy);
        assert_eq!(
            v.reason,
            "not ready: no valid access token is cached: the last request to workload identity failed: AADSTS700213: No matching federated identity record found"
        );
        let v = health.readiness(t0, Some(&token(None, None)));
        assert!(
            v.reason
                .ends_with("the token from workload identity has expired"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn durations_under_a_second_read_as_milliseconds() {
        assert_eq!(Ago(Duration::from_millis(250)).to_string(), "250ms");
        assert_eq!(Ago(Duration::from_millis(2500)).to_string(), "2s");
    }
}
