//! T-SQL → SQLite, with SQL Server's name resolution and types: turns a parsed `SELECT`,
//! `INSERT`, `UPDATE` or `DELETE` into a [`Plan`] — the SQLite text to run, the variables it binds
//! (`@P1`, `@name`, never spliced into the text), the conversions it applies, the permissions it
//! needs and, for a query, the SQL Server type of each column it returns.
//!
//! Names resolve as SQL Server resolves them (`dbo.` or none for tables, `sys.` and
//! `INFORMATION_SCHEMA.` for the system views, aliases, correlated subqueries), so an unknown table
//! is 208, an unknown column 207, an ambiguous one 209, before SQLite sees anything. Expressions
//! get SQL Server's types (a table column its declared type, `'a' + 'b'` concatenation, `1 + '2'`
//! addition, `CAST` the target type) and keep its semantics where SQLite differs: `+` on strings,
//! divide by zero as error 8134, `CAST` failures as 245, `TOP` as `LIMIT`, `LEN` ignoring trailing
//! blanks, `ISNULL`, `GETDATE()`, `USER_NAME()`, `SERVERPROPERTY`, ...

use super::catalog::{display_name, quote, split_dotted, Catalog, Schema, Table};
use super::errors::{self, SqlError};
use super::principals::Permission;
use super::sqlite_functions::Spec;
use super::temp::{self, TempTables};
use super::types::{parse_type, Mode, StoreTarget, TypeContext, TypeInfo};
use super::types::{Length, SqlType};
use sqlparser::ast::{
    AssignmentTarget, BinaryOperator, CastKind, Delete, Distinct, Expr, FromTable, Function,
    FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, Insert, JoinConstraint,
    JoinOperator, LimitClause, ObjectName, ObjectNamePart, OrderBy, OrderByKind, OrderBySort,
    OutputClause, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, SetOperator,
    SetQuantifier, TableFactor, TableObject, TableWithJoins, TopQuantity, UnaryOperator, Update,
    Value as AstValue, WindowType,
};
use std::collections::HashMap;
use std::sync::Arc;

/// What `@@VERSION` answers.
pub(crate) const VERSION: &str = "Microsoft SQL Azure (RTM) - 12.0.2000.8 \n\tJan  1 2025 00:00:00 \n\tCopyright (C) 2022 Microsoft Corporation\n\t(azure-sql-sandbox: T-SQL on an embedded SQLite engine)";
/// What `@@SERVERNAME` and `SERVERPROPERTY('ServerName')` answer.
pub(crate) const SERVER_NAME: &str = "azure-sql-sandbox";

/// A permission a plan needs on a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Check {
    pub permission: Permission,
    pub schema: Schema,
    pub table: String,
}

/// A result column of a query.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OutColumn {
    pub name: String,
    pub info: TypeInfo,
}

/// What a plan does when it runs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PlanKind {
    /// A result set. `top_percent`: keep that share of the rows (rounded up). `assign`: `SELECT
    /// @v = ...` assigns the last row's values to these variables instead of returning rows.
    Query {
        columns: Vec<OutColumn>,
        top_percent: Option<f64>,
        assign: Option<Vec<(String, TypeInfo)>>,
    },
    /// `INSERT`, `UPDATE` or `DELETE` on `table`: a row count.
    Change { table: String },
}

/// A translated statement, ready to run (and to cache: it depends only on the catalog and the
/// variables' types).
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub sql: String,
    /// The variables bound to `?1`, `?2`, ... (lower case, with their `@`).
    pub params: Vec<String>,
    pub specs: Arc<[Spec]>,
    pub checks: Vec<Check>,
    pub kind: PlanKind,
    /// The table an `INSERT`, `UPDATE` or `DELETE` changes (for error 2627's key).
    pub target: Option<String>,
}

/// An expression in SQLite and its SQL Server type.
struct E {
    sql: String,
    ty: TypeInfo,
}

impl E {
    fn new(sql: String, ty: TypeInfo) -> Self {
        Self { sql, ty }
    }
}

#[derive(Clone, Debug)]
struct Source {
    /// The name the query uses for it: the alias, or the table's name.
    exposed: String,
    /// The table's schema when the source is a table without alias (so `dbo.T.col` resolves).
    schema: Option<Schema>,
    sql_alias: String,
    columns: Vec<(String, TypeInfo)>,
}

impl Source {
    /// A table in FROM: exposed as its alias, or as its name (and then `schema.table.col`
    /// resolves too).
    fn table(table: &Table, alias: Option<String>, sql_alias: String) -> Self {
        Source {
            schema: if alias.is_none() {
                Some(table.schema)
            } else {
                None
            },
            exposed: alias.unwrap_or_else(|| table.name.clone()),
            sql_alias,
            columns: table_columns(table),
        }
    }
}

/// A table's columns with their types, as a source exposes them.
fn table_columns(table: &Table) -> Vec<(String, TypeInfo)> {
    table
        .columns
        .iter()
        .map(|c| (c.name.clone(), TypeInfo::of(c.ty.clone(), c.nullable)))
        .collect()
}

#[derive(Default)]
struct Frame {
    sources: Vec<Source>,
}

#[derive(Clone)]
struct Cte {
    name: String,
    sql_name: String,
    columns: Vec<(String, TypeInfo)>,
}

struct Emitted {
    sql: String,
    columns: Vec<OutColumn>,
    top_percent: Option<f64>,
    assign: Option<Vec<(String, TypeInfo)>>,
}

/// A session without temporary tables.
static NO_TEMP_TABLES: TempTables = TempTables::EMPTY;

/// Translates statements against one database's catalog.
pub(crate) struct Translator<'a> {
    catalog: &'a Catalog,
    /// The session's temporary tables (`#name`).
    temp: &'a TempTables,
    database: &'a str,
    vars: &'a HashMap<String, TypeInfo>,
    identity_insert: Option<&'a str>,
    frames: Vec<Frame>,
    ctes: Vec<Cte>,
    params: Vec<String>,
    specs: Vec<Spec>,
    checks: Vec<Check>,
    counter: usize,
    target: Option<String>,
}

fn unsupported(what: &str) -> SqlError {
    errors::NOT_SUPPORTED.with(&[what])
}

fn first_words(s: String, n: usize) -> String {
    s.split_whitespace().take(n).collect::<Vec<_>>().join(" ")
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn nvarchar(n: u16) -> SqlType {
    SqlType::NVarChar(Length::Fixed(n))
}

fn int_type() -> TypeInfo {
    TypeInfo::of(SqlType::Int, false)
}

/// A literal string argument (`N'x'`, `'x'`), for functions folded while translating.
fn literal_string(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            AstValue::SingleQuotedString(s) | AstValue::NationalStringLiteral(s) => Some(s.clone()),
            _ => None,
        },
        Expr::Nested(e) => literal_string(e),
        _ => None,
    }
}

