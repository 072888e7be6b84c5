//! Where access tokens come from: the `Authentication` setting mapped to a [`TokenProvider`]
//! ([`provider_for`]), or the caller's own `TokenCredential` ([`from_token_credential`]) or async
//! callback ([`from_callback`]).
//!
//! What it does for callers, and its bounds, is documented on [`TokenProvider`].

mod azure_cli;
mod caller;
mod default_chain;
mod http;
mod managed_identity;
mod service_principal;
mod workload_identity;

pub use caller::{from_callback, from_token_credential};

use crate::config::{
    validate_authority_host, validate_tenant_id, Authentication, Config, ConfigError,
};
use azure_core::credentials::AccessToken;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A source of access tokens. Each [`fetch`](TokenProvider::fetch) is one real request to the
/// identity provider: providers keep no cache of their own, so the pool's token cache alone
/// decides when to renew.
///
/// | `Authentication` | Provider | Needs | File |
/// |---|---|---|---|
/// | `Active Directory Workload Identity` | `azure_identity::ClientAssertionCredential` with the projected token file as assertion | client id (`User Id`, else `AZURE_CLIENT_ID`), tenant ([`Config::tenant_id`], else `AZURE_TENANT_ID`), token file ([`Config::federated_token_file`], else `AZURE_FEDERATED_TOKEN_FILE`) | `credential/workload_identity.rs` |
/// | `Active Directory Managed Identity` | `azure_identity::ManagedIdentityCredential` | nothing (`User Id`: a user-assigned identity's client id) | `credential/managed_identity.rs` |
/// | `Active Directory Service Principal` | `azure_identity::ClientSecretCredential` | `User Id`, `Password`, tenant | `credential/service_principal.rs` |
/// | `Active Directory Azure CLI` | `azure_identity::AzureCliCredential` | `az login` | `credential/azure_cli.rs` |
/// | `Active Directory Default` | a chain: environment service principal → workload identity → managed identity → Azure CLI, sticky once one works | whatever the source found needs | `credential/default_chain.rs` |
/// | `Sql Password` | none: [`provider_for`] returns `None` and the login carries the password | | |
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
/// is read once, when the provider is built, through an [`Environment`] that tests replace
/// ([`provider_for_with`]). One exception: `azure_identity`'s `ManagedIdentityCredential` reads
/// `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` from the process itself to choose between App Service
/// and IMDS.
///
/// **The authority** (where Entra is): [`Config::authority_host`], else `AZURE_AUTHORITY_HOST`,
/// else the cloud of the server's DNS suffix (see [`Config::cloud_authority_host`]).
///
/// **Trust**: the certificates added with [`Config::trust_root_certificate_pem`] are trusted by
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

/// The provider for `config`'s `Authentication` mode, reading the `AZURE_*` variables from the
/// process environment; `None` for `Sql Password`, which needs no token.
///
/// Validates the configuration first, so a bad one fails here (at pool creation), not at the
/// first connect.
pub fn provider_for(config: &Config) -> Result<Option<Arc<dyn TokenProvider>>, ConfigError> {
    provider_for_with(config, &Environment::process())
}

/// [`provider_for`] with the environment taken from `env` (tests pass a map, so they never
/// mutate the process environment).
pub fn provider_for_with(
    config: &Config,
    env: &Environment,
) -> Result<Option<Arc<dyn TokenProvider>>, ConfigError> {
    if !config.validated {
        config.validate()?;
    }
    let provider: Arc<dyn TokenProvider> = match config.authentication {
        Authentication::WorkloadIdentity => {
            Arc::new(workload_identity::WorkloadIdentity::new(config, env)?)
        }
        Authentication::ManagedIdentity => {
            Arc::new(managed_identity::ManagedIdentity::new(config)?)
        }
        Authentication::ServicePrincipal => Arc::new(
            service_principal::ServicePrincipal::from_config(config, env)?,
        ),
        Authentication::AzureCli => Arc::new(azure_cli::AzureCli::new(config)),
        Authentication::Default => Arc::new(default_chain::DefaultChain::new(config, env)?),
        Authentication::SqlPassword => return Ok(None),
    };
    tracing::debug!(kind = provider.kind(), "token provider ready");
    Ok(Some(provider))
}

