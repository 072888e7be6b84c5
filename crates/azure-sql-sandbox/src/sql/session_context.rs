//! A session's context: the key-value pairs `sp_set_session_context` sets and `SESSION_CONTEXT`
//! reads, with SQL Server's limits and errors (Microsoft Learn, "sp_set_session_context"): a
//! key of at most 128 characters (15666), a value of at most 8,000 bytes (15600), 1 MB in all
//! (15665), and a key set with `@read_only = 1` never changed again on the logical connection
//! (15664), until the session ends or is reset (15667 names "reset session context" as part of
//! a session reset). Values are not transactional: a rollback keeps them.

use super::errors::{self, SqlError};
use rusqlite::types::Value as Sv;

/// The largest key, in characters (`sysname`; 15666 says 256 bytes of UTF-16).
const MAX_KEY_CHARS: usize = 128;
/// The largest value, in bytes (`sql_variant`).
const MAX_VALUE_BYTES: usize = 8000;
/// The most keys and values together, in bytes.
const MAX_TOTAL_BYTES: usize = 1024 * 1024;

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    key: String,
    value: Sv,
    read_only: bool,
}

impl Entry {
    fn size(&self) -> usize {
        self.key.len() * 2 + value_size(&self.value)
    }
}

/// The bytes a value takes as SQL Server stores it (text as UTF-16).
fn value_size(v: &Sv) -> usize {
    match v {
        Sv::Null => 0,
        Sv::Integer(_) | Sv::Real(_) => 8,
        Sv::Text(t) => t.encode_utf16().count() * 2,
        Sv::Blob(b) => b.len(),
    }
}

/// Whether two keys name the same entry, as SQL Server 2025 was observed to match them
/// (mirek/msduck's capture): trailing spaces ignored, letters without case except the last one,
/// which must match exactly (`email` finds `Email` and `email `, not `EMAIL`).
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches(' '), b.trim_end_matches(' '));
    a.chars().last() == b.chars().last() && a.to_lowercase() == b.to_lowercase()
}

/// The key-value pairs of one session, in the order they were first set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionContext {
    entries: Vec<Entry>,
}

// Values come from T-SQL literals and variables, which have no NaN.
impl Eq for SessionContext {}

impl SessionContext {
    /// `sp_set_session_context @key, @value, @read_only`: a `NULL` value removes the key (SQL
    /// Server: "Setting a value of NULL frees the memory").
    pub(crate) fn set(&mut self, key: &str, value: Sv, read_only: bool) -> Result<(), SqlError> {
        let at = self.entries.iter().position(|e| same_key(&e.key, key));
        if let Some(existing) = at.map(|i| &self.entries[i]) {
            if existing.read_only {
                return Err(errors::SESSION_CONTEXT_READ_ONLY.with(&[&existing.key]));
            }
        }
        if key.chars().count() > MAX_KEY_CHARS {
            return Err(errors::SESSION_CONTEXT_KEY_TOO_LONG.with(&[key]));
        }
        if value_size(&value) > MAX_VALUE_BYTES {
            return Err(errors::INVALID_PROCEDURE_PARAMETER.with(&["sp_set_session_context"]));
        }
        let entry = Entry {
            key: key.to_string(),
            value,
            read_only,
        };
        let others: usize = self
            .entries
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != at)
            .map(|(_, e)| e.size())
            .sum();
        if others + entry.size() > MAX_TOTAL_BYTES {
            return Err(errors::SESSION_CONTEXT_FULL.with(&[key]));
        }
        match (at, &entry.value) {
            (Some(i), Sv::Null) if !read_only => {
                self.entries.remove(i);
            }
            (Some(i), _) => self.entries[i] = entry,
            (None, Sv::Null) if !read_only => {}
            (None, _) => self.entries.push(entry),
        }
        Ok(())
    }

    /// `SESSION_CONTEXT(key)`: the value, or `NULL` when the key was never set.
    pub(crate) fn get(&self, key: &str) -> Sv {
        self.entries
            .iter()
            .find(|e| same_key(&e.key, key))
            .map_or(Sv::Null, |e| e.value.clone())
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_set_replaced_read_and_removed() {
        let mut c = SessionContext::default();
        assert_eq!(c.get("tenant"), Sv::Null);
        c.set("email", Sv::Integer(1), false).unwrap();
        c.set("Email", Sv::Integer(2), false).unwrap();
        assert_eq!(c.get("email "), Sv::Integer(2), "the same key");
        assert_eq!(c.get("EMAIL"), Sv::Null, "the last letter keeps its case");
        c.set("email", Sv::Null, false).unwrap();
        assert!(c.is_empty(), "NULL frees the key");
    }

    #[test]
    fn a_read_only_key_is_never_changed_again() {
        let mut c = SessionContext::default();
        c.set("user_id", Sv::Integer(4), true).unwrap();
        let e = c.set("User_id", Sv::Integer(5), false).unwrap_err();
        assert_eq!(e.number, 15664);
        assert_eq!(
            e.message,
            "Cannot set key 'user_id' in the session context. The key has been set as read_only for this session."
        );
        assert_eq!(c.set("user_id", Sv::Null, false).unwrap_err().number, 15664);
        assert_eq!(c.get("user_id"), Sv::Integer(4));
    }

    #[test]
    fn sql_server_s_limits_apply() {
        let mut c = SessionContext::default();
        assert_eq!(
            c.set(&"k".repeat(129), Sv::Integer(1), false)
                .unwrap_err()
                .number,
            15666
        );
        assert_eq!(
            c.set("k", Sv::Text("x".repeat(4001)), false)
                .unwrap_err()
                .number,
            15600
        );
        for i in 0..130 {
            c.set(&format!("k{i}"), Sv::Text("x".repeat(4000)), false)
                .unwrap();
        }
        assert_eq!(
            c.set("one-more", Sv::Text("x".repeat(4000)), false)
                .unwrap_err()
                .number,
            15665
        );
        c.set("k0", Sv::Text("y".repeat(4000)), false)
            .expect("replacing a value does not count it twice");
    }
}
