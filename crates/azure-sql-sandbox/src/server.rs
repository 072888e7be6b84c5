//! The Azure SQL endpoint: accept loops on loopback (127.0.0.1 and ::1, one port) and one
//! session state machine per connection:
//!
//! ```text
//! first byte 0x12: PRELOGIN ─► answer (encryption required) ─► TLS inside PRELOGIN packets ─┐
//! first byte 0x16: TLS first (TDS 8.0, ALPN tds/8.0) ─► PRELOGIN inside TLS ─► answer ───────┤
//!                                                                                              ▼
//!     LOGIN7 ─► FEDAUTH token → validator → engine.login_external / SQL login → engine.login_sql
//!        │ (gateway: full login answer + routing ENVCHANGE, then close)
//!        ▼
//!     logged in: SQLBatch → engine.execute; RPC sp_executesql, sp_prepexec/sp_prepare/
//!                sp_execute/sp_unprepare → engine.execute_rpc; transaction manager requests;
//!                ATTENTION → DONE(ATTN) ─► closed
//! ```
//!
//! Gateway mode mirrors Azure SQL's Redirect connection policy: the first listener (the
//! "gateway") checks the login and answers with a routing ENVCHANGE to the second (the "node"),
//! which does real logins; a login with `ApplicationIntent=ReadOnly` is routed to a third, the
//! read-only replica of read scale-out, serving the same databases read-only. Faults
//! ([`Faults`](crate::Faults)) and counters ([`Stats`](crate::Stats)) are consulted on the way.
//!
//! This file starts the listeners; the conversation lives in `server/`: `session.rs` (the state
//! machine, faults, ATTENTION), `login.rs` (credentials and the login answer), `requests.rs`
//! (batches and system procedures on the engine), `transaction_manager.rs` (transaction
//! manager requests) and `outcomes.rs` (outcomes as tokens).

mod connection;
mod listener;
mod login;
mod messages;
mod options;
mod outcomes;
mod procedures;
mod requests;
mod session;
mod shared;
mod system_call;
mod transaction_manager;
mod wire_types;

pub use listener::TdsServer;
pub use login::AZURE_SQL_SPN;
pub use options::{tls_config, Limits, TdsServerOptions, REFUSALS_AT_ONCE, TDS8_ALPN};
