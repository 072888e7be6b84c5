//! RETURNSTATUS (MS-TDS 2.2.7.18): a procedure's return value, sent before its DONEPROC.

use super::token_type;

/// A RETURNSTATUS token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReturnStatus(pub i32);

impl ReturnStatus {
    /// Appends the token.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(token_type::RETURNSTATUS);
        out.extend_from_slice(&self.0.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_exact() {
        let mut out = Vec::new();
        ReturnStatus(0).encode(&mut out);
        ReturnStatus(-6).encode(&mut out);
        assert_eq!(out, [0x79, 0, 0, 0, 0, 0x79, 0xFA, 0xFF, 0xFF, 0xFF]);
    }
}
