//! One database and the executor that runs parsed statements for a session.
//!
//! A database is its SQLite file and connection pool ([`storage`](super::storage)), and its
//! metadata: the catalog and the principals as last committed ([`Metadata`]). A batch runs on
//! a connection the session leases for it (or holds, while a transaction is open) and sees the
//! metadata its transaction changed, else the last committed. The executor runs DDL, DML and
//! queries through [`translate`](super::translate), users and roles through
//! [`principals`](super::principals), `SET`, `IF`, variables and transactions
//! ([`transaction`](super::transaction)), producing one [`Outcome`] per statement and stopping at
//! the first error.
//!
//! A change to the catalog or the principals first takes the database's write lock (by updating
//! a one-row table), so one session at a time changes them; outside a transaction it commits and
//! publishes the new metadata at once, inside one it stays the transaction's own until `COMMIT`.

use super::catalog::{quote, Catalog, Schema, Table};
use super::errors;
use super::errors::SqlError;
use super::metadata::{next_version, Metadata};
use super::outcome::{Column, Outcome, ResultSet};
use super::parse::{Located, NewUser, PermissionVerb, Stmt, TxnName, TxnStmt};
use super::principals::{Kind, Permission, Principals, Securable};
use super::session::Session;
use super::sqlite_functions::{self, CtxSession, FnCtx, IdentityCounter};
use super::storage::{self, sqlite_failure, Conn, DataDir, Store, METADATA_LOCK_TABLE};
use super::temp;
use super::transaction::{next_transaction_id, Savepoint, TransactionChange, TxnState};
use super::translate::{OutColumn, Plan, PlanKind, Translator};
use super::types::{self, Mode, TypeContext, TypeInfo};
use super::types::{Length, SqlType, Value};
use crate::identity::Directory;
use rusqlite::types::Value as Sv;
use rusqlite::Connection;
use sqlparser::ast::{
    DeclareAssignment, ObjectName, ObjectType, Set, SetSessionParamKind, Statement, Use,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

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

    fn signature(&self) -> String {
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

/// A database.
pub(crate) struct Database {
    pub name: String,
    store: Arc<Store>,
    /// The last committed metadata. Whoever commits a change holds this lock from the SQLite
    /// commit until the new metadata is in place.
    committed: Mutex<Arc<Metadata>>,
}

impl Database {
    /// A new, empty database in a file of `dir`.
    pub(crate) fn create(
        name: &str,
        dir: Arc<DataDir>,
        file_name: &str,
    ) -> Result<Database, SqlError> {
        let created = sqlite_functions::now();
        let catalog = Catalog::new(&created);
        let system_tables = catalog
            .tables()
            .iter()
            .filter(|t| t.schema != Schema::Dbo)
            .map(Table::sqlite_ddl)
            .collect();
        let store = Store::create(dir, file_name, system_tables)?;
        let metadata = Metadata {
            version: next_version(),
            catalog,
            principals: Principals::new(&created),
        };
        Ok(Database {
            name: name.to_string(),
            store,
            committed: Mutex::new(Arc::new(metadata)),
        })
    }

    fn committed_lock(&self) -> MutexGuard<'_, Arc<Metadata>> {
        self.committed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last committed metadata.
    fn committed(&self) -> Arc<Metadata> {
        self.committed_lock().clone()
    }

    /// How many connections the database has open, and how many of them are idle.
    pub(crate) fn connections(&self) -> (u64, usize) {
        (self.store.open_connections(), self.store.idle_connections())
    }

    /// How many statements have had to wait for the write lock.
    pub(crate) fn lock_waits(&self) -> u64 {
        self.store.lock_wait.waits_begun()
    }

    /// The user an access token's identity maps to: (name, principal id, roles), or `None`.
    pub(crate) fn external_user(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> Option<(String, i32, Vec<String>)> {
        let meta = self.committed();
        let p = meta.principals.find_external(tenant_id, key)?;
        Some((p.name.clone(), p.id, meta.principals.roles_of(p.id)))
    }

    /// A contained user whose password matches: (name, principal id, roles).
    pub(crate) fn contained_user(
        &self,
        user: &str,
        password: &str,
    ) -> Option<(String, i32, Vec<String>)> {
        let meta = self.committed();
        let p = meta.principals.find(user)?;
        match &p.kind {
            Kind::Contained { password: stored } if stored.matches(password) => {
                Some((p.name.clone(), p.id, meta.principals.roles_of(p.id)))
            }
            _ => None,
        }
    }

    /// Runs parsed statements for a session, stopping at the first error. The session's open
    /// transaction (if any) continues; a new one stays open after the batch.
    pub(crate) fn execute(&self, batch: &mut Batch<'_>, statements: &[Located]) {
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
            None => match self.store.acquire() {
                Ok(lease) => lease,
                Err(e) => {
                    batch.out.push(Outcome::Error(e));
                    return;
                }
            },
        };
        let mut exec = Exec {
            database: self,
            link: &mut lease,
            txn: &mut txn,
            meta: self.committed(),
        };
        exec.begin_batch(batch.session, &self.name);
        for (index, located) in statements.iter().enumerate() {
            if let Err(e) = exec.run(batch, located, Some(index), &self.name) {
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

    // ---- metadata changes ------------------------------------------------------------------

    /// Runs a statement that changes the catalog or the principals: with the database's write
    /// lock (1222 if another session holds it past the lock timeout), atomically, and published
    /// to other sessions when it commits.
    fn changing_metadata(
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
    fn prune_identities(&self, catalog: &Catalog) {
        sqlite_functions::lock_identities(&self.database.store.identity)
            .retain(|table, _| catalog.get(Schema::Dbo, table).is_some());
    }

    // ---- transactions ----------------------------------------------------------------------

    fn transaction_name(
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

    fn transaction(&mut self, b: &mut Batch<'_>, t: &TxnStmt) -> Result<(), SqlError> {
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
    fn commit_all(&mut self) -> Result<(), SqlError> {
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
    fn rollback_all(&mut self) -> Result<(), SqlError> {
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
    fn rollback_to(&mut self, at: usize) -> Result<(), SqlError> {
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

    fn statement(
        &mut self,
        b: &mut Batch<'_>,
        s: &Statement,
        index: Option<usize>,
        db: &str,
    ) -> Result<(), SqlError> {
        match s {
            Statement::Query(_)
            | Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_) => {
                let plan = self.plan(b, s, index, db)?;
                self.run_plan(b, &plan, db)
            }
            Statement::CreateTable(ct) if is_temp_name(&ct.name) => {
                self.create_temp_table(ct)?;
                self.done(b, None);
                Ok(())
            }
            Statement::CreateTable(ct) => {
                if !Principals::may_ddl(b.session) {
                    return Err(errors::CREATE_TABLE_DENIED.with(&[db]));
                }
                let table = self
                    .meta_mut()
                    .catalog
                    .define(ct, db, &sqlite_functions::now())?;
                self.link
                    .conn
                    .execute_batch(&table.sqlite_ddl())
                    .map_err(sqlite_failure)?;
                if let Some(identity) = table.identity {
                    let range = table.columns[identity.column]
                        .ty
                        .integer_range()
                        .unwrap_or((i64::MIN, i64::MAX));
                    sqlite_functions::lock_identities(&self.database.store.identity).insert(
                        table.name.to_lowercase(),
                        IdentityCounter {
                            seed: identity.seed,
                            step: identity.step,
                            last: None,
                            range,
                        },
                    );
                }
                self.meta_mut().catalog.add(table);
                self.done(b, None);
                Ok(())
            }
            Statement::CreateIndex(ci) => {
                writable(b.session, db)?;
                if !Principals::may_ddl(b.session) {
                    return Err(errors::CANNOT_FIND_OBJECT
                        .with(&[&super::catalog::display_name(&ci.table_name)]));
                }
                let table = self.meta.catalog.resolve(&ci.table_name, db)?.clone();
                if table.schema != Schema::Dbo {
                    return Err(errors::CATALOG_UPDATE.plain());
                }
                let mut columns = Vec::new();
                for ic in &ci.columns {
                    let name = ic.column.expr.to_string();
                    let name = name.trim_matches(|c| c == '[' || c == ']' || c == '"');
                    let (_, c) = table
                        .column(name)
                        .ok_or_else(|| errors::INVALID_COLUMN.with(&[name]))?;
                    let desc = matches!(
                        ic.column.options.sort,
                        Some(sqlparser::ast::OrderBySort::Desc)
                    );
                    columns.push(format!(
                        "{}{}",
                        quote(&c.name),
                        if desc { " DESC" } else { "" }
                    ));
                }
                let index_name = ci
                    .name
                    .as_ref()
                    .map(super::catalog::display_name)
                    .unwrap_or_else(|| format!("IX_{}", uuid::Uuid::new_v4().simple()));
                let sql = format!(
                    "CREATE {}INDEX {}{} ON {} ({})",
                    if ci.unique { "UNIQUE " } else { "" },
                    if ci.if_not_exists {
                        "IF NOT EXISTS "
                    } else {
                        ""
                    },
                    quote(&format!("{}__{index_name}", table.name)),
                    quote(&table.name),
                    columns.join(", ")
                );
                self.link.conn.execute_batch(&sql).map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(_, Some(m)) if m.contains("already exists") => {
                        errors::NOT_SUPPORTED.with(&[&format!(
                            "an index named '{index_name}' already exists on '{}'",
                            table.name
                        )])
                    }
                    other => sqlite_failure(other),
                })?;
                self.done(b, None);
                Ok(())
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                ..
            } => {
                match object_type {
                    ObjectType::Table => {
                        for name in names {
                            self.drop_table(b, name, *if_exists, db)?;
                        }
                    }
                    ObjectType::User => {
                        for name in names {
                            let n = super::catalog::display_name(name);
                            if !Principals::may_manage_users(b.session) {
                                return Err(errors::CANNOT_DROP_USER.with(&[&n]));
                            }
                            self.meta_mut().principals.drop_user(&n, *if_exists)?;
                        }
                    }
                    ObjectType::Role => {
                        for name in names {
                            let n = super::catalog::display_name(name);
                            if !self.meta.principals.may_manage_role(b.session, Some(&n)) {
                                return Err(errors::CANNOT_DROP_ROLE.with(&[&n]));
                            }
                            self.meta_mut().principals.drop_role(&n, *if_exists)?;
                        }
                    }
                    other => return Err(errors::NOT_SUPPORTED.with(&[&format!("DROP {other}")])),
                }
                self.done(b, None);
                Ok(())
            }
            Statement::Truncate(t) => {
                writable(b.session, db)?;
                for target in &t.table_names {
                    let shown = super::catalog::display_name(&target.name);
                    let table = match self.meta.catalog.resolve(&target.name, db) {
                        Ok(t) if t.schema == Schema::Dbo => t.clone(),
                        _ => return Err(errors::CANNOT_FIND_OBJECT.with(&[&shown])),
                    };
                    if !Principals::may_ddl(b.session) {
                        return Err(errors::CANNOT_FIND_OBJECT.with(&[&shown]));
                    }
                    self.link
                        .conn
                        .execute(&format!("DELETE FROM {}", table.sqlite_name()), [])
                        .map_err(sqlite_failure)?;
                    if let Some(c) =
                        sqlite_functions::lock_identities(&self.database.store.identity)
                            .get_mut(&table.name.to_lowercase())
                    {
                        c.last = None;
                    }
                }
                self.done(b, None);
                Ok(())
            }
            Statement::CreateRole(cr) => {
                if !self.meta.principals.may_manage_role(b.session, None) {
                    return Err(errors::NO_PERMISSION.plain());
                }
                let owner = cr
                    .authorization_owner
                    .as_ref()
                    .map(super::catalog::display_name);
                for name in &cr.names {
                    let n = super::catalog::display_name(name);
                    self.meta_mut().principals.create_role(
                        &n,
                        owner.as_deref(),
                        &sqlite_functions::now(),
                    )?;
                }
                self.done(b, None);
                Ok(())
            }
            Statement::AlterRole { name, operation } => {
                use sqlparser::ast::AlterRoleOperation;
                let role = name.value.clone();
                if !self.meta.principals.may_manage_role(b.session, Some(&role)) {
                    return Err(errors::CANNOT_ALTER_ROLE.with(&[&role]));
                }
                match operation {
                    AlterRoleOperation::AddMember { member_name } => self
                        .meta_mut()
                        .principals
                        .alter_role(&role, &member_name.value, true)?,
                    AlterRoleOperation::DropMember { member_name } => self
                        .meta_mut()
                        .principals
                        .alter_role(&role, &member_name.value, false)?,
                    _ => return Err(errors::NOT_SUPPORTED.with(&["ALTER ROLE ... WITH NAME"])),
                }
                self.done(b, None);
                Ok(())
            }
            Statement::Set(set) => {
                self.set(b, set, db)?;
                self.done(b, None);
                Ok(())
            }
            Statement::StartTransaction { begin: true, .. } => {
                self.transaction(b, &TxnStmt::Begin(None))
            }
            Statement::StartTransaction { .. } => Err(errors::SYNTAX.with(&["START"])),
            Statement::Commit { .. } => self.transaction(b, &TxnStmt::Commit),
            Statement::Rollback { savepoint, .. } => self.transaction(
                b,
                &TxnStmt::Rollback(
                    savepoint
                        .as_ref()
                        .map(|s| TxnName::Literal(s.value.clone())),
                ),
            ),
            Statement::Use(u) => {
                let name = match u {
                    Use::Object(n) | Use::Database(n) => super::catalog::display_name(n),
                    _ => return Err(errors::USE_NOT_SUPPORTED.plain()),
                };
                if !name.eq_ignore_ascii_case(db) {
                    return Err(errors::USE_NOT_SUPPORTED.plain());
                }
                self.done(b, None);
                Ok(())
            }
            Statement::Declare { stmts, .. } => {
                for d in stmts {
                    if d.for_query.is_some() || d.declare_type.is_some() {
                        return Err(errors::NOT_SUPPORTED.with(&["DECLARE CURSOR / TABLE"]));
                    }
                    let Some(dt) = &d.data_type else {
                        return Err(errors::SYNTAX.with(&["DECLARE"]));
                    };
                    for (i, name) in d.names.iter().enumerate() {
                        let key = name.value.to_lowercase();
                        if !name.value.starts_with('@') {
                            return Err(errors::SYNTAX.with(&[&name.value]));
                        }
                        if b.vars.types.contains_key(&key) {
                            return Err(errors::VARIABLE_REDECLARED.with(&[&name.value]));
                        }
                        let ty = types::parse_type(
                            &dt.to_string(),
                            TypeContext::Declaration,
                            i + 1,
                            &format!("variable '{}'", name.value),
                        )?;
                        let value = match &d.assignment {
                            None => Sv::Null,
                            Some(
                                DeclareAssignment::Expr(e)
                                | DeclareAssignment::Default(e)
                                | DeclareAssignment::MsSqlAssignment(e),
                            ) => {
                                let (v, source) = self.scalar(b, e, db)?;
                                types::convert(
                                    (&v).into(),
                                    &ty,
                                    source.as_ref(),
                                    &Mode::Cast { try_: false },
                                )?
                            }
                            Some(_) => return Err(errors::SYNTAX.with(&["DECLARE"])),
                        };
                        b.vars.set(&name.value, value, TypeInfo::of(ty, true));
                    }
                }
                self.done(b, None);
                Ok(())
            }
            Statement::Print(p) => {
                let (v, source) = self.scalar(b, &p.message, db)?;
                let text = match types::convert(
                    (&v).into(),
                    &SqlType::NVarChar(Length::Max),
                    source.as_ref(),
                    &Mode::Cast { try_: false },
                )? {
                    Sv::Text(t) => t,
                    _ => String::new(),
                };
                b.out.push(Outcome::Info(SqlError {
                    number: 0,
                    state: 1,
                    severity: 0,
                    message: text,
                    line: 1,
                }));
                Ok(())
            }
            Statement::Execute {
                name, parameters, ..
            } => {
                let n = name
                    .as_ref()
                    .map(super::catalog::display_name)
                    .unwrap_or_default();
                let last = n.rsplit('.').next().unwrap_or("");
                if last.eq_ignore_ascii_case("sp_executesql") {
                    return self.sp_executesql(b, parameters, db);
                }
                if last.eq_ignore_ascii_case("sp_set_session_context") {
                    return self.sp_set_session_context(b, parameters, db);
                }
                Err(errors::STORED_PROCEDURE_NOT_FOUND.with(&[&n]))
            }
            other => Err(errors::NOT_SUPPORTED.with(&[&other
                .to_string()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")])),
        }
    }

    /// `EXEC sp_executesql N'statement' [, N'@a int, @b nvarchar(10)' [, @a = 1 | 1, ...]]`
    /// written in a batch: the statement runs as its own batch with those parameters.
    fn sp_executesql(
        &mut self,
        b: &mut Batch<'_>,
        parameters: &[sqlparser::ast::Expr],
        db: &str,
    ) -> Result<(), SqlError> {
        use sqlparser::ast::{BinaryOperator, Expr};
        let Some(first) = parameters.first() else {
            return Err(errors::SP_EXECUTESQL_STATEMENT.plain());
        };
        let (text, _) = self.scalar(b, first, db)?;
        let Sv::Text(text) = text else {
            return Err(errors::SP_EXECUTESQL_STATEMENT.plain());
        };
        let mut declared: Vec<(String, SqlType)> = Vec::new();
        if let Some(decl) = parameters.get(1) {
            let (d, _) = self.scalar(b, decl, db)?;
            if let Sv::Text(d) = d {
                if !d.trim().is_empty() {
                    let parsed = super::parse::parse_batch(&format!("DECLARE {d}"))?;
                    for located in parsed.iter() {
                        let super::parse::Stmt::Sql(s) = &located.stmt else {
                            return Err(errors::SYNTAX.with(&[&d]));
                        };
                        let Statement::Declare { stmts, .. } = s.as_ref() else {
                            return Err(errors::SYNTAX.with(&[&d]));
                        };
                        for decl in stmts {
                            let dt = decl
                                .data_type
                                .as_ref()
                                .ok_or_else(|| errors::SYNTAX.with(&[&d]))?;
                            for (i, name) in decl.names.iter().enumerate() {
                                let ty = types::parse_type(
                                    &dt.to_string(),
                                    TypeContext::Declaration,
                                    i + 1,
                                    &format!("parameter '{}'", name.value),
                                )?;
                                declared.push((name.value.clone(), ty));
                            }
                        }
                    }
                }
            }
        }
        let mut inner_vars = Vars::default();
        for (name, ty) in &declared {
            inner_vars.set(name, Sv::Null, TypeInfo::of(ty.clone(), true));
        }
        for (position, arg) in parameters.iter().skip(2).enumerate() {
            let (name, value_expr) = match arg {
                Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq,
                    right,
                } => match left.as_ref() {
                    Expr::Identifier(i) if i.value.starts_with('@') => {
                        (i.value.clone(), right.as_ref())
                    }
                    _ => return Err(errors::SYNTAX.with(&["="])),
                },
                other => match declared.get(position) {
                    Some((n, _)) => (n.clone(), other),
                    None => return Err(errors::SP_EXECUTESQL_TOO_MANY.plain()),
                },
            };
            let Some((_, ty)) = declared.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) else {
                return Err(errors::SP_EXECUTESQL_UNKNOWN_PARAMETER.with(&[&name]));
            };
            let (v, source) = self.scalar(b, value_expr, db)?;
            let v = types::convert(
                (&v).into(),
                ty,
                source.as_ref(),
                &Mode::Cast { try_: false },
            )?;
            inner_vars.set(&name, v, TypeInfo::of(ty.clone(), true));
        }
        let statements = super::parse::parse_batch(&text)?;
        let mut inner = Batch {
            session: &mut *b.session,
            vars: inner_vars,
            out: Vec::new(),
            directory: b.directory,
            logins: b.logins.clone(),
            text: &text,
        };
        let mut failure = None;
        for located in statements.iter() {
            if let Err(e) = self.run(&mut inner, located, None, db) {
                failure = Some(e);
                break;
            }
        }
        let out = std::mem::take(&mut inner.out);
        b.out.extend(out);
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `EXEC sp_set_session_context [@key =] N'key', [@value =] value [, [@read_only =] bit]`.
    /// An extended procedure's arguments bind by position whatever names they carry (Microsoft
    /// Learn: "Arguments for extended stored procedures must be entered in the specific order";
    /// mirek/msduck, observing SQL Server 2025: `@value = N'x', @key = N'named'` stores key
    /// `x`). The errors for a wrong count, a `NULL` key or `@read_only` are the ones observed
    /// there, naming the procedure by its internal name as SQL Server does.
    fn sp_set_session_context(
        &mut self,
        b: &mut Batch<'_>,
        parameters: &[sqlparser::ast::Expr],
        db: &str,
    ) -> Result<(), SqlError> {
        const INTERNAL_NAME: &str = "sp_set_connection_context";
        if parameters.len() < 2 {
            return Err(errors::PROCEDURE_PARAMETER_COUNT.with(&[INTERNAL_NAME]));
        }
        if parameters.len() > 3 {
            return Err(errors::PROCEDURE_TOO_MANY_PARAMETERS.with(&[INTERNAL_NAME]));
        }
        let mut values = Vec::with_capacity(parameters.len());
        for p in parameters {
            values.push(self.procedure_argument(b, p, db)?);
        }
        let key = match &values[0] {
            Sv::Null => {
                return Err(errors::PROCEDURE_PARAMETERS_INVALID.with(&["sp_set_session_context"]))
            }
            Sv::Text(t) => t.clone(),
            Sv::Integer(i) => i.to_string(),
            Sv::Real(r) => types::format_real(*r, None),
            Sv::Blob(_) => return Err(errors::INVALID_PROCEDURE_PARAMETER.with(&[INTERNAL_NAME])),
        };
        if key.is_empty() {
            return Err(errors::SESSION_CONTEXT_KEY_TOO_LONG.with(&[&key]));
        }
        let read_only = match values.get(2) {
            None => false,
            Some(Sv::Integer(i)) => *i != 0,
            Some(Sv::Real(r)) => *r != 0.0,
            Some(Sv::Text(t)) => match t.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                n => n
                    .parse::<f64>()
                    .map(|n| n != 0.0)
                    .map_err(|_| errors::INVALID_PROCEDURE_PARAMETER.with(&[INTERNAL_NAME]))?,
            },
            Some(Sv::Null | Sv::Blob(_)) => {
                return Err(errors::INVALID_PROCEDURE_PARAMETER.with(&[INTERNAL_NAME]))
            }
        };
        let value = values.swap_remove(1);
        b.session.context.set(&key, value, read_only)?;
        self.ctx_lock().session.context = b.session.context.clone();
        self.done(b, None);
        Ok(())
    }

    /// The value of one `EXEC` argument, its `@name =` dropped: a constant, a variable, or a bare
    /// word (which T-SQL reads as a character string in `EXEC`). The parser has already refused
    /// anything else.
    fn procedure_argument(
        &mut self,
        b: &Batch<'_>,
        argument: &sqlparser::ast::Expr,
        db: &str,
    ) -> Result<Sv, SqlError> {
        use sqlparser::ast::Expr;
        match super::parse::argument_value(argument) {
            Expr::Identifier(word)
                if word.quote_style.is_none() && !word.value.starts_with('@') =>
            {
                Ok(Sv::Text(word.value.clone()))
            }
            other => Ok(self.scalar(b, other, db)?.0),
        }
    }

    /// `CREATE TABLE #name (...)`: any user may (tempdb's rule); 2714 if the session has one of
    /// that name. Refused: `##global` tables, and `IDENTITY` (the engine keeps identity counters
    /// per database, not per session).
    fn create_temp_table(&mut self, ct: &sqlparser::ast::CreateTable) -> Result<(), SqlError> {
        let name = super::catalog::display_name(&ct.name);
        let name = name.rsplit('.').next().unwrap_or(&name).to_string();
        if name.starts_with("##") {
            return Err(errors::NOT_SUPPORTED.with(&["global temporary tables (##name)"]));
        }
        if self.txn.temp.get(&name).is_some() {
            return Err(errors::OBJECT_EXISTS.with(&[&name]));
        }
        let table = super::catalog::build_table(
            ct,
            Schema::Temp,
            name,
            temp::next_object_id(),
            &sqlite_functions::now(),
        )?;
        if table.identity.is_some() {
            return Err(errors::NOT_SUPPORTED.with(&["IDENTITY in a temporary table"]));
        }
        self.link
            .conn
            .execute_batch(&table.sqlite_ddl())
            .map_err(sqlite_failure)?;
        self.link.has_temp = true;
        self.txn.temp.add(table);
        Ok(())
    }

    /// After a rollback: the session's temporary tables as SQLite kept them (see
    /// [`temp::TempTables::reconcile`]).
    fn reconcile_temp(&mut self) -> Result<(), SqlError> {
        if !self.txn.temp.needs_reconciling() && !self.link.has_temp {
            return Ok(());
        }
        let existing = (|| -> rusqlite::Result<std::collections::HashSet<String>> {
            let mut stmt = self
                .link
                .conn
                .prepare("SELECT lower(name) FROM temp.sqlite_master WHERE type = 'table'")?;
            let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
            names.collect()
        })()
        .map_err(sqlite_failure)?;
        for stray in self.txn.temp.reconcile(&existing) {
            self.link
                .run(&format!("DROP TABLE IF EXISTS temp.{}", quote(&stray)))?;
        }
        Ok(())
    }

    fn drop_table(
        &mut self,
        b: &mut Batch<'_>,
        name: &ObjectName,
        if_exists: bool,
        db: &str,
    ) -> Result<(), SqlError> {
        let shown = super::catalog::display_name(name);
        if is_temp_name(name) {
            let last = shown.rsplit('.').next().unwrap_or(&shown);
            let Some(table) = self.txn.temp.remove(last, self.txn.depth > 0) else {
                if if_exists {
                    return Ok(());
                }
                return Err(errors::CANNOT_DROP_TABLE.with(&[&shown]));
            };
            return self
                .link
                .run(&format!("DROP TABLE {}", table.sqlite_name()));
        }
        let table = match self.meta.catalog.resolve(name, db) {
            Ok(t) if t.schema == Schema::Dbo => t.clone(),
            Ok(_) => return Err(errors::CANNOT_DROP_TABLE.with(&[&shown])),
            Err(e) if e.number == 208 => {
                if if_exists {
                    return Ok(());
                }
                return Err(errors::CANNOT_DROP_TABLE.with(&[&shown]));
            }
            Err(e) => return Err(e),
        };
        if !Principals::may_ddl(b.session) {
            return Err(errors::CANNOT_DROP_TABLE.with(&[&shown]));
        }
        self.link
            .conn
            .execute_batch(&format!("DROP TABLE {}", table.sqlite_name()))
            .map_err(sqlite_failure)?;
        self.meta_mut().catalog.remove(table.schema, &table.name);
        Ok(())
    }

    /// Brings this connection's system views (attached in memory) and what `IS_ROLEMEMBER`
    /// reads up to the metadata the statement sees.
    fn sync_system(&mut self, db: &str) -> rusqlite::Result<()> {
        self.link.conn.execute_batch("SAVEPOINT sync_system")?;
        match self.fill_system_views(db) {
            Ok(()) => {
                self.link.conn.execute_batch("RELEASE sync_system")?;
                self.link.synced = self.meta.version;
                Ok(())
            }
            Err(e) => {
                let _ = self
                    .link
                    .conn
                    .execute_batch("ROLLBACK TO sync_system; RELEASE sync_system");
                self.link.synced = 0;
                Err(e)
            }
        }
    }

    /// Rewrites the system views from the catalog and the principals.
    fn fill_system_views(&mut self, db: &str) -> rusqlite::Result<()> {
        fn fill(conn: &Connection, table: &str, rows: Vec<Vec<Sv>>) -> rusqlite::Result<()> {
            conn.execute(&format!("DELETE FROM {table}"), [])?;
            let Some(width) = rows.first().map(Vec::len) else {
                return Ok(());
            };
            let marks = vec!["?"; width].join(", ");
            let mut stmt = conn.prepare_cached(&format!("INSERT INTO {table} VALUES ({marks})"))?;
            for row in rows {
                stmt.execute(rusqlite::params_from_iter(row))?;
            }
            Ok(())
        }
        let text = |s: &str| Sv::Text(s.to_string());
        let int = |i: i64| Sv::Integer(i);
        fill(
            &self.link.conn,
            "sys.database_principals",
            self.meta.principals.principal_rows(),
        )?;
        fill(
            &self.link.conn,
            "sys.database_role_members",
            self.meta.principals.member_rows(),
        )?;
        fill(
            &self.link.conn,
            "sys.database_permissions",
            self.meta.principals.permission_rows(),
        )?;
        let user_tables: Vec<&Table> = self
            .meta
            .catalog
            .tables()
            .iter()
            .filter(|t| t.schema == Schema::Dbo)
            .collect();
        let object_row = |t: &Table| {
            vec![
                text(&t.name),
                int(t.object_id as i64),
                Sv::Null,
                int(1),
                int(0),
                text("U "),
                text("USER_TABLE"),
                text(&t.created),
                text(&t.created),
                int(0),
            ]
        };
        let mut objects: Vec<Vec<Sv>> = user_tables.iter().map(|t| object_row(t)).collect();
        for t in &user_tables {
            for (i, k) in t.keys.iter().enumerate() {
                objects.push(vec![
                    text(&k.name),
                    int(t.object_id as i64 + 1 + i as i64),
                    Sv::Null,
                    int(1),
                    int(t.object_id as i64),
                    text(if k.primary { "PK" } else { "UQ" }),
                    text(if k.primary {
                        "PRIMARY_KEY_CONSTRAINT"
                    } else {
                        "UNIQUE_CONSTRAINT"
                    }),
                    text(&t.created),
                    text(&t.created),
                    int(0),
                ]);
            }
        }
        fill(&self.link.conn, "sys.objects", objects)?;
        fill(
            &self.link.conn,
            "sys.tables",
            user_tables.iter().map(|t| object_row(t)).collect(),
        )?;
        let mut columns = Vec::new();
        let mut info_columns = Vec::new();
        for t in &user_tables {
            for (i, c) in t.columns.iter().enumerate() {
                let (type_id, max_length, precision, scale) = super::catalog::system_type(&c.ty);
                columns.push(vec![
                    int(t.object_id as i64),
                    text(&c.name),
                    int(i as i64 + 1),
                    int(type_id as i64),
                    int(max_length as i64),
                    int(precision as i64),
                    int(scale as i64),
                    int(c.nullable as i64),
                    int(c.identity as i64),
                ]);
                let char_length = match &c.ty {
                    t if t.is_character() => {
                        Sv::Integer(t.char_length().map(|n| n as i64).unwrap_or(-1))
                    }
                    SqlType::VarBinary(Length::Fixed(n)) => Sv::Integer(*n as i64),
                    SqlType::VarBinary(Length::Max) => Sv::Integer(-1),
                    _ => Sv::Null,
                };
                info_columns.push(vec![
                    text(db),
                    text("dbo"),
                    text(&t.name),
                    text(&c.name),
                    int(i as i64 + 1),
                    c.default
                        .as_ref()
                        .map(|d| text(&format!("({d})")))
                        .unwrap_or(Sv::Null),
                    text(if c.nullable { "YES" } else { "NO" }),
                    text(c.ty.name()),
                    char_length,
                    if c.ty.is_numeric() {
                        Sv::Integer(precision as i64)
                    } else {
                        Sv::Null
                    },
                    if c.ty.is_numeric() {
                        Sv::Integer(scale as i64)
                    } else {
                        Sv::Null
                    },
                ]);
            }
        }
        fill(&self.link.conn, "sys.columns", columns)?;
        fill(
            &self.link.conn,
            "sys.schemas",
            vec![
                vec![text("dbo"), int(1), int(1)],
                vec![text("guest"), int(2), int(2)],
                vec![text("INFORMATION_SCHEMA"), int(3), int(3)],
                vec![text("sys"), int(4), int(4)],
            ],
        )?;
        fill(
            &self.link.conn,
            "information_schema.TABLES",
            user_tables
                .iter()
                .map(|t| vec![text(db), text("dbo"), text(&t.name), text("BASE TABLE")])
                .collect(),
        )?;
        fill(&self.link.conn, "information_schema.COLUMNS", info_columns)?;
        let memberships = self.meta.principals.memberships();
        let role_names = self
            .meta
            .principals
            .all()
            .iter()
            .filter(|p| matches!(p.kind, Kind::Role { .. }))
            .map(|p| p.name.to_lowercase())
            .collect();
        let mut ctx = self.ctx_lock();
        ctx.memberships = memberships;
        ctx.role_names = role_names;
        Ok(())
    }

    // ---- plans -----------------------------------------------------------------------------

    fn plan(
        &mut self,
        b: &Batch<'_>,
        s: &Statement,
        index: Option<usize>,
        db: &str,
    ) -> Result<Arc<Plan>, SqlError> {
        let key = index.map(|i| {
            format!(
                "{i}\u{1}{}\u{1}{}\u{1}{}",
                b.vars.signature(),
                self.txn.temp.version(),
                b.text
            )
        });
        let identity_insert = b.session.options.identity_insert.clone();
        let key = key.map(|k| format!("{k}\u{1}{identity_insert:?}"));
        if let Some(k) = &key {
            if let Some((generation, plan)) = self.link.plans.get(k) {
                if *generation == self.meta.version {
                    return Ok(plan.clone());
                }
            }
        }
        let t = Translator::new(
            &self.meta.catalog,
            db,
            &b.vars.types,
            identity_insert.as_deref(),
        )
        .with_temp(&self.txn.temp);
        let plan = Arc::new(match s {
            Statement::Query(q) => t.select_statement(q)?,
            Statement::Insert(i) => t.insert(i)?,
            Statement::Update(u) => t.update(u)?,
            Statement::Delete(d) => t.delete(d)?,
            _ => return Err(errors::NOT_SUPPORTED.with(&["statement"])),
        });
        if let Some(k) = key {
            if self.link.plans.len() >= storage::PLAN_CACHE_SIZE {
                self.link.plans.clear();
            }
            self.link.plans.insert(k, (self.meta.version, plan.clone()));
        }
        Ok(plan)
    }

    fn check_permissions(&self, session: &Session, plan: &Plan, db: &str) -> Result<(), SqlError> {
        for check in &plan.checks {
            let Some(table) = self.meta.catalog.get(check.schema, &check.table) else {
                return Err(errors::INVALID_OBJECT.with(&[&check.table]));
            };
            if !self
                .meta
                .principals
                .allowed(session, check.permission, table)
            {
                return Err(errors::PERMISSION_DENIED.with(&[
                    check.permission.name(),
                    &table.name,
                    db,
                    table.schema.name(),
                ]));
            }
        }
        Ok(())
    }

    fn prepare_ctx(&self, plan: &Plan) {
        let mut ctx = self.ctx_lock();
        ctx.specs = plan.specs.clone();
        ctx.pending_error = None;
        ctx.last_key.clear();
    }

    /// Runs a query plan and returns its rows as stored values.
    fn query_rows(&mut self, b: &Batch<'_>, plan: &Plan) -> Result<Vec<Vec<Sv>>, SqlError> {
        self.prepare_ctx(plan);
        let width = match &plan.kind {
            PlanKind::Query { columns, .. } => columns.len(),
            PlanKind::Change { .. } => 0,
        };
        let result = (|| -> rusqlite::Result<Vec<Vec<Sv>>> {
            let mut stmt = self.link.conn.prepare_cached(&plan.sql)?;
            for (i, name) in plan.params.iter().enumerate() {
                let v = b.vars.values.get(name).cloned().unwrap_or(Sv::Null);
                stmt.raw_bind_parameter(i + 1, v)?;
            }
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let mut values = Vec::with_capacity(width);
                for i in 0..width {
                    values.push(types::owned(row.get_ref(i)?));
                }
                out.push(values);
            }
            Ok(out)
        })();
        result.map_err(|e| self.translate_error(e, plan))
    }

    fn run_plan(&mut self, b: &mut Batch<'_>, plan: &Plan, db: &str) -> Result<(), SqlError> {
        self.check_permissions(b.session, plan, db)?;
        // INSERT, UPDATE and DELETE name their target (with or without OUTPUT).
        if plan.target.as_deref().is_some_and(|t| !temp::is_temp(t)) {
            writable(b.session, db)?;
        }
        match &plan.kind {
            PlanKind::Query {
                columns,
                top_percent,
                assign,
            } => {
                let mut rows = self.query_rows(b, plan)?;
                b.session.last_identity = self.ctx_lock().session.last_identity;
                if let Some(p) = top_percent {
                    let keep = ((rows.len() as f64) * p / 100.0).ceil() as usize;
                    rows.truncate(keep);
                }
                let count = rows.len() as i64;
                self.ctx_lock().session.rowcount = count;
                match assign {
                    Some(targets) => {
                        if let Some(last) = rows.last() {
                            for ((name, ty), (v, c)) in
                                targets.iter().zip(last.iter().zip(columns.iter()))
                            {
                                let value = match &ty.ty {
                                    Some(t) => types::convert(
                                        v.into(),
                                        t,
                                        c.info.ty.as_ref(),
                                        &Mode::Cast { try_: false },
                                    )?,
                                    None => v.clone(),
                                };
                                b.vars.set(name, value, ty.clone());
                            }
                        }
                        self.done(b, Some(count as u64));
                    }
                    None => {
                        let mut rs = result_set(columns, rows);
                        rs.counted = !b.session.options.nocount;
                        b.out.push(Outcome::Rows(rs));
                    }
                }
                Ok(())
            }
            PlanKind::Change { .. } => {
                self.prepare_ctx(plan);
                let result = (|| -> rusqlite::Result<usize> {
                    let mut stmt = self.link.conn.prepare_cached(&plan.sql)?;
                    for (i, name) in plan.params.iter().enumerate() {
                        let v = b.vars.values.get(name).cloned().unwrap_or(Sv::Null);
                        stmt.raw_bind_parameter(i + 1, v)?;
                    }
                    stmt.raw_execute()
                })();
                let n = result.map_err(|e| self.translate_error(e, plan))?;
                let last_identity = {
                    let mut ctx = self.ctx_lock();
                    ctx.session.rowcount = n as i64;
                    ctx.session.last_identity
                };
                b.session.last_identity = last_identity;
                self.done(b, Some(n as u64));
                Ok(())
            }
        }
    }

    /// SQL Server's error for a failed SQLite step: what a function reported, or the constraint
    /// SQLite enforced (2627 for a duplicate key, with the key's values).
    fn translate_error(&self, e: rusqlite::Error, plan: &Plan) -> SqlError {
        if storage::is_busy(&e) {
            return errors::LOCK_TIMEOUT.plain();
        }
        let mut ctx = self.ctx_lock();
        if let Some(pending) = ctx.pending_error.take() {
            return pending;
        }
        let message = match &e {
            rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
            other => other.to_string(),
        };
        if let Some(rest) = message
            .strip_prefix("UNIQUE constraint failed: ")
            .or_else(|| message.strip_prefix("PRIMARY KEY constraint failed: "))
        {
            if let Some(table) = &plan.target {
                let found = if temp::is_temp(table) {
                    self.txn.temp.get(table)
                } else {
                    self.meta.catalog.get(Schema::Dbo, table)
                };
                if let Some(t) = found {
                    let positions: Vec<usize> = rest
                        .split(", ")
                        .filter_map(|qualified| {
                            let column = qualified.rsplit('.').next().unwrap_or(qualified);
                            t.column(column).map(|(i, _)| i)
                        })
                        .collect();
                    if let Some(key) = t.key_on(&positions) {
                        let values: Vec<String> = key
                            .columns
                            .iter()
                            .map(|i| {
                                let name = &t.columns[*i].name;
                                ctx.last_key
                                    .iter()
                                    .find(|(c, _)| c == name)
                                    .map(|(_, v)| v.clone())
                                    .unwrap_or_else(|| "?".into())
                            })
                            .collect();
                        return errors::DUPLICATE_KEY.with(&[
                            if key.primary {
                                "PRIMARY KEY"
                            } else {
                                "UNIQUE KEY"
                            },
                            &key.name,
                            &t.two_part(),
                            &values.join(", "),
                        ]);
                    }
                }
            }
        }
        if let Some(rest) = message.strip_prefix("NOT NULL constraint failed: ") {
            let (table, column) = rest.split_once('.').unwrap_or(("", rest));
            return errors::NOT_NULL.with(&[column, table, "INSERT"]);
        }
        if message.contains("integer overflow") {
            return errors::ARITHMETIC_OVERFLOW.with(&["expression", "bigint"]);
        }
        errors::NOT_PREPARED.with(&[&message])
    }

    // ---- expressions outside queries -------------------------------------------------------

    fn scalar(
        &mut self,
        b: &Batch<'_>,
        e: &sqlparser::ast::Expr,
        db: &str,
    ) -> Result<(Sv, Option<SqlType>), SqlError> {
        let plan = Translator::new(&self.meta.catalog, db, &b.vars.types, None)
            .with_temp(&self.txn.temp)
            .scalar(e)?;
        self.check_permissions(b.session, &plan, db)?;
        let rows = self.query_rows(b, &plan)?;
        let source = match &plan.kind {
            PlanKind::Query { columns, .. } => columns.first().and_then(|c| c.info.ty.clone()),
            PlanKind::Change { .. } => None,
        };
        let v = rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or(Sv::Null);
        Ok((v, source))
    }

    fn condition(
        &mut self,
        b: &Batch<'_>,
        e: &sqlparser::ast::Expr,
        db: &str,
    ) -> Result<bool, SqlError> {
        let plan = Translator::new(&self.meta.catalog, db, &b.vars.types, None)
            .with_temp(&self.txn.temp)
            .condition(e)?;
        self.check_permissions(b.session, &plan, db)?;
        let rows = self.query_rows(b, &plan)?;
        Ok(matches!(
            rows.first().and_then(|r| r.first()),
            Some(Sv::Integer(1))
        ))
    }

    // ---- SET -------------------------------------------------------------------------------

    fn set(&mut self, b: &mut Batch<'_>, set: &Set, db: &str) -> Result<(), SqlError> {
        match set {
            Set::SetSessionParam(SetSessionParamKind::Generic(g)) => {
                for name in &g.names {
                    set_option(b.session, name, &g.value)?;
                }
                Ok(())
            }
            Set::SetSessionParam(SetSessionParamKind::IdentityInsert(ii)) => {
                let table = self.meta.catalog.resolve(&ii.obj, db)?;
                if table.identity.is_none() {
                    return Err(errors::IDENTITY_INSERT_NO_IDENTITY.with(&[&table.name]));
                }
                let on = matches!(ii.value, sqlparser::ast::SessionParamValue::On);
                b.session.options.identity_insert = on.then(|| table.name.clone());
                Ok(())
            }
            Set::SetSessionParam(SetSessionParamKind::Statistics(_)) => Ok(()),
            Set::SetSessionParam(other) => {
                Err(errors::NOT_SUPPORTED.with(&[&format!("SET {other}")]))
            }
            Set::SetTransaction { .. } => Ok(()),
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = super::catalog::display_name(variable);
                if !name.starts_with('@') {
                    let value = values.first().map(|v| v.to_string()).unwrap_or_default();
                    return set_option(b.session, &name, &value);
                }
                let key = name.to_lowercase();
                let ty = b
                    .vars
                    .types
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| errors::UNDECLARED_VARIABLE.with(&[&name]))?;
                let Some(e) = values.first() else {
                    return Err(errors::SYNTAX.with(&["="]));
                };
                let (v, source) = self.scalar(b, e, db)?;
                let value = match &ty.ty {
                    Some(t) => types::convert(
                        (&v).into(),
                        t,
                        source.as_ref(),
                        &Mode::Cast { try_: false },
                    )?,
                    None => v,
                };
                b.vars.set(&name, value, ty);
                Ok(())
            }
            other => Err(errors::NOT_SUPPORTED.with(&[&other
                .to_string()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")])),
        }
    }

    // ---- principals ------------------------------------------------------------------------

    fn create_user(
        &mut self,
        b: &mut Batch<'_>,
        name: &str,
        how: &NewUser,
    ) -> Result<(), SqlError> {
        if !Principals::may_manage_users(b.session) {
            return Err(errors::NO_PERMISSION.plain());
        }
        let now = sqlite_functions::now();
        match how {
            NewUser::External { object_id } => {
                let lookup = object_id.as_deref().unwrap_or(name);
                let entry = b
                    .directory
                    .find(lookup)
                    .ok_or_else(|| errors::EXTERNAL_PRINCIPAL_NOT_FOUND.with(&[name]))?;
                self.meta_mut()
                    .principals
                    .create_external_user(name, &entry, &now)?;
            }
            NewUser::Password(password) => {
                self.meta_mut()
                    .principals
                    .create_local_user(name, Some(password), &now)?
            }
            NewUser::WithoutLogin => self
                .meta_mut()
                .principals
                .create_local_user(name, None, &now)?,
            NewUser::FromLogin(login) => {
                if b.logins.iter().any(|l| l.eq_ignore_ascii_case(login)) {
                    return Err(errors::LOGIN_HAS_USER.plain());
                }
                return Err(errors::NOT_A_LOGIN.with(&[login]));
            }
        }
        self.done(b, None);
        Ok(())
    }

    fn permission(
        &mut self,
        b: &mut Batch<'_>,
        verb: PermissionVerb,
        permissions: &[String],
        on: Option<&(Option<String>, ObjectName)>,
        principals: &[String],
        db: &str,
    ) -> Result<(), SqlError> {
        let securable = match on {
            None => Securable::Database,
            Some((class, name)) => match class.as_deref() {
                None | Some("OBJECT") => {
                    let shown = super::catalog::display_name(name);
                    match self.meta.catalog.resolve(name, db) {
                        Ok(t) if t.schema == Schema::Dbo => Securable::Object(t.object_id),
                        _ => return Err(errors::CANNOT_FIND_OBJECT_GRANT.with(&[&shown])),
                    }
                }
                Some("SCHEMA") => {
                    let n = super::catalog::display_name(name);
                    if !n.eq_ignore_ascii_case("dbo") {
                        return Err(errors::CANNOT_FIND_OBJECT_GRANT.with(&[&n]));
                    }
                    Securable::Schema(Schema::Dbo.id())
                }
                Some("DATABASE") => Securable::Database,
                Some(other) => {
                    return Err(errors::NOT_SUPPORTED.with(&[&format!("permissions on {other}::")]))
                }
            },
        };
        if !self.meta.principals.may_manage_role(b.session, None) {
            return Err(match on {
                Some((_, name)) => {
                    errors::CANNOT_FIND_OBJECT_GRANT.with(&[&super::catalog::display_name(name)])
                }
                None => errors::NO_PERMISSION.plain(),
            });
        }
        let mut list = Vec::new();
        for p in permissions {
            if p == "ALL" || p == "ALL PRIVILEGES" {
                list.extend([
                    Permission::Select,
                    Permission::Insert,
                    Permission::Update,
                    Permission::Delete,
                    Permission::References,
                ]);
            } else {
                list.push(
                    Permission::parse(p)
                        .ok_or_else(|| errors::NOT_SUPPORTED.with(&[&format!("permission {p}")]))?,
                );
            }
        }
        for principal in principals {
            for permission in &list {
                self.meta_mut().principals.set_permission(
                    principal,
                    *permission,
                    securable.clone(),
                    verb == PermissionVerb::Deny,
                    verb == PermissionVerb::Revoke,
                )?;
            }
        }
        self.done(b, None);
        Ok(())
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
    let shown = super::catalog::display_name(name);
    temp::is_temp(shown.rsplit('.').next().unwrap_or(""))
}

/// The `SET` options drivers send after login, and a few scripts use.
fn set_option(session: &mut Session, name: &str, value: &str) -> Result<(), SqlError> {
    let upper = name.to_ascii_uppercase();
    let on_off = || -> Result<bool, SqlError> {
        match value.to_ascii_uppercase().as_str() {
            "ON" => Ok(true),
            "OFF" => Ok(false),
            _ => Err(errors::SET_OPTION_VALUE.with(&[value])),
        }
    };
    let number = || -> Result<i64, SqlError> {
        value
            .trim()
            .parse::<i64>()
            .map_err(|_| errors::SET_OPTION_VALUE.with(&[value]))
    };
    let options = &mut session.options;
    match upper.as_str() {
        "NOCOUNT" => options.nocount = on_off()?,
        "XACT_ABORT" => options.xact_abort = on_off()?,
        "ANSI_NULLS"
        | "ANSI_PADDING"
        | "ANSI_WARNINGS"
        | "ANSI_NULL_DFLT_ON"
        | "ANSI_NULL_DFLT_OFF"
        | "ANSI_DEFAULTS"
        | "ARITHABORT"
        | "ARITHIGNORE"
        | "CONCAT_NULL_YIELDS_NULL"
        | "CURSOR_CLOSE_ON_COMMIT"
        | "QUOTED_IDENTIFIER"
        | "NUMERIC_ROUNDABORT"
        | "FORCEPLAN"
        | "NO_BROWSETABLE" => {
            on_off()?;
        }
        "IMPLICIT_TRANSACTIONS" | "FMTONLY" | "NOEXEC" | "PARSEONLY" => {
            if on_off()? {
                return Err(errors::NOT_SUPPORTED.with(&[&format!("SET {upper} ON")]));
            }
        }
        "TEXTSIZE" => {
            let n = number()?;
            options.textsize = if n <= 0 {
                i32::MAX
            } else {
                n.min(i32::MAX as i64) as i32
            };
        }
        "LOCK_TIMEOUT" => options.lock_timeout = number()?.clamp(-1, i32::MAX as i64) as i32,
        "DATEFIRST" => {
            let n = number()?;
            if !(1..=7).contains(&n) {
                return Err(errors::SET_OPTION_VALUE.with(&[value]));
            }
            options.datefirst = n as u8;
        }
        "DATEFORMAT" => {
            let v = value.trim_matches('\'').to_ascii_lowercase();
            if !["mdy", "dmy", "ymd", "ydm", "myd", "dym"].contains(&v.as_str()) {
                return Err(errors::SET_OPTION_VALUE.with(&[value]));
            }
            options.dateformat = v;
        }
        "LANGUAGE" => {
            let v = value.trim_matches(|c| c == '\'' || c == '[' || c == ']');
            options.language = match v.to_ascii_lowercase().as_str() {
                "us_english" | "english" => "us_english".into(),
                _ => return Err(errors::NOT_SUPPORTED.with(&[&format!("SET LANGUAGE {v}")])),
            };
        }
        "DEADLOCK_PRIORITY" | "QUERY_GOVERNOR_COST_LIMIT" | "CONTEXT_INFO" => {}
        "ROWCOUNT" => {
            if number()? != 0 {
                return Err(errors::NOT_SUPPORTED.with(&["SET ROWCOUNT"]));
            }
        }
        _ => return Err(errors::SYNTAX.with(&[name])),
    }
    Ok(())
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
            Some(t) => rows.iter().map(|r| types::output_value(&r[i], t)).collect(),
            None => None,
        };
        let (ty, values) = match converted {
            Some(values) => (c.info.ty.clone().unwrap_or(SqlType::Int), values),
            None => {
                let ty = types::type_of_values(rows.iter().map(|r| &r[i]));
                let values = rows
                    .iter()
                    .map(|r| types::output_value(&r[i], &ty).unwrap_or(Value::Null))
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
