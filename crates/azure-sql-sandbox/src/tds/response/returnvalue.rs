//! RETURNVALUE (MS-TDS 2.2.7.18): an output parameter's value, sent after a procedure's
//! RETURNSTATUS — for the sandbox, the prepared-statement handle of `sp_prepare`/`sp_prepexec`.

use super::token_type;
use crate::tds::error::CodecError;
use crate::tds::types::{put_type_info, put_value, ColumnData, TypeInfo};
use crate::tds::wire::put_b_varchar;

/// `Status`: the value of an output parameter (not a UDF's result).
const OUTPUT_PARAMETER: u8 = 0x01;
/// `fNullable`.
const NULLABLE: u16 = 0x0001;

/// A RETURNVALUE token.
#[derive(Clone, Debug, PartialEq)]
pub struct ReturnValue<'a> {
    /// The parameter's position in the RPC (0-based).
    pub ordinal: u16,
    /// The parameter's name as the client sent it (may be empty).
    pub name: &'a str,
    /// Its type.
    pub ty: &'a TypeInfo,
    /// Its value.
    pub value: &'a ColumnData<'a>,
}

impl ReturnValue<'_> {
    /// Appends the token.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        out.push(token_type::RETURNVALUE);
        out.extend_from_slice(&self.ordinal.to_le_bytes());
        put_b_varchar(out, self.name);
        out.push(OUTPUT_PARAMETER);
        out.extend_from_slice(&0u32.to_le_bytes()); // UserType
        out.extend_from_slice(&NULLABLE.to_le_bytes());
        put_type_info(out, self.ty);
        if let Err(e) = put_value(out, self.ty, self.value) {
            out.truncate(start);
            return Err(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_exact() {
        let mut out = Vec::new();
        ReturnValue {
            ordinal: 0,
            name: "",
            ty: &TypeInfo::Int,
            value: &ColumnData::Int(1),
        }
        .encode(&mut out)
        .unwrap();
        assert_eq!(
            out,
            [0xAC, 0, 0, 0, 0x01, 0, 0, 0, 0, 0x01, 0x00, 0x26, 4, 4, 1, 0, 0, 0]
        );
        let mut out = Vec::new();
        ReturnValue {
            ordinal: 2,
            name: "@h",
            ty: &TypeInfo::Int,
            value: &ColumnData::Null,
        }
        .encode(&mut out)
        .unwrap();
        assert_eq!(
            out,
            [0xAC, 2, 0, 2, b'@', 0, b'h', 0, 0x01, 0, 0, 0, 0, 0x01, 0x00, 0x26, 4, 0]
        );
    }
}
