//! A session's transaction, as SQL Server keeps it: open across batches and requests until
//! `COMMIT`/`ROLLBACK` (T-SQL or a transaction manager request), or until the session ends or is
//! reset, which roll it back.
//!
//! `BEGIN TRAN` nests (`@@TRANCOUNT` counts the levels; only the outermost `COMMIT` commits),
//! `ROLLBACK` undoes everything, `SAVE TRAN name` / `ROLLBACK TRAN name` undo to a savepoint.
//! Underneath, the transaction is a SQLite transaction on the connection the session holds for
//! as long as it is open (see [`storage`](super::storage)); its changes to tables, users and
//! roles stay invisible to other sessions until it commits. Until it first writes, each statement
//! reads the last committed data (as under `READ_COMMITTED_SNAPSHOT`); from its first write on it
//! holds the database's write lock, so it also sees everything committed before it.

use super::metadata::Metadata;
use super::storage::Lease;
use super::temp::TempTables;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A change of a session's transaction that the client is told about (TDS ENVCHANGE 8, 9, 10,
/// carrying the transaction's 8-byte descriptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionChange {
    /// A transaction began (the outermost `BEGIN TRAN`, or a transaction manager request).
    Began {
        /// The descriptor clients send back in their requests' ALL_HEADERS.
        descriptor: [u8; 8],
    },
    /// The transaction committed.
    Committed {
        /// The descriptor it had.
        descriptor: [u8; 8],
    },
    /// The transaction rolled back.
    RolledBack {
        /// The descriptor it had.
        descriptor: [u8; 8],
    },
}

/// A transaction manager request (MS-TDS 2.2.6.9), run with
/// [`Engine::transaction`](super::Engine::transaction) exactly as its T-SQL twin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionRequest {
    /// `TM_BEGIN_XACT`: `BEGIN TRANSACTION [name]`.
    Begin {
        /// The transaction's name (may be empty).
        name: String,
    },
    /// `TM_COMMIT_XACT`: `COMMIT TRANSACTION`.
    Commit,
    /// `TM_ROLLBACK_XACT`: `ROLLBACK TRANSACTION [name]` (a savepoint's name rolls back to it).
    Rollback {
        /// The transaction or savepoint name (may be empty).
        name: String,
    },
    /// `TM_SAVE_XACT`: `SAVE TRANSACTION name`.
    Save {
        /// The savepoint's name.
        name: String,
    },
}

/// A `SAVE TRANSACTION` point.
pub(crate) struct Savepoint {
    /// The T-SQL name (case-sensitive, as SQL Server compares transaction names).
    pub name: String,
    /// The SQLite savepoint, when the transaction had written before it; `None`: rolling back
    /// to it undoes every change of the transaction.
    pub sqlite: Option<String>,
    /// The transaction's own metadata at that point.
    pub pending: Option<Arc<Metadata>>,
}

/// What a session's transaction is.
#[derive(Default)]
pub(crate) struct TxnState {
    /// `@@TRANCOUNT`.
    pub depth: u32,
    /// The open transaction's id (its descriptor), 0 when none is open.
    pub id: u64,
    /// The outermost `BEGIN TRAN`'s name.
    pub name: Option<String>,
    pub savepoints: Vec<Savepoint>,
    /// Catalog and principals as changed by this transaction, until it commits.
    pub pending: Option<Arc<Metadata>>,
    /// The connection the transaction lives on, between requests (and the session's temporary
    /// tables: while it has any, the session keeps it even without a transaction).
    pub lease: Option<Lease>,
    /// The session's local temporary tables.
    pub temp: TempTables,
    /// Numbers the SQLite savepoints.
    pub next_savepoint: u32,
}

impl TxnState {
    /// The descriptor of the open transaction.
    pub(crate) fn descriptor(&self) -> [u8; 8] {
        self.id.to_le_bytes()
    }

    /// Forgets the transaction after its SQLite transaction ended (or will end with the lease).
    pub(crate) fn clear(&mut self) {
        self.depth = 0;
        self.id = 0;
        self.name = None;
        self.savepoints.clear();
        self.pending = None;
    }

    /// Rolls back an open transaction (the connection's transaction is rolled back as the lease
    /// goes back to the pool).
    pub(crate) fn abandon(&mut self) -> Option<TransactionChange> {
        if self.depth == 0 {
            return None;
        }
        let descriptor = self.descriptor();
        self.clear();
        // The connection goes back to the pool (closed, if it held temporary tables: they go
        // with it).
        self.lease = None;
        self.temp.clear();
        Some(TransactionChange::RolledBack { descriptor })
    }
}

/// A new transaction id, unique in the process (never 0).
pub(crate) fn next_transaction_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A session's handle on its transaction. Clones of a [`Session`](super::Session) share it, as
/// the TDS layer moves a session in and out of the engine between requests.
#[derive(Clone, Default)]
pub(crate) struct TransactionHandle(Arc<Mutex<TxnState>>);

impl TransactionHandle {
    pub(crate) fn lock(&self) -> MutexGuard<'_, TxnState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PartialEq for TransactionHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TransactionHandle {}

impl fmt::Debug for TransactionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.try_lock() {
            Ok(t) => f
                .debug_struct("Transaction")
                .field("trancount", &t.depth)
                .field("savepoints", &t.savepoints.len())
                .finish(),
            Err(_) => f.write_str("Transaction { running }"),
        }
    }
}
