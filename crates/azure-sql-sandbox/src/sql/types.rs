//! SQL Server's types inside an engine that stores SQLite values: [`SqlType`] and [`Length`],
//! the typed [`Value`]s that leave the engine, what the engine knows of an expression's type, and
//! parsing a declared type (`NVARCHAR(50)`, `DECIMAL(10, 2)`, ...). Converting between them is
//! `conversion`; the forms values take in SQLite are `values`.
//!
//! Storage: integers and `BIT` as SQLite integers, `FLOAT`/`REAL`/`DECIMAL` as SQLite reals
//! (`DECIMAL` is rounded to its scale on the way in and printed with it on the way out, exact up to
//! 15 significant digits), character types as text (`CHAR(n)` padded), `VARBINARY` as blobs,
//! `UNIQUEIDENTIFIER` as upper-case canonical text and `DATETIME2` as `YYYY-MM-DD hh:mm:ss.fffffff`
//! text, which sorts and compares like the instant it names.

use super::errors::{self, SqlError};
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
