//! SQL Server's types inside an engine that stores SQLite values: parsing a declared type, the
//! storage each type gets in SQLite, SQL Server's conversion rules (implicit, `CAST`/`CONVERT`, and
//! storing into a column, where truncation and `NULL` are errors), and the typed [`Value`]s that
//! leave the engine.
//!
//! Storage: integers and `BIT` as SQLite integers, `FLOAT`/`REAL`/`DECIMAL` as SQLite reals
//! (`DECIMAL` is rounded to its scale on the way in and printed with it on the way out, exact up to
//! 15 significant digits), character types as text (`CHAR(n)` padded), `VARBINARY` as blobs,
//! `UNIQUEIDENTIFIER` as upper-case canonical text and `DATETIME2` as `YYYY-MM-DD hh:mm:ss.fffffff`
//! text, which sorts and compares like the instant it names.

use super::errors::{self, SqlError};
use rusqlite::types::{Value as Sv, ValueRef};
use std::fmt;

/// A SQL Server column type, as it goes out in COLMETADATA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlType {
    /// `TINYINT`
    TinyInt,
    /// `SMALLINT`
    SmallInt,
    /// `INT`
    Int,
    /// `BIGINT`
    BigInt,
    /// `BIT`
    Bit,
    /// `REAL`
    Real,
    /// `FLOAT`
    Float,
    /// `DECIMAL(p, s)` / `NUMERIC(p, s)`
    Decimal {
        /// Total digits, 1..=38.
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
    /// `CHAR(n)`
    Char(u16),
    /// `VARCHAR(n)` / `VARCHAR(MAX)`
    VarChar(Length),
    /// `NCHAR(n)`
    NChar(u16),
    /// `NVARCHAR(n)` / `NVARCHAR(MAX)`
    NVarChar(Length),
    /// `VARBINARY(n)` / `VARBINARY(MAX)`
    VarBinary(Length),
    /// `UNIQUEIDENTIFIER`
    UniqueIdentifier,
    /// `DATETIME2(7)` (values travel as ISO-8601 text inside the engine)
    DateTime2,
    /// `SQL_VARIANT`, as `SESSION_CONTEXT` answers it: each value travels with its own base type
    /// (taken from the value: `int` or `bigint`, `float`, `nvarchar`, `varbinary`, ...). Not a
    /// type a column or variable can be declared with in the sandbox.
    Variant,
}

/// The declared length of a variable-length type: characters for `CHAR`/`VARCHAR`/`NVARCHAR`,
/// bytes for `VARBINARY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// `(n)`, 1..=8000 (1..=4000 for `NVARCHAR`).
    Fixed(u16),
    /// `(MAX)`
    Max,
}

/// One value in a row, or a parameter value of an RPC.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `NULL`
    Null,
    /// `BIT`
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// `REAL` / `FLOAT`
    Float(f64),
    /// `DECIMAL` / `NUMERIC`, as its exact decimal text (`"12.50"`).
    Decimal(String),
    /// Character types, `UNIQUEIDENTIFIER` (upper case, `6F9619FF-8B86-D011-B42D-00C04FC964FF`)
    /// and `DATETIME2` (`YYYY-MM-DD hh:mm:ss.fffffff`, seven fractional digits).
    Text(String),
    /// `VARBINARY`
    Bytes(Vec<u8>),
}

/// The collation every character column gets (SQLite's name for it; the SQLite functions
/// register it on every connection).
pub(crate) const COLLATION: &str = "MSSQL_CI_AS";

/// What the engine knows about an expression's type before running it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TypeInfo {
    /// The SQL Server type, when it can be told from the query (`None`: decided from the values).
    pub ty: Option<SqlType>,
    /// Whether the expression may be `NULL`.
    pub nullable: bool,
}

impl TypeInfo {
    pub(crate) fn of(ty: SqlType, nullable: bool) -> Self {
        Self {
            ty: Some(ty),
            nullable,
        }
    }

    pub(crate) fn unknown() -> Self {
        Self {
            ty: None,
            nullable: true,
        }
    }

    pub(crate) fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }
}

/// Where a type is being declared: `VARCHAR` without a length means `VARCHAR(1)` in a column or
/// variable declaration and `VARCHAR(30)` in `CAST`/`CONVERT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TypeContext {
    Declaration,
    Cast,
}

