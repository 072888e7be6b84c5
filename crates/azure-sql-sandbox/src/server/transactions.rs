//! Transaction manager requests (begin, commit, roll back, save) kept in the session: the
//! engine ends every transaction with its batch, so a transaction that spans requests lives
//! here, honestly (see [`Transaction`]).

use super::requests::SessionState;
use super::response::error_response;
use crate::sql::{Outcome, SqlError};
use crate::tds::messages;
use crate::tds::token::{done_status, Done, DoneKind, EnvChange};
use crate::tds::transaction::TmRequest;

/// A transaction begun with a transaction manager request.
///
/// The engine ends every transaction with its batch (one SQLite connection serves all sessions
/// of a database), so a transaction manager transaction is kept here: each request inside it is
/// committed as it runs. COMMIT is therefore exact; ROLLBACK is exact when nothing changed in
/// between (ODBC's autocommit switches, read-only work) and otherwise fails loudly rather than
/// pretend the changes were undone.
#[derive(Clone, Debug)]
pub(super) struct Transaction {
    descriptor: [u8; 8],
    depth: u32,
    changed: bool,
}

pub(super) fn tm_error(number: u32, state: u8, message: &str) -> SqlError {
    SqlError {
        number,
        state,
        severity: 16,
        message: message.to_string(),
        line: 1,
    }
}

/// Whether outcomes may have changed data (row counts above zero, or statements without a
/// count: DDL, principals).
pub(super) fn may_have_changed(outcomes: &[Outcome]) -> bool {
    outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Done { rows_affected } if *rows_affected != Some(0)))
}

/// Marks the open transaction manager transaction as having changed data, if it may have.
pub(super) fn note_changes(state: &mut SessionState, outcomes: &[Outcome]) {
    if let Some(tx) = state.transaction.as_mut() {
        tx.changed |= may_have_changed(outcomes);
    }
}

/// Answers a transaction manager request: the transaction ENVCHANGE SQL Server sends (begin,
/// commit, rollback, with the 8-byte descriptor) and a DONE, or the error SQL Server gives.
pub(super) fn run_transaction(
    state: &mut SessionState,
    request: TmRequest,
    out: &mut Vec<u8>,
    server: &str,
) {
    tracing::debug!(request = request.name(), "transaction manager request");
    let result = match request {
        TmRequest::Begin { .. } => {
            begin_transaction(state, out);
            Ok(())
        }
        TmRequest::Commit { begin_new, .. } => match state.transaction.as_mut() {
            None if begin_new.is_none() => Err(tm_error(
                3902,
                1,
                "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.",
            )),
            Some(tx) if tx.depth > 1 => {
                tx.depth -= 1;
                Ok(())
            }
            _ => {
                if let Some(tx) = state.transaction.take() {
                    EnvChange::CommitTransaction {
                        descriptor: tx.descriptor,
                    }
                    .encode(out);
                }
                if begin_new.is_some() {
                    begin_transaction(state, out);
                }
                Ok(())
            }
        },
        TmRequest::Rollback { begin_new, .. } => match state.transaction.take() {
            None if begin_new.is_none() => Err(tm_error(
                3903,
                1,
                "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.",
            )),
            tx => {
                let changed = tx.as_ref().is_some_and(|t| t.changed);
                if let Some(tx) = tx {
                    EnvChange::RollbackTransaction {
                        descriptor: tx.descriptor,
                    }
                    .encode(out);
                }
                if begin_new.is_some() {
                    begin_transaction(state, out);
                }
                if changed {
                    Err(messages::unsupported_request(
                        "ROLLBACK of changes made by earlier requests (the sandbox commits each request of a transaction manager transaction as it runs)",
                    ))
                } else {
                    Ok(())
                }
            }
        },
        TmRequest::Save { .. } if state.transaction.is_none() => Err(tm_error(
            628,
            0,
            "Cannot issue SAVE TRANSACTION when there is no active transaction.",
        )),
        TmRequest::Save { .. } => Ok(()),
        TmRequest::Distributed(_) => Err(messages::unsupported_request("distributed transactions")),
    };
    match result {
        Ok(()) => Done::new(DoneKind::Done, done_status::FINAL).encode(out),
        Err(e) => error_response(out, server, &e, DoneKind::Done),
    }
}

/// Begins a transaction (or nests one level deeper) and announces a new one's descriptor.
pub(super) fn begin_transaction(state: &mut SessionState, out: &mut Vec<u8>) {
    if let Some(tx) = state.transaction.as_mut() {
        tx.depth += 1;
        return;
    }
    state.transactions_begun += 1;
    let descriptor = state.transactions_begun.to_le_bytes();
    state.transaction = Some(Transaction {
        descriptor,
        depth: 1,
        changed: false,
    });
    EnvChange::BeginTransaction { descriptor }.encode(out);
}
