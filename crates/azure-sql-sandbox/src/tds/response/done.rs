//! DONE, DONEPROC and DONEINPROC (MS-TDS 2.2.7.6-8): the end of a statement, of a procedure, and
//! of a statement inside a procedure, with status bits and an 8-byte row count (TDS 7.2+).

use super::token_type;

/// Status bits.
pub mod status {
    /// The final DONE of the response.
    pub const FINAL: u16 = 0x0000;
    /// More results follow.
    pub const MORE: u16 = 0x0001;
    /// The statement failed.
    pub const ERROR: u16 = 0x0002;
    /// A transaction is in progress.
    pub const INXACT: u16 = 0x0004;
    /// The row count is valid.
    pub const COUNT: u16 = 0x0010;
    /// Acknowledges an ATTENTION.
    pub const ATTN: u16 = 0x0020;
    /// A server error occurred; the results are discarded.
    pub const SRVERROR: u16 = 0x0100;
}

/// Which of the three DONE tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoneKind {
    /// DONE: end of a statement of a batch.
    Done,
    /// DONEPROC: end of a procedure (an RPC).
    Proc,
    /// DONEINPROC: end of a statement inside a procedure.
    InProc,
}

/// A DONE-family token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    /// Which token.
    pub kind: DoneKind,
    /// Status bits ([`status`]).
    pub status: u16,
    /// The current command's token (0xC1 for SELECT; 0 when not applicable).
    pub cur_cmd: u16,
    /// Rows affected or returned (valid with [`status::COUNT`]).
    pub row_count: u64,
}

impl Done {
    /// A DONE of the given kind and status with no count.
    pub fn new(kind: DoneKind, status: u16) -> Self {
        Self {
            kind,
            status,
            cur_cmd: 0,
            row_count: 0,
        }
    }

    /// Appends the token.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self.kind {
            DoneKind::Done => token_type::DONE,
            DoneKind::Proc => token_type::DONEPROC,
            DoneKind::InProc => token_type::DONEINPROC,
        });
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&self.cur_cmd.to_le_bytes());
        out.extend_from_slice(&self.row_count.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_exact() {
        let mut out = Vec::new();
        Done {
            kind: DoneKind::Done,
            status: status::COUNT,
            cur_cmd: 0xC1,
            row_count: 5,
        }
        .encode(&mut out);
        assert_eq!(out, [0xFD, 0x10, 0x00, 0xC1, 0x00, 5, 0, 0, 0, 0, 0, 0, 0]);

        let mut out = Vec::new();
        Done::new(DoneKind::Proc, status::ERROR).encode(&mut out);
        Done::new(DoneKind::InProc, status::MORE | status::ATTN).encode(&mut out);
        assert_eq!(
            out,
            [
                0xFE, 0x02, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, //
                0xFF, 0x21, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }
}
