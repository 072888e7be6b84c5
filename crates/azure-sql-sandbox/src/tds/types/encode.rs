//! Out: the TYPE_INFO of a result column (COLMETADATA) and each value as its type says it
//! travels (ROW, RETURNVALUE), `sql_variant` included. A value its type cannot hold is an
//! error, never a panic.

use super::{ty, ColumnData, Length, TypeInfo, MAX_LEN, PLP_NULL};
use crate::tds::collation::{self, SQL_LATIN1_GENERAL_CP1_CI_AS};
use crate::tds::error::CodecError;
use crate::tds::{datetime, decimal};

/// Appends the TYPE_INFO of a result column.
pub fn put_type_info(out: &mut Vec<u8>, type_info: &TypeInfo) {
    let collation = SQL_LATIN1_GENERAL_CP1_CI_AS;
    let u16_len = |out: &mut Vec<u8>, len: Length, unit: u16| match len {
        Length::Fixed(n) => out.extend_from_slice(&n.saturating_mul(unit).min(8000).to_le_bytes()),
        Length::Max => out.extend_from_slice(&MAX_LEN.to_le_bytes()),
    };
    match type_info {
        TypeInfo::TinyInt => out.extend_from_slice(&[ty::INTN, 1]),
        TypeInfo::SmallInt => out.extend_from_slice(&[ty::INTN, 2]),
        TypeInfo::Int => out.extend_from_slice(&[ty::INTN, 4]),
        TypeInfo::BigInt => out.extend_from_slice(&[ty::INTN, 8]),
        TypeInfo::Bit => out.extend_from_slice(&[ty::BITN, 1]),
        TypeInfo::Real => out.extend_from_slice(&[ty::FLTN, 4]),
        TypeInfo::Float => out.extend_from_slice(&[ty::FLTN, 8]),
        TypeInfo::Decimal { precision, scale } => {
            let p = (*precision).clamp(1, 38);
            out.extend_from_slice(&[ty::DECIMALN, decimal::wire_len(p), p, (*scale).min(p)]);
        }
        TypeInfo::Char(n) => {
            out.push(ty::BIGCHAR);
            u16_len(out, Length::Fixed(*n), 1);
            out.extend_from_slice(&collation);
        }
        TypeInfo::VarChar(len) => {
            out.push(ty::BIGVARCHR);
            u16_len(out, *len, 1);
            out.extend_from_slice(&collation);
        }
        TypeInfo::NChar(n) => {
            out.push(ty::NCHAR);
            u16_len(out, Length::Fixed(*n), 2);
            out.extend_from_slice(&collation);
        }
        TypeInfo::NVarChar(len) => {
            out.push(ty::NVARCHAR);
            u16_len(out, *len, 2);
            out.extend_from_slice(&collation);
        }
        TypeInfo::VarBinary(len) => {
            out.push(ty::BIGVARBIN);
            u16_len(out, *len, 1);
        }
        TypeInfo::UniqueIdentifier => out.extend_from_slice(&[ty::GUID, 16]),
        TypeInfo::DateTime2 => out.extend_from_slice(&[ty::DATETIME2N, 7]),
        TypeInfo::Variant => {
            out.push(ty::SSVARIANT);
            out.extend_from_slice(&VARIANT_MAX_LEN.to_le_bytes());
        }
    }
}

// ---- out: ROW values ------------------------------------------------------------------------

fn mismatch(type_info: &TypeInfo, value: &ColumnData, why: &str) -> CodecError {
    CodecError::invalid(
        "row value",
        format!("cannot send {value:?} as {}: {why}", type_name(type_info)),
    )
}

/// The T-SQL name of a type, for messages.
pub fn type_name(type_info: &TypeInfo) -> String {
    let len = |l: &Length| match l {
        Length::Fixed(n) => n.to_string(),
        Length::Max => "max".into(),
    };
    match type_info {
        TypeInfo::TinyInt => "tinyint".into(),
        TypeInfo::SmallInt => "smallint".into(),
        TypeInfo::Int => "int".into(),
        TypeInfo::BigInt => "bigint".into(),
        TypeInfo::Bit => "bit".into(),
        TypeInfo::Real => "real".into(),
        TypeInfo::Float => "float".into(),
        TypeInfo::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        TypeInfo::Char(n) => format!("char({n})"),
        TypeInfo::VarChar(l) => format!("varchar({})", len(l)),
        TypeInfo::NChar(n) => format!("nchar({n})"),
        TypeInfo::NVarChar(l) => format!("nvarchar({})", len(l)),
        TypeInfo::VarBinary(l) => format!("varbinary({})", len(l)),
        TypeInfo::UniqueIdentifier => "uniqueidentifier".into(),
        TypeInfo::DateTime2 => "datetime2".into(),
        TypeInfo::Variant => "sql_variant".into(),
    }
}

