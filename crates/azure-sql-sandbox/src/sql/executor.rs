//! The executor: runs a batch's parsed statements for a session on its connection, producing one
//! [`Outcome`] per statement and stopping at the first error: DDL, DML and queries through
//! [`translate`](super::translate), users and roles through [`principals`](super::principals),
//! `SET`, `IF`, variables and transactions ([`transaction`](super::transaction)). This file holds
//! the batch's run (the connection it leases or its transaction holds, the batch's start and end, a
//! failure's effect on the transaction) and one statement's; the statements themselves are in
//! `statements` (the dispatcher), `plans`, `transactions`, `procedures`, `settings`, `users`,
//! `temp_tables` and `system_views`.

mod plans;
mod procedures;
mod settings;
mod statements;
mod system_views;
mod temp_tables;
mod transactions;
mod users;

use super::values;
use crate::identity::Directory;
use crate::sql::database::Database;
use crate::sql::errors;
use crate::sql::errors::SqlError;
use crate::sql::metadata::Metadata;
use crate::sql::outcome::{Column, Outcome, ResultSet};
use crate::sql::parse::{Located, Stmt};
use crate::sql::session::Session;
use crate::sql::sqlite_functions::{self, CtxSession, FnCtx};
use crate::sql::storage::{sqlite_failure, Conn};
use crate::sql::temp;
use crate::sql::transaction::{TransactionChange, TxnState};
use crate::sql::translate::OutColumn;
use crate::sql::types::TypeInfo;
use crate::sql::types::{SqlType, Value};
use rusqlite::types::Value as Sv;
use sqlparser::ast::{ObjectName, ObjectType, Statement};
use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};

/// A batch's variables: `@P1`-style parameters of an RPC and `DECLARE`d ones, by lower-case name.
#[derive(Default, Clone)]
pub(crate) struct Vars {
    pub values: HashMap<String, Sv>,
    pub types: HashMap<String, TypeInfo>,
}

impl Vars {
    pub(crate) fn set(&mut self, name: &str, value: Sv, ty: TypeInfo) {
        let key = name.to_lowercase();
        self.values.insert(key.clone(), value);
        self.types.insert(key, ty);
    }

    pub(super) fn signature(&self) -> String {
        let mut keys: Vec<&String> = self.types.keys().collect();
        keys.sort();
        keys.iter()
            .map(|k| format!("{k}:{:?}", self.types[*k].ty))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A batch being run: the session, its variables, what it produced so far.
pub(crate) struct Batch<'a> {
    pub session: &'a mut Session,
    pub vars: Vars,
    pub out: Vec<Outcome>,
    pub directory: &'a dyn Directory,
    /// Server logins, for `CREATE USER ... FROM LOGIN`.
    pub logins: Vec<String>,
    /// The batch text, for caching plans of its top-level statements.
    pub text: &'a str,
}

/// Runs parsed statements for a session, stopping at the first error. The session's open
/// transaction (if any) continues; a new one stays open after the batch.
pub(crate) fn run_batch(database: &Database, batch: &mut Batch<'_>, statements: &[Located]) {
    let handle = batch.session.transaction.clone();
    let mut txn = handle.lock();
    if txn.depth > 0 && txn.lease.is_none() {
        // Only after an internal failure lost the connection (which rolled it back).
        let descriptor = txn.descriptor();
        txn.clear();
        tracing::warn!("a session's transaction lost its connection and was rolled back");
        batch
            .out
            .push(Outcome::Transaction(TransactionChange::RolledBack {
                descriptor,
            }));
    }
    if !txn.temp.is_empty() && txn.lease.is_none() {
        tracing::warn!("a session's temporary tables lost their connection");
        txn.temp.clear();
    }
    let mut lease = match txn.lease.take() {
        Some(lease) => lease,
        None => match database.store.acquire() {
            Ok(lease) => lease,
            Err(e) => {
                batch.out.push(Outcome::Error(e));
                return;
            }
        },
    };
    let mut exec = Exec {
        database,
        link: &mut lease,
        txn: &mut txn,
        meta: database.committed(),
    };
    exec.begin_batch(batch.session, &database.name);
    for (index, located) in statements.iter().enumerate() {
        if let Err(e) = exec.run(batch, located, Some(index), &database.name) {
            exec.failed(batch, e);
            break;
        }
    }
    exec.end_batch(batch);
    drop(exec);
    if txn.depth > 0 || !txn.temp.is_empty() {
        txn.lease = Some(lease);
    }
}

/// Runs statements on a session's connection.
struct Exec<'a> {
    database: &'a Database,
    link: &'a mut Conn,
    txn: &'a mut TxnState,
    /// The metadata the running statement sees.
    meta: Arc<Metadata>,
}

