//! Byte-level reading and writing shared by every codec module: a bounds-checked little reader
//! over a request's bytes (so malformed input becomes a [`CodecError`], never a panic) and the
//! writers for the string shapes TDS uses (`B_VARCHAR`, `US_VARCHAR`, UTF-16LE).

use super::error::CodecError;

/// A cursor over untrusted bytes. Every read checks bounds and reports what it was reading.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Reads `buf` from its start; `what` names the structure in errors.
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }

    /// Renames the structure being read (for errors further on).
    pub fn set_what(&mut self, what: &'static str) {
        self.what = what;
    }

    /// The current offset from the start of the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves to an absolute offset (an offset past the end is reported on the next read).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// Bytes left after the cursor.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.remaining() < n {
            return Err(CodecError::Truncated {
                what: self.what,
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }
    /// A little-endian `u16`.
    pub fn u16_le(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// A big-endian `u16` (PRELOGIN offsets, packet header).
    pub fn u16_be(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    /// A little-endian `u32`.
    pub fn u32_le(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// A big-endian `u32`.
    pub fn u32_be(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// A little-endian `u64`.
    pub fn u64_le(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `units` UTF-16LE code units as a string; unpaired surrogates are an error.
    pub fn utf16(&mut self, units: usize) -> Result<String, CodecError> {
        let what = self.what;
        let raw = self.bytes(units * 2)?;
        decode_utf16(raw).map_err(|detail| CodecError::invalid(what, detail))
    }

    /// A `B_VARCHAR`: a one-byte length in characters, then UTF-16LE.
    pub fn b_varchar(&mut self) -> Result<String, CodecError> {
        let units = self.u8()? as usize;
        self.utf16(units)
    }

    /// A `US_VARCHAR`: a two-byte length in characters, then UTF-16LE.
    pub fn us_varchar(&mut self) -> Result<String, CodecError> {
        let units = self.u16_le()? as usize;
        self.utf16(units)
    }
}

/// Decodes UTF-16LE bytes (an odd length or an unpaired surrogate is an error).
pub fn decode_utf16(raw: &[u8]) -> Result<String, String> {
    if !raw.len().is_multiple_of(2) {
        return Err(format!(
            "UTF-16 text has an odd byte length ({})",
            raw.len()
        ));
    }
    let units = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|e| {
            format!(
                "UTF-16 text holds an unpaired surrogate (0x{:04X})",
                e.unpaired_surrogate()
            )
        })
}

/// Appends `s` as UTF-16LE and returns the number of code units written.
pub fn put_utf16(out: &mut Vec<u8>, s: &str) -> usize {
    let mut n = 0;
    for unit in s.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
        n += 1;
    }
    n
}

/// The longest prefix of `s` that fits in `max_units` UTF-16 code units, cut on a character
/// boundary.
pub fn truncate_utf16(s: &str, max_units: usize) -> &str {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max_units {
            return &s[..i];
        }
    }
    s
}

/// Appends a `B_VARCHAR` (at most 255 characters; longer text is cut).
pub fn put_b_varchar(out: &mut Vec<u8>, s: &str) {
    let s = truncate_utf16(s, u8::MAX as usize);
    let len_at = out.len();
    out.push(0);
    let n = put_utf16(out, s);
    out[len_at] = n as u8;
}

/// Appends a `US_VARCHAR` (at most 65535 characters; longer text is cut).
pub fn put_us_varchar(out: &mut Vec<u8>, s: &str) {
    let s = truncate_utf16(s, u16::MAX as usize);
    let len_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let n = put_utf16(out, s) as u16;
    out[len_at..len_at + 2].copy_from_slice(&n.to_le_bytes());
}

/// Appends a `B_VARBYTE`.
pub fn put_b_varbyte(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(u8::MAX as usize)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// Writes a token whose body starts with a `USHORT` length: `body` fills the bytes after it and
/// the length is patched in afterwards.
pub fn put_with_u16_len(out: &mut Vec<u8>, token: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(token);
    let len_at = out.len();
    out.extend_from_slice(&[0, 0]);
    body(out);
    let len = (out.len() - len_at - 2).min(u16::MAX as usize) as u16;
    out[len_at..len_at + 2].copy_from_slice(&len.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let mut r = Reader::new(&[1, 2, 3], "test");
        assert_eq!(r.u16_le().unwrap(), 0x0201);
        assert_eq!(
            r.u32_le(),
            Err(CodecError::Truncated {
                what: "test",
                offset: 2,
                needed: 3
            })
        );
    }

    #[test]
    fn b_varchar_round_trips_and_cuts_long_text() {
        let mut out = Vec::new();
        put_b_varchar(&mut out, "héllo");
        assert_eq!(out, [5, b'h', 0, 0xE9, 0, b'l', 0, b'l', 0, b'o', 0]);
        assert_eq!(Reader::new(&out, "t").b_varchar().unwrap(), "héllo");

        let long = "x".repeat(300);
        let mut out = Vec::new();
        put_b_varchar(&mut out, &long);
        assert_eq!(out[0], 255);
        assert_eq!(out.len(), 1 + 255 * 2);
    }

    #[test]
    fn truncation_keeps_surrogate_pairs_whole() {
        assert_eq!(truncate_utf16("a😀b", 2), "a");
        assert_eq!(truncate_utf16("a😀b", 3), "a😀");
    }

    #[test]
    fn bad_utf16_is_an_error_not_a_panic() {
        assert!(Reader::new(&[0x00, 0xD8], "t").utf16(1).is_err());
        assert!(decode_utf16(&[0x41]).is_err());
    }

    #[test]
    fn u16_length_is_patched_after_the_body() {
        let mut out = Vec::new();
        put_with_u16_len(&mut out, 0xAB, |b| b.extend_from_slice(&[9, 9, 9]));
        assert_eq!(out, [0xAB, 3, 0, 9, 9, 9]);
    }
}
