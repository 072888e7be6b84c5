//! Running a logged-in session's requests on the engine, off the async threads: SQL batches,
//! RPCs (the system procedures, [`super::procedures`]) and transaction manager requests
//! ([`super::transaction_manager`]); what a session carries between requests, and its reset.

use super::messages;
use super::outcomes::{encode_outcomes, encode_transaction_change, error_response};
use super::procedures::{fail_proc, run_call, PreparedStatements};
use super::shared::Shared;
use super::system_call::system_call;
use super::transaction_manager::run_transaction;
use crate::sql::{Engine, Session, SqlError, TransactionChange};
use crate::tds::packet::Reset;
use crate::tds::response::{DoneKind, EnvChange};
use crate::tds::rpc;
use crate::tds::tm_request::TmRequest;

/// A parsed request.
pub(super) enum Work {
    /// A SQL batch's text.
    Batch(String),
    /// One or more RPCs.
    Rpc(Vec<rpc::RpcRequest>),
    /// A transaction manager request.
    Transaction(TmRequest),
}

/// What a logged-in session carries between requests.
#[derive(Clone, Debug)]
pub(super) struct SessionState {
    /// The engine's session.
    pub(super) session: Session,
    /// The session as it was right after login, for RESETCONNECTION.
    initial: Session,
    /// What `sp_prepare`/`sp_prepexec` prepared.
    prepared: PreparedStatements,
}

impl SessionState {
    /// A freshly logged-in session.
    pub(super) fn new(session: Session) -> Self {
        Self {
            initial: session.clone(),
            session,
            prepared: PreparedStatements::new(),
        }
    }

    /// What `sp_reset_connection` does (connection pools ask for it with RESETCONNECTION when
    /// they hand a connection out again; MS-TDS 2.2.3.1.2: "effectively simulating a logout and
    /// a subsequent login"): the engine's part ([`Engine::reset_session`]), then the session as
    /// it was right after login (its database, `SET` options, no session context) and no
    /// prepared statements (tedious-connection-pool#46: "When returning a connection to the
    /// pool, the connection is reset. This invalidates any prepared statements."). Returns the
    /// rollback to announce, if a transaction was rolled back.
    ///
    /// The transaction isolation level survives the reset, as on SQL Server and Azure SQL:
    /// `sp_reset_connection` does not reset it (SQL Server 2014 briefly did, and KB3025845,
    /// "FIX: The transaction isolation level is reset incorrectly when the SQL Server
    /// connection is released", took it back; dotnet/SqlClient#96 and dotnet/corefx#18277, "by
    /// design"; microsoft/mssql-python#343 resets it itself because "SQL_ATTR_RESET_CONNECTION
    /// ... does not reset the isolation level").
    pub(super) fn reset(
        &mut self,
        engine: &Engine,
        reset: Reset,
    ) -> Result<Option<TransactionChange>, SqlError> {
        let rolled_back = engine.reset_session(&self.session, reset == Reset::KeepTransaction)?;
        let isolation = self.session.options.isolation;
        self.session = self.initial.clone();
        self.session.options.isolation = isolation;
        self.prepared.clear();
        Ok(rolled_back)
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
        let rolled_back = state.reset(&engine, reset)?;
        let mut out = Vec::new();
        EnvChange::ResetConnection.encode(&mut out);
        if let Some(change) = rolled_back {
            encode_transaction_change(&mut out, &change);
        }
        Ok((state, out))
    })
    .await?
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
                    match system_call(&request) {
                        Ok(call) => {
                            let no_metadata = request.options & rpc::OPTION_NO_METADATA != 0;
                            run_call(
                                &engine,
                                &mut state.session,
                                &mut state.prepared,
                                call,
                                no_metadata,
                                &mut out,
                                &server,
                            )
                        }
                        Err(e) => fail_proc(&mut out, &server, &e, &state.session),
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

/// Runs engine work off the async threads; a panic in it becomes an error message.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SqlError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "the SQL engine failed");
        messages::internal_error()
    })
}
