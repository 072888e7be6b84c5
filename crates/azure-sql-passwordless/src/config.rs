//! Connection configuration: what to connect to, how to prove who we are, and the bounds that keep
//! a pool healthy. One parser ([`FromStr`], ADO.NET connection strings as Microsoft.Data.SqlClient
//! reads them), one environment reader ([`Config::from_env`]) and typed setters, all producing the
//! same [`Config`], checked by one [`Config::validate`]. Every mistake is a [`ConfigError`] naming
//! the keyword, the bad value (never a password) and what is accepted.
//!
//! # Connection strings
//!
//! `key=value` pairs separated by `;`. Keywords are case- and whitespace-insensitive
//! (`Initial Catalog`, `initialcatalog` and `INITIAL CATALOG` are the same). A value may be quoted
//! with `'` or `"` (needed when it contains `;` or leading/trailing spaces); inside quotes the
//! quote character is written twice (`Password="a""b;c"` is `a"b;c`). Unquoted values are trimmed.
//! Empty pairs and a trailing `;` are ignored; an empty value (`Database=`) means "the default".
//! When a keyword (or two of its synonyms) appears twice, the last one wins, as in SqlClient.
//!
//! ```
//! use azure_sql_passwordless::{Authentication, Config};
//!
//! let config: Config = "Server=tcp:myserver.database.windows.net,1433;Database=mydb;\
//!                       Authentication=Active Directory Workload Identity;Encrypt=True"
//!     .parse()?;
//! assert_eq!(config.get_host(), "myserver.database.windows.net");
//! assert_eq!(config.get_authentication(), Authentication::WorkloadIdentity);
//! assert_eq!(config.get_token_scope(), "https://database.windows.net/.default");
//! # Ok::<(), azure_sql_passwordless::ConfigError>(())
//! ```
//!
//! ## Keywords
//!
//! | Keyword | Synonyms | Values | Default | Notes |
//! |---|---|---|---|---|
//! | `Server` | `Data Source`, `Address`, `Addr`, `Network Address` | `tcp:host,port`, `host,port`, `host`; IPv6 as `[::1],1433` or `::1,1433`; `.`/`(local)` mean `localhost` | required | Named pipes (`np:`), shared memory (`lpc:`), the DAC (`admin:`) and named instances (`host\instance`) are refused: Azure SQL speaks TCP on a port. `host:port` is refused with a hint to write `host,port`. |
//! | `Database` | `Initial Catalog` | a database name (at most 128 characters) | the login's default database (`master` in Azure SQL) | Set it: a contained database user (`CREATE USER ... FROM EXTERNAL PROVIDER`) exists only in its database, and a login to `master` fails with 18456. An Entra configuration without it is logged as a warning at validation (not refused: an identity with a server login in `master` needs none). |
//! | `Authentication` | | `Active Directory Workload Identity`, `Active Directory Managed Identity` (or `Active Directory MSI`), `Active Directory Service Principal`, `Active Directory Azure CLI`, `Active Directory Default`, `Sql Password`; case- and space-insensitive (`ActiveDirectoryDefault`) | `Sql Password` if a `Password` is given, else `Active Directory Default` | SqlClient's `Active Directory Password`, `Interactive`, `Device Code Flow` and `Integrated` are refused with the mode to use instead. There is no `Active Directory Developer Tools`: on a laptop `Active Directory Azure CLI` (or `Default`, which ends with the CLI) is the way. |
//! | `User Id` | `UID`, `User` | a client id (GUID, braces allowed: `{...}` is taken without them) for Entra modes; a login name for `Sql Password` | none | Managed identity: the user-assigned identity's client id (absent: system-assigned). Workload identity and `Default`: overrides `AZURE_CLIENT_ID`. Service principal: the application (client) id, required. Refused with `Azure CLI`. |
//! | `Password` | `PWD` | any (quote it if it contains `;`) | none | The client secret for `Service Principal`, the SQL password for `Sql Password`; refused with every passwordless mode. Never shown by `Debug` or in errors. |
//! | `Encrypt` | | `True`/`Yes`/`Mandatory`, `False`/`No`/`Optional`, `Strict` | `True` | `Strict` is TDS 8.0: TLS before any TDS byte. `False` lets the server decide (Azure SQL always encrypts). |
//! | `TrustServerCertificate` | `Trust Server Certificate` | `True`/`Yes`, `False`/`No` | `False` | Skips certificate validation: allowed for local containers, logged as a warning at every connect; refused with `Encrypt=Strict` (as SqlClient does). To trust a private CA, use [`Config::trust_root_certificate_file`] instead. |
//! | `HostNameInCertificate` | `Host Name In Certificate` | a DNS name | the server's host | The name the server's certificate must carry, when it differs from `Server` (private endpoints with custom DNS). |
//! | `Connect Timeout` | `Connection Timeout`, `Timeout` | whole seconds, at least 1 | 15 | Bounds TCP connect + TLS + login of one attempt, all its gateway redirects together (each retry gets its own). SqlClient's `0` (wait forever) is refused. |
//! | `Command Timeout` | | whole seconds; `0` = none | 30 | Per query. After a timeout the connection is discarded. |
//! | `Connect Retry Count` | `ConnectRetryCount` | 0 to 255 | 3 | Retries of a connect that failed with a transient error (Azure SQL's 40613 and friends, I/O, timeouts), with backoff and jitter. |
//! | `Connect Retry Interval` | `ConnectRetryInterval` | 1 to 60 seconds | 10 | The base delay between those retries. |
//! | `Application Name` | `App` | at most 128 characters | `azure-sql-passwordless` | Shown in `sys.dm_exec_sessions.program_name`. |
//! | `Max Pool Size` | | at least 1 | 100 | |
//! | `Min Pool Size` | | 0 to `Max Pool Size` | 0 | Connections kept open while idle. |
//! | `Connection Lifetime` | `Load Balance Timeout` | whole seconds; `0` = the library's bound | 600 | A connection is retired after this long. SqlClient's `0` means "forever"; here it means the default bound, because an unbounded connection would let a revoked role or a dropped user keep working, and Azure SQL may revalidate an old session's token and fail it (37396). |
//! | `Pooling` | | `True` | `True` | `False` is refused: the [`Config`] is for a pool; a program that wants one connection calls the one-shot `connect()`. |
//! | `Persist Security Info` | `PersistSecurityInfo` | `True`, `False` | `False` | Accepted from pasted portal strings. Nothing here ever re-exposes the password (there is no `ConnectionString` getter), so `True` changes nothing and is logged as a warning. |
//! | `MultipleActiveResultSets` | `Multiple Active Result Sets` | `False` | `False` | `True` (MARS) is refused: one connection runs one request at a time; use the pool for concurrency. |
//! | `Integrated Security` | `Trusted_Connection` | `False` | `False` | `True`/`SSPI` (Windows or Kerberos login) is refused: it is not passwordless to Azure SQL; use `Active Directory Managed Identity`, `Workload Identity` or `Default`. |
//! | `Enlist` | | `True`, `False` | | Accepted and ignored: Rust has no ambient `System.Transactions`. |
//! | `Application Intent` | `ApplicationIntent` | `ReadWrite`, `ReadOnly` | `ReadWrite` | `ReadOnly` asks Azure SQL's gateway to route the login to a read-only replica (read scale-out, Premium/Business Critical/Hyperscale); writes there fail. A pool for reads and one for writes is the usual pair. |
//! | `Workstation ID` | `WSID` | at most 128 characters | the machine's host name | Shown in `sys.dm_exec_sessions.host_name` (`HOST_NAME()`): the pod's name, say. |
//! | `Packet Size` | | 512 to 32767 bytes | the driver's 4096 | The TDS packet size asked for; the server may answer with another. |
//! | `MultiSubnetFailover` | `Multi Subnet Failover` | `False` | `False` | `True` is refused: parallel connects to an availability-group listener are not implemented (Azure SQL Database does not need them). |
//! | `Column Encryption Setting` | | `Disabled` | `Disabled` | `Enabled` is refused: Always Encrypted is not supported, encrypted columns would come back as ciphertext. |
//! | `Pool Blocking Period` | `PoolBlockingPeriod` | `Auto` | `Auto` | Other values are refused: the pool's own retry policy applies. |
//! | `Network Library` | `Network`, `Net` | `DBMSSOCN` (TCP) | TCP | Anything else is refused: only TCP is supported. |
//!
//! Other SqlClient keywords are refused with the reason: `Current Language`, `Failover Partner`, `Failover Partner SPN`, `AttachDBFilename`,
//! `User Instance`, `Context Connection`, `Replication`, `Transaction Binding`,
//! `Type System Version`, `Server Certificate`, `IP Address Preference`, `Connection Reset`,
//! `Asynchronous Processing`, `Enclave Attestation Url` (values equal to what this library does
//! anyway, such as `User Instance=False`, pass). An unknown keyword is refused with the nearest
//! known keyword as a suggestion.
//!
//! A connection string copied from the Azure portal parses as is (fill in its `{your_...}`
//! placeholders first; a left-over placeholder is reported as such):
//!
//! ```
//! # use azure_sql_passwordless::Config;
//! let config: Config = "Server=tcp:myserver.database.windows.net,1433;Initial Catalog=mydb;\
//!     Persist Security Info=False;MultipleActiveResultSets=False;Encrypt=True;\
//!     TrustServerCertificate=False;Connection Timeout=30;Authentication=\"Active Directory Default\";"
//!     .parse()?;
//! assert_eq!(config.get_connect_timeout().as_secs(), 30);
//! # Ok::<(), azure_sql_passwordless::ConfigError>(())
//! ```
//!
//! ## Cross-keyword rules
//!
//! - `Server` is required.
//! - A `Password` with a passwordless mode (Workload Identity, Managed Identity, Azure CLI,
//!   Default) is refused: a secret in a connection string is what this library exists to avoid.
//! - `Service Principal` and `Sql Password` need both `User Id` and `Password`.
//! - `TrustServerCertificate=True` with `Encrypt=Strict` is refused.
//! - `Min Pool Size` must not exceed `Max Pool Size`.
//!
//! # Settings that are not ADO.NET keywords
//!
//! Set in code (or taken from the `AZURE_*` variables the Azure SDKs read, when the token
//! provider is built): [`Config::token_scope`], [`Config::tenant_id`] (else `AZURE_TENANT_ID`),
//! [`Config::authority_host`] (else `AZURE_AUTHORITY_HOST`, else the cloud of the server's DNS
//! suffix), [`Config::federated_token_file`] (else `AZURE_FEDERATED_TOKEN_FILE`), and extra trusted
//! root certificates ([`Config::trust_root_certificate_pem`],
//! [`Config::trust_root_certificate_file`]) that both the SQL TLS connection and the Entra HTTPS
//! client trust.
//!
//! # The token scope
//!
//! Unless set explicitly, the scope follows the server's DNS suffix ([`Config::get_token_scope`]):
//!
//! | Server DNS suffix | Scope | Entra authority (when none is configured) |
//! |---|---|---|
//! | `database.windows.net` | `https://database.windows.net/.default` | `https://login.microsoftonline.com` |
//! | `database.chinacloudapi.cn` | `https://database.chinacloudapi.cn/.default` | `https://login.chinacloudapi.cn` |
//! | `database.usgovcloudapi.net` | `https://database.usgovcloudapi.net/.default` | `https://login.microsoftonline.us` |
//! | `database.cloudapi.de` | `https://database.cloudapi.de/.default` | `https://login.microsoftonline.de` |
//! | `sql.azuresynapse.net` (Synapse) | `https://database.windows.net/.default` | `https://login.microsoftonline.com` |
//! | `datawarehouse.fabric.microsoft.com`, `database.fabric.microsoft.com` (Fabric) | `https://database.windows.net/.default` | `https://login.microsoftonline.com` |
//! | anything else (`localhost`, private endpoints with custom DNS) | `https://database.windows.net/.default` | `https://login.microsoftonline.com` |
//!
//! # The environment
//!
//! [`Config::from_env`] reads `AZURE_SQL_CONNECTION_STRING`, or else `AZURE_SQL_SERVER` and
//! `AZURE_SQL_DATABASE` (plus optional `AZURE_SQL_AUTHENTICATION` and `AZURE_SQL_PORT`).

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Where the login asks to be routed (the `Application Intent` keyword).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ApplicationIntent {
    /// `ReadWrite`: the primary.
    #[default]
    ReadWrite,
    /// `ReadOnly`: a read-only replica (Azure SQL read scale-out); writes fail there.
    ReadOnly,
}