impl SqlType {
    /// The type's name as SQL Server's messages spell it (`int`, `varchar`, `numeric`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            SqlType::TinyInt => "tinyint",
            SqlType::SmallInt => "smallint",
            SqlType::Int => "int",
            SqlType::BigInt => "bigint",
            SqlType::Bit => "bit",
            SqlType::Real => "real",
            SqlType::Float => "float",
            SqlType::Decimal { .. } => "numeric",
            SqlType::Char(_) => "char",
            SqlType::VarChar(_) => "varchar",
            SqlType::NChar(_) => "nchar",
            SqlType::NVarChar(_) => "nvarchar",
            SqlType::VarBinary(_) => "varbinary",
            SqlType::UniqueIdentifier => "uniqueidentifier",
            SqlType::DateTime2 => "datetime2",
            SqlType::Variant => "sql_variant",
        }
    }

    /// Whether the type holds characters.
    pub fn is_character(&self) -> bool {
        matches!(
            self,
            SqlType::Char(_) | SqlType::VarChar(_) | SqlType::NChar(_) | SqlType::NVarChar(_)
        )
    }

    /// Whether the type is a number (`BIT` included, as SQL Server's precedence has it).
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            SqlType::TinyInt
                | SqlType::SmallInt
                | SqlType::Int
                | SqlType::BigInt
                | SqlType::Bit
                | SqlType::Real
                | SqlType::Float
                | SqlType::Decimal { .. }
        )
    }

    /// Whether the type is an exact integer type.
    pub(crate) fn is_integer(&self) -> bool {
        matches!(
            self,
            SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt
        )
    }

    /// Whether the type stores Unicode text.
    pub(crate) fn is_unicode(&self) -> bool {
        matches!(self, SqlType::NChar(_) | SqlType::NVarChar(_))
    }

    /// SQL Server's data type precedence: in an expression mixing two types, the one ranked higher
    /// wins and the other is converted to it.
    pub(crate) fn precedence(&self) -> u8 {
        match self {
            SqlType::Variant => 110,
            SqlType::DateTime2 => 100,
            SqlType::Float => 90,
            SqlType::Real => 85,
            SqlType::Decimal { .. } => 80,
            SqlType::BigInt => 70,
            SqlType::Int => 65,
            SqlType::SmallInt => 60,
            SqlType::TinyInt => 55,
            SqlType::Bit => 50,
            SqlType::UniqueIdentifier => 45,
            SqlType::NVarChar(_) => 40,
            SqlType::NChar(_) => 38,
            SqlType::VarChar(_) => 35,
            SqlType::Char(_) => 33,
            SqlType::VarBinary(_) => 20,
        }
    }

    /// The character length of a character type (`None` for `MAX` and non-character types).
    pub(crate) fn char_length(&self) -> Option<u16> {
        match self {
            SqlType::Char(n) | SqlType::NChar(n) => Some(*n),
            SqlType::VarChar(Length::Fixed(n)) | SqlType::NVarChar(Length::Fixed(n)) => Some(*n),
            _ => None,
        }
    }

    /// The range of an integer type.
    pub(crate) fn integer_range(&self) -> Option<(i64, i64)> {
        match self {
            SqlType::TinyInt => Some((0, 255)),
            SqlType::SmallInt => Some((i16::MIN as i64, i16::MAX as i64)),
            SqlType::Int => Some((i32::MIN as i64, i32::MAX as i64)),
            SqlType::BigInt => Some((i64::MIN, i64::MAX)),
            _ => None,
        }
    }

    /// The column declaration SQLite gets: the SQL Server type text (so its type affinity follows:
    /// `...INT` integer, `...CHAR` text) and, for text, the case-insensitive collation SQL Server's
    /// default `SQL_Latin1_General_CP1_CI_AS` gives.
    pub(crate) fn sqlite_declaration(&self) -> String {
        // SQLite takes `(n)` after a type name but not `(MAX)`.
        let text = self
            .to_string()
            .to_ascii_uppercase()
            .replace("(MAX)", " MAX");
        match self {
            SqlType::Char(_)
            | SqlType::VarChar(_)
            | SqlType::NChar(_)
            | SqlType::NVarChar(_)
            | SqlType::UniqueIdentifier => {
                format!("{text} COLLATE {}", COLLATION)
            }
            _ => text,
        }
    }
}

impl fmt::Display for SqlType {
    /// The type as T-SQL declares it: `int`, `varchar(50)`, `nvarchar(max)`, `decimal(10,2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn length(f: &mut fmt::Formatter<'_>, name: &str, l: &Length) -> fmt::Result {
            match l {
                Length::Fixed(n) => write!(f, "{name}({n})"),
                Length::Max => write!(f, "{name}(max)"),
            }
        }
        match self {
            SqlType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            SqlType::Char(n) => write!(f, "char({n})"),
            SqlType::NChar(n) => write!(f, "nchar({n})"),
            SqlType::VarChar(l) => length(f, "varchar", l),
            SqlType::NVarChar(l) => length(f, "nvarchar", l),
            SqlType::VarBinary(l) => length(f, "varbinary", l),
            SqlType::DateTime2 => write!(f, "datetime2(7)"),
            other => f.write_str(other.name()),
        }
    }
}

