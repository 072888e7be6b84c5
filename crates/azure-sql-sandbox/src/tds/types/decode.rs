//! In: an RPC parameter's TYPE_INFO and its value, for the types drivers send — NULLTYPE, the
//! fixed-length integers, bits, floats, money and datetimes, INTN, BITN, FLTN, MONEYN,
//! DATETIMN, DECIMALN/NUMERICN, GUID, DATEN, TIMEN, DATETIME2N, DATETIMEOFFSETN,
//! BIGVARCHR/BIGCHAR/NVARCHAR/NCHAR (with PLP for `MAX`), BIGVARBIN/BIGBINARY, XML and the
//! legacy TEXT/NTEXT/IMAGE.

use super::{ty, ColumnData, MAX_LEN, PLP_NULL, PLP_UNKNOWN_LEN};
use crate::tds::collation::{self, SQL_LATIN1_GENERAL_CP1_CI_AS};
use crate::tds::error::CodecError;
use crate::tds::wire::{decode_utf16, Reader};
use crate::tds::{datetime, decimal};

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

/// A parameter value the wire bytes do not make.
fn invalid_value(detail: String) -> CodecError {
    CodecError::invalid("parameter value", detail)
}

/// A character, date/time or GUID value read off the wire.
fn text(s: String) -> ColumnData<'static> {
    ColumnData::Text(s.into())
}

fn fixed_width(t: u8) -> usize {
    match t {
        ty::INT1 | ty::BIT => 1,
        ty::INT2 => 2,
        ty::INT4 | ty::FLT4 | ty::MONEY4 | ty::DATETIM4 => 4,
        _ => 8,
    }
}

fn money(bytes: &[u8]) -> ColumnData<'static> {
    let cents = if bytes.len() == 4 {
        i64::from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    } else {
        let hi = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let lo = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        (i64::from(hi) << 32) | i64::from(lo)
    };
    ColumnData::Decimal(decimal::format(i128::from(cents), 4).into())
}

fn scalar(t: u8, bytes: &[u8]) -> Result<ColumnData<'static>, CodecError> {
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
        (ty::INT1 | ty::INTN, 1) => ColumnData::Int(i64::from(bytes[0])),
        (ty::INT2 | ty::INTN, 2) => {
            ColumnData::Int(i64::from(i16::from_le_bytes([bytes[0], bytes[1]])))
        }
        (ty::INT4 | ty::INTN, 4) => ColumnData::Int(i64::from(i32::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3],
        ]))),
        (ty::INT8 | ty::INTN, 8) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(bytes);
            ColumnData::Int(i64::from_le_bytes(a))
        }
        (ty::BIT | ty::BITN, 1) => ColumnData::Bool(bytes[0] != 0),
        (ty::FLT4 | ty::FLTN, 4) => ColumnData::Float(f64::from(f32::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3],
        ]))),
        (ty::FLT8 | ty::FLTN, 8) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(bytes);
            ColumnData::Float(f64::from_le_bytes(a))
        }
        (ty::MONEY | ty::MONEY4 | ty::MONEYN, 4 | 8) => money(bytes),
        (ty::DATETIME | ty::DATETIMN, 8) => text(
            datetime::format_legacy_datetime(
                i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
                u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            )
            .map_err(invalid_value)?,
        ),
        (ty::DATETIM4 | ty::DATETIMN, 4) => text(
            datetime::format_small_datetime(
                u16::from_le_bytes([bytes[0], bytes[1]]),
                u16::from_le_bytes([bytes[2], bytes[3]]),
            )
            .map_err(invalid_value)?,
        ),
        (ty::GUID, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            text(
                uuid::Uuid::from_bytes_le(a)
                    .hyphenated()
                    .to_string()
                    .to_uppercase(),
            )
        }
        _ => return Err(bad()),
    })
}