impl ApplicationIntent {
    /// The keyword's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationIntent::ReadWrite => "ReadWrite",
            ApplicationIntent::ReadOnly => "ReadOnly",
        }
    }
}

impl FromStr for ApplicationIntent {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match normalize(s).as_str() {
            "readwrite" => Ok(ApplicationIntent::ReadWrite),
            "readonly" => Ok(ApplicationIntent::ReadOnly),
            _ => Err(ConfigError::InvalidValue {
                keyword: "Application Intent",
                value: shorten(s.trim()),
                expected: "`ReadWrite` or `ReadOnly`",
            }),
        }
    }
}

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

impl Authentication {
    /// Every mode, in the order the documentation lists them.
    pub const ALL: [Authentication; 6] = [
        Authentication::WorkloadIdentity,
        Authentication::ManagedIdentity,
        Authentication::ServicePrincipal,
        Authentication::AzureCli,
        Authentication::Default,
        Authentication::SqlPassword,
    ];

    /// The connection-string spelling (`Active Directory Workload Identity`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Authentication::WorkloadIdentity => "Active Directory Workload Identity",
            Authentication::ManagedIdentity => "Active Directory Managed Identity",
            Authentication::ServicePrincipal => "Active Directory Service Principal",
            Authentication::AzureCli => "Active Directory Azure CLI",
            Authentication::Default => "Active Directory Default",
            Authentication::SqlPassword => "Sql Password",
        }
    }

    /// Whether this mode proves identity without a secret in the configuration.
    pub fn is_passwordless(self) -> bool {
        matches!(
            self,
            Authentication::WorkloadIdentity
                | Authentication::ManagedIdentity
                | Authentication::AzureCli
                | Authentication::Default
        )
    }
}

impl fmt::Display for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the `Authentication` keyword's value, case- and space-insensitively.
impl FromStr for Authentication {
    type Err = ConfigError;

    fn from_str(value: &str) -> Result<Self, ConfigError> {
        let norm = normalize(value);
        let mode = match norm.as_str() {
            "activedirectoryworkloadidentity" => Authentication::WorkloadIdentity,
            "activedirectorymanagedidentity" | "activedirectorymsi" => {
                Authentication::ManagedIdentity
            }
            "activedirectoryserviceprincipal" => Authentication::ServicePrincipal,
            "activedirectoryazurecli" => Authentication::AzureCli,
            "activedirectorydefault" => Authentication::Default,
            "sqlpassword" => Authentication::SqlPassword,
            _ => {
                if let Some(&(_, instead)) = UNSUPPORTED_AUTHENTICATION
                    .iter()
                    .find(|(name, _)| normalize(name) == norm)
                {
                    return Err(ConfigError::UnsupportedAuthentication {
                        value: value.trim().to_owned(),
                        instead,
                    });
                }
                let names = AUTHENTICATION_NAMES.iter().copied();
                return Err(ConfigError::UnknownAuthentication {
                    value: shorten(value.trim()),
                    suggestion: nearest(&norm, names),
                });
            }
        };
        Ok(mode)
    }
}

/// Accepted spellings, for suggestions.
const AUTHENTICATION_NAMES: &[&str] = &[
    "Active Directory Workload Identity",
    "Active Directory Managed Identity",
    "Active Directory MSI",
    "Active Directory Service Principal",
    "Active Directory Azure CLI",
    "Active Directory Default",
    "Sql Password",
];

/// SqlClient modes this library refuses, with what to use instead.
const UNSUPPORTED_AUTHENTICATION: &[(&str, &str)] = &[
    (
        "Active Directory Password",
        "the username/password flow (ROPC) is deprecated by Microsoft and fails for accounts with \
         MFA; use `Active Directory Service Principal` for an application, or `Active Directory \
         Azure CLI` / `Active Directory Default` for a developer",
    ),
    (
        "Active Directory Interactive",
        "a service has no browser; on a developer machine run `az login` and use `Active \
         Directory Azure CLI` or `Active Directory Default`",
    ),
    (
        "Active Directory Device Code Flow",
        "run `az login --use-device-code` once and use `Active Directory Azure CLI` or `Active \
         Directory Default`",
    ),
    (
        "Active Directory Integrated",
        "Windows/Kerberos integrated login is not available here; use `Active Directory Managed \
         Identity`, `Active Directory Workload Identity` or `Active Directory Default`",
    ),
    (
        "Active Directory Developer Tools",
        "there is no such SqlClient mode; use `Active Directory Azure CLI` (after `az login`) or \
         `Active Directory Default`",
    ),
];

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

impl Encrypt {
    /// The connection-string spelling (`True`, `Strict`, `False`).
    pub fn as_str(self) -> &'static str {
        match self {
            Encrypt::Mandatory => "True",
            Encrypt::Strict => "Strict",
            Encrypt::Optional => "False",
        }
    }
}

impl fmt::Display for Encrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the `Encrypt` keyword's value, case-insensitively.
impl FromStr for Encrypt {
    type Err = ConfigError;

