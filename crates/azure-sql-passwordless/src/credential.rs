//! Where access tokens come from: the `Authentication` setting mapped to an `azure_identity`
//! credential (workload identity, managed identity, service principal, Azure CLI, the default
//! chain), or the caller's own `TokenCredential` or callback; and the token scope, derived from
//! the server's DNS suffix.
//!
//! (Skeleton: [`TokenProvider`] is the contract the token cache consumes; the sources are being
//! built in this file.)

use azure_core::credentials::AccessToken;
use std::fmt;

/// A source of access tokens. Each [`fetch`](TokenProvider::fetch) is one real request to the
/// identity provider: providers keep no cache of their own, so the pool's token cache alone
/// decides when to renew.
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// Fetches a fresh token for `scope` (for example `https://database.windows.net/.default`).
    async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken>;
    /// A short name for logs and errors: `workload identity`, `managed identity`, ...
    fn kind(&self) -> &'static str;
}
