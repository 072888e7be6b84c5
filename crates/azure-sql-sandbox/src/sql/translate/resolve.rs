//! Name resolution as SQL Server does it: `FROM` and joins, tables (temporary, `sys.`,
//! `INFORMATION_SCHEMA.`) and their aliases, columns (207, 209 when ambiguous, correlated
//! subqueries), `@variables` and `@@` system variables.

use super::{
    first_words, int_type, lit, nvarchar, object_name_last, unsupported, Frame, Source, Translator,
    E, SERVER_NAME, VERSION,
};
use crate::sql::catalog::quote;
use crate::sql::errors::{self, SqlError};
use crate::sql::principals::Permission;
use crate::sql::types::{SqlType, TypeInfo};
use sqlparser::ast::{
    Ident, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, TableFactor, TableWithJoins,
};

impl<'a> Translator<'a> {
    pub(super) fn table_with_joins(&mut self, twj: &TableWithJoins) -> Result<String, SqlError> {
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

    pub(super) fn table_factor(&mut self, tf: &TableFactor) -> Result<String, SqlError> {
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
                if is_dm_exec_sessions(name) {
                    return Ok(self.dm_exec_sessions(exposed_alias));
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

    /// `sys.dm_exec_sessions` as a session without `VIEW DATABASE STATE` sees it: one row, its
    /// own session ("If the user doesn't have VIEW DATABASE STATE permission ..., only the
    /// current session is returned", Microsoft Learn, sys.dm_exec_sessions), with the columns
    /// drivers' tests read (`session_id`, `transaction_isolation_level`).
    fn dm_exec_sessions(&mut self, alias: Option<String>) -> String {
        let sql_alias = self.fresh("t");
        let small = || TypeInfo::of(SqlType::SmallInt, false);
        self.push_source(Source {
            exposed: alias.unwrap_or_else(|| "dm_exec_sessions".into()),
            schema: None,
            sql_alias: sql_alias.clone(),
            columns: vec![
                ("session_id".into(), small()),
                ("transaction_isolation_level".into(), small()),
            ],
        });
        format!(
            "(SELECT mssql_session('spid') AS session_id, \
             mssql_session('isolation') AS transaction_isolation_level) AS {sql_alias}"
        )
    }

    pub(super) fn push_source(&mut self, source: Source) {
        if self.frames.is_empty() {
            self.frames.push(Frame::default());
        }
        if let Some(frame) = self.frames.last_mut() {
            frame.sources.push(source);
        }
    }

    /// The source a qualifier (`c`, `Customer`, `dbo.Customer`) names, innermost scope first.
    pub(super) fn find_source(&self, qualifier: &ObjectName) -> Option<Source> {
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

    pub(super) fn find_source_parts(&self, parts: &[String]) -> Option<Source> {
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

    pub(super) fn column(&mut self, parts: &[Ident]) -> Result<E, SqlError> {
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

    pub(super) fn variable(&mut self, name: &str) -> Result<E, SqlError> {
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

    pub(super) fn system_variable(&mut self, name: &str) -> Result<E, SqlError> {
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
}

/// A column as SQLite sees it: `"t1"."name"`, or bare inside `RETURNING`.
pub(super) fn qualified(alias: &str, name: &str) -> String {
    if alias.is_empty() {
        quote(name)
    } else {
        format!("{alias}.{}", quote(name))
    }
}

/// `sys.dm_exec_sessions` (or `master.sys.dm_exec_sessions`), in any case.
fn is_dm_exec_sessions(name: &ObjectName) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.to_ascii_lowercase(),
            other => other.to_string().to_ascii_lowercase(),
        })
        .collect();
    matches!(
        parts
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["sys", "dm_exec_sessions"] | [_, "sys", "dm_exec_sessions"]
    )
}