    fn from_str(value: &str) -> Result<Self, ConfigError> {
        match normalize(value).as_str() {
            "true" | "yes" | "mandatory" => Ok(Encrypt::Mandatory),
            "false" | "no" | "optional" => Ok(Encrypt::Optional),
            "strict" => Ok(Encrypt::Strict),
            _ => Err(ConfigError::InvalidValue {
                keyword: "Encrypt",
                value: shorten(value.trim()),
                expected:
                    "`True` (or `Yes`, `Mandatory`), `False` (or `No`, `Optional`) or `Strict`",
            }),
        }
    }
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

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// A configuration mistake: each variant names the keyword (or setting, or variable), the bad
/// value (never a password) and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A pair in the connection string has no `=`.
    #[error(
        "connection string: pair {pair}{} has no `=`: write `keyword=value` pairs separated by `;`",
        starts_with.map(|k| format!(" (starting with `{k}`)")).unwrap_or_default()
    )]
    MissingEquals {
        /// 1-based position of the pair.
        pair: usize,
        /// The known keyword the pair starts with, if any (the rest is not shown: it may be a secret).
        starts_with: Option<&'static str>,
    },
    /// A pair in the connection string is `=value` with no keyword.
    #[error("connection string: pair {pair} has a value but no keyword before its `=`")]
    EmptyKeyword {
        /// 1-based position of the pair.
        pair: usize,
    },
    /// A quoted value is not closed.
    #[error(
        "connection string: the quoted value of `{keyword}` has no closing quote; close it, and \
         write a quote inside a quoted value twice (`'it''s'`)"
    )]
    UnterminatedQuote {
        /// The keyword as written.
        keyword: String,
    },
    /// Something follows a quoted value before the next `;`.
    #[error(
        "connection string: unexpected text after the quoted value of `{keyword}`; end the pair \
         with `;` right after the closing quote, and write a quote inside the value twice"
    )]
    TextAfterQuotedValue {
        /// The keyword as written.
        keyword: String,
    },
    /// The pair after an unquoted `Password` does not parse: the password most likely contains
    /// a `;`.
    #[error(
        "connection string: the text after `Password` does not parse, so the password probably \
         contains `;`; quote it: `Password=\"...\"` (and write a `\"` inside it twice)"
    )]
    PasswordNeedsQuoting,
    /// A keyword nobody knows.
    #[error(
        "connection string: unknown keyword `{keyword}`{}; see the keyword table in the `config` module docs",
        suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
    )]
    UnknownKeyword {
        /// The keyword as written.
        keyword: String,
        /// The nearest known keyword.
        suggestion: Option<&'static str>,
    },
    /// A SqlClient keyword (or one of its values) this library does not support.
    #[error("connection string: `{keyword}={value}` is not supported: {reason}")]
    UnsupportedKeyword {
        /// The keyword's canonical name.
        keyword: &'static str,
        /// The value given.
        value: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// A value that is not one of the keyword's accepted values.
    #[error("`{keyword}`: invalid value `{value}`; expected {expected}")]
    InvalidValue {
        /// The keyword's canonical name.
        keyword: &'static str,
        /// The value given (never a password).
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A `{your_...}` placeholder from the Azure portal was left in.
    #[error(
        "`{keyword}` still holds a placeholder from the Azure portal (`{{your_...}}`); replace it \
         with the real value, or remove the keyword"
    )]
    Placeholder {
        /// The keyword's canonical name.
        keyword: &'static str,
    },
    /// No server.
    #[error(
        "no server: set `Server=tcp:<name>.database.windows.net,1433` in the connection string, \
         AZURE_SQL_SERVER in the environment, or `Config::new(host)`"
    )]
    MissingServer,
    /// A `Server` form this library cannot use.
    #[error("`Server={value}` is not supported: {reason}")]
    UnsupportedServer {
        /// The value given.
        value: String,
        /// Why, and what to write instead.
        reason: &'static str,
    },
    /// A malformed `Server` value.
    #[error("`Server={value}` is invalid: {reason}")]
    InvalidServer {
        /// The value given.
        value: String,
        /// What is wrong and the accepted forms.
        reason: &'static str,
    },
    /// An `Authentication` value nobody knows.
    #[error(
        "`Authentication={value}` is unknown{}; accepted: `Active Directory Workload Identity`, \
         `Active Directory Managed Identity` (or `Active Directory MSI`), `Active Directory \
         Service Principal`, `Active Directory Azure CLI`, `Active Directory Default`, `Sql Password`",
        suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
    )]
    UnknownAuthentication {
        /// The value given.
        value: String,
        /// The nearest accepted value.
        suggestion: Option<&'static str>,
    },
    /// A SqlClient authentication mode this library refuses.
    #[error("`Authentication={value}` is not supported: {instead}")]
    UnsupportedAuthentication {
        /// The value given.
        value: String,
        /// What to use instead.
        instead: &'static str,
    },
    /// A `Password` with a mode that needs none.
    #[error(
        "`Password` given with `Authentication={authentication}`, which needs no secret; remove \
         `Password` (or use `Active Directory Service Principal` / `Sql Password` if a secret is \
         really meant)"
    )]
    PasswordWithPasswordless {
        /// The passwordless mode.
        authentication: Authentication,
    },
    /// A keyword the mode requires is missing.
    #[error("`Authentication={authentication}` needs `{keyword}`: {hint}")]
    MissingForAuthentication {
        /// The mode.
        authentication: Authentication,
        /// The missing keyword.
        keyword: &'static str,
        /// What to put there.
        hint: &'static str,
    },
    /// `User Id` with a mode that takes none.
    #[error(
        "`User Id` has no meaning with `Authentication={authentication}`: the Azure CLI uses the \
         account of `az login`; remove `User Id` (select the account with `az login` / `az account set`)"
    )]
    UserIdNotAllowed {
        /// The mode.
        authentication: Authentication,
    },
    /// `User Id` is not a client id.
    #[error(
        "`User Id={value}` is not a client id: with `Authentication={authentication}` it must be \
         the identity's client (application) id, a GUID like `00000000-0000-0000-0000-000000000000`"
    )]
    InvalidClientId {
        /// The mode.
        authentication: Authentication,
        /// The value given.
        value: String,
    },
    /// `TrustServerCertificate=True` with `Encrypt=Strict`.
    #[error(
        "`TrustServerCertificate=True` cannot be combined with `Encrypt=Strict`, which always \
         validates the certificate; trust the server's CA with `Config::trust_root_certificate_file`, \
         or drop `Strict`"
    )]
    TrustServerCertificateWithStrict,
    /// `Pooling=False`.
    #[error(
        "`Pooling=False` is not supported by the pool; remove it, or call the one-shot `connect()` \
         for a single unpooled connection"
    )]
    PoolingDisabled,
    /// `Min Pool Size` above `Max Pool Size`.
    #[error("`Min Pool Size` ({min}) is larger than `Max Pool Size` ({max}); lower it or raise the maximum")]
    MinPoolSizeAboveMax {
        /// Min Pool Size.
        min: u32,
        /// Max Pool Size.
        max: u32,
    },
    /// The authority host is not an https URL.
    #[error(
        "authority host `{value}` is invalid: {reason}; expected an https URL such as \
         `https://login.microsoftonline.com`"
    )]
    InvalidAuthorityHost {
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The tenant id has characters a tenant id cannot have.
    #[error(
        "tenant id `{value}` is invalid: expected a GUID or a domain such as `contoso.onmicrosoft.com` \
         (letters, digits, `-` and `.`)"
    )]
    InvalidTenantId {
        /// The value given.
        value: String,
    },
    /// The token scope is malformed.
    #[error(
        "token scope `{value}` is invalid: expected a resource followed by `/.default`, such as \
         `https://database.windows.net/.default`"
    )]
    InvalidTokenScope {
        /// The value given.
        value: String,
    },
    /// A trusted root certificate that does not parse.
    #[error("trusted root certificate {origin} is not usable: {reason}; give PEM text with at least one `-----BEGIN CERTIFICATE-----` block")]
    InvalidRootCertificate {
        /// Where it came from (a path, or `#n` for PEM given in code).
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// A trusted root certificate file that cannot be read.
    #[error("cannot read the trusted root certificate file {}: {source}; check the path and its permissions", path.display())]
    ReadRootCertificate {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not enough environment variables to build a configuration.
    #[error(
        "missing environment: set AZURE_SQL_CONNECTION_STRING (an ADO.NET connection string), or \
         AZURE_SQL_SERVER and AZURE_SQL_DATABASE (plus optionally AZURE_SQL_AUTHENTICATION and \
         AZURE_SQL_PORT); not set: {}",
        missing.join(", ")
    )]
    MissingEnvironment {
        /// The variables that were needed but not set.
        missing: Vec<&'static str>,
    },
    /// An environment variable whose value is wrong.
    #[error("environment variable {variable}: {source}")]
    InvalidEnvironment {
        /// The variable.
        variable: &'static str,
        /// What is wrong with its value.
        source: Box<ConfigError>,
    },
    /// A setting the token source needs is neither configured nor in the environment.
    #[error("`Authentication={authentication}` needs the {setting}: {how}")]
    MissingCredentialSetting {
        /// The mode.
        authentication: Authentication,
        /// What is missing (`tenant id`, `client id`, `federated token file`).
        setting: &'static str,
        /// Where to set it.
        how: &'static str,
    },
    /// The HTTPS client for Entra could not be built.
    #[error("cannot build the HTTPS client for Microsoft Entra ID: {reason}")]
    HttpClient {
        /// What failed (typically a trusted root certificate).
        reason: String,
    },
}

/// Everything needed to open connections. Build it from a connection string
/// (`"Server=...".parse()`), from the environment ([`Config::from_env`]) or with the setters.
///
/// Setters never fail; [`Config::validate`] checks the whole (the parser and the environment
/// reader call it, and so does building a token provider or a pool).
///
/// ```
/// use azure_sql_passwordless::{Authentication, Config, Encrypt};
/// use std::time::Duration;
///
/// let mut config = Config::new("myserver.database.windows.net");
/// config
///     .database("mydb")
///     .authentication(Authentication::WorkloadIdentity)
///     .encrypt(Encrypt::Strict)
///     .connect_timeout(Duration::from_secs(10));
/// config.validate()?;
/// assert_eq!(config.get_database(), Some("mydb"));
/// # Ok::<(), azure_sql_passwordless::ConfigError>(())
/// ```
#[derive(Clone)]
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
    pub(crate) application_intent: ApplicationIntent,
    pub(crate) workstation_id: Option<String>,
    pub(crate) packet_size: Option<u32>,
    // Not ADO.NET keywords: set in code or from the environment.
    pub(crate) token_scope: Option<String>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) authority_host: Option<String>,
    pub(crate) federated_token_file: Option<PathBuf>,
    pub(crate) trusted_root_pem: Vec<Vec<u8>>,
}

/// Shows every setting except the password (and the certificates' bytes, only their count).
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("authentication", &self.authentication)
            .field("user_id", &self.user_id)
            .field("password", &self.password)
            .field("encrypt", &self.encrypt)
            .field("trust_server_certificate", &self.trust_server_certificate)
            .field("host_name_in_certificate", &self.host_name_in_certificate)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("connect_retry_count", &self.connect_retry_count)
            .field("connect_retry_interval", &self.connect_retry_interval)
            .field("application_name", &self.application_name)
            .field("max_pool_size", &self.max_pool_size)
            .field("min_pool_size", &self.min_pool_size)
            .field("connection_lifetime", &self.connection_lifetime)
            .field("application_intent", &self.application_intent)
            .field("workstation_id", &self.workstation_id)
            .field("packet_size", &self.packet_size)
            .field("token_scope", &self.token_scope)
            .field("tenant_id", &self.tenant_id)
            .field("authority_host", &self.authority_host)
            .field("federated_token_file", &self.federated_token_file)
            .field("trusted_root_certificates", &self.trusted_root_pem.len())
            .finish()
    }
}

