//! A logged-in session as the engine sees it: who (user, roles, login), where (database), its
//! `SET` options, session context and transaction. The TDS layer keeps it between requests.

use super::principals::Caller;
use super::session_context::SessionContext;
use super::transaction::{TransactionChange, TransactionHandle};

/// A logged-in session's identity and database, as the engine checks permissions against it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Session {
    /// The database the session is in.
    pub database: String,
    /// The database user name (the external provider name, or the SQL login's user).
    pub user: String,
    /// The roles the user held when the session logged in; like SQL Server, membership is read
    /// at login, so a role dropped later takes effect on the next login.
    pub roles: Vec<String>,
    /// Whether the session is the server admin (dbo of every database).
    pub is_admin: bool,
    /// The login name `SUSER_SNAME()` answers: the SQL login, or for an Entra token
    /// `<application id>@<tenant id>` (applications, managed identities) or
    /// `<object id>@<tenant id>` (users).
    pub login: String,
    /// The session id (`@@SPID`), unique among live sessions; the TDS layer may put it in its
    /// packet headers.
    pub spid: u16,
    /// The user's `principal_id` in the database (`USER_ID()`).
    pub principal_id: i32,
    /// `SET` options in force.
    pub options: SessionOptions,
    /// The last `IDENTITY` value this session inserted (`SCOPE_IDENTITY()`).
    pub last_identity: Option<i64>,
    /// What `sp_set_session_context` set (`SESSION_CONTEXT(key)` reads it).
    pub context: SessionContext,
    /// The session is on a read-only replica (read scale-out): writes to the database fail with
    /// 3906 and `DATABASEPROPERTYEX(DB_NAME(), 'Updateability')` answers `READ_ONLY`.
    /// Temporary tables and session state stay writable, as tempdb is on a replica.
    pub read_only: bool,
    /// The session's transaction (shared by clones of the session).
    pub(crate) transaction: TransactionHandle,
    /// The identities `EXECUTE AS` stepped away from, the latest last (`REVERT` returns to it).
    pub(crate) impersonation: Vec<Identity>,
}

/// Who a session acts as: what `EXECUTE AS` changes and `REVERT` restores.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    pub user: String,
    pub roles: Vec<String>,
    pub principal_id: i32,
    pub is_admin: bool,
}

impl Session {
    /// `@@TRANCOUNT`: how many `BEGIN TRAN`s the open transaction nests (0: none open).
    pub fn transaction_count(&self) -> u32 {
        self.transaction.lock().depth
    }

    /// The open transaction's descriptor (what ENVCHANGE 8 announced), if one is open.
    pub fn transaction_descriptor(&self) -> Option<[u8; 8]> {
        let t = self.transaction.lock();
        (t.depth > 0).then(|| t.descriptor())
    }

    /// Rolls back the open transaction, if any, as `sp_reset_connection` and the end of a
    /// session do; returns the change to announce.
    pub fn end_transaction(&self) -> Option<TransactionChange> {
        self.transaction.lock().abandon()
    }
}

impl Caller for Session {
    fn user(&self) -> &str {
        &self.user
    }

    fn roles(&self) -> &[String] {
        &self.roles
    }

    fn is_admin(&self) -> bool {
        self.is_admin
    }
}

/// `transaction_isolation_level` of READ COMMITTED, a session's level at login.
pub const ISOLATION_READ_COMMITTED: u8 = 2;

/// The `SET` options a session has in force (the rest are accepted and have no effect here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// `SET NOCOUNT ON`: DONE tokens carry no row count
    /// ([`Outcome::Done`](super::Outcome::Done) has no `rows_affected`, a
    /// [`ResultSet`](super::ResultSet) is not `counted`).
    pub nocount: bool,
    /// `SET XACT_ABORT` (recorded; a batch always stops at its first error).
    pub xact_abort: bool,
    /// `SET TEXTSIZE`.
    pub textsize: i32,
    /// `SET LANGUAGE` (`us_english` only).
    pub language: String,
    /// `SET DATEFORMAT`.
    pub dateformat: String,
    /// `SET DATEFIRST`.
    pub datefirst: u8,
    /// `SET LOCK_TIMEOUT`.
    pub lock_timeout: i32,
    /// `SET IDENTITY_INSERT <table> ON`: the table.
    pub identity_insert: Option<String>,
    /// The transaction isolation level, as `sys.dm_exec_sessions.transaction_isolation_level`
    /// numbers it (1 read uncommitted, 2 read committed, 3 repeatable read, 4 serializable, 5
    /// snapshot): set by `SET TRANSACTION ISOLATION LEVEL` and by a transaction manager begin
    /// that names a level. A session reset keeps it (see `server/requests.rs`).
    pub isolation: u8,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            nocount: false,
            xact_abort: false,
            textsize: i32::MAX,
            language: "us_english".into(),
            dateformat: "mdy".into(),
            datefirst: 7,
            lock_timeout: -1,
            identity_insert: None,
            isolation: ISOLATION_READ_COMMITTED,
        }
    }
}
