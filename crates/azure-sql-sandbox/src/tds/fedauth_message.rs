//! The FEDAUTH message (MS-TDS 2.2.6.3, packet type 0x08): in the ADAL/MSAL workflow, the token
//! the client fetched after the server's FEDAUTHINFO told it where and for what —
//! `DataLen`, then the token as an `L_VARBYTE` of UTF-16LE, then an optional 32-byte nonce.

use super::error::CodecError;
use super::login7::Secret;
use super::wire::{decode_utf16, Reader};

/// A parsed FEDAUTH message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FedAuthMessage {
    /// The access token.
    pub token: Secret,
    /// The nonce, when the client echoes the server's.
    pub nonce: Option<[u8; 32]>,
}

impl FedAuthMessage {
    /// Parses a FEDAUTH message payload.
    pub fn parse(payload: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(payload, "FEDAUTH message");
        let data_len = r.u32_le()? as usize;
        if data_len > r.remaining() {
            return Err(CodecError::invalid(
                "FEDAUTH message",
                format!(
                    "DataLen {data_len} is larger than the {} bytes that follow",
                    r.remaining()
                ),
            ));
        }
        let mut r = Reader::new(r.bytes(data_len)?, "FEDAUTH token");
        let token_len = r.u32_le()? as usize;
        let raw = r.bytes(token_len)?;
        let token =
            decode_utf16(raw).map_err(|detail| CodecError::invalid("FEDAUTH token", detail))?;
        let nonce = match r.remaining() {
            0 => None,
            32 => {
                let mut n = [0u8; 32];
                n.copy_from_slice(r.bytes(32)?);
                Some(n)
            }
            other => {
                return Err(CodecError::invalid(
                    "FEDAUTH message",
                    format!("{other} byte(s) follow the token; only a 32-byte nonce may"),
                ))
            }
        };
        Ok(Self {
            token: Secret::new(token),
            nonce,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(token: &str, nonce: Option<[u8; 32]>) -> Vec<u8> {
        let units: Vec<u8> = token.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let mut body = (units.len() as u32).to_le_bytes().to_vec();
        body.extend_from_slice(&units);
        if let Some(n) = nonce {
            body.extend_from_slice(&n);
        }
        let mut out = (body.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn parses_the_message_tedious_sends() {
        // tedious: DataLen = token bytes + 4, TokenLen, token.
        let parsed = FedAuthMessage::parse(&message("ey.J", None)).unwrap();
        assert_eq!(parsed.token.expose(), "ey.J");
        assert_eq!(parsed.nonce, None);
        assert_eq!(
            message("ab", None),
            [8, 0, 0, 0, 4, 0, 0, 0, b'a', 0, b'b', 0]
        );
    }

    #[test]
    fn reads_a_nonce() {
        let parsed = FedAuthMessage::parse(&message("t", Some([5; 32]))).unwrap();
        assert_eq!(parsed.nonce, Some([5; 32]));
    }

    #[test]
    fn malformed_messages_are_errors() {
        let good = message("token", None);
        for cut in 0..good.len() {
            assert!(FedAuthMessage::parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = message("t", None);
        extra.push(1);
        extra[0] += 1;
        assert!(FedAuthMessage::parse(&extra).is_err());
        assert!(!format!("{:?}", FedAuthMessage::parse(&good).unwrap()).contains("token\""));
    }
}
