//! Passwordless connections to Azure SQL Database for Rust services.
//!
//! Proves who the service is with Microsoft Entra ID access tokens (AKS Workload Identity, managed
//! identity, a service principal, the developer's Azure CLI login, or a default chain that picks
//! the right one), shares and renews those tokens in the background, and pools `tiberius`
//! connections with `bb8`.
//!
//! (Skeleton: being built.)

pub mod config;
pub mod connect;
pub mod connection;
pub mod credential;
pub mod error;
pub mod pool;
pub mod token;

pub use config::{Authentication, Config, ConfigError, Encrypt, Secret};
pub use connect::{connect, Connector};
pub use connection::{Client, Connection, QueryStream};
pub use credential::TokenProvider;
pub use pool::{Manager, Pool, PoolBuilder, PoolState, PooledConnection};
pub use error::{Error, Result, TimeoutKind, TokenExpiry, TokenFailure};
pub use token::{Margins, RefreshOutcome, RefreshRecord, RenewalPolicy, Token, TokenSource, TokenState};
