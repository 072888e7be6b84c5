//! The system procedures drivers call over RPC, run on the engine: `sp_executesql`, and
//! ODBC/JDBC's prepared statements `sp_prepexec`, `sp_prepare`, `sp_execute`, `sp_unprepare`
//! with their `@handle` RETURNVALUE, and the prepared statements a session keeps for them.

use super::messages;
use super::outcomes::{encode_outcomes, error_response, inxact};
use super::system_call::{bind, SystemCall};
use super::wire_types::{column_meta, message_token};
use crate::sql::{Engine, Outcome, Session, SqlError, Value};
use crate::tds::response::{done_status, ColMetaData, Done, DoneKind, ReturnStatus, ReturnValue};
use crate::tds::types::{ColumnData, ColumnMeta, TypeInfo};
use std::collections::HashMap;

/// A statement `sp_prepare`/`sp_prepexec` prepared on this session.
#[derive(Clone, Debug)]
struct Prepared {
    statement: String,
    declared: Vec<String>,
}

/// The statements a session has prepared, by handle.
#[derive(Clone, Debug)]
pub(super) struct PreparedStatements {
    prepared: HashMap<i32, Prepared>,
    next_handle: i32,
}

impl PreparedStatements {
    /// None yet.
    pub(super) fn new() -> Self {
        Self {
            prepared: HashMap::new(),
            next_handle: 1,
        }
    }

    /// Prepares `statement` under a new handle.
    fn prepare(&mut self, statement: String, declared: Vec<String>) -> i32 {
        let handle = self.next_handle;
        self.next_handle = self.next_handle.checked_add(1).unwrap_or(1);
        self.prepared.insert(
            handle,
            Prepared {
                statement,
                declared,
            },
        );
        handle
    }

    /// The statement prepared under `handle`.
    fn get(&self, handle: i32) -> Option<Prepared> {
        self.prepared.get(&handle).cloned()
    }

    /// Forgets the statement prepared under `handle`; whether there was one.
    fn remove(&mut self, handle: i32) -> bool {
        self.prepared.remove(&handle).is_some()
    }

    /// Forgets every prepared statement (a session reset).
    pub(super) fn clear(&mut self) {
        self.prepared.clear();
    }
}

pub(super) fn unknown_handle(handle: i32) -> SqlError {
    SqlError {
        number: 8179,
        state: 2,
        severity: 16,
        message: format!("Could not find prepared statement with handle {handle}."),
        line: 1,
    }
}

/// Runs one system-procedure call and appends its response, DONEPROC included.
pub(super) fn run_call(
    engine: &Engine,
    session: &mut Session,
    prepared: &mut PreparedStatements,
    call: SystemCall,
    no_metadata: bool,
    out: &mut Vec<u8>,
    server: &str,
) {
    let open = |session: &Session| session.transaction_count() > 0;
    match call {
        SystemCall::ExecuteSql { statement, params } => {
            let before = open(session);
            let outcomes = engine.execute_rpc(session, &statement, &params);
            let failed =
                encode_outcomes(out, &outcomes, DoneKind::Proc, server, no_metadata, before);
            end_proc(out, failed, None, server, open(session));
        }
        SystemCall::PrepExec {
            unprepare,
            handle_name,
            statement,
            declared,
            params,
        } => {
            if let Some(old) = unprepare {
                prepared.remove(old);
            }
            let before = open(session);
            let outcomes = engine.execute_rpc(session, &statement, &params);
            let failed =
                encode_outcomes(out, &outcomes, DoneKind::Proc, server, no_metadata, before);
            let handle = (!failed).then(|| prepared.prepare(statement, declared));
            let after = open(session);
            end_proc(
                out,
                failed,
                handle.map(|h| (handle_name.as_str(), h)),
                server,
                after,
            );
        }
        SystemCall::Prepare {
            unprepare,
            handle_name,
            statement,
            declared,
        } => {
            if let Some(old) = unprepare {
                prepared.remove(old);
            }
            // Like SQL Server, describe the result set of a query being prepared (ODBC reads
            // its columns from here and may then execute with fNoMetaData).
            if returns_rows(&statement) {
                let nulls: Vec<(String, Value)> =
                    declared.iter().map(|n| (n.clone(), Value::Null)).collect();
                let outcomes = engine.execute_rpc(session, &statement, &nulls);
                let error = outcomes.iter().find_map(|o| match o {
                    Outcome::Error(e) => Some(e.clone()),
                    _ => None,
                });
                if let Some(e) = error {
                    fail_proc(out, server, &e, session);
                    return;
                }
                if let Some(Outcome::Rows(rs)) =
                    outcomes.iter().find(|o| matches!(o, Outcome::Rows(_)))
                {
                    let columns: Vec<ColumnMeta> = rs.columns.iter().map(column_meta).collect();
                    ColMetaData(&columns).encode(out);
                }
            }
            let handle = prepared.prepare(statement, declared);
            let after = open(session);
            end_proc(
                out,
                false,
                Some((handle_name.as_str(), handle)),
                server,
                after,
            );
        }
        SystemCall::Execute { handle, values } => {
            let Some(statement) = prepared.get(handle) else {
                fail_proc(out, server, &unknown_handle(handle), session);
                return;
            };
            match bind(&statement.declared, &values) {
                Ok(params) => {
                    let before = open(session);
                    let outcomes = engine.execute_rpc(session, &statement.statement, &params);
                    let failed = encode_outcomes(
                        out,
                        &outcomes,
                        DoneKind::Proc,
                        server,
                        no_metadata,
                        before,
                    );
                    end_proc(out, failed, None, server, open(session));
                }
                Err(e) => fail_proc(out, server, &e, session),
            }
        }
        SystemCall::Unprepare { handle } => {
            if prepared.remove(handle) {
                end_proc(out, false, None, server, open(session));
            } else {
                fail_proc(out, server, &unknown_handle(handle), session);
            }
        }
    }
}

/// An RPC's error and its DONEPROC (DONE_INXACT when the session has a transaction open).
pub(super) fn fail_proc(out: &mut Vec<u8>, server: &str, error: &SqlError, session: &Session) {
    let open = session.transaction_count() > 0;
    error_response(out, server, error, DoneKind::Proc, open);
}

/// Whether a statement is a query (its first keyword SELECT or WITH), so preparing it can
/// describe its result set without side effects.
pub(super) fn returns_rows(statement: &str) -> bool {
    let first = statement
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    first.eq_ignore_ascii_case("SELECT") || first.eq_ignore_ascii_case("WITH")
}

/// Ends a procedure: RETURNSTATUS (unless it failed), the `@handle` RETURNVALUE when one was
/// prepared, and the final DONEPROC (with DONE_INXACT when `in_transaction`).
pub(super) fn end_proc(
    out: &mut Vec<u8>,
    failed: bool,
    handle: Option<(&str, i32)>,
    server: &str,
    in_transaction: bool,
) {
    if !failed {
        ReturnStatus(0).encode(out);
    }
    if let Some((name, handle)) = handle {
        let value = ColumnData::Int(i64::from(handle));
        let token = ReturnValue {
            ordinal: 0,
            name,
            ty: &TypeInfo::Int,
            value: &value,
        };
        if let Err(e) = token.encode(out) {
            // An INT always fits; report rather than send a broken token if that ever changes.
            message_token(&messages::conversion_failed(&e.to_string()), server).encode(out);
        }
    }
    let status = if failed {
        done_status::ERROR
    } else {
        done_status::FINAL
    };
    Done::new(DoneKind::Proc, status | inxact(in_transaction)).encode(out);
}
