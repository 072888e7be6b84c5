//! A session's local temporary tables (`CREATE TABLE #name`): visible to that session only,
//! dropped when it ends or is reset ("It will drop all temporary objects", Gert Drapers, "What
//! does sp_reset_connection do?", sqldev.net), and named in `OBJECT_ID` as `tempdb..#name`
//! (Microsoft Learn, OBJECT_ID: "When a temporary table name is specified, the database name
//! must come before the temporary table name, unless the current database is tempdb").
//!
//! They live in the SQLite `temp` schema of the connection the session holds for as long as it
//! has any (as it holds one while a transaction is open; [`storage`](super::storage)), so they
//! take no lock on the user database; a connection that held one is closed, not pooled, when
//! the session lets it go. This module keeps their definitions. Inside a transaction SQLite
//! undoes a `CREATE` or `DROP` that a rollback undoes, and [`TempTables::reconcile`] brings the
//! definitions in line with what SQLite kept. (A transaction that has written no permanent table
//! commits its temporary-table changes statement by statement, as it releases its read snapshot
//! between statements: their rollback is not undone there.)

use super::catalog::{split_dotted, Table};
use std::collections::HashSet;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// Whether a table name (its last part) names a temporary table.
pub(crate) fn is_temp(name: &str) -> bool {
    name.starts_with('#')
}

/// An object id for a new temporary table: negative, as SQL Server numbers them in tempdb.
pub(crate) fn next_object_id() -> i32 {
    static NEXT: AtomicI32 = AtomicI32::new(-1_000_000_001);
    NEXT.fetch_sub(7, Ordering::Relaxed)
}

/// A new version number for a session's set of temporary tables (never 0: no tables).
fn next_version() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One session's temporary tables.
#[derive(Default)]
pub(crate) struct TempTables {
    tables: Vec<Table>,
    /// Tables dropped inside the open transaction: its rollback may bring them back.
    dropped: Vec<Table>,
    /// Which set of tables this is (0: none), so plans that name them are cached per set.
    version: u64,
}

impl TempTables {
    /// No tables.
    pub(crate) const EMPTY: TempTables = TempTables {
        tables: Vec::new(),
        dropped: Vec::new(),
        version: 0,
    };

    /// Whether the session has no temporary table.
    pub(crate) fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Whether there is anything to reconcile after a rollback.
    pub(crate) fn needs_reconciling(&self) -> bool {
        !self.tables.is_empty() || !self.dropped.is_empty()
    }