/// Parses a T-SQL type as written (`INT`, `VARCHAR(50)`, `nvarchar(max)`, `DECIMAL(10, 2)`,
/// `sysname`, ...). `position` numbers the column or variable for error 2715; `what` names it for
/// error 131 (`column 'c'`; empty: the type itself).
pub(crate) fn parse_type(
    text: &str,
    context: TypeContext,
    position: usize,
    what: &str,
) -> Result<SqlType, SqlError> {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let (name, args) = match compact.find('(') {
        Some(open) if compact.ends_with(')') => (
            &compact[..open],
            compact[open + 1..compact.len() - 1]
                .split(',')
                .map(str::to_string)
                .collect::<Vec<_>>(),
        ),
        _ => (compact.as_str(), Vec::new()),
    };
    let unknown = || errors::UNKNOWN_TYPE.with(&[&position.to_string(), text.trim()]);
    let number = |i: usize| -> Result<Option<u32>, SqlError> {
        match args.get(i) {
            None => Ok(None),
            Some(a) => a.parse::<u32>().map(Some).map_err(|_| unknown()),
        }
    };
    let too_long = |n: u32, max: u32| {
        let what = if what.is_empty() {
            format!("type '{}'", name.to_ascii_lowercase())
        } else {
            what.to_string()
        };
        errors::TOO_LONG_TYPE.with(&[&n.to_string(), &what, &max.to_string()])
    };
    let default_length = match context {
        TypeContext::Declaration => 1,
        TypeContext::Cast => 30,
    };
    let length = |max: u32| -> Result<Length, SqlError> {
        match args.first().map(String::as_str) {
            Some("MAX") => Ok(Length::Max),
            _ => match number(0)? {
                None => Ok(Length::Fixed(default_length)),
                Some(0) => Err(unknown()),
                Some(n) if n > max => Err(too_long(n, max)),
                Some(n) => Ok(Length::Fixed(n as u16)),
            },
        }
    };
    let fixed = |max: u32| -> Result<u16, SqlError> {
        match length(max)? {
            Length::Fixed(n) => Ok(n),
            Length::Max => Err(unknown()),
        }
    };
    let ty = match name {
        "TINYINT" => SqlType::TinyInt,
        "SMALLINT" => SqlType::SmallInt,
        "INT" | "INTEGER" => SqlType::Int,
        "BIGINT" => SqlType::BigInt,
        "BIT" => SqlType::Bit,
        "REAL" => SqlType::Real,
        "FLOAT" => match number(0)? {
            Some(n) if n <= 24 => SqlType::Real,
            Some(n) if n > 53 => return Err(unknown()),
            _ => SqlType::Float,
        },
        "DOUBLEPRECISION" => SqlType::Float,
        "DECIMAL" | "NUMERIC" | "DEC" => {
            let precision = number(0)?.unwrap_or(18);
            let scale = number(1)?.unwrap_or(0);
            if precision == 0 || precision > 38 || scale > precision {
                return Err(unknown());
            }
            SqlType::Decimal {
                precision: precision as u8,
                scale: scale as u8,
            }
        }
        "MONEY" => SqlType::Decimal {
            precision: 19,
            scale: 4,
        },
        "SMALLMONEY" => SqlType::Decimal {
            precision: 10,
            scale: 4,
        },
        "CHAR" | "CHARACTER" => SqlType::Char(fixed(8000)?),
        "VARCHAR" | "CHARVARYING" | "CHARACTERVARYING" => SqlType::VarChar(length(8000)?),
        "NCHAR" | "NATIONALCHAR" | "NATIONALCHARACTER" => SqlType::NChar(fixed(4000)?),
        "NVARCHAR" | "NATIONALCHARVARYING" | "NATIONALCHARACTERVARYING" => {
            SqlType::NVarChar(length(4000)?)
        }
        "TEXT" => SqlType::VarChar(Length::Max),
        "NTEXT" => SqlType::NVarChar(Length::Max),
        "SYSNAME" => SqlType::NVarChar(Length::Fixed(128)),
        "VARBINARY" | "BINARY" | "BINARYVARYING" => SqlType::VarBinary(length(8000)?),
        "IMAGE" => SqlType::VarBinary(Length::Max),
        "UNIQUEIDENTIFIER" => SqlType::UniqueIdentifier,
        "DATETIME2" | "DATETIME" | "SMALLDATETIME" => SqlType::DateTime2,
        _ => return Err(unknown()),
    };
    Ok(ty)
}

/// How a conversion treats what does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `CAST`/`CONVERT` (and the `TRY_` forms, which give `NULL` instead of an error): strings
    /// are cut to the target length without complaint.
    Cast { try_: bool },
    /// An implicit conversion inside an expression (a string compared with a number).
    Implicit,
    /// Storing into a column: a value too long is error 2628, `NULL` into `NOT NULL` is 515.
    Store(StoreTarget),
}

/// The column a value is being stored into, for the errors that name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoreTarget {
    /// `database.dbo.Table`, as 2628 and 515 name the table.
    pub qualified_table: String,
    pub column: String,
    pub nullable: bool,
    /// `INSERT` or `UPDATE`, for 515's "INSERT fails.".
    pub operation: &'static str,
}

