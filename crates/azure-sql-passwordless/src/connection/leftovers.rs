//! What a server's session reset leaves behind or cannot undo, and how a connection notices a
//! caller may have left it.
//!
//! - **The isolation level.** SQL Server's `sp_reset_connection` (and so RESETCONNECTION, and
//!   Azure SQL) keeps it: SQL Server 2014 briefly reset it and KB3025845 took that back;
//!   SqlClient's pool leaks it to the next caller to this day (dotnet/SqlClient#96, open since
//!   2019: a `BeginTransaction(IsolationLevel.Serializable)` leaves the pooled session
//!   serializable), and mssql-python's pool resets it itself since 2025
//!   (microsoft/mssql-python#343). Noticed: a statement whose text says `ISOLATION LEVEL`, a
//!   transaction begun at a named level ([`IsolationLevel`]), the raw client handed out. The
//!   pool then puts the session back to READ COMMITTED, the level of every login, at the next
//!   checkout: one round trip ([`RESTORE`]) that also carries the session reset.
//! - **Another identity.** A session left acting as another user (`EXECUTE AS` without
//!   `REVERT`, an application role from `sp_setapprole`) cannot be reset: the server answers the
//!   reset with 18059 and drops the connection, so the next caller's first request would fail
//!   (dotnet/efcore#27999; MicrosoftDocs/sql-docs#2001). Noticed: a statement whose text says
//!   `EXECUTE AS`/`EXEC AS`, `SETUSER` or `sp_setapprole`. The next checkout then sends its
//!   reset with a round trip of its own (a `SELECT 1`, or the restore above): a refused reset
//!   discards the connection there and the same `get()` goes on to another; a caller who
//!   reverted keeps the connection.
//!
//! A false alarm (the words in a string or a comment) costs only that round trip; callers who
//! leave both alone cost nothing.

/// The statement that puts a session back to a login's isolation level.
pub(crate) const RESTORE: &str = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// A transaction isolation level, for [`crate::Connection::transaction_at`]. The level stays
/// the session's after the transaction ends (as in SQL Server); a pooled connection is put back
/// to READ COMMITTED before its next caller gets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IsolationLevel {
    /// `READ UNCOMMITTED`.
    ReadUncommitted,
    /// `READ COMMITTED`: every login's level (with Azure SQL's READ_COMMITTED_SNAPSHOT, reads see
    /// the last committed version instead of waiting for locks).
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE`.
    Serializable,
    /// `SNAPSHOT` (the database must allow snapshot isolation; Azure SQL Database does by
    /// default).
    Snapshot,
}

impl IsolationLevel {
    pub(crate) fn to_tds(self) -> tiberius::IsolationLevel {
        match self {
            IsolationLevel::ReadUncommitted => tiberius::IsolationLevel::ReadUncommitted,
            IsolationLevel::ReadCommitted => tiberius::IsolationLevel::ReadCommitted,
            IsolationLevel::RepeatableRead => tiberius::IsolationLevel::RepeatableRead,
            IsolationLevel::Serializable => tiberius::IsolationLevel::Serializable,
            IsolationLevel::Snapshot => tiberius::IsolationLevel::Snapshot,
        }
    }
}

/// Whether `sql` may change the session's isolation level: it says `ISOLATION` and then
/// `LEVEL` after white space, in any case (not `transaction_isolation_level`, the column a
/// statement reads it from).
pub(crate) fn may_change_isolation(sql: &str) -> bool {
    says(sql, b"isolation", Some(b"level"))
}

/// Whether `sql` may leave the session acting as another identity: `EXECUTE AS` or `EXEC AS`
/// (words apart), `SETUSER` or `sp_setapprole`, in any case.
pub(crate) fn may_change_identity(sql: &str) -> bool {
    says(sql, b"execute", Some(b"as"))
        || says(sql, b"exec", Some(b"as"))
        || says(sql, b"setuser", None)
        || says(sql, b"sp_setapprole", None)
}

/// Whether `sql` holds the word `first` (not inside a longer name), followed, when `then` is
/// given, by white space and the word `then`; ASCII case ignored.
fn says(sql: &str, first: &[u8], then: Option<&[u8]>) -> bool {
    let bytes = sql.as_bytes();
    let name_char = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'@' || *b == b'#';
    let word_at = |at: usize, word: &[u8]| {
        bytes
            .get(at..at + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
            && (at == 0 || !name_char(&bytes[at - 1]))
            && !bytes.get(at + word.len()).is_some_and(name_char)
    };
    (0..bytes.len()).any(|at| {
        if !word_at(at, first) {
            return false;
        }
        let Some(then) = then else {
            return true;
        };
        let after = at + first.len();
        let gap = bytes[after..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        gap > 0 && word_at(after + gap, then)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_take_another_identity_are_noticed_in_any_case() {
        for sql in [
            "EXECUTE AS USER = 'tenant_a'",
            "exec as login = N'x'; SELECT 1",
            "SELECT 1\nEXECUTE\n  AS USER = 'a'; SELECT 2; REVERT",
            "SETUSER 'someone'",
            "EXEC sp_setapprole 'app', 'secret'",
            "EXEC sys.SP_SETAPPROLE @rolename = 'app', @password = 'p'",
        ] {
            assert!(may_change_identity(sql), "{sql}");
        }
        for sql in [
            "SELECT customer_id FROM dbo.Customer",
            "EXEC dbo.report @as = 1",
            "EXECUTE dbo.proc_as_of @day = 1",
            "SELECT 1 AS executed_as",
            "SELECT * FROM dbo.exec_assignments",
            "",
        ] {
            assert!(!may_change_identity(sql), "{sql}");
        }
    }

    #[test]
    fn statements_that_name_an_isolation_level_are_noticed_in_any_case() {
        for sql in [
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "set transaction isolation level snapshot; select 1",
            "SELECT 1;\nSET TRANSACTION\tIsolation\r\n  LEVEL READ UNCOMMITTED",
            RESTORE,
        ] {
            assert!(may_change_isolation(sql), "{sql}");
        }
        for sql in [
            "SELECT customer_id FROM dbo.Customer",
            "SET NOCOUNT ON",
            "BEGIN TRAN; UPDATE t SET a = 1; COMMIT",
            "SELECT transaction_isolation_level FROM sys.dm_exec_sessions",
            "isolation",
            "isolation lev",
            "ISOLATIONLEVEL",
            "",
        ] {
            assert!(!may_change_isolation(sql), "{sql}");
        }
    }
}
