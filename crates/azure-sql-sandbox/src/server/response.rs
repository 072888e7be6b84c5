//! Encoding the engine's outcomes as response tokens: result sets (COLMETADATA, ROW), DONE
//! with DONE_MORE between statements of a batch, DONEINPROC inside procedures, INFO and ERROR.

use crate::sql::{Outcome, SqlError, TransactionChange};
use crate::tds::messages;
use crate::tds::token::{
    done_status, ColMetaData, Done, DoneKind, EnvChange, Message as MessageToken, MessageKind, Row,
};

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

/// An ERROR token and the DONE (or, for an RPC, DONEPROC) that closes the failed request.
pub(super) fn error_response(out: &mut Vec<u8>, server: &str, error: &SqlError, kind: DoneKind) {
    let mut token = MessageToken::from_sql(error, server);
    token.kind = MessageKind::Error;
    token.encode(out);
    Done::new(kind, done_status::ERROR).encode(out);
}

/// The tokens of a request's outcomes. A batch ends each statement with DONE (DONE_MORE on all
/// but the last, a final DONE added when needed); a procedure ends each with DONEINPROC and
/// leaves the end to [`end_proc`]. Returns whether a statement failed.
pub(super) fn encode_outcomes(
    out: &mut Vec<u8>,
    outcomes: &[Outcome],
    kind: DoneKind,
    server: &str,
    no_metadata: bool,
) -> bool {
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
                if no_metadata {
                    ColMetaData::encode_none(out);
                } else {
                    ColMetaData(&rs.columns).encode(out);
                }
                let mut bad = None;
                for values in &rs.rows {
                    if let Err(e) = (Row {
                        columns: &rs.columns,
                        values,
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
                    MessageToken::from_sql(&messages::conversion_failed(&e.to_string()), server)
                        .encode(out);
                    dones.push(out.len());
                    Done::new(statement_done, done_status::ERROR).encode(out);
                    failed = true;
                    last_is_done = true;
                    break;
                }
                dones.push(out.len());
                Done {
                    kind: statement_done,
                    status: if rs.counted { done_status::COUNT } else { 0 },
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
                    status: if rows_affected.is_some() {
                        done_status::COUNT
                    } else {
                        0
                    },
                    cur_cmd: 0,
                    row_count: rows_affected.unwrap_or(0),
                }
                .encode(out);
                last_is_done = true;
            }
            Outcome::Transaction(change) => {
                encode_transaction_change(out, change);
                last_is_done = false;
            }
            Outcome::Info(message) => {
                let mut token = MessageToken::from_sql(message, server);
                token.kind = MessageKind::Info;
                token.encode(out);
                last_is_done = false;
            }
            Outcome::Error(error) => {
                let mut token = MessageToken::from_sql(error, server);
                token.kind = MessageKind::Error;
                token.encode(out);
                dones.push(out.len());
                Done::new(statement_done, done_status::ERROR).encode(out);
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
                Done::new(DoneKind::Done, done_status::FINAL).encode(out);
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
    use crate::server::requests::end_proc;
    use crate::sql::{Column, ResultSet, SqlType, Value};

    fn tokens(outcomes: &[Outcome], kind: DoneKind) -> Vec<u8> {
        let mut out = Vec::new();
        let failed = encode_outcomes(&mut out, outcomes, kind, "s", false);
        if kind == DoneKind::Proc {
            end_proc(&mut out, failed, None, "s");
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
