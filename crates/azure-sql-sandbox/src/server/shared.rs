//! What every session of a TDS server shares: the engine, the validator, faults and counters,
//! the bounds and the connection permits, the TLS acceptors, and the role of the listener that
//! accepted it. Built when the server starts ([`super::listener`]), read by every session.

use super::options::Limits;
use crate::faults::Faults;
use crate::identity::AccessTokenValidator;
use crate::sql::Engine;
use crate::stats::Stats;
use std::sync::atomic::AtomicU16;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// What a listener does with logins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// Logs in (no gateway).
    Direct,
    /// Checks the login, then routes the client to the node (wherever it is now:
    /// [`Shared::node_port`]), or a read-only login (MS-TDS 2.2.6.4 `fReadOnlyIntent`) to the
    /// read-only replica.
    Gateway { replica_port: u16 },
    /// Logs in (behind the gateway).
    Node,
    /// Logs in read-only sessions (behind the gateway): the read-only replica.
    ReadOnlyReplica,
}

/// The server-wide state a session reads.
pub(super) struct Shared {
    pub(super) engine: Engine,
    pub(super) validator: Arc<dyn AccessTokenValidator>,
    pub(super) faults: Faults,
    pub(super) stats: Stats,
    pub(super) host_name: String,
    pub(super) limits: Limits,
    pub(super) connections: Arc<Semaphore>,
    pub(super) refusals: Arc<Semaphore>,
    pub(super) strict_tls: TlsAcceptor,
    pub(super) prelogin_tls: TlsAcceptor,
    pub(super) next_spid: AtomicU16,
    /// The node's port, where the gateway routes read-write logins (0 without a gateway).
    pub(super) node_port: AtomicU16,
}
