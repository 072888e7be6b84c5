//! [`TokenProvider`]: what every source of access tokens implements, and the table of the
//! sources the `Authentication` keyword names.

use azure_core::credentials::AccessToken;
use std::fmt;

/// A source of access tokens. Each [`fetch`](TokenProvider::fetch) is one real request to the
/// identity provider: providers keep no cache of their own, so the pool's token cache alone
/// decides when to renew.
///
/// | `Authentication` | Provider | Needs | File |
/// |---|---|---|---|
/// | `Active Directory Workload Identity` | `azure_identity::ClientAssertionCredential` with the projected token file as assertion | client id (`User Id`, else `AZURE_CLIENT_ID`), tenant ([`Config::tenant_id`](crate::Config::tenant_id), else `AZURE_TENANT_ID`), token file ([`Config::federated_token_file`](crate::Config::federated_token_file), else `AZURE_FEDERATED_TOKEN_FILE`) | `credential/workload_identity.rs` |
/// | `Active Directory Managed Identity` | `azure_identity::ManagedIdentityCredential` | nothing (`User Id`: a user-assigned identity's client id) | `credential/managed_identity.rs` |
/// | `Active Directory Service Principal` | `azure_identity::ClientSecretCredential` | `User Id`, `Password`, tenant | `credential/service_principal.rs` |
/// | `Active Directory Azure CLI` | `azure_identity::AzureCliCredential` | `az login` | `credential/azure_cli.rs` |
/// | `Active Directory Default` | a chain: environment service principal → workload identity → managed identity → Azure CLI, sticky once one works | whatever the source found needs | `credential/default_chain.rs` |
/// | `Sql Password` | none: [`provider_for`](crate::provider_for) returns `None` and the login carries the password | | |
///
/// **One request per fetch.** Every [`TokenProvider::fetch`] is one real exchange with the
/// identity provider: the pool's token cache alone decides when to renew. `azure_identity`'s
/// credentials keep a cache of their own (they return the cached token until 5 minutes before
/// it expires), so each fetch builds a fresh credential around the provider's long-lived HTTP
/// client (cheap: no connection is opened for it). The workload identity's projected token file
/// is read afresh on every fetch (the kubelet rotates it; `azure_identity`'s own
/// `WorkloadIdentityCredential` would cache it for 10 minutes). HTTP retries inside
/// `azure_identity` are off for Entra requests: the token cache retries with backoff and jitter,
/// and a stalled request is cut at 30 s.
///
/// **The environment** (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_AUTHORITY_HOST`,
/// `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_SECRET`, `IDENTITY_ENDPOINT`, `IDENTITY_HEADER`)
/// is read once, when the provider is built, through an [`Environment`](crate::Environment) that tests replace
/// ([`provider_for_with`](crate::provider_for_with)). One exception: `azure_identity`'s `ManagedIdentityCredential` reads
/// `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` from the process itself to choose between App Service
/// and IMDS.
///
/// **The authority** (where Entra is): [`Config::authority_host`](crate::Config::authority_host), else `AZURE_AUTHORITY_HOST`,
/// else the cloud of the server's DNS suffix (see [`Config::cloud_authority_host`](crate::Config::cloud_authority_host)).
///
/// **Trust**: the certificates added with [`Config::trust_root_certificate_pem`](crate::Config::trust_root_certificate_pem) are trusted by
/// the Entra HTTPS client on top of the system's roots; validation is never switched off.
///
/// ```no_run
/// use azure_sql_passwordless::{provider_for, Config};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let config: Config = "Server=tcp:myserver.database.windows.net,1433;Database=mydb;\
///                       Authentication=Active Directory Workload Identity"
///     .parse()?;
/// let provider = provider_for(&config)?.expect("an Entra mode has a provider");
/// let token = provider.fetch(config.get_token_scope()).await?;
/// println!("token from {} expires at {}", provider.kind(), token.expires_on);
/// # Ok(())
/// # }
/// ```
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// Fetches a fresh token for `scope` (for example `https://database.windows.net/.default`).
    async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken>;
    /// A short name for logs and errors: `workload identity`, `managed identity`, ...
    fn kind(&self) -> &'static str;
}