/// Where providers read `AZURE_*` variables: the process environment, or a lookup function in
/// tests. Read once, when a provider is built. Empty values count as unset. `Debug` shows no
/// values (`AZURE_CLIENT_SECRET` lives here).
#[derive(Clone)]
pub struct Environment {
    lookup: Arc<Lookup>,
}

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl Environment {
    /// The process environment.
    pub fn process() -> Self {
        Self::from_fn(|name| std::env::var(name).ok())
    }

    /// Variables answered by `lookup`.
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Arc::new(lookup),
        }
    }

    /// Exactly these variables, nothing else.
    ///
    /// ```
    /// use azure_sql_passwordless::Environment;
    /// let env = Environment::from_pairs([("AZURE_TENANT_ID", "contoso.onmicrosoft.com")]);
    /// assert_eq!(env.var("AZURE_TENANT_ID").as_deref(), Some("contoso.onmicrosoft.com"));
    /// assert_eq!(env.var("HOME"), None);
    /// ```
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars: std::collections::HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_fn(move |name| vars.get(name).cloned())
    }

    /// A variable's value; `None` when unset or empty.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Environment(..)")
    }
}

// The variables the Azure SDKs and the AKS workload identity webhook define.
pub(crate) const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
pub(crate) const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
pub(crate) const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
pub(crate) const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
pub(crate) const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
pub(crate) const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
pub(crate) const IDENTITY_HEADER: &str = "IDENTITY_HEADER";

/// The Entra authority: the configured one, else `AZURE_AUTHORITY_HOST`, else the server's cloud.
pub(crate) fn authority_host(config: &Config, env: &Environment) -> Result<String, ConfigError> {
    if let Some(authority) = &config.authority_host {
        return Ok(authority.trim().to_owned());
    }
    if let Some(authority) = env.var(AZURE_AUTHORITY_HOST) {
        validate_authority_host(&authority).map_err(|e| ConfigError::InvalidEnvironment {
            variable: AZURE_AUTHORITY_HOST,
            source: Box::new(e),
        })?;
        return Ok(authority.trim().to_owned());
    }
    Ok(config.cloud_authority_host().to_owned())
}

/// The tenant: the configured one, else `AZURE_TENANT_ID`.
pub(crate) fn tenant_id(config: &Config, env: &Environment) -> Result<Option<String>, ConfigError> {
    if let Some(tenant) = &config.tenant_id {
        return Ok(Some(tenant.trim().to_owned()));
    }
    match env.var(AZURE_TENANT_ID) {
        Some(tenant) => {
            let tenant = tenant.trim().to_owned();
            validate_tenant_id(&tenant).map_err(|e| ConfigError::InvalidEnvironment {
                variable: AZURE_TENANT_ID,
                source: Box::new(e),
            })?;
            Ok(Some(tenant))
        }
        None => Ok(None),
    }
}

/// The client id of a workload or user-assigned identity: `User Id`, else `AZURE_CLIENT_ID`.
pub(crate) fn client_id(config: &Config, env: &Environment) -> Option<String> {
    config
        .user_id
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .or_else(|| env.var(AZURE_CLIENT_ID).map(|v| v.trim().to_owned()))
}

/// The projected token file: the configured one, else `AZURE_FEDERATED_TOKEN_FILE`.
pub(crate) fn federated_token_file(config: &Config, env: &Environment) -> Option<PathBuf> {
    config
        .federated_token_file
        .clone()
        .or_else(|| env.var(AZURE_FEDERATED_TOKEN_FILE).map(PathBuf::from))
}

#[cfg(test)]
mod tests;
