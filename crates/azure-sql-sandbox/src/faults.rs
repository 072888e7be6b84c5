//! Faults a test can inject into the sandbox's services, one switch per misbehaviour a real Azure
//! service shows in production. Every switch is a plain value behind an `Arc`, so a test flips it
//! from its own task while the services read it on their hot paths without locks.
//!
//! Counted faults ("the next `n` logins fail") are consumed one at a time with `take_*` methods
//! ([`Faults::take_failed_login`], ...); durations and flags stay in force until cleared.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// What Azure SQL does to an open session whose login token has expired, once it revalidates
/// sessions (after maintenance, or DDL that clears its token cache: dotnet/SqlClient#3245). Both
/// answers are seen in production; which one a server gives is not documented.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Revalidation {
    /// Sessions are not revalidated.
    #[default]
    Off = 0,
    /// Each request fails with 37396 "Query cannot be executed, access token is expired..."
    /// (severity 16) and the session stays open (dotnet/SqlClient#2792).
    QueryRefused = 1,
    /// The request fails with 18456 state 233 "Login failed for user '&lt;token-identified
    /// principal&gt;'. Token is expired." and a DONE with DONE_SRVERROR, and the server closes the
    /// connection (dotnet/SqlClient#1333 and #617: "... Token is expired. A severe error occurred
    /// on the current command", the text SqlClient adds for DONE_SRVERROR, after which "the server
    /// will always break the connection", SqlClient's TdsParser.TryProcessDone).
    LoginExpired = 2,
}

/// How the Entra token endpoint should refuse the next requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenEndpointFault {
    /// HTTP status to answer with (Entra uses 400 for most refusals, 500/503 for its own trouble).
    pub status: u16,
    /// The `AADSTS` number placed in `error_codes` and at the start of `error_description`.
    pub aadsts: u32,
    /// The OAuth `error` value (`temporarily_unavailable`, `invalid_request`, ...).
    pub error: String,
    /// The human text after `AADSTS<n>: `.
    pub description: String,
}

impl TokenEndpointFault {
    /// Entra's answer when it is having trouble itself (AADSTS50196-like throttling is a 429; a
    /// service outage is a 503 with `temporarily_unavailable`).
    pub fn unavailable() -> Self {
        Self {
            status: 503,
            aadsts: 90033,
            error: "temporarily_unavailable".into(),
            description: "A transient error has occurred. Please try again.".into(),
        }
    }
}

/// Counts [`Faults::stall_sessions`] calls, and wakes the sessions it stalls.
#[derive(Debug)]
struct StallSwitch(watch::Sender<u64>);

impl Default for StallSwitch {
    fn default() -> Self {
        StallSwitch(watch::channel(0).0)
    }
}

/// A logged-in session's view of [`Faults::stall_sessions`], taken when it logs in: it is
/// stalled by every call made after that.
#[derive(Debug)]
pub struct StallWatch {
    rx: watch::Receiver<u64>,
    logged_in_at: u64,
}

impl StallWatch {
    /// Whether the session has been stalled.
    pub fn is_stalled(&self) -> bool {
        *self.rx.borrow() > self.logged_in_at
    }

    /// Resolves when the session is stalled (never, if it never is).
    pub async fn stalled(&mut self) {
        let at = self.logged_in_at;
        if self.rx.wait_for(|n| *n > at).await.is_err() {
            // The switches are gone with their sandbox: nobody can stall the session now.
            std::future::pending::<()>().await;
        }
    }
}

#[derive(Default, Debug)]
struct State {
    // TDS
    refuse_connections: AtomicU32,
    refuse_redirected_connections: AtomicU32,
    drop_after_login_request: AtomicU32,
    fail_logins: AtomicU32,
    fail_logins_error: AtomicU32,
    login_delay_ms: AtomicU64,
    query_delay_ms: AtomicU64,
    reset_queries: AtomicU32,
    ignore_resets: AtomicU32,
    stall: StallSwitch,
    revalidation: AtomicU8,
    // Entra
    fail_token_requests: AtomicU32,
    token_fault: Mutex<Option<TokenEndpointFault>>,
    token_stall_ms: AtomicU64,
}

/// The switches. Cheap to clone; every clone controls the same sandbox.
#[derive(Clone, Default, Debug)]
pub struct Faults(Arc<State>);

fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn duration(ms: &AtomicU64) -> Option<Duration> {
    match ms.load(Ordering::Acquire) {
        0 => None,
        n => Some(Duration::from_millis(n)),
    }
}

