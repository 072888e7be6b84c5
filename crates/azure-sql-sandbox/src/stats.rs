//! Counters of what the sandbox's services did, so tests and benchmarks can assert on the
//! client's behaviour ("one token request per token lifetime") rather than on timing.
//!
//! It also counts the sandbox's own bugs: a session or HTTP connection task that panicked
//! ([`catch_task_panic`]). Such a panic only closes one connection, which a client may well
//! retry past, so every holder of a running service ([`crate::Sandbox`], [`crate::TdsServer`],
//! the HTTP servers of Entra and the issuer) checks the count when it goes away
//! ([`Stats::check_no_task_panics`]) and panics if it is not zero: a test driving the sandbox
//! fails when the sandbox itself misbehaved, with no assertion of its own.

use futures_util::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default, Debug)]
struct Counters {
    token_requests: AtomicU64,
    tokens_issued: AtomicU64,
    token_refusals: AtomicU64,
    federated_grants: AtomicU64,
    secret_grants: AtomicU64,
    managed_identity_grants: AtomicU64,
    tcp_connections: AtomicU64,
    logins_ok: AtomicU64,
    logins_failed: AtomicU64,
    read_only_logins: AtomicU64,
    redirects: AtomicU64,
    requests: AtomicU64,
    resets: AtomicU64,
    stalled: AtomicU64,
    open_sessions: AtomicU64,
    max_open_sessions: AtomicU64,
    task_panics: AtomicU64,
}

/// A snapshot of the counters (`serve --stats-file` writes it as JSON).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    /// Requests that reached any token endpoint (OAuth token endpoint and IMDS).
    pub token_requests: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Token requests refused (AADSTS errors, IMDS errors, injected faults).
    pub token_refusals: u64,
    /// Client-assertion (federated, workload identity) grants received.
    pub federated_grants: u64,
    /// Client-secret grants received.
    pub secret_grants: u64,
    /// Managed-identity (IMDS / App Service) requests received.
    pub managed_identity_grants: u64,
    /// TCP connections accepted by the TDS listeners (gateway and node).
    pub tcp_connections: u64,
    /// Logins answered with LOGINACK (routing answers excluded).
    pub logins_ok: u64,
    /// Logins refused with an error.
    pub logins_failed: u64,
    /// Logins answered with LOGINACK by the read-only replica (also counted in `logins_ok`).
    pub read_only_logins: u64,
    /// Logins answered with a routing ENVCHANGE by the gateway.
    pub redirects: u64,
    /// SQL batches and RPCs received on logged-in sessions.
    pub requests: u64,
    /// Session resets performed (RESETCONNECTION or RESETCONNECTIONSKIPTRAN honoured and
    /// acknowledged; a reset skipped by [`crate::Faults::ignore_resets`] is not counted).
    pub resets: u64,
    /// Sessions that stopped answering because of [`crate::Faults::stall_sessions`].
    pub stalled: u64,
    /// Sessions open now.
    pub open_sessions: u64,
    /// The most sessions open at once.
    pub max_open_sessions: u64,
    /// Session and HTTP connection tasks that panicked (a bug in the sandbox; each is logged).
    pub task_panics: u64,
}

/// Shared counters. Cheap to clone; every clone counts into the same sandbox.
#[derive(Clone, Default, Debug)]
pub struct Stats(Arc<Counters>);

macro_rules! counter {
    ($($name:ident),* $(,)?) => {
        impl Stats {
            $(
                #[doc = concat!("Adds one to `", stringify!($name), "`.")]
                pub fn $name(&self) {
                    self.0.$name.fetch_add(1, Ordering::Relaxed);
                }
            )*
        }
    };
}

counter!(
    token_requests,
    tokens_issued,
    token_refusals,
    federated_grants,
    secret_grants,
    managed_identity_grants,
    tcp_connections,
    logins_ok,
    logins_failed,
    read_only_logins,
    redirects,
    requests,
    resets,
    stalled,
);

