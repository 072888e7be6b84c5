//! The built-in scalar functions, each with SQL Server's argument count, result type and
//! semantics where SQLite differs: strings (`LEN` ignoring trailing blanks, `CHARINDEX`,
//! `CONCAT`, ...), math, date and time (`DATEADD`, `DATEDIFF`, `DATEPART`), `NEWID`, and the
//! metadata and session functions (`DB_NAME`, `USER_NAME`, `IS_ROLEMEMBER`, `SESSION_CONTEXT`,
//! `SCOPE_IDENTITY`, ...).

use super::functions::{whole, Call};
use super::{common_type, lit, literal_string, nvarchar, unsupported, Translator, E};
use crate::sql::errors::{self, SqlError};
use crate::sql::types::{Length, SqlType, TypeInfo, COLLATION};
use sqlparser::ast::Expr;

impl<'a> Translator<'a> {
    /// A built-in scalar function (error 195 for a function T-SQL does not have).
    pub(super) fn builtin(&mut self, call: &Call) -> Result<E, SqlError> {
        let (name, args) = (&call.name, &call.args);
        let session = |field: &str| format!("mssql_session('{field}')");
        let name128 = TypeInfo::of(nvarchar(128), false);
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
                call.arity(2)?;
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
                call.arity(2)?;
                E::new(
                    format!("nullif({}, {})", sqls[0], sqls[1]),
                    first_ty.nullable(),
                )
            }
            "IIF" => {
                call.arity(3)?;
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
                call.arity(1)?;
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
                call.arity(1)?;
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
                call.arity(1)?;
                E::new(
                    format!("mssql_{}({})", name.to_lowercase(), sqls[0]),
                    TypeInfo {
                        ty: Some(text_type(&first_ty)),
                        nullable: first_ty.nullable,
                    },
                )
            }
            "LTRIM" | "RTRIM" => {
                call.arity_range(1, 2)?;
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
                call.arity(3)?;
                E::new(
                    format!("substr({}, {}, {})", sqls[0], sqls[1], sqls[2]),
                    TypeInfo {
                        ty: Some(text_type(&first_ty)),
                        nullable: true,
                    },
                )
            }
            "LEFT" | "RIGHT" => {
                call.arity(2)?;
                E::new(
                    format!("mssql_{}({}, {})", name.to_lowercase(), sqls[0], sqls[1]),
                    TypeInfo {
                        ty: Some(text_type(&first_ty)),
                        nullable: any_nullable,
                    },
                )
            }
            "REPLACE" => {
                call.arity(3)?;
                E::new(
                    format!("replace({}, {}, {})", sqls[0], sqls[1], sqls[2]),
                    TypeInfo {
                        ty: Some(text_type(&first_ty).clone()),
                        nullable: any_nullable,
                    },
                )
            }
            "REPLICATE" => {
                call.arity(2)?;
                E::new(
                    format!("mssql_replicate({}, {})", sqls[0], sqls[1]),
                    TypeInfo::of(SqlType::VarChar(Length::Max), any_nullable),
                )
            }
            "SPACE" => {
                call.arity(1)?;
                E::new(
                    format!("mssql_replicate(' ', {})", sqls[0]),
                    TypeInfo::of(SqlType::VarChar(Length::Fixed(8000)), any_nullable),
                )
            }
            "CHARINDEX" => {
                call.arity_range(2, 3)?;
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
                call.arity_range(1, 2)?;
                E::new(
                    format!("('[' || replace({}, ']', ']]') || ']')", sqls[0]),
                    TypeInfo::of(nvarchar(258), true),
                )
            }
            "UNICODE" | "ASCII" => {
                call.arity(1)?;
                E::new(
                    format!("unicode({})", sqls[0]),
                    TypeInfo::of(SqlType::Int, true),
                )
            }
            "CHAR" | "NCHAR" => {
                call.arity(1)?;
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
                call.arity(1)?;
                E::new(format!("abs({})", sqls[0]), first_ty)
            }
            "SIGN" => {
                call.arity(1)?;
                E::new(format!("sign({})", sqls[0]), first_ty)
            }
            "ROUND" => {
                call.arity_range(2, 3)?;
                E::new(format!("mssql_round({}, {})", sqls[0], sqls[1]), first_ty)
            }
            "CEILING" | "FLOOR" => {
                call.arity(1)?;
                E::new(
                    format!("mssql_{}({})", name.to_lowercase(), sqls[0]),
                    whole(first_ty),
                )
            }
            "SQRT" | "EXP" | "LOG" | "LOG10" => {
                call.arity(1)?;
                E::new(
                    format!("mssql_{}({})", name.to_lowercase(), sqls[0]),
                    TypeInfo::of(SqlType::Float, first_ty.nullable),
                )
            }
            "POWER" => {
                call.arity(2)?;
                E::new(format!("mssql_power({}, {})", sqls[0], sqls[1]), first_ty)
            }
            "PI" => {
                call.arity(0)?;
                E::new(
                    std::f64::consts::PI.to_string(),
                    TypeInfo::of(SqlType::Float, false),
                )
            }
            "RAND" => {
                call.arity_range(0, 1)?;
                E::new(
                    "((abs(random()) % 1000000000) / 1000000000.0)".into(),
                    TypeInfo::of(SqlType::Float, false),
                )
            }
            "GETDATE" | "GETUTCDATE" | "SYSDATETIME" | "SYSUTCDATETIME" | "SYSDATETIMEOFFSET"
            | "CURRENT_TIMESTAMP" => {
                call.arity(0)?;
                E::new(
                    "mssql_now()".into(),
                    TypeInfo::of(SqlType::DateTime2, false),
                )
            }
            "DATEADD" => {
                call.arity(3)?;
                E::new(
                    format!("mssql_dateadd({}, {}, {})", sqls[0], sqls[1], sqls[2]),
                    TypeInfo::of(SqlType::DateTime2, any_nullable),
                )
            }
            "DATEDIFF" | "DATEDIFF_BIG" => {
                call.arity(3)?;
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
                call.arity(2)?;
                E::new(
                    format!("mssql_datepart({}, {})", sqls[0], sqls[1]),
                    TypeInfo::of(SqlType::Int, any_nullable),
                )
            }
            "YEAR" | "MONTH" | "DAY" => {
                call.arity(1)?;
                E::new(
                    format!("mssql_datepart('{}', {})", name.to_lowercase(), sqls[0]),
                    TypeInfo::of(SqlType::Int, any_nullable),
                )
            }
            "NEWID" | "NEWSEQUENTIALID" => {
                call.arity(0)?;
                E::new(
                    "mssql_newid()".into(),
                    TypeInfo::of(SqlType::UniqueIdentifier, false),
                )
            }
            "DB_NAME" => {
                call.arity_range(0, 1)?;
                E::new(session("db"), TypeInfo::of(nvarchar(128), true))
            }
            "USER_NAME" => {
                call.arity_range(0, 1)?;
                match sqls.first() {
                    None => E::new(session("user"), name128),
                    Some(id) => E::new(
                        format!("(SELECT \"name\" FROM \"sys\".\"database_principals\" WHERE \"principal_id\" = {id})"),
                        TypeInfo::of(nvarchar(128), true),
                    ),
                }
            }
            "USER_ID" | "DATABASE_PRINCIPAL_ID" => {
                call.arity_range(0, 1)?;
                match sqls.first() {
                    None => E::new(session("principal_id"), TypeInfo::of(SqlType::Int, false)),
                    Some(n) => E::new(
                        format!("(SELECT \"principal_id\" FROM \"sys\".\"database_principals\" WHERE \"name\" = {n} COLLATE {})", COLLATION),
                        TypeInfo::of(SqlType::Int, true),
                    ),
                }
            }
            "SUSER_SNAME" | "SUSER_NAME" | "ORIGINAL_LOGIN" => {
                call.arity_range(0, 1)?;
                if !xs.is_empty() {
                    return Err(unsupported(&format!("{name} of another login")));
                }
                E::new(session("login"), name128)
            }
            "CURRENT_USER" | "SESSION_USER" => E::new(session("user"), name128),
            "SYSTEM_USER" => E::new(session("login"), name128),
            "SCHEMA_NAME" => {
                call.arity_range(0, 1)?;
                E::new("'dbo'".into(), TypeInfo::of(nvarchar(128), true))
            }
            "SCHEMA_ID" => {
                call.arity_range(0, 1)?;
                E::new("1".into(), TypeInfo::of(SqlType::Int, true))
            }
            "IS_ROLEMEMBER" | "IS_MEMBER" => {
                call.arity_range(1, 2)?;
                E::new(
                    format!("mssql_is_rolemember({})", sqls.join(", ")),
                    TypeInfo::of(SqlType::Int, true),
                )
            }
            "XACT_STATE" => {
                call.arity(0)?;
                E::new(
                    session("xact_state"),
                    TypeInfo::of(SqlType::SmallInt, false),
                )
            }
            "SESSION_CONTEXT" => {
                call.arity(1)?;
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
                call.arity(0)?;
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
                call.arity(1)?;
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
            _ => return Err(errors::UNKNOWN_FUNCTION.with(&[&call.written])),
        };
        Ok(e)
    }
}