fn object_name_last(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => i.value.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// The type of an arithmetic result: SQL Server's precedence, `BIT` promoted to `INT`.
fn arithmetic_type(a: &SqlType, b: &SqlType, op: &BinaryOperator) -> SqlType {
    let top = if a.precedence() >= b.precedence() {
        a
    } else {
        b
    };
    match top {
        SqlType::Bit => SqlType::Int,
        SqlType::Decimal { .. } => {
            let scale = |t: &SqlType| match t {
                SqlType::Decimal { scale, .. } => *scale,
                _ => 0,
            };
            let s = scale(a).max(scale(b));
            let s = if matches!(op, BinaryOperator::Divide) {
                s.max(6)
            } else {
                s
            };
            SqlType::Decimal {
                precision: 38,
                scale: s,
            }
        }
        other => other.clone(),
    }
}

/// The common type of `CASE` branches, `COALESCE` arguments, `UNION` columns.
fn common_type(types: &[&TypeInfo]) -> TypeInfo {
    let nullable = types.iter().any(|t| t.nullable);
    let known: Vec<&SqlType> = types.iter().filter_map(|t| t.ty.as_ref()).collect();
    let Some(first) = known.first() else {
        return TypeInfo::unknown();
    };
    let mut best: SqlType = (*first).clone();
    for t in &known[1..] {
        if t.precedence() > best.precedence() {
            best = (*t).clone();
        }
    }
    if best.is_character() {
        let max = known
            .iter()
            .filter(|t| t.is_character())
            .map(|t| t.char_length())
            .try_fold(0u16, |acc, l| l.map(|b| acc.max(b)));
        let unicode = known.iter().any(|t| t.is_unicode());
        best = match (unicode, max) {
            (true, Some(n)) => SqlType::NVarChar(Length::Fixed(n.max(1))),
            (true, None) => SqlType::NVarChar(Length::Max),
            (false, Some(n)) => SqlType::VarChar(Length::Fixed(n.max(1))),
            (false, None) => SqlType::VarChar(Length::Max),
        };
    }
    TypeInfo {
        ty: Some(best),
        nullable,
    }
}

impl<'a> Translator<'a> {
    pub(crate) fn new(
        catalog: &'a Catalog,
        database: &'a str,
        vars: &'a HashMap<String, TypeInfo>,
        identity_insert: Option<&'a str>,
    ) -> Self {
        Translator {
            catalog,
            temp: &NO_TEMP_TABLES,
            database,
            vars,
            identity_insert,
            frames: Vec::new(),
            ctes: Vec::new(),
            params: Vec::new(),
            specs: Vec::new(),
            checks: Vec::new(),
            counter: 0,
            target: None,
        }
    }

    /// The session's temporary tables, which names starting with `#` resolve to.
    pub(crate) fn with_temp(mut self, temp: &'a TempTables) -> Self {
        self.temp = temp;
        self
    }

    /// The table a name in a statement refers to: a temporary table of the session, or one of
    /// the database's; error 208 naming it as written.
    fn resolve(&self, name: &ObjectName) -> Result<&'a Table, SqlError> {
        let last = object_name_last(name);
        if !temp::is_temp(&last) {
            return self.catalog.resolve(name, self.database);
        }
        if last.starts_with("##") {
            return Err(unsupported("global temporary tables (##name)"));
        }
        self.temp
            .get(&last)
            .ok_or_else(|| errors::INVALID_OBJECT.with(&[&display_name(name)]))
    }

    fn finish(self, sql: String, kind: PlanKind) -> Plan {
        Plan {
            sql,
            params: self.params,
            specs: self.specs.into(),
            checks: self.checks,
            kind,
            target: self.target,
        }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("\"{prefix}{}\"", self.counter)
    }

    fn check(&mut self, permission: Permission, table: &Table) {
        if table.schema == Schema::Temp {
            // Its creator may do anything with a temporary table; nobody else sees it.
            return;
        }
        let check = Check {
            permission,
            schema: table.schema,
            table: table.name.clone(),
        };
        if !self.checks.contains(&check) {
            self.checks.push(check);
        }
    }

    fn conv(&mut self, sql: &str, target: SqlType, source: Option<SqlType>, mode: Mode) -> String {
        let id = self.specs.len();
        self.specs.push(Spec::Convert {
            target,
            source,
            mode,
            key_column: None,
        });
        format!("mssql_conv({sql}, {id})")
    }

    // ---- statements ------------------------------------------------------------------------

    /// A `SELECT` statement.
    pub(crate) fn select_statement(mut self, q: &Query) -> Result<Plan, SqlError> {
        let e = self.query(q, true)?;
        let kind = PlanKind::Query {
            columns: e.columns,
            top_percent: e.top_percent,
            assign: e.assign,
        };
        Ok(self.finish(e.sql, kind))
    }

    /// `SELECT CASE WHEN condition THEN 1 ELSE 0 END`, for `IF`.
    pub(crate) fn condition(mut self, condition: &Expr) -> Result<Plan, SqlError> {
        self.frames.push(Frame::default());
        let c = self.expr(condition)?;
        self.frames.pop();
        let sql = format!("SELECT CASE WHEN {} THEN 1 ELSE 0 END", c.sql);
        Ok(self.finish(
            sql,
            PlanKind::Query {
                columns: vec![OutColumn {
                    name: String::new(),
                    info: int_type(),
                }],
                top_percent: None,
                assign: None,
            },
        ))
    }

    /// `SELECT expression`, for `SET @v = ...`, `DECLARE @v = ...`, `PRINT ...`.
    pub(crate) fn scalar(mut self, e: &Expr) -> Result<Plan, SqlError> {
        self.frames.push(Frame::default());
        let v = self.expr(e)?;
        self.frames.pop();
        let sql = format!("SELECT {}", v.sql);
        Ok(self.finish(
            sql,
            PlanKind::Query {
                columns: vec![OutColumn {
                    name: String::new(),
                    info: v.ty,
                }],
                top_percent: None,
                assign: None,
            },
        ))
    }

    fn target_table(&mut self, name: &ObjectName) -> Result<&'a Table, SqlError> {
        let table = self.resolve(name)?;
        if !matches!(table.schema, Schema::Dbo | Schema::Temp) {
            return Err(errors::CATALOG_UPDATE.plain());
        }
        Ok(table)
    }

    fn default_expr(&mut self, table: &Table, column: usize) -> Result<E, SqlError> {
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

    fn store(
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
    fn change(
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

    fn single_table_source(&mut self, table: &Table, alias: Option<&Ident>) -> String {
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

    // ---- queries ---------------------------------------------------------------------------

    #[recursive::recursive]
    fn query(&mut self, q: &Query, top_level: bool) -> Result<Emitted, SqlError> {
        if q.for_clause.is_some() {
            return Err(unsupported("FOR XML / FOR JSON"));
        }
        if !q.locks.is_empty() {
            return Err(unsupported("FOR UPDATE"));
        }
        let cte_mark = self.ctes.len();
        let result = self.query_inner(q, top_level);
        self.ctes.truncate(cte_mark);
        result
    }

    fn query_inner(&mut self, q: &Query, top_level: bool) -> Result<Emitted, SqlError> {
        let mut sql = String::new();
        if let Some(with) = &q.with {
            let mut parts = Vec::new();
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.clone();
                let sql_name = self.fresh("cte");
                // A recursive CTE refers to itself: make it visible with its anchor's columns.
                if let SetExpr::SetOperation { left, .. } = &*cte.query.body {
                    if let Ok(anchor) = self.set_expr_probe(left) {
                        let columns = self.name_cte_columns(&name, &cte.alias.columns, anchor)?;
                        self.ctes.push(Cte {
                            name: name.clone(),
                            sql_name: sql_name.clone(),
                            columns,
                        });
                    }
                }
                let inner = self.query(&cte.query, false)?;
                let columns = self.name_cte_columns(&name, &cte.alias.columns, inner.columns)?;
                if let Some(existing) = self.ctes.iter_mut().rev().find(|c| c.sql_name == sql_name)
                {
                    existing.columns = columns.clone();
                } else {
                    self.ctes.push(Cte {
                        name,
                        sql_name: sql_name.clone(),
                        columns: columns.clone(),
                    });
                }
                let names: Vec<String> = columns.iter().map(|(n, _)| quote(n)).collect();
                parts.push(format!(
                    "{sql_name}({}) AS ({})",
                    names.join(", "),
                    inner.sql
                ));
            }
            sql.push_str("WITH RECURSIVE ");
            sql.push_str(&parts.join(", "));
            sql.push(' ');
        }

        let mut top_percent = None;
        let mut limit: Option<String> = None;
        let (body_sql, columns, assign, order_sql) = match &*q.body {
            SetExpr::Select(s) => {
                let (select_sql, columns, top, assign) = self.select(s)?;
                let order = match &q.order_by {
                    Some(ob) => Some(self.order_by(ob, &columns, true)?),
                    None => None,
                };
                self.frames.pop();
                if let Some((quantity, percent)) = top {
                    if percent {
                        if !top_level {
                            return Err(unsupported("TOP ... PERCENT in a subquery"));
                        }
                        top_percent = Some(quantity.parse::<f64>().unwrap_or(100.0));
                    } else {
                        limit = Some(quantity);
                    }
                }
                (select_sql, columns, assign, order)
            }
            other => {
                let (body, columns) = self.set_expr(other)?;
                let order = match &q.order_by {
                    Some(ob) => Some(self.order_by(ob, &columns, false)?),
                    None => None,
                };
                (body, columns, None, order)
            }
        };
        sql.push_str(&body_sql);
        if let Some(o) = order_sql {
            sql.push_str(" ORDER BY ");
            sql.push_str(&o);
        }
        let mut offset: Option<String> = None;
        if let Some(lc) = &q.limit_clause {
            match lc {
                LimitClause::LimitOffset {
                    limit: l,
                    offset: o,
                    limit_by,
                } => {
                    if !limit_by.is_empty() || l.is_some() {
                        return Err(unsupported("LIMIT"));
                    }
                    if let Some(o) = o {
                        self.frames.push(Frame::default());
                        let v = self.expr(&o.value);
                        self.frames.pop();
                        offset = Some(v?.sql);
                    }
                }
                LimitClause::OffsetCommaLimit { .. } => return Err(unsupported("LIMIT")),
            }
        }
        if let Some(f) = &q.fetch {
            if f.with_ties || f.percent {
                return Err(unsupported("FETCH ... WITH TIES / PERCENT"));
            }
            if let Some(quantity) = &f.quantity {
                self.frames.push(Frame::default());
                let v = self.expr(quantity);
                self.frames.pop();
                let v = v?.sql;
                limit = Some(match limit {
                    Some(l) => format!("min({l}, {v})"),
                    None => v,
                });
            }
        }
        match (limit, offset) {
            (Some(l), Some(o)) => sql.push_str(&format!(" LIMIT {l} OFFSET {o}")),
            (Some(l), None) => sql.push_str(&format!(" LIMIT {l}")),
            (None, Some(o)) => sql.push_str(&format!(" LIMIT -1 OFFSET {o}")),
            (None, None) => {}
        }
        Ok(Emitted {
            sql,
            columns,
            top_percent,
            assign,
        })
    }

    fn name_cte_columns(
        &self,
        name: &str,
        aliases: &[sqlparser::ast::TableAliasColumnDef],
        columns: Vec<OutColumn>,
    ) -> Result<Vec<(String, TypeInfo)>, SqlError> {
        if !aliases.is_empty() && aliases.len() != columns.len() {
            return Err(errors::NOT_SUPPORTED.with(&[&format!(
                "'{name}' has {} column names for {} columns",
                aliases.len(),
                columns.len()
            )]));
        }
        columns
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let n = aliases
                    .get(i)
                    .map(|a| a.name.value.clone())
                    .unwrap_or(c.name);
                if n.is_empty() {
                    Err(errors::NO_COLUMN_NAME.with(&[&(i + 1).to_string(), name]))
                } else {
                    Ok((n, c.info))
                }
            })
            .collect()
    }

    /// The columns of a set-expression member, for a recursive CTE's anchor (no side effects on
    /// the plan are kept).
    fn set_expr_probe(&mut self, e: &SetExpr) -> Result<Vec<OutColumn>, SqlError> {
        let (params, specs, checks, counter) = (
            self.params.len(),
            self.specs.len(),
            self.checks.len(),
            self.counter,
        );
        let r = self.set_expr(e).map(|(_, c)| c);
        self.params.truncate(params);
        self.specs.truncate(specs);
        self.checks.truncate(checks);
        self.counter = counter;
        r
    }

    /// A `UNION`/`EXCEPT`/`INTERSECT` member or a whole set operation, with its columns.
    #[recursive::recursive]
    fn set_expr(&mut self, e: &SetExpr) -> Result<(String, Vec<OutColumn>), SqlError> {
        match e {
            SetExpr::Select(s) => {
                let (sql, columns, top, assign) = self.select(s)?;
                self.frames.pop();
                if assign.is_some() {
                    return Err(unsupported("variable assignment in a UNION"));
                }
                match top {
                    Some((_, true)) => Err(unsupported("TOP ... PERCENT in a UNION")),
                    Some((n, false)) => Ok((format!("SELECT * FROM ({sql} LIMIT {n})"), columns)),
                    None => Ok((sql, columns)),
                }
            }
            SetExpr::Query(q) => {
                let inner = self.query(q, false)?;
                Ok((format!("SELECT * FROM ({})", inner.sql), inner.columns))
            }
            SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let (l, lc) = self.set_expr(left)?;
                let (r, rc) = self.set_expr(right)?;
                if lc.len() != rc.len() {
                    return Err(errors::NOT_SUPPORTED.with(&[
                        "All queries combined using a UNION, INTERSECT or EXCEPT operator must have an equal number of expressions in their target lists",
                    ]));
                }
                let op = match op {
                    SetOperator::Union => "UNION",
                    SetOperator::Except | SetOperator::Minus => "EXCEPT",
                    SetOperator::Intersect => "INTERSECT",
                };
                let quantifier = match set_quantifier {
                    SetQuantifier::All => " ALL",
                    SetQuantifier::None | SetQuantifier::Distinct => "",
                    _ => return Err(unsupported("BY NAME")),
                };
                let columns = lc
                    .iter()
                    .zip(&rc)
                    .map(|(a, b)| OutColumn {
                        name: a.name.clone(),
                        info: common_type(&[&a.info, &b.info]),
                    })
                    .collect();
                Ok((format!("{l} {op}{quantifier} {r}"), columns))
            }
            SetExpr::Values(v) => {
                self.frames.push(Frame::default());
                let mut rows = Vec::new();
                let mut types: Vec<TypeInfo> = Vec::new();
                for row in &v.rows {
                    let mut cells = Vec::new();
                    for (k, e) in row.iter().enumerate() {
                        let x = self.expr(e)?;
                        match types.get_mut(k) {
                            Some(t) => *t = common_type(&[t, &x.ty]),
                            None => types.push(x.ty.clone()),
                        }
                        cells.push(x.sql);
                    }
                    rows.push(format!("({})", cells.join(", ")));
                }
                self.frames.pop();
                let columns = types
                    .into_iter()
                    .map(|info| OutColumn {
                        name: String::new(),
                        info,
                    })
                    .collect();
                Ok((format!("VALUES {}", rows.join(", ")), columns))
            }
            _ => Err(unsupported("this kind of query")),
        }
    }

    /// A `SELECT` core; leaves its frame pushed so `ORDER BY` can see its sources. Returns the
    /// SQL, the columns, the `TOP` (quantity, percent) and the variables it assigns.
    #[allow(clippy::type_complexity)]
    fn select(
        &mut self,
        s: &Select,
    ) -> Result<
        (
            String,
            Vec<OutColumn>,
            Option<(String, bool)>,
            Option<Vec<(String, TypeInfo)>>,
        ),
        SqlError,
    > {
        if s.into.is_some() {
            return Err(unsupported("SELECT INTO"));
        }
        if !s.lateral_views.is_empty() || s.qualify.is_some() || !s.named_window.is_empty() {
            return Err(unsupported("this SELECT clause"));
        }
        self.frames.push(Frame::default());
        let mut from_parts = Vec::new();
        for twj in &s.from {
            from_parts.push(self.table_with_joins(twj)?);
        }
        let where_sql = match &s.selection {
            Some(w) => Some(self.expr(w)?.sql),
            None => None,
        };
        let group_sql = match &s.group_by {
            GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return Err(unsupported("GROUP BY ... WITH ROLLUP / CUBE"));
                }
                let mut parts = Vec::new();
                for e in exprs {
                    parts.push(self.expr(e)?.sql);
                }
                parts
            }
            GroupByExpr::All(_) => return Err(unsupported("GROUP BY ALL")),
        };
        let having_sql = match &s.having {
            Some(h) => Some(self.expr(h)?.sql),
            None => None,
        };
        let mut items = Vec::new();
        let mut columns = Vec::new();
        let mut assign: Vec<(String, TypeInfo)> = Vec::new();
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let x = self.expr(e)?;
                    let name = match e {
                        Expr::Identifier(i)
                            if !(i.value.starts_with('@')
                                || (i.quote_style.is_none() && is_niladic(&i.value))) =>
                        {
                            i.value.clone()
                        }
                        Expr::CompoundIdentifier(parts) => {
                            parts.last().map(|i| i.value.clone()).unwrap_or_default()
                        }
                        _ => String::new(),
                    };
                    items.push(x.sql);
                    columns.push(OutColumn { name, info: x.ty });
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let x = self.expr(expr)?;
                    if alias.value.starts_with('@') {
                        let var = alias.value.to_lowercase();
                        let ty = self
                            .vars
                            .get(&var)
                            .cloned()
                            .ok_or_else(|| errors::UNDECLARED_VARIABLE.with(&[&alias.value]))?;
                        assign.push((var, ty));
                    }
                    items.push(x.sql);
                    columns.push(OutColumn {
                        name: alias.value.clone(),
                        info: x.ty,
                    });
                }
                SelectItem::Wildcard(_) => {
                    let frame = self
                        .frames
                        .last()
                        .map(|f| f.sources.clone())
                        .unwrap_or_default();
                    if frame.is_empty() {
                        return Err(errors::NOT_SUPPORTED.with(&["SELECT * with no tables"]));
                    }
                    for source in frame {
                        for (name, info) in source.columns {
                            items.push(format!("{}.{}", source.sql_alias, quote(&name)));
                            columns.push(OutColumn { name, info });
                        }
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let qualifier = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(n) => n.clone(),
                        SelectItemQualifiedWildcardKind::Expr(e) => {
                            return Err(unsupported(&format!("{e}.*")))
                        }
                    };
                    let source = self.find_source(&qualifier).ok_or_else(|| {
                        errors::MULTIPART_NOT_BOUND
                            .with(&[&format!("{}.*", display_name(&qualifier))])
                    })?;
                    for (name, info) in source.columns {
                        items.push(format!("{}.{}", source.sql_alias, quote(&name)));
                        columns.push(OutColumn { name, info });
                    }
                }
                SelectItem::ExprWithAliases { .. } => return Err(unsupported("multiple aliases")),
            }
        }
        if !assign.is_empty() && assign.len() != columns.len() {
            return Err(errors::NOT_SUPPORTED.with(&[
                "A SELECT statement that assigns a value to a variable must not be combined with data-retrieval operations",
            ]));
        }
        let mut sql = String::from("SELECT ");
        match &s.distinct {
            Some(Distinct::Distinct) => sql.push_str("DISTINCT "),
            Some(Distinct::All) | None => {}
            Some(Distinct::On(_)) => return Err(unsupported("DISTINCT ON")),
        }
        let projected: Vec<String> = items
            .iter()
            .zip(&columns)
            .enumerate()
            .map(|(i, (sql, c))| {
                if c.name.is_empty() {
                    format!("{sql} AS \"__c{}\"", i + 1)
                } else {
                    format!("{sql} AS {}", quote(&c.name))
                }
            })
            .collect();
        sql.push_str(&projected.join(", "));
        if !from_parts.is_empty() {
            sql.push_str(" FROM ");
            sql.push_str(&from_parts.join(", "));
        }
        if let Some(w) = where_sql {
            sql.push_str(" WHERE ");
            sql.push_str(&w);
        }
        if !group_sql.is_empty() {
            sql.push_str(" GROUP BY ");
            sql.push_str(&group_sql.join(", "));
        }
        if let Some(h) = having_sql {
            sql.push_str(" HAVING ");
            sql.push_str(&h);
        }
        let top = match &s.top {
            None => None,
            Some(t) => {
                if t.with_ties {
                    return Err(unsupported("TOP ... WITH TIES"));
                }
                let quantity = match &t.quantity {
                    Some(TopQuantity::Constant(n)) => n.to_string(),
                    Some(TopQuantity::Expr(e)) => {
                        let x = self.expr(e)?;
                        if t.percent {
                            match literal_number(e) {
                                Some(p) if (0.0..=100.0).contains(&p) => p.to_string(),
                                Some(_) => return Err(errors::TOP_PERCENT_RANGE.plain()),
                                None => return Err(unsupported("TOP (expression) PERCENT")),
                            }
                        } else {
                            x.sql
                        }
                    }
                    None => return Err(errors::SYNTAX.with(&["TOP"])),
                };
                if t.percent {
                    if let Ok(p) = quantity.parse::<f64>() {
                        if !(0.0..=100.0).contains(&p) {
                            return Err(errors::TOP_PERCENT_RANGE.plain());
                        }
                    }
                }
                Some((quantity, t.percent))
            }
        };
        let assign = (!assign.is_empty()).then_some(assign);
        Ok((sql, columns, top, assign))
    }

    fn order_by(
        &mut self,
        ob: &OrderBy,
        columns: &[OutColumn],
        in_scope: bool,
    ) -> Result<String, SqlError> {
        let OrderByKind::Expressions(exprs) = &ob.kind else {
            return Err(unsupported("ORDER BY ALL"));
        };
        let mut parts = Vec::new();
        for o in exprs {
            let mut term = match &o.expr {
                Expr::Value(v) if matches!(v.value, AstValue::Number(_, _)) => {
                    let n: usize = v.value.to_string().parse().unwrap_or(0);
                    if n == 0 || n > columns.len() {
                        return Err(errors::ORDER_BY_POSITION.with(&[&n.to_string()]));
                    }
                    n.to_string()
                }
                Expr::Identifier(i)
                    if columns
                        .iter()
                        .any(|c| c.name.eq_ignore_ascii_case(&i.value)) =>
                {
                    let position = columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(&i.value))
                        .unwrap_or(0);
                    if in_scope {
                        quote(&columns[position].name)
                    } else {
                        (position + 1).to_string()
                    }
                }
                other if in_scope => self.expr(other)?.sql,
                other => {
                    return Err(errors::ORDER_BY_NOT_IN_UNION.with(&[&other.to_string()]));
                }
            };
            match o.options.sort {
                Some(OrderBySort::Desc) => term.push_str(" DESC"),
                Some(OrderBySort::Asc) | None => {}
                Some(_) => return Err(unsupported("ORDER BY USING")),
            }
            parts.push(term);
        }
        Ok(parts.join(", "))
    }

    fn table_with_joins(&mut self, twj: &TableWithJoins) -> Result<String, SqlError> {
        let mut sql = self.table_factor(&twj.relation)?;
        for join in &twj.joins {
            let before = self.frames.last().map(|f| f.sources.len()).unwrap_or(0);
            let (keyword, constraint, left_nullable, right_nullable) = match &join.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) => ("JOIN", Some(c), false, false),
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => {
                    ("LEFT JOIN", Some(c), false, true)
                }
                JoinOperator::Right(c) | JoinOperator::RightOuter(c) => {
                    ("RIGHT JOIN", Some(c), true, false)
                }
                JoinOperator::FullOuter(c) => ("FULL JOIN", Some(c), true, true),
                JoinOperator::CrossJoin(_) => ("CROSS JOIN", None, false, false),
                JoinOperator::CrossApply | JoinOperator::OuterApply => {
                    return Err(unsupported("APPLY"))
                }
                _ => return Err(unsupported("this kind of join")),
            };
            let right = self.table_factor(&join.relation)?;
            let on = match constraint {
                Some(JoinConstraint::On(e)) => format!(" ON {}", self.expr(e)?.sql),
                Some(JoinConstraint::None) | None => String::new(),
                Some(_) => return Err(unsupported("JOIN USING / NATURAL")),
            };
            if let Some(frame) = self.frames.last_mut() {
                for (i, s) in frame.sources.iter_mut().enumerate() {
                    let nullable = if i < before {
                        left_nullable
                    } else {
                        right_nullable
                    };
                    if nullable {
                        for (_, t) in &mut s.columns {
                            t.nullable = true;
                        }
                    }
                }
            }
            sql = format!("{sql} {keyword} {right}{on}");
        }
        Ok(sql)
    }

    fn table_factor(&mut self, tf: &TableFactor) -> Result<String, SqlError> {
        match tf {
            TableFactor::Table {
                name,
                alias,
                args,
                version,
                ..
            } => {
                if args.is_some() || version.is_some() {
                    return Err(unsupported("table-valued functions"));
                }
                if let Some(a) = alias {
                    if !a.columns.is_empty() {
                        return Err(unsupported("column aliases on a table"));
                    }
                }
                let exposed_alias = alias.as_ref().map(|a| a.name.value.clone());
                // A CTE in scope, by its single-part name.
                if name.0.len() == 1 {
                    let n = object_name_last(name);
                    if let Some(cte) = self
                        .ctes
                        .iter()
                        .rev()
                        .find(|c| c.name.eq_ignore_ascii_case(&n))
                        .cloned()
                    {
                        let sql_alias = self.fresh("t");
                        self.push_source(Source {
                            exposed: exposed_alias.unwrap_or(cte.name),
                            schema: None,
                            sql_alias: sql_alias.clone(),
                            columns: cte.columns,
                        });
                        return Ok(format!("{} AS {sql_alias}", cte.sql_name));
                    }
                }
                let table = self.resolve(name)?;
                self.check(Permission::Select, table);
                let sql_alias = self.fresh("t");
                self.push_source(Source::table(
                    table,
                    exposed_alias.clone(),
                    sql_alias.clone(),
                ));
                Ok(format!("{} AS {sql_alias}", table.sqlite_name()))
            }
            TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                if *lateral {
                    return Err(unsupported("LATERAL"));
                }
                let Some(alias) = alias else {
                    return Err(errors::SYNTAX.with(&[")"]));
                };
                let current = self.frames.pop().unwrap_or_default();
                let inner = self.query(subquery, false);
                self.frames.push(current);
                let inner = inner?;
                let name = alias.name.value.clone();
                let columns = self.name_cte_columns(&name, &alias.columns, inner.columns)?;
                let sql_alias = self.fresh("t");
                self.push_source(Source {
                    exposed: name,
                    schema: None,
                    sql_alias: sql_alias.clone(),
                    columns,
                });
                Ok(format!("({}) AS {sql_alias}", inner.sql))
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if alias.is_some() {
                    return Err(unsupported("an alias on a parenthesized join"));
                }
                Ok(format!("({})", self.table_with_joins(table_with_joins)?))
            }
            other => Err(unsupported(&first_words(other.to_string(), 2))),
        }
    }

    fn push_source(&mut self, source: Source) {
        if self.frames.is_empty() {
            self.frames.push(Frame::default());
        }
        if let Some(frame) = self.frames.last_mut() {
            frame.sources.push(source);
        }
    }

    /// The source a qualifier (`c`, `Customer`, `dbo.Customer`) names, innermost scope first.
    fn find_source(&self, qualifier: &ObjectName) -> Option<Source> {
        let parts: Vec<String> = qualifier
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => i.value.clone(),
                other => other.to_string(),
            })
            .collect();
        self.find_source_parts(&parts)
    }

    fn find_source_parts(&self, parts: &[String]) -> Option<Source> {
        let (schema, name) = match parts {
            [n] => (None, n),
            [s, n] => (Some(s.as_str()), n),
            [_, s, n] => (Some(s.as_str()), n),
            _ => return None,
        };
        for frame in self.frames.iter().rev() {
            for source in &frame.sources {
                if !source.exposed.eq_ignore_ascii_case(name) {
                    continue;
                }
                match (schema, source.schema) {
                    (None, _) => return Some(source.clone()),
                    (Some(s), Some(actual)) if s.eq_ignore_ascii_case(actual.name()) => {
                        return Some(source.clone())
                    }
                    _ => {}
                }
            }
        }
        None
    }

    fn column(&mut self, parts: &[Ident]) -> Result<E, SqlError> {
        let shown = parts
            .iter()
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let Some((last, qualifier)) = parts.split_last() else {
            return Err(errors::SYNTAX.with(&[""]));
        };
        if qualifier.is_empty() {
            for frame in self.frames.iter().rev() {
                let mut found: Option<E> = None;
                for source in &frame.sources {
                    if let Some((name, info)) = source
                        .columns
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&last.value))
                    {
                        if found.is_some() {
                            return Err(errors::AMBIGUOUS_COLUMN.with(&[&last.value]));
                        }
                        found = Some(E::new(qualified(&source.sql_alias, name), info.clone()));
                    }
                }
                if let Some(e) = found {
                    return Ok(e);
                }
            }
            return Err(errors::INVALID_COLUMN.with(&[&last.value]));
        }
        let qualifier: Vec<String> = qualifier.iter().map(|i| i.value.clone()).collect();
        let source = self
            .find_source_parts(&qualifier)
            .ok_or_else(|| errors::MULTIPART_NOT_BOUND.with(&[&shown]))?;
        let (name, info) = source
            .columns
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&last.value))
            .ok_or_else(|| errors::INVALID_COLUMN.with(&[&last.value]))?;
        Ok(E::new(qualified(&source.sql_alias, name), info.clone()))
    }

    fn variable(&mut self, name: &str) -> Result<E, SqlError> {
        let key = name.to_lowercase();
        let ty = self
            .vars
            .get(&key)
            .cloned()
            .ok_or_else(|| errors::UNDECLARED_VARIABLE.with(&[name]))?;
        let index = match self.params.iter().position(|p| *p == key) {
            Some(i) => i,
            None => {
                self.params.push(key);
                self.params.len() - 1
            }
        };
        Ok(E::new(format!("?{}", index + 1), ty))
    }

    fn system_variable(&mut self, name: &str) -> Result<E, SqlError> {
        let session = |field: &str| format!("mssql_session('{field}')");
        Ok(match name.to_ascii_uppercase().as_str() {
            "@@VERSION" => E::new(lit(VERSION), TypeInfo::of(nvarchar(300), false)),
            "@@SPID" => E::new(session("spid"), TypeInfo::of(SqlType::SmallInt, false)),
            "@@IDENTITY" => E::new(
                session("identity"),
                TypeInfo::of(
                    SqlType::Decimal {
                        precision: 38,
                        scale: 0,
                    },
                    true,
                ),
            ),
            "@@ROWCOUNT" => E::new(session("rowcount"), int_type()),
            "@@TRANCOUNT" => E::new(session("trancount"), int_type()),
            "@@LANGUAGE" => E::new(session("language"), TypeInfo::of(nvarchar(128), false)),
            "@@SERVERNAME" => E::new(lit(SERVER_NAME), TypeInfo::of(nvarchar(128), false)),
            "@@SERVICENAME" => E::new(lit("MSSQLSERVER"), TypeInfo::of(nvarchar(128), false)),
            "@@ERROR" => E::new("0".into(), int_type()),
            "@@DATEFIRST" => E::new("7".into(), TypeInfo::of(SqlType::TinyInt, false)),
            "@@TEXTSIZE" => E::new("2147483647".into(), int_type()),
            "@@MAX_PRECISION" => E::new("38".into(), TypeInfo::of(SqlType::TinyInt, false)),
            "@@LOCK_TIMEOUT" => E::new(session("lock_timeout"), int_type()),
            "@@OPTIONS" => E::new("5496".into(), int_type()),
            "@@NESTLEVEL" => E::new("0".into(), int_type()),
            _ => return Err(errors::UNDECLARED_VARIABLE.with(&[name])),
        })
    }

    // ---- expressions -----------------------------------------------------------------------

    #[recursive::recursive]
    fn expr(&mut self, e: &Expr) -> Result<E, SqlError> {
        match e {
            Expr::Identifier(i) => {
                if i.quote_style.is_none() {
                    if i.value.starts_with("@@") {
                        return self.system_variable(&i.value);
                    }
                    if i.value.starts_with('@') {
                        return self.variable(&i.value);
                    }
                    if let Some(x) = self.niladic(&i.value) {
                        return Ok(x);
                    }
                }
                self.column(std::slice::from_ref(i))
            }
            Expr::CompoundIdentifier(parts) => self.column(parts),
            Expr::Value(v) => self.literal(&v.value),
            Expr::Nested(inner) => {
                let x = self.expr(inner)?;
                Ok(E::new(format!("({})", x.sql), x.ty))
            }
            Expr::IsNull(x) => {
                let x = self.expr(x)?;
                Ok(E::new(format!("({} IS NULL)", x.sql), self.boolean()))
            }
            Expr::IsNotNull(x) => {
                let x = self.expr(x)?;
                Ok(E::new(format!("({} IS NOT NULL)", x.sql), self.boolean()))
            }
            Expr::IsDistinctFrom(a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                Ok(E::new(
                    format!("({} IS NOT {})", a.sql, b.sql),
                    self.boolean(),
                ))
            }
            Expr::IsNotDistinctFrom(a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                Ok(E::new(format!("({} IS {})", a.sql, b.sql), self.boolean()))
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.expr(expr)?;
                let low = self.expr(low)?;
                let high = self.expr(high)?;
                let low = self.implicit_to(&x.ty, low);
                let high = self.implicit_to(&x.ty, high);
                Ok(E::new(
                    format!(
                        "({} {}BETWEEN {} AND {})",
                        x.sql,
                        if *negated { "NOT " } else { "" },
                        low.sql,
                        high.sql
                    ),
                    self.boolean(),
                ))
            }
            Expr::In {
                expr,
                target,
                negated,
                ..
            } => {
                let x = self.expr(expr)?;
                let not = if *negated { "NOT " } else { "" };
                let list = match target {
                    sqlparser::ast::InTarget::List(items) => {
                        let mut parts = Vec::new();
                        for item in items {
                            let v = self.expr(item)?;
                            parts.push(self.implicit_to(&x.ty, v).sql);
                        }
                        parts.join(", ")
                    }
                    sqlparser::ast::InTarget::Subquery(q) => {
                        let inner = self.query(q, false)?;
                        if inner.columns.len() != 1 {
                            return Err(errors::SUBQUERY_ONE_COLUMN.plain());
                        }
                        inner.sql
                    }
                    _ => return Err(unsupported("IN UNNEST")),
                };
                Ok(E::new(
                    format!("({} {not}IN ({list}))", x.sql),
                    self.boolean(),
                ))
            }
            Expr::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any {
                    return Err(unsupported("LIKE ANY"));
                }
                let x = self.expr(expr)?;
                let p = self.expr(pattern)?;
                let escape = match escape_char {
                    Some(c) => format!(" ESCAPE {}", self.expr(c)?.sql),
                    None => String::new(),
                };
                Ok(E::new(
                    format!(
                        "({} {}LIKE {}{escape})",
                        x.sql,
                        if *negated { "NOT " } else { "" },
                        p.sql
                    ),
                    self.boolean(),
                ))
            }
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right),
            Expr::UnaryOp { op, expr } => {
                let x = self.expr(expr)?;
                match op {
                    UnaryOperator::Minus => {
                        let ty = match x.ty.ty {
                            Some(SqlType::Bit) => TypeInfo::of(SqlType::Int, x.ty.nullable),
                            _ => x.ty,
                        };
                        Ok(E::new(format!("(-{})", x.sql), ty))
                    }
                    UnaryOperator::Plus => Ok(x),
                    UnaryOperator::Not => Ok(E::new(format!("(NOT {})", x.sql), self.boolean())),
                    UnaryOperator::BitwiseNot => Ok(E::new(format!("(~{})", x.sql), x.ty)),
                    other => Err(unsupported(&other.to_string())),
                }
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let mut sql = String::from("(CASE");
                if let Some(o) = operand {
                    sql.push(' ');
                    sql.push_str(&self.expr(o)?.sql);
                }
                let mut types = Vec::new();
                for when in conditions {
                    let c = self.expr(&when.condition)?;
                    let r = self.expr(&when.result)?;
                    sql.push_str(&format!(" WHEN {} THEN {}", c.sql, r.sql));
                    types.push(r.ty);
                }
                match else_result {
                    Some(e) => {
                        let r = self.expr(e)?;
                        sql.push_str(&format!(" ELSE {}", r.sql));
                        types.push(r.ty);
                    }
                    None => types.push(TypeInfo::unknown()),
                }
                sql.push_str(" END)");
                let refs: Vec<&TypeInfo> = types.iter().collect();
                let mut ty = common_type(&refs);
                if else_result.is_none() {
                    ty.nullable = true;
                }
                Ok(E::new(sql, ty))
            }
            Expr::Exists { subquery, negated } => {
                let inner = self.query(subquery, false)?;
                Ok(E::new(
                    format!(
                        "({}EXISTS ({}))",
                        if *negated { "NOT " } else { "" },
                        inner.sql
                    ),
                    self.boolean(),
                ))
            }
            Expr::Subquery(q) => {
                let inner = self.query(q, false)?;
                if inner.columns.len() != 1 {
                    return Err(errors::SUBQUERY_ONE_COLUMN.plain());
                }
                let ty = inner.columns[0].info.clone().nullable();
                // A subquery used as a value must return at most one row (error 512): count up
                // to two of its rows and take the value only when there is one.
                let name = self.fresh("scalar_subquery_");
                Ok(E::new(
                    format!(
                        "(WITH {name}(v) AS ({}) SELECT CASE WHEN count(*) > 1 THEN mssql_too_many_values() ELSE min(v) END FROM (SELECT v FROM {name} LIMIT 2))",
                        inner.sql
                    ),
                    ty,
                ))
            }
            Expr::Cast {
                kind,
                expr,
                data_type,
                format,
            } => {
                if format.is_some() {
                    return Err(unsupported("CAST ... FORMAT"));
                }
                let try_ = match kind {
                    CastKind::Cast => false,
                    CastKind::TryCast | CastKind::SafeCast => true,
                    CastKind::DoubleColon => return Err(errors::SYNTAX.with(&["::"])),
                };
                self.cast(expr, &data_type.to_string(), try_)
            }
            Expr::Convert {
                is_try,
                expr,
                data_type,
                charset,
                ..
            } => {
                if charset.is_some() {
                    return Err(unsupported("CONVERT USING"));
                }
                let Some(dt) = data_type else {
                    return Err(errors::SYNTAX.with(&["CONVERT"]));
                };
                self.cast(expr, &dt.to_string(), *is_try)
            }
            Expr::Collate { expr, collation } => {
                let x = self.expr(expr)?;
                let name = display_name(collation).to_ascii_uppercase();
                let c = if name.contains("_CS") || name.ends_with("_BIN") || name.ends_with("_BIN2")
                {
                    "BINARY"
                } else {
                    super::types::COLLATION
                };
                Ok(E::new(format!("({} COLLATE {c})", x.sql), x.ty))
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let x = self.expr(expr)?;
                let (Some(from), Some(len)) = (substring_from, substring_for) else {
                    return Err(errors::WRONG_ARGUMENT_COUNT.with(&["substring", "3"]));
                };
                let from = self.expr(from)?;
                let len = self.expr(len)?;
                let ty = match x.ty.ty.clone() {
                    Some(t) if t.is_character() => TypeInfo {
                        ty: Some(t),
                        nullable: true,
                    },
                    _ => TypeInfo::of(SqlType::VarChar(Length::Max), true),
                };
                Ok(E::new(
                    format!("substr({}, {}, {})", x.sql, from.sql, len.sql),
                    ty,
                ))
            }
            Expr::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                if trim_where.is_some() || trim_characters.is_some() {
                    return Err(unsupported("TRIM LEADING/TRAILING/BOTH"));
                }
                let x = self.expr(expr)?;
                let what = match trim_what {
                    Some(w) => self.expr(w)?.sql,
                    None => "' '".into(),
                };
                Ok(E::new(format!("trim({}, {what})", x.sql), x.ty))
            }
            Expr::Ceil { expr, .. } => {
                let x = self.expr(expr)?;
                Ok(E::new(format!("mssql_ceiling({})", x.sql), whole(x.ty)))
            }
            Expr::Floor { expr, .. } => {
                let x = self.expr(expr)?;
                Ok(E::new(format!("mssql_floor({})", x.sql), whole(x.ty)))
            }
            Expr::Function(f) => self.function(f),
            other => Err(unsupported(&first_words(other.to_string(), 3))),
        }
    }

    fn boolean(&self) -> TypeInfo {
        TypeInfo::of(SqlType::Bit, true)
    }

    fn cast(&mut self, expr: &Expr, type_text: &str, try_: bool) -> Result<E, SqlError> {
        let target = parse_type(type_text, TypeContext::Cast, 1, "")?;
        let x = self.expr(expr)?;
        let nullable = x.ty.nullable || try_;
        let sql = self.conv(&x.sql, target.clone(), x.ty.ty, Mode::Cast { try_ });
        Ok(E::new(sql, TypeInfo::of(target, nullable)))
    }

    /// A string compared with (or listed against) a number, GUID or date is converted to that type
    /// first, as SQL Server's precedence does (so `id = 'abc'` is error 245, not "no rows").
    fn implicit_to(&mut self, other: &TypeInfo, x: E) -> E {
        let (Some(target), Some(source)) = (other.ty.clone(), x.ty.ty.clone()) else {
            return x;
        };
        let convert = source.is_character()
            && (target.is_numeric()
                || matches!(target, SqlType::UniqueIdentifier | SqlType::DateTime2));
        if !convert {
            return x;
        }
        let target = match target {
            SqlType::Decimal { .. } => SqlType::Float,
            SqlType::TinyInt | SqlType::SmallInt | SqlType::Bit => SqlType::Int,
            t => t,
        };
        let sql = self.conv(&x.sql, target.clone(), Some(source), Mode::Implicit);
        E::new(sql, TypeInfo::of(target, x.ty.nullable))
    }

    fn binary(&mut self, left: &Expr, op: &BinaryOperator, right: &Expr) -> Result<E, SqlError> {
        let mut a = self.expr(left)?;
        let mut b = self.expr(right)?;
        // A bare NULL takes the other side's type, as SQL Server types it.
        if a.sql == "NULL" && a.ty.ty.is_none() {
            a.ty = b.ty.clone().nullable();
        }
        if b.sql == "NULL" && b.ty.ty.is_none() {
            b.ty = a.ty.clone().nullable();
        }
        let nullable = a.ty.nullable || b.ty.nullable;
        let both_known = a.ty.ty.is_some() && b.ty.ty.is_some();
        let is_char = |t: &TypeInfo| t.ty.as_ref().is_some_and(SqlType::is_character);
        match op {
            BinaryOperator::And | BinaryOperator::Or => {
                let word = if matches!(op, BinaryOperator::And) {
                    "AND"
                } else {
                    "OR"
                };
                Ok(E::new(
                    format!("({} {word} {})", a.sql, b.sql),
                    self.boolean(),
                ))
            }
            BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq => {
                let symbol = match op {
                    BinaryOperator::Eq => "=",
                    BinaryOperator::NotEq => "<>",
                    BinaryOperator::Lt => "<",
                    BinaryOperator::LtEq => "<=",
                    BinaryOperator::Gt => ">",
                    _ => ">=",
                };
                let a_ty = a.ty.clone();
                let b_ty = b.ty.clone();
                let b = self.implicit_to(&a_ty, b);
                let a = self.implicit_to(&b_ty, a);
                Ok(E::new(
                    format!("({} {symbol} {})", a.sql, b.sql),
                    self.boolean(),
                ))
            }
            BinaryOperator::Plus if both_known && is_char(&a.ty) && is_char(&b.ty) => {
                let (ta, tb) = (
                    a.ty.ty.clone().unwrap_or(SqlType::Int),
                    b.ty.ty.clone().unwrap_or(SqlType::Int),
                );
                let unicode = ta.is_unicode() || tb.is_unicode();
                let length = match (ta.char_length(), tb.char_length()) {
                    (Some(x), Some(y)) => {
                        let sum = x as u32 + y as u32;
                        let max = if unicode { 4000 } else { 8000 };
                        if sum > max {
                            Length::Max
                        } else {
                            Length::Fixed(sum as u16)
                        }
                    }
                    _ => Length::Max,
                };
                let ty = if unicode {
                    SqlType::NVarChar(length)
                } else {
                    SqlType::VarChar(length)
                };
                Ok(E::new(
                    format!("({} || {})", a.sql, b.sql),
                    TypeInfo::of(ty, nullable),
                ))
            }
            BinaryOperator::Plus
            | BinaryOperator::Minus
            | BinaryOperator::Multiply
            | BinaryOperator::Divide
            | BinaryOperator::Modulo => {
                if !both_known {
                    if matches!(op, BinaryOperator::Plus) {
                        return Ok(E::new(
                            format!("mssql_plus({}, {})", a.sql, b.sql),
                            TypeInfo { ty: None, nullable },
                        ));
                    }
                    let known = a.ty.ty.clone().or(b.ty.ty.clone());
                    let symbol = arithmetic_symbol(op);
                    let right = if matches!(op, BinaryOperator::Divide | BinaryOperator::Modulo) {
                        format!("mssql_nz({})", b.sql)
                    } else {
                        b.sql
                    };
                    return Ok(E::new(
                        format!("({} {symbol} {right})", a.sql),
                        TypeInfo {
                            ty: known.filter(SqlType::is_numeric),
                            nullable,
                        },
                    ));
                }
                let (ta, tb) = (
                    a.ty.ty.clone().unwrap_or(SqlType::Int),
                    b.ty.ty.clone().unwrap_or(SqlType::Int),
                );
                for t in [&ta, &tb] {
                    if matches!(
                        t,
                        SqlType::DateTime2 | SqlType::UniqueIdentifier | SqlType::VarBinary(_)
                    ) {
                        let other = if std::ptr::eq(t, &ta) { &tb } else { &ta };
                        return Err(
                            errors::OPERAND_CLASH.with(&[&t.to_string(), &other.to_string()])
                        );
                    }
                }
                // A string meets a number: the string converts to the number's type.
                let (a, ta) = if ta.is_character() {
                    let target = if tb.is_character() {
                        SqlType::Float
                    } else {
                        tb.clone()
                    };
                    let x = self.implicit_to(&TypeInfo::of(target.clone(), true), a);
                    let t = x.ty.ty.clone().unwrap_or(target);
                    (x, t)
                } else {
                    (a, ta)
                };
                let (b, tb) = if tb.is_character() {
                    let x = self.implicit_to(&TypeInfo::of(ta.clone(), true), b);
                    let t = x.ty.ty.clone().unwrap_or(ta.clone());
                    (x, t)
                } else {
                    (b, tb)
                };
                let ty = arithmetic_type(&ta, &tb, op);
                let symbol = arithmetic_symbol(op);
                let right = if matches!(op, BinaryOperator::Divide | BinaryOperator::Modulo) {
                    format!("mssql_nz({})", b.sql)
                } else {
                    b.sql
                };
                // Integer division stays integer; a decimal or float operand makes it real.
                let left = if matches!(op, BinaryOperator::Divide)
                    && matches!(ty, SqlType::Decimal { .. } | SqlType::Float | SqlType::Real)
                {
                    format!("CAST({} AS REAL)", a.sql)
                } else {
                    a.sql
                };
                Ok(E::new(
                    format!("({left} {symbol} {right})"),
                    TypeInfo::of(ty, nullable),
                ))
            }
            BinaryOperator::BitwiseAnd | BinaryOperator::BitwiseOr => {
                let symbol = if matches!(op, BinaryOperator::BitwiseAnd) {
                    "&"
                } else {
                    "|"
                };
                let ty = common_type(&[&a.ty, &b.ty]);
                Ok(E::new(format!("({} {symbol} {})", a.sql, b.sql), ty))
            }
            BinaryOperator::BitwiseXor | BinaryOperator::PGBitwiseXor => {
                let ty = common_type(&[&a.ty, &b.ty]);
                Ok(E::new(
                    format!("(({0} | {1}) - ({0} & {1}))", a.sql, b.sql),
                    ty,
                ))
            }
            BinaryOperator::StringConcat => Err(errors::SYNTAX.with(&["|"])),
            other => Err(unsupported(&format!("operator {other}"))),
        }
    }

    fn literal(&mut self, v: &AstValue) -> Result<E, SqlError> {
        Ok(match v {
            AstValue::Number(n, _) => {
                let text = n.to_string();
                if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                    return Ok(E::new(
                        format!(
                            "X'{}'",
                            if hex.len() % 2 == 1 {
                                format!("0{hex}")
                            } else {
                                hex.to_string()
                            }
                        ),
                        TypeInfo::of(
                            SqlType::VarBinary(
                                Length::Fixed((hex.len().div_ceil(2)).max(1) as u16),
                            ),
                            false,
                        ),
                    ));
                }
                let ty = if text.contains(['e', 'E']) {
                    SqlType::Float
                } else if let Some((whole, fraction)) = text.split_once('.') {
                    let digits = whole.trim_start_matches('-').trim_start_matches('0').len()
                        + fraction.len();
                    SqlType::Decimal {
                        precision: digits.clamp(1, 38) as u8,
                        scale: fraction.len().min(38) as u8,
                    }
                } else {
                    match text.parse::<i64>() {
                        Ok(i) if i >= i32::MIN as i64 && i <= i32::MAX as i64 => SqlType::Int,
                        Ok(_) => SqlType::BigInt,
                        Err(_) => SqlType::Decimal {
                            precision: text.len().clamp(1, 38) as u8,
                            scale: 0,
                        },
                    }
                };
                E::new(text, TypeInfo::of(ty, false))
            }
            AstValue::SingleQuotedString(s) => E::new(
                lit(s),
                TypeInfo::of(
                    SqlType::VarChar(Length::Fixed(s.chars().count().clamp(1, 8000) as u16)),
                    false,
                ),
            ),
            AstValue::NationalStringLiteral(s) => E::new(
                lit(s),
                TypeInfo::of(
                    SqlType::NVarChar(if s.chars().count() > 4000 {
                        Length::Max
                    } else {
                        Length::Fixed(s.chars().count().max(1) as u16)
                    }),
                    false,
                ),
            ),
            AstValue::HexStringLiteral(h) => {
                // SQL Server reads an odd number of digits with a leading zero: 0xABC is 0x0ABC.
                let digits = if h.len() % 2 == 1 {
                    format!("0{h}")
                } else {
                    h.clone()
                };
                if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(errors::SYNTAX.with(&[&format!("0x{h}")]));
                }
                let length = (digits.len() / 2).clamp(1, 8000) as u16;
                E::new(
                    format!("X'{digits}'"),
                    TypeInfo::of(SqlType::VarBinary(Length::Fixed(length)), false),
                )
            }
            AstValue::Null => E::new("NULL".into(), TypeInfo::unknown()),
            AstValue::Boolean(b) => E::new(
                if *b { "1" } else { "0" }.into(),
                TypeInfo::of(SqlType::Bit, false),
            ),
            other => return Err(unsupported(&format!("literal {other}"))),
        })
    }

    /// The niladic functions T-SQL writes without parentheses.
    fn niladic(&mut self, name: &str) -> Option<E> {
        let session = |field: &str| format!("mssql_session('{field}')");
        let name128 = TypeInfo::of(nvarchar(128), false);
        Some(match name.to_ascii_uppercase().as_str() {
            "CURRENT_USER" | "SESSION_USER" | "USER" => E::new(session("user"), name128),
            "SYSTEM_USER" => E::new(session("login"), name128),
            "CURRENT_TIMESTAMP" => E::new(
                "mssql_now()".into(),
                TypeInfo::of(SqlType::DateTime2, false),
            ),
            _ => return None,
        })
    }

    fn function(&mut self, f: &Function) -> Result<E, SqlError> {
        if f.name.0.len() > 1 {
            let shown = display_name(&f.name);
            return Err(errors::UNKNOWN_FUNCTION.with(&[&shown]));
        }
        let name = object_name_last(&f.name).to_ascii_uppercase();
        let (args, distinct, star) = match &f.args {
            FunctionArguments::None => (Vec::new(), false, false),
            FunctionArguments::List(list) => {
                if !list.clauses.is_empty() {
                    return Err(unsupported(&format!("{name} clauses")));
                }
                let mut args = Vec::new();
                let mut star = false;
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(e.clone()),
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => star = true,
                        _ => return Err(errors::SYNTAX.with(&[&a.to_string()])),
                    }
                }
                let distinct = matches!(
                    list.duplicate_treatment,
                    Some(sqlparser::ast::DuplicateTreatment::Distinct)
                );
                (args, distinct, star)
            }
            FunctionArguments::Subquery(_) => return Err(errors::SYNTAX.with(&["SELECT"])),
        };
        if f.filter.is_some() || f.null_treatment.is_some() || !f.within_group.is_empty() {
            return Err(unsupported(&format!("{name} with FILTER / WITHIN GROUP")));
        }
        let over = match &f.over {
            None => None,
            Some(WindowType::NamedWindow(_)) => return Err(unsupported("named windows")),
            Some(WindowType::WindowSpec(spec)) => {
                if spec.window_frame.is_some() || spec.window_name.is_some() {
                    return Err(unsupported("window frames"));
                }
                let mut parts = Vec::new();
                if !spec.partition_by.is_empty() {
                    let mut p = Vec::new();
                    for e in &spec.partition_by {
                        p.push(self.expr(e)?.sql);
                    }
                    parts.push(format!("PARTITION BY {}", p.join(", ")));
                }
                if !spec.order_by.is_empty() {
                    let mut p = Vec::new();
                    for o in &spec.order_by {
                        let mut term = self.expr(&o.expr)?.sql;
                        if matches!(o.options.sort, Some(OrderBySort::Desc)) {
                            term.push_str(" DESC");
                        }
                        p.push(term);
                    }
                    parts.push(format!("ORDER BY {}", p.join(", ")));
                }
                Some(format!(" OVER ({})", parts.join(" ")))
            }
        };
        let arity = |n: usize| -> Result<(), SqlError> {
            if args.len() != n {
                return Err(errors::WRONG_ARGUMENT_COUNT.with(&[&name, &n.to_string()]));
            }
            Ok(())
        };
        let arity_range = |lo: usize, hi: usize| -> Result<(), SqlError> {
            if args.len() < lo || args.len() > hi {
                return Err(errors::WRONG_ARGUMENT_COUNT.with(&[&name, &lo.to_string()]));
            }
            Ok(())
        };
        let is_aggregate = matches!(
            name.as_str(),
            "COUNT" | "COUNT_BIG" | "SUM" | "AVG" | "MIN" | "MAX" | "STRING_AGG"
        );
        let is_ranking = matches!(
            name.as_str(),
            "ROW_NUMBER"
                | "RANK"
                | "DENSE_RANK"
                | "NTILE"
                | "LAG"
                | "LEAD"
                | "FIRST_VALUE"
                | "LAST_VALUE"
        );
        if over.is_some() && !is_aggregate && !is_ranking {
            return Err(unsupported(&format!("{name} OVER")));
        }
        if is_ranking && over.is_none() {
            return Err(errors::SYNTAX.with(&[&name]));
        }
        let over_sql = over.clone().unwrap_or_default();
        let distinct_sql = if distinct { "DISTINCT " } else { "" };
        let session = |field: &str| format!("mssql_session('{field}')");
        let name128 = TypeInfo::of(nvarchar(128), false);

        // Aggregates and window functions.
        if is_aggregate || is_ranking {
            let result = match name.as_str() {
                "COUNT" | "COUNT_BIG" => {
                    let inner = if star {
                        "*".to_string()
                    } else {
                        arity(1)?;
                        format!("{distinct_sql}{}", self.expr(&args[0])?.sql)
                    };
                    let ty = if name == "COUNT" {
                        SqlType::Int
                    } else {
                        SqlType::BigInt
                    };
                    E::new(format!("count({inner}){over_sql}"), TypeInfo::of(ty, false))
                }
                "SUM" | "AVG" => {
                    arity(1)?;
                    let x = self.expr(&args[0])?;
                    let ty = match &x.ty.ty {
                        Some(SqlType::Bit) => {
                            return Err(errors::SUM_OF_BIT.with(&["bit", &name.to_lowercase()]))
                        }
                        Some(t) if t.is_character() => {
                            return Err(errors::SUM_OF_BIT.with(&[t.name(), &name.to_lowercase()]))
                        }
                        Some(SqlType::TinyInt | SqlType::SmallInt | SqlType::Int) => {
                            Some(SqlType::Int)
                        }
                        Some(SqlType::BigInt) => Some(SqlType::BigInt),
                        Some(SqlType::Decimal { scale, .. }) => Some(SqlType::Decimal {
                            precision: 38,
                            scale: if name == "AVG" {
                                (*scale).max(6)
                            } else {
                                *scale
                            },
                        }),
                        Some(SqlType::Real | SqlType::Float) => Some(SqlType::Float),
                        Some(_) => {
                            return Err(errors::SUM_OF_BIT.with(&[
                                x.ty.ty.as_ref().map(|t| t.name()).unwrap_or("?"),
                                &name.to_lowercase(),
                            ]))
                        }
                        None => None,
                    };
                    let function = if name == "SUM" { "sum" } else { "avg" };
                    let mut sql = format!("{function}({distinct_sql}{}){over_sql}", x.sql);
                    if name == "AVG" && ty.as_ref().is_some_and(SqlType::is_integer) {
                        // SQL Server averages integers in integers.
                        sql = format!("CAST({sql} AS INTEGER)");
                    }
                    E::new(sql, TypeInfo { ty, nullable: true })
                }
                "MIN" | "MAX" => {
                    arity(1)?;
                    let x = self.expr(&args[0])?;
                    E::new(
                        format!("{}({}){over_sql}", name.to_lowercase(), x.sql),
                        x.ty.nullable(),
                    )
                }
                "STRING_AGG" => {
                    arity(2)?;
                    let x = self.expr(&args[0])?;
                    let sep = self.expr(&args[1])?;
                    let ty = if x.ty.ty.as_ref().is_some_and(SqlType::is_unicode) {
                        SqlType::NVarChar(Length::Max)
                    } else {
                        SqlType::VarChar(Length::Max)
                    };
                    E::new(
                        format!("group_concat({}, {}){over_sql}", x.sql, sep.sql),
                        TypeInfo::of(ty, true),
                    )
                }
                "ROW_NUMBER" | "RANK" | "DENSE_RANK" => {
                    arity(0)?;
                    E::new(
                        format!("{}(){over_sql}", name.to_lowercase()),
                        TypeInfo::of(SqlType::BigInt, false),
                    )
                }
                "NTILE" => {
                    arity(1)?;
                    let n = self.expr(&args[0])?;
                    E::new(
                        format!("ntile({}){over_sql}", n.sql),
                        TypeInfo::of(SqlType::BigInt, false),
                    )
                }
                _ => {
                    arity_range(1, 3)?;
                    let mut parts = Vec::new();
                    let mut ty = TypeInfo::unknown();
                    for (i, a) in args.iter().enumerate() {
                        let x = self.expr(a)?;
                        if i == 0 {
                            ty = x.ty.nullable();
                        }
                        parts.push(x.sql);
                    }
                    E::new(
                        format!("{}({}){over_sql}", name.to_lowercase(), parts.join(", ")),
                        ty,
                    )
                }
            };
            return Ok(result);
        }

        // Functions folded now, from literal arguments.
        match name.as_str() {
            "OBJECT_ID" => {
                arity_range(1, 2)?;
                let n = literal_string(&args[0])
                    .ok_or_else(|| unsupported("OBJECT_ID of a non-literal name"))?;
                let kind = match args.get(1) {
                    Some(k) => Some(
                        literal_string(k)
                            .ok_or_else(|| unsupported("OBJECT_ID of a non-literal type"))?,
                    ),
                    None => None,
                };
                let temp = split_dotted(&n).last().is_some_and(|t| temp::is_temp(t));
                let id = if temp {
                    self.temp.object_id(&n).filter(|_| {
                        kind.as_deref()
                            .is_none_or(|k| k.trim().eq_ignore_ascii_case("U"))
                    })
                } else {
                    self.catalog.object_id(&n, self.database, kind.as_deref())
                };
                return Ok(E::new(
                    id.map(|i| i.to_string()).unwrap_or_else(|| "NULL".into()),
                    TypeInfo::of(SqlType::Int, true),
                ));
            }
            "SERVERPROPERTY" => {
                arity(1)?;
                let property = literal_string(&args[0])
                    .ok_or_else(|| unsupported("SERVERPROPERTY of a non-literal name"))?;
                return Ok(server_property(&property));
            }
            "DATABASEPROPERTYEX" => {
                arity(2)?;
                let property = literal_string(&args[1])
                    .ok_or_else(|| unsupported("DATABASEPROPERTYEX of a non-literal name"))?;
                return Ok(database_property(&property));
            }
            "DB_ID" => {
                arity_range(0, 1)?;
                let id = match args.first() {
                    None => "5".to_string(),
                    Some(a) => match literal_string(a) {
                        Some(n) if n.eq_ignore_ascii_case(self.database) => "5".into(),
                        Some(_) => "NULL".into(),
                        None => return Err(unsupported("DB_ID of a non-literal name")),
                    },
                };
                return Ok(E::new(id, TypeInfo::of(SqlType::Int, true)));
            }
            _ => {}
        }

        let mut xs = Vec::new();
        let date_part_first = matches!(
            name.as_str(),
            "DATEADD" | "DATEDIFF" | "DATEPART" | "DATEDIFF_BIG"
        );
        for (i, a) in args.iter().enumerate() {
            if date_part_first && i == 0 {
                let part = match a {
                    Expr::Identifier(id) => id.value.clone(),
                    other => literal_string(other).ok_or_else(|| {
                        errors::INVALID_DATEPART.with(&[&other.to_string(), "datepart"])
                    })?,
                };
                xs.push(E::new(lit(&part), TypeInfo::of(nvarchar(20), false)));
                continue;
            }
            xs.push(self.expr(a)?);
        }
        let sqls: Vec<String> = xs.iter().map(|x| x.sql.clone()).collect();
        let first_ty = xs
            .first()
            .map(|x| x.ty.clone())
            .unwrap_or_else(TypeInfo::unknown);
        let any_nullable = xs.iter().any(|x| x.ty.nullable);
        let text_type = |t: &TypeInfo| match &t.ty {
            Some(ty) if ty.is_character() => ty.clone(),
            _ => SqlType::VarChar(Length::Fixed(8000)),
        };
        let e = match name.as_str() {
            "ISNULL" => {
                arity(2)?;
                let ty = TypeInfo {
                    ty: first_ty.ty.clone().or(xs[1].ty.ty.clone()),
                    nullable: first_ty.nullable && xs[1].ty.nullable,
                };
                E::new(format!("ifnull({}, {})", sqls[0], sqls[1]), ty)
            }
            "COALESCE" => {
                if xs.len() < 2 {
                    return Err(errors::WRONG_ARGUMENT_COUNT.with(&["coalesce", "2"]));
                }
                let refs: Vec<&TypeInfo> = xs.iter().map(|x| &x.ty).collect();
                let mut ty = common_type(&refs);
                ty.nullable = xs.iter().all(|x| x.ty.nullable);
                E::new(format!("coalesce({})", sqls.join(", ")), ty)
            }
            "NULLIF" => {
                arity(2)?;
                E::new(
                    format!("nullif({}, {})", sqls[0], sqls[1]),
                    first_ty.nullable(),
                )
            }
            "IIF" => {
                arity(3)?;
                let ty = common_type(&[&xs[1].ty, &xs[2].ty]);
                E::new(
                    format!(
                        "(CASE WHEN {} THEN {} ELSE {} END)",
                        sqls[0], sqls[1], sqls[2]
                    ),
                    ty,
                )
            }
            "CHOOSE" => {
                if xs.len() < 2 {
                    return Err(errors::WRONG_ARGUMENT_COUNT.with(&["choose", "2"]));
                }
                let refs: Vec<&TypeInfo> = xs[1..].iter().map(|x| &x.ty).collect();
                let ty = common_type(&refs).nullable();
                let whens: Vec<String> = sqls[1..]
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!(" WHEN {} THEN {s}", i + 1))
                    .collect();
                E::new(format!("(CASE {}{} END)", sqls[0], whens.concat()), ty)
            }
            "LEN" => {
                arity(1)?;
                let big = matches!(
                    first_ty.ty,
                    Some(SqlType::VarChar(Length::Max) | SqlType::NVarChar(Length::Max))
                );
                E::new(
                    format!("length(rtrim(CAST({} AS TEXT), ' '))", sqls[0]),
                    TypeInfo::of(
                        if big { SqlType::BigInt } else { SqlType::Int },
                        first_ty.nullable,
                    ),
                )
            }
            "DATALENGTH" => {
                arity(1)?;
                let sql = match &first_ty.ty {
                    Some(t) if t.is_unicode() => format!("(2 * length({}))", sqls[0]),
                    Some(SqlType::TinyInt | SqlType::Bit) => {
                        format!("(CASE WHEN {} IS NULL THEN NULL ELSE 1 END)", sqls[0])
                    }
                    Some(SqlType::SmallInt) => {
                        format!("(CASE WHEN {} IS NULL THEN NULL ELSE 2 END)", sqls[0])
                    }
                    Some(SqlType::Int | SqlType::Real) => {
                        format!("(CASE WHEN {} IS NULL THEN NULL ELSE 4 END)", sqls[0])
                    }
                    Some(SqlType::BigInt | SqlType::Float | SqlType::DateTime2) => {
                        format!("(CASE WHEN {} IS NULL THEN NULL ELSE 8 END)", sqls[0])
                    }
                    Some(SqlType::UniqueIdentifier) => {
                        format!("(CASE WHEN {} IS NULL THEN NULL ELSE 16 END)", sqls[0])
                    }
                    _ => format!("length(CAST({} AS BLOB))", sqls[0]),
                };
                E::new(sql, TypeInfo::of(SqlType::Int, first_ty.nullable))
            }
            "UPPER" | "LOWER" | "REVERSE" => {
                arity(1)?;
                E::new(
                    format!("mssql_{}({})", name.to_lowercase(), sqls[0]),
                    TypeInfo {
                        ty: Some(text_type(&first_ty)),
                        nullable: first_ty.nullable,
                    },
                )
            }
            "LTRIM" | "RTRIM" => {
                arity_range(1, 2)?;
                let chars = sqls.get(1).cloned().unwrap_or_else(|| "' '".into());
                E::new(
                    format!("{}({}, {chars})", name.to_lowercase(), sqls[0]),
                    TypeInfo {
                        ty: Some(text_type(&first_ty)),
                        nullable: first_ty.nullable,
                    },
                )
            }
            "SUBSTRING" => {
                arity(3)?;
                E::new(
                    format!("substr({}, {}, {})", sqls[0], sqls[1], sqls[2]),
                    TypeInfo {
                        ty: Some(text_type(&first_ty)),
                        nullable: true,
                    },
                )
            }
            "LEFT" | "RIGHT" => {
                arity(2)?;
                E::new(
                    format!("mssql_{}({}, {})", name.to_lowercase(), sqls[0], sqls[1]),
                    TypeInfo {
                        ty: Some(text_type(&first_ty)),
                        nullable: any_nullable,
                    },
                )
            }
            "REPLACE" => {
                arity(3)?;
                E::new(
                    format!("replace({}, {}, {})", sqls[0], sqls[1], sqls[2]),
                    TypeInfo {
                        ty: Some(text_type(&first_ty).clone()),
                        nullable: any_nullable,
                    },
                )
            }
            "REPLICATE" => {
                arity(2)?;
                E::new(
                    format!("mssql_replicate({}, {})", sqls[0], sqls[1]),
                    TypeInfo::of(SqlType::VarChar(Length::Max), any_nullable),
                )
            }
            "SPACE" => {
                arity(1)?;
                E::new(
                    format!("mssql_replicate(' ', {})", sqls[0]),
                    TypeInfo::of(SqlType::VarChar(Length::Fixed(8000)), any_nullable),
                )
            }
            "CHARINDEX" => {
                arity_range(2, 3)?;
                let start = sqls.get(2).cloned().unwrap_or_else(|| "1".into());
                E::new(
                    format!("mssql_charindex({}, {}, {start})", sqls[0], sqls[1]),
                    TypeInfo::of(SqlType::Int, any_nullable),
                )
            }
            "CONCAT" => {
                if xs.len() < 2 {
                    return Err(errors::WRONG_ARGUMENT_COUNT.with(&["concat", "2"]));
                }
                let unicode = xs
                    .iter()
                    .any(|x| x.ty.ty.as_ref().is_some_and(SqlType::is_unicode));
                let parts: Vec<String> = sqls.iter().map(|s| format!("ifnull({s}, '')")).collect();
                E::new(
                    format!("({})", parts.join(" || ")),
                    TypeInfo::of(
                        if unicode {
                            SqlType::NVarChar(Length::Max)
                        } else {
                            SqlType::VarChar(Length::Max)
                        },
                        false,
                    ),
                )
            }
            "CONCAT_WS" => {
                if xs.len() < 3 {
                    return Err(errors::WRONG_ARGUMENT_COUNT.with(&["concat_ws", "3"]));
                }
                E::new(
                    format!("concat_ws({})", sqls.join(", ")),
                    TypeInfo::of(SqlType::VarChar(Length::Max), false),
                )
            }
            "QUOTENAME" => {
                arity_range(1, 2)?;
                E::new(
                    format!("('[' || replace({}, ']', ']]') || ']')", sqls[0]),
                    TypeInfo::of(nvarchar(258), true),
                )
            }
            "UNICODE" | "ASCII" => {
                arity(1)?;
                E::new(
                    format!("unicode({})", sqls[0]),
                    TypeInfo::of(SqlType::Int, true),
                )
            }
            "CHAR" | "NCHAR" => {
                arity(1)?;
                E::new(
                    format!("char({})", sqls[0]),
                    TypeInfo::of(
                        if name == "CHAR" {
                            SqlType::Char(1)
                        } else {
                            SqlType::NChar(1)
                        },
                        true,
                    ),
                )
            }
            "ABS" => {
                arity(1)?;
                E::new(format!("abs({})", sqls[0]), first_ty)
            }
            "SIGN" => {
                arity(1)?;
                E::new(format!("sign({})", sqls[0]), first_ty)
            }
            "ROUND" => {
                arity_range(2, 3)?;
                E::new(format!("mssql_round({}, {})", sqls[0], sqls[1]), first_ty)
            }
            "CEILING" | "FLOOR" => {
                arity(1)?;
                E::new(
                    format!("mssql_{}({})", name.to_lowercase(), sqls[0]),
                    whole(first_ty),
                )
            }
            "SQRT" | "EXP" | "LOG" | "LOG10" => {
                arity(1)?;
                E::new(
                    format!("mssql_{}({})", name.to_lowercase(), sqls[0]),
                    TypeInfo::of(SqlType::Float, first_ty.nullable),
                )
            }
            "POWER" => {
                arity(2)?;
                E::new(format!("mssql_power({}, {})", sqls[0], sqls[1]), first_ty)
            }
            "PI" => {
                arity(0)?;
                E::new(
                    std::f64::consts::PI.to_string(),
                    TypeInfo::of(SqlType::Float, false),
                )
            }
            "RAND" => {
                arity_range(0, 1)?;
                E::new(
                    "((abs(random()) % 1000000000) / 1000000000.0)".into(),
                    TypeInfo::of(SqlType::Float, false),
                )
            }
            "GETDATE" | "GETUTCDATE" | "SYSDATETIME" | "SYSUTCDATETIME" | "SYSDATETIMEOFFSET"
            | "CURRENT_TIMESTAMP" => {
                arity(0)?;
                E::new(
                    "mssql_now()".into(),
                    TypeInfo::of(SqlType::DateTime2, false),
                )
            }
            "DATEADD" => {
                arity(3)?;
                E::new(
                    format!("mssql_dateadd({}, {}, {})", sqls[0], sqls[1], sqls[2]),
                    TypeInfo::of(SqlType::DateTime2, any_nullable),
                )
            }
            "DATEDIFF" | "DATEDIFF_BIG" => {
                arity(3)?;
                E::new(
                    format!("mssql_datediff({}, {}, {})", sqls[0], sqls[1], sqls[2]),
                    TypeInfo::of(
                        if name == "DATEDIFF" {
                            SqlType::Int
                        } else {
                            SqlType::BigInt
                        },
                        any_nullable,
                    ),
                )
            }
            "DATEPART" => {
                arity(2)?;
                E::new(
                    format!("mssql_datepart({}, {})", sqls[0], sqls[1]),
                    TypeInfo::of(SqlType::Int, any_nullable),
                )
            }
            "YEAR" | "MONTH" | "DAY" => {
                arity(1)?;
                E::new(
                    format!("mssql_datepart('{}', {})", name.to_lowercase(), sqls[0]),
                    TypeInfo::of(SqlType::Int, any_nullable),
                )
            }
            "NEWID" | "NEWSEQUENTIALID" => {
                arity(0)?;
                E::new(
                    "mssql_newid()".into(),
                    TypeInfo::of(SqlType::UniqueIdentifier, false),
                )
            }
            "DB_NAME" => {
                arity_range(0, 1)?;
                E::new(session("db"), TypeInfo::of(nvarchar(128), true))
            }
            "USER_NAME" => {
                arity_range(0, 1)?;
                match sqls.first() {
                    None => E::new(session("user"), name128),
                    Some(id) => E::new(
                        format!("(SELECT \"name\" FROM \"sys\".\"database_principals\" WHERE \"principal_id\" = {id})"),
                        TypeInfo::of(nvarchar(128), true),
                    ),
                }
            }
            "USER_ID" | "DATABASE_PRINCIPAL_ID" => {
                arity_range(0, 1)?;
                match sqls.first() {
                    None => E::new(session("principal_id"), TypeInfo::of(SqlType::Int, false)),
                    Some(n) => E::new(
                        format!("(SELECT \"principal_id\" FROM \"sys\".\"database_principals\" WHERE \"name\" = {n} COLLATE {})", super::types::COLLATION),
                        TypeInfo::of(SqlType::Int, true),
                    ),
                }
            }
            "SUSER_SNAME" | "SUSER_NAME" | "ORIGINAL_LOGIN" => {
                arity_range(0, 1)?;
                if !xs.is_empty() {
                    return Err(unsupported(&format!("{name} of another login")));
                }
                E::new(session("login"), name128)
            }
            "CURRENT_USER" | "SESSION_USER" => E::new(session("user"), name128),
            "SYSTEM_USER" => E::new(session("login"), name128),
            "SCHEMA_NAME" => {
                arity_range(0, 1)?;
                E::new("'dbo'".into(), TypeInfo::of(nvarchar(128), true))
            }
            "SCHEMA_ID" => {
                arity_range(0, 1)?;
                E::new("1".into(), TypeInfo::of(SqlType::Int, true))
            }
            "IS_ROLEMEMBER" | "IS_MEMBER" => {
                arity_range(1, 2)?;
                E::new(
                    format!("mssql_is_rolemember({})", sqls.join(", ")),
                    TypeInfo::of(SqlType::Int, true),
                )
            }
            "XACT_STATE" => {
                arity(0)?;
                E::new(
                    session("xact_state"),
                    TypeInfo::of(SqlType::SmallInt, false),
                )
            }
            "SESSION_CONTEXT" => {
                arity(1)?;
                // The key is a sysname: 8116 for a key of another type (SQL Server names it).
                if let Some(ty) = first_ty.ty.as_ref().filter(|t| !t.is_unicode()) {
                    return Err(errors::ARGUMENT_TYPE_INVALID.with(&[
                        ty.name(),
                        "1",
                        "session_context",
                    ]));
                }
                E::new(
                    format!("mssql_session_context({})", sqls[0]),
                    TypeInfo::of(SqlType::Variant, true),
                )
            }
            "SCOPE_IDENTITY" => {
                arity(0)?;
                E::new(
                    session("identity"),
                    TypeInfo::of(
                        SqlType::Decimal {
                            precision: 38,
                            scale: 0,
                        },
                        true,
                    ),
                )
            }
            "IDENT_CURRENT" => {
                arity(1)?;
                E::new(
                    format!("mssql_ident_current({})", sqls[0]),
                    TypeInfo::of(
                        SqlType::Decimal {
                            precision: 38,
                            scale: 0,
                        },
                        true,
                    ),
                )
            }
            _ => return Err(errors::UNKNOWN_FUNCTION.with(&[&object_name_last(&f.name)])),
        };
        Ok(e)
    }
}