impl Faults {
    /// Clears every switch. Sessions already stalled stay stalled (they have vanished; a
    /// stall only ever applies to sessions logged in before it).
    pub fn clear(&self) {
        let s = &self.0;
        s.refuse_connections.store(0, Ordering::Release);
        s.refuse_redirected_connections.store(0, Ordering::Release);
        s.drop_after_login_request.store(0, Ordering::Release);
        s.fail_logins.store(0, Ordering::Release);
        s.login_delay_ms.store(0, Ordering::Release);
        s.query_delay_ms.store(0, Ordering::Release);
        s.reset_queries.store(0, Ordering::Release);
        s.ignore_resets.store(0, Ordering::Release);
        s.revalidation
            .store(Revalidation::Off as u8, Ordering::Release);
        s.fail_token_requests.store(0, Ordering::Release);
        s.token_stall_ms.store(0, Ordering::Release);
        if let Ok(mut f) = s.token_fault.lock() {
            *f = None;
        }
    }

    // ---- TDS endpoint -------------------------------------------------------------------

    /// Closes the next `n` TCP connections right after accepting them.
    pub fn refuse_connections(&self, n: u32) {
        self.0.refuse_connections.store(n, Ordering::Release);
    }
    /// Closes the next `n` TCP connections to the redirect targets (the node and the read-only
    /// replica, not the gateway) right after accepting them: a network that lets the gateway's
    /// port through but not the redirect ports. Under the Redirect connection policy Azure SQL's
    /// gateway sends the login on to the database's node on a port from 11000 to 11999, and
    /// clients must be allowed to reach those too ("Azure SQL Database connectivity
    /// architecture", Microsoft Learn: "clients must allow outbound communication ... to all
    /// Azure SQL Database gateway IP addresses on port 1433 ... and to ports in the range of
    /// 11000 to 11999"); where they are not, the gateway answers and the login then fails.
    pub fn refuse_redirected_connections(&self, n: u32) {
        self.0
            .refuse_redirected_connections
            .store(n, Ordering::Release);
    }
    /// Reads the next `n` LOGIN7 requests, then closes the connection without answering.
    pub fn drop_after_login_request(&self, n: u32) {
        self.0.drop_after_login_request.store(n, Ordering::Release);
    }
    /// Answers the next `n` logins with SQL error `number` (40613, 40501, 4060, 18456, ...).
    pub fn fail_logins(&self, n: u32, number: u32) {
        self.0.fail_logins_error.store(number, Ordering::Release);
        self.0.fail_logins.store(n, Ordering::Release);
    }
    /// Waits this long before answering each login (`None` clears it).
    pub fn set_login_delay(&self, d: Option<Duration>) {
        self.0
            .login_delay_ms
            .store(d.map_or(0, millis), Ordering::Release);
    }
    /// Waits this long before answering each batch or RPC (`None` clears it).
    pub fn set_query_delay(&self, d: Option<Duration>) {
        self.0
            .query_delay_ms
            .store(d.map_or(0, millis), Ordering::Release);
    }
    /// Resets the connection in the middle of the next `n` query responses.
    pub fn reset_queries(&self, n: u32) {
        self.0.reset_queries.store(n, Ordering::Release);
    }
    /// The next `n` requests that ask for a session reset (RESETCONNECTION or
    /// RESETCONNECTIONSKIPTRAN) run without it: the session keeps its transaction, temporary
    /// tables, `SET` options and session context, and the response carries no ENVCHANGE 18
    /// (reset acknowledgement), as from a server that does not implement the reset.
    pub fn ignore_resets(&self, n: u32) {
        self.0.ignore_resets.store(n, Ordering::Release);
    }
    /// Every session logged in at this moment stops answering for good: it reads nothing more
    /// and writes nothing (a request it is running gets no answer), and keeps its TCP connection
    /// open, as a node that vanished without a reset does (a failover behind a firewall that
    /// drops the flow). On the server side the session ends as it does on a failed-over node:
    /// its open transaction is rolled back, its locks and temporary tables go. Logins and
    /// sessions opened afterwards are not affected. On loopback the kernel still acknowledges
    /// what the client sends, keep-alive probes included: only the client's own deadline
    /// notices. Counted in [`crate::StatsSnapshot::stalled`].
    pub fn stall_sessions(&self) {
        self.0.stall.0.send_modify(|n| *n += 1);
    }
    /// What a session that just logged in watches to know when it is stalled.
    pub fn stall_watch(&self) -> StallWatch {
        let rx = self.0.stall.0.subscribe();
        let logged_in_at = *rx.borrow();
        StallWatch { rx, logged_in_at }
    }
    /// Revalidates open sessions' tokens before each request, as Azure SQL does after
    /// maintenance: a request on a session whose login token has expired fails with error 37396
    /// (`false`: no revalidation). Shorthand for [`Faults::set_revalidation`].
    pub fn set_revalidate_sessions(&self, on: bool) {
        self.set_revalidation(if on {
            Revalidation::QueryRefused
        } else {
            Revalidation::Off
        });
    }
    /// Whether and how open sessions' tokens are revalidated before each request.
    pub fn set_revalidation(&self, how: Revalidation) {
        self.0.revalidation.store(how as u8, Ordering::Release);
    }

