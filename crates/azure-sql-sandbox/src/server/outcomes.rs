//! Encoding the engine's outcomes as response tokens: result sets (COLMETADATA, ROW), DONE
//! with DONE_MORE between statements of a batch, DONEINPROC inside procedures, INFO and ERROR.

use super::messages;
use super::wire_types::{column_data, column_meta, message_token};
use crate::sql::{Outcome, SqlError, TransactionChange};
use crate::tds::response::{done_status, ColMetaData, Done, DoneKind, EnvChange, MessageKind, Row};
use crate::tds::types::ColumnMeta;

/// The ENVCHANGE announcing a transaction's start or end.
pub(super) fn encode_transaction_change(out: &mut Vec<u8>, change: &TransactionChange) {
    match *change {
        TransactionChange::Began { descriptor } => {
            EnvChange::BeginTransaction { descriptor }.encode(out)
        }
        TransactionChange::Committed { descriptor } => {
            EnvChange::CommitTransaction { descriptor }.encode(out)
        }
        TransactionChange::RolledBack { descriptor } => {
            EnvChange::RollbackTransaction { descriptor }.encode(out)
        }
    }
}

/// DONE_INXACT when a transaction is open at the end of the statement (MS-TDS 2.2.7.6: "A
/// transaction is in progress").
pub(super) fn inxact(in_transaction: bool) -> u16 {
    if in_transaction {
        done_status::INXACT
    } else {
        0
    }
}

/// An ERROR token and the DONE (or, for an RPC, DONEPROC) that closes the failed request;
/// `in_transaction`: the session has a transaction open.
pub(super) fn error_response(
    out: &mut Vec<u8>,
    server: &str,
    error: &SqlError,
    kind: DoneKind,
    in_transaction: bool,
) {
    let mut token = message_token(error, server);
    token.kind = MessageKind::Error;
    token.encode(out);
    Done::new(kind, done_status::ERROR | inxact(in_transaction)).encode(out);
}

