//! Connection configuration: what to connect to, how to prove who we are, and the bounds that keep
//! a pool healthy. One parser (`FromStr`, ADO.NET connection strings), one environment reader
//! ([`Config::from_env`]) and typed setters, all producing the same [`Config`].
//!
//! (Skeleton: the fields and accessors are the contract; the parser and its keyword table are
//! being built in this file.)

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How the library obtains an access token (the `Authentication` keyword).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Authentication {
    /// `Active Directory Workload Identity`: trade the Kubernetes projected service-account token
    /// (`AZURE_FEDERATED_TOKEN_FILE`) for an Entra token.
    WorkloadIdentity,
    /// `Active Directory Managed Identity` (alias `Active Directory MSI`): IMDS or App Service;
    /// `User Id` picks a user-assigned identity by client id.
    ManagedIdentity,
    /// `Active Directory Service Principal`: `User Id` is the client id, `Password` the secret.
    ServicePrincipal,
    /// `Active Directory Azure CLI`: the developer's `az login`.
    AzureCli,
    /// `Active Directory Default`: a chain that finds the right source for where it runs.
    Default,
    /// `Sql Password`: a SQL login (local containers only).
    SqlPassword,
}

/// The `Encrypt` keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Encrypt {
    /// `True`/`Mandatory`/`Yes`: TLS negotiated in PRELOGIN (TDS 7.4), certificate validated.
    #[default]
    Mandatory,
    /// `Strict`: TDS 8.0, TLS before any TDS byte, certificate always validated.
    Strict,
    /// `False`/`Optional`/`No`: the server decides (Azure SQL always encrypts).
    Optional,
}

/// A secret string (`Password`): never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything needed to open connections. Build it from a connection string
/// (`"Server=...".parse()`), from the environment ([`Config::from_env`]) or with the setters.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) database: Option<String>,
    pub(crate) authentication: Authentication,
    pub(crate) user_id: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) encrypt: Encrypt,
    pub(crate) trust_server_certificate: bool,
    pub(crate) host_name_in_certificate: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Option<Duration>,
    pub(crate) connect_retry_count: u32,
    pub(crate) connect_retry_interval: Duration,
    pub(crate) application_name: String,
    pub(crate) max_pool_size: u32,
    pub(crate) min_pool_size: u32,
    pub(crate) connection_lifetime: Duration,
    // Not ADO.NET keywords: set in code or from the environment.
    pub(crate) token_scope: Option<String>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) authority_host: Option<String>,
    pub(crate) federated_token_file: Option<PathBuf>,
    pub(crate) trusted_root_pem: Vec<Vec<u8>>,
}

impl Config {
    /// A configuration for `host` with every other setting at its default: port 1433,
    /// `Active Directory Default`, `Encrypt=True`, 15 s connect timeout, 30 s command timeout,
    /// 3 connect retries 10 s apart (with backoff and jitter), pool of at most 100, connections
    /// retired after 10 minutes.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: 1433,
            database: None,
            authentication: Authentication::Default,
            user_id: None,
            password: None,
            encrypt: Encrypt::Mandatory,
            trust_server_certificate: false,
            host_name_in_certificate: None,
            connect_timeout: Duration::from_secs(15),
            command_timeout: Some(Duration::from_secs(30)),
            connect_retry_count: 3,
            connect_retry_interval: Duration::from_secs(10),
            application_name: "azure-sql-passwordless".to_owned(),
            max_pool_size: 100,
            min_pool_size: 0,
            connection_lifetime: Duration::from_secs(600),
            token_scope: None,
            tenant_id: None,
            authority_host: None,
            federated_token_file: None,
            trusted_root_pem: Vec::new(),
        }
    }
}
