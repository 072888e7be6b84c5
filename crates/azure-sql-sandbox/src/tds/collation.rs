//! Collations and the code page of character data. The sandbox's databases use Azure SQL's
//! default collation, `SQL_Latin1_General_CP1_CI_AS` (code page 1252): `VARCHAR` values travel in
//! Windows-1252, with `?` for characters 1252 cannot hold, as SQL Server converts them.

/// The 5-byte collation of `SQL_Latin1_General_CP1_CI_AS`: LCID 0x0409, flags
/// IgnoreCase|IgnoreKana|IgnoreWidth, version 0, sort id 52.
pub const SQL_LATIN1_GENERAL_CP1_CI_AS: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

/// The collation's name, for logs and docs.
pub const DEFAULT_COLLATION_NAME: &str = "SQL_Latin1_General_CP1_CI_AS";

/// Whether a collation's flags select UTF-8 (`fUTF8`, bit 26 of the info DWORD).
pub fn is_utf8(collation: &[u8; 5]) -> bool {
    collation[3] & 0x04 != 0
}

/// Windows-1252 bytes 0x80..=0x9F (the only range that differs from Latin-1). The five
/// unassigned bytes map to the C1 control of the same value, as the WHATWG decoder drivers use.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// Encodes text in Windows-1252, `?` for every character it cannot hold.
pub fn encode_cp1252(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c as u32 {
            0..=0x7F | 0xA0..=0xFF => c as u8,
            _ => CP1252_HIGH
                .iter()
                .position(|h| *h == c)
                .map_or(b'?', |i| 0x80 + i as u8),
        })
        .collect()
}

/// Decodes Windows-1252 bytes.
pub fn decode_cp1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            0x80..=0x9F => CP1252_HIGH[(b - 0x80) as usize],
            _ => *b as char,
        })
        .collect()
}

/// Decodes single-byte character data sent with `collation`.
pub fn decode_with(collation: &[u8; 5], bytes: &[u8]) -> String {
    if is_utf8(collation) {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        decode_cp1252(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_latin1_pass_through() {
        assert_eq!(encode_cp1252("John Doe"), b"John Doe");
        assert_eq!(encode_cp1252("café"), [b'c', b'a', b'f', 0xE9]);
    }

    #[test]
    fn cp1252_specials_and_unmappable_characters() {
        assert_eq!(encode_cp1252("€‚ŸŽ"), [0x80, 0x82, 0x9F, 0x8E]);
        assert_eq!(encode_cp1252("日本😀"), b"???");
    }

    #[test]
    fn decoding_inverts_encoding() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(encode_cp1252(&decode_cp1252(&all)), all);
        assert_eq!(decode_cp1252(&[0x80, 0x41]), "€A");
    }

    #[test]
    fn the_default_collation_is_cp1252_not_utf8() {
        assert!(!is_utf8(&SQL_LATIN1_GENERAL_CP1_CI_AS));
        assert_eq!(decode_with(&SQL_LATIN1_GENERAL_CP1_CI_AS, &[0xE9]), "é");
        assert_eq!(
            decode_with(&[0x09, 0x04, 0xD0, 0x04, 0x00], "é".as_bytes()),
            "é"
        );
    }
}
