//! `BEGIN`/`COMMIT`/`ROLLBACK`/`SAVE TRANSACTION` on the session's SQLite transaction, and
//! changes to the catalog and principals: taken under the write lock, published at commit.

use super::{Batch, Exec};
use crate::sql::catalog::Catalog;
use crate::sql::errors;
use crate::sql::errors::SqlError;
use crate::sql::metadata::next_version;
use crate::sql::outcome::Outcome;
use crate::sql::parse::{TxnName, TxnStmt};
use crate::sql::schema::Schema;
use crate::sql::sqlite_functions;
use crate::sql::storage::METADATA_LOCK_TABLE;
use crate::sql::transaction::{next_transaction_id, Savepoint, TransactionChange};
use rusqlite::types::Value as Sv;
use std::sync::Arc;

impl Exec<'_> {
    /// Runs a statement that changes the catalog or the principals: with the database's write
    /// lock (1222 if another session holds it past the lock timeout), atomically, and published
    /// to other sessions when it commits.
    pub(super) fn changing_metadata(
        &mut self,
        body: impl FnOnce(&mut Self) -> Result<(), SqlError>,
    ) -> Result<(), SqlError> {
        self.link.run("SAVEPOINT metadata_change")?;
        if let Err(e) = self.link.run(&format!(
            "UPDATE main.{METADATA_LOCK_TABLE} SET version = version + 1"
        )) {
            let _ = self
                .link
                .run("ROLLBACK TO metadata_change; RELEASE metadata_change");
            return Err(e);
        }
        // With the write lock held nobody else changes the metadata: start from the latest.
        if self.txn.pending.is_none() {
            self.meta = self.database.committed();
        }
        let before = self.meta.clone();
        if let Err(e) = body(self) {
            self.meta = before;
            let _ = self
                .link
                .run("ROLLBACK TO metadata_change; RELEASE metadata_change");
            return Err(e);
        }
        if Arc::ptr_eq(&self.meta, &before) {
            // Nothing changed after all (`DROP TABLE IF EXISTS` of no table).
            return self.link.run("RELEASE metadata_change");
        }
        self.meta_mut().version = next_version();
        if self.txn.depth > 0 {
            self.link.run("RELEASE metadata_change")?;
            self.txn.pending = Some(self.meta.clone());
            return Ok(());
        }
        let mut committed = self.database.committed_lock();
        if let Err(e) = self.link.run("RELEASE metadata_change") {
            drop(committed);
            self.meta = before;
            let _ = self.link.run("ROLLBACK");
            return Err(e);
        }
        self.prune_identities(&self.meta.catalog);
        *committed = self.meta.clone();
        drop(committed);
        self.database.store.lock_wait.released();
        Ok(())
    }

    /// Forgets the identity counters of tables the catalog does not have (dropped, or created
    /// by a transaction that rolled back). Called with the write lock held.
    pub(super) fn prune_identities(&self, catalog: &Catalog) {
        sqlite_functions::lock_identities(&self.database.store.identity)
            .retain(|table, _| catalog.get(Schema::Dbo, table).is_some());
    }

    pub(super) fn transaction_name(
        &self,
        b: &Batch<'_>,
        name: &Option<TxnName>,
    ) -> Result<Option<String>, SqlError> {
        match name {
            None => Ok(None),
            Some(TxnName::Literal(n)) => Ok(Some(n.clone())),
            Some(TxnName::Variable(v)) => {
                let key = v.to_lowercase();
                if !b.vars.types.contains_key(&key) {
                    return Err(errors::UNDECLARED_VARIABLE.with(&[v]));
                }
                Ok(match b.vars.values.get(&key) {
                    Some(Sv::Text(t)) => Some(t.trim_end().to_string()),
                    Some(Sv::Integer(i)) => Some(i.to_string()),
                    _ => None,
                })
            }
        }
    }

    pub(super) fn transaction(&mut self, b: &mut Batch<'_>, t: &TxnStmt) -> Result<(), SqlError> {
        match t {
            TxnStmt::Begin(name) => {
                let name = self.transaction_name(b, name)?;
                if self.txn.depth == 0 {
                    if self.link.conn.is_autocommit() {
                        self.link.run("BEGIN")?;
                    }
                    self.txn.id = next_transaction_id();
                    self.txn.name = name.filter(|n| !n.is_empty());
                    b.out.push(Outcome::Transaction(TransactionChange::Began {
                        descriptor: self.txn.descriptor(),
                    }));
                }
                self.txn.depth = self.txn.depth.saturating_add(1);
            }
            TxnStmt::Commit => match self.txn.depth {
                0 => return Err(errors::COMMIT_WITHOUT_BEGIN.plain()),
                1 => {
                    let descriptor = self.txn.descriptor();
                    self.commit_all()?;
                    b.out
                        .push(Outcome::Transaction(TransactionChange::Committed {
                            descriptor,
                        }));
                }
                _ => self.txn.depth -= 1,
            },
            TxnStmt::Rollback(name) => {
                if self.txn.depth == 0 {
                    return Err(errors::ROLLBACK_WITHOUT_BEGIN.plain());
                }
                let name = self.transaction_name(b, name)?.filter(|n| !n.is_empty());
                let savepoint = name
                    .as_ref()
                    .and_then(|n| self.txn.savepoints.iter().rposition(|s| &s.name == n));
                match (name, savepoint) {
                    (_, Some(at)) => self.rollback_to(at)?,
                    (Some(n), None) if self.txn.name.as_deref() != Some(n.as_str()) => {
                        return Err(errors::NO_SUCH_SAVEPOINT.with(&[&n]))
                    }
                    _ => {
                        let descriptor = self.txn.descriptor();
                        self.rollback_all()?;
                        b.out
                            .push(Outcome::Transaction(TransactionChange::RolledBack {
                                descriptor,
                            }));
                    }
                }
            }
            TxnStmt::Save(name) => {
                if self.txn.depth == 0 {
                    return Err(errors::NO_TRANSACTION_TO_SAVE.plain());
                }
                let name = self
                    .transaction_name(b, &Some(name.clone()))?
                    .unwrap_or_default();
                let sqlite = if self.link.is_writing() {
                    self.txn.next_savepoint += 1;
                    let sp = format!("tsql_savepoint_{}", self.txn.next_savepoint);
                    self.link.run(&format!("SAVEPOINT {sp}"))?;
                    Some(sp)
                } else {
                    None
                };
                self.txn.savepoints.push(Savepoint {
                    name,
                    sqlite,
                    pending: self.txn.pending.clone(),
                });
            }
        }
        self.ctx_lock().session.trancount = i64::from(self.txn.depth);
        self.done(b, None);
        Ok(())
    }

    /// The outermost `COMMIT`: the SQLite transaction commits and the transaction's metadata
    /// becomes everyone's.
    pub(super) fn commit_all(&mut self) -> Result<(), SqlError> {
        let writing = self.link.is_writing();
        match self.txn.pending.take() {
            Some(meta) => {
                let mut committed = self.database.committed_lock();
                if let Err(e) = self.link.run("COMMIT") {
                    self.txn.pending = Some(meta);
                    return Err(e);
                }
                self.prune_identities(&meta.catalog);
                *committed = meta;
            }
            None => {
                if !self.link.conn.is_autocommit() {
                    self.link.run("COMMIT")?;
                }
            }
        }
        self.txn.clear();
        self.txn.temp.transaction_ended();
        if writing {
            self.database.store.lock_wait.released();
        }
        Ok(())
    }

    /// `ROLLBACK`: everything the transaction did is undone, its metadata dropped.
    pub(super) fn rollback_all(&mut self) -> Result<(), SqlError> {
        let writing = self.link.is_writing();
        if self.txn.pending.is_some() {
            let committed = self.database.committed();
            self.prune_identities(&committed.catalog);
        }
        if !self.link.conn.is_autocommit() {
            self.link.run("ROLLBACK")?;
        }
        self.txn.clear();
        self.reconcile_temp()?;
        self.txn.temp.transaction_ended();
        self.link.synced = 0;
        self.ctx_lock().session.trancount = 0;
        if writing {
            self.database.store.lock_wait.released();
        }
        Ok(())
    }

    /// `ROLLBACK TRAN savepoint`: undoes what followed it; the transaction stays open.
    pub(super) fn rollback_to(&mut self, at: usize) -> Result<(), SqlError> {
        self.txn.savepoints.truncate(at + 1);
        let savepoint = &self.txn.savepoints[at];
        match &savepoint.sqlite {
            Some(sp) => {
                let sql = format!("ROLLBACK TO {sp}");
                self.txn.pending = savepoint.pending.clone();
                self.link.run(&sql)?;
            }
            None => {
                // Set before the first write: undo every change, keep the transaction.
                self.txn.pending = None;
                let writing = self.link.is_writing();
                if !self.link.conn.is_autocommit() {
                    self.link.run("ROLLBACK; BEGIN")?;
                }
                if writing {
                    self.database.store.lock_wait.released();
                }
            }
        }
        self.reconcile_temp()?;
        self.link.synced = 0;
        Ok(())
    }
}