/// The configuration as a connection string for logs: every setting that differs from the
/// default, the password shown as `<redacted>`, the non-ADO settings left out. Without a
/// password it parses back to the same settings.
///
/// ```
/// # use azure_sql_passwordless::Config;
/// let config: Config = "Data Source=s.database.windows.net;Initial Catalog=db;Password=hunter2;UID=sa".parse()?;
/// assert_eq!(
///     config.to_string(),
///     "Server=tcp:s.database.windows.net,1433;Database=db;Authentication=Sql Password;User Id=sa;Password=<redacted>"
/// );
/// # Ok::<(), azure_sql_passwordless::ConfigError>(())
/// ```
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let defaults = Config::new("");
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "Server=tcp:{host},{}", self.port)?;
        let mut pair = |keyword: &str, value: &str| write!(f, ";{keyword}={}", quote(value));
        if let Some(db) = &self.database {
            pair("Database", db)?;
        }
        pair("Authentication", self.authentication.as_str())?;
        if let Some(user) = &self.user_id {
            pair("User Id", user)?;
        }
        if self.password.is_some() {
            pair("Password", "<redacted>")?;
        }
        if self.encrypt != defaults.encrypt {
            pair("Encrypt", self.encrypt.as_str())?;
        }
        if self.trust_server_certificate {
            pair("TrustServerCertificate", "True")?;
        }
        if let Some(name) = &self.host_name_in_certificate {
            pair("HostNameInCertificate", name)?;
        }
        let secs = |d: Duration| d.as_secs().to_string();
        if self.connect_timeout != defaults.connect_timeout {
            pair("Connect Timeout", &secs(self.connect_timeout))?;
        }
        if self.command_timeout != defaults.command_timeout {
            pair(
                "Command Timeout",
                &self.command_timeout.map_or("0".to_owned(), secs),
            )?;
        }
        if self.connect_retry_count != defaults.connect_retry_count {
            pair("Connect Retry Count", &self.connect_retry_count.to_string())?;
        }
        if self.connect_retry_interval != defaults.connect_retry_interval {
            pair("Connect Retry Interval", &secs(self.connect_retry_interval))?;
        }
        if self.application_name != defaults.application_name {
            pair("Application Name", &self.application_name)?;
        }
        if self.max_pool_size != defaults.max_pool_size {
            pair("Max Pool Size", &self.max_pool_size.to_string())?;
        }
        if self.min_pool_size != defaults.min_pool_size {
            pair("Min Pool Size", &self.min_pool_size.to_string())?;
        }
        if self.connection_lifetime != defaults.connection_lifetime {
            pair("Connection Lifetime", &secs(self.connection_lifetime))?;
        }
        if self.application_intent != defaults.application_intent {
            pair("Application Intent", self.application_intent.as_str())?;
        }
        if let Some(wsid) = &self.workstation_id {
            pair("Workstation ID", wsid)?;
        }
        if let Some(size) = self.packet_size {
            pair("Packet Size", &size.to_string())?;
        }
        Ok(())
    }
}