/// A column as SQLite sees it: `"t1"."name"`, or bare inside `RETURNING`.
fn qualified(alias: &str, name: &str) -> String {
    if alias.is_empty() {
        quote(name)
    } else {
        format!("{alias}.{}", quote(name))
    }
}

/// Whether an unquoted name is one of T-SQL's niladic functions (`CURRENT_USER`, ...).
fn is_niladic(name: &str) -> bool {
    [
        "CURRENT_USER",
        "SESSION_USER",
        "USER",
        "SYSTEM_USER",
        "CURRENT_TIMESTAMP",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name))
}

/// `CEILING`/`FLOOR` of a decimal keep its precision and lose its scale.
fn whole(t: TypeInfo) -> TypeInfo {
    match t.ty {
        Some(SqlType::Decimal { precision, .. }) => TypeInfo::of(
            SqlType::Decimal {
                precision,
                scale: 0,
            },
            t.nullable,
        ),
        _ => t,
    }
}

fn arithmetic_symbol(op: &BinaryOperator) -> &'static str {
    match op {
        BinaryOperator::Plus => "+",
        BinaryOperator::Minus => "-",
        BinaryOperator::Multiply => "*",
        BinaryOperator::Divide => "/",
        _ => "%",
    }
}

fn literal_number(e: &Expr) -> Option<f64> {
    match e {
        Expr::Value(v) => match &v.value {
            AstValue::Number(n, _) => n.to_string().parse().ok(),
            _ => None,
        },
        Expr::Nested(e) => literal_number(e),
        _ => None,
    }
}