impl Exec<'_> {
    fn ctx_lock(&self) -> MutexGuard<'_, FnCtx> {
        sqlite_functions::lock(&self.link.ctx)
    }

    fn meta_mut(&mut self) -> &mut Metadata {
        Arc::make_mut(&mut self.meta)
    }

    fn begin_batch(&mut self, session: &Session, database: &str) {
        let trancount = i64::from(self.txn.depth);
        let mut ctx = self.ctx_lock();
        ctx.session = CtxSession {
            user: session.user.clone(),
            login: session.login.clone(),
            database: database.to_string(),
            roles: session.roles.clone(),
            is_admin: session.is_admin,
            spid: session.spid as i64,
            principal_id: session.principal_id as i64,
            last_identity: session.last_identity,
            language: session.options.language.clone(),
            rowcount: 0,
            trancount,
            lock_timeout: i64::from(session.options.lock_timeout),
            isolation: i64::from(session.options.isolation),
            context: session.context.clone(),
            read_only: session.read_only,
        };
    }

    /// After the last statement: a transaction that has not written lets go of its read
    /// snapshot until its next statement (so an idle transaction pins nothing).
    fn end_batch(&mut self, batch: &mut Batch<'_>) {
        if self.txn.depth > 0 && !self.link.is_writing() && !self.link.conn.is_autocommit() {
            if let Err(e) = self.link.run("COMMIT") {
                tracing::warn!(error = %e, "could not end a read-only transaction's snapshot");
            }
        }
        let ctx = self.ctx_lock();
        batch.session.last_identity = ctx.session.last_identity;
    }

    /// A statement failed: report it, and under `SET XACT_ABORT ON` roll the transaction back.
    fn failed(&mut self, b: &mut Batch<'_>, e: SqlError) {
        if b.session.options.xact_abort && self.txn.depth > 0 {
            let descriptor = self.txn.descriptor();
            match self.rollback_all() {
                Ok(()) => b
                    .out
                    .push(Outcome::Transaction(TransactionChange::RolledBack {
                        descriptor,
                    })),
                Err(rollback) => {
                    tracing::warn!(error = %rollback, "XACT_ABORT could not roll back")
                }
            }
        }
        b.out.push(Outcome::Error(e));
    }

    /// Before each statement: the metadata it sees; inside a transaction, a SQLite transaction
    /// with a fresh snapshot until the first write (statement-level read consistency, as under
    /// `READ_COMMITTED_SNAPSHOT`); the session's lock timeout; and the system views brought up to
    /// date.
    fn prepare_statement(&mut self, b: &Batch<'_>, db: &str) -> Result<(), SqlError> {
        self.meta = match &self.txn.pending {
            Some(m) => m.clone(),
            None => self.database.committed(),
        };
        if self.txn.depth > 0 {
            if self.link.conn.is_autocommit() {
                self.link.run("BEGIN")?;
            } else if self.link.is_reading() {
                self.link.run("COMMIT; BEGIN")?;
            }
        }
        self.link.set_lock_timeout(b.session.options.lock_timeout);
        if self.link.synced != self.meta.version {
            self.sync_system(db).map_err(sqlite_failure)?;
        }
        Ok(())
    }

    fn run(
        &mut self,
        b: &mut Batch<'_>,
        located: &Located,
        index: Option<usize>,
        db: &str,
    ) -> Result<(), SqlError> {
        let at_line = |mut e: SqlError| {
            e.line = located.line;
            e
        };
        self.prepare_statement(b, db).map_err(at_line)?;
        match &located.stmt {
            Stmt::Sql(s) => {
                // Temporary tables are the session's own: no lock on the database's metadata.
                let changes_metadata = match s.as_ref() {
                    Statement::CreateTable(ct) => !is_temp_name(&ct.name),
                    Statement::Drop {
                        object_type: ObjectType::Table,
                        names,
                        ..
                    } => !names.iter().all(is_temp_name),
                    Statement::Drop { .. }
                    | Statement::CreateRole(_)
                    | Statement::AlterRole { .. } => true,
                    _ => false,
                };
                if changes_metadata {
                    writable(b.session, db).map_err(at_line)?;
                    self.changing_metadata(|x| x.statement(b, s, index, db))
                        .map_err(at_line)
                } else {
                    self.statement(b, s, index, db).map_err(at_line)
                }
            }
            Stmt::CreateUser { name, how } => {
                writable(b.session, db).map_err(at_line)?;
                self.changing_metadata(|x| x.create_user(b, name, how))
                    .map_err(at_line)
            }
            Stmt::Permission {
                verb,
                permissions,
                on,
                principals,
            } => {
                writable(b.session, db).map_err(at_line)?;
                self.changing_metadata(|x| {
                    x.permission(b, *verb, permissions, on.as_ref(), principals, db)
                })
                .map_err(at_line)
            }
            Stmt::Transaction(t) => self.transaction(b, t).map_err(at_line),
            Stmt::ExecuteAs { user } => self.execute_as(b, user).map_err(at_line),
            Stmt::Revert => {
                self.revert(b);
                Ok(())
            }
            Stmt::If {
                condition,
                then,
                otherwise,
            } => {
                let holds = self.condition(b, condition, db).map_err(at_line)?;
                for s in if holds { then } else { otherwise } {
                    self.run(b, s, None, db)?;
                }
                Ok(())
            }
            Stmt::Block(body) => {
                for s in body {
                    self.run(b, s, None, db)?;
                }
                Ok(())
            }
        }
    }

    fn done(&self, b: &mut Batch<'_>, rows: Option<u64>) {
        let rows = if b.session.options.nocount {
            None
        } else {
            rows
        };
        b.out.push(Outcome::Done {
            rows_affected: rows,
        });
    }
}

