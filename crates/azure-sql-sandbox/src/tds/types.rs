//! How each SQL Server type travels: the TYPE_INFO a column or parameter carries (MS-TDS 2.2.5.4)
//! and its values (2.2.5.5), in both directions.
//!
//! - Out (COLMETADATA and ROW): every [`SqlType`] the engine returns, with the database collation
//!   on character types and PLP (partially length-prefixed) values for the `MAX` types.
//! - In (RPC parameters): the types drivers send — NULLTYPE, the fixed-length integers, bits,
//!   floats, money and datetimes, INTN, BITN, FLTN, MONEYN, DATETIMN, DECIMALN/NUMERICN, GUID,
//!   DATEN, TIMEN, DATETIME2N, DATETIMEOFFSETN, BIGVARCHR/BIGCHAR/NVARCHAR/NCHAR (with PLP for
//!   `MAX`), BIGVARBIN/BIGBINARY, XML and the legacy TEXT/NTEXT/IMAGE — read into engine
//!   [`Value`]s.

use super::collation::{self, SQL_LATIN1_GENERAL_CP1_CI_AS};
use super::error::CodecError;
use super::wire::{decode_utf16, Reader};
use super::{datetime, decimal};
use crate::sql::{Length, SqlType, Value};

/// TYPE_INFO type bytes.
pub mod ty {
    /// NULLTYPE: a parameter value of unknown type that is NULL.
    pub const NULL: u8 = 0x1F;
    /// `TINYINT NOT NULL`.
    pub const INT1: u8 = 0x30;
    /// `BIT NOT NULL`.
    pub const BIT: u8 = 0x32;
    /// `SMALLINT NOT NULL`.
    pub const INT2: u8 = 0x34;
    /// `INT NOT NULL`.
    pub const INT4: u8 = 0x38;
    /// `SMALLDATETIME NOT NULL`.
    pub const DATETIM4: u8 = 0x3A;
    /// `REAL NOT NULL`.
    pub const FLT4: u8 = 0x3B;
    /// `MONEY NOT NULL`.
    pub const MONEY: u8 = 0x3C;
    /// `DATETIME NOT NULL`.
    pub const DATETIME: u8 = 0x3D;
    /// `FLOAT NOT NULL`.
    pub const FLT8: u8 = 0x3E;
    /// `SMALLMONEY NOT NULL`.
    pub const MONEY4: u8 = 0x7A;
    /// `BIGINT NOT NULL`.
    pub const INT8: u8 = 0x7F;
    /// `UNIQUEIDENTIFIER`.
    pub const GUID: u8 = 0x24;
    /// Nullable integers (length 1, 2, 4, 8).
    pub const INTN: u8 = 0x26;
    /// Legacy `DECIMAL`.
    pub const DECIMAL: u8 = 0x37;
    /// Legacy `NUMERIC`.
    pub const NUMERIC: u8 = 0x3F;
    /// Nullable `BIT`.
    pub const BITN: u8 = 0x68;
    /// `DECIMAL(p, s)`.
    pub const DECIMALN: u8 = 0x6A;
    /// `NUMERIC(p, s)`.
    pub const NUMERICN: u8 = 0x6C;
    /// Nullable `REAL`/`FLOAT` (length 4, 8).
    pub const FLTN: u8 = 0x6D;
    /// Nullable `SMALLMONEY`/`MONEY`.
    pub const MONEYN: u8 = 0x6E;
    /// Nullable `SMALLDATETIME`/`DATETIME`.
    pub const DATETIMN: u8 = 0x6F;
    /// `DATE`.
    pub const DATEN: u8 = 0x28;
    /// `TIME(s)`.
    pub const TIMEN: u8 = 0x29;
    /// `DATETIME2(s)`.
    pub const DATETIME2N: u8 = 0x2A;
    /// `DATETIMEOFFSET(s)`.
    pub const DATETIMEOFFSETN: u8 = 0x2B;
    /// `VARBINARY(n|MAX)`.
    pub const BIGVARBIN: u8 = 0xA5;
    /// `VARCHAR(n|MAX)`.
    pub const BIGVARCHR: u8 = 0xA7;
    /// `BINARY(n)`.
    pub const BIGBINARY: u8 = 0xAD;
    /// `CHAR(n)`.
    pub const BIGCHAR: u8 = 0xAF;
    /// `NVARCHAR(n|MAX)`.
    pub const NVARCHAR: u8 = 0xE7;
    /// `NCHAR(n)`.
    pub const NCHAR: u8 = 0xEF;
    /// `XML`.
    pub const XML: u8 = 0xF1;
    /// `TEXT` (legacy; ODBC sends long declarations as it).
    pub const TEXT: u8 = 0x23;
    /// `NTEXT` (legacy; Microsoft's ODBC driver sends `sp_prepexec`'s `@params` as it).
    pub const NTEXT: u8 = 0x63;
    /// `IMAGE` (legacy).
    pub const IMAGE: u8 = 0x22;
    /// SSVARIANTTYPE (`sql_variant`).
    pub const SSVARIANT: u8 = 0x62;
}

/// The length that marks a `MAX` type (its values are PLP).
const MAX_LEN: u16 = 0xFFFF;
/// A NULL PLP value.
const PLP_NULL: u64 = u64::MAX;
/// A PLP value whose total length the sender did not know.
const PLP_UNKNOWN_LEN: u64 = u64::MAX - 1;

// ---- out: COLMETADATA TYPE_INFO -------------------------------------------------------------

