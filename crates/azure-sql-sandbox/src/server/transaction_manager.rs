//! Transaction manager requests (begin, commit, roll back, save): each runs on the session's
//! transaction in the engine exactly as its T-SQL twin would, so a transaction begun with one
//! kind of request can be ended with the other. The answer is what SQL Server sends: the
//! transaction ENVCHANGE (begin, commit, rollback, with the 8-byte descriptor) and a DONE, or the
//! error.

use super::messages;
use super::outcomes::{encode_transaction_change, error_response, inxact};
use crate::sql::{Engine, Outcome, Session, TransactionRequest};
use crate::tds::response::{done_status, Done, DoneKind};
use crate::tds::tm_request::TmRequest;

/// Answers a transaction manager request. A commit or rollback that asks to begin a new
/// transaction afterwards (ODBC's `SQLEndTran` with autocommit off) does both, announcing each.
pub(super) fn run_transaction(
    engine: &Engine,
    session: &mut Session,
    request: TmRequest,
    out: &mut Vec<u8>,
    server: &str,
) {
    tracing::debug!(request = request.name(), "transaction manager request");
    let mut isolation = 0;
    let (first, then_begin) = match request {
        TmRequest::Begin {
            name,
            isolation: level,
        } => {
            isolation = level;
            (TransactionRequest::Begin { name }, None)
        }
        TmRequest::Commit { begin_new, .. } => (TransactionRequest::Commit, begin_new),
        TmRequest::Rollback { name, begin_new } => {
            (TransactionRequest::Rollback { name }, begin_new)
        }
        TmRequest::Save { name } => (TransactionRequest::Save { name }, None),
        TmRequest::Distributed(_) => {
            let e = messages::unsupported_request("distributed transactions");
            error_response(
                out,
                server,
                &e,
                DoneKind::Done,
                session.transaction_count() > 0,
            );
            return;
        }
    };
    let mut outcomes = engine.transaction(session, first);
    let failed = outcomes.iter().any(|o| matches!(o, Outcome::Error(_)));
    if let (false, Some((level, name))) = (failed, then_begin) {
        isolation = level;
        outcomes.extend(engine.transaction(session, TransactionRequest::Begin { name }));
    }
    // A begin that names an isolation level (MS-TDS 2.2.6.8: 0 keeps the session's, 1 to 5 read
    // uncommitted to snapshot) sets the session's level, which outlives the transaction:
    // SqlClient's `BeginTransaction(IsolationLevel.Serializable)` leaves the session
    // serializable after the commit (dotnet/SqlClient#96, dotnet/corefx#18277).
    let began = !outcomes.iter().any(|o| matches!(o, Outcome::Error(_)));
    if began && (1..=5).contains(&isolation) {
        session.options.isolation = isolation;
    }
    for outcome in &outcomes {
        match outcome {
            Outcome::Transaction(change) => encode_transaction_change(out, change),
            Outcome::Error(e) => {
                error_response(
                    out,
                    server,
                    e,
                    DoneKind::Done,
                    session.transaction_count() > 0,
                );
                return;
            }
            Outcome::Rows(_) | Outcome::Done { .. } | Outcome::Info(_) => {}
        }
    }
    // DONE_INXACT when the request leaves a transaction open (a begin, or a commit that began
    // the next one).
    Done::new(
        DoneKind::Done,
        done_status::FINAL | inxact(session.transaction_count() > 0),
    )
    .encode(out);
}
