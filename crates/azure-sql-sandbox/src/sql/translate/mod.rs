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
//!
//! This file holds the [`Translator`], the [`Plan`] it produces and what its parts share; the
//! parts are `dml` (`INSERT`, `UPDATE`, `DELETE`), `query` (`SELECT`), `resolve` (tables,
//! columns, variables), `expr` (operators, `CAST`, literals) and `functions` (function calls, aggregates) with
//! `builtins` (the built-in scalar functions).

mod builtins;
mod dml;
mod expr;
mod functions;
mod query;
mod resolve;

use super::catalog::{display_name, Catalog, Table};
use super::conversion::Mode;
use super::errors::{self, SqlError};
use super::principals::Permission;
use super::schema::Schema;
use super::sqlite_functions::Spec;
use super::temp::{self, TempTables};
use super::types::TypeInfo;
use super::types::{Length, SqlType};
use sqlparser::ast::{BinaryOperator, Expr, ObjectName, ObjectNamePart, Value as AstValue};
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
}