fn server_property(name: &str) -> E {
    let text = |s: &str| E::new(lit(s), TypeInfo::of(nvarchar(128), true));
    let int = |i: i64| E::new(i.to_string(), TypeInfo::of(SqlType::Int, true));
    match name.to_ascii_lowercase().as_str() {
        "edition" => text("SQL Azure"),
        "engineedition" => int(5),
        "productversion" => text("12.0.2000.8"),
        "productlevel" => text("RTM"),
        "productmajorversion" => text("12"),
        "productminorversion" => text("0"),
        "servername" | "machinename" | "instancename" => text(SERVER_NAME),
        "collation" => text("SQL_Latin1_General_CP1_CI_AS"),
        "isintegratedsecurityonly"
        | "ishadrenabled"
        | "isclustered"
        | "isfulltextinstalled"
        | "issingleuser" => int(0),
        _ => E::new("NULL".into(), TypeInfo::of(nvarchar(128), true)),
    }
}

/// `DATABASEPROPERTYEX(database, property)`: a sql_variant, as in SQL Server. `Updateability`
/// is the session's: `READ_ONLY` on a read-only replica ("It will return READ_ONLY when you are
/// connected to a read-only replica", Microsoft Learn, "Use read-only replicas to offload
/// read-only query workloads").
fn database_property(name: &str) -> E {
    let variant = |sql: String| E::new(sql, TypeInfo::of(SqlType::Variant, true));
    let text = |s: &str| variant(lit(s));
    match name.to_ascii_lowercase().as_str() {
        "edition" => text("GeneralPurpose"),
        "serviceobjective" => text("GP_S_Gen5_1"),
        "status" => text("ONLINE"),
        "updateability" => variant("mssql_session('updateability')".into()),
        "useraccess" => text("MULTI_USER"),
        "recovery" => text("FULL"),
        "collation" => text("SQL_Latin1_General_CP1_CI_AS"),
        "maxsizeinbytes" => variant("34359738368".into()),
        _ => variant("NULL".into()),
    }
}
