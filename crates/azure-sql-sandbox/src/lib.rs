//! Local stand-ins for the three services a passwordless Azure SQL client talks to, faithful enough
//! that real drivers from other ecosystems work against them:
//!
//! - **Kubernetes token projection** (`issuer`): an OIDC issuer that mints service-account tokens
//!   into a file and rewrites it before expiry, as the kubelet does.
//! - **Microsoft Entra ID** (`entra`): an HTTPS token endpoint that trades federated client
//!   assertions, client secrets and managed-identity requests for RS256 access tokens, refusing
//!   what Entra refuses with its `AADSTS` codes.
//! - **Azure SQL** (`tds`, `sql`, `server`): a TDS server (PRELOGIN, TLS both ways, LOGIN7 with
//!   FEDAUTH) over an embedded SQL engine, with the gateway's redirect and injectable faults.
//!
//! [`Sandbox::start`] brings all three up on loopback (port 0) with a CA of its own (`pki`) and
//! hands back the [`SandboxEnv`] a client needs; `azure-sql-sandbox serve` does the same from the
//! command line and writes that environment to a file. `faults` and `stats` let tests steer and
//! observe every service.
//!
//! ```no_run
//! # async fn demo() -> Result<(), azure_sql_sandbox::SandboxError> {
//! use azure_sql_sandbox::{Sandbox, SandboxOptions};
//! use std::time::Duration;
//!
//! let sandbox = Sandbox::start(SandboxOptions {
//!     token_lifetime: Duration::from_secs(5), // renewal happens inside the test
//!     ..Default::default()
//! })
//! .await?;
//! let env = sandbox.env();
//! println!("{}", env.connection_string); // Server=tcp:localhost,PORT;Database=customers;...
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! It is test and development infrastructure, not a product: it never imports the library it
//! examines (`azure-sql-passwordless`), so a bug there cannot pass its own exam.

pub mod client_env;
pub mod entra;
pub mod faults;
pub mod http_server;
pub mod identity;
pub mod issuer;
pub mod pki;
pub mod server;
pub mod services;
pub mod signing_key;
pub mod sql;
pub mod stats;
pub mod tds;

pub use client_env::SandboxEnv;
pub use entra::directory::{ManagedIdentity, ServicePrincipal};
pub use faults::{Faults, Revalidation, TokenEndpointFault};
pub use issuer::{BadToken, Issuer};
pub use server::{Limits, TdsServer, TdsServerOptions};
pub use services::{Sandbox, SandboxError, SandboxOptions};
pub use stats::{Stats, StatsSnapshot};
