//! ROW (MS-TDS 2.2.7.19): one row's values, each encoded as its column's type says.

use super::token_type;
use crate::tds::error::CodecError;
use crate::tds::types::{put_value, ColumnData, ColumnMeta};

/// A ROW token.
#[derive(Clone, Debug, PartialEq)]
pub struct Row<'a> {
    /// The result set's columns.
    pub columns: &'a [ColumnMeta<'a>],
    /// One value per column.
    pub values: &'a [ColumnData<'a>],
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
    use crate::tds::types::{Length, TypeInfo};

    #[test]
    fn bytes_are_exact() {
        let columns = [
            ColumnMeta {
                name: "id",
                ty: TypeInfo::Int,
                nullable: false,
            },
            ColumnMeta {
                name: "n",
                ty: TypeInfo::VarChar(Length::Fixed(50)),
                nullable: true,
            },
            ColumnMeta {
                name: "a",
                ty: TypeInfo::Bit,
                nullable: true,
            },
        ];
        let values = [
            ColumnData::Int(1),
            ColumnData::Text("Jo".into()),
            ColumnData::Null,
        ];
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
        let columns = [ColumnMeta {
            name: "id",
            ty: TypeInfo::Int,
            nullable: false,
        }];
        let mut out = vec![1, 2, 3];
        let values = [ColumnData::Text("x".into())];
        assert!(Row {
            columns: &columns,
            values: &values
        }
        .encode(&mut out)
        .is_err());
        assert_eq!(out, [1, 2, 3]);
        let values = [ColumnData::Int(1), ColumnData::Int(2)];
        assert!(Row {
            columns: &columns,
            values: &values
        }
        .encode(&mut out)
        .is_err());
    }
}