/// The name SQL Server's conversion errors give a value's source type.
pub(crate) fn source_name(source: Option<&SqlType>, value: &ValueRef<'_>) -> &'static str {
    match source {
        Some(t) => t.name(),
        None => match value {
            ValueRef::Integer(_) => "int",
            ValueRef::Real(_) => "float",
            ValueRef::Blob(_) => "varbinary",
            _ => "varchar",
        },
    }
}

/// Converts a value to `target` following SQL Server's rules; `source` is the value's static type
/// when known (it decides the wording of errors and how a number is printed as text).
pub(crate) fn convert(
    value: ValueRef<'_>,
    target: &SqlType,
    source: Option<&SqlType>,
    mode: &Mode,
) -> Result<Sv, SqlError> {
    // A sql_variant converts from the type its value carries.
    let source = source.filter(|s| **s != SqlType::Variant);
    let result = convert_inner(value, target, source, mode);
    match (result, mode) {
        (Err(_), Mode::Cast { try_: true }) => Ok(Sv::Null),
        (r, _) => r,
    }
}

fn convert_inner(
    value: ValueRef<'_>,
    target: &SqlType,
    source: Option<&SqlType>,
    mode: &Mode,
) -> Result<Sv, SqlError> {
    if let ValueRef::Null = value {
        if let Mode::Store(t) = mode {
            if !t.nullable {
                return Err(errors::NOT_NULL.with(&[&t.column, &t.qualified_table, t.operation]));
            }
        }
        return Ok(Sv::Null);
    }
    let src = source_name(source, &value);
    let text_of = |v: &ValueRef<'_>| -> String {
        match v {
            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            ValueRef::Integer(i) => i.to_string(),
            ValueRef::Real(f) => format_real(*f, source),
            ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
            ValueRef::Null => String::new(),
        }
    };
    match target {
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
            let (lo, hi) = target.integer_range().unwrap_or((i64::MIN, i64::MAX));
            let overflow = || errors::ARITHMETIC_OVERFLOW.with(&["expression", target.name()]);
            let i = match value {
                ValueRef::Integer(i) => i,
                ValueRef::Real(f) => {
                    let t = f.trunc();
                    if !t.is_finite() || t < lo as f64 || t > hi as f64 {
                        return Err(overflow());
                    }
                    t as i64
                }
                ValueRef::Text(_) => {
                    let s = text_of(&value);
                    let trimmed = s.trim();
                    if trimmed.is_empty() {
                        0
                    } else if is_integer_literal(trimmed) {
                        match trimmed.parse::<i64>() {
                            Ok(i) if i >= lo && i <= hi => i,
                            _ => {
                                return Err(errors::CONVERSION_OVERFLOW.with(&[
                                    src,
                                    &s,
                                    target.name(),
                                ]))
                            }
                        }
                    } else {
                        return Err(errors::CONVERSION_FAILED.with(&[src, &s, target.name()]));
                    }
                }
                ValueRef::Blob(b) => {
                    let tail = &b[b.len().saturating_sub(8)..];
                    tail.iter()
                        .fold(0i64, |acc, byte| (acc << 8) | *byte as i64)
                }
                ValueRef::Null => return Ok(Sv::Null),
            };
            if i < lo || i > hi {
                return Err(overflow());
            }
            Ok(Sv::Integer(i))
        }
        SqlType::Bit => {
            let b = match value {
                ValueRef::Integer(i) => i != 0,
                ValueRef::Real(f) => f != 0.0,
                ValueRef::Text(_) => {
                    let s = text_of(&value);
                    let t = s.trim();
                    if t.eq_ignore_ascii_case("true") {
                        true
                    } else if t.eq_ignore_ascii_case("false") || t.is_empty() {
                        false
                    } else if let Ok(f) = t.parse::<f64>() {
                        f != 0.0
                    } else {
                        return Err(errors::CONVERSION_FAILED.with(&[src, &s, "bit"]));
                    }
                }
                ValueRef::Blob(b) => b.iter().any(|x| *x != 0),
                ValueRef::Null => return Ok(Sv::Null),
            };
            Ok(Sv::Integer(b as i64))
        }
        SqlType::Float | SqlType::Real => {
            let f = match value {
                ValueRef::Integer(i) => i as f64,
                ValueRef::Real(f) => f,
                ValueRef::Text(_) => {
                    let s = text_of(&value);
                    let t = s.trim();
                    if t.is_empty() {
                        0.0
                    } else {
                        t.parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite())
                            .ok_or_else(|| errors::CONVERT_TO_NUMERIC.with(&[src, "float"]))?
                    }
                }
                ValueRef::Blob(_) => {
                    return Err(errors::EXPLICIT_CONVERSION.with(&[src, target.name()]))
                }
                ValueRef::Null => return Ok(Sv::Null),
            };
            if *target == SqlType::Real {
                let r = f as f32;
                if r.is_infinite() {
                    return Err(errors::ARITHMETIC_OVERFLOW.with(&["expression", "real"]));
                }
                return Ok(Sv::Real(r as f64));
            }
            Ok(Sv::Real(f))
        }
        SqlType::Decimal { precision, scale } => {
            let f = match value {
                ValueRef::Integer(i) => i as f64,
                ValueRef::Real(f) => f,
                ValueRef::Text(_) => {
                    let s = text_of(&value);
                    let t = s.trim();
                    if !is_decimal_literal(t) {
                        return Err(errors::CONVERT_TO_NUMERIC.with(&[src, "numeric"]));
                    }
                    t.parse::<f64>()
                        .map_err(|_| errors::CONVERT_TO_NUMERIC.with(&[src, "numeric"]))?
                }
                ValueRef::Blob(_) => {
                    return Err(errors::EXPLICIT_CONVERSION.with(&[src, "numeric"]))
                }
                ValueRef::Null => return Ok(Sv::Null),
            };
            let factor = 10f64.powi(*scale as i32);
            let rounded = (f * factor).round() / factor;
            let limit = 10f64.powi(*precision as i32 - *scale as i32);
            if !rounded.is_finite() || rounded.abs() >= limit {
                return Err(errors::ARITHMETIC_OVERFLOW.with(&[src, "numeric"]));
            }
            Ok(Sv::Real(rounded))
        }
        SqlType::Char(_) | SqlType::VarChar(_) | SqlType::NChar(_) | SqlType::NVarChar(_) => {
            if let (ValueRef::Blob(_), Some(SqlType::UniqueIdentifier)) = (&value, source) {
                return Ok(Sv::Text(text_of(&value)));
            }
            let mut s = text_of(&value);
            if let Some(max) = target.char_length() {
                let max = max as usize;
                let count = s.chars().count();
                if count > max {
                    let cut: String = s.chars().take(max).collect();
                    let rest_blank = s.chars().skip(max).all(|c| c == ' ');
                    if let Mode::Store(t) = mode {
                        if !rest_blank {
                            return Err(errors::TRUNCATED.with(&[
                                &t.qualified_table,
                                &t.column,
                                &cut,
                            ]));
                        }
                    }
                    s = cut;
                }
                if matches!(target, SqlType::Char(_) | SqlType::NChar(_)) {
                    let count = s.chars().count();
                    s.extend(std::iter::repeat_n(' ', max.saturating_sub(count)));
                }
            }
            Ok(Sv::Text(s))
        }
        SqlType::VarBinary(length) => {
            let bytes = match value {
                ValueRef::Blob(b) => b.to_vec(),
                ValueRef::Text(t) => t.to_vec(),
                ValueRef::Integer(i) => {
                    let width = match source {
                        Some(SqlType::TinyInt) | Some(SqlType::Bit) => 1,
                        Some(SqlType::SmallInt) => 2,
                        Some(SqlType::BigInt) => 8,
                        _ => 4,
                    };
                    i.to_be_bytes()[8 - width..].to_vec()
                }
                ValueRef::Real(_) => {
                    return Err(errors::EXPLICIT_CONVERSION.with(&[src, "varbinary"]))
                }
                ValueRef::Null => return Ok(Sv::Null),
            };
            if let Length::Fixed(n) = length {
                let n = *n as usize;
                if bytes.len() > n {
                    if let Mode::Store(t) = mode {
                        return Err(errors::TRUNCATED.with(&[
                            &t.qualified_table,
                            &t.column,
                            &format!("0x{}", hex(&bytes[..n])),
                        ]));
                    }
                    return Ok(Sv::Blob(bytes[..n].to_vec()));
                }
            }
            Ok(Sv::Blob(bytes))
        }
        SqlType::UniqueIdentifier => match value {
            ValueRef::Text(_) => {
                let s = text_of(&value);
                parse_guid(s.trim())
                    .map(Sv::Text)
                    .ok_or_else(|| errors::CONVERT_GUID.plain())
            }
            ValueRef::Blob(b) if b.len() == 16 => Ok(Sv::Text(guid_from_bytes(b))),
            _ => Err(errors::EXPLICIT_CONVERSION.with(&[src, "uniqueidentifier"])),
        },
        SqlType::DateTime2 => match value {
            ValueRef::Text(_) => {
                let s = text_of(&value);
                parse_datetime(s.trim())
                    .map(Sv::Text)
                    .ok_or_else(|| errors::CONVERT_DATETIME.plain())
            }
            _ => Err(errors::EXPLICIT_CONVERSION.with(&[src, "datetime2"])),
        },
        // Any value fits a sql_variant, keeping its own type.
        SqlType::Variant => Ok(owned(value)),
    }
}