/// The tokens of a request's outcomes. A batch ends each statement with DONE (DONE_MORE on all
/// but the last, a final DONE added when needed); a procedure ends each with DONEINPROC and
/// leaves the end to [`end_proc`](super::procedures::end_proc). Each DONE carries DONE_INXACT
/// while a transaction is open: `in_transaction` says whether one was before the request, the
/// outcomes' transaction changes say when that changed. Returns whether a statement failed.
pub(super) fn encode_outcomes(
    out: &mut Vec<u8>,
    outcomes: &[Outcome],
    kind: DoneKind,
    server: &str,
    no_metadata: bool,
    in_transaction: bool,
) -> bool {
    let mut open = in_transaction;
    let statement_done = match kind {
        DoneKind::Proc => DoneKind::InProc,
        other => other,
    };
    let mut dones = Vec::new();
    let mut last_is_done = false;
    let mut failed = false;
    for outcome in outcomes {
        match outcome {
            Outcome::Rows(rs) => {
                let start = out.len();
                let columns: Vec<ColumnMeta> = rs.columns.iter().map(column_meta).collect();
                if no_metadata {
                    ColMetaData::encode_none(out);
                } else {
                    ColMetaData(&columns).encode(out);
                }
                let mut bad = None;
                let mut cells = Vec::with_capacity(columns.len());
                for values in &rs.rows {
                    cells.clear();
                    cells.extend(values.iter().map(column_data));
                    if let Err(e) = (Row {
                        columns: &columns,
                        values: &cells,
                    })
                    .encode(out)
                    {
                        bad = Some(e);
                        break;
                    }
                }
                if let Some(e) = bad {
                    out.truncate(start);
                    tracing::warn!(error = %e, "a result value does not fit its column type");
                    message_token(&messages::conversion_failed(&e.to_string()), server).encode(out);
                    dones.push(out.len());
                    Done::new(statement_done, done_status::ERROR | inxact(open)).encode(out);
                    failed = true;
                    last_is_done = true;
                    break;
                }
                dones.push(out.len());
                Done {
                    kind: statement_done,
                    status: (if rs.counted { done_status::COUNT } else { 0 }) | inxact(open),
                    cur_cmd: 0xC1,
                    row_count: if rs.counted { rs.rows.len() as u64 } else { 0 },
                }
                .encode(out);
                last_is_done = true;
            }
            Outcome::Done { rows_affected } => {
                dones.push(out.len());
                Done {
                    kind: statement_done,
                    status: (if rows_affected.is_some() {
                        done_status::COUNT
                    } else {
                        0
                    }) | inxact(open),
                    cur_cmd: 0,
                    row_count: rows_affected.unwrap_or(0),
                }
                .encode(out);
                last_is_done = true;
            }
            Outcome::Transaction(change) => {
                encode_transaction_change(out, change);
                open = matches!(change, TransactionChange::Began { .. });
                last_is_done = false;
            }
            Outcome::Info(message) => {
                let mut token = message_token(message, server);
                token.kind = MessageKind::Info;
                token.encode(out);
                last_is_done = false;
            }
            Outcome::Error(error) => {
                let mut token = message_token(error, server);
                token.kind = MessageKind::Error;
                token.encode(out);
                dones.push(out.len());
                Done::new(statement_done, done_status::ERROR | inxact(open)).encode(out);
                failed = true;
                last_is_done = true;
            }
        }
    }
    match kind {
        DoneKind::Proc => {
            // Every DONEINPROC is followed by more; the procedure ends with its own DONEPROC.
            for at in &dones {
                out[at + 1] |= done_status::MORE as u8;
            }
        }
        _ => {
            if !last_is_done {
                dones.push(out.len());
                Done::new(DoneKind::Done, done_status::FINAL | inxact(open)).encode(out);
            }
            let last = dones.len() - 1;
            for at in &dones[..last] {
                out[at + 1] |= done_status::MORE as u8;
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::procedures::end_proc;
    use crate::sql::{Column, ResultSet, SqlType, Value};

    fn tokens(outcomes: &[Outcome], kind: DoneKind) -> Vec<u8> {
        let mut out = Vec::new();
        let failed = encode_outcomes(&mut out, outcomes, kind, "s", false, false);
        if kind == DoneKind::Proc {
            end_proc(&mut out, failed, None, "s", false);
        }
        out
    }

    fn rows() -> Outcome {
        Outcome::Rows(ResultSet {
            columns: vec![Column {
                name: "x".into(),
                ty: SqlType::Int,
                nullable: false,
            }],
            rows: vec![vec![Value::Int(1)], vec![Value::Int(2)]],
            counted: true,
        })
    }

    #[test]
    fn a_batch_marks_all_but_the_last_done_with_more() {
        let out = tokens(
            &[
                rows(),
                Outcome::Done {
                    rows_affected: Some(3),
                },
            ],
            DoneKind::Done,
        );
        // COLMETADATA (3 + 4 + 2 + 2 + 3) = 14, two ROWs of 6, then two DONEs.
        let first_done = 14 + 12;
        assert_eq!(out[first_done], 0xFD);
        assert_eq!(
            out[first_done + 1],
            (done_status::COUNT | done_status::MORE) as u8
        );
        assert_eq!(out[first_done + 5], 2);
        let second = first_done + 13;
        assert_eq!(out[second..second + 2], [0xFD, done_status::COUNT as u8]);
        assert_eq!(out[second + 5], 3);
        assert_eq!(out.len(), second + 13);
    }

    #[test]
    fn a_batch_ending_in_info_gets_a_final_done() {
        let info = SqlError {
            number: 5701,
            state: 2,
            severity: 0,
            message: "m".into(),
            line: 1,
        };
        let out = tokens(&[Outcome::Info(info)], DoneKind::Done);
        assert_eq!(out[0], 0xAB);
        assert_eq!(out[out.len() - 13..out.len() - 11], [0xFD, 0x00]);
        assert_eq!(
            tokens(&[], DoneKind::Done),
            [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn an_error_ends_with_done_error() {
        let error = SqlError {
            number: 208,
            state: 1,
            severity: 16,
            message: "Invalid object name 'x'.".into(),
            line: 1,
        };
        let out = tokens(&[Outcome::Error(error)], DoneKind::Done);
        assert_eq!(out[0], 0xAA);
        assert_eq!(
            out[out.len() - 13..out.len() - 11],
            [0xFD, done_status::ERROR as u8]
        );
    }

    #[test]
    fn an_rpc_uses_doneinproc_returnstatus_and_doneproc() {
        let out = tokens(&[rows()], DoneKind::Proc);
        let n = out.len();
        assert_eq!(out[n - 13..n - 11], [0xFE, 0x00], "final DONEPROC");
        assert_eq!(out[n - 18..n - 13], [0x79, 0, 0, 0, 0], "RETURNSTATUS 0");
        assert_eq!(
            out[n - 31..n - 29],
            [0xFF, (done_status::COUNT | done_status::MORE) as u8]
        );
    }

    #[test]
    fn dones_say_inxact_while_a_transaction_is_open() {
        let began = Outcome::Transaction(TransactionChange::Began { descriptor: [1; 8] });
        let committed = Outcome::Transaction(TransactionChange::Committed { descriptor: [1; 8] });
        let done = Outcome::Done {
            rows_affected: None,
        };
        // BEGIN TRAN; SELECT; COMMIT; SELECT: in a transaction after the first two only.
        let outcomes = [began, done.clone(), rows(), committed, done.clone(), rows()];
        let mut out = Vec::new();
        encode_outcomes(&mut out, &outcomes, DoneKind::Done, "s", false, false);
        let statuses: Vec<u16> = done_statuses(&out);
        assert_eq!(statuses.len(), 4, "{out:?}");
        assert_eq!(statuses[0] & done_status::INXACT, done_status::INXACT);
        assert_eq!(statuses[1] & done_status::INXACT, done_status::INXACT);
        assert_eq!(statuses[2] & done_status::INXACT, 0);
        assert_eq!(statuses[3] & done_status::INXACT, 0);
        // A request on a session that already has one open.
        let mut out = Vec::new();
        encode_outcomes(&mut out, &[rows()], DoneKind::Done, "s", false, true);
        assert_eq!(
            done_statuses(&out),
            [done_status::COUNT | done_status::INXACT]
        );
        let mut out = Vec::new();
        error_response(
            &mut out,
            "s",
            &messages::internal_error(),
            DoneKind::Done,
            true,
        );
        assert_eq!(
            done_statuses(&out),
            [done_status::ERROR | done_status::INXACT]
        );
    }

    /// The status of each DONE token in `out`, walking the tokens these tests produce (the
    /// one-INT-column COLMETADATA of [`rows`] is 14 bytes and each of its ROWs 6).
    fn done_statuses(out: &[u8]) -> Vec<u16> {
        let mut statuses = Vec::new();
        let mut at = 0;
        while at < out.len() {
            match out[at] {
                0xFD..=0xFF => {
                    statuses.push(u16::from_le_bytes([out[at + 1], out[at + 2]]));
                    at += 13;
                }
                0xE3 => at += 3 + u16::from_le_bytes([out[at + 1], out[at + 2]]) as usize,
                0x81 => at += 14,
                0xD1 => at += 6,
                0xAA | 0xAB => at += 3 + u16::from_le_bytes([out[at + 1], out[at + 2]]) as usize,
                other => panic!("unexpected token 0x{other:02X} at {at}"),
            }
        }
        statuses
    }

    #[test]
    fn a_value_that_does_not_fit_becomes_an_error() {
        let bad = Outcome::Rows(ResultSet {
            columns: vec![Column {
                name: "x".into(),
                ty: SqlType::TinyInt,
                nullable: false,
            }],
            rows: vec![vec![Value::Int(1000)]],
            counted: true,
        });
        let out = tokens(&[bad], DoneKind::Done);
        assert_eq!(out[0], 0xAA, "an ERROR token, not a broken ROW");
        assert_eq!(
            out[out.len() - 13..out.len() - 11],
            [0xFD, done_status::ERROR as u8]
        );
    }
}
