//! The [`Config`] type: its fields and their defaults, the setters and getters, and `Display`
//! as a connection string (for logs, the password redacted).

use super::cloud::cloud_for_host;
use super::error::ConfigError;
use super::settings::{ApplicationIntent, Authentication, Encrypt, IpAddressPreference, Secret};
use super::values::{check_pem, unbraced_guid};
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
///
/// # Connection strings
///
/// `key=value` pairs separated by `;`. Keywords are case- and whitespace-insensitive
/// (`Initial Catalog`, `initialcatalog` and `INITIAL CATALOG` are the same). A value may be quoted
/// with `'` or `"` (needed when it contains `;` or leading/trailing spaces); inside quotes the
/// quote character is written twice (`Password="a""b;c"` is `a"b;c`). Unquoted values are trimmed.
/// Empty pairs and a trailing `;` are ignored; an empty value (`Database=`) means "the default".
/// When a keyword (or two of its synonyms) appears twice, the last one wins, as in SqlClient.
///
/// ```
/// use azure_sql_passwordless::{Authentication, Config};
///
/// let config: Config = "Server=tcp:myserver.database.windows.net,1433;Database=mydb;\
///                       Authentication=Active Directory Workload Identity;Encrypt=True"
///     .parse()?;
/// assert_eq!(config.get_host(), "myserver.database.windows.net");
/// assert_eq!(config.get_authentication(), Authentication::WorkloadIdentity);
/// assert_eq!(config.get_token_scope(), "https://database.windows.net/.default");
/// # Ok::<(), azure_sql_passwordless::ConfigError>(())
/// ```
///
/// ## Keywords
///
/// | Keyword | Synonyms | Values | Default | Notes |
/// |---|---|---|---|---|
/// | `Server` | `Data Source`, `Address`, `Addr`, `Network Address` | `tcp:host,port`, `host,port`, `host`; IPv6 as `[::1],1433` or `::1,1433`; `.`/`(local)` mean `localhost` | required | Named pipes (`np:`), shared memory (`lpc:`), the DAC (`admin:`) and named instances (`host\instance`) are refused: Azure SQL speaks TCP on a port. `host:port` is refused with a hint to write `host,port`. |
/// | `Database` | `Initial Catalog` | a database name (at most 128 characters) | the login's default database (`master` in Azure SQL) | Set it: a contained database user (`CREATE USER ... FROM EXTERNAL PROVIDER`) exists only in its database, and a login to `master` fails with 18456. An Entra configuration without it is logged as a warning at validation (not refused: an identity with a server login in `master` needs none). |
/// | `Authentication` | | `Active Directory Workload Identity`, `Active Directory Managed Identity` (or `Active Directory MSI`), `Active Directory Service Principal`, `Active Directory Azure CLI`, `Active Directory Default`, `Sql Password`; case- and space-insensitive (`ActiveDirectoryDefault`) | `Sql Password` if a `Password` is given, else `Active Directory Default` | SqlClient's `Active Directory Password`, `Interactive`, `Device Code Flow` and `Integrated` are refused with the mode to use instead. There is no `Active Directory Developer Tools`: on a laptop `Active Directory Azure CLI` (or `Default`, which ends with the CLI) is the way. |
/// | `User Id` | `UID`, `User` | a client id (GUID, braces allowed: `{...}` is taken without them) for Entra modes; a login name for `Sql Password` | none | Managed identity: the user-assigned identity's client id (absent: system-assigned). Workload identity and `Default`: overrides `AZURE_CLIENT_ID`. Service principal: the application (client) id, required. Refused with `Azure CLI`. |
/// | `Password` | `PWD` | any (quote it if it contains `;`) | none | The client secret for `Service Principal`, the SQL password for `Sql Password`; refused with every passwordless mode. Never shown by `Debug` or in errors. |
/// | `Encrypt` | | `True`/`Yes`/`Mandatory`, `False`/`No`/`Optional`, `Strict` | `True` | `Strict` is TDS 8.0: TLS before any TDS byte. `False` is accepted and encrypts all the same (SqlClient would encrypt only the login where a server allows it; Azure SQL requires encryption, and this library never sends data in the clear). |
/// | `TrustServerCertificate` | `Trust Server Certificate` | `True`/`Yes`, `False`/`No` | `False` | Skips certificate validation: allowed for local containers, logged as a warning once when a pool or connector is built; refused with `Encrypt=Strict` (as SqlClient does). To trust a private CA, use [`Config::trust_root_certificate_file`] instead. |
/// | `HostNameInCertificate` | `Host Name In Certificate` | a DNS name | the server's host | The name the server's certificate must carry, when it differs from `Server` (private endpoints with custom DNS). |
/// | `Connect Timeout` | `Connection Timeout`, `Timeout` | whole seconds, at least 1 | 15 | Bounds TCP connect + TLS + login of one attempt, all its gateway redirects together (each retry gets its own). SqlClient's `0` (wait forever) is refused. |
/// | `Command Timeout` | | whole seconds; `0` = none | 30 | Per query. After a timeout the connection is discarded. |
/// | `Connect Retry Count` | `ConnectRetryCount` | 0 to 255 | 3 | Retries of a connect that failed with a transient error (Azure SQL's 40613 and friends, I/O, timeouts), with backoff and jitter. |
/// | `Connect Retry Interval` | `ConnectRetryInterval` | 1 to 60 seconds | 10 | The base delay between those retries. |
/// | `Application Name` | `App` | at most 128 characters | `azure-sql-passwordless` | Shown in `sys.dm_exec_sessions.program_name`. |
/// | `Max Pool Size` | | at least 1 | 100 | |
/// | `Min Pool Size` | | 0 to `Max Pool Size` | 0 | Connections kept open while idle. |
/// | `Connection Lifetime` | `Load Balance Timeout` | whole seconds; `0` = the library's bound | 600 | A connection is retired after this long. SqlClient's `0` means "forever"; here it means the default bound, because an unbounded connection would let a revoked role or a dropped user keep working, and Azure SQL may revalidate an old session's token and fail it (37396). |
/// | `Pooling` | | `True` | `True` | `False` is refused: the [`Config`] is for a pool; a program that wants one connection calls the one-shot `connect()`. |
/// | `Persist Security Info` | `PersistSecurityInfo` | `True`, `False` | `False` | Accepted from pasted portal strings. Nothing here ever re-exposes the password (there is no `ConnectionString` getter), so `True` changes nothing and is logged as a warning. |
/// | `MultipleActiveResultSets` | `Multiple Active Result Sets` | `False` | `False` | `True` (MARS) is refused: one connection runs one request at a time; use the pool for concurrency. |
/// | `Integrated Security` | `Trusted_Connection` | `False` | `False` | `True`/`SSPI` (Windows or Kerberos login) is refused: it is not passwordless to Azure SQL; use `Active Directory Managed Identity`, `Workload Identity` or `Default`. |
/// | `Enlist` | | `True`, `False` | | Accepted and ignored: Rust has no ambient `System.Transactions`. |
/// | `Application Intent` | `ApplicationIntent` | `ReadWrite`, `ReadOnly` | `ReadWrite` | `ReadOnly` asks Azure SQL's gateway to route the login to a read-only replica (read scale-out, Premium/Business Critical/Hyperscale); writes there fail. A pool for reads and one for writes is the usual pair. |
/// | `Workstation ID` | `WSID` | at most 128 characters | the machine's host name | Shown in `sys.dm_exec_sessions.host_name` (`HOST_NAME()`): the pod's name, say. |
/// | `Packet Size` | | 512 to 32767 bytes | the driver's 4096 | The TDS packet size asked for; the server may answer with another. |
/// | `IP Address Preference` | | `IPv4First`, `IPv6First`, `UsePlatformDefault` | `IPv4First` | Which of the server name's addresses are tried first (each in turn within `Connect Timeout`), as SqlClient orders them. |
/// | `MultiSubnetFailover` | `Multi Subnet Failover` | `False` | `False` | `True` is refused: parallel connects to an availability-group listener are not implemented (Azure SQL Database does not need them). |
/// | `Column Encryption Setting` | | `Disabled` | `Disabled` | `Enabled` is refused: Always Encrypted is not supported, encrypted columns would come back as ciphertext. |
/// | `Pool Blocking Period` | `PoolBlockingPeriod` | `Auto` | `Auto` | Other values are refused: the pool's own retry policy applies. |
/// | `Network Library` | `Network`, `Net` | `DBMSSOCN` (TCP) | TCP | Anything else is refused: only TCP is supported. |
///
/// Other SqlClient keywords are refused with the reason: `Current Language`, `Failover Partner`, `Failover Partner SPN`, `AttachDBFilename`,
/// `User Instance`, `Context Connection`, `Replication`, `Transaction Binding`,
/// `Type System Version`, `Server Certificate`, `Connection Reset`,
/// `Asynchronous Processing`, `Enclave Attestation Url` (values equal to what this library does
/// anyway, such as `User Instance=False`, pass). An unknown keyword is refused with the nearest
/// known keyword as a suggestion.
///
/// A connection string copied from the Azure portal parses as is (fill in its `{your_...}`
/// placeholders first; a left-over placeholder is reported as such):
///
/// ```
/// # use azure_sql_passwordless::Config;
/// let config: Config = "Server=tcp:myserver.database.windows.net,1433;Initial Catalog=mydb;\
///     Persist Security Info=False;MultipleActiveResultSets=False;Encrypt=True;\
///     TrustServerCertificate=False;Connection Timeout=30;Authentication=\"Active Directory Default\";"
///     .parse()?;
/// assert_eq!(config.get_connect_timeout().as_secs(), 30);
/// # Ok::<(), azure_sql_passwordless::ConfigError>(())
/// ```
///
/// ## Cross-keyword rules
///
/// - `Server` is required.
/// - A `Password` with a passwordless mode (Workload Identity, Managed Identity, Azure CLI,
///   Default) is refused: a secret in a connection string is what this library exists to avoid.
/// - `Service Principal` and `Sql Password` need both `User Id` and `Password`.
/// - `TrustServerCertificate=True` with `Encrypt=Strict` is refused.
/// - `Min Pool Size` must not exceed `Max Pool Size`.
///
/// # Settings that are not ADO.NET keywords
///
/// Set in code (or taken from the `AZURE_*` variables the Azure SDKs read, when the token
/// provider is built): [`Config::token_scope`], [`Config::tenant_id`] (else `AZURE_TENANT_ID`),
/// [`Config::authority_host`] (else `AZURE_AUTHORITY_HOST`, else the cloud of the server's DNS
/// suffix), [`Config::federated_token_file`] (else `AZURE_FEDERATED_TOKEN_FILE`), and extra trusted
/// root certificates ([`Config::trust_root_certificate_pem`],
/// [`Config::trust_root_certificate_file`]) that both the SQL TLS connection and the Entra HTTPS
/// client trust.
///
/// # The token scope
///
/// Unless set explicitly, the scope follows the server's DNS suffix ([`Config::get_token_scope`]):
///
/// | Server DNS suffix | Scope | Entra authority (when none is configured) |
/// |---|---|---|
/// | `database.windows.net` | `https://database.windows.net/.default` | `https://login.microsoftonline.com` |
/// | `database.chinacloudapi.cn` | `https://database.chinacloudapi.cn/.default` | `https://login.chinacloudapi.cn` |
/// | `database.usgovcloudapi.net` | `https://database.usgovcloudapi.net/.default` | `https://login.microsoftonline.us` |
/// | `sql.azuresynapse.net` (Synapse) | `https://database.windows.net/.default` | `https://login.microsoftonline.com` |
/// | `datawarehouse.fabric.microsoft.com`, `database.fabric.microsoft.com` (Fabric) | `https://database.windows.net/.default` | `https://login.microsoftonline.com` |
/// | anything else (`localhost`, private endpoints with custom DNS) | `https://database.windows.net/.default` | `https://login.microsoftonline.com` |
///
/// # The environment
///
/// [`Config::from_env`] reads `AZURE_SQL_CONNECTION_STRING`, or else `AZURE_SQL_SERVER` and
/// `AZURE_SQL_DATABASE` (plus optional `AZURE_SQL_AUTHENTICATION` and `AZURE_SQL_PORT`).
///
/// # Where things are
///
/// | file | job |
/// |---|---|
/// | `config.rs` | [`Config`]: its fields, defaults, setters and getters, and `Display` as a connection string |
/// | `config/connection_string.rs` | the keyword table above, and turning `key=value` pairs into settings |
/// | `config/lexer.rs` | splitting a connection string into `key=value` pairs (quoting, `;`) |
/// | `config/settings.rs` | the enumerated settings: [`Authentication`], [`Encrypt`], [`ApplicationIntent`], and [`Secret`] |
/// | `config/validate.rs` | [`Config::validate`]: the per-keyword and cross-keyword rules |
/// | `config/env.rs` | [`Config::from_env`] and the variables it reads |
/// | `config/cloud.rs` | the DNS-suffix → scope and authority table |
/// | `config/spelling.rs` | how keywords compare (case and spaces ignored) and the nearest spelling for a typo |
/// | `config/error.rs` | [`ConfigError`] |
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
    pub(crate) connect_retry_count: u8,
    pub(crate) connect_retry_interval: Duration,
    pub(crate) application_name: String,
    pub(crate) max_pool_size: u32,
    pub(crate) min_pool_size: u32,
    pub(crate) connection_lifetime: Duration,
    pub(crate) application_intent: ApplicationIntent,
    pub(crate) ip_address_preference: IpAddressPreference,
    pub(crate) workstation_id: Option<String>,
    pub(crate) packet_size: Option<u32>,
    // Not ADO.NET keywords: set in code or from the environment.
    pub(crate) token_scope: Option<String>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) authority_host: Option<String>,
    pub(crate) federated_token_file: Option<PathBuf>,
    pub(crate) trusted_root_pem: Vec<Vec<u8>>,
    /// Set once [`Config::validate`] passed; any setter clears it. The way to a pool checks
    /// (and warns) once, however many steps it takes.
    pub(crate) validated: bool,
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
            .field("ip_address_preference", &self.ip_address_preference)
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
        if self.ip_address_preference != defaults.ip_address_preference {
            pair("IP Address Preference", self.ip_address_preference.as_str())?;
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

// Public as `Config::DEFAULT_CONNECTION_LIFETIME`.
pub(crate) const DEFAULT_CONNECTION_LIFETIME: Duration = Duration::from_secs(600);

impl Config {
    /// The default bound on a connection's lifetime (`Connection Lifetime=0` means this).
    pub const DEFAULT_CONNECTION_LIFETIME: Duration = DEFAULT_CONNECTION_LIFETIME;
}

impl Config {
    /// The `Application Name` sessions show when none is set.
    pub const DEFAULT_APPLICATION_NAME: &'static str = "azure-sql-passwordless";

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
            application_name: Config::DEFAULT_APPLICATION_NAME.to_owned(),
            max_pool_size: 100,
            min_pool_size: 0,
            connection_lifetime: DEFAULT_CONNECTION_LIFETIME,
            application_intent: ApplicationIntent::ReadWrite,
            ip_address_preference: IpAddressPreference::Ipv4First,
            workstation_id: None,
            packet_size: None,
            token_scope: None,
            tenant_id: None,
            authority_host: None,
            federated_token_file: None,
            trusted_root_pem: Vec::new(),
            validated: false,
        }
    }

    // ----- setters -------------------------------------------------------------------------

    /// The server's DNS name (or IP address).
    pub fn host(&mut self, host: impl Into<String>) -> &mut Self {
        self.validated = false;
        self.host = host.into();
        self
    }
    /// The TCP port (1433).
    pub fn port(&mut self, port: u16) -> &mut Self {
        self.validated = false;
        self.port = port;
        self
    }
    /// The database (`Database`).
    pub fn database(&mut self, database: impl Into<String>) -> &mut Self {
        self.validated = false;
        self.database = Some(database.into());
        self
    }
    /// How to obtain a token (`Authentication`).
    pub fn authentication(&mut self, authentication: Authentication) -> &mut Self {
        self.validated = false;
        self.authentication = authentication;
        self
    }
    /// `User Id`: a client id for Entra modes, a login for `Sql Password`.
    pub fn user_id(&mut self, user_id: impl Into<String>) -> &mut Self {
        self.validated = false;
        let user_id: String = user_id.into();
        self.user_id = Some(unbraced_guid(&user_id).to_owned());
        self
    }
    /// `Password`: the client secret (`Service Principal`) or the SQL password.
    pub fn password(&mut self, password: impl Into<Secret>) -> &mut Self {
        self.validated = false;
        self.password = Some(password.into());
        self
    }
    /// `Encrypt`.
    pub fn encrypt(&mut self, encrypt: Encrypt) -> &mut Self {
        self.validated = false;
        self.encrypt = encrypt;
        self
    }
    /// `TrustServerCertificate`: skip certificate validation (local containers only; logged as a
    /// warning when a pool or connector is built). Prefer [`Config::trust_root_certificate_file`].
    pub fn trust_server_certificate(&mut self, trust: bool) -> &mut Self {
        self.validated = false;
        self.trust_server_certificate = trust;
        self
    }
    /// `HostNameInCertificate`.
    pub fn host_name_in_certificate(&mut self, name: impl Into<String>) -> &mut Self {
        self.validated = false;
        self.host_name_in_certificate = Some(name.into());
        self
    }
    /// `Connect Timeout`: one attempt's TCP connect + TLS + login.
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.validated = false;
        self.connect_timeout = timeout;
        self
    }
    /// `Command Timeout`; `None` for no limit.
    pub fn command_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.validated = false;
        self.command_timeout = timeout;
        self
    }
    /// `Connect Retry Count`.
    pub fn connect_retry_count(&mut self, count: u8) -> &mut Self {
        self.validated = false;
        self.connect_retry_count = count;
        self
    }
    /// `Connect Retry Interval` (1 to 60 s).
    pub fn connect_retry_interval(&mut self, interval: Duration) -> &mut Self {
        self.validated = false;
        self.connect_retry_interval = interval;
        self
    }
    /// `Application Name`.
    pub fn application_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.validated = false;
        self.application_name = name.into();
        self
    }
    /// `Max Pool Size`.
    pub fn max_pool_size(&mut self, size: u32) -> &mut Self {
        self.validated = false;
        self.max_pool_size = size;
        self
    }
    /// `Min Pool Size`.
    pub fn min_pool_size(&mut self, size: u32) -> &mut Self {
        self.validated = false;
        self.min_pool_size = size;
        self
    }
    /// `Connection Lifetime`; [`Duration::ZERO`] means [`Config::DEFAULT_CONNECTION_LIFETIME`].
    pub fn connection_lifetime(&mut self, lifetime: Duration) -> &mut Self {
        self.validated = false;
        self.connection_lifetime = if lifetime.is_zero() {
            DEFAULT_CONNECTION_LIFETIME
        } else {
            lifetime
        };
        self
    }
    /// `Application Intent`: [`ApplicationIntent::ReadOnly`] for a read-only replica.
    pub fn application_intent(&mut self, intent: ApplicationIntent) -> &mut Self {
        self.validated = false;
        self.application_intent = intent;
        self
    }
    /// `IP Address Preference`: which of the server's addresses are tried first.
    pub fn ip_address_preference(&mut self, preference: IpAddressPreference) -> &mut Self {
        self.validated = false;
        self.ip_address_preference = preference;
        self
    }
    /// `Workstation ID`: the client name the server shows (`HOST_NAME()`).
    pub fn workstation_id(&mut self, name: impl Into<String>) -> &mut Self {
        self.validated = false;
        self.workstation_id = Some(name.into());
        self
    }
    /// `Packet Size` (512 to 32767 bytes).
    pub fn packet_size(&mut self, bytes: u32) -> &mut Self {
        self.validated = false;
        self.packet_size = Some(bytes);
        self
    }
    /// The token scope, when the DNS-suffix table does not fit (a sovereign Synapse workspace).
    pub fn token_scope(&mut self, scope: impl Into<String>) -> &mut Self {
        self.validated = false;
        self.token_scope = Some(scope.into());
        self
    }
    /// The Entra tenant (else `AZURE_TENANT_ID`).
    pub fn tenant_id(&mut self, tenant_id: impl Into<String>) -> &mut Self {
        self.validated = false;
        self.tenant_id = Some(tenant_id.into());
        self
    }
    /// The Entra authority, an https URL (else `AZURE_AUTHORITY_HOST`, else the server's cloud).
    pub fn authority_host(&mut self, authority_host: impl Into<String>) -> &mut Self {
        self.validated = false;
        self.authority_host = Some(authority_host.into());
        self
    }
    /// The projected service-account token file (else `AZURE_FEDERATED_TOKEN_FILE`).
    pub fn federated_token_file(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.validated = false;
        self.federated_token_file = Some(path.into());
        self
    }
    /// Adds CA certificates (PEM text, one or more) that both the SQL TLS connection and the
    /// Entra HTTPS client trust, on top of the system's roots. This is how tests trust the
    /// sandbox's CA; checked by [`Config::validate`].
    pub fn trust_root_certificate_pem(&mut self, pem: impl Into<Vec<u8>>) -> &mut Self {
        self.validated = false;
        self.trusted_root_pem.push(pem.into());
        self
    }
    /// Reads a PEM file and adds its CA certificates, as [`Config::trust_root_certificate_pem`].
    pub fn trust_root_certificate_file(
        &mut self,
        path: impl AsRef<Path>,
    ) -> Result<&mut Self, ConfigError> {
        self.validated = false;
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
    pub fn get_connect_retry_count(&self) -> u8 {
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
    /// `IP Address Preference`.
    pub fn get_ip_address_preference(&self) -> IpAddressPreference {
        self.ip_address_preference
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
}
