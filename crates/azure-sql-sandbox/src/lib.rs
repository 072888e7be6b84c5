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
//! It is test and development infrastructure, not a product: it never imports the library it
//! examines (`azure-sql-passwordless`), so a bug there cannot pass its own exam.

pub mod entra;
pub mod faults;
pub mod http_server;
pub mod identity;
pub mod issuer;
pub mod pki;
pub mod server;
pub mod signing_key;
pub mod sql;
pub mod stats;
pub mod tds;

pub use faults::{Faults, TokenEndpointFault};
pub use server::{TdsServer, TdsServerOptions};
pub use stats::{Stats, StatsSnapshot};
