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
//! This file only lists the parts, each importing only those below it: `options.rs` (limits, TLS
//! configurations), `shared.rs` (what every session reads), `listener.rs` (the accept loops),
//! `connection.rs` (PRELOGIN and TLS both ways; `capture.rs` records what clients send for the
//! fuzzers' seeds when asked to), `session.rs` (the state machine, faults,
//! ATTENTION), `login.rs` (credentials and the login answer), `requests.rs` (a request on the
//! engine), `system_call.rs` and `procedures.rs` (the system procedures drivers call),
//! `transaction_manager.rs` (transaction manager requests), `outcomes.rs` (outcomes as tokens),
//! `messages.rs` (the errors the server raises itself) and `wire_types.rs` (engine values as
//! the codec's wire types, the one place the two meet).

mod capture;
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

pub use capture::CAPTURE_DIR_VARIABLE;
pub use listener::TdsServer;
pub use login::AZURE_SQL_SPN;
pub use options::{tls_config, Limits, TdsServerOptions, REFUSALS_AT_ONCE, TDS8_ALPN};