/// Quotes a value for a connection string when it needs it.
fn quote(value: &str) -> Cow<'_, str> {
    let needs = value.contains(';') || value.starts_with(['"', '\'', ' ']) || value.ends_with(' ');
    if needs {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

/// The default bound on a connection's lifetime (`Connection Lifetime=0` means this).
pub const DEFAULT_CONNECTION_LIFETIME: Duration = Duration::from_secs(600);

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
            connection_lifetime: DEFAULT_CONNECTION_LIFETIME,
            application_intent: ApplicationIntent::ReadWrite,
            workstation_id: None,
            packet_size: None,
            token_scope: None,
            tenant_id: None,
            authority_host: None,
            federated_token_file: None,
            trusted_root_pem: Vec::new(),
        }
    }

    /// Reads the configuration from the process environment: `AZURE_SQL_CONNECTION_STRING`, or
    /// else `AZURE_SQL_SERVER` + `AZURE_SQL_DATABASE` (+ optional `AZURE_SQL_AUTHENTICATION`,
    /// `AZURE_SQL_PORT`). Empty variables count as unset.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_env_with(|name| std::env::var(name).ok())
    }

    /// [`Config::from_env`] with the variables taken from `lookup` (tests pass a map, so they
    /// never mutate the process environment).
    ///
    /// ```
    /// use azure_sql_passwordless::{Authentication, Config};
    /// use std::collections::HashMap;
    ///
    /// let vars = HashMap::from([
    ///     ("AZURE_SQL_SERVER", "myserver.database.windows.net"),
    ///     ("AZURE_SQL_DATABASE", "mydb"),
    ///     ("AZURE_SQL_AUTHENTICATION", "Active Directory Managed Identity"),
    /// ]);
    /// let config = Config::from_env_with(|name| vars.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.get_authentication(), Authentication::ManagedIdentity);
    /// # Ok::<(), azure_sql_passwordless::ConfigError>(())
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let wrap = |variable: &'static str| {
            move |e: ConfigError| ConfigError::InvalidEnvironment {
                variable,
                source: Box::new(e),
            }
        };
        if let Some(s) = get(ENV_CONNECTION_STRING) {
            return s.parse().map_err(wrap(ENV_CONNECTION_STRING));
        }
        let server = get(ENV_SERVER);
        let database = get(ENV_DATABASE);
        let (server, database) = match (server, database) {
            (Some(s), Some(d)) => (s, d),
            (s, d) => {
                let mut missing = Vec::new();
                if s.is_none() {
                    missing.push(ENV_SERVER);
                }
                if d.is_none() {
                    missing.push(ENV_DATABASE);
                }
                return Err(ConfigError::MissingEnvironment { missing });
            }
        };
        let (host, port) = parse_server(&server).map_err(wrap(ENV_SERVER))?;
        let mut config = Config::new(host);
        if let Some(port) = port {
            config.port = port;
        }
        if let Some(p) = get(ENV_PORT) {
            let invalid = || ConfigError::InvalidValue {
                keyword: "port",
                value: shorten(p.trim()),
                expected:
                    "a TCP port from 1 to 65535, matching the one in AZURE_SQL_SERVER if it has one",
            };
            let p_num = p
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|n| *n != 0 && port.is_none_or(|given| given == *n))
                .ok_or_else(|| wrap(ENV_PORT)(invalid()))?;
            config.port = p_num;
        }
        config.database = Some(database.trim().to_owned());
        if let Some(a) = get(ENV_AUTHENTICATION) {
            config.authentication = a.parse().map_err(wrap(ENV_AUTHENTICATION))?;
        }
        config.validate()?;
        Ok(config)
    }

    // ----- setters -------------------------------------------------------------------------

    /// The server's DNS name (or IP address).
    pub fn host(&mut self, host: impl Into<String>) -> &mut Self {
        self.host = host.into();
        self
    }
    /// The TCP port (1433).
    pub fn port(&mut self, port: u16) -> &mut Self {
        self.port = port;
        self
    }
    /// The database (`Database`).
    pub fn database(&mut self, database: impl Into<String>) -> &mut Self {
        self.database = Some(database.into());
        self
    }
    /// How to obtain a token (`Authentication`).
    pub fn authentication(&mut self, authentication: Authentication) -> &mut Self {
        self.authentication = authentication;
        self
    }
    /// `User Id`: a client id for Entra modes, a login for `Sql Password`.
    pub fn user_id(&mut self, user_id: impl Into<String>) -> &mut Self {
        let user_id: String = user_id.into();
        self.user_id = Some(unbraced_guid(&user_id).to_owned());
        self
    }
    /// `Password`: the client secret (`Service Principal`) or the SQL password.
    pub fn password(&mut self, password: impl Into<Secret>) -> &mut Self {
        self.password = Some(password.into());
        self
    }
    /// `Encrypt`.
    pub fn encrypt(&mut self, encrypt: Encrypt) -> &mut Self {
        self.encrypt = encrypt;
        self
    }
    /// `TrustServerCertificate`: skip certificate validation (local containers only; logged as a
    /// warning at every connect). Prefer [`Config::trust_root_certificate_file`].
    pub fn trust_server_certificate(&mut self, trust: bool) -> &mut Self {
        self.trust_server_certificate = trust;
        self
    }
    /// `HostNameInCertificate`.
    pub fn host_name_in_certificate(&mut self, name: impl Into<String>) -> &mut Self {
        self.host_name_in_certificate = Some(name.into());
        self
    }
    /// `Connect Timeout`: one attempt's TCP connect + TLS + login.
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.connect_timeout = timeout;
        self
    }
    /// `Command Timeout`; `None` for no limit.
    pub fn command_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.command_timeout = timeout;
        self
    }
    /// `Connect Retry Count`.
    pub fn connect_retry_count(&mut self, count: u8) -> &mut Self {
        self.connect_retry_count = u32::from(count);
        self
    }
    /// `Connect Retry Interval` (1 to 60 s).
    pub fn connect_retry_interval(&mut self, interval: Duration) -> &mut Self {
        self.connect_retry_interval = interval;
        self
    }
    /// `Application Name`.
    pub fn application_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.application_name = name.into();
        self
    }
    /// `Max Pool Size`.
    pub fn max_pool_size(&mut self, size: u32) -> &mut Self {
        self.max_pool_size = size;
        self
    }
    /// `Min Pool Size`.
    pub fn min_pool_size(&mut self, size: u32) -> &mut Self {
        self.min_pool_size = size;
        self
    }
    /// `Connection Lifetime`; [`Duration::ZERO`] means [`DEFAULT_CONNECTION_LIFETIME`].
    pub fn connection_lifetime(&mut self, lifetime: Duration) -> &mut Self {
        self.connection_lifetime = if lifetime.is_zero() {
            DEFAULT_CONNECTION_LIFETIME
        } else {
            lifetime
        };
        self
    }
    /// `Application Intent`: [`ApplicationIntent::ReadOnly`] for a read-only replica.
    pub fn application_intent(&mut self, intent: ApplicationIntent) -> &mut Self {
        self.application_intent = intent;
        self
    }
    /// `Workstation ID`: the client name the server shows (`HOST_NAME()`).
    pub fn workstation_id(&mut self, name: impl Into<String>) -> &mut Self {
        self.workstation_id = Some(name.into());
        self
    }
    /// `Packet Size` (512 to 32767 bytes).
    pub fn packet_size(&mut self, bytes: u32) -> &mut Self {
        self.packet_size = Some(bytes);
        self
    }
    /// The token scope, when the DNS-suffix table does not fit (a sovereign Synapse workspace).
    pub fn token_scope(&mut self, scope: impl Into<String>) -> &mut Self {
        self.token_scope = Some(scope.into());
        self
    }
    /// The Entra tenant (else `AZURE_TENANT_ID`).
    pub fn tenant_id(&mut self, tenant_id: impl Into<String>) -> &mut Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }
    /// The Entra authority, an https URL (else `AZURE_AUTHORITY_HOST`, else the server's cloud).
    pub fn authority_host(&mut self, authority_host: impl Into<String>) -> &mut Self {
        self.authority_host = Some(authority_host.into());
        self
    }
    /// The projected service-account token file (else `AZURE_FEDERATED_TOKEN_FILE`).
    pub fn federated_token_file(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.federated_token_file = Some(path.into());
        self
    }
    /// Adds CA certificates (PEM text, one or more) that both the SQL TLS connection and the
    /// Entra HTTPS client trust, on top of the system's roots. This is how tests trust the
    /// sandbox's CA; checked by [`Config::validate`].
    pub fn trust_root_certificate_pem(&mut self, pem: impl Into<Vec<u8>>) -> &mut Self {
        self.trusted_root_pem.push(pem.into());
        self
    }
    /// Reads a PEM file and adds its CA certificates, as [`Config::trust_root_certificate_pem`].
    pub fn trust_root_certificate_file(
        &mut self,
        path: impl AsRef<Path>,
    ) -> Result<&mut Self, ConfigError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|source| ConfigError::ReadRootCertificate {
            path: path.to_owned(),
            source,
        })?;
        check_pem(&pem, || path.display().to_string())?;
        self.trusted_root_pem.push(pem);
        Ok(self)
    }

    // ----- getters -------------------------------------------------------------------------

    /// The server's host.
    pub fn get_host(&self) -> &str {
        &self.host
    }
    /// The TCP port.
    pub fn get_port(&self) -> u16 {
        self.port
    }
    /// The database, if set.
    pub fn get_database(&self) -> Option<&str> {
        self.database.as_deref()
    }
    /// The authentication mode.
    pub fn get_authentication(&self) -> Authentication {
        self.authentication
    }
    /// `User Id`, if set.
    pub fn get_user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }
    /// The password or client secret, if set (redacted in `Debug`).
    pub fn get_password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }
    /// `Encrypt`.
    pub fn get_encrypt(&self) -> Encrypt {
        self.encrypt
    }
    /// `TrustServerCertificate`.
    pub fn get_trust_server_certificate(&self) -> bool {
        self.trust_server_certificate
    }
    /// `HostNameInCertificate`, if set.
    pub fn get_host_name_in_certificate(&self) -> Option<&str> {
        self.host_name_in_certificate.as_deref()
    }
    /// `Connect Timeout`.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// `Command Timeout` (`None`: no limit).
    pub fn get_command_timeout(&self) -> Option<Duration> {
        self.command_timeout
    }
    /// `Connect Retry Count`.
    pub fn get_connect_retry_count(&self) -> u32 {
        self.connect_retry_count
    }
    /// `Connect Retry Interval`.
    pub fn get_connect_retry_interval(&self) -> Duration {
        self.connect_retry_interval
    }
    /// `Application Name`.
    pub fn get_application_name(&self) -> &str {
        &self.application_name
    }
    /// `Max Pool Size`.
    pub fn get_max_pool_size(&self) -> u32 {
        self.max_pool_size
    }
    /// `Min Pool Size`.
    pub fn get_min_pool_size(&self) -> u32 {
        self.min_pool_size
    }
    /// `Connection Lifetime` (never zero).
    pub fn get_connection_lifetime(&self) -> Duration {
        self.connection_lifetime
    }
    /// `Application Intent`.
    pub fn get_application_intent(&self) -> ApplicationIntent {
        self.application_intent
    }
    /// `Workstation ID` (`None`: the machine's host name is sent).
    pub fn get_workstation_id(&self) -> Option<&str> {
        self.workstation_id.as_deref()
    }
    /// `Packet Size` (`None`: the driver's default).
    pub fn get_packet_size(&self) -> Option<u32> {
        self.packet_size
    }
    /// The effective token scope: the explicit one, else the one of the server's DNS suffix (see
    /// the table in the module docs).
    pub fn get_token_scope(&self) -> &str {
        match &self.token_scope {
            Some(scope) => scope,
            None => cloud_for_host(&self.host).scope,
        }
    }
    /// The explicitly configured tenant id, if any.
    pub fn get_tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
    /// The explicitly configured authority host, if any.
    pub fn get_authority_host(&self) -> Option<&str> {
        self.authority_host.as_deref()
    }
    /// The Entra authority of the server's cloud (from its DNS suffix), used when neither
    /// [`Config::authority_host`] nor `AZURE_AUTHORITY_HOST` is set.
    pub fn cloud_authority_host(&self) -> &'static str {
        cloud_for_host(&self.host).authority
    }
    /// The explicitly configured federated token file, if any.
    pub fn get_federated_token_file(&self) -> Option<&Path> {
        self.federated_token_file.as_deref()
    }
    /// The extra trusted root certificates, as PEM texts.
    pub fn get_trusted_root_certificates(&self) -> &[Vec<u8>] {
        &self.trusted_root_pem
    }

    // ----- validation ----------------------------------------------------------------------

    /// Checks the configuration as a whole: the rules of the keyword table, the cross-keyword
    /// rules, and the non-ADO settings (https authority, tenant id, scope, certificates).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let host = self.host.trim();
        if host.is_empty() {
            return Err(ConfigError::MissingServer);
        }
        if host.contains(',') || host.to_ascii_lowercase().starts_with("tcp:") {
            return Err(ConfigError::InvalidServer {
                value: shorten(host),
                reason:
                    "`Config::new` and `host()` take a bare host name; set the port with `port()`",
            });
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c == ';' || c == '\\' || c == '/')
        {
            return Err(ConfigError::InvalidServer {
                value: shorten(host),
                reason: "a host name cannot contain spaces, `;`, `/` or `\\`",
            });
        }
        if self.port == 0 {
            return Err(ConfigError::InvalidServer {
                value: format!("{host},0"),
                reason: "the port must be from 1 to 65535 (Azure SQL listens on 1433)",
            });
        }
        if let Some(db) = &self.database {
            check_len("Database", db)?;
        }
        if let Some(wsid) = &self.workstation_id {
            check_len("Workstation ID", wsid)?;
        }
        if let Some(size) = self.packet_size {
            if !(512..=32767).contains(&size) {
                return Err(ConfigError::InvalidValue {
                    keyword: "Packet Size",
                    value: size.to_string(),
                    expected: "a whole number of bytes from 512 to 32767",
                });
            }
        }
        if let Some(name) = &self.host_name_in_certificate {
            if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
                return Err(ConfigError::InvalidValue {
                    keyword: "HostNameInCertificate",
                    value: shorten(name),
                    expected: "a DNS name without spaces, such as `*.database.windows.net`",
                });
            }
        }
        if self.connect_timeout < Duration::from_secs(1) {
            return Err(ConfigError::InvalidValue {
                keyword: "Connect Timeout",
                value: format!("{:?}", self.connect_timeout),
                expected: "at least 1 second (waiting forever is not offered)",
            });
        }
        if self.command_timeout.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::InvalidValue {
                keyword: "Command Timeout",
                value: "0s".to_owned(),
                expected: "a positive duration, or `None` for no limit",
            });
        }
        if self.connect_retry_count > 255 {
            return Err(ConfigError::InvalidValue {
                keyword: "Connect Retry Count",
                value: self.connect_retry_count.to_string(),
                expected: "a whole number from 0 to 255",
            });
        }
        if self.connect_retry_interval < Duration::from_secs(1)
            || self.connect_retry_interval > Duration::from_secs(60)
        {
            return Err(ConfigError::InvalidValue {
                keyword: "Connect Retry Interval",
                value: format!("{:?}", self.connect_retry_interval),
                expected: "from 1 to 60 seconds",
            });
        }
        check_len("Application Name", &self.application_name)?;
        if self.max_pool_size == 0 {
            return Err(ConfigError::InvalidValue {
                keyword: "Max Pool Size",
                value: "0".to_owned(),
                expected: "at least 1",
            });
        }
        if self.min_pool_size > self.max_pool_size {
            return Err(ConfigError::MinPoolSizeAboveMax {
                min: self.min_pool_size,
                max: self.max_pool_size,
            });
        }
        if self.connection_lifetime.is_zero() {
            return Err(ConfigError::InvalidValue {
                keyword: "Connection Lifetime",
                value: "0s".to_owned(),
                expected: "a positive duration",
            });
        }
        if self.trust_server_certificate && self.encrypt == Encrypt::Strict {
            return Err(ConfigError::TrustServerCertificateWithStrict);
        }
        self.validate_authentication()?;
        self.warn_without_database();
        if let Some(scope) = &self.token_scope {
            let ok = !scope.is_empty()
                && scope
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'));
            if !ok {
                return Err(ConfigError::InvalidTokenScope {
                    value: shorten(scope),
                });
            }
        }
        if let Some(tenant) = &self.tenant_id {
            validate_tenant_id(tenant)?;
        }
        if let Some(authority) = &self.authority_host {
            validate_authority_host(authority)?;
        }
        for (i, pem) in self.trusted_root_pem.iter().enumerate() {
            check_pem(pem, || format!("#{}", i + 1))?;
        }
        Ok(())
    }

    /// Warns (does not refuse) when an Entra login names no database. Azure SQL then logs it in
    /// to `master`, where a user created `FROM EXTERNAL PROVIDER` in an application database
    /// does not exist: 18456. It is a warning because the same configuration is right for an
    /// identity with a server login in `master` (`CREATE LOGIN ... FROM EXTERNAL PROVIDER`, or
    /// the server's Microsoft Entra admin), which a refusal would lock out.
    fn warn_without_database(&self) {
        let named = self
            .database
            .as_deref()
            .is_some_and(|d| !d.trim().is_empty());
        if self.authentication != Authentication::SqlPassword && !named {
            tracing::warn!(
                authentication = self.authentication.as_str(),
                "no Database= (Initial Catalog) is set: Azure SQL will log this identity in to master, where a contained database user (CREATE USER ... FROM EXTERNAL PROVIDER) does not exist and the login fails with 18456; set Database= to the application database"
            );
        }
    }

    fn validate_authentication(&self) -> Result<(), ConfigError> {
        let auth = self.authentication;
        let user_id = self
            .user_id
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let has_password = self.password.as_ref().is_some_and(|p| !p.0.is_empty());
        if auth.is_passwordless() && has_password {
            return Err(ConfigError::PasswordWithPasswordless {
                authentication: auth,
            });
        }
        match auth {
            Authentication::ServicePrincipal => {
                let Some(user_id) = user_id else {
                    return Err(ConfigError::MissingForAuthentication {
                        authentication: auth,
                        keyword: "User Id",
                        hint: "the application (client) id of the app registration",
                    });
                };
                check_client_id(auth, user_id)?;
                if !has_password {
                    return Err(ConfigError::MissingForAuthentication {
                        authentication: auth,
                        keyword: "Password",
                        hint: "a client secret of the app registration",
                    });
                }
            }
            Authentication::SqlPassword => {
                let Some(user_id) = user_id else {
                    return Err(ConfigError::MissingForAuthentication {
                        authentication: auth,
                        keyword: "User Id",
                        hint: "the SQL login name",
                    });
                };
                check_len("User Id", user_id)?;
                if !has_password {
                    return Err(ConfigError::MissingForAuthentication {
                        authentication: auth,
                        keyword: "Password",
                        hint: "the SQL login's password",
                    });
                }
                if self
                    .password
                    .as_ref()
                    .is_some_and(|p| p.0.chars().count() > 128)
                {
                    return Err(ConfigError::InvalidValue {
                        keyword: "Password",
                        value: "<redacted>".to_owned(),
                        expected:
                            "at most 128 characters (SQL Server's limit for a login password)",
                    });
                }
            }
            Authentication::AzureCli => {
                if user_id.is_some() {
                    return Err(ConfigError::UserIdNotAllowed {
                        authentication: auth,
                    });
                }
            }
            Authentication::WorkloadIdentity
            | Authentication::ManagedIdentity
            | Authentication::Default => {
                if let Some(user_id) = user_id {
                    check_client_id(auth, user_id)?;
                }
            }
        }
        Ok(())
    }
}