    /// Consumes one "refuse connection" fault, if any is pending.
    pub fn take_refuse_connection(&self) -> bool {
        take_one(&self.0.refuse_connections)
    }
    /// Consumes one "refuse a redirected connection" fault, if any is pending.
    pub fn take_refuse_redirected_connection(&self) -> bool {
        take_one(&self.0.refuse_redirected_connections)
    }
    /// Consumes one "drop after LOGIN7" fault, if any is pending.
    pub fn take_drop_after_login_request(&self) -> bool {
        take_one(&self.0.drop_after_login_request)
    }
    /// Consumes one "fail login" fault, returning the SQL error number to answer with.
    pub fn take_failed_login(&self) -> Option<u32> {
        take_one(&self.0.fail_logins).then(|| self.0.fail_logins_error.load(Ordering::Acquire))
    }
    /// The delay to apply before answering a login.
    pub fn login_delay(&self) -> Option<Duration> {
        duration(&self.0.login_delay_ms)
    }
    /// The delay to apply before answering a batch or RPC.
    pub fn query_delay(&self) -> Option<Duration> {
        duration(&self.0.query_delay_ms)
    }
    /// Consumes one "reset mid-query" fault, if any is pending.
    pub fn take_reset_query(&self) -> bool {
        take_one(&self.0.reset_queries)
    }
    /// Consumes one "ignore a reset" fault, if any is pending.
    pub fn take_ignore_reset(&self) -> bool {
        take_one(&self.0.ignore_resets)
    }
    /// Whether and how open sessions' tokens are revalidated before each request.
    pub fn revalidation(&self) -> Revalidation {
        match self.0.revalidation.load(Ordering::Acquire) {
            1 => Revalidation::QueryRefused,
            2 => Revalidation::LoginExpired,
            _ => Revalidation::Off,
        }
    }

    // ---- Entra token endpoint -----------------------------------------------------------

    /// Refuses the next `n` token requests (any grant, IMDS included) with `fault`.
    pub fn fail_token_requests(&self, n: u32, fault: TokenEndpointFault) {
        if let Ok(mut f) = self.0.token_fault.lock() {
            *f = Some(fault);
        }
        self.0.fail_token_requests.store(n, Ordering::Release);
    }
    /// Holds every token request this long before answering (`None` clears it).
    pub fn set_token_stall(&self, d: Option<Duration>) {
        self.0
            .token_stall_ms
            .store(d.map_or(0, millis), Ordering::Release);
    }
    /// Consumes one token-endpoint fault, if any is pending.
    pub fn take_token_fault(&self) -> Option<TokenEndpointFault> {
        if !take_one(&self.0.fail_token_requests) {
            return None;
        }
        self.0.token_fault.lock().ok().and_then(|f| f.clone())
    }
    /// The stall to apply before answering a token request.
    pub fn token_stall(&self) -> Option<Duration> {
        duration(&self.0.token_stall_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_are_consumed_one_at_a_time() {
        let f = Faults::default();
        f.fail_logins(2, 40613);
        assert_eq!(f.take_failed_login(), Some(40613));
        assert_eq!(f.take_failed_login(), Some(40613));
        assert_eq!(f.take_failed_login(), None);
        f.ignore_resets(1);
        assert!(f.take_ignore_reset());
        assert!(!f.take_ignore_reset());
        f.refuse_redirected_connections(1);
        assert!(
            !f.take_refuse_connection(),
            "the gateway's switch is another"
        );
        assert!(f.take_refuse_redirected_connection());
        assert!(!f.take_refuse_redirected_connection());
    }

    #[tokio::test]
    async fn a_stall_catches_the_sessions_logged_in_before_it_only() {
        let f = Faults::default();
        let mut before = f.stall_watch();
        assert!(!before.is_stalled());
        f.stall_sessions();
        let after = f.stall_watch();
        f.clear();
        assert!(
            before.is_stalled(),
            "clear() does not bring a vanished session back"
        );
        before.stalled().await;
        assert!(!after.is_stalled());
    }

    #[test]
    fn clones_share_switches_and_clear_resets_them() {
        let f = Faults::default();
        let g = f.clone();
        g.set_query_delay(Some(Duration::from_millis(5)));
        g.fail_token_requests(1, TokenEndpointFault::unavailable());
        assert_eq!(f.query_delay(), Some(Duration::from_millis(5)));
        f.clear();
        assert_eq!(g.query_delay(), None);
        assert_eq!(g.take_token_fault(), None);
    }
}
