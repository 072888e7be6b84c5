//! Translated statements: planning (cached per connection and metadata version), the
//! permission checks, running a plan and its rows, SQLite errors as SQL Server's, and the
//! scalar expressions and conditions outside queries (`SET @v = ...`, `IF`).

use super::{result_set, writable, Batch, Exec};
use crate::sql::conversion;
use crate::sql::conversion::Mode;
use crate::sql::errors;
use crate::sql::errors::SqlError;
use crate::sql::outcome::Outcome;
use crate::sql::schema::Schema;
use crate::sql::session::Session;
use crate::sql::storage;
use crate::sql::temp;
use crate::sql::translate::{Plan, PlanKind, Translator};
use crate::sql::types::SqlType;
use crate::sql::values;
use rusqlite::types::Value as Sv;
use sqlparser::ast::Statement;
use std::sync::Arc;

impl Exec<'_> {
    pub(super) fn plan(
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

    pub(super) fn check_permissions(
        &self,
        session: &Session,
        plan: &Plan,
        db: &str,
    ) -> Result<(), SqlError> {
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

    pub(super) fn prepare_ctx(&self, plan: &Plan) {
        let mut ctx = self.ctx_lock();
        ctx.specs = plan.specs.clone();
        ctx.pending_error = None;
        ctx.last_key.clear();
    }

    /// Runs a query plan and returns its rows as stored values.
    pub(super) fn query_rows(
        &mut self,
        b: &Batch<'_>,
        plan: &Plan,
    ) -> Result<Vec<Vec<Sv>>, SqlError> {
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
                    values.push(values::owned(row.get_ref(i)?));
                }
                out.push(values);
            }
            Ok(out)
        })();
        result.map_err(|e| self.translate_error(e, plan))
    }

    pub(super) fn run_plan(
        &mut self,
        b: &mut Batch<'_>,
        plan: &Plan,
        db: &str,
    ) -> Result<(), SqlError> {
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
                                    Some(t) => conversion::convert(
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
    pub(super) fn translate_error(&self, e: rusqlite::Error, plan: &Plan) -> SqlError {
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

    pub(super) fn scalar(
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

    pub(super) fn condition(
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
}