/// Parses an ADO.NET connection string (see the keyword table in the module docs), then
/// [`validate`](Config::validate)s the result.
impl FromStr for Config {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Config, ConfigError> {
        let pairs = split_pairs(s)?;
        let mut config = Config::new("");
        let mut authentication_given = false;
        let mut previous_unquoted_password = false;
        for pair in &pairs {
            let after_password = std::mem::replace(
                &mut previous_unquoted_password,
                is_password_key(pair.key) && !pair.quoted,
            );
            let result = apply(&mut config, pair, &mut authentication_given);
            match result {
                Err(ConfigError::UnknownKeyword { .. }) if after_password => {
                    return Err(ConfigError::PasswordNeedsQuoting);
                }
                other => other?,
            }
        }
        if !authentication_given {
            config.authentication = if config.password.is_some() {
                Authentication::SqlPassword
            } else {
                Authentication::Default
            };
        }
        config.validate()?;
        Ok(config)
    }
}

// ----- the keyword table -------------------------------------------------------------------

/// The keywords this library understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Server,
    Database,
    Authentication,
    UserId,
    Password,
    Encrypt,
    TrustServerCertificate,
    HostNameInCertificate,
    ConnectTimeout,
    CommandTimeout,
    ConnectRetryCount,
    ConnectRetryInterval,
    ApplicationName,
    MaxPoolSize,
    MinPoolSize,
    ConnectionLifetime,
    Pooling,
    PersistSecurityInfo,
    MultipleActiveResultSets,
    IntegratedSecurity,
    Enlist,
    ApplicationIntent,
    WorkstationId,
    PacketSize,
}

/// One row of the keyword table: canonical name first, then synonyms.
struct Keyword {
    key: Key,
    names: &'static [&'static str],
}

#[rustfmt::skip]
const KEYWORDS: &[Keyword] = &[
    Keyword { key: Key::Server, names: &["Server", "Data Source", "Address", "Addr", "Network Address"] },
    Keyword { key: Key::Database, names: &["Database", "Initial Catalog"] },
    Keyword { key: Key::Authentication, names: &["Authentication"] },
    Keyword { key: Key::UserId, names: &["User Id", "UID", "User"] },
    Keyword { key: Key::Password, names: &["Password", "PWD"] },
    Keyword { key: Key::Encrypt, names: &["Encrypt"] },
    Keyword { key: Key::TrustServerCertificate, names: &["TrustServerCertificate", "Trust Server Certificate"] },
    Keyword { key: Key::HostNameInCertificate, names: &["HostNameInCertificate", "Host Name In Certificate"] },
    Keyword { key: Key::ConnectTimeout, names: &["Connect Timeout", "Connection Timeout", "Timeout"] },
    Keyword { key: Key::CommandTimeout, names: &["Command Timeout"] },
    Keyword { key: Key::ConnectRetryCount, names: &["Connect Retry Count", "ConnectRetryCount"] },
    Keyword { key: Key::ConnectRetryInterval, names: &["Connect Retry Interval", "ConnectRetryInterval"] },
    Keyword { key: Key::ApplicationName, names: &["Application Name", "App"] },
    Keyword { key: Key::MaxPoolSize, names: &["Max Pool Size"] },
    Keyword { key: Key::MinPoolSize, names: &["Min Pool Size"] },
    Keyword { key: Key::ConnectionLifetime, names: &["Connection Lifetime", "Load Balance Timeout"] },
    Keyword { key: Key::Pooling, names: &["Pooling"] },
    Keyword { key: Key::PersistSecurityInfo, names: &["Persist Security Info", "PersistSecurityInfo"] },
    Keyword { key: Key::MultipleActiveResultSets, names: &["MultipleActiveResultSets", "Multiple Active Result Sets"] },
    Keyword { key: Key::IntegratedSecurity, names: &["Integrated Security", "Trusted_Connection"] },
    Keyword { key: Key::Enlist, names: &["Enlist"] },
    Keyword { key: Key::ApplicationIntent, names: &["Application Intent", "ApplicationIntent"] },
    Keyword { key: Key::WorkstationId, names: &["Workstation ID", "WSID"] },
    Keyword { key: Key::PacketSize, names: &["Packet Size"] },
];

/// SqlClient keywords this library does not implement: the values that are harmless (equal to
/// the behaviour we have) are accepted; anything else is refused with the reason.
struct Unsupported {
    names: &'static [&'static str],
    accepts: &'static [&'static str],
    reason: &'static str,
}

#[rustfmt::skip]
const UNSUPPORTED: &[Unsupported] = &[
    Unsupported { names: &["MultiSubnetFailover", "Multi Subnet Failover"], accepts: &["false", "no"], reason: "parallel connects to availability-group listeners are not implemented (Azure SQL Database does not need them)" },
    Unsupported { names: &["Column Encryption Setting"], accepts: &["disabled"], reason: "Always Encrypted is not supported: encrypted columns would come back as ciphertext" },
    Unsupported { names: &["Enclave Attestation Url", "Attestation Protocol"], accepts: &[], reason: "Always Encrypted with secure enclaves is not supported" },
    Unsupported { names: &["Pool Blocking Period", "PoolBlockingPeriod"], accepts: &["auto"], reason: "the pool's own retry policy applies; remove it" },
    Unsupported { names: &["Network Library", "Network", "Net"], accepts: &["dbmssocn"], reason: "only TCP (`DBMSSOCN`) is supported" },
    Unsupported { names: &["Current Language", "Language"], accepts: &[], reason: "run `SET LANGUAGE` after connecting instead" },
    Unsupported { names: &["Failover Partner"], accepts: &[], reason: "database mirroring does not exist in Azure SQL; use a failover group's listener as `Server`" },
    Unsupported { names: &["Failover Partner SPN", "FailoverPartnerSPN", "Server SPN", "ServerSPN"], accepts: &[], reason: "Kerberos is not used: authentication is by Entra token" },
    Unsupported { names: &["AttachDBFilename", "Extended Properties", "Initial File Name"], accepts: &[], reason: "attaching database files (LocalDB) is not available" },
    Unsupported { names: &["User Instance"], accepts: &["false", "no"], reason: "user instances (SQL Express) are not available" },
    Unsupported { names: &["Context Connection"], accepts: &["false", "no"], reason: "context connections exist only inside SQL CLR" },
    Unsupported { names: &["Replication"], accepts: &["false", "no"], reason: "replication connections are not supported" },
    Unsupported { names: &["Transaction Binding"], accepts: &[], reason: "there are no ambient transactions to bind to" },
    Unsupported { names: &["Type System Version"], accepts: &["latest"], reason: "the type system is fixed by the driver" },
    Unsupported { names: &["Server Certificate", "ServerCertificate"], accepts: &[], reason: "certificate pinning by file is not supported; trust the server's CA with `Config::trust_root_certificate_file`" },
    Unsupported { names: &["IP Address Preference", "IPAddressPreference"], accepts: &["ipv4first"], reason: "addresses are tried in the resolver's order" },
    Unsupported { names: &["Connection Reset", "ConnectionReset"], accepts: &["true", "yes"], reason: "connections are always reset when reused" },
    Unsupported { names: &["Asynchronous Processing", "Async"], accepts: &["true", "false", "yes", "no"], reason: "it takes `True` or `False` and is ignored (every call is asynchronous)" },
];

