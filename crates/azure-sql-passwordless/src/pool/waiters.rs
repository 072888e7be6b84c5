//! Connects that fail, told to the callers waiting for them.
//!
//! `bb8` opens connections on tasks of its own, one per caller waiting without a connection
//! (its `in_flight > pending` rule), and tells nobody when one fails: a caller would wait out the
//! whole connection timeout and learn only "timed out". Here each failed connect fails **one**
//! caller, the one that has waited longest for a connection, with the connect's own error (the
//! Entra `AADSTS` text, the login refusal, ...), so the caller learns the cause at once and the
//! others keep waiting for the connects still running and for connections coming back. Callers
//! holding a connection (validating it at checkout) are never failed by a connect that was not
//! theirs.
//!
//! Every failed attempt is also remembered, retried or not: a caller that does time out is told
//! that connecting has been failing, and why ([`crate::Error::PoolTimeout`]), rather than to
//! raise `Max Pool Size`.

use crate::error::Error;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// The callers waiting for a connection, and the last failed connect attempt.
#[derive(Default)]
pub(super) struct ConnectFailures {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Oldest first.
    waiting: VecDeque<(u64, oneshot::Sender<Error>)>,
    next_id: u64,
    last_attempt: Option<(Instant, Error)>,
}

impl ConnectFailures {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every step under the lock leaves the state whole: a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a caller that has no connection yet; it stops waiting when the handle drops.
    pub(super) fn wait(&self) -> WaitingForConnect<'_> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.waiting.push_back((id, tx));
        WaitingForConnect {
            failures: self,
            id,
            rx,
        }
    }

    /// One attempt failed (it may be retried).
    pub(super) fn attempt_failed(&self, error: &Error) {
        self.lock().last_attempt = Some((Instant::now(), error.clone()));
    }

    /// A connect failed for good: the caller that has waited longest gets its error. Returns
    /// whether a caller was there to get it.
    pub(super) fn connect_failed(&self, error: Error) -> bool {
        let mut inner = self.lock();
        inner.last_attempt = Some((Instant::now(), error.clone()));
        Self::deliver(&mut inner, error)
    }

    fn deliver(inner: &mut Inner, mut error: Error) -> bool {
        while let Some((_, tx)) = inner.waiting.pop_front() {
            match tx.send(error) {
                Ok(()) => return true,
                // That caller has gone; try the next.
                Err(back) => error = back,
            }
        }
        false
    }

    /// The last failed attempt, if it failed after `since`.
    pub(super) fn last_attempt_since(&self, since: Instant) -> Option<Error> {
        self.lock()
            .last_attempt
            .as_ref()
            .filter(|(at, _)| *at >= since)
            .map(|(_, e)| e.clone())
    }
}

/// A caller waiting for a connection (see [`ConnectFailures::wait`]).
pub(super) struct WaitingForConnect<'a> {
    failures: &'a ConnectFailures,
    id: u64,
    rx: oneshot::Receiver<Error>,
}

impl WaitingForConnect<'_> {
    /// Resolves when a failed connect is handed to this caller.
    pub(super) async fn failed(&mut self) -> Error {
        match (&mut self.rx).await {
            Ok(error) => error,
            // The sender is only dropped with its registration, which this handle owns.
            Err(_) => std::future::pending().await,
        }
    }
}

impl Drop for WaitingForConnect<'_> {
    fn drop(&mut self) {
        let mut inner = self.failures.lock();
        inner.waiting.retain(|(id, _)| *id != self.id);
        // A failure handed over just as this caller got a connection is passed on, so the
        // caller still waiting for it hears of it.
        if let Ok(error) = self.rx.try_recv() {
            ConnectFailures::deliver(&mut inner, error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(n: u16) -> Error {
        Error::Connect {
            server: format!("h:{n}"),
            kind: std::io::ErrorKind::ConnectionRefused,
            message: "refused".into(),
        }
    }

    #[tokio::test]
    async fn each_failed_connect_fails_the_longest_waiting_caller_only() {
        let failures = ConnectFailures::default();
        let mut first = failures.wait();
        let mut second = failures.wait();
        assert!(failures.connect_failed(refused(1)));
        assert!(matches!(first.failed().await, Error::Connect { server, .. } if server == "h:1"));
        // The second caller still waits; the next failure is its.
        let pending = tokio::time::timeout(std::time::Duration::ZERO, second.failed()).await;
        assert!(pending.is_err(), "only one caller per failed connect");
        assert!(failures.connect_failed(refused(2)));
        assert!(matches!(second.failed().await, Error::Connect { server, .. } if server == "h:2"));
        drop((first, second));
        assert!(!failures.connect_failed(refused(3)), "nobody waiting");
    }

    #[tokio::test]
    async fn a_failure_handed_to_a_caller_that_leaves_goes_to_the_next() {
        let failures = ConnectFailures::default();
        let leaving = failures.wait();
        let mut staying = failures.wait();
        assert!(failures.connect_failed(refused(1)));
        drop(leaving); // got a connection just then
        assert!(matches!(staying.failed().await, Error::Connect { .. }));
    }

    #[test]
    fn the_last_attempt_is_remembered_with_its_time() {
        let failures = ConnectFailures::default();
        let before = Instant::now();
        assert!(failures.last_attempt_since(before).is_none());
        failures.attempt_failed(&refused(1));
        assert!(failures.last_attempt_since(before).is_some());
        assert!(failures
            .last_attempt_since(Instant::now() + std::time::Duration::from_secs(1))
            .is_none());
    }
}
