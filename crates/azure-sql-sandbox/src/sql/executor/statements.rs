//! The statement dispatcher: each parsed statement to what runs it — DDL, DML and queries as plans,
//! `DECLARE`/`SET`/`IF`, `USE`, `EXEC`, users and roles, `GRANT`, transactions.

use super::{is_temp_name, writable, Batch, Exec};
use crate::sql::catalog::quote;
use crate::sql::conversion;
use crate::sql::conversion::Mode;
use crate::sql::errors;
use crate::sql::errors::SqlError;
use crate::sql::outcome::Outcome;
use crate::sql::parse::{TxnName, TxnStmt};
use crate::sql::principals::Principals;
use crate::sql::schema::Schema;
use crate::sql::sqlite_functions::{self, IdentityCounter};
use crate::sql::storage::sqlite_failure;
use crate::sql::types::{self, TypeContext, TypeInfo};
use crate::sql::types::{Length, SqlType};
use rusqlite::types::Value as Sv;
use sqlparser::ast::{DeclareAssignment, ObjectType, Statement, Use};

impl Exec<'_> {
    pub(super) fn statement(
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
                        .with(&[&crate::sql::catalog::display_name(&ci.table_name)]));
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
                    .map(crate::sql::catalog::display_name)
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
                            let n = crate::sql::catalog::display_name(name);
                            if !Principals::may_manage_users(b.session) {
                                return Err(errors::CANNOT_DROP_USER.with(&[&n]));
                            }
                            self.meta_mut().principals.drop_user(&n, *if_exists)?;
                        }
                    }
                    ObjectType::Role => {
                        for name in names {
                            let n = crate::sql::catalog::display_name(name);
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
                    let shown = crate::sql::catalog::display_name(&target.name);
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
                    .map(crate::sql::catalog::display_name);
                for name in &cr.names {
                    let n = crate::sql::catalog::display_name(name);
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
                    Use::Object(n) | Use::Database(n) => crate::sql::catalog::display_name(n),
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
                                conversion::convert(
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
                let text = match conversion::convert(
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
                    .map(crate::sql::catalog::display_name)
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
}