/// Refuses a change to the database on a read-only replica with 3906, as a readable secondary
/// refuses it ("Failed to update database ... because the database is read-only", SQLSTATE
/// 25000, as Configuration Manager logs it against an availability group's secondary).
fn writable(session: &Session, db: &str) -> Result<(), SqlError> {
    if session.read_only {
        return Err(errors::DATABASE_READ_ONLY.with(&[db]));
    }
    Ok(())
}

/// Whether a table name names a temporary table (`#name`, also as `tempdb..#name`).
fn is_temp_name(name: &ObjectName) -> bool {
    let shown = crate::sql::catalog::display_name(name);
    temp::is_temp(shown.rsplit('.').next().unwrap_or(""))
}

/// The typed result set for stored rows: each column's inferred type when every value fits it,
/// otherwise the type its values need (so what goes out always matches its metadata).
pub(crate) fn result_set(columns: &[OutColumn], rows: Vec<Vec<Sv>>) -> ResultSet {
    let mut out_columns = Vec::with_capacity(columns.len());
    let mut out_rows: Vec<Vec<Value>> = (0..rows.len())
        .map(|_| Vec::with_capacity(columns.len()))
        .collect();
    for (i, c) in columns.iter().enumerate() {
        let converted: Option<Vec<Value>> = match &c.info.ty {
            Some(t) => rows
                .iter()
                .map(|r| values::output_value(&r[i], t))
                .collect(),
            None => None,
        };
        let (ty, values) = match converted {
            Some(values) => (c.info.ty.clone().unwrap_or(SqlType::Int), values),
            None => {
                let ty = values::type_of_values(rows.iter().map(|r| &r[i]));
                let values = rows
                    .iter()
                    .map(|r| values::output_value(&r[i], &ty).unwrap_or(Value::Null))
                    .collect();
                (ty, values)
            }
        };
        let any_null = values.contains(&Value::Null);
        out_columns.push(Column {
            name: c.name.clone(),
            ty,
            nullable: c.info.nullable || any_null,
        });
        for (row, v) in out_rows.iter_mut().zip(values) {
            row.push(v);
        }
    }
    ResultSet {
        columns: out_columns,
        rows: out_rows,
        counted: true,
    }
}
