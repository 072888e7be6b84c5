//! One database: its SQLite connection (in memory, behind a mutex: calls are short and a batch
//! runs whole before the next), its catalog and principals, and the executor that runs parsed
//! statements for a session — DDL, DML and queries through [`translate`](super::translate), users
//! and roles through [`principals`](super::principals), `SET`, `IF`, variables, transactions —
//! producing one [`Outcome`] per statement and stopping at the first error.

use super::catalog::{quote, Catalog, Schema, Table};
use super::errors;
use super::functions::{self, CtxSession, FnCtx, IdentityCounter, Shared};
use super::parse::{Located, NewUser, PermissionVerb, Stmt};
use super::principals::{Kind, Permission, Principals, Securable};
use super::translate::{OutColumn, Plan, PlanKind, Translator};
use super::types::{self, Mode, TypeContext, TypeInfo};
use super::{Column, Outcome, ResultSet, Session, SqlError, SqlType, Value};
use crate::identity::Directory;
use rusqlite::types::Value as Sv;
use rusqlite::Connection;
use sqlparser::ast::{
    DeclareAssignment, ObjectName, ObjectType, Set, SetSessionParamKind, Statement, Use,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// How many translated statements a database keeps.
const PLAN_CACHE_SIZE: usize = 512;

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
    state: Mutex<State>,
}

struct Snapshot {
    catalog: Catalog,
    principals: Principals,
    identity: HashMap<String, IdentityCounter>,
}

struct State {
    conn: Connection,
    catalog: Catalog,
    principals: Principals,
    ctx: Shared,
    plans: HashMap<String, (u64, Arc<Plan>)>,
    generation: u64,
    tran_depth: u32,
    snapshot: Option<Snapshot>,
}

fn sqlite_failure(e: rusqlite::Error) -> SqlError {
    errors::NOT_PREPARED.with(&[&e.to_string()])
}

