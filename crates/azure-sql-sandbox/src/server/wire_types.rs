//! The engine's types and values in the codec's own terms, and back: a result column's
//! [`SqlType`] as the [`TypeInfo`] it travels as, a [`Value`] as [`ColumnData`] (borrowed: a
//! result set is not copied to be sent), an RPC parameter's [`ColumnData`] as the engine's
//! [`Value`], and a [`SqlError`] as an INFO or ERROR token. The codec (`crate::tds`) knows
//! nothing of the engine; this is the one place the two meet.

use crate::sql::{Column, Length, SqlError, SqlType, Value};
use crate::tds::response::{Message as MessageToken, MessageKind};
use crate::tds::types::{ColumnData, ColumnMeta, Length as WireLength, TypeInfo};

fn length(length: Length) -> WireLength {
    match length {
        Length::Fixed(n) => WireLength::Fixed(n),
        Length::Max => WireLength::Max,
    }
}

/// How a column of this engine type travels.
pub(super) fn type_info(ty: &SqlType) -> TypeInfo {
    match *ty {
        SqlType::TinyInt => TypeInfo::TinyInt,
        SqlType::SmallInt => TypeInfo::SmallInt,
        SqlType::Int => TypeInfo::Int,
        SqlType::BigInt => TypeInfo::BigInt,
        SqlType::Bit => TypeInfo::Bit,
        SqlType::Real => TypeInfo::Real,
        SqlType::Float => TypeInfo::Float,
        SqlType::Decimal { precision, scale } => TypeInfo::Decimal { precision, scale },
        SqlType::Char(n) => TypeInfo::Char(n),
        SqlType::VarChar(l) => TypeInfo::VarChar(length(l)),
        SqlType::NChar(n) => TypeInfo::NChar(n),
        SqlType::NVarChar(l) => TypeInfo::NVarChar(length(l)),
        SqlType::VarBinary(l) => TypeInfo::VarBinary(length(l)),
        SqlType::UniqueIdentifier => TypeInfo::UniqueIdentifier,
        SqlType::DateTime2 => TypeInfo::DateTime2,
        SqlType::Variant => TypeInfo::Variant,
    }
}

/// A result column as COLMETADATA describes it.
pub(super) fn column_meta(column: &Column) -> ColumnMeta<'_> {
    ColumnMeta {
        name: &column.name,
        ty: type_info(&column.ty),
        nullable: column.nullable,
    }
}

/// A result value, borrowed, as ROW carries it.
pub(super) fn column_data(value: &Value) -> ColumnData<'_> {
    match value {
        Value::Null => ColumnData::Null,
        Value::Bool(b) => ColumnData::Bool(*b),
        Value::Int(i) => ColumnData::Int(*i),
        Value::Float(f) => ColumnData::Float(*f),
        Value::Decimal(s) => ColumnData::Decimal(s.into()),
        Value::Text(s) => ColumnData::Text(s.into()),
        Value::Bytes(b) => ColumnData::Bytes(b.into()),
    }
}

/// An RPC parameter's value as the engine binds it.
pub(super) fn value(data: &ColumnData<'_>) -> Value {
    match data {
        ColumnData::Null => Value::Null,
        ColumnData::Bool(b) => Value::Bool(*b),
        ColumnData::Int(i) => Value::Int(*i),
        ColumnData::Float(f) => Value::Float(*f),
        ColumnData::Decimal(s) => Value::Decimal(s.to_string()),
        ColumnData::Text(s) => Value::Text(s.to_string()),
        ColumnData::Bytes(b) => Value::Bytes(b.to_vec()),
    }
}

/// The token for an engine message: INFO up to severity 10, ERROR above.
pub(super) fn message_token(error: &SqlError, server: &str) -> MessageToken {
    MessageToken {
        kind: if error.severity <= 10 {
            MessageKind::Info
        } else {
            MessageKind::Error
        },
        number: error.number,
        state: error.state,
        class: error.severity,
        text: error.message.clone(),
        server: server.to_string(),
        procedure: String::new(),
        line: error.line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cross_both_ways_unchanged() {
        for v in [
            Value::Null,
            Value::Bool(true),
            Value::Int(-7),
            Value::Float(1.5),
            Value::Decimal("12.50".into()),
            Value::Text("é".into()),
            Value::Bytes(vec![1, 2]),
        ] {
            assert_eq!(value(&column_data(&v)), v);
        }
        assert_eq!(
            type_info(&SqlType::NVarChar(Length::Max)),
            TypeInfo::NVarChar(WireLength::Max)
        );
        assert_eq!(
            type_info(&SqlType::Decimal {
                precision: 10,
                scale: 2
            }),
            TypeInfo::Decimal {
                precision: 10,
                scale: 2
            }
        );
    }

    #[test]
    fn severity_decides_info_or_error() {
        let info = SqlError {
            number: 5701,
            state: 2,
            severity: 0,
            message: "Changed database context to 'db'.".into(),
            line: 1,
        };
        assert_eq!(message_token(&info, "s").kind, MessageKind::Info);
        let error = SqlError {
            severity: 16,
            ..info
        };
        let m = message_token(&error, "s");
        assert_eq!(m.kind, MessageKind::Error);
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(out[0], 0xAA);
    }
}
