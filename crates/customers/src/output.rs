//! What the demo prints on stdout: `Customer ID-->N` per row as the Python samples do, or one
//! JSON object per query. Logs never go here (they go to stderr), so stdout can be piped.

use crate::cli::Format;
use serde::Serialize;
use std::io::{self, Write};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One query's result as `--format json` prints it.
#[derive(Serialize)]
struct Report<'a> {
    /// When the query finished (RFC 3339, UTC).
    at: String,
    customer_ids: &'a [i32],
}

/// Writes one query's customer IDs to `out` in `format`, then flushes.
pub fn write_ids(
    out: &mut impl Write,
    format: Format,
    ids: &[i32],
    at: OffsetDateTime,
) -> io::Result<()> {
    match format {
        Format::Text => {
            for id in ids {
                writeln!(out, "Customer ID-->{id}")?;
            }
        }
        Format::Json => {
            let report = Report {
                at: at.format(&Rfc3339).map_err(io::Error::other)?,
                customer_ids: ids,
            };
            serde_json::to_writer(&mut *out, &report)?;
            writeln!(out)?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("a valid timestamp")
    }

    #[test]
    fn text_prints_one_line_per_row_as_the_samples_do() {
        let mut out = Vec::new();
        write_ids(&mut out, Format::Text, &[1, 2, 5], at()).expect("writes");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "Customer ID-->1\nCustomer ID-->2\nCustomer ID-->5\n"
        );
    }

    #[test]
    fn text_prints_nothing_for_an_empty_table() {
        let mut out = Vec::new();
        write_ids(&mut out, Format::Text, &[], at()).expect("writes");
        assert!(out.is_empty());
    }

    #[test]
    fn json_prints_one_object_per_query_on_one_line() {
        let mut out = Vec::new();
        write_ids(&mut out, Format::Json, &[1, 2], at()).expect("writes");
        write_ids(&mut out, Format::Json, &[], at()).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let first: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
        assert_eq!(first["customer_ids"], serde_json::json!([1, 2]));
        assert_eq!(first["at"], "2023-11-14T22:13:20Z");
        let second: serde_json::Value = serde_json::from_str(lines[1]).expect("json");
        assert_eq!(second["customer_ids"], serde_json::json!([]));
    }

    #[test]
    fn a_closed_pipe_is_reported_not_a_panic() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let e = write_ids(&mut Closed, Format::Text, &[1], at()).expect_err("closed");
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
