//! Where access tokens come from: the `Authentication` setting mapped to a [`TokenProvider`]
//! ([`provider_for`]), or the caller's own `TokenCredential` ([`from_token_credential`]) or async
//! callback ([`from_callback`]).
//!
//! What it does for callers, and its bounds, is documented on [`TokenProvider`].
//!
//! | file | job |
//! |---|---|
//! | `credential/provider.rs` | the [`TokenProvider`] trait, and the table of sources |
//! | `credential/select.rs` | [`provider_for`]: the `Authentication` keyword → its provider |
//! | `credential/environment.rs` | [`Environment`] and the settings read from `AZURE_*` |
//! | `credential/{workload_identity, managed_identity, service_principal, azure_cli, default_chain}.rs` | one source each |
//! | `credential/caller.rs` | the caller's own credential or callback |
//! | `credential/http.rs` | the HTTP client every Entra request goes through |

mod azure_cli;
mod caller;
mod default_chain;
mod environment;
mod http;
mod managed_identity;
mod provider;
mod select;
mod service_principal;
mod workload_identity;

pub use caller::{from_callback, from_token_credential};
pub use environment::Environment;
pub(crate) use environment::{
    authority_host, client_id, federated_token_file, tenant_id, AZURE_AUTHORITY_HOST,
    AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID,
    IDENTITY_ENDPOINT, IDENTITY_HEADER,
};
pub(crate) use http::{client as http_client, error_chain};
pub use provider::TokenProvider;
pub use select::{provider_for, provider_for_with};

#[cfg(test)]
mod tests;