/// Appends the TYPE_INFO of a result column.
pub fn put_type_info(out: &mut Vec<u8>, sql_type: &SqlType) {
    let collation = SQL_LATIN1_GENERAL_CP1_CI_AS;
    let u16_len = |out: &mut Vec<u8>, len: Length, unit: u16| match len {
        Length::Fixed(n) => out.extend_from_slice(&n.saturating_mul(unit).min(8000).to_le_bytes()),
        Length::Max => out.extend_from_slice(&MAX_LEN.to_le_bytes()),
    };
    match sql_type {
        SqlType::TinyInt => out.extend_from_slice(&[ty::INTN, 1]),
        SqlType::SmallInt => out.extend_from_slice(&[ty::INTN, 2]),
        SqlType::Int => out.extend_from_slice(&[ty::INTN, 4]),
        SqlType::BigInt => out.extend_from_slice(&[ty::INTN, 8]),
        SqlType::Bit => out.extend_from_slice(&[ty::BITN, 1]),
        SqlType::Real => out.extend_from_slice(&[ty::FLTN, 4]),
        SqlType::Float => out.extend_from_slice(&[ty::FLTN, 8]),
        SqlType::Decimal { precision, scale } => {
            let p = (*precision).clamp(1, 38);
            out.extend_from_slice(&[ty::DECIMALN, decimal::wire_len(p), p, (*scale).min(p)]);
        }
        SqlType::Char(n) => {
            out.push(ty::BIGCHAR);
            u16_len(out, Length::Fixed(*n), 1);
            out.extend_from_slice(&collation);
        }
        SqlType::VarChar(len) => {
            out.push(ty::BIGVARCHR);
            u16_len(out, *len, 1);
            out.extend_from_slice(&collation);
        }
        SqlType::NChar(n) => {
            out.push(ty::NCHAR);
            u16_len(out, Length::Fixed(*n), 2);
            out.extend_from_slice(&collation);
        }
        SqlType::NVarChar(len) => {
            out.push(ty::NVARCHAR);
            u16_len(out, *len, 2);
            out.extend_from_slice(&collation);
        }
        SqlType::VarBinary(len) => {
            out.push(ty::BIGVARBIN);
            u16_len(out, *len, 1);
        }
        SqlType::UniqueIdentifier => out.extend_from_slice(&[ty::GUID, 16]),
        SqlType::DateTime2 => out.extend_from_slice(&[ty::DATETIME2N, 7]),
        SqlType::Variant => {
            out.push(ty::SSVARIANT);
            out.extend_from_slice(&VARIANT_MAX_LEN.to_le_bytes());
        }
    }
}

// ---- out: ROW values ------------------------------------------------------------------------

fn mismatch(sql_type: &SqlType, value: &Value, why: &str) -> CodecError {
    CodecError::invalid(
        "row value",
        format!("cannot send {value:?} as {}: {why}", type_name(sql_type)),
    )
}

/// The T-SQL name of a type, for messages.
pub fn type_name(sql_type: &SqlType) -> String {
    let len = |l: &Length| match l {
        Length::Fixed(n) => n.to_string(),
        Length::Max => "max".into(),
    };
    match sql_type {
        SqlType::TinyInt => "tinyint".into(),
        SqlType::SmallInt => "smallint".into(),
        SqlType::Int => "int".into(),
        SqlType::BigInt => "bigint".into(),
        SqlType::Bit => "bit".into(),
        SqlType::Real => "real".into(),
        SqlType::Float => "float".into(),
        SqlType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        SqlType::Char(n) => format!("char({n})"),
        SqlType::VarChar(l) => format!("varchar({})", len(l)),
        SqlType::NChar(n) => format!("nchar({n})"),
        SqlType::NVarChar(l) => format!("nvarchar({})", len(l)),
        SqlType::VarBinary(l) => format!("varbinary({})", len(l)),
        SqlType::UniqueIdentifier => "uniqueidentifier".into(),
        SqlType::DateTime2 => "datetime2".into(),
        SqlType::Variant => "sql_variant".into(),
    }
}

fn as_i64(sql_type: &SqlType, value: &Value) -> Result<i64, CodecError> {
    match value {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(*f as i64),
        Value::Text(s) | Value::Decimal(s) => s
            .trim()
            .parse()
            .map_err(|_| mismatch(sql_type, value, "not an integer")),
        _ => Err(mismatch(sql_type, value, "not an integer")),
    }
}

