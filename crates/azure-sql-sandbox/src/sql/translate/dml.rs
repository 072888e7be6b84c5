//! `INSERT` (`VALUES`, `SELECT`, `DEFAULT VALUES`, `OUTPUT`), `UPDATE` and `DELETE`: the target table, its
//! permission checks, defaults and identity values, and each stored value converted as SQL Server
//! stores it into its column.

use super::{
    object_name_last, table_columns, unsupported, Frame, OutColumn, Plan, PlanKind, Source,
    Translator, E,
};
use crate::sql::catalog::{display_name, quote, Table};
use crate::sql::conversion::{Mode, StoreTarget};
use crate::sql::errors::{self, SqlError};
use crate::sql::principals::Permission;
use crate::sql::schema::Schema;
use crate::sql::sqlite_functions::Spec;
use crate::sql::types::{SqlType, TypeInfo};
use sqlparser::ast::{
    AssignmentTarget, Delete, Expr, FromTable, Ident, Insert, ObjectName, OutputClause, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, TableFactor, TableObject, Update,
};

impl<'a> Translator<'a> {
    pub(super) fn target_table(&mut self, name: &ObjectName) -> Result<&'a Table, SqlError> {
        let table = self.resolve(name)?;
        if !matches!(table.schema, Schema::Dbo | Schema::Temp) {
            return Err(errors::CATALOG_UPDATE.plain());
        }
        Ok(table)
    }

    pub(super) fn default_expr(&mut self, table: &Table, column: usize) -> Result<E, SqlError> {
        match table.columns[column].default.clone() {
            Some(d) => {
                self.frames.push(Frame::default());
                let e = self.expr(&d);
                self.frames.pop();
                e
            }
            None => Ok(E::new("NULL".into(), TypeInfo::unknown())),
        }
    }

    pub(super) fn store(
        &mut self,
        table: &Table,
        column: usize,
        sql: &str,
        source: Option<SqlType>,
        operation: &'static str,
    ) -> String {
        let c = &table.columns[column];
        let mode = Mode::Store(StoreTarget {
            qualified_table: table.qualified(self.database),
            column: c.name.clone(),
            nullable: c.nullable,
            operation,
        });
        let key_column = table.is_key_column(column).then(|| c.name.clone());
        let id = self.specs.len();
        if c.identity {
            self.specs.push(Spec::IdentitySeen {
                table: table.name.to_lowercase(),
                target: c.ty.clone(),
                source,
                mode,
                key_column,
            });
        } else {
            self.specs.push(Spec::Convert {
                target: c.ty.clone(),
                source,
                mode,
                key_column,
            });
        }
        format!("mssql_conv({sql}, {id})")
    }

    /// `INSERT INTO t [(columns)] {VALUES (...), ... | SELECT ... | DEFAULT VALUES}`.
    pub(crate) fn insert(mut self, ins: &Insert) -> Result<Plan, SqlError> {
        let TableObject::TableName(name) = &ins.table else {
            return Err(unsupported("INSERT into a function"));
        };
        let table = self.target_table(name)?;
        if ins.returning.is_some() {
            return Err(errors::SYNTAX.with(&["RETURNING"]));
        }
        if !ins.assignments.is_empty() || ins.on.is_some() {
            return Err(unsupported("INSERT ... SET / ON DUPLICATE"));
        }
        self.check(Permission::Insert, table);
        let identity_insert = self
            .identity_insert
            .is_some_and(|t| t.eq_ignore_ascii_case(&table.name));
        let explicit_list = !ins.columns.is_empty();
        let mut targets: Vec<usize> = Vec::new();
        if explicit_list {
            for c in &ins.columns {
                let column_name = object_name_last(c);
                let (i, column) = table
                    .column(&column_name)
                    .ok_or_else(|| errors::INVALID_COLUMN.with(&[&column_name]))?;
                if targets.contains(&i) {
                    return Err(errors::DUPLICATE_INSERT_COLUMN.with(&[&column.name]));
                }
                if column.identity && !identity_insert {
                    return Err(errors::IDENTITY_INSERT_OFF.with(&[&table.name]));
                }
                targets.push(i);
            }
        } else {
            if identity_insert {
                return Err(errors::IDENTITY_NEEDS_COLUMN_LIST.with(&[&table.two_part()]));
            }
            targets = (0..table.columns.len())
                .filter(|i| !table.columns[*i].identity)
                .collect();
        }

        // The source: rows of VALUES, a query, or DEFAULT VALUES.
        let mut source_sql: Option<String> = None;
        let mut source_types: Vec<Option<SqlType>> = Vec::new();
        let mut defaults_in_values: Vec<bool> = vec![false; targets.len()];
        match &ins.source {
            None => {
                if explicit_list {
                    return Err(errors::COLUMN_COUNT_MISMATCH.plain());
                }
                targets.clear();
            }
            Some(q) => match (&*q.body, &q.with, &q.order_by) {
                (SetExpr::Values(values), None, None) => {
                    let mut rows = Vec::new();
                    self.frames.push(Frame::default());
                    for (r, row) in values.rows.iter().enumerate() {
                        if row.len() != targets.len() {
                            self.frames.pop();
                            return Err(if !explicit_list {
                                errors::COLUMN_COUNT_MISMATCH.plain()
                            } else if row.len() < targets.len() {
                                errors::MORE_COLUMNS_THAN_VALUES.plain()
                            } else {
                                errors::FEWER_COLUMNS_THAN_VALUES.plain()
                            });
                        }
                        let mut cells = Vec::new();
                        for (k, e) in row.iter().enumerate() {
                            if matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("DEFAULT"))
                            {
                                let d = self.default_expr(table, targets[k])?;
                                cells.push(d.sql);
                                if r == 0 {
                                    defaults_in_values[k] = true;
                                    source_types.push(d.ty.ty);
                                }
                                continue;
                            }
                            let v = self.expr(e)?;
                            if r == 0 {
                                source_types.push(v.ty.ty.clone());
                            } else if source_types[k].is_none() {
                                source_types[k] = v.ty.ty.clone();
                            }
                            cells.push(v.sql);
                        }
                        rows.push(format!("({})", cells.join(", ")));
                    }
                    self.frames.pop();
                    source_sql = Some(format!("VALUES {}", rows.join(", ")));
                }
                _ => {
                    let e = self.query(q, false)?;
                    if e.columns.len() != targets.len() {
                        return Err(if !explicit_list {
                            errors::COLUMN_COUNT_MISMATCH.plain()
                        } else if e.columns.len() < targets.len() {
                            errors::SELECT_LIST_FEWER.plain()
                        } else {
                            errors::SELECT_LIST_MORE.plain()
                        });
                    }
                    source_types = e.columns.iter().map(|c| c.info.ty.clone()).collect();
                    source_sql = Some(e.sql);
                }
            },
        }

        let mut column_names = Vec::new();
        let mut values = Vec::new();
        for (i, column) in table.columns.iter().enumerate() {
            column_names.push(quote(&column.name));
            if let Some(k) = targets.iter().position(|t| *t == i) {
                let v = format!("\"v{}\"", k + 1);
                let stored = self.store(
                    table,
                    i,
                    &v,
                    source_types.get(k).cloned().flatten(),
                    "INSERT",
                );
                values.push(stored);
                let _ = defaults_in_values;
            } else if column.identity {
                let id = self.specs.len();
                self.specs.push(Spec::Identity {
                    table: table.name.to_lowercase(),
                    key_column: table.is_key_column(i).then(|| column.name.clone()),
                });
                values.push(format!("mssql_identity({id})"));
            } else {
                let d = self.default_expr(table, i)?;
                let stored = self.store(table, i, &d.sql, d.ty.ty, "INSERT");
                values.push(stored);
            }
        }
        let sql = match source_sql {
            Some(src) => {
                let names: Vec<String> = (1..=targets.len()).map(|k| format!("\"v{k}\"")).collect();
                format!(
                    "WITH \"src\"({}) AS ({src}) INSERT INTO {} ({}) SELECT {} FROM \"src\"",
                    names.join(", "),
                    table.sqlite_name(),
                    column_names.join(", "),
                    values.join(", ")
                )
            }
            None => format!(
                "INSERT INTO {} ({}) SELECT {}",
                table.sqlite_name(),
                column_names.join(", "),
                values.join(", ")
            ),
        };
        self.change(table, sql, ins.output.as_ref(), &["INSERTED"])
    }

    /// Finishes an `INSERT`/`UPDATE`/`DELETE`: a row count, or with `OUTPUT` the rows it
    /// changed (SQLite's `RETURNING`), read through the `pseudo` tables it names.
    pub(super) fn change(
        mut self,
        table: &Table,
        mut sql: String,
        output: Option<&OutputClause>,
        pseudo: &[&str],
    ) -> Result<Plan, SqlError> {
        self.target = Some(table.name.clone());
        let Some(output) = output else {
            let kind = PlanKind::Change {
                table: table.name.clone(),
            };
            return Ok(self.finish(sql, kind));
        };
        let OutputClause::Output {
            select_items,
            into_table,
            ..
        } = output
        else {
            return Err(errors::SYNTAX.with(&["RETURNING"]));
        };
        if into_table.is_some() {
            return Err(unsupported("OUTPUT ... INTO"));
        }
        let columns = table_columns(table);
        let mut frame = Frame::default();
        for name in ["INSERTED", "DELETED"] {
            if pseudo.contains(&name) {
                frame.sources.push(Source {
                    exposed: name.to_string(),
                    schema: None,
                    sql_alias: String::new(),
                    columns: columns.clone(),
                });
            }
        }
        self.frames.push(frame);
        let mut items = Vec::new();
        let mut out = Vec::new();
        for item in select_items {
            match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    if let Expr::CompoundIdentifier(parts) = e {
                        let first = parts.first().map(|p| p.value.to_ascii_uppercase());
                        if matches!(first.as_deref(), Some("INSERTED" | "DELETED"))
                            && !pseudo.contains(&first.as_deref().unwrap_or(""))
                        {
                            self.frames.pop();
                            return Err(unsupported(&format!(
                                "OUTPUT {} in this statement",
                                parts[0].value
                            )));
                        }
                    }
                    let x = self.expr(e)?;
                    let name = match item {
                        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                        _ => match e {
                            Expr::CompoundIdentifier(parts) => {
                                parts.last().map(|p| p.value.clone()).unwrap_or_default()
                            }
                            Expr::Identifier(i) => i.value.clone(),
                            _ => String::new(),
                        },
                    };
                    items.push(x.sql);
                    out.push(OutColumn { name, info: x.ty });
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(n),
                    _,
                ) if pseudo
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(&display_name(n))) =>
                {
                    for (name, info) in &columns {
                        items.push(quote(name));
                        out.push(OutColumn {
                            name: name.clone(),
                            info: info.clone(),
                        });
                    }
                }
                other => {
                    self.frames.pop();
                    return Err(unsupported(&format!("OUTPUT {other}")));
                }
            }
        }
        self.frames.pop();
        sql.push_str(" RETURNING ");
        sql.push_str(&items.join(", "));
        let kind = PlanKind::Query {
            columns: out,
            top_percent: None,
            assign: None,
        };
        Ok(self.finish(sql, kind))
    }

    pub(super) fn single_table_source(&mut self, table: &Table, alias: Option<&Ident>) -> String {
        let sql_alias = self.fresh("t");
        let source = Source::table(table, alias.map(|a| a.value.clone()), sql_alias.clone());
        self.frames.push(Frame {
            sources: vec![source],
        });
        sql_alias
    }

    /// `UPDATE t SET column = value, ... [WHERE ...]`.
    pub(crate) fn update(mut self, u: &Update) -> Result<Plan, SqlError> {
        if u.from.is_some() || !u.table.joins.is_empty() {
            return Err(unsupported("UPDATE ... FROM"));
        }
        if u.returning.is_some() {
            return Err(errors::SYNTAX.with(&["RETURNING"]));
        }
        if u.limit.is_some() || !u.order_by.is_empty() {
            return Err(unsupported("UPDATE TOP"));
        }
        let TableFactor::Table { name, alias, .. } = &u.table.relation else {
            return Err(unsupported("UPDATE of a derived table"));
        };
        let table = self.target_table(name)?;
        self.check(Permission::Update, table);
        if u.selection.is_some() {
            self.check(Permission::Select, table);
        }
        let sql_alias = self.single_table_source(table, alias.as_ref().map(|a| &a.name));
        let mut sets = Vec::new();
        let mut seen: Vec<usize> = Vec::new();
        for a in &u.assignments {
            let AssignmentTarget::ColumnName(target) = &a.target else {
                return Err(unsupported("UPDATE SET (tuple)"));
            };
            let column_name = object_name_last(target);
            if column_name.starts_with('@') {
                return Err(unsupported("SET @variable inside UPDATE"));
            }
            let (i, column) = table
                .column(&column_name)
                .ok_or_else(|| errors::INVALID_COLUMN.with(&[&column_name]))?;
            if column.identity {
                return Err(errors::UPDATE_IDENTITY.with(&[&column.name]));
            }
            if seen.contains(&i) {
                return Err(errors::DUPLICATE_INSERT_COLUMN.with(&[&column.name]));
            }
            seen.push(i);
            let v = self.expr(&a.value)?;
            let stored = self.store(table, i, &v.sql, v.ty.ty, "UPDATE");
            sets.push(format!("{} = {stored}", quote(&column.name)));
        }
        let mut sql = format!(
            "UPDATE {} AS {sql_alias} SET {}",
            table.sqlite_name(),
            sets.join(", ")
        );
        if let Some(w) = &u.selection {
            let c = self.expr(w)?;
            sql.push_str(" WHERE ");
            sql.push_str(&c.sql);
        }
        self.frames.pop();
        self.change(table, sql, u.output.as_ref(), &["INSERTED"])
    }

    /// `DELETE [FROM] t [WHERE ...]`.
    pub(crate) fn delete(mut self, d: &Delete) -> Result<Plan, SqlError> {
        let from = match &d.from {
            FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
        };
        if !d.tables.is_empty() || d.using.is_some() || from.len() != 1 || !from[0].joins.is_empty()
        {
            return Err(unsupported("DELETE ... FROM with joins"));
        }
        if d.returning.is_some() {
            return Err(errors::SYNTAX.with(&["RETURNING"]));
        }
        if d.limit.is_some() || !d.order_by.is_empty() {
            return Err(unsupported("DELETE TOP"));
        }
        let TableFactor::Table { name, alias, .. } = &from[0].relation else {
            return Err(unsupported("DELETE from a derived table"));
        };
        let table = self.target_table(name)?;
        self.check(Permission::Delete, table);
        if d.selection.is_some() {
            self.check(Permission::Select, table);
        }
        let sql_alias = self.single_table_source(table, alias.as_ref().map(|a| &a.name));
        let mut sql = format!("DELETE FROM {} AS {sql_alias}", table.sqlite_name());
        if let Some(w) = &d.selection {
            let c = self.expr(w)?;
            sql.push_str(" WHERE ");
            sql.push_str(&c.sql);
        }
        self.frames.pop();
        self.change(table, sql, d.output.as_ref(), &["DELETED"])
    }
}
