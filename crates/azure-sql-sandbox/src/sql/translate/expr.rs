//! Expressions with SQL Server's types and semantics: conditions and scalar expressions
//! outside queries, operators (`+` on strings, division by zero as 8134), `CAST`/`CONVERT`, implicit
//! conversions between types, and literals.

use super::functions::whole;
use super::{
    arithmetic_type, common_type, first_words, int_type, lit, unsupported, Frame, OutColumn, Plan,
    PlanKind, Translator, E,
};
use crate::sql::catalog::display_name;
use crate::sql::conversion::Mode;
use crate::sql::errors::{self, SqlError};
use crate::sql::types::{parse_type, Length, SqlType, TypeContext, TypeInfo, COLLATION};
use sqlparser::ast::{BinaryOperator, CastKind, Expr, UnaryOperator, Value as AstValue};

impl<'a> Translator<'a> {
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

    #[recursive::recursive]
    pub(super) fn expr(&mut self, e: &Expr) -> Result<E, SqlError> {
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
                    COLLATION
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

    pub(super) fn boolean(&self) -> TypeInfo {
        TypeInfo::of(SqlType::Bit, true)
    }

    pub(super) fn cast(&mut self, expr: &Expr, type_text: &str, try_: bool) -> Result<E, SqlError> {
        let target = parse_type(type_text, TypeContext::Cast, 1, "")?;
        let x = self.expr(expr)?;
        let nullable = x.ty.nullable || try_;
        let sql = self.conv(&x.sql, target.clone(), x.ty.ty, Mode::Cast { try_ });
        Ok(E::new(sql, TypeInfo::of(target, nullable)))
    }

    /// A string compared with (or listed against) a number, GUID or date is converted to that type
    /// first, as SQL Server's precedence does (so `id = 'abc'` is error 245, not "no rows").
    pub(super) fn implicit_to(&mut self, other: &TypeInfo, x: E) -> E {
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

    pub(super) fn binary(
        &mut self,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
    ) -> Result<E, SqlError> {
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

    pub(super) fn literal(&mut self, v: &AstValue) -> Result<E, SqlError> {
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
}

pub(super) fn arithmetic_symbol(op: &BinaryOperator) -> &'static str {
    match op {
        BinaryOperator::Plus => "+",
        BinaryOperator::Minus => "-",
        BinaryOperator::Multiply => "*",
        BinaryOperator::Divide => "/",
        _ => "%",
    }
}

pub(super) fn literal_number(e: &Expr) -> Option<f64> {
    match e {
        Expr::Value(v) => match &v.value {
            AstValue::Number(n, _) => n.to_string().parse().ok(),
            _ => None,
        },
        Expr::Nested(e) => literal_number(e),
        _ => None,
    }
}