// Environment variables read by `from_env`.
const ENV_CONNECTION_STRING: &str = "AZURE_SQL_CONNECTION_STRING";
const ENV_SERVER: &str = "AZURE_SQL_SERVER";
const ENV_DATABASE: &str = "AZURE_SQL_DATABASE";
const ENV_AUTHENTICATION: &str = "AZURE_SQL_AUTHENTICATION";
const ENV_PORT: &str = "AZURE_SQL_PORT";

fn lookup_keyword(norm: &str) -> Option<&'static Keyword> {
    KEYWORDS
        .iter()
        .find(|k| k.names.iter().any(|n| normalize(n) == norm))
}

fn lookup_unsupported(norm: &str) -> Option<&'static Unsupported> {
    UNSUPPORTED
        .iter()
        .find(|k| k.names.iter().any(|n| normalize(n) == norm))
}

fn is_password_key(key: &str) -> bool {
    lookup_keyword(&normalize(key)).is_some_and(|k| k.key == Key::Password)
}

/// Applies one parsed pair to the configuration.
fn apply(
    config: &mut Config,
    pair: &Pair<'_>,
    authentication_given: &mut bool,
) -> Result<(), ConfigError> {
    let norm = normalize(pair.key);
    let Some(keyword) = lookup_keyword(&norm) else {
        if let Some(unsupported) = lookup_unsupported(&norm) {
            let value = normalize(&pair.value);
            if value.is_empty() || unsupported.accepts.contains(&value.as_str()) {
                return Ok(());
            }
            return Err(ConfigError::UnsupportedKeyword {
                keyword: unsupported.names[0],
                value: shorten(pair.value.trim()),
                reason: unsupported.reason,
            });
        }
        let all = KEYWORDS.iter().flat_map(|k| k.names.iter().copied());
        return Err(ConfigError::UnknownKeyword {
            keyword: shorten(pair.key),
            suggestion: nearest(&norm, all),
        });
    };
    let name = keyword.names[0];
    let value: &str = &pair.value;
    if contains_placeholder(value) {
        return Err(ConfigError::Placeholder { keyword: name });
    }
    let trimmed = value.trim();
    let empty = trimmed.is_empty();
    let defaults = Config::new("");
    match keyword.key {
        Key::Server => {
            if empty {
                config.host.clear();
                config.port = defaults.port;
            } else {
                let (host, port) = parse_server(trimmed)?;
                config.host = host;
                config.port = port.unwrap_or(defaults.port);
            }
        }
        Key::Database => {
            config.database = (!empty).then(|| trimmed.to_owned());
        }
        Key::Authentication => {
            if empty {
                *authentication_given = false;
            } else {
                config.authentication = trimmed.parse()?;
                *authentication_given = true;
            }
        }
        Key::UserId => config.user_id = (!empty).then(|| unbraced_guid(trimmed).to_owned()),
        // Quoted passwords keep their spaces; unquoted ones are trimmed like every value.
        Key::Password => {
            let password = if pair.quoted { value } else { trimmed };
            config.password = (!password.is_empty()).then(|| Secret::new(password));
        }
        Key::Encrypt => {
            config.encrypt = if empty {
                defaults.encrypt
            } else {
                trimmed.parse()?
            };
        }
        Key::TrustServerCertificate => {
            config.trust_server_certificate = !empty && parse_bool(name, trimmed)?;
        }
        Key::HostNameInCertificate => {
            config.host_name_in_certificate = (!empty).then(|| trimmed.to_owned());
        }
        Key::ConnectTimeout => {
            config.connect_timeout = if empty {
                defaults.connect_timeout
            } else {
                let secs = parse_number(
                    name,
                    trimmed,
                    1,
                    u32::MAX.into(),
                    "whole seconds, at least 1 (SqlClient's 0, wait forever, is not offered)",
                )?;
                Duration::from_secs(secs)
            };
        }
        Key::CommandTimeout => {
            config.command_timeout = if empty {
                defaults.command_timeout
            } else {
                let secs = parse_number(
                    name,
                    trimmed,
                    0,
                    u32::MAX.into(),
                    "whole seconds; 0 for no limit",
                )?;
                (secs > 0).then(|| Duration::from_secs(secs))
            };
        }
        Key::ConnectRetryCount => {
            config.connect_retry_count = if empty {
                defaults.connect_retry_count
            } else {
                parse_number(name, trimmed, 0, 255, "a whole number from 0 to 255")? as u32
            };
        }
        Key::ConnectRetryInterval => {
            config.connect_retry_interval = if empty {
                defaults.connect_retry_interval
            } else {
                Duration::from_secs(parse_number(
                    name,
                    trimmed,
                    1,
                    60,
                    "whole seconds from 1 to 60",
                )?)
            };
        }
        Key::ApplicationName => {
            config.application_name = if empty {
                defaults.application_name
            } else {
                trimmed.to_owned()
            };
        }
        Key::MaxPoolSize => {
            config.max_pool_size = if empty {
                defaults.max_pool_size
            } else {
                parse_number(
                    name,
                    trimmed,
                    1,
                    u32::MAX.into(),
                    "a whole number, at least 1",
                )? as u32
            };
        }
        Key::MinPoolSize => {
            config.min_pool_size = if empty {
                defaults.min_pool_size
            } else {
                parse_number(
                    name,
                    trimmed,
                    0,
                    u32::MAX.into(),
                    "a whole number, at most `Max Pool Size`",
                )? as u32
            };
        }
        Key::ConnectionLifetime => {
            let secs = if empty {
                0
            } else {
                parse_number(
                    name,
                    trimmed,
                    0,
                    u32::MAX.into(),
                    "whole seconds; 0 for the library's bound (600)",
                )?
            };
            config.connection_lifetime(Duration::from_secs(secs));
        }
        Key::Pooling => {
            if !empty && !parse_bool(name, trimmed)? {
                return Err(ConfigError::PoolingDisabled);
            }
        }
        Key::PersistSecurityInfo => {
            if !empty && parse_bool(name, trimmed)? {
                tracing::warn!(
                    keyword = name,
                    "`Persist Security Info=True` is ignored: this library never re-exposes the password"
                );
            }
        }
        Key::MultipleActiveResultSets => {
            if !empty && parse_bool(name, trimmed)? {
                return Err(ConfigError::UnsupportedKeyword {
                    keyword: name,
                    value: trimmed.to_owned(),
                    reason: "MARS is not supported: a connection runs one request at a time; take \
                             one connection per concurrent task from the pool",
                });
            }
        }
        Key::IntegratedSecurity => {
            let refused = !empty && (normalize(trimmed) == "sspi" || parse_bool(name, trimmed)?);
            if refused {
                return Err(ConfigError::UnsupportedKeyword {
                    keyword: name,
                    value: trimmed.to_owned(),
                    reason:
                        "Windows/Kerberos integrated login is not passwordless to Azure SQL; use \
                             `Authentication=Active Directory Managed Identity`, `Active Directory \
                             Workload Identity` or `Active Directory Default`",
                });
            }
        }
        Key::Enlist => {
            if !empty {
                parse_bool(name, trimmed)?;
            }
        }
        Key::ApplicationIntent => {
            config.application_intent = if empty {
                defaults.application_intent
            } else {
                trimmed.parse()?
            };
        }
        Key::WorkstationId => config.workstation_id = (!empty).then(|| trimmed.to_owned()),
        Key::PacketSize => {
            config.packet_size = if empty {
                None
            } else {
                Some(parse_number(
                    name,
                    trimmed,
                    512,
                    32767,
                    "a whole number of bytes from 512 to 32767",
                )? as u32)
            };
        }
    }
    Ok(())
}

// ----- lexing -------------------------------------------------------------------------------

/// One `key=value` pair as written.
#[derive(Debug)]
struct Pair<'a> {
    key: &'a str,
    value: Cow<'a, str>,
    quoted: bool,
}

