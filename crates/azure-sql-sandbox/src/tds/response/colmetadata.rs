//! COLMETADATA (MS-TDS 2.2.7.4): the columns of the result set the following ROWs belong to —
//! user type, flags (nullable), TYPE_INFO and name.

use super::token_type;
use crate::tds::types::{put_type_info, ColumnMeta};
use crate::tds::wire::put_b_varchar;

/// `fNullable`.
const NULLABLE: u16 = 0x0001;
/// `usUpdateable` = 2 (unknown), as SQL Server marks expression and table columns alike.
const UPDATEABLE_UNKNOWN: u16 = 0x0008;

/// A COLMETADATA token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColMetaData<'a>(pub &'a [ColumnMeta<'a>]);

/// The count that stands for "no metadata": the client asked for none (RPC option
/// `fNoMetaData`) and reuses what it already has, e.g. from `sp_prepare`.
const NO_METADATA: u16 = 0xFFFF;

impl ColMetaData<'_> {
    /// Appends a COLMETADATA that carries no metadata (count 0xFFFF).
    pub fn encode_none(out: &mut Vec<u8>) {
        out.push(token_type::COLMETADATA);
        out.extend_from_slice(&NO_METADATA.to_le_bytes());
    }

    /// Appends the token.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(token_type::COLMETADATA);
        out.extend_from_slice(&(self.0.len().min(u16::MAX as usize - 1) as u16).to_le_bytes());
        for column in self.0.iter().take(u16::MAX as usize - 1) {
            out.extend_from_slice(&0u32.to_le_bytes()); // UserType
            let flags = UPDATEABLE_UNKNOWN | if column.nullable { NULLABLE } else { 0 };
            out.extend_from_slice(&flags.to_le_bytes());
            put_type_info(out, &column.ty);
            put_b_varchar(out, column.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tds::types::{Length, TypeInfo};

    #[test]
    fn no_metadata_is_count_ffff() {
        let mut out = Vec::new();
        ColMetaData::encode_none(&mut out);
        assert_eq!(out, [0x81, 0xFF, 0xFF]);
    }

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
        ];
        let mut out = Vec::new();
        ColMetaData(&columns).encode(&mut out);
        assert_eq!(
            out,
            [
                0x81, 2, 0, //
                0, 0, 0, 0, 0x08, 0x00, 0x26, 4, 2, b'i', 0, b'd', 0, //
                0, 0, 0, 0, 0x09, 0x00, 0xA7, 50, 0, 0x09, 0x04, 0xD0, 0x00, 0x34, 1, b'n', 0
            ]
        );
    }
}