    /// The tables' names in SQLite (`temp."#name_id"`).
    pub(crate) fn sqlite_names(&self) -> impl Iterator<Item = String> + '_ {
        self.tables.iter().map(Table::sqlite_name)
    }

    /// The version plans are cached under (0 when there is no table).
    pub(crate) fn version(&self) -> u64 {
        if self.tables.is_empty() {
            0
        } else {
            self.version
        }
    }

    /// The table of that name (case-insensitive).
    pub(crate) fn get(&self, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// `OBJECT_ID(N'tempdb..#name')`: the id of a temporary table named with its database, as
    /// SQL Server requires outside tempdb (`'#name'` alone is `NULL` there).
    pub(crate) fn object_id(&self, name: &str) -> Option<i32> {
        let parts = split_dotted(name);
        match parts.as_slice() {
            [database, _, table] if database.eq_ignore_ascii_case("tempdb") && is_temp(table) => {
                self.get(table).map(|t| t.object_id)
            }
            _ => None,
        }
    }

    /// A table was created.
    pub(crate) fn add(&mut self, table: Table) {
        self.tables.push(table);
        self.version = next_version();
    }

    /// A table was dropped; `in_transaction`: its definition is kept until the transaction
    /// ends, for a rollback that brings it back.
    pub(crate) fn remove(&mut self, name: &str, in_transaction: bool) -> Option<Table> {
        let at = self
            .tables
            .iter()
            .position(|t| t.name.eq_ignore_ascii_case(name))?;
        let table = self.tables.remove(at);
        if in_transaction {
            self.dropped.push(table.clone());
        }
        self.version = next_version();
        Some(table)
    }

    /// Forgets every table (their connection is going away, or they were dropped).
    pub(crate) fn clear(&mut self) {
        self.tables.clear();
        self.dropped.clear();
        self.version = next_version();
    }

    /// The transaction ended (after [`TempTables::reconcile`] when it rolled back).
    pub(crate) fn transaction_ended(&mut self) {
        self.dropped.clear();
    }

    /// After a rollback (to a savepoint, or of the whole transaction, after which
    /// [`TempTables::transaction_ended`]): keeps the tables SQLite still has (`existing`, the
    /// lower-case names of the tables in SQLite's `temp` schema),
    /// brings back dropped ones it restored, and returns the names of tables SQLite has that
    /// the session does not know (dropped by a reset inside the transaction), to be dropped.
    pub(crate) fn reconcile(&mut self, existing: &HashSet<String>) -> Vec<String> {
        let has = |t: &Table| existing.contains(&t.sqlite_table().to_lowercase());
        let before = self.tables.len();
        self.tables.retain(has);
        let mut changed = before != self.tables.len();
        for table in std::mem::take(&mut self.dropped) {
            if has(&table) && self.get(&table.name).is_none() {
                self.tables.push(table);
                changed = true;
            } else {
                // Still dropped (after a rollback to a savepoint, the transaction goes on).
                self.dropped.push(table);
            }
        }
        if changed {
            self.version = next_version();
        }
        existing
            .iter()
            .filter(|name| {
                !self
                    .tables
                    .iter()
                    .any(|t| t.sqlite_table().eq_ignore_ascii_case(name))
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::catalog::build_table;
    use crate::sql::schema::Schema;
    use sqlparser::ast::Statement;
    use sqlparser::dialect::MsSqlDialect;
    use sqlparser::parser::Parser;

    fn table(name: &str) -> Table {
        let sql = format!("CREATE TABLE {name} (a INT)");
        let Statement::CreateTable(ct) =
            Parser::parse_sql(&MsSqlDialect {}, &sql).unwrap().remove(0)
        else {
            unreachable!()
        };
        build_table(&ct, Schema::Temp, name.into(), next_object_id(), "now").unwrap()
    }

    #[test]
    fn object_id_wants_the_tempdb_prefix() {
        let mut t = TempTables::default();
        assert_eq!(t.version(), 0);
        t.add(table("#t"));
        let id = t.get("#T").expect("found").object_id;
        assert!(id < 0);
        assert_eq!(t.object_id("tempdb..#t"), Some(id));
        assert_eq!(t.object_id("tempdb.dbo.#t"), Some(id));
        assert_eq!(t.object_id("#t"), None);
        assert_eq!(t.object_id("customers..#t"), None);
        assert_eq!(t.object_id("tempdb..#other"), None);
        assert_ne!(t.version(), 0);
    }

    #[test]
    fn a_rollback_is_reconciled_with_what_sqlite_kept() {
        let mut t = TempTables::default();
        t.add(table("#kept"));
        let kept = t.tables[0].sqlite_table().to_lowercase();
        t.add(table("#created_in_txn"));
        t.remove("#kept", true);
        // SQLite undid both: #kept is back, #created_in_txn is gone; #stray_1 is left by a reset.
        let existing: HashSet<String> = [kept, "#stray_1".into()].into();
        let garbage = t.reconcile(&existing);
        assert!(t.get("#kept").is_some());
        assert!(t.get("#created_in_txn").is_none());
        assert_eq!(garbage, ["#stray_1"]);
        t.transaction_ended();
        assert!(!t.is_empty());
        t.remove("#kept", false);
        assert!(
            !t.needs_reconciling(),
            "nothing kept for a rollback outside a transaction"
        );
    }
}
