//! The forms values take in the engine: SQLite's storage of each SQL Server type (decimal text,
//! canonical GUID and `DATETIME2` text, hex for binary), the typed [`Value`]s that leave the
//! engine and the parameters that enter it, and the SQL Server type a value implies.

use super::types::{Length, SqlType, TypeInfo, Value};
use rusqlite::types::{Value as Sv, ValueRef};

pub(crate) fn is_integer_literal(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn is_decimal_literal(s: &str) -> bool {
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