fn text_or_bytes(
    t: u8,
    collation: Option<[u8; 5]>,
    bytes: &[u8],
) -> Result<ColumnData<'static>, CodecError> {
    Ok(match t {
        ty::NVARCHAR | ty::NCHAR | ty::NTEXT | ty::XML => text(
            decode_utf16(bytes).map_err(|detail| CodecError::invalid("parameter value", detail))?,
        ),
        ty::BIGVARCHR | ty::BIGCHAR | ty::TEXT => text(collation::decode_with(
            &collation.unwrap_or(SQL_LATIN1_GENERAL_CP1_CI_AS),
            bytes,
        )),
        _ => ColumnData::Bytes(bytes.to_vec().into()),
    })
}

/// Reads a parameter value of the given TYPE_INFO.
pub fn read_value(
    r: &mut Reader<'_>,
    param_type: &ParamType,
) -> Result<ColumnData<'static>, CodecError> {
    match param_type {
        ParamType::Null => Ok(ColumnData::Null),
        ParamType::Fixed(t) => {
            let bytes = r.bytes(fixed_width(*t))?;
            scalar(*t, bytes)
        }
        ParamType::ByteLen(t) => match r.u8()? as usize {
            0 => Ok(ColumnData::Null),
            n => scalar(*t, r.bytes(n)?),
        },
        ParamType::Decimal { scale } => match r.u8()? as usize {
            0 => Ok(ColumnData::Null),
            n => {
                let mantissa = decimal::from_wire(r.bytes(n)?)
                    .map_err(|detail| CodecError::invalid("parameter value", detail))?;
                Ok(ColumnData::Decimal(
                    decimal::format(mantissa, *scale).into(),
                ))
            }
        },
        ParamType::Date => match r.u8()? {
            0 => Ok(ColumnData::Null),
            3 => Ok(text(
                datetime::format_date(datetime::date_days(r.bytes(3)?)).map_err(invalid_value)?,
            )),
            n => Err(CodecError::invalid(
                "parameter value",
                format!("a DATE of {n} bytes"),
            )),
        },
        ParamType::Scaled { ty: t, scale } => {
            let n = r.u8()? as usize;
            if n == 0 {
                return Ok(ColumnData::Null);
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
            Ok(text(
                match *t {
                    ty::TIMEN => Ok(datetime::format_time(ticks, *scale)),
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
                }
                .map_err(invalid_value)?,
            ))
        }
        ParamType::ShortLen { ty: t, collation } => match r.u16_le()? {
            MAX_LEN => Ok(ColumnData::Null),
            n => text_or_bytes(*t, *collation, r.bytes(n as usize)?),
        },
        ParamType::LongLen { ty: t, collation } => match r.u32_le()? {
            u32::MAX => Ok(ColumnData::Null),
            n => text_or_bytes(*t, *collation, r.bytes(n as usize)?),
        },
        ParamType::Plp { ty: t, collation } => {
            let total = r.u64_le()?;
            if total == PLP_NULL {
                return Ok(ColumnData::Null);
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

    fn param(bytes: &[u8]) -> Result<ColumnData<'static>, CodecError> {
        let mut r = Reader::new(bytes, "test");
        let t = read_type_info(&mut r)?;
        let v = read_value(&mut r, &t)?;
        assert!(r.is_empty(), "unread bytes after {t:?}");
        Ok(v)
    }

    #[test]
    fn reads_the_parameter_types_drivers_send() {
        assert_eq!(param(&[0x1F]), Ok(ColumnData::Null));
        assert_eq!(param(&[0x26, 4, 4, 42, 0, 0, 0]), Ok(ColumnData::Int(42)));
        assert_eq!(param(&[0x26, 8, 0]), Ok(ColumnData::Null));
        assert_eq!(
            param(&[0x38, 0xFE, 0xFF, 0xFF, 0xFF]),
            Ok(ColumnData::Int(-2))
        );
        assert_eq!(param(&[0x68, 1, 1, 1]), Ok(ColumnData::Bool(true)));
        assert_eq!(
            param(&[0x6D, 8, 8, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]),
            Ok(ColumnData::Float(1.5))
        );
        assert_eq!(
            param(&[0x6C, 5, 5, 2, 5, 0, 0xE2, 0x04, 0, 0]),
            Ok(ColumnData::Decimal("-12.50".into()))
        );
        assert_eq!(
            param(&[0x6E, 8, 8, 0, 0, 0, 0, 0x10, 0x27, 0, 0]),
            Ok(ColumnData::Decimal("1.0000".into()))
        );
        assert_eq!(
            param(&[
                0x24, 16, 16, 0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0, 0xB4, 0x2D, 0x00,
                0xC0, 0x4F, 0xC9, 0x64, 0xFF
            ]),
            Ok(ColumnData::Text(
                "6F9619FF-8B86-D011-B42D-00C04FC964FF".into()
            ))
        );
        // NVARCHAR(4000) as tiberius sends it (collation zeroed).
        assert_eq!(
            param(&[0xE7, 0x40, 0x1F, 0, 0, 0, 0, 0, 4, 0, b'h', 0, b'i', 0]),
            Ok(ColumnData::Text("hi".into()))
        );
        // VARCHAR in cp1252.
        assert_eq!(
            param(&[0xA7, 10, 0, 0x09, 0x04, 0xD0, 0x00, 0x34, 1, 0, 0xE9]),
            Ok(ColumnData::Text("é".into()))
        );
        assert_eq!(param(&[0xA5, 0x40, 0x1F, 0xFF, 0xFF]), Ok(ColumnData::Null));
        assert_eq!(
            param(&[0x28, 3, 0xBE, 0x46, 0x0B]),
            Ok(ColumnData::Text("2024-05-01".into()))
        );
        assert_eq!(
            param(&[0x2A, 7, 8, 1, 0, 0, 0, 0, 0xBE, 0x46, 0x0B]),
            Ok(ColumnData::Text("2024-05-01 00:00:00.0000001".into()))
        );
        assert_eq!(
            param(&[0x29, 0, 3, 0x3C, 0, 0]),
            Ok(ColumnData::Text("00:01:00".into()))
        );
        assert_eq!(
            param(&[0x2B, 0, 8, 0, 0, 0, 0xBE, 0x46, 0x0B, 60, 0]),
            Ok(ColumnData::Text("2024-05-01 01:00:00 +01:00".into()))
        );
    }

    #[test]
    fn reads_the_legacy_long_types_odbc_sends() {
        // NTEXT as Microsoft's ODBC driver sends sp_prepexec's @params.
        let mut bytes = vec![0x63, 0xFF, 0xFF, 0xFF, 0x7F, 0x09, 0x04, 0xD0, 0x00, 0x34];
        bytes.extend_from_slice(&[6, 0, 0, 0, b'@', 0, b'P', 0, b'1', 0]);
        assert_eq!(param(&bytes), Ok(ColumnData::Text("@P1".into())));
        let mut bytes = vec![0x23, 0xFF, 0xFF, 0xFF, 0x7F, 0x09, 0x04, 0xD0, 0x00, 0x34];
        bytes.extend_from_slice(&[1, 0, 0, 0, 0xE9]);
        assert_eq!(param(&bytes), Ok(ColumnData::Text("é".into())));
        let mut bytes = vec![0x22, 0xFF, 0xFF, 0xFF, 0x7F];
        bytes.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(param(&bytes), Ok(ColumnData::Null));
    }

    #[test]
    fn reads_plp_values_in_chunks() {
        // NVARCHAR(MAX), unknown total length, two chunks.
        let mut bytes = vec![0xE7, 0xFF, 0xFF, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&PLP_UNKNOWN_LEN.to_le_bytes());
        bytes.extend_from_slice(&[2, 0, 0, 0, b'a', 0, 2, 0, 0, 0, b'b', 0, 0, 0, 0, 0]);
        assert_eq!(param(&bytes), Ok(ColumnData::Text("ab".into())));
        // VARBINARY(MAX) NULL and empty.
        let mut bytes = vec![0xA5, 0xFF, 0xFF];
        bytes.extend_from_slice(&PLP_NULL.to_le_bytes());
        assert_eq!(param(&bytes), Ok(ColumnData::Null));
        let mut bytes = vec![0xA5, 0xFF, 0xFF];
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(param(&bytes), Ok(ColumnData::Bytes(vec![].into())));
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
