//! Running requests on the engine: SQL batches and the system procedures drivers call
//! (`sp_executesql`, and ODBC/JDBC's prepared statements `sp_prepexec`, `sp_prepare`,
//! `sp_execute`, `sp_unprepare` with their `@handle` RETURNVALUE), and what a session carries
//! between requests.

use super::blocking;
use super::outcomes::{encode_outcomes, encode_transaction_change, error_response, inxact};
use super::session::Work;
use super::transaction_manager::run_transaction;
use super::Shared;
use crate::sql::{Engine, Outcome, Session, SqlError, SqlType, TransactionChange, Value};
use crate::tds::messages;
use crate::tds::packet::Reset;
use crate::tds::rpc::{self, SystemCall};
use crate::tds::response::{
    done_status, ColMetaData, Done, DoneKind, EnvChange, Message as MessageToken, ReturnStatus,
    ReturnValue,
};
use std::collections::HashMap;

/// A statement `sp_prepare`/`sp_prepexec` prepared on this session.
#[derive(Clone, Debug)]
pub(super) struct Prepared {
    statement: String,
    declared: Vec<String>,
}

/// What a logged-in session carries between requests.
#[derive(Clone, Debug)]
pub(super) struct SessionState {
    /// The engine's session.
    pub(super) session: Session,
    /// The session as it was right after login, for RESETCONNECTION.
    initial: Session,
    prepared: HashMap<i32, Prepared>,
    next_handle: i32,
}

impl SessionState {
    /// A freshly logged-in session.
    pub(super) fn new(session: Session) -> Self {
        Self {
            initial: session.clone(),
            session,
            prepared: HashMap::new(),
            next_handle: 1,
        }
    }

    /// What `sp_reset_connection` does (connection pools ask for it with RESETCONNECTION when
    /// they hand a connection out again; MS-TDS 2.2.3.1.2: "effectively simulating a logout and
    /// a subsequent login"): the engine's part ([`Engine::reset_session`]), then the session as
    /// it was right after login (its database, `SET` options, no session context) and no
    /// prepared statements (tedious-connection-pool#46: "When returning a connection to the
    /// pool, the connection is reset. This invalidates any prepared statements."). Returns the
    /// rollback to announce, if a transaction was rolled back.
    pub(super) fn reset(&mut self, engine: &Engine, reset: Reset) -> Option<TransactionChange> {
        let rolled_back = engine.reset_session(&self.session, reset == Reset::KeepTransaction);
        self.session = self.initial.clone();
        self.prepared.clear();
        rolled_back
    }
}

/// Resets a session (off the async threads: dropping temporary tables touches the engine) and
/// returns it with the tokens that open the response: ENVCHANGE 18 (RESETCONNECTIONACK), then
/// ENVCHANGE 10 when a transaction was rolled back. No database ENVCHANGE follows, though the
/// session is back in the login's database: SQL Server sends none, and SqlClient resets its own
/// idea of the current database when it asks for a reset ("Reset dictionary values, since
/// calling reset will not send us env_changes", SqlInternalConnectionTds.ResetConnection in
/// dotnet/SqlClient).
pub(super) async fn reset_session(
    shared: &Shared,
    state: SessionState,
    reset: Reset,
) -> Result<(SessionState, Vec<u8>), SqlError> {
    let engine = shared.engine.clone();
    blocking(move || {
        let mut state = state;
        let rolled_back = state.reset(&engine, reset);
        let mut out = Vec::new();
        EnvChange::ResetConnection.encode(&mut out);
        if let Some(change) = rolled_back {
            encode_transaction_change(&mut out, &change);
        }
        (state, out)
    })
    .await
}