impl Stats {
    /// Marks a session as opened; the returned guard marks it closed when dropped.
    pub fn session_opened(&self) -> SessionGuard {
        let now = self.0.open_sessions.fetch_add(1, Ordering::AcqRel) + 1;
        self.0.max_open_sessions.fetch_max(now, Ordering::AcqRel);
        SessionGuard(self.clone())
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &self.0;
        let r = |a: &AtomicU64| a.load(Ordering::Acquire);
        StatsSnapshot {
            token_requests: r(&c.token_requests),
            tokens_issued: r(&c.tokens_issued),
            token_refusals: r(&c.token_refusals),
            federated_grants: r(&c.federated_grants),
            secret_grants: r(&c.secret_grants),
            managed_identity_grants: r(&c.managed_identity_grants),
            tcp_connections: r(&c.tcp_connections),
            logins_ok: r(&c.logins_ok),
            logins_failed: r(&c.logins_failed),
            read_only_logins: r(&c.read_only_logins),
            redirects: r(&c.redirects),
            requests: r(&c.requests),
            resets: r(&c.resets),
            stalled: r(&c.stalled),
            open_sessions: r(&c.open_sessions),
            max_open_sessions: r(&c.max_open_sessions),
            task_panics: r(&c.task_panics),
        }
    }

    /// Counts a task that panicked and logs what it panicked with.
    pub fn task_panicked(&self, task: &'static str, payload: &(dyn Any + Send)) {
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(not a string)");
        self.0.task_panics.fetch_add(1, Ordering::AcqRel);
        tracing::error!(task, panic = message, "a sandbox task panicked");
    }

    /// Panics if any task counted here panicked, naming `holder`; does nothing while the
    /// thread is already panicking (a failing test keeps its own message). Called when a
    /// service's handle goes away, so every test that drives the sandbox asserts zero panics.
    pub fn check_no_task_panics(&self, holder: &str) {
        let panics = self.0.task_panics.load(Ordering::Acquire);
        if panics > 0 && !std::thread::panicking() {
            panic!("{panics} sandbox task(s) panicked while {holder} ran (logged as \"a sandbox task panicked\"): a bug in the sandbox");
        }
    }
}

/// Runs `task`, counting a panic in it in `stats` (and logging it) instead of letting it end
/// the task silently. `name` says which kind of task it was.
pub async fn catch_task_panic<F>(stats: Stats, name: &'static str, task: F)
where
    F: Future<Output = ()>,
{
    if let Err(payload) = AssertUnwindSafe(task).catch_unwind().await {
        stats.task_panicked(name, payload.as_ref());
    }
}

/// Keeps a session counted as open until dropped.
#[derive(Debug)]
pub struct SessionGuard(Stats);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0 .0.open_sessions.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_counted_while_their_guard_lives() {
        let s = Stats::default();
        let a = s.session_opened();
        let b = s.session_opened();
        drop(a);
        let snap = s.snapshot();
        assert_eq!((snap.open_sessions, snap.max_open_sessions), (1, 2));
        drop(b);
        assert_eq!(s.snapshot().open_sessions, 0);
    }

    #[tokio::test]
    async fn a_panicking_task_is_counted_and_fails_the_check() {
        let s = Stats::default();
        catch_task_panic(s.clone(), "test", async {}).await;
        s.check_no_task_panics("the test");
        catch_task_panic(s.clone(), "test", async { panic!("boom") }).await;
        catch_task_panic(s.clone(), "test", async {
            panic!("{}", String::from("boom"))
        })
        .await;
        assert_eq!(s.snapshot().task_panics, 2);
        let check = std::panic::catch_unwind(|| s.check_no_task_panics("the test"));
        let message = check.expect_err("the check panics");
        assert!(
            message
                .downcast_ref::<String>()
                .is_some_and(|m| m.starts_with("2 sandbox task(s) panicked while the test ran")),
            "{message:?}"
        );
    }
}