fn as_i64(type_info: &TypeInfo, value: &ColumnData) -> Result<i64, CodecError> {
    match value {
        ColumnData::Int(i) => Ok(*i),
        ColumnData::Bool(b) => Ok(i64::from(*b)),
        ColumnData::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(*f as i64),
        ColumnData::Text(s) | ColumnData::Decimal(s) => s
            .trim()
            .parse()
            .map_err(|_| mismatch(type_info, value, "not an integer")),
        _ => Err(mismatch(type_info, value, "not an integer")),
    }
}

fn as_f64(type_info: &TypeInfo, value: &ColumnData) -> Result<f64, CodecError> {
    match value {
        ColumnData::Float(f) => Ok(*f),
        ColumnData::Int(i) => Ok(*i as f64),
        ColumnData::Bool(b) => Ok(f64::from(u8::from(*b))),
        ColumnData::Text(s) | ColumnData::Decimal(s) => s
            .trim()
            .parse()
            .map_err(|_| mismatch(type_info, value, "not a number")),
        ColumnData::Bytes(_) | ColumnData::Null => Err(mismatch(type_info, value, "not a number")),
    }
}

fn as_text(value: &ColumnData) -> String {
    match value {
        ColumnData::Text(s) | ColumnData::Decimal(s) => s.to_string(),
        ColumnData::Int(i) => i.to_string(),
        ColumnData::Float(f) => f.to_string(),
        ColumnData::Bool(b) => if *b { "1" } else { "0" }.into(),
        ColumnData::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        ColumnData::Null => String::new(),
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
    type_info: &TypeInfo,
    value: &ColumnData,
    len: Length,
    bytes: Option<&[u8]>,
) -> Result<(), CodecError> {
    match (len, bytes) {
        (Length::Max, None) => out.extend_from_slice(&PLP_NULL.to_le_bytes()),
        (Length::Max, Some(b)) => put_plp(out, b),
        (Length::Fixed(_), None) => out.extend_from_slice(&MAX_LEN.to_le_bytes()),
        (Length::Fixed(_), Some(b)) => {
            if b.len() > 8000 {
                return Err(mismatch(type_info, value, "longer than 8000 bytes"));
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

/// Appends one column value of a ROW, as `type_info` says it travels. A value the type cannot
/// hold (an integer out of range, text that is not a number, ...) is an error, never a panic.
pub fn put_value(
    out: &mut Vec<u8>,
    type_info: &TypeInfo,
    value: &ColumnData,
) -> Result<(), CodecError> {
    let null = matches!(value, ColumnData::Null);
    match type_info {
        TypeInfo::TinyInt | TypeInfo::SmallInt | TypeInfo::Int | TypeInfo::BigInt => {
            if null {
                out.push(0);
                return Ok(());
            }
            let i = as_i64(type_info, value)?;
            let (width, ok) = match type_info {
                TypeInfo::TinyInt => (1, (0..=255).contains(&i)),
                TypeInfo::SmallInt => (2, i16::try_from(i).is_ok()),
                TypeInfo::Int => (4, i32::try_from(i).is_ok()),
                _ => (8, true),
            };
            if !ok {
                return Err(mismatch(type_info, value, "out of range"));
            }
            out.push(width as u8);
            out.extend_from_slice(&i.to_le_bytes()[..width]);
        }
        TypeInfo::Bit => {
            if null {
                out.push(0);
                return Ok(());
            }
            let b = match value {
                ColumnData::Bool(b) => *b,
                ColumnData::Text(s) if s.eq_ignore_ascii_case("true") => true,
                ColumnData::Text(s) if s.eq_ignore_ascii_case("false") => false,
                other => as_i64(type_info, other)? != 0,
            };
            out.extend_from_slice(&[1, u8::from(b)]);
        }
        TypeInfo::Real => {
            if null {
                out.push(0);
            } else {
                out.push(4);
                out.extend_from_slice(&(as_f64(type_info, value)? as f32).to_le_bytes());
            }
        }
        TypeInfo::Float => {
            if null {
                out.push(0);
            } else {
                out.push(8);
                out.extend_from_slice(&as_f64(type_info, value)?.to_le_bytes());
            }
        }
        TypeInfo::Decimal { precision, scale } => {
            if null {
                out.push(0);
                return Ok(());
            }
            let p = (*precision).clamp(1, 38);
            let s = (*scale).min(p);
            let text = match value {
                ColumnData::Float(f) => format!("{f:.*}", s as usize + 1),
                other => as_text(other),
            };
            let mantissa =
                decimal::parse(&text, s).map_err(|why| mismatch(type_info, value, &why))?;
            decimal::put(out, mantissa, p).map_err(|why| mismatch(type_info, value, &why))?;
        }
        TypeInfo::Char(n) => {
            let bytes = (!null).then(|| collation::encode_cp1252(&pad(as_text(value), *n)));
            put_var(out, type_info, value, Length::Fixed(*n), bytes.as_deref())?;
        }
        TypeInfo::VarChar(len) => {
            let bytes = (!null).then(|| collation::encode_cp1252(&as_text(value)));
            put_var(out, type_info, value, *len, bytes.as_deref())?;
        }
        TypeInfo::NChar(n) => {
            let bytes = (!null).then(|| utf16_bytes(&pad(as_text(value), *n)));
            put_var(out, type_info, value, Length::Fixed(*n), bytes.as_deref())?;
        }
        TypeInfo::NVarChar(len) => {
            let bytes = (!null).then(|| utf16_bytes(&as_text(value)));
            put_var(out, type_info, value, *len, bytes.as_deref())?;
        }
        TypeInfo::VarBinary(len) => {
            let bytes = match value {
                ColumnData::Null => None,
                ColumnData::Bytes(b) => Some(b.to_vec()),
                ColumnData::Text(s) => Some(s.as_bytes().to_vec()),
                other => return Err(mismatch(type_info, other, "not binary data")),
            };
            put_var(out, type_info, value, *len, bytes.as_deref())?;
        }
        TypeInfo::UniqueIdentifier => {
            if null {
                out.push(0);
                return Ok(());
            }
            let bytes = match value {
                ColumnData::Bytes(b) if b.len() == 16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    uuid::Uuid::from_bytes(a)
                }
                other => uuid::Uuid::parse_str(as_text(other).trim())
                    .map_err(|_| mismatch(type_info, other, "not a GUID"))?,
            }
            .to_bytes_le();
            out.push(16);
            out.extend_from_slice(&bytes);
        }
        TypeInfo::DateTime2 => {
            if null {
                out.push(0);
                return Ok(());
            }
            let (days, ticks) =
                datetime::parse(&as_text(value)).map_err(|why| mismatch(type_info, value, &why))?;
            datetime::put_datetime2(out, days, ticks);
        }
        TypeInfo::Variant => put_variant(out, value)?,
    }
    Ok(())
}

/// The largest `sql_variant` value (MS-TDS 2.2.5.5.4: 8000 bytes of value and its header).
const VARIANT_MAX_LEN: u32 = 8016;

/// A `sql_variant` value (MS-TDS 2.2.5.5.4): a four-byte length (0 for NULL), the base type,
/// how many property bytes follow and the properties, then the value as that type carries it
/// without its own length. The base type is the value's: `int` (`bigint` past its range),
/// `bit`, `float`, `decimal(38, scale)`, `nvarchar`, `varbinary`.
fn put_variant(out: &mut Vec<u8>, value: &ColumnData) -> Result<(), CodecError> {
    let mut body = Vec::new();
    match value {
        ColumnData::Null => {
            out.extend_from_slice(&0u32.to_le_bytes());
            return Ok(());
        }
        ColumnData::Int(i) => match i32::try_from(*i) {
            Ok(small) => {
                body.extend_from_slice(&[ty::INT4, 0]);
                body.extend_from_slice(&small.to_le_bytes());
            }
            Err(_) => {
                body.extend_from_slice(&[ty::INT8, 0]);
                body.extend_from_slice(&i.to_le_bytes());
            }
        },
        ColumnData::Bool(b) => body.extend_from_slice(&[ty::BIT, 0, u8::from(*b)]),
        ColumnData::Float(f) => {
            body.extend_from_slice(&[ty::FLT8, 0]);
            body.extend_from_slice(&f.to_le_bytes());
        }
        ColumnData::Decimal(text) => {
            let scale = text.split_once('.').map_or(0, |(_, f)| f.len()).min(38) as u8;
            let mantissa = decimal::parse(text, scale)
                .map_err(|why| mismatch(&TypeInfo::Variant, value, &why))?;
            let mut wire = Vec::new();
            decimal::put(&mut wire, mantissa, 38)
                .map_err(|why| mismatch(&TypeInfo::Variant, value, &why))?;
            body.extend_from_slice(&[ty::DECIMALN, 2, 38, scale]);
            body.extend_from_slice(&wire[1..]);
        }
        ColumnData::Text(t) => {
            let bytes = utf16_bytes(t);
            body.extend_from_slice(&[ty::NVARCHAR, 7]);
            body.extend_from_slice(&SQL_LATIN1_GENERAL_CP1_CI_AS);
            body.extend_from_slice(&(bytes.len().min(8000) as u16).to_le_bytes());
            body.extend_from_slice(&bytes);
        }
        ColumnData::Bytes(b) => {
            body.extend_from_slice(&[ty::BIGVARBIN, 2]);
            body.extend_from_slice(&(b.len().min(8000) as u16).to_le_bytes());
            body.extend_from_slice(b);
        }
    }
    if body.len() > VARIANT_MAX_LEN as usize {
        return Err(mismatch(
            &TypeInfo::Variant,
            value,
            "longer than 8000 bytes",
        ));
    }
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(type_info: TypeInfo, v: ColumnData) -> Vec<u8> {
        let mut out = Vec::new();
        put_value(&mut out, &type_info, &v).unwrap();
        out
    }

    fn type_info(type_info: TypeInfo) -> Vec<u8> {
        let mut out = Vec::new();
        put_type_info(&mut out, &type_info);
        out
    }

    #[test]
    fn type_info_bytes_are_exact() {
        assert_eq!(type_info(TypeInfo::Int), [0x26, 4]);
        assert_eq!(type_info(TypeInfo::TinyInt), [0x26, 1]);
        assert_eq!(type_info(TypeInfo::Bit), [0x68, 1]);
        assert_eq!(type_info(TypeInfo::Float), [0x6D, 8]);
        assert_eq!(
            type_info(TypeInfo::Decimal {
                precision: 10,
                scale: 2
            }),
            [0x6A, 9, 10, 2]
        );
        assert_eq!(
            type_info(TypeInfo::VarChar(Length::Fixed(50))),
            [0xA7, 50, 0, 0x09, 0x04, 0xD0, 0x00, 0x34]
        );
        assert_eq!(
            type_info(TypeInfo::NVarChar(Length::Fixed(50))),
            [0xE7, 100, 0, 0x09, 0x04, 0xD0, 0x00, 0x34]
        );
        assert_eq!(
            type_info(TypeInfo::NVarChar(Length::Max)),
            [0xE7, 0xFF, 0xFF, 0x09, 0x04, 0xD0, 0x00, 0x34]
        );
        assert_eq!(
            type_info(TypeInfo::Char(3)),
            [0xAF, 3, 0, 0x09, 0x04, 0xD0, 0x00, 0x34]
        );
        assert_eq!(
            type_info(TypeInfo::NChar(3)),
            [0xEF, 6, 0, 0x09, 0x04, 0xD0, 0x00, 0x34]
        );
        assert_eq!(
            type_info(TypeInfo::VarBinary(Length::Max)),
            [0xA5, 0xFF, 0xFF]
        );
        assert_eq!(type_info(TypeInfo::UniqueIdentifier), [0x24, 16]);
        assert_eq!(type_info(TypeInfo::DateTime2), [0x2A, 7]);
        assert_eq!(type_info(TypeInfo::Real), [0x6D, 4]);
        assert_eq!(type_info(TypeInfo::Variant), [0x62, 0x50, 0x1F, 0, 0]);
    }

    #[test]
    fn sql_variant_values_carry_their_base_type() {
        // MS-TDS 2.2.5.5.4: length, base type, property count, properties, value.
        assert_eq!(value(TypeInfo::Variant, ColumnData::Null), [0, 0, 0, 0]);
        assert_eq!(
            value(TypeInfo::Variant, ColumnData::Int(4)),
            [6, 0, 0, 0, 0x38, 0, 4, 0, 0, 0]
        );
        assert_eq!(
            value(TypeInfo::Variant, ColumnData::Int(1 << 40))[..6],
            [10, 0, 0, 0, 0x7F, 0]
        );
        assert_eq!(
            value(TypeInfo::Variant, ColumnData::Text("hé".into())),
            [13, 0, 0, 0, 0xE7, 7, 0x09, 0x04, 0xD0, 0x00, 0x34, 4, 0, b'h', 0, 0xE9, 0]
        );
        assert_eq!(
            value(TypeInfo::Variant, ColumnData::Bytes(vec![1, 2].into())),
            [6, 0, 0, 0, 0xA5, 2, 2, 0, 1, 2]
        );
        assert_eq!(
            value(TypeInfo::Variant, ColumnData::Decimal("-1.50".into()))[..8],
            [21, 0, 0, 0, 0x6A, 2, 38, 2]
        );
    }

    #[test]
    fn fixed_values_are_exact() {
        assert_eq!(value(TypeInfo::Int, ColumnData::Int(1)), [4, 1, 0, 0, 0]);
        assert_eq!(value(TypeInfo::Int, ColumnData::Null), [0]);
        assert_eq!(
            value(TypeInfo::BigInt, ColumnData::Int(-1)),
            [8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(value(TypeInfo::TinyInt, ColumnData::Int(255)), [1, 255]);
        assert_eq!(value(TypeInfo::Bit, ColumnData::Int(1)), [1, 1]);
        assert_eq!(value(TypeInfo::Bit, ColumnData::Bool(false)), [1, 0]);
        assert_eq!(
            value(TypeInfo::Float, ColumnData::Float(1.5)),
            [8, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]
        );
        assert_eq!(
            value(TypeInfo::Real, ColumnData::Float(1.5)),
            [4, 0, 0, 0xC0, 0x3F]
        );
        assert_eq!(
            value(
                TypeInfo::Decimal {
                    precision: 5,
                    scale: 2
                },
                ColumnData::Decimal("12.5".into())
            ),
            [5, 1, 0xE2, 0x04, 0, 0]
        );
    }

    #[test]
    fn character_values_use_cp1252_and_plp_for_max() {
        assert_eq!(
            value(
                TypeInfo::VarChar(Length::Fixed(50)),
                ColumnData::Text("Doe€".into())
            ),
            [4, 0, b'D', b'o', b'e', 0x80]
        );
        assert_eq!(
            value(TypeInfo::VarChar(Length::Fixed(50)), ColumnData::Null),
            [0xFF, 0xFF]
        );
        assert_eq!(
            value(
                TypeInfo::NVarChar(Length::Fixed(5)),
                ColumnData::Text("é".into())
            ),
            [2, 0, 0xE9, 0]
        );
        assert_eq!(
            value(TypeInfo::Char(3), ColumnData::Text("a".into())),
            [3, 0, b'a', b' ', b' ']
        );
        assert_eq!(
            value(TypeInfo::NChar(2), ColumnData::Text("a".into())),
            [4, 0, b'a', 0, b' ', 0]
        );
        assert_eq!(
            value(
                TypeInfo::VarChar(Length::Max),
                ColumnData::Text("ab".into())
            ),
            [2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0]
        );
        assert_eq!(
            value(TypeInfo::NVarChar(Length::Max), ColumnData::Text("".into())),
            [0; 12]
        );
        assert_eq!(
            value(TypeInfo::VarBinary(Length::Max), ColumnData::Null),
            [0xFF; 8]
        );
        assert_eq!(
            value(
                TypeInfo::VarBinary(Length::Fixed(4)),
                ColumnData::Bytes(vec![1, 2].into())
            ),
            [2, 0, 1, 2]
        );
    }

    #[test]
    fn guid_and_datetime2_values() {
        assert_eq!(
            value(
                TypeInfo::UniqueIdentifier,
                ColumnData::Text("6F9619FF-8B86-D011-B42D-00C04FC964FF".into())
            ),
            [
                16, 0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0, 0xB4, 0x2D, 0x00, 0xC0, 0x4F,
                0xC9, 0x64, 0xFF
            ]
        );
        assert_eq!(
            value(
                TypeInfo::DateTime2,
                ColumnData::Text("0001-01-01 00:00:00.0000001".into())
            ),
            [8, 1, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn values_a_type_cannot_hold_are_errors() {
        let mut out = Vec::new();
        assert!(put_value(&mut out, &TypeInfo::Int, &ColumnData::Int(1 << 40)).is_err());
        assert!(put_value(&mut out, &TypeInfo::TinyInt, &ColumnData::Int(-1)).is_err());
        assert!(put_value(&mut out, &TypeInfo::Int, &ColumnData::Text("abc".into())).is_err());
        assert!(put_value(
            &mut out,
            &TypeInfo::Decimal {
                precision: 3,
                scale: 0
            },
            &ColumnData::Int(1000)
        )
        .is_err());
        assert!(put_value(
            &mut out,
            &TypeInfo::UniqueIdentifier,
            &ColumnData::Text("nope".into())
        )
        .is_err());
        assert!(put_value(
            &mut out,
            &TypeInfo::DateTime2,
            &ColumnData::Text("yesterday".into())
        )
        .is_err());
        assert!(put_value(
            &mut out,
            &TypeInfo::VarChar(Length::Fixed(10)),
            &ColumnData::Text("x".repeat(9000).into())
        )
        .is_err());
    }
}
