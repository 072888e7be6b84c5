//! SQLBatch (MS-TDS 2.2.6.7): ALL_HEADERS, then the batch text in UTF-16LE.

use super::error::CodecError;
use super::wire::{decode_utf16, Reader};

/// Skips the ALL_HEADERS block (TDS 7.2+) and returns the offset of what follows.
pub fn skip_all_headers(payload: &[u8], what: &'static str) -> Result<usize, CodecError> {
    let mut r = Reader::new(payload, what);
    let total = r.u32_le()? as usize;
    if total < 4 || total > payload.len() {
        return Err(CodecError::invalid(
            what,
            format!(
                "ALL_HEADERS declares {total} bytes in a {}-byte message",
                payload.len()
            ),
        ));
    }
    // Each header: HeaderLength (DWORD, including itself), HeaderType, data. Check the chain.
    let mut at = 4;
    while at < total {
        let mut h = Reader::new(&payload[at..total], what);
        let len = h.u32_le()? as usize;
        if len < 6 || len > total - at {
            return Err(CodecError::invalid(
                what,
                format!("an ALL_HEADERS entry declares {len} bytes"),
            ));
        }
        at += len;
    }
    Ok(total)
}

/// A SQL batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlBatch {
    /// The batch text.
    pub text: String,
}

impl SqlBatch {
    /// Parses a SQLBatch payload.
    pub fn parse(payload: &[u8]) -> Result<Self, CodecError> {
        let start = skip_all_headers(payload, "SQLBatch")?;
        let text = decode_utf16(&payload[start..])
            .map_err(|detail| CodecError::invalid("SQLBatch text", detail))?;
        Ok(Self { text })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tds::wire::put_utf16;

    /// ALL_HEADERS with the transaction descriptor header, as drivers send it.
    pub(crate) fn all_headers() -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&22u32.to_le_bytes()); // total
        h.extend_from_slice(&18u32.to_le_bytes()); // header length
        h.extend_from_slice(&2u16.to_le_bytes()); // transaction descriptor
        h.extend_from_slice(&[0; 8]); // descriptor
        h.extend_from_slice(&1u32.to_le_bytes()); // outstanding requests
        h
    }

    #[test]
    fn parses_headers_and_text() {
        let mut payload = all_headers();
        put_utf16(&mut payload, "SELECT N'é'");
        assert_eq!(SqlBatch::parse(&payload).unwrap().text, "SELECT N'é'");
    }

    #[test]
    fn malformed_batches_are_errors() {
        assert!(SqlBatch::parse(&[]).is_err());
        assert!(SqlBatch::parse(&[100, 0, 0, 0]).is_err());
        let mut bad_header = all_headers();
        bad_header[4] = 200;
        assert!(SqlBatch::parse(&bad_header).is_err());
        let mut odd = all_headers();
        odd.push(b'A');
        assert!(SqlBatch::parse(&odd).is_err());
    }
}