/// Runs a request on the engine; returns the session state after it (if the engine ran) and
/// the encoded response tokens.
pub(super) async fn run_work(
    shared: &Shared,
    state: SessionState,
    work: Work,
) -> (Option<SessionState>, Vec<u8>) {
    let engine = shared.engine.clone();
    let server = shared.host_name.clone();
    let open_before = state.session.transaction_count() > 0;
    let result = blocking(move || {
        let mut state = state;
        let mut out = Vec::new();
        match work {
            Work::Batch(text) => {
                let open = state.session.transaction_count() > 0;
                let outcomes = engine.execute(&mut state.session, &text);
                encode_outcomes(&mut out, &outcomes, DoneKind::Done, &server, false, open);
            }
            Work::Transaction(request) => {
                run_transaction(&engine, &mut state.session, request, &mut out, &server)
            }
            Work::Rpc(requests) => {
                for request in requests {
                    tracing::debug!(procedure = %request.proc_ref.display_name(), params = request.params.len(), "RPC");
                    match request.system_call() {
                        Ok(call) => {
                            let no_metadata = request.options & rpc::OPTION_NO_METADATA != 0;
                            run_call(&engine, &mut state, call, no_metadata, &mut out, &server)
                        }
                        Err(e) => fail_proc(&mut out, &server, &e, &state),
                    }
                }
            }
        }
        (state, out)
    })
    .await;
    match result {
        Ok((state, out)) => (Some(state), out),
        Err(e) => {
            // The engine failed: the session is as it was, its transaction (if any) still open.
            let mut out = Vec::new();
            error_response(&mut out, &shared.host_name, &e, DoneKind::Done, open_before);
            (None, out)
        }
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
    state: &mut SessionState,
    call: SystemCall,
    no_metadata: bool,
    out: &mut Vec<u8>,
    server: &str,
) {
    let open = |state: &SessionState| state.session.transaction_count() > 0;
    match call {
        SystemCall::ExecuteSql { statement, params } => {
            let before = open(state);
            let outcomes = engine.execute_rpc(&mut state.session, &statement, &params);
            let failed =
                encode_outcomes(out, &outcomes, DoneKind::Proc, server, no_metadata, before);
            end_proc(out, failed, None, server, open(state));
        }
        SystemCall::PrepExec {
            unprepare,
            handle_name,
            statement,
            declared,
            params,
        } => {
            if let Some(old) = unprepare {
                state.prepared.remove(&old);
            }
            let before = open(state);
            let outcomes = engine.execute_rpc(&mut state.session, &statement, &params);
            let failed =
                encode_outcomes(out, &outcomes, DoneKind::Proc, server, no_metadata, before);
            let handle = (!failed).then(|| prepare(state, statement, declared));
            let after = open(state);
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
                state.prepared.remove(&old);
            }
            // Like SQL Server, describe the result set of a query being prepared (ODBC reads
            // its columns from here and may then execute with fNoMetaData).
            if returns_rows(&statement) {
                let nulls: Vec<(String, Value)> =
                    declared.iter().map(|n| (n.clone(), Value::Null)).collect();
                let outcomes = engine.execute_rpc(&mut state.session, &statement, &nulls);
                let error = outcomes.iter().find_map(|o| match o {
                    Outcome::Error(e) => Some(e.clone()),
                    _ => None,
                });
                if let Some(e) = error {
                    fail_proc(out, server, &e, state);
                    return;
                }
                if let Some(Outcome::Rows(rs)) =
                    outcomes.iter().find(|o| matches!(o, Outcome::Rows(_)))
                {
                    ColMetaData(&rs.columns).encode(out);
                }
            }
            let handle = prepare(state, statement, declared);
            let after = open(state);
            end_proc(
                out,
                false,
                Some((handle_name.as_str(), handle)),
                server,
                after,
            );
        }
        SystemCall::Execute { handle, values } => {
            let Some(prepared) = state.prepared.get(&handle).cloned() else {
                fail_proc(out, server, &unknown_handle(handle), state);
                return;
            };
            match rpc::bind(&prepared.declared, &values) {
                Ok(params) => {
                    let before = open(state);
                    let outcomes =
                        engine.execute_rpc(&mut state.session, &prepared.statement, &params);
                    let failed = encode_outcomes(
                        out,
                        &outcomes,
                        DoneKind::Proc,
                        server,
                        no_metadata,
                        before,
                    );
                    end_proc(out, failed, None, server, open(state));
                }
                Err(e) => fail_proc(out, server, &e, state),
            }
        }
        SystemCall::Unprepare { handle } => {
            if state.prepared.remove(&handle).is_some() {
                end_proc(out, false, None, server, open(state));
            } else {
                fail_proc(out, server, &unknown_handle(handle), state);
            }
        }
    }
}

/// An RPC's error and its DONEPROC (DONE_INXACT when the session has a transaction open).
fn fail_proc(out: &mut Vec<u8>, server: &str, error: &SqlError, state: &SessionState) {
    let open = state.session.transaction_count() > 0;
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

pub(super) fn prepare(state: &mut SessionState, statement: String, declared: Vec<String>) -> i32 {
    let handle = state.next_handle;
    state.next_handle = state.next_handle.checked_add(1).unwrap_or(1);
    state.prepared.insert(
        handle,
        Prepared {
            statement,
            declared,
        },
    );
    handle
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
        let value = Value::Int(i64::from(handle));
        let token = ReturnValue {
            ordinal: 0,
            name,
            ty: &SqlType::Int,
            value: &value,
        };
        if let Err(e) = token.encode(out) {
            // An INT always fits; report rather than send a broken token if that ever changes.
            MessageToken::from_sql(&messages::conversion_failed(&e.to_string()), server)
                .encode(out);
        }
    }
    let status = if failed {
        done_status::ERROR
    } else {
        done_status::FINAL
    };
    Done::new(DoneKind::Proc, status | inxact(in_transaction)).encode(out);
}
