//! Passwordless connections to Azure SQL Database for Rust services.
//!
//! Proves who the service is with Microsoft Entra ID access tokens (AKS Workload Identity, managed
//! identity, a service principal, the developer's Azure CLI login, or a default chain that picks
//! the right one), shares and renews those tokens in the background, and pools `tiberius`
//! connections with `bb8`. No password, secret or connection-string credential is needed in
//! production.
//!
//! **For**: services that query Azure SQL Database (or SQL Server with `Sql Password`, for local
//! containers) through `tiberius`, configured the way .NET services are (ADO.NET connection
//! strings, `Authentication=Active Directory ...`). **Not for**: an ORM or query builder, SQL
//! Server's Windows/Kerberos logins, or Entra user sign-in flows (device code, browser).
//!
//! # Quick start
//!
//! ```no_run
//! use azure_sql_passwordless::{Config, Pool};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // In a pod with Workload Identity, the webhook provides AZURE_CLIENT_ID, AZURE_TENANT_ID,
//!     // AZURE_AUTHORITY_HOST and AZURE_FEDERATED_TOKEN_FILE; nothing else is needed.
//!     let config: Config = "Server=tcp:myserver.database.windows.net,1433;Database=mydb;\
//!                           Authentication=Active Directory Workload Identity;Encrypt=True"
//!         .parse()?;
//!     let pool = Pool::new(config).await?;
//!
//!     let mut conn = pool.get().await?;
//!     let rows = conn
//!         .query("SELECT customer_id FROM dbo.Customer WHERE active = @P1", &[&true])
//!         .await?
//!         .into_first_result()
//!         .await?;
//!     for row in rows {
//!         println!("Customer ID-->{}", row.get::<i32, _>(0).unwrap_or_default());
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # The types, and where they live
//!
//! Every public type has one path, at the crate's root. The source is split by concept, one to
//! a file (each file's top comment says its job):
//!
//! | type | job | file |
//! |---|---|---|
//! | [`Config`] | the connection string parser, environment reader and typed setters; [`ConfigError`] | `config.rs`, `config/` |
//! | [`TokenProvider`], [`provider_for`] | `Authentication` → a token provider (workload identity, managed identity, service principal, Azure CLI, default chain, your own credential or callback) | `credential.rs`, `credential/` |
//! | [`TokenSource`], [`RenewalPolicy`] | the token cache: one token shared by every connection, single-flight fetches, background renewal | `token.rs` |
//! | [`Connector`], [`connect`] | TCP + TLS + the TDS login with the token; gateway redirects and transient retries | `connect.rs` |
//! | [`Connection`], [`Transaction`] | a logged-in connection, its query API (which tracks broken connections) and its session reset | `connection.rs` |
//! | (internal) | when a connection is retired: its login token, its lifetime | `retirement.rs` |
//! | (internal) | the TLS crypto provider (ring, unless the application installed one) | `crypto.rs` |
//! | [`Pool`], [`PoolBuilder`] | the `bb8` pool: checkout, bounds, state, graceful close | `pool.rs`, `pool/` |
//! | (internal) | metrics by OpenTelemetry's conventions (feature `opentelemetry`): the pool, the token, connection events | `metrics.rs`, `metrics/` |
//! | [`Error`] | the one runtime error; each variant says what to fix | `error.rs` |
//! | [`diagnose`], [`Report`] | the doctor: walks the path one link at a time and says which is broken and how to fix it | `doctor.rs`, `doctor/` |
//!
//! The crates in the public API are re-exported ([`tiberius`], [`bb8`], [`azure_core`],
//! [`azure_identity`]), so a service names their types through this crate and never needs to
//! pin matching versions of its own.
//!
//! # What happens on its own
//!
//! - One request to Entra at a time and 1.25 per token lifetime (renewal at 80% of it: 12
//!   minutes before a 1-hour token expires), however many connections and pools share the
//!   [`TokenSource`]; renewal runs in the background, so `get()` never waits on Entra while a
//!   usable token is cached. When Entra fails, the still-valid token keeps serving and renewal
//!   retries with backoff; callers see an error (with the `AADSTS` code and text) only when no
//!   usable token is left.
//! - A pooled connection is never handed out once its login token is about to expire, and lives
//!   at most `Connection Lifetime` (10 minutes by default), so a revoked role takes effect
//!   within that bound. A connection that fails (I/O, timeout, 37396) is discarded.
//! - Every reused connection's session is reset by the server before the next caller's first
//!   statement runs (transaction, temporary tables, `SET` options, database, session context);
//!   a reset the server does not acknowledge discards the connection.
//! - A silent server costs a bounded ping (5 s) at checkout and a TCP keep-alive timeout in use,
//!   never a caller's whole wait.
//! - Logins follow the gateway's redirect (at most 10 hops) and retry the transient errors
//!   Microsoft's drivers agree on ([`Error::TRANSIENT_SQL_ERRORS`]); 18456 is never retried.
//! - TLS (to Entra and to SQL) uses rustls with `ring`, installed as rustls's process-wide
//!   default provider unless the application installed one first (which is then used).
//! - `tracing` events say what happened (token acquired or failed, renewals, connects,
//!   redirects, retries), never with a token in them.
//! - With the `opentelemetry` feature, the pool (`db.client.connection.*`, by OpenTelemetry's
//!   database-client conventions), the token cache and the connection events are recorded
//!   through the OpenTelemetry metrics API; the application installs the meter provider
//!   (`opentelemetry::global::set_meter_provider`, or `PoolBuilder::meter_provider`).

#![warn(missing_docs)]

mod config;
mod connect;
mod connection;
mod credential;
mod crypto;
mod doctor;
mod error;
mod metrics;
mod pool;
mod retirement;
mod token;

#[cfg(test)]
mod test_support;

pub use config::{
    ApplicationIntent, Authentication, Config, ConfigError, Encrypt, IpAddressPreference, Secret,
};
pub use connect::{connect, Connector};
pub use connection::{Client, Connection, IsolationLevel, QueryStream, Transaction};
pub use credential::{
    from_callback, from_token_credential, provider_for, provider_for_with, Environment,
    TokenProvider,
};
pub use doctor::{
    diagnose, diagnose_with, DiagnoseOptions, InvalidTableName, Report, Step, TableName, Verdict,
};
pub use error::{Error, LoginFailureReason, Result, TimeoutKind, TokenFailure};
pub use pool::{Closed, Manager, Pool, PoolBuilder, PoolState, PooledConnection};
pub use token::{
    Margins, RefreshOutcome, RefreshRecord, RenewalPolicy, Token, TokenSource, TokenState,
};

// The crates whose types appear in this crate's API, so callers use the versions it was built
// with.
pub use azure_core;
pub use azure_identity;
pub use bb8;
#[cfg(feature = "opentelemetry")]
pub use opentelemetry;
pub use tiberius;
