//! Function calls: aggregates and window functions, the built-in scalar functions (string, math,
//! date and time, metadata and session functions), the niladic ones written without parentheses,
//! and `SERVERPROPERTY`/`DATABASEPROPERTYEX`.

use super::{
    common_type, lit, literal_string, nvarchar, object_name_last, unsupported, Translator, E,
    SERVER_NAME,
};
use crate::sql::catalog::{display_name, split_dotted};
use crate::sql::errors::{self, SqlError};
use crate::sql::temp::{self};
use crate::sql::types::{Length, SqlType, TypeInfo, COLLATION};
use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, OrderBySort, WindowType,
};

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
                        format!("(SELECT \"principal_id\" FROM \"sys\".\"database_principals\" WHERE \"name\" = {n} COLLATE {})", COLLATION),
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
