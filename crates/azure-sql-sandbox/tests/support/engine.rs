//! Helpers for tests that drive the SQL engine through its API (no TDS): run a batch that must
//! succeed or must fail, and pick the result set, the value or the error out of its outcomes.

use azure_sql_sandbox::sql::{Engine, Outcome, ResultSet, Session, SqlError, Value};

/// The errors among a batch's outcomes.
pub fn errors(out: &[Outcome]) -> Vec<&SqlError> {
    out.iter()
        .filter_map(|o| match o {
            Outcome::Error(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// The first result set among a batch's outcomes.
pub fn rows(out: &[Outcome]) -> &ResultSet {
    out.iter()
        .find_map(|o| match o {
            Outcome::Rows(rs) => Some(rs),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no result set in {out:?}"))
}

/// Runs a batch that must succeed; its outcomes.
pub fn ok(engine: &Engine, s: &mut Session, sql: &str) -> Vec<Outcome> {
    let out = engine.execute(s, sql);
    assert!(errors(&out).is_empty(), "{sql}: {out:?}");
    out
}

/// Runs a query that must succeed; its first result set.
pub fn query(engine: &Engine, s: &mut Session, sql: &str) -> ResultSet {
    rows(&ok(engine, s, sql)).clone()
}

/// The first value of a query's first row.
pub fn scalar(engine: &Engine, s: &mut Session, sql: &str) -> Value {
    query(engine, s, sql).rows[0][0].clone()
}

/// The error a batch stopped at: the last error, followed by nothing but the transaction's
/// end that an error may cause (XACT_ABORT's rollback, for instance).
pub fn error(out: &[Outcome]) -> SqlError {
    let Some(at) = out.iter().rposition(|o| matches!(o, Outcome::Error(_))) else {
        panic!("expected an error in {out:?}");
    };
    assert!(
        out[at + 1..]
            .iter()
            .all(|o| matches!(o, Outcome::Transaction(_))),
        "the batch went on after its error: {out:?}"
    );
    match &out[at] {
        Outcome::Error(e) => e.clone(),
        _ => unreachable!("rposition found an error"),
    }
}

/// Runs a batch that must fail; the error it stopped at.
pub fn fails(engine: &Engine, s: &mut Session, sql: &str) -> SqlError {
    error(&engine.execute(s, sql))
}