fn as_f64(sql_type: &SqlType, value: &Value) -> Result<f64, CodecError> {
    match value {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        Value::Text(s) | Value::Decimal(s) => s
            .trim()
            .parse()
            .map_err(|_| mismatch(sql_type, value, "not a number")),
        Value::Bytes(_) | Value::Null => Err(mismatch(sql_type, value, "not a number")),
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::Text(s) | Value::Decimal(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Null => String::new(),
    }
}

fn put_plp(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    if !bytes.is_empty() {
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
}

fn put_var(
    out: &mut Vec<u8>,
    sql_type: &SqlType,
    value: &Value,
    len: Length,
    bytes: Option<&[u8]>,
) -> Result<(), CodecError> {
    match (len, bytes) {
        (Length::Max, None) => out.extend_from_slice(&PLP_NULL.to_le_bytes()),
        (Length::Max, Some(b)) => put_plp(out, b),
        (Length::Fixed(_), None) => out.extend_from_slice(&MAX_LEN.to_le_bytes()),
        (Length::Fixed(_), Some(b)) => {
            if b.len() > 8000 {
                return Err(mismatch(sql_type, value, "longer than 8000 bytes"));
            }
            out.extend_from_slice(&(b.len() as u16).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

fn utf16_bytes(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn pad(s: String, chars: u16) -> String {
    let have = s.chars().count();
    if have >= chars as usize {
        s
    } else {
        s + &" ".repeat(chars as usize - have)
    }
}

/// Appends one column value of a ROW, as `sql_type` says it travels. A value the type cannot
/// hold (an integer out of range, text that is not a number, ...) is an error, never a panic.
pub fn put_value(out: &mut Vec<u8>, sql_type: &SqlType, value: &Value) -> Result<(), CodecError> {
    let null = matches!(value, Value::Null);
    match sql_type {
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
            if null {
                out.push(0);
                return Ok(());
            }
            let i = as_i64(sql_type, value)?;
            let (width, ok) = match sql_type {
                SqlType::TinyInt => (1, (0..=255).contains(&i)),
                SqlType::SmallInt => (2, i16::try_from(i).is_ok()),
                SqlType::Int => (4, i32::try_from(i).is_ok()),
                _ => (8, true),
            };
            if !ok {
                return Err(mismatch(sql_type, value, "out of range"));
            }
            out.push(width as u8);
            out.extend_from_slice(&i.to_le_bytes()[..width]);
        }
        SqlType::Bit => {
            if null {
                out.push(0);
                return Ok(());
            }
            let b = match value {
                Value::Bool(b) => *b,
                Value::Text(s) if s.eq_ignore_ascii_case("true") => true,
                Value::Text(s) if s.eq_ignore_ascii_case("false") => false,
                other => as_i64(sql_type, other)? != 0,
            };
            out.extend_from_slice(&[1, u8::from(b)]);
        }
        SqlType::Real => {
            if null {
                out.push(0);
            } else {
                out.push(4);
                out.extend_from_slice(&(as_f64(sql_type, value)? as f32).to_le_bytes());
            }
        }
        SqlType::Float => {
            if null {
                out.push(0);
            } else {
                out.push(8);
                out.extend_from_slice(&as_f64(sql_type, value)?.to_le_bytes());
            }
        }
        SqlType::Decimal { precision, scale } => {
            if null {
                out.push(0);
                return Ok(());
            }
            let p = (*precision).clamp(1, 38);
            let s = (*scale).min(p);
            let text = match value {
                Value::Float(f) => format!("{f:.*}", s as usize + 1),
                other => as_text(other),
            };
            let mantissa =
                decimal::parse(&text, s).map_err(|why| mismatch(sql_type, value, &why))?;
            decimal::put(out, mantissa, p).map_err(|why| mismatch(sql_type, value, &why))?;
        }
        SqlType::Char(n) => {
            let bytes = (!null).then(|| collation::encode_cp1252(&pad(as_text(value), *n)));
            put_var(out, sql_type, value, Length::Fixed(*n), bytes.as_deref())?;
        }
        SqlType::VarChar(len) => {
            let bytes = (!null).then(|| collation::encode_cp1252(&as_text(value)));
            put_var(out, sql_type, value, *len, bytes.as_deref())?;
        }
        SqlType::NChar(n) => {
            let bytes = (!null).then(|| utf16_bytes(&pad(as_text(value), *n)));
            put_var(out, sql_type, value, Length::Fixed(*n), bytes.as_deref())?;
        }
        SqlType::NVarChar(len) => {
            let bytes = (!null).then(|| utf16_bytes(&as_text(value)));
            put_var(out, sql_type, value, *len, bytes.as_deref())?;
        }
        SqlType::VarBinary(len) => {
            let bytes = match value {
                Value::Null => None,
                Value::Bytes(b) => Some(b.clone()),
                Value::Text(s) => Some(s.as_bytes().to_vec()),
                other => return Err(mismatch(sql_type, other, "not binary data")),
            };
            put_var(out, sql_type, value, *len, bytes.as_deref())?;
        }
        SqlType::UniqueIdentifier => {
            if null {
                out.push(0);
                return Ok(());
            }
            let bytes = match value {
                Value::Bytes(b) if b.len() == 16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    uuid::Uuid::from_bytes(a)
                }
                other => uuid::Uuid::parse_str(as_text(other).trim())
                    .map_err(|_| mismatch(sql_type, other, "not a GUID"))?,
            }
            .to_bytes_le();
            out.push(16);
            out.extend_from_slice(&bytes);
        }
        SqlType::DateTime2 => {
            if null {
                out.push(0);
                return Ok(());
            }
            let (days, ticks) =
                datetime::parse(&as_text(value)).map_err(|why| mismatch(sql_type, value, &why))?;
            datetime::put_datetime2(out, days, ticks);
        }
        SqlType::Variant => put_variant(out, value)?,
    }
    Ok(())
}

/// The largest `sql_variant` value (MS-TDS 2.2.5.5.4: 8000 bytes of value and its header).
const VARIANT_MAX_LEN: u32 = 8016;

/// A `sql_variant` value (MS-TDS 2.2.5.5.4): a four-byte length (0 for NULL), the base type,
/// how many property bytes follow and the properties, then the value as that type carries it
/// without its own length. The base type is the value's: `int` (`bigint` past its range),
/// `bit`, `float`, `decimal(38, scale)`, `nvarchar`, `varbinary`.
fn put_variant(out: &mut Vec<u8>, value: &Value) -> Result<(), CodecError> {
    let mut body = Vec::new();
    match value {
        Value::Null => {
            out.extend_from_slice(&0u32.to_le_bytes());
            return Ok(());
        }
        Value::Int(i) => match i32::try_from(*i) {
            Ok(small) => {
                body.extend_from_slice(&[ty::INT4, 0]);
                body.extend_from_slice(&small.to_le_bytes());
            }
            Err(_) => {
                body.extend_from_slice(&[ty::INT8, 0]);
                body.extend_from_slice(&i.to_le_bytes());
            }
        },
        Value::Bool(b) => body.extend_from_slice(&[ty::BIT, 0, u8::from(*b)]),
        Value::Float(f) => {
            body.extend_from_slice(&[ty::FLT8, 0]);
            body.extend_from_slice(&f.to_le_bytes());
        }
        Value::Decimal(text) => {
            let scale = text.split_once('.').map_or(0, |(_, f)| f.len()).min(38) as u8;
            let mantissa = decimal::parse(text, scale)
                .map_err(|why| mismatch(&SqlType::Variant, value, &why))?;
            let mut wire = Vec::new();
            decimal::put(&mut wire, mantissa, 38)
                .map_err(|why| mismatch(&SqlType::Variant, value, &why))?;
            body.extend_from_slice(&[ty::DECIMALN, 2, 38, scale]);
            body.extend_from_slice(&wire[1..]);
        }
        Value::Text(t) => {
            let bytes = utf16_bytes(t);
            body.extend_from_slice(&[ty::NVARCHAR, 7]);
            body.extend_from_slice(&SQL_LATIN1_GENERAL_CP1_CI_AS);
            body.extend_from_slice(&(bytes.len().min(8000) as u16).to_le_bytes());
            body.extend_from_slice(&bytes);
        }
        Value::Bytes(b) => {
            body.extend_from_slice(&[ty::BIGVARBIN, 2]);
            body.extend_from_slice(&(b.len().min(8000) as u16).to_le_bytes());
            body.extend_from_slice(b);
        }
    }
    if body.len() > VARIANT_MAX_LEN as usize {
        return Err(mismatch(&SqlType::Variant, value, "longer than 8000 bytes"));
    }
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

// ---- in: RPC parameter TYPE_INFO and values -------------------------------------------------

/// The TYPE_INFO of an RPC parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// NULLTYPE (no value bytes follow).
    Null,
    /// A fixed-length type (no length prefix on the value).
    Fixed(u8),
    /// A type whose values carry a one-byte length (INTN, BITN, FLTN, GUID, MONEYN, DATETIMN).
    ByteLen(u8),
    /// DECIMALN / NUMERICN.
    Decimal {
        /// Digits after the point.
        scale: u8,
    },
    /// DATEN.
    Date,
    /// TIMEN, DATETIME2N, DATETIMEOFFSETN.
    Scaled {
        /// The type byte.
        ty: u8,
        /// Fraction digits, 0..=7.
        scale: u8,
    },
    /// A type whose values carry a two-byte length; `collation` for character types.
    ShortLen {
        /// The type byte.
        ty: u8,
        /// The collation of character data.
        collation: Option<[u8; 5]>,
    },
    /// TEXT, NTEXT, IMAGE: values carry a four-byte length.
    LongLen {
        /// The type byte.
        ty: u8,
        /// The collation of character data.
        collation: Option<[u8; 5]>,
    },
    /// A `MAX` type or XML: PLP values.
    Plp {
        /// The type byte.
        ty: u8,
        /// The collation of character data.
        collation: Option<[u8; 5]>,
    },
}

fn read_collation(r: &mut Reader<'_>) -> Result<[u8; 5], CodecError> {
    let mut c = [0u8; 5];
    c.copy_from_slice(r.bytes(5)?);
    Ok(c)
}

/// Reads a parameter's TYPE_INFO.
pub fn read_type_info(r: &mut Reader<'_>) -> Result<ParamType, CodecError> {
    let t = r.u8()?;
    Ok(match t {
        ty::NULL => ParamType::Null,
        ty::INT1
        | ty::BIT
        | ty::INT2
        | ty::INT4
        | ty::INT8
        | ty::FLT4
        | ty::FLT8
        | ty::MONEY
        | ty::MONEY4
        | ty::DATETIME
        | ty::DATETIM4 => ParamType::Fixed(t),
        ty::INTN | ty::BITN | ty::FLTN | ty::GUID | ty::MONEYN | ty::DATETIMN => {
            let _max = r.u8()?;
            ParamType::ByteLen(t)
        }
        ty::DECIMALN | ty::NUMERICN | ty::DECIMAL | ty::NUMERIC => {
            let _max = r.u8()?;
            let precision = r.u8()?;
            let scale = r.u8()?;
            if !(1..=38).contains(&precision) || scale > precision {
                return Err(CodecError::invalid(
                    "parameter TYPE_INFO",
                    format!("decimal precision {precision} and scale {scale} are out of range"),
                ));
            }
            ParamType::Decimal { scale }
        }
        ty::DATEN => ParamType::Date,
        ty::TIMEN | ty::DATETIME2N | ty::DATETIMEOFFSETN => {
            let scale = r.u8()?;
            if scale > 7 {
                return Err(CodecError::invalid(
                    "parameter TYPE_INFO",
                    format!("time scale {scale} is larger than 7"),
                ));
            }
            ParamType::Scaled { ty: t, scale }
        }
        ty::BIGVARBIN | ty::BIGBINARY => {
            let max = r.u16_le()?;
            if max == MAX_LEN && t == ty::BIGVARBIN {
                ParamType::Plp {
                    ty: t,
                    collation: None,
                }
            } else {
                ParamType::ShortLen {
                    ty: t,
                    collation: None,
                }
            }
        }
        ty::BIGVARCHR | ty::BIGCHAR | ty::NVARCHAR | ty::NCHAR => {
            let max = r.u16_le()?;
            let collation = Some(read_collation(r)?);
            if max == MAX_LEN && (t == ty::BIGVARCHR || t == ty::NVARCHAR) {
                ParamType::Plp { ty: t, collation }
            } else {
                ParamType::ShortLen { ty: t, collation }
            }
        }
        ty::TEXT | ty::NTEXT | ty::IMAGE => {
            let _max = r.u32_le()?;
            let collation = if t == ty::IMAGE {
                None
            } else {
                Some(read_collation(r)?)
            };
            ParamType::LongLen { ty: t, collation }
        }
        ty::XML => {
            if r.u8()? != 0 {
                let _db = r.b_varchar()?;
                let _schema = r.b_varchar()?;
                let _collection = r.us_varchar()?;
            }
            ParamType::Plp {
                ty: t,
                collation: None,
            }
        }
        other => {
            return Err(CodecError::unsupported(
                "parameter data type",
                format!(
                    "type 0x{other:02X} (SQL_VARIANT, UDT and TVP parameters are not supported)"
                ),
            ))
        }
    })
}

fn fixed_width(t: u8) -> usize {
    match t {
        ty::INT1 | ty::BIT => 1,
        ty::INT2 => 2,
        ty::INT4 | ty::FLT4 | ty::MONEY4 | ty::DATETIM4 => 4,
        _ => 8,
    }
}

fn money(bytes: &[u8]) -> Value {
    let cents = if bytes.len() == 4 {
        i64::from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    } else {
        let hi = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let lo = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        (i64::from(hi) << 32) | i64::from(lo)
    };
    Value::Decimal(decimal::format(i128::from(cents), 4))
}

fn scalar(t: u8, bytes: &[u8]) -> Result<Value, CodecError> {
    let bad = || {
        CodecError::invalid(
            "parameter value",
            format!(
                "{} byte(s) is not a valid length for type 0x{t:02X}",
                bytes.len()
            ),
        )
    };
    Ok(match (t, bytes.len()) {
        (ty::INT1 | ty::INTN, 1) => Value::Int(i64::from(bytes[0])),
        (ty::INT2 | ty::INTN, 2) => Value::Int(i64::from(i16::from_le_bytes([bytes[0], bytes[1]]))),
        (ty::INT4 | ty::INTN, 4) => Value::Int(i64::from(i32::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3],
        ]))),
        (ty::INT8 | ty::INTN, 8) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(bytes);
            Value::Int(i64::from_le_bytes(a))
        }
        (ty::BIT | ty::BITN, 1) => Value::Bool(bytes[0] != 0),
        (ty::FLT4 | ty::FLTN, 4) => Value::Float(f64::from(f32::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3],
        ]))),
        (ty::FLT8 | ty::FLTN, 8) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(bytes);
            Value::Float(f64::from_le_bytes(a))
        }
        (ty::MONEY | ty::MONEY4 | ty::MONEYN, 4 | 8) => money(bytes),
        (ty::DATETIME | ty::DATETIMN, 8) => Value::Text(datetime::format_legacy_datetime(
            i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        )),
        (ty::DATETIM4 | ty::DATETIMN, 4) => Value::Text(datetime::format_small_datetime(
            u16::from_le_bytes([bytes[0], bytes[1]]),
            u16::from_le_bytes([bytes[2], bytes[3]]),
        )),
        (ty::GUID, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            Value::Text(
                uuid::Uuid::from_bytes_le(a)
                    .hyphenated()
                    .to_string()
                    .to_uppercase(),
            )
        }
        _ => return Err(bad()),
    })
}