/// Splits a connection string into pairs (SqlClient's quoting rules; see the module docs).
fn split_pairs(s: &str) -> Result<Vec<Pair<'_>>, ConfigError> {
    let bytes = s.as_bytes();
    let mut pairs: Vec<Pair<'_>> = Vec::new();
    let mut pos = 0;
    loop {
        // Skip separators and blank pairs.
        while pos < bytes.len() && (bytes[pos] == b';' || bytes[pos].is_ascii_whitespace()) {
            pos += 1;
        }
        if pos >= bytes.len() {
            break;
        }
        let pair_no = pairs.len() + 1;
        let key_start = pos;
        while pos < bytes.len() && bytes[pos] != b'=' && bytes[pos] != b';' {
            pos += 1;
        }
        if pos >= bytes.len() || bytes[pos] == b';' {
            let after_password = pairs
                .last()
                .is_some_and(|p| is_password_key(p.key) && !p.quoted);
            if after_password {
                return Err(ConfigError::PasswordNeedsQuoting);
            }
            let text = &s[key_start..pos];
            return Err(ConfigError::MissingEquals {
                pair: pair_no,
                starts_with: known_prefix(text),
            });
        }
        let key = s[key_start..pos].trim();
        if key.is_empty() {
            return Err(ConfigError::EmptyKeyword { pair: pair_no });
        }
        pos += 1; // '='
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos < bytes.len() && (bytes[pos] == b'"' || bytes[pos] == b'\'') {
            let quote = bytes[pos];
            pos += 1;
            let mut value = String::new();
            let mut segment_start = pos;
            loop {
                if pos >= bytes.len() {
                    return Err(ConfigError::UnterminatedQuote {
                        keyword: shorten(key),
                    });
                }
                if bytes[pos] == quote {
                    value.push_str(&s[segment_start..pos]);
                    if pos + 1 < bytes.len() && bytes[pos + 1] == quote {
                        value.push(quote as char);
                        pos += 2;
                        segment_start = pos;
                        continue;
                    }
                    pos += 1;
                    break;
                }
                pos += 1;
            }
            while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if pos < bytes.len() && bytes[pos] != b';' {
                return Err(ConfigError::TextAfterQuotedValue {
                    keyword: shorten(key),
                });
            }
            pairs.push(Pair {
                key,
                value: Cow::Owned(value),
                quoted: true,
            });
        } else {
            let value_start = pos;
            while pos < bytes.len() && bytes[pos] != b';' {
                pos += 1;
            }
            pairs.push(Pair {
                key,
                value: Cow::Borrowed(s[value_start..pos].trim()),
                quoted: false,
            });
        }
    }
    Ok(pairs)
}

/// The known keyword a malformed pair starts with, if any (only the keyword is ever shown).
fn known_prefix(text: &str) -> Option<&'static str> {
    let norm = normalize(text);
    KEYWORDS
        .iter()
        .flat_map(|k| k.names.iter())
        .filter(|n| norm.starts_with(&normalize(n)))
        .max_by_key(|n| normalize(n).len())
        .copied()
}

// ----- values -------------------------------------------------------------------------------

/// Parses `Server`: `[tcp:]host[,port]`, refusing the forms Azure SQL cannot use.
fn parse_server(value: &str) -> Result<(String, Option<u16>), ConfigError> {
    let original = value.trim();
    let err_unsupported = |reason| ConfigError::UnsupportedServer {
        value: shorten(original),
        reason,
    };
    let err_invalid = |reason| ConfigError::InvalidServer {
        value: shorten(original),
        reason,
    };
    let mut rest = original;
    if let Some((protocol, after)) = rest.split_once(':') {
        match protocol.trim().to_ascii_lowercase().as_str() {
            "tcp" => rest = after.trim(),
            "np" => {
                return Err(err_unsupported(
                    "named pipes are not available; use TCP: `tcp:<host>,1433`",
                ))
            }
            "lpc" => {
                return Err(err_unsupported(
                    "shared memory is not available; use TCP: `tcp:localhost,1433`",
                ))
            }
            "admin" => {
                return Err(err_unsupported(
                    "the dedicated admin connection is not supported; use `tcp:<host>,1433`",
                ))
            }
            _ => {}
        }
    }
    let (host, port) = match rest.rsplit_once(',') {
        Some((host, port)) => {
            let port = port.trim();
            let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                err_invalid(
                    "the port after `,` must be a number from 1 to 65535, as in `tcp:<host>,1433`",
                )
            })?;
            (host.trim(), Some(port))
        }
        None => (rest.trim(), None),
    };
    if host.contains('\\') {
        return Err(err_unsupported(
            "named instances (`host\\instance`) need the SQL Browser service, which Azure SQL does \
             not have; give the port instead: `tcp:<host>,<port>`",
        ));
    }
    let host = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .ok_or_else(|| err_invalid("an IPv6 address in brackets needs its closing `]`"))?
    } else {
        host
    };
    if host.is_empty() {
        return Err(err_invalid(
            "the host name is empty; write `tcp:<host>,1433`",
        ));
    }
    let colons = host.matches(':').count();
    if colons == 1 {
        return Err(err_invalid(
            "`host:port` is not the connection-string syntax; separate the port with a comma: `tcp:<host>,1433`",
        ));
    }
    if colons > 1 && host.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(err_invalid(
            "the host is neither a DNS name nor an IP address",
        ));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, ';' | '/' | ',' | '[' | ']'))
    {
        return Err(err_invalid(
            "a host name cannot contain spaces or `;`, `/`, `,`, `[`, `]`",
        ));
    }
    let host = match host.to_ascii_lowercase().as_str() {
        "." | "(local)" | "(localdb)" => {
            if host.eq_ignore_ascii_case("(localdb)") {
                return Err(err_unsupported(
                    "LocalDB is not available; use `tcp:localhost,1433`",
                ));
            }
            "localhost".to_owned()
        }
        _ => host.to_owned(),
    };
    Ok((host, port))
}

fn parse_bool(keyword: &'static str, value: &str) -> Result<bool, ConfigError> {
    match normalize(value).as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(ConfigError::InvalidValue {
            keyword,
            value: shorten(value),
            expected: "`True` (or `Yes`) or `False` (or `No`)",
        }),
    }
}

fn parse_number(
    keyword: &'static str,
    value: &str,
    min: u64,
    max: u64,
    expected: &'static str,
) -> Result<u64, ConfigError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| ConfigError::InvalidValue {
            keyword,
            value: shorten(value),
            expected,
        })
}

/// SQL Server's limit for names (database, login, application name).
fn check_len(keyword: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.chars().count() > 128 {
        return Err(ConfigError::InvalidValue {
            keyword,
            value: shorten(value),
            expected: "at most 128 characters (SQL Server's limit for names)",
        });
    }
    Ok(())
}

/// A client id is a GUID: catches a login name or an object path given as `User Id`.
fn check_client_id(authentication: Authentication, value: &str) -> Result<(), ConfigError> {
    if is_guid(value) {
        Ok(())
    } else {
        Err(ConfigError::InvalidClientId {
            authentication,
            value: shorten(value),
        })
    }
}

pub(crate) fn is_guid(value: &str) -> bool {
    let value = value
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .unwrap_or(value);
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `{8-4-4-4-12}` → the GUID inside: SqlClient and the portal accept a client id in braces, and
/// Entra wants it bare. Anything else is kept as written (a SQL login name, say).
fn unbraced_guid(value: &str) -> &str {
    match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
        Some(inner) if is_guid(value) => inner,
        _ => value,
    }
}

pub(crate) fn validate_tenant_id(value: &str) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidTenantId {
            value: shorten(value),
        })
    }
}

pub(crate) fn validate_authority_host(value: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidAuthorityHost {
        value: shorten(value),
        reason,
    };
    let url = url::Url::parse(value.trim()).map_err(|e| invalid(format!("not a URL ({e})")))?;
    if url.scheme() != "https" {
        return Err(invalid(format!(
            "the scheme is `{}`, not https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "it has a query, a fragment or credentials".to_owned(),
        ));
    }
    Ok(())
}

fn check_pem(pem: &[u8], origin: impl Fn() -> String) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidRootCertificate {
        origin: origin(),
        reason,
    };
    match reqwest::Certificate::from_pem_bundle(pem) {
        Ok(certs) if certs.is_empty() => Err(invalid("it holds no certificate".to_owned())),
        Ok(_) => Ok(()),
        Err(e) => Err(invalid(format!("it does not parse as PEM ({e})"))),
    }
}

fn contains_placeholder(value: &str) -> bool {
    value.to_ascii_lowercase().contains("{your")
}

// ----- the scope table ----------------------------------------------------------------------

/// One row of the DNS-suffix table in the module docs.
pub(crate) struct Cloud {
    suffix: &'static str,
    pub(crate) scope: &'static str,
    pub(crate) authority: &'static str,
}

const PUBLIC_SCOPE: &str = "https://database.windows.net/.default";
const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com";

#[rustfmt::skip]
const CLOUDS: &[Cloud] = &[
    Cloud { suffix: "database.windows.net", scope: PUBLIC_SCOPE, authority: PUBLIC_AUTHORITY },
    Cloud { suffix: "database.chinacloudapi.cn", scope: "https://database.chinacloudapi.cn/.default", authority: "https://login.chinacloudapi.cn" },
    Cloud { suffix: "database.usgovcloudapi.net", scope: "https://database.usgovcloudapi.net/.default", authority: "https://login.microsoftonline.us" },
    Cloud { suffix: "database.cloudapi.de", scope: "https://database.cloudapi.de/.default", authority: "https://login.microsoftonline.de" },
    Cloud { suffix: "sql.azuresynapse.net", scope: PUBLIC_SCOPE, authority: PUBLIC_AUTHORITY },
    Cloud { suffix: "datawarehouse.fabric.microsoft.com", scope: PUBLIC_SCOPE, authority: PUBLIC_AUTHORITY },
    Cloud { suffix: "database.fabric.microsoft.com", scope: PUBLIC_SCOPE, authority: PUBLIC_AUTHORITY },
];

const PUBLIC_CLOUD: Cloud = Cloud {
    suffix: "",
    scope: PUBLIC_SCOPE,
    authority: PUBLIC_AUTHORITY,
};

/// The cloud a host belongs to, by DNS suffix; anything unknown is the public cloud.
pub(crate) fn cloud_for_host(host: &str) -> &'static Cloud {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    CLOUDS
        .iter()
        .find(|c| {
            host.strip_suffix(c.suffix)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        })
        .unwrap_or(&PUBLIC_CLOUD)
}

// ----- helpers ------------------------------------------------------------------------------

/// Lowercase with every whitespace removed: how keywords and enumerated values compare.
fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Bounds a user-supplied value shown in an error (a pasted blob must not flood the logs).
fn shorten(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let mut s: String = value.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// The candidate nearest to `norm` (already normalized) by edit distance, if near enough.
fn nearest(norm: &str, candidates: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let limit = (norm.chars().count() / 3).max(2);
    candidates
        .map(|c| (edit_distance(norm, &normalize(c)), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars, bounded to keep a hostile input cheap.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