fn is_integer_literal(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_decimal_literal(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let mut parts = body.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("");
    (!whole.is_empty() || !fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// A real printed as SQL Server prints the source type: a `DECIMAL(p, s)` with its scale, a
/// float in its shortest form.
pub(crate) fn format_real(f: f64, source: Option<&SqlType>) -> String {
    match source {
        Some(SqlType::Decimal { scale, .. }) => format!("{:.*}", *scale as usize, f),
        _ => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", f as i64)
            } else {
                format!("{f}")
            }
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A GUID in SQL Server's canonical form (upper case, with dashes), from text with or without
/// braces; `None` if it is not one.
pub(crate) fn parse_guid(s: &str) -> Option<String> {
    let s = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s);
    let groups: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    if groups.len() != 5
        || groups
            .iter()
            .zip(lengths)
            .any(|(g, l)| g.len() != l || !g.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    Some(s.to_ascii_uppercase())
}

/// A GUID from its 16 bytes in SQL Server's order (the first three groups little-endian).
pub(crate) fn guid_from_bytes(b: &[u8]) -> String {
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{}-{}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        hex(&b[8..10]),
        hex(&b[10..16])
    )
}

/// The 16 bytes of a canonical GUID in SQL Server's order (what `sid` holds for an Entra user).
pub(crate) fn guid_to_bytes(guid: &str) -> Option<Vec<u8>> {
    let canonical = parse_guid(guid)?;
    let digits: String = canonical.chars().filter(|c| *c != '-').collect();
    let raw: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let mut out = raw.clone();
    out[..4].copy_from_slice(&[raw[3], raw[2], raw[1], raw[0]]);
    out[4..6].copy_from_slice(&[raw[5], raw[4]]);
    out[6..8].copy_from_slice(&[raw[7], raw[6]]);
    Some(out)
}

/// A date/time in the engine's `DATETIME2` form, `YYYY-MM-DD hh:mm:ss.fffffff`, from the forms
/// SQL Server reads regardless of `DATEFORMAT`: `YYYY-MM-DD`, `YYYYMMDD`, each optionally
/// followed by `hh:mm[:ss[.fffffff]]` after a space or `T`.
pub(crate) fn parse_datetime(s: &str) -> Option<String> {
    let (date, time) = match s.find([' ', 'T']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let (y, m, d) = if date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-'
    {
        (
            date[..4].parse::<u32>().ok()?,
            date[5..7].parse::<u32>().ok()?,
            date[8..10].parse::<u32>().ok()?,
        )
    } else if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        (
            date[..4].parse().ok()?,
            date[4..6].parse().ok()?,
            date[6..8].parse().ok()?,
        )
    } else {
        return None;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days[m as usize - 1] {
        return None;
    }
    let time = time.strip_suffix('Z').unwrap_or(time);
    let (mut hh, mut mm, mut ss, mut fraction) = (0u32, 0u32, 0u32, String::new());
    if !time.is_empty() {
        let (clock, frac) = match time.split_once('.') {
            Some((c, f)) => (c, f),
            None => (time, ""),
        };
        let parts: Vec<&str> = clock.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty() || p.len() > 2) {
            return None;
        }
        hh = parts[0].parse().ok()?;
        mm = parts[1].parse().ok()?;
        ss = match parts.get(2) {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 7 {
            return None;
        }
        fraction = frac.to_string();
    }
    while fraction.len() < 7 {
        fraction.push('0');
    }
    Some(format!(
        "{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}.{fraction}"
    ))
}

/// The typed value that leaves the engine for a stored value in a column of type `ty`; `None`
/// when the value does not fit the type (the caller then widens the column's type).
pub(crate) fn output_value(v: &Sv, ty: &SqlType) -> Option<Value> {
    if let Sv::Null = v {
        return Some(Value::Null);
    }
    match ty {
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
            let (lo, hi) = ty.integer_range()?;
            let i = match v {
                Sv::Integer(i) => *i,
                Sv::Real(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => *f as i64,
                _ => return None,
            };
            (i >= lo && i <= hi).then_some(Value::Int(i))
        }
        SqlType::Bit => match v {
            Sv::Integer(i) => Some(Value::Bool(*i != 0)),
            Sv::Real(f) => Some(Value::Bool(*f != 0.0)),
            _ => None,
        },
        SqlType::Float | SqlType::Real => match v {
            Sv::Integer(i) => Some(Value::Float(*i as f64)),
            Sv::Real(f) => Some(Value::Float(*f)),
            _ => None,
        },
        SqlType::Decimal { precision, scale } => {
            let f = match v {
                Sv::Integer(i) => *i as f64,
                Sv::Real(f) => *f,
                Sv::Text(t) if is_decimal_literal(t.trim()) => t.trim().parse().ok()?,
                _ => return None,
            };
            let text = format!("{:.*}", *scale as usize, f);
            let digits = text.bytes().filter(u8::is_ascii_digit).count();
            let leading_zero = text.trim_start_matches('-').starts_with("0.");
            let significant = digits - usize::from(leading_zero && *scale > 0);
            (significant <= *precision as usize || f == 0.0).then_some(Value::Decimal(text))
        }
        SqlType::Char(_) | SqlType::VarChar(_) | SqlType::NChar(_) | SqlType::NVarChar(_) => {
            let text = match v {
                Sv::Text(t) => t.clone(),
                Sv::Integer(i) => i.to_string(),
                Sv::Real(f) => format_real(*f, None),
                _ => return None,
            };
            match ty.char_length() {
                Some(n) if text.chars().count() > n as usize => None,
                _ => Some(Value::Text(text)),
            }
        }
        SqlType::VarBinary(length) => match v {
            Sv::Blob(b) => match length {
                Length::Fixed(n) if b.len() > *n as usize => None,
                _ => Some(Value::Bytes(b.clone())),
            },
            _ => None,
        },
        SqlType::UniqueIdentifier => match v {
            Sv::Text(t) => parse_guid(t).map(Value::Text),
            _ => None,
        },
        SqlType::DateTime2 => match v {
            Sv::Text(t) => parse_datetime(t).map(Value::Text),
            _ => None,
        },
        SqlType::Variant => Some(match v {
            Sv::Null => Value::Null,
            Sv::Integer(i) => Value::Int(*i),
            Sv::Real(f) => Value::Float(*f),
            Sv::Text(t) => Value::Text(t.clone()),
            Sv::Blob(b) => Value::Bytes(b.clone()),
        }),
    }
}

/// The type SQL Server would give a column of these values when the query did not tell: integers
/// `INT` (or `BIGINT` past its range), reals `FLOAT`, text `NVARCHAR`, blobs `VARBINARY`; only
/// `NULL`s, `INT` (as `SELECT NULL` is).
pub(crate) fn type_of_values<'a>(values: impl Iterator<Item = &'a Sv>) -> SqlType {
    let (mut ints, mut big, mut reals, mut texts, mut blobs) =
        (false, false, false, 0usize, 0usize);
    let (mut any_text, mut any_blob) = (false, false);
    for v in values {
        match v {
            Sv::Null => {}
            Sv::Integer(i) => {
                ints = true;
                if *i < i32::MIN as i64 || *i > i32::MAX as i64 {
                    big = true;
                }
            }
            Sv::Real(_) => reals = true,
            Sv::Text(t) => {
                any_text = true;
                texts = texts.max(t.chars().count());
            }
            Sv::Blob(b) => {
                any_blob = true;
                blobs = blobs.max(b.len());
            }
        }
    }
    let length = |n: usize, max: usize| {
        if n > max {
            Length::Max
        } else {
            Length::Fixed(n.max(1) as u16)
        }
    };
    if any_text {
        SqlType::NVarChar(length(texts, 4000))
    } else if any_blob {
        SqlType::VarBinary(length(blobs, 8000))
    } else if reals {
        SqlType::Float
    } else if big {
        SqlType::BigInt
    } else {
        let _ = ints;
        SqlType::Int
    }
}

/// An owned copy of a SQLite value (text that is not UTF-8 is repaired, never refused).
pub(crate) fn owned(v: ValueRef<'_>) -> Sv {
    match v {
        ValueRef::Null => Sv::Null,
        ValueRef::Integer(i) => Sv::Integer(i),
        ValueRef::Real(f) => Sv::Real(f),
        ValueRef::Text(t) => Sv::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Sv::Blob(b.to_vec()),
    }
}

/// The engine's storage value for a parameter or variable value.
pub(crate) fn to_storage(v: &Value) -> Sv {
    match v {
        Value::Null => Sv::Null,
        Value::Bool(b) => Sv::Integer(*b as i64),
        Value::Int(i) => Sv::Integer(*i),
        Value::Float(f) => Sv::Real(*f),
        Value::Decimal(d) => d
            .trim()
            .parse::<f64>()
            .map(Sv::Real)
            .unwrap_or_else(|_| Sv::Text(d.clone())),
        Value::Text(t) => Sv::Text(t.clone()),
        Value::Bytes(b) => Sv::Blob(b.clone()),
    }
}

/// The static type of a parameter value sent without a declared type.
pub(crate) fn type_of_value(v: &Value) -> TypeInfo {
    match v {
        Value::Null => TypeInfo::unknown(),
        Value::Bool(_) => TypeInfo::of(SqlType::Bit, false),
        Value::Int(i) if *i >= i32::MIN as i64 && *i <= i32::MAX as i64 => {
            TypeInfo::of(SqlType::Int, false)
        }
        Value::Int(_) => TypeInfo::of(SqlType::BigInt, false),
        Value::Float(_) => TypeInfo::of(SqlType::Float, false),
        Value::Decimal(d) => {
            let t = d.trim().trim_start_matches(['-', '+']);
            let scale = t.split_once('.').map(|(_, f)| f.len()).unwrap_or(0);
            let digits = t.bytes().filter(u8::is_ascii_digit).count();
            TypeInfo::of(
                SqlType::Decimal {
                    precision: digits.clamp(1, 38) as u8,
                    scale: scale.min(38) as u8,
                },
                false,
            )
        }
        Value::Text(t) => TypeInfo::of(
            SqlType::NVarChar(if t.chars().count() > 4000 {
                Length::Max
            } else {
                Length::Fixed(4000)
            }),
            false,
        ),
        Value::Bytes(_) => TypeInfo::of(SqlType::VarBinary(Length::Max), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(column: &str, nullable: bool) -> Mode {
        Mode::Store(StoreTarget {
            qualified_table: "customers.dbo.Customer".into(),
            column: column.into(),
            nullable,
            operation: "INSERT",
        })
    }

    fn text(s: &str) -> ValueRef<'_> {
        ValueRef::Text(s.as_bytes())
    }

    #[test]
    fn parses_the_declared_types() {
        let p = |t| parse_type(t, TypeContext::Declaration, 1, "column").unwrap();
        assert_eq!(p("INT"), SqlType::Int);
        assert_eq!(p("varchar(50)"), SqlType::VarChar(Length::Fixed(50)));
        assert_eq!(p("VARCHAR"), SqlType::VarChar(Length::Fixed(1)));
        assert_eq!(p("nvarchar(MAX)"), SqlType::NVarChar(Length::Max));
        assert_eq!(
            p("DECIMAL(10, 2)"),
            SqlType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(
            p("numeric"),
            SqlType::Decimal {
                precision: 18,
                scale: 0
            }
        );
        assert_eq!(p("FLOAT(24)"), SqlType::Real);
        assert_eq!(p("sysname"), SqlType::NVarChar(Length::Fixed(128)));
        assert_eq!(p("UNIQUEIDENTIFIER"), SqlType::UniqueIdentifier);
        assert_eq!(p("DATETIME2(3)"), SqlType::DateTime2);
        assert_eq!(
            parse_type("VARCHAR", TypeContext::Cast, 1, "").unwrap(),
            SqlType::VarChar(Length::Fixed(30))
        );
    }

    #[test]
    fn refuses_unknown_types_and_oversized_lengths() {
        let e = parse_type("GEOGRAPHY", TypeContext::Declaration, 2, "column").unwrap_err();
        assert_eq!(e.number, 2715);
        assert_eq!(
            e.message,
            "Column, parameter, or variable #2: Cannot find data type GEOGRAPHY."
        );
        let e = parse_type("VARCHAR(9000)", TypeContext::Declaration, 1, "column").unwrap_err();
        assert_eq!(e.number, 131);
        let e = parse_type("NVARCHAR(4001)", TypeContext::Declaration, 1, "column").unwrap_err();
        assert_eq!(e.number, 131);
    }

    #[test]
    fn text_to_int_follows_sql_server() {
        let int = SqlType::Int;
        let cast = Mode::Cast { try_: false };
        assert_eq!(
            convert(text(" 42 "), &int, None, &cast).unwrap(),
            Sv::Integer(42)
        );
        assert_eq!(
            convert(text(""), &int, None, &cast).unwrap(),
            Sv::Integer(0)
        );
        let e = convert(text("abc"), &int, None, &cast).unwrap_err();
        assert_eq!(e.number, 245);
        assert_eq!(
            e.message,
            "Conversion failed when converting the varchar value 'abc' to data type int."
        );
        let e = convert(
            text("1.5"),
            &int,
            Some(&SqlType::NVarChar(Length::Fixed(10))),
            &cast,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Conversion failed when converting the nvarchar value '1.5' to data type int."
        );
        assert_eq!(
            convert(text("abc"), &int, None, &Mode::Cast { try_: true }).unwrap(),
            Sv::Null
        );
        assert_eq!(
            convert(ValueRef::Real(2.9), &int, None, &cast).unwrap(),
            Sv::Integer(2)
        );
        let e = convert(ValueRef::Integer(300), &SqlType::TinyInt, None, &cast).unwrap_err();
        assert_eq!(e.number, 8115);
    }

    #[test]
    fn bits_take_any_nonzero_and_the_words_true_and_false() {
        let cast = Mode::Cast { try_: false };
        assert_eq!(
            convert(ValueRef::Integer(5), &SqlType::Bit, None, &cast).unwrap(),
            Sv::Integer(1)
        );
        assert_eq!(
            convert(text("TRUE"), &SqlType::Bit, None, &cast).unwrap(),
            Sv::Integer(1)
        );
        assert_eq!(
            convert(text("false"), &SqlType::Bit, None, &cast).unwrap(),
            Sv::Integer(0)
        );
        assert_eq!(
            convert(text("yes"), &SqlType::Bit, None, &cast)
                .unwrap_err()
                .number,
            245
        );
    }

    #[test]
    fn storing_a_long_string_is_error_2628_with_the_cut_value() {
        let e = convert(
            text("abcdef"),
            &SqlType::VarChar(Length::Fixed(3)),
            None,
            &store("first_name", true),
        )
        .unwrap_err();
        assert_eq!(e.number, 2628);
        assert_eq!(e.message, "String or binary data would be truncated in table 'customers.dbo.Customer', column 'first_name'. Truncated value: 'abc'.");
        // Trailing blanks are cut silently, and CAST cuts anything silently.
        assert_eq!(
            convert(
                text("abc   "),
                &SqlType::VarChar(Length::Fixed(3)),
                None,
                &store("c", true)
            )
            .unwrap(),
            Sv::Text("abc".into())
        );
        assert_eq!(
            convert(
                text("abcdef"),
                &SqlType::VarChar(Length::Fixed(3)),
                None,
                &Mode::Cast { try_: false }
            )
            .unwrap(),
            Sv::Text("abc".into())
        );
        assert_eq!(
            convert(
                text("ab"),
                &SqlType::Char(4),
                None,
                &Mode::Cast { try_: false }
            )
            .unwrap(),
            Sv::Text("ab  ".into())
        );
    }

    #[test]
    fn storing_null_into_not_null_is_error_515() {
        let e = convert(ValueRef::Null, &SqlType::Int, None, &store("id", false)).unwrap_err();
        assert_eq!(e.number, 515);
        assert_eq!(e.message, "Cannot insert the value NULL into column 'id', table 'customers.dbo.Customer'; column does not allow nulls. INSERT fails.");
    }

    #[test]
    fn decimals_round_to_their_scale_and_overflow_their_precision() {
        let d = SqlType::Decimal {
            precision: 5,
            scale: 2,
        };
        let cast = Mode::Cast { try_: false };
        assert_eq!(
            convert(text("12.345"), &d, None, &cast).unwrap(),
            Sv::Real(12.35)
        );
        assert_eq!(
            convert(ValueRef::Integer(1000), &d, None, &cast)
                .unwrap_err()
                .number,
            8115
        );
        assert_eq!(
            convert(text("x"), &d, None, &cast).unwrap_err().number,
            8114
        );
        assert_eq!(
            output_value(&Sv::Real(12.5), &d),
            Some(Value::Decimal("12.50".into()))
        );
    }

    #[test]
    fn guids_and_datetimes_take_their_canonical_forms() {
        let cast = Mode::Cast { try_: false };
        assert_eq!(
            convert(
                text("{6f9619ff-8b86-d011-b42d-00c04fc964ff}"),
                &SqlType::UniqueIdentifier,
                None,
                &cast
            )
            .unwrap(),
            Sv::Text("6F9619FF-8B86-D011-B42D-00C04FC964FF".into())
        );
        assert_eq!(
            convert(text("nope"), &SqlType::UniqueIdentifier, None, &cast)
                .unwrap_err()
                .number,
            8169
        );
        let bytes = guid_to_bytes("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap();
        assert_eq!(bytes[0], 0xFF);
        assert_eq!(
            guid_from_bytes(&bytes),
            "6F9619FF-8B86-D011-B42D-00C04FC964FF"
        );
        assert_eq!(
            parse_datetime("2024-02-29T13:05:09.5").as_deref(),
            Some("2024-02-29 13:05:09.5000000")
        );
        assert_eq!(
            parse_datetime("20240101").as_deref(),
            Some("2024-01-01 00:00:00.0000000")
        );
        assert_eq!(parse_datetime("2023-02-29"), None);
        assert_eq!(
            convert(text("yesterday"), &SqlType::DateTime2, None, &cast)
                .unwrap_err()
                .number,
            241
        );
    }

    #[test]
    fn output_values_follow_the_column_type_or_ask_to_widen() {
        assert_eq!(
            output_value(&Sv::Integer(1), &SqlType::Bit),
            Some(Value::Bool(true))
        );
        assert_eq!(
            output_value(&Sv::Integer(i64::MAX), &SqlType::Int),
            None,
            "out of INT's range"
        );
        assert_eq!(output_value(&Sv::Text("x".into()), &SqlType::Int), None);
        assert_eq!(
            output_value(&Sv::Real(3.0), &SqlType::Int),
            Some(Value::Int(3))
        );
        assert_eq!(
            type_of_values([Sv::Integer(1), Sv::Null].iter()),
            SqlType::Int
        );
        assert_eq!(
            type_of_values([Sv::Integer(1), Sv::Text("ab".into())].iter()),
            SqlType::NVarChar(Length::Fixed(2))
        );
        assert_eq!(type_of_values([Sv::Null].iter()), SqlType::Int);
    }
}
