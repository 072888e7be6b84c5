//! Splitting a connection string into `key=value` pairs as SqlClient does: `;` separates pairs,
//! a value may be quoted with `'` or `"` (the quote doubled inside), unquoted values are trimmed.

use super::error::ConfigError;
use super::keywords::{is_password_key, known_prefix};
use super::spelling::shorten;
use std::borrow::Cow;

/// One `key=value` pair as written.
#[derive(Debug)]
pub(super) struct Pair<'a> {
    pub(super) key: &'a str,
    pub(super) value: Cow<'a, str>,
    pub(super) quoted: bool,
}

/// Splits a connection string into pairs (SqlClient's quoting rules; see the module docs).
pub(super) fn split_pairs(s: &str) -> Result<Vec<Pair<'_>>, ConfigError> {
    let bytes = s.as_bytes();
    let mut pairs: Vec<Pair<'_>> = Vec::new();
    let mut pos = 0;
    loop {
        // Skip separators and blank pairs.
        while pos < bytes.len() && (bytes[pos] == b';' || bytes[pos].is_ascii_whitespace()) {
            pos += 1;
        }
        if pos >= bytes.len() {
            break;
        }
        let pair_no = pairs.len() + 1;
        let key_start = pos;
        while pos < bytes.len() && bytes[pos] != b'=' && bytes[pos] != b';' {
            pos += 1;
        }
        if pos >= bytes.len() || bytes[pos] == b';' {
            let after_password = pairs
                .last()
                .is_some_and(|p| is_password_key(p.key) && !p.quoted);
            if after_password {
                return Err(ConfigError::PasswordNeedsQuoting);
            }
            let text = &s[key_start..pos];
            return Err(ConfigError::MissingEquals {
                pair: pair_no,
                starts_with: known_prefix(text),
            });
        }
        let key = s[key_start..pos].trim();
        if key.is_empty() {
            return Err(ConfigError::EmptyKeyword { pair: pair_no });
        }
        pos += 1; // '='
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos < bytes.len() && (bytes[pos] == b'"' || bytes[pos] == b'\'') {
            let quote = bytes[pos];
            pos += 1;
            let mut value = String::new();
            let mut segment_start = pos;
            loop {
                if pos >= bytes.len() {
                    return Err(ConfigError::UnterminatedQuote {
                        keyword: shorten(key),
                    });
                }
                if bytes[pos] == quote {
                    value.push_str(&s[segment_start..pos]);
                    if pos + 1 < bytes.len() && bytes[pos + 1] == quote {
                        value.push(quote as char);
                        pos += 2;
                        segment_start = pos;
                        continue;
                    }
                    pos += 1;
                    break;
                }
                pos += 1;
            }
            while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if pos < bytes.len() && bytes[pos] != b';' {
                return Err(ConfigError::TextAfterQuotedValue {
                    keyword: shorten(key),
                });
            }
            pairs.push(Pair {
                key,
                value: Cow::Owned(value),
                quoted: true,
            });
        } else {
            let value_start = pos;
            while pos < bytes.len() && bytes[pos] != b';' {
                pos += 1;
            }
            pairs.push(Pair {
                key,
                value: Cow::Borrowed(s[value_start..pos].trim()),
                quoted: false,
            });
        }
    }
    Ok(pairs)
}
