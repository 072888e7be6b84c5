//! Function calls: aggregates and window functions, the built-in scalar functions (string, math,
//! date and time, metadata and session functions), the niladic ones written without parentheses,
//! and `SERVERPROPERTY`/`DATABASEPROPERTYEX`.

use super::{
    lit, literal_string, nvarchar, object_name_last, unsupported, Translator, E, SERVER_NAME,
};
use crate::sql::catalog::{display_name, split_dotted};
use crate::sql::errors::{self, SqlError};
use crate::sql::temp;
use crate::sql::types::{Length, SqlType, TypeInfo};
use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, OrderBySort, WindowType,
};

/// A function call, read once: its name (upper case, and as written), its arguments, and the
/// `DISTINCT` and `OVER` clauses in SQLite.
pub(super) struct Call {
    /// The name, upper case.
    pub(super) name: String,
    /// The name as written, for messages.
    pub(super) written: String,
    pub(super) args: Vec<Expr>,
    /// `COUNT(*)`.
    pub(super) star: bool,
    /// `DISTINCT ` or nothing.
    pub(super) distinct_sql: &'static str,
    /// ` OVER (...)` or nothing.
    pub(super) over_sql: String,
}

impl Call {
    /// Error 174 unless the call has `n` arguments.
    pub(super) fn arity(&self, n: usize) -> Result<(), SqlError> {
        if self.args.len() != n {
            return Err(errors::WRONG_ARGUMENT_COUNT.with(&[&self.name, &n.to_string()]));
        }
        Ok(())
    }

    /// Error 174 unless the call has `lo` to `hi` arguments.
    pub(super) fn arity_range(&self, lo: usize, hi: usize) -> Result<(), SqlError> {
        if self.args.len() < lo || self.args.len() > hi {
            return Err(errors::WRONG_ARGUMENT_COUNT.with(&[&self.name, &lo.to_string()]));
        }
        Ok(())
    }
}

impl<'a> Translator<'a> {
    /// The niladic functions T-SQL writes without parentheses.
    pub(super) fn niladic(&mut self, name: &str) -> Option<E> {
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

    pub(super) fn function(&mut self, f: &Function) -> Result<E, SqlError> {
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
        let call = Call {
            written: object_name_last(&f.name),
            name,
            args,
            star,
            distinct_sql: if distinct { "DISTINCT " } else { "" },
            over_sql: over.unwrap_or_default(),
        };
        if is_aggregate || is_ranking {
            return self.aggregate(&call);
        }
        if let Some(folded) = self.folded(&call)? {
            return Ok(folded);
        }
        self.builtin(&call)
    }

    /// An aggregate (`COUNT`, `SUM`, `STRING_AGG`, ...) or window function (`ROW_NUMBER`, `LAG`,
    /// ...), with its `OVER` clause.
    fn aggregate(&mut self, call: &Call) -> Result<E, SqlError> {
        let (name, args, star) = (&call.name, &call.args, call.star);
        let (distinct_sql, over_sql) = (call.distinct_sql, &call.over_sql);
        let result = match name.as_str() {
            "COUNT" | "COUNT_BIG" => {
                let inner = if star {
                    "*".to_string()
                } else {
                    call.arity(1)?;
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
                call.arity(1)?;
                let x = self.expr(&args[0])?;
                let ty = match &x.ty.ty {
                    Some(SqlType::Bit) => {
                        return Err(errors::SUM_OF_BIT.with(&["bit", &name.to_lowercase()]))
                    }
                    Some(t) if t.is_character() => {
                        return Err(errors::SUM_OF_BIT.with(&[t.name(), &name.to_lowercase()]))
                    }
                    Some(SqlType::TinyInt | SqlType::SmallInt | SqlType::Int) => Some(SqlType::Int),
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
                call.arity(1)?;
                let x = self.expr(&args[0])?;
                E::new(
                    format!("{}({}){over_sql}", name.to_lowercase(), x.sql),
                    x.ty.nullable(),
                )
            }
            "STRING_AGG" => {
                call.arity(2)?;
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
                call.arity(0)?;
                E::new(
                    format!("{}(){over_sql}", name.to_lowercase()),
                    TypeInfo::of(SqlType::BigInt, false),
                )
            }
            "NTILE" => {
                call.arity(1)?;
                let n = self.expr(&args[0])?;
                E::new(
                    format!("ntile({}){over_sql}", n.sql),
                    TypeInfo::of(SqlType::BigInt, false),
                )
            }
            _ => {
                call.arity_range(1, 3)?;
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
        Ok(result)
    }

    /// The functions folded now, from literal arguments (`OBJECT_ID`, `SERVERPROPERTY`,
    /// `DATABASEPROPERTYEX`, `DB_ID`); `None` for any other function.
    fn folded(&mut self, call: &Call) -> Result<Option<E>, SqlError> {
        let (name, args) = (&call.name, &call.args);
        match name.as_str() {
            "OBJECT_ID" => {
                call.arity_range(1, 2)?;
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
                return Ok(Some(E::new(
                    id.map(|i| i.to_string()).unwrap_or_else(|| "NULL".into()),
                    TypeInfo::of(SqlType::Int, true),
                )));
            }
            "SERVERPROPERTY" => {
                call.arity(1)?;
                let property = literal_string(&args[0])
                    .ok_or_else(|| unsupported("SERVERPROPERTY of a non-literal name"))?;
                return Ok(Some(server_property(&property)));
            }
            "DATABASEPROPERTYEX" => {
                call.arity(2)?;
                let property = literal_string(&args[1])
                    .ok_or_else(|| unsupported("DATABASEPROPERTYEX of a non-literal name"))?;
                return Ok(Some(database_property(&property)));
            }
            "DB_ID" => {
                call.arity_range(0, 1)?;
                let id = match args.first() {
                    None => "5".to_string(),
                    Some(a) => match literal_string(a) {
                        Some(n) if n.eq_ignore_ascii_case(self.database) => "5".into(),
                        Some(_) => "NULL".into(),
                        None => return Err(unsupported("DB_ID of a non-literal name")),
                    },
                };
                return Ok(Some(E::new(id, TypeInfo::of(SqlType::Int, true))));
            }
            _ => {}
        }
        Ok(None)
    }
}

/// Whether an unquoted name is one of T-SQL's niladic functions (`CURRENT_USER`, ...).
pub(super) fn is_niladic(name: &str) -> bool {
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
pub(super) fn whole(t: TypeInfo) -> TypeInfo {
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

pub(super) fn server_property(name: &str) -> E {
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
pub(super) fn database_property(name: &str) -> E {
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
