//! ROW (MS-TDS 2.2.7.19): one row's values, each encoded as its column's type says.

use super::token_type;
use crate::sql::{Column, Value};
use crate::tds::error::CodecError;
use crate::tds::types::put_value;

/// A ROW token.
#[derive(Clone, Debug, PartialEq)]
pub struct Row<'a> {
    /// The result set's columns.
    pub columns: &'a [Column],
    /// One value per column.
    pub values: &'a [Value],
}

impl Row<'_> {
    /// Appends the token; a value its column's type cannot carry is an error (and nothing of the
    /// row is left in `out`).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        if self.values.len() != self.columns.len() {
            return Err(CodecError::invalid(
                "row",
                format!(
                    "{} values for {} columns",
                    self.values.len(),
                    self.columns.len()
                ),
            ));
        }
        let start = out.len();
        out.push(token_type::ROW);
        for (column, value) in self.columns.iter().zip(self.values) {
            if let Err(e) = put_value(out, &column.ty, value) {
                out.truncate(start);
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{Length, SqlType};

    #[test]
    fn bytes_are_exact() {
        let columns = [
            Column {
                name: "id".into(),
                ty: SqlType::Int,
                nullable: false,
            },
            Column {
                name: "n".into(),
                ty: SqlType::VarChar(Length::Fixed(50)),
                nullable: true,
            },
            Column {
                name: "a".into(),
                ty: SqlType::Bit,
                nullable: true,
            },
        ];
        let values = [Value::Int(1), Value::Text("Jo".into()), Value::Null];
        let mut out = Vec::new();
        Row {
            columns: &columns,
            values: &values,
        }
        .encode(&mut out)
        .unwrap();
        assert_eq!(out, [0xD1, 4, 1, 0, 0, 0, 2, 0, b'J', b'o', 0]);
    }

    #[test]
    fn a_bad_value_leaves_nothing_behind() {
        let columns = [Column {
            name: "id".into(),
            ty: SqlType::Int,
            nullable: false,
        }];
        let mut out = vec![1, 2, 3];
        let values = [Value::Text("x".into())];
        assert!(Row {
            columns: &columns,
            values: &values
        }
        .encode(&mut out)
        .is_err());
        assert_eq!(out, [1, 2, 3]);
        let values = [Value::Int(1), Value::Int(2)];
        assert!(Row {
            columns: &columns,
            values: &values
        }
        .encode(&mut out)
        .is_err());
    }
}