fn text_or_bytes(t: u8, collation: Option<[u8; 5]>, bytes: &[u8]) -> Result<Value, CodecError> {
    Ok(match t {
        ty::NVARCHAR | ty::NCHAR | ty::NTEXT | ty::XML => Value::Text(
            decode_utf16(bytes).map_err(|detail| CodecError::invalid("parameter value", detail))?,
        ),
        ty::BIGVARCHR | ty::BIGCHAR | ty::TEXT => Value::Text(collation::decode_with(
            &collation.unwrap_or(SQL_LATIN1_GENERAL_CP1_CI_AS),
            bytes,
        )),
        _ => Value::Bytes(bytes.to_vec()),
    })
}

/// Reads a parameter value of the given TYPE_INFO.
pub fn read_value(r: &mut Reader<'_>, param_type: &ParamType) -> Result<Value, CodecError> {
    match param_type {
        ParamType::Null => Ok(Value::Null),
        ParamType::Fixed(t) => {
            let bytes = r.bytes(fixed_width(*t))?;
            scalar(*t, bytes)
        }
        ParamType::ByteLen(t) => match r.u8()? as usize {
            0 => Ok(Value::Null),
            n => scalar(*t, r.bytes(n)?),
        },
        ParamType::Decimal { scale } => match r.u8()? as usize {
            0 => Ok(Value::Null),
            n => {
                let mantissa = decimal::from_wire(r.bytes(n)?)
                    .map_err(|detail| CodecError::invalid("parameter value", detail))?;
                Ok(Value::Decimal(decimal::format(mantissa, *scale)))
            }
        },
        ParamType::Date => match r.u8()? {
            0 => Ok(Value::Null),
            3 => Ok(Value::Text(datetime::format_date(datetime::date_days(
                r.bytes(3)?,
            )))),
            n => Err(CodecError::invalid(
                "parameter value",
                format!("a DATE of {n} bytes"),
            )),
        },
        ParamType::Scaled { ty: t, scale } => {
            let n = r.u8()? as usize;
            if n == 0 {
                return Ok(Value::Null);
            }
            let time_len = datetime::time_len(*scale) as usize;
            let expected = match *t {
                ty::TIMEN => time_len,
                ty::DATETIME2N => time_len + 3,
                _ => time_len + 5,
            };
            if n != expected {
                return Err(CodecError::invalid(
                    "parameter value",
                    format!("a date/time of {n} bytes where scale {scale} takes {expected}"),
                ));
            }
            let bytes = r.bytes(n)?;
            let ticks = datetime::time_ticks(&bytes[..time_len], *scale)
                .map_err(|detail| CodecError::invalid("parameter value", detail))?;
            Ok(Value::Text(match *t {
                ty::TIMEN => datetime::format_time(ticks, *scale),
                ty::DATETIME2N => datetime::format_datetime(
                    datetime::date_days(&bytes[time_len..]),
                    ticks,
                    *scale,
                ),
                _ => datetime::format_datetimeoffset(
                    datetime::date_days(&bytes[time_len..time_len + 3]),
                    ticks,
                    *scale,
                    i16::from_le_bytes([bytes[time_len + 3], bytes[time_len + 4]]),
                ),
            }))
        }
        ParamType::ShortLen { ty: t, collation } => match r.u16_le()? {
            MAX_LEN => Ok(Value::Null),
            n => text_or_bytes(*t, *collation, r.bytes(n as usize)?),
        },
        ParamType::LongLen { ty: t, collation } => match r.u32_le()? {
            u32::MAX => Ok(Value::Null),
            n => text_or_bytes(*t, *collation, r.bytes(n as usize)?),
        },
        ParamType::Plp { ty: t, collation } => {
            let total = r.u64_le()?;
            if total == PLP_NULL {
                return Ok(Value::Null);
            }
            if total != PLP_UNKNOWN_LEN && total > r.remaining() as u64 {
                return Err(CodecError::invalid(
                    "parameter value",
                    format!(
                        "a PLP value declares {total} bytes but {} remain",
                        r.remaining()
                    ),
                ));
            }
            let mut bytes = Vec::new();
            loop {
                let chunk = r.u32_le()? as usize;
                if chunk == 0 {
                    break;
                }
                bytes.extend_from_slice(r.bytes(chunk)?);
            }
            if total != PLP_UNKNOWN_LEN && total != bytes.len() as u64 {
                return Err(CodecError::invalid(
                    "parameter value",
                    format!(
                        "a PLP value declares {total} bytes but its chunks hold {}",
                        bytes.len()
                    ),
                ));
            }
            text_or_bytes(*t, *collation, &bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(sql_type: SqlType, v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        put_value(&mut out, &sql_type, &v).unwrap();
        out
    }

    fn type_info(sql_type: SqlType) -> Vec<u8> {
        let mut out = Vec::new();
        put_type_info(&mut out, &sql_type);
        out
    }

    #[test]
    fn type_info_bytes_are_exact() {
        assert_eq!(type_info(SqlType::Int), [0x26, 4]);
        assert_eq!(type_info(SqlType::TinyInt), [0x26, 1]);
        assert_eq!(type_info(SqlType::Bit), [0x68, 1]);
        assert_eq!(type_info(SqlType::Float), [0x6D, 8]);
        assert_eq!(
            type_info(SqlType::Decimal {
                precision: 10,
                scale: 2
            }),
            [0x6A, 9, 10, 2]
        );
        assert_eq!(
            type_info(SqlType::VarChar(Length::Fixed(50))),
            [0xA7, 50, 0, 0x09, 0x04, 0xD0, 0x00, 0x34]
        );
        assert_eq!(
            type_info(SqlType::NVarChar(Length::Fixed(50))),
            [0xE7, 100, 0, 0x09, 0x04, 0xD0, 0x00, 0x34]
        );
        assert_eq!(
            type_info(SqlType::NVarChar(Length::Max)),
            [0xE7, 0xFF, 0xFF, 0x09, 0x04, 0xD0, 0x00, 0x34]
        );
        assert_eq!(
            type_info(SqlType::Char(3)),
            [0xAF, 3, 0, 0x09, 0x04, 0xD0, 0x00, 0x34]
        );
        assert_eq!(
            type_info(SqlType::NChar(3)),
            [0xEF, 6, 0, 0x09, 0x04, 0xD0, 0x00, 0x34]
        );
        assert_eq!(
            type_info(SqlType::VarBinary(Length::Max)),
            [0xA5, 0xFF, 0xFF]
        );
        assert_eq!(type_info(SqlType::UniqueIdentifier), [0x24, 16]);
        assert_eq!(type_info(SqlType::DateTime2), [0x2A, 7]);
        assert_eq!(type_info(SqlType::Real), [0x6D, 4]);
        assert_eq!(type_info(SqlType::Variant), [0x62, 0x50, 0x1F, 0, 0]);
    }

    #[test]
    fn sql_variant_values_carry_their_base_type() {
        // MS-TDS 2.2.5.5.4: length, base type, property count, properties, value.
        assert_eq!(value(SqlType::Variant, Value::Null), [0, 0, 0, 0]);
        assert_eq!(
            value(SqlType::Variant, Value::Int(4)),
            [6, 0, 0, 0, 0x38, 0, 4, 0, 0, 0]
        );
        assert_eq!(
            value(SqlType::Variant, Value::Int(1 << 40))[..6],
            [10, 0, 0, 0, 0x7F, 0]
        );
        assert_eq!(
            value(SqlType::Variant, Value::Text("hé".into())),
            [13, 0, 0, 0, 0xE7, 7, 0x09, 0x04, 0xD0, 0x00, 0x34, 4, 0, b'h', 0, 0xE9, 0]
        );
        assert_eq!(
            value(SqlType::Variant, Value::Bytes(vec![1, 2])),
            [6, 0, 0, 0, 0xA5, 2, 2, 0, 1, 2]
        );
        assert_eq!(
            value(SqlType::Variant, Value::Decimal("-1.50".into()))[..8],
            [21, 0, 0, 0, 0x6A, 2, 38, 2]
        );
    }

    #[test]
    fn fixed_values_are_exact() {
        assert_eq!(value(SqlType::Int, Value::Int(1)), [4, 1, 0, 0, 0]);
        assert_eq!(value(SqlType::Int, Value::Null), [0]);
        assert_eq!(
            value(SqlType::BigInt, Value::Int(-1)),
            [8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(value(SqlType::TinyInt, Value::Int(255)), [1, 255]);
        assert_eq!(value(SqlType::Bit, Value::Int(1)), [1, 1]);
        assert_eq!(value(SqlType::Bit, Value::Bool(false)), [1, 0]);
        assert_eq!(
            value(SqlType::Float, Value::Float(1.5)),
            [8, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]
        );
        assert_eq!(
            value(SqlType::Real, Value::Float(1.5)),
            [4, 0, 0, 0xC0, 0x3F]
        );
        assert_eq!(
            value(
                SqlType::Decimal {
                    precision: 5,
                    scale: 2
                },
                Value::Decimal("12.5".into())
            ),
            [5, 1, 0xE2, 0x04, 0, 0]
        );
    }

    #[test]
    fn character_values_use_cp1252_and_plp_for_max() {
        assert_eq!(
            value(
                SqlType::VarChar(Length::Fixed(50)),
                Value::Text("Doe€".into())
            ),
            [4, 0, b'D', b'o', b'e', 0x80]
        );
        assert_eq!(
            value(SqlType::VarChar(Length::Fixed(50)), Value::Null),
            [0xFF, 0xFF]
        );
        assert_eq!(
            value(SqlType::NVarChar(Length::Fixed(5)), Value::Text("é".into())),
            [2, 0, 0xE9, 0]
        );
        assert_eq!(
            value(SqlType::Char(3), Value::Text("a".into())),
            [3, 0, b'a', b' ', b' ']
        );
        assert_eq!(
            value(SqlType::NChar(2), Value::Text("a".into())),
            [4, 0, b'a', 0, b' ', 0]
        );
        assert_eq!(
            value(SqlType::VarChar(Length::Max), Value::Text("ab".into())),
            [2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0]
        );
        assert_eq!(
            value(SqlType::NVarChar(Length::Max), Value::Text(String::new())),
            [0; 12]
        );
        assert_eq!(
            value(SqlType::VarBinary(Length::Max), Value::Null),
            [0xFF; 8]
        );
        assert_eq!(
            value(
                SqlType::VarBinary(Length::Fixed(4)),
                Value::Bytes(vec![1, 2])
            ),
            [2, 0, 1, 2]
        );
    }

    #[test]
    fn guid_and_datetime2_values() {
        assert_eq!(
            value(
                SqlType::UniqueIdentifier,
                Value::Text("6F9619FF-8B86-D011-B42D-00C04FC964FF".into())
            ),
            [
                16, 0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0, 0xB4, 0x2D, 0x00, 0xC0, 0x4F,
                0xC9, 0x64, 0xFF
            ]
        );
        assert_eq!(
            value(
                SqlType::DateTime2,
                Value::Text("0001-01-01 00:00:00.0000001".into())
            ),
            [8, 1, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn values_a_type_cannot_hold_are_errors() {
        let mut out = Vec::new();
        assert!(put_value(&mut out, &SqlType::Int, &Value::Int(1 << 40)).is_err());
        assert!(put_value(&mut out, &SqlType::TinyInt, &Value::Int(-1)).is_err());
        assert!(put_value(&mut out, &SqlType::Int, &Value::Text("abc".into())).is_err());
        assert!(put_value(
            &mut out,
            &SqlType::Decimal {
                precision: 3,
                scale: 0
            },
            &Value::Int(1000)
        )
        .is_err());
        assert!(put_value(
            &mut out,
            &SqlType::UniqueIdentifier,
            &Value::Text("nope".into())
        )
        .is_err());
        assert!(put_value(
            &mut out,
            &SqlType::DateTime2,
            &Value::Text("yesterday".into())
        )
        .is_err());
        assert!(put_value(
            &mut out,
            &SqlType::VarChar(Length::Fixed(10)),
            &Value::Text("x".repeat(9000))
        )
        .is_err());
    }

    fn param(bytes: &[u8]) -> Result<Value, CodecError> {
        let mut r = Reader::new(bytes, "test");
        let t = read_type_info(&mut r)?;
        let v = read_value(&mut r, &t)?;
        assert!(r.is_empty(), "unread bytes after {t:?}");
        Ok(v)
    }

    #[test]
    fn reads_the_parameter_types_drivers_send() {
        assert_eq!(param(&[0x1F]), Ok(Value::Null));
        assert_eq!(param(&[0x26, 4, 4, 42, 0, 0, 0]), Ok(Value::Int(42)));
        assert_eq!(param(&[0x26, 8, 0]), Ok(Value::Null));
        assert_eq!(param(&[0x38, 0xFE, 0xFF, 0xFF, 0xFF]), Ok(Value::Int(-2)));
        assert_eq!(param(&[0x68, 1, 1, 1]), Ok(Value::Bool(true)));
        assert_eq!(
            param(&[0x6D, 8, 8, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]),
            Ok(Value::Float(1.5))
        );
        assert_eq!(
            param(&[0x6C, 5, 5, 2, 5, 0, 0xE2, 0x04, 0, 0]),
            Ok(Value::Decimal("-12.50".into()))
        );
        assert_eq!(
            param(&[0x6E, 8, 8, 0, 0, 0, 0, 0x10, 0x27, 0, 0]),
            Ok(Value::Decimal("1.0000".into()))
        );
        assert_eq!(
            param(&[
                0x24, 16, 16, 0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0, 0xB4, 0x2D, 0x00,
                0xC0, 0x4F, 0xC9, 0x64, 0xFF
            ]),
            Ok(Value::Text("6F9619FF-8B86-D011-B42D-00C04FC964FF".into()))
        );
        // NVARCHAR(4000) as tiberius sends it (collation zeroed).
        assert_eq!(
            param(&[0xE7, 0x40, 0x1F, 0, 0, 0, 0, 0, 4, 0, b'h', 0, b'i', 0]),
            Ok(Value::Text("hi".into()))
        );
        // VARCHAR in cp1252.
        assert_eq!(
            param(&[0xA7, 10, 0, 0x09, 0x04, 0xD0, 0x00, 0x34, 1, 0, 0xE9]),
            Ok(Value::Text("é".into()))
        );
        assert_eq!(param(&[0xA5, 0x40, 0x1F, 0xFF, 0xFF]), Ok(Value::Null));
        assert_eq!(
            param(&[0x28, 3, 0xBE, 0x46, 0x0B]),
            Ok(Value::Text("2024-05-01".into()))
        );
        assert_eq!(
            param(&[0x2A, 7, 8, 1, 0, 0, 0, 0, 0xBE, 0x46, 0x0B]),
            Ok(Value::Text("2024-05-01 00:00:00.0000001".into()))
        );
        assert_eq!(
            param(&[0x29, 0, 3, 0x3C, 0, 0]),
            Ok(Value::Text("00:01:00".into()))
        );
        assert_eq!(
            param(&[0x2B, 0, 8, 0, 0, 0, 0xBE, 0x46, 0x0B, 60, 0]),
            Ok(Value::Text("2024-05-01 01:00:00 +01:00".into()))
        );
    }

    #[test]
    fn reads_the_legacy_long_types_odbc_sends() {
        // NTEXT as Microsoft's ODBC driver sends sp_prepexec's @params.
        let mut bytes = vec![0x63, 0xFF, 0xFF, 0xFF, 0x7F, 0x09, 0x04, 0xD0, 0x00, 0x34];
        bytes.extend_from_slice(&[6, 0, 0, 0, b'@', 0, b'P', 0, b'1', 0]);
        assert_eq!(param(&bytes), Ok(Value::Text("@P1".into())));
        let mut bytes = vec![0x23, 0xFF, 0xFF, 0xFF, 0x7F, 0x09, 0x04, 0xD0, 0x00, 0x34];
        bytes.extend_from_slice(&[1, 0, 0, 0, 0xE9]);
        assert_eq!(param(&bytes), Ok(Value::Text("é".into())));
        let mut bytes = vec![0x22, 0xFF, 0xFF, 0xFF, 0x7F];
        bytes.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(param(&bytes), Ok(Value::Null));
    }

    #[test]
    fn reads_plp_values_in_chunks() {
        // NVARCHAR(MAX), unknown total length, two chunks.
        let mut bytes = vec![0xE7, 0xFF, 0xFF, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&PLP_UNKNOWN_LEN.to_le_bytes());
        bytes.extend_from_slice(&[2, 0, 0, 0, b'a', 0, 2, 0, 0, 0, b'b', 0, 0, 0, 0, 0]);
        assert_eq!(param(&bytes), Ok(Value::Text("ab".into())));
        // VARBINARY(MAX) NULL and empty.
        let mut bytes = vec![0xA5, 0xFF, 0xFF];
        bytes.extend_from_slice(&PLP_NULL.to_le_bytes());
        assert_eq!(param(&bytes), Ok(Value::Null));
        let mut bytes = vec![0xA5, 0xFF, 0xFF];
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(param(&bytes), Ok(Value::Bytes(vec![])));
    }

    #[test]
    fn malformed_parameters_are_errors() {
        assert!(param(&[0x26, 4, 3, 1, 2, 3]).is_err(), "INTN of 3 bytes");
        assert!(param(&[0x62, 0, 0, 0, 0]).is_err(), "sql_variant");
        assert!(param(&[0x6A, 17, 40, 0]).is_err(), "precision 40");
        assert!(param(&[0x2A, 9]).is_err(), "scale 9");
        assert!(param(&[0xE7, 0x40]).is_err(), "truncated TYPE_INFO");
        assert!(
            param(&[0xE7, 0x40, 0x1F, 0, 0, 0, 0, 0, 3, 0, b'h', 0, b'i']).is_err(),
            "odd UTF-16"
        );
        let mut bytes = vec![0xA5, 0xFF, 0xFF];
        bytes.extend_from_slice(&1000u64.to_le_bytes());
        assert!(param(&bytes).is_err(), "PLP longer than the message");
        assert!(
            param(&[0x2A, 7, 5, 0, 0, 0, 0, 0]).is_err(),
            "DATETIME2 of the wrong length"
        );
    }
}
