//! INFO and ERROR (MS-TDS 2.2.7.10, 2.2.7.13): a SQL Server message with its number, state,
//! severity (class), text, server name, procedure and line. The two tokens share one layout.

use super::token_type;
use crate::tds::wire::{put_b_varchar, put_us_varchar, put_with_u16_len};

/// Which of the two tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// INFO (severity 10 or less).
    Info,
    /// ERROR.
    Error,
}

/// An INFO or ERROR token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Which token.
    pub kind: MessageKind,
    /// The message number.
    pub number: u32,
    /// The state.
    pub state: u8,
    /// The severity.
    pub class: u8,
    /// The text.
    pub text: String,
    /// The server's name.
    pub server: String,
    /// The procedure the message comes from (empty for batches).
    pub procedure: String,
    /// The 1-based line in the batch.
    pub line: u32,
}

impl Message {
    /// Appends the token.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let token = match self.kind {
            MessageKind::Info => token_type::INFO,
            MessageKind::Error => token_type::ERROR,
        };
        put_with_u16_len(out, token, |b| {
            b.extend_from_slice(&self.number.to_le_bytes());
            b.push(self.state);
            b.push(self.class);
            // Keep the whole token within its USHORT length.
            put_us_varchar(b, crate::tds::wire::truncate_utf16(&self.text, 30_000));
            put_b_varchar(b, &self.server);
            put_b_varchar(b, &self.procedure);
            b.extend_from_slice(&self.line.to_le_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bytes_are_exact() {
        let mut out = Vec::new();
        Message {
            kind: MessageKind::Error,
            number: 18456,
            state: 1,
            class: 14,
            text: "No".into(),
            server: "s".into(),
            procedure: String::new(),
            line: 1,
        }
        .encode(&mut out);
        assert_eq!(
            out,
            [
                0xAA, 20, 0, //
                0x18, 0x48, 0, 0, // 18456
                1, 14, //
                2, 0, b'N', 0, b'o', 0, //
                1, b's', 0, //
                0, //
                1, 0, 0, 0
            ]
        );
    }

    #[test]
    fn huge_texts_are_cut_to_fit_the_token() {
        let mut out = Vec::new();
        Message {
            kind: MessageKind::Error,
            number: 1,
            state: 1,
            class: 16,
            text: "x".repeat(100_000),
            server: String::new(),
            procedure: String::new(),
            line: 1,
        }
        .encode(&mut out);
        let len = u16::from_le_bytes([out[1], out[2]]) as usize;
        assert_eq!(len, out.len() - 3);
    }
}
