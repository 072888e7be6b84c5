//! Reading a JWT's claims for the doctor: the payload decoded, the signature never checked (the
//! services that take the token do that) and the token itself never kept or shown.

use base64::Engine;
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A token's claims.
pub(crate) struct Claims(Map<String, Value>);

/// Why a text is not a JWT (for the report; says nothing of the text itself).
pub(crate) fn claims(token: &str) -> Result<Claims, &'static str> {
    let mut parts = token.trim().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("it is not three dot-separated parts (header.payload.signature)");
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "its payload is not base64url")?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(Claims(map)),
        _ => Err("its payload is not a JSON object"),
    }
}

impl Claims {
    /// A string claim.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// A claim that is a string or a list of strings (`aud`).
    pub(crate) fn texts(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A time claim (`exp`, `nbf`): seconds since the epoch.
    pub(crate) fn time(&self, name: &str) -> Option<SystemTime> {
        let seconds = self.0.get(name)?.as_u64()?;
        UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
    }
}

/// `at` relative to now, for the report: `2026-12-06 04:10:00 UTC (in 59m 12s)` or `(... ago)`.
pub(crate) fn when(at: SystemTime) -> String {
    let date = time::OffsetDateTime::from(at);
    let date = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        date.year(),
        u8::from(date.month()),
        date.day(),
        date.hour(),
        date.minute(),
        date.second()
    );
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => format!("{date} (in {})", super::report::human(ahead)),
        Err(e) => format!("{date} ({} ago)", super::report::human(e.duration())),
    }
}
