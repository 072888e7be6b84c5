//! The `bb8` connection manager: opens connections with a [`Connector`], decides which ones are
//! kept when they come back, and asks for a session reset on the ones it keeps.
//!
//! Checkout checks (freshness, the ping) are not bb8's `is_valid`: [`crate::Pool::get`] runs
//! them itself after bb8 hands a connection over, so a caller validating a connection is never
//! mistaken for one waiting on a connect (see [`super::waiters`]).

use super::waiters::ConnectFailures;
use crate::connect::Connector;
use crate::connection::Connection;
use crate::error::Error;
use crate::metrics::PoolMetrics;
use crate::retirement::RetireReason;
use crate::token::TokenSource;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The `bb8` connection manager of a [`crate::Pool`].
#[derive(Clone)]
pub struct Manager {
    pub(super) connector: Connector,
    pub(super) failures: Arc<ConnectFailures>,
    pub(super) closing: Arc<AtomicBool>,
    /// Notified when a connection comes back to a closing pool (which waits for them).
    pub(super) returned: Arc<Notify>,
    pub(super) metrics: Arc<PoolMetrics>,
}

impl Manager {
    /// Why `conn` must not be handed out or kept at `now`, if it must not.
    pub(super) fn retire_reason(&self, conn: &Connection, now: Instant) -> Option<RetireReason> {
        if let Some(reason) = conn.broken_reason() {
            Some(reason)
        } else if conn.reset_unacknowledged() {
            Some(RetireReason::ResetUnacknowledged)
        } else if self.closing.load(Ordering::Acquire) {
            Some(RetireReason::PoolClosing)
        } else {
            let newest = self
                .connector
                .token_source()
                .and_then(TokenSource::cached_expires_at);
            conn.retirement().reason(now, newest)
        }
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = Connection;
    type Error = Error;

    async fn connect(&self) -> Result<Connection, Error> {
        if self.closing.load(Ordering::Acquire) {
            return Err(Error::PoolClosed);
        }
        let failures = &self.failures;
        let started = Instant::now();
        match self
            .connector
            .connect_reporting(&|e| failures.attempt_failed(e))
            .await
        {
            Ok(conn) => {
                self.metrics.created(started);
                Ok(conn)
            }
            Err(e) => {
                let told = self.failures.connect_failed(e.clone());
                tracing::warn!(error = %e, caller_failed = told, "pool: connect failed");
                Err(e)
            }
        }
    }

    async fn is_valid(&self, _conn: &mut Connection) -> Result<(), Error> {
        // Checked by Pool::get itself (test_on_check_out is off).
        Ok(())
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        // Every connection leaving a caller's hands comes back through here (those retired at
        // checkout too, marked with their reason): the one place that counts retirements.
        self.metrics.returned(&mut conn.checked_out);
        let discard = match self.retire_reason(conn, Instant::now()) {
            Some(reason) => {
                tracing::debug!(
                    server = conn.server(),
                    reason = reason.as_str(),
                    "pool: discarding a returned connection"
                );
                self.metrics.retired(reason);
                true
            }
            None => {
                conn.prepare_for_reuse();
                false
            }
        };
        if self.closing.load(Ordering::Acquire) {
            // Pool::close waits for the connections in use to come back.
            self.returned.notify_waiters();
        }
        discard
    }
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("connector", &self.connector)
            .field("closing", &self.closing.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
