//! Where providers read the `AZURE_*` variables ([`Environment`]), the variables' names, and the
//! settings resolved from the configuration first and the environment second (authority,
//! tenant, client id, projected token file).

use crate::config::{validate_authority_host, validate_tenant_id, Config, ConfigError};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

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
