//! SQL Server's conversion rules inside an engine that stores SQLite values: implicit
//! conversions, `CAST`/`CONVERT` (and `TRY_`), and storing into a column, where truncation is
//! 2628 and `NULL` into `NOT NULL` is 515; each conversion error with SQL Server's number and
//! words.

use super::errors::{self, SqlError};
use super::types::{Length, SqlType};
use super::values::{
    format_real, guid_from_bytes, hex, is_decimal_literal, is_integer_literal, owned,
    parse_datetime, parse_guid,
};
use rusqlite::types::{Value as Sv, ValueRef};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::types::Value;
    use crate::sql::values::{guid_to_bytes, output_value};

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
}