impl Database {
    /// A new, empty database.
    pub(crate) fn create(name: &str) -> Result<Database, SqlError> {
        let created = functions::now();
        let conn = Connection::open_in_memory().map_err(sqlite_failure)?;
        let ctx: Shared = Arc::new(Mutex::new(FnCtx::default()));
        functions::register(&conn, ctx.clone()).map_err(sqlite_failure)?;
        conn.set_prepared_statement_cache_capacity(256);
        conn.execute_batch(
            "ATTACH DATABASE ':memory:' AS sys; ATTACH DATABASE ':memory:' AS information_schema;",
        )
        .map_err(sqlite_failure)?;
        let catalog = Catalog::new(&created);
        for t in catalog.tables() {
            conn.execute_batch(&t.sqlite_ddl())
                .map_err(sqlite_failure)?;
        }
        let mut state = State {
            conn,
            catalog,
            principals: Principals::new(&created),
            ctx,
            plans: HashMap::new(),
            generation: 0,
            tran_depth: 0,
            snapshot: None,
        };
        state.ctx_lock().session.database = name.to_string();
        state.sync_system(name).map_err(sqlite_failure)?;
        Ok(Database {
            name: name.to_string(),
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The user an access token's identity maps to: (name, principal id, roles), or `None`.
    pub(crate) fn external_user(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> Option<(String, i32, Vec<String>)> {
        let state = self.lock();
        let p = state.principals.find_external(tenant_id, key)?;
        Some((p.name.clone(), p.id, state.principals.roles_of(p.id)))
    }

    /// A contained user whose password matches: (name, principal id, roles).
    pub(crate) fn contained_user(
        &self,
        user: &str,
        password: &str,
    ) -> Option<(String, i32, Vec<String>)> {
        let state = self.lock();
        let p = state.principals.find(user)?;
        match &p.kind {
            Kind::Contained { password: stored } if stored.matches(password) => {
                Some((p.name.clone(), p.id, state.principals.roles_of(p.id)))
            }
            _ => None,
        }
    }

    /// Runs parsed statements for a session, stopping at the first error.
    pub(crate) fn execute(&self, batch: &mut Batch<'_>, statements: &[Located]) {
        let mut state = self.lock();
        state.begin_batch(batch.session, &self.name);
        let mut failed = false;
        for (index, located) in statements.iter().enumerate() {
            if let Err(e) = state.run(batch, located, Some(index), &self.name) {
                batch.out.push(Outcome::Error(e));
                failed = true;
                break;
            }
        }
        if state.tran_depth > 0 {
            let _ = state.rollback(&self.name);
            if !failed {
                let mut e = errors::TRANSACTION_OPEN_AT_END.plain();
                e.line = statements.last().map(|s| s.line).unwrap_or(1);
                batch.out.push(Outcome::Error(e));
            }
        }
        let ctx = state.ctx_lock();
        batch.session.last_identity = ctx.session.last_identity;
    }
}

impl State {
    fn ctx_lock(&self) -> MutexGuard<'_, FnCtx> {
        functions::lock(&self.ctx)
    }

    fn begin_batch(&mut self, session: &Session, database: &str) {
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
            trancount: 0,
        };
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
        match &located.stmt {
            Stmt::Sql(s) => self.statement(b, s, index, db).map_err(at_line),
            Stmt::CreateUser { name, how } => self.create_user(b, name, how, db).map_err(at_line),
            Stmt::Permission {
                verb,
                permissions,
                on,
                principals,
            } => self
                .permission(b, *verb, permissions, on.as_ref(), principals, db)
                .map_err(at_line),
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
            Statement::CreateTable(ct) => {
                if !Principals::may_ddl(b.session) {
                    return Err(errors::CREATE_TABLE_DENIED.with(&[db]));
                }
                let table = self.catalog.define(ct, db, &functions::now())?;
                self.conn
                    .execute_batch(&table.sqlite_ddl())
                    .map_err(sqlite_failure)?;
                if let Some(identity) = table.identity {
                    let range = table.columns[identity.column]
                        .ty
                        .integer_range()
                        .unwrap_or((i64::MIN, i64::MAX));
                    self.ctx_lock().identity.insert(
                        table.name.to_lowercase(),
                        IdentityCounter {
                            seed: identity.seed,
                            step: identity.step,
                            last: None,
                            range,
                        },
                    );
                }
                self.catalog.add(table);
                self.catalog_changed(db)?;
                self.done(b, None);
                Ok(())
            }
            Statement::CreateIndex(ci) => {
                if !Principals::may_ddl(b.session) {
                    return Err(errors::CANNOT_FIND_OBJECT
                        .with(&[&super::catalog::display_name(&ci.table_name)]));
                }
                let table = self.catalog.resolve(&ci.table_name, db)?.clone();
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
                self.conn.execute_batch(&sql).map_err(|e| match e {
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
                            self.principals.drop_user(&n, *if_exists)?;
                        }
                        self.principals_changed(db)?;
                    }
                    ObjectType::Role => {
                        for name in names {
                            let n = super::catalog::display_name(name);
                            if !self.principals.may_manage_role(b.session, Some(&n)) {
                                return Err(errors::CANNOT_DROP_ROLE.with(&[&n]));
                            }
                            self.principals.drop_role(&n, *if_exists)?;
                        }
                        self.principals_changed(db)?;
                    }
                    other => return Err(errors::NOT_SUPPORTED.with(&[&format!("DROP {other}")])),
                }
                self.done(b, None);
                Ok(())
            }
            Statement::Truncate(t) => {
                for target in &t.table_names {
                    let shown = super::catalog::display_name(&target.name);
                    let table = match self.catalog.resolve(&target.name, db) {
                        Ok(t) if t.schema == Schema::Dbo => t.clone(),
                        _ => return Err(errors::CANNOT_FIND_OBJECT.with(&[&shown])),
                    };
                    if !Principals::may_ddl(b.session) {
                        return Err(errors::CANNOT_FIND_OBJECT.with(&[&shown]));
                    }
                    self.conn
                        .execute(&format!("DELETE FROM {}", table.sqlite_name()), [])
                        .map_err(sqlite_failure)?;
                    if let Some(c) = self.ctx_lock().identity.get_mut(&table.name.to_lowercase()) {
                        c.last = None;
                    }
                }
                self.done(b, None);
                Ok(())
            }
            Statement::CreateRole(cr) => {
                if !self.principals.may_manage_role(b.session, None) {
                    return Err(errors::NO_PERMISSION.plain());
                }
                let owner = cr
                    .authorization_owner
                    .as_ref()
                    .map(super::catalog::display_name);
                for name in &cr.names {
                    let n = super::catalog::display_name(name);
                    self.principals
                        .create_role(&n, owner.as_deref(), &functions::now())?;
                }
                self.principals_changed(db)?;
                self.done(b, None);
                Ok(())
            }
            Statement::AlterRole { name, operation } => {
                use sqlparser::ast::AlterRoleOperation;
                let role = name.value.clone();
                if !self.principals.may_manage_role(b.session, Some(&role)) {
                    return Err(errors::CANNOT_ALTER_ROLE.with(&[&role]));
                }
                match operation {
                    AlterRoleOperation::AddMember { member_name } => {
                        self.principals
                            .alter_role(&role, &member_name.value, true)?
                    }
                    AlterRoleOperation::DropMember { member_name } => {
                        self.principals
                            .alter_role(&role, &member_name.value, false)?
                    }
                    _ => return Err(errors::NOT_SUPPORTED.with(&["ALTER ROLE ... WITH NAME"])),
                }
                self.principals_changed(db)?;
                self.done(b, None);
                Ok(())
            }
            Statement::Set(set) => {
                self.set(b, set, db)?;
                self.done(b, None);
                Ok(())
            }
            Statement::StartTransaction { begin, .. } => {
                if !begin {
                    return Err(errors::SYNTAX.with(&["START"]));
                }
                if self.tran_depth == 0 {
                    self.conn.execute_batch("BEGIN").map_err(sqlite_failure)?;
                    let identity = self.ctx_lock().identity.clone();
                    self.snapshot = Some(Snapshot {
                        catalog: self.catalog.clone(),
                        principals: self.principals.clone(),
                        identity,
                    });
                }
                self.tran_depth += 1;
                self.ctx_lock().session.trancount = self.tran_depth as i64;
                self.done(b, None);
                Ok(())
            }
            Statement::Commit { .. } => {
                if self.tran_depth == 0 {
                    return Err(errors::COMMIT_WITHOUT_BEGIN.plain());
                }
                self.tran_depth -= 1;
                if self.tran_depth == 0 {
                    self.conn.execute_batch("COMMIT").map_err(sqlite_failure)?;
                    self.snapshot = None;
                }
                self.ctx_lock().session.trancount = self.tran_depth as i64;
                self.done(b, None);
                Ok(())
            }
            Statement::Rollback { savepoint, .. } => {
                if savepoint.is_some() {
                    return Err(errors::NOT_SUPPORTED.with(&["ROLLBACK to a savepoint"]));
                }
                if self.tran_depth == 0 {
                    return Err(errors::ROLLBACK_WITHOUT_BEGIN.plain());
                }
                self.rollback(db)?;
                self.done(b, None);
                Ok(())
            }
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
                    &SqlType::NVarChar(super::Length::Max),
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

    fn rollback(&mut self, db: &str) -> Result<(), SqlError> {
        self.conn
            .execute_batch("ROLLBACK")
            .map_err(sqlite_failure)?;
        self.tran_depth = 0;
        if let Some(snapshot) = self.snapshot.take() {
            self.catalog = snapshot.catalog;
            self.principals = snapshot.principals;
            let mut ctx = self.ctx_lock();
            let current = std::mem::take(&mut ctx.identity);
            for (table, counter) in snapshot.identity {
                let kept = current.get(&table).cloned().unwrap_or(counter);
                ctx.identity.insert(table, kept);
            }
            ctx.session.trancount = 0;
            drop(ctx);
            self.generation += 1;
            self.plans.clear();
            self.sync_system(db).map_err(sqlite_failure)?;
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
        let table = match self.catalog.resolve(name, db) {
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
        self.conn
            .execute_batch(&format!("DROP TABLE {}", table.sqlite_name()))
            .map_err(sqlite_failure)?;
        self.catalog.remove(table.schema, &table.name);
        self.ctx_lock().identity.remove(&table.name.to_lowercase());
        self.catalog_changed(db)
    }

    fn catalog_changed(&mut self, db: &str) -> Result<(), SqlError> {
        self.generation += 1;
        self.plans.clear();
        self.sync_system(db).map_err(sqlite_failure)
    }

    fn principals_changed(&mut self, db: &str) -> Result<(), SqlError> {
        self.sync_system(db).map_err(sqlite_failure)
    }

    /// Rewrites the system views from the catalog and the principals, and refreshes what
    /// `IS_ROLEMEMBER` reads.
    fn sync_system(&mut self, db: &str) -> rusqlite::Result<()> {
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
            &self.conn,
            "sys.database_principals",
            self.principals.principal_rows(),
        )?;
        fill(
            &self.conn,
            "sys.database_role_members",
            self.principals.member_rows(),
        )?;
        fill(
            &self.conn,
            "sys.database_permissions",
            self.principals.permission_rows(),
        )?;
        let user_tables: Vec<&Table> = self
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
        fill(&self.conn, "sys.objects", objects)?;
        fill(
            &self.conn,
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
                    SqlType::VarBinary(super::Length::Fixed(n)) => Sv::Integer(*n as i64),
                    SqlType::VarBinary(super::Length::Max) => Sv::Integer(-1),
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
        fill(&self.conn, "sys.columns", columns)?;
        fill(
            &self.conn,
            "sys.schemas",
            vec![
                vec![text("dbo"), int(1), int(1)],
                vec![text("guest"), int(2), int(2)],
                vec![text("INFORMATION_SCHEMA"), int(3), int(3)],
                vec![text("sys"), int(4), int(4)],
            ],
        )?;
        fill(
            &self.conn,
            "information_schema.TABLES",
            user_tables
                .iter()
                .map(|t| vec![text(db), text("dbo"), text(&t.name), text("BASE TABLE")])
                .collect(),
        )?;
        fill(&self.conn, "information_schema.COLUMNS", info_columns)?;
        let memberships = self.principals.memberships();
        let role_names = self
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
        let key = index.map(|i| format!("{i}\u{1}{}\u{1}{}", b.vars.signature(), b.text));
        let identity_insert = b.session.options.identity_insert.clone();
        let key = key.map(|k| format!("{k}\u{1}{identity_insert:?}"));
        if let Some(k) = &key {
            if let Some((generation, plan)) = self.plans.get(k) {
                if *generation == self.generation {
                    return Ok(plan.clone());
                }
            }
        }
        let t = Translator::new(&self.catalog, db, &b.vars.types, identity_insert.as_deref());
        let plan = Arc::new(match s {
            Statement::Query(q) => t.select_statement(q)?,
            Statement::Insert(i) => t.insert(i)?,
            Statement::Update(u) => t.update(u)?,
            Statement::Delete(d) => t.delete(d)?,
            _ => return Err(errors::NOT_SUPPORTED.with(&["statement"])),
        });
        if let Some(k) = key {
            if self.plans.len() >= PLAN_CACHE_SIZE {
                self.plans.clear();
            }
            self.plans.insert(k, (self.generation, plan.clone()));
        }
        Ok(plan)
    }

    fn check_permissions(&self, session: &Session, plan: &Plan, db: &str) -> Result<(), SqlError> {
        for check in &plan.checks {
            let Some(table) = self.catalog.get(check.schema, &check.table) else {
                return Err(errors::INVALID_OBJECT.with(&[&check.table]));
            };
            if !self.principals.allowed(session, check.permission, table) {
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
            let mut stmt = self.conn.prepare_cached(&plan.sql)?;
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
                        b.out.push(Outcome::Rows(result_set(columns, rows)));
                    }
                }
                Ok(())
            }
            PlanKind::Change { .. } => {
                self.prepare_ctx(plan);
                let result = (|| -> rusqlite::Result<usize> {
                    let mut stmt = self.conn.prepare_cached(&plan.sql)?;
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
                if let Some(t) = self.catalog.get(Schema::Dbo, table) {
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
        let plan = Translator::new(&self.catalog, db, &b.vars.types, None).scalar(e)?;
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
        let plan = Translator::new(&self.catalog, db, &b.vars.types, None).condition(e)?;
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
                let table = self.catalog.resolve(&ii.obj, db)?;
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
        db: &str,
    ) -> Result<(), SqlError> {
        if !Principals::may_manage_users(b.session) {
            return Err(errors::NO_PERMISSION.plain());
        }
        let now = functions::now();
        match how {
            NewUser::External { object_id } => {
                let lookup = object_id.as_deref().unwrap_or(name);
                let entry = b
                    .directory
                    .find(lookup)
                    .ok_or_else(|| errors::EXTERNAL_PRINCIPAL_NOT_FOUND.with(&[name]))?;
                self.principals.create_external_user(name, &entry, &now)?;
            }
            NewUser::Password(password) => {
                self.principals
                    .create_local_user(name, Some(password), &now)?
            }
            NewUser::WithoutLogin => self.principals.create_local_user(name, None, &now)?,
            NewUser::FromLogin(login) => {
                if b.logins.iter().any(|l| l.eq_ignore_ascii_case(login)) {
                    return Err(errors::LOGIN_HAS_USER.plain());
                }
                return Err(errors::NOT_A_LOGIN.with(&[login]));
            }
        }
        self.principals_changed(db)?;
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
                    match self.catalog.resolve(name, db) {
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
        if !self.principals.may_manage_role(b.session, None) {
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
                self.principals.set_permission(
                    principal,
                    *permission,
                    securable.clone(),
                    verb == PermissionVerb::Deny,
                    verb == PermissionVerb::Revoke,
                )?;
            }
        }
        self.principals_changed(db)?;
        self.done(b, None);
        Ok(())
    }
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
    }
}
