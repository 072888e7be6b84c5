//! The one piece of session state a session reset does not reset: the transaction isolation
//! level. SQL Server's `sp_reset_connection` (and so RESETCONNECTION, and Azure SQL) keeps it:
//! SQL Server 2014 briefly reset it and KB3025845 took that back; SqlClient's pool leaks it to
//! the next caller to this day (dotnet/SqlClient#96, open since 2019: a `BeginTransaction(
//! IsolationLevel.Serializable)` leaves the pooled session serializable), and mssql-python's
//! pool resets it itself since 2025 (microsoft/mssql-python#343).
//!
//! A connection notes when a caller may have changed it: a statement whose text says
//! `ISOLATION LEVEL` (`SET TRANSACTION ISOLATION LEVEL ...`; a false alarm, in a string or a
//! comment, costs only a round trip), a transaction begun at a named level
//! ([`IsolationLevel`]), or the raw client handed out (what it sent cannot be seen). The pool
//! then puts the session back to READ COMMITTED, the level of every login, at the next
//! checkout: one round trip ([`RESTORE`]) that also carries the session reset, for those
//! connections only.

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
    const ISOLATION: &[u8] = b"isolation";
    const LEVEL: &[u8] = b"level";
    let bytes = sql.as_bytes();
    (0..bytes.len()).any(|at| {
        let Some(word) = bytes.get(at..at + ISOLATION.len()) else {
            return false;
        };
        if !word.eq_ignore_ascii_case(ISOLATION) {
            return false;
        }
        let rest = &bytes[at + ISOLATION.len()..];
        let gap = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        gap > 0
            && rest
                .get(gap..gap + LEVEL.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(LEVEL))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
