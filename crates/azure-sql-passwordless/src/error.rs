//! The one error type of the runtime surface (tokens, connecting, pooling, querying), and the
//! reading of what went wrong out of the errors of the crates below us: the Entra `AADSTS` code
//! and text out of an `azure_core::Error`, the SQL error number out of a `tiberius::Error`.
//!
//! What it does for callers, and its bounds, is documented on [`Error`].

use crate::config::ConfigError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The result type of this crate's runtime operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong getting a token, connecting, pooling or running a query.
///
/// `Display` says what failed and what to check; it never contains a token or a secret.
/// [`Error::is_transient`] tells whether trying again later may succeed.
///
/// Every variant says what went wrong and what to do about it. No variant ever carries an access
/// token, a client assertion or a password: texts that come from outside (Entra's descriptions,
/// server messages) pass through `redact_jwts` before they are kept.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is wrong (a bad connection string, a missing setting, a credential
    /// that cannot be built): the message names the keyword or variable to fix.
    #[error(transparent)]
    Config(Arc<ConfigError>),

    /// An Entra `Authentication` mode was configured but no token source was given.
    #[error("Authentication={authentication} needs a token source: build the pool with Pool::new (which picks the provider) or pass one with .token_source(..) / .provider(..) / .credential(..)")]
    NoTokenSource {
        /// The configured mode.
        authentication: &'static str,
    },

    /// The identity provider refused or failed to issue an access token, and there is no
    /// cached token to fall back on.
    #[error("could not get an access token from {provider}: {failure}{hint}", hint = Hint(failure.aadsts))]
    TokenAcquisition {
        /// The kind of credential that was asked (`workload identity`, `managed identity`, ...).
        provider: &'static str,
        /// What the provider answered.
        failure: TokenFailure,
    },

    /// The cached token has expired and every attempt to renew it since has failed.
    #[error(
        "the access token expired {expired_ago:.1?} ago and renewing it from {provider} has failed {failures} time(s) in a row: {failure}{hint}",
        hint = Hint(failure.aadsts)
    )]
    TokenExpired {
        /// The kind of credential that was asked.
        provider: &'static str,
        /// How long ago the cached token expired (counted conservatively: see
        /// [`TokenSource::EXPIRY_GRANULARITY`](crate::TokenSource::EXPIRY_GRANULARITY)).
        expired_ago: Duration,
        /// Consecutive failed renewals.
        failures: u32,
        /// The last failure.
        failure: TokenFailure,
    },

    /// The token cache was used outside a Tokio runtime (it renews tokens on a Tokio task).
    #[error("the token source needs a Tokio runtime: call it from code running on one (for example under #[tokio::main])")]
    NoRuntime,

    /// The server refused the login (SQL error 18456). Its text says why (see
    /// [`LoginFailureReason`]); the advice that follows is for that reason.
    #[error(
        "login refused by {server} (error 18456): {message}{stop} {advice}",
        stop = if message.ends_with('.') { "" } else { "." },
        advice = login_advice(database, message)
    )]
    LoginFailed {
        /// `host:port` that answered.
        server: String,
        /// The database the login asked for (`<default>` when none was set).
        database: String,
        /// The server's message.
        message: String,
    },

    /// The statement needs a permission the database user does not have (SQL error 229).
    #[error(
        "permission denied (error 229): {message}. The identity logged in but lacks a role: grant it, for example ALTER ROLE db_datareader ADD MEMBER [<identity name>]"
    )]
    PermissionDenied {
        /// The server's message.
        message: String,
    },

    /// Azure SQL revalidated the session's login token and found it expired: error 37396
    /// ("Query cannot be executed, access token is expired"), or 18456 "Token is expired" (after
    /// which the server closes the session). The connection has been marked broken and is
    /// discarded; the next connection logs in with a fresh token.
    #[error(
        "the server revalidated this session's access token and found it expired (error {number}): {message}. The connection was discarded: retry, and the next connection logs in with a fresh token"
    )]
    SessionTokenExpired {
        /// 37396 or 18456.
        number: u32,
        /// The server's message.
        message: String,
    },

    /// Every attempt to connect failed with a transient error.
    #[error("gave up connecting after {attempts} attempt(s) that all failed with transient errors; the last one: {last}")]
    TransientExhausted {
        /// Attempts made (the first one plus the retries).
        attempts: u32,
        /// The last attempt's error.
        last: Box<Error>,
    },

    /// The gateway's redirects led back to an address already visited.
    #[error("the server redirected the login back to {host}:{port}, which it had already sent us to (a redirect loop after {hops} hop(s)); this is a server-side routing problem: try again later or use the Proxy connection policy")]
    RedirectLoop {
        /// The repeated host.
        host: String,
        /// The repeated port.
        port: u16,
        /// Redirects followed before the loop was noticed.
        hops: u32,
    },

    /// The login was redirected more times than allowed.
    #[error(
        "the server redirected the login more than {max} times; the last target was {host}:{port}"
    )]
    TooManyRedirects {
        /// The bound on redirects ([`Connector::MAX_REDIRECTS`](crate::Connector::MAX_REDIRECTS)).
        max: u32,
        /// The last target.
        host: String,
        /// The last target's port.
        port: u16,
    },

    /// TLS with the server failed: usually its certificate does not name the host, or its CA is
    /// not trusted.
    #[error("TLS with {host} failed: {message}. Check that the server certificate names {host} (or set HostNameInCertificate to the name it carries), and that its CA is trusted: the system store, or the extra root certificates configured")]
    Tls {
        /// The host the certificate was checked against.
        host: String,
        /// What the TLS library said.
        message: String,
    },

    /// Something took longer than its configured bound.
    #[error("{what} {target}did not finish within {after:?}; {advice}", target = Target(target), advice = what.advice())]
    Timeout {
        /// Which bound.
        what: TimeoutKind,
        /// `host:port`, when there is one.
        target: Option<String>,
        /// The bound.
        after: Duration,
    },

    /// The TCP connection to the server could not be made (name resolution, refused, unreachable).
    #[error("could not reach {server}: {message}. Check the server name and port (Azure SQL: <server>.database.windows.net,1433) and that the network and the server's firewall allow this client")]
    Connect {
        /// `host:port`.
        server: String,
        /// What the operating system reported.
        kind: std::io::ErrorKind,
        /// Its message.
        message: String,
    },

    /// An open connection failed in mid-use (reset, closed, protocol error). The connection has
    /// been marked broken and is discarded.
    #[error("the connection to the server broke: {message}. It was discarded: retry on a new connection")]
    ConnectionBroken {
        /// What failed.
        message: String,
    },

    /// This connection failed earlier and must not be used again.
    #[error("this connection failed earlier and can no longer be used: return it and get a new one from the pool")]
    AlreadyBroken,

    /// A pool setting is out of range.
    #[error("pool setting {setting} {reason}")]
    InvalidPoolSetting {
        /// The builder method.
        setting: &'static str,
        /// What is wrong.
        reason: &'static str,
    },

    /// No connection became available within the pool's connection timeout.
    #[error("no connection became available within {waited:?} (the pool holds {size} of at most {max_size}); {advice}", advice = PoolTimeoutAdvice(connecting))]
    PoolTimeout {
        /// How long the caller waited.
        waited: Duration,
        /// Connections the pool held when it gave up.
        size: u32,
        /// The pool's bound.
        max_size: u32,
        /// The last failed connect attempt while the caller waited, if connecting was failing
        /// (then the cause is the server or the network, not the pool's size).
        connecting: Option<Box<Error>>,
    },

    /// The pool was closed ([`crate::Pool::close`]).
    #[error("the pool is closed: it hands out no more connections (the service is shutting down)")]
    PoolClosed,

    /// Any other error from the server or the driver (a SQL error in a statement, ...).
    #[error("{0}")]
    Sql(#[source] tiberius::error::Error),
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(Arc::new(e))
    }
}

/// What an identity provider answered when it did not issue a token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenFailure {
    /// The Entra error number (`AADSTS70021` → `70021`), when the provider is Entra.
    pub aadsts: Option<u32>,
    /// The HTTP status of the answer, when there was one.
    pub http_status: Option<u16>,
    /// The provider's own description, first line only, JWTs redacted.
    pub message: String,
    /// Whether asking again later may succeed: the provider answered HTTP 5xx or 429, or could
    /// not be reached (connection or I/O trouble, a time-out). Not: a refusal (4xx, an `AADSTS`
    /// code), nor a local failure (no token file, `az` not logged in, the default chain found
    /// no credential), which only a change of configuration fixes.
    pub transient: bool,
}

impl TokenFailure {
    /// Reads the Entra code and text out of an `azure_core` error: azure_identity places the
    /// response's `error_codes` in an `HttpResponse` error kind somewhere in the chain and
    /// Entra's description (`AADSTS<n>: ...`) in the message.
    pub fn from_azure(error: &azure_core::Error) -> Self {
        let mut http_status = None;
        let mut code_from_kind = None;
        let mut unreachable = false;
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
        let mut texts = Vec::new();
        while let Some(e) = current {
            if let Some(az) = e.downcast_ref::<azure_core::Error>() {
                use azure_core::error::ErrorKind;
                unreachable |= matches!(az.kind(), ErrorKind::Connection | ErrorKind::Io);
                if let azure_core::error::ErrorKind::HttpResponse {
                    status, error_code, ..
                } = az.kind()
                {
                    http_status.get_or_insert(u16::from(*status));
                    if code_from_kind.is_none() {
                        code_from_kind = error_code
                            .as_deref()
                            .and_then(|c| c.split(',').next())
                            .and_then(|c| c.trim().parse::<u32>().ok());
                    }
                }
            }
            texts.push(e.to_string());
            current = e.source();
        }
        let top = texts.first().cloned().unwrap_or_default();
        // Prefer the text that starts at Entra's own "AADSTS<n>:" description.
        let aadsts_text = texts.iter().find_map(|t| {
            t.find("AADSTS")
                .map(|at| t[at..].to_owned())
                .filter(|s| parse_aadsts(s).is_some())
        });
        let aadsts = aadsts_text
            .as_deref()
            .and_then(parse_aadsts)
            .or(code_from_kind);
        let text = aadsts_text.unwrap_or(top);
        Self {
            aadsts,
            http_status,
            message: first_line(&redact_jwts(&text)),
            transient: http_status.map_or(unreachable, |s| s >= 500 || s == 429),
        }
    }

    /// A request that got no answer in time.
    pub fn timed_out(after: Duration) -> Self {
        Self {
            aadsts: None,
            http_status: None,
            message: format!("the token request got no answer within {after:?}"),
            transient: true,
        }
    }

    /// Any other failure, described by `message` (JWTs redacted).
    pub fn other(message: impl AsRef<str>) -> Self {
        Self {
            aadsts: None,
            http_status: None,
            message: first_line(&redact_jwts(message.as_ref())),
            transient: false,
        }
    }
}

impl fmt::Display for TokenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.aadsts {
            Some(code) if !self.message.contains(&format!("AADSTS{code}")) => {
                write!(f, "AADSTS{code}: {}", self.message)
            }
            _ => f.write_str(&self.message),
        }
    }
}

/// Which time bound ran out, in [`Error::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Opening the TCP connection (`Connect Timeout`).
    TcpConnect,
    /// PRELOGIN, TLS and LOGIN7 (`Connect Timeout`, shared by the attempt's hops).
    Login,
    /// Waiting for the server's answer to a statement (`Command Timeout`).
    Command,
}

impl TimeoutKind {
    fn advice(self) -> &'static str {
        match self {
            TimeoutKind::TcpConnect => {
                "check the server name, port and firewall, or raise Connect Timeout"
            }
            TimeoutKind::Login => {
                "the server accepted TCP but did not finish TLS and login: check Encrypt (Strict needs a TDS 8.0 server) or raise Connect Timeout"
            }
            TimeoutKind::Command => {
                "the connection was discarded (its state is unknown); raise Command Timeout for long statements"
            }
        }
    }
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::TcpConnect => "opening the TCP connection",
            TimeoutKind::Login => "the TLS handshake and login",
            TimeoutKind::Command => "the statement",
        })
    }
}

/// What to do about a pool timeout: the connect error when connecting was failing, else the
/// pool's own bounds.
struct PoolTimeoutAdvice<'a>(&'a Option<Box<Error>>);

impl fmt::Display for PoolTimeoutAdvice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(e) => write!(
                f,
                "connecting to the server was failing meanwhile (the connect retries in the background), so the cause is there, not the pool's size. The last attempt: {e}"
            ),
            None => f.write_str(
                "raise Max Pool Size or the pool's connection timeout, or return connections sooner",
            ),
        }
    }
}

struct Target<'a>(&'a Option<String>);

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => write!(f, "to {t} "),
            None => Ok(()),
        }
    }
}

/// What to check for a given `AADSTS` code, appended to token errors.
struct Hint(Option<u32>);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.and_then(aadsts_hint) {
            Some(h) => write!(f, ". {h}"),
            None => Ok(()),
        }
    }
}

/// The fix for the Entra refusals people meet most with passwordless database access, keyed to
/// the codes Entra sends today. A federated-credential mismatch names the field that differs
/// (700211 issuer, 700212 audience, 700213 subject, 7002138 subject differing only in case);
/// the single AADSTS70021 of 2022 is not sent any more.
pub(crate) fn aadsts_hint(code: u32) -> Option<&'static str> {
    Some(match code {
        700211 => "No federated credential on the identity has the service-account token's issuer: compare the credential's issuer with the cluster's, exactly, trailing slash included (az aks show -g <group> -n <cluster> --query oidcIssuerProfile.issuerUrl -o tsv; az identity federated-credential list --identity-name <identity> -g <group>)",
        700212 => "The federated credential's audience is not the service-account token's: the token must be projected for, and the credential list, api://AzureADTokenExchange",
        700213 => "No federated credential on the identity has the service-account token's subject: it must be system:serviceaccount:<namespace>:<service account> of the pod, exactly",
        7002138 => "The federated credential's subject differs from the token's only in upper/lower case, and Entra compares it case-sensitively: write it exactly as system:serviceaccount:<namespace>:<service account> of the pod",
        700024 => "The service-account token (client assertion) is expired or not yet valid: check the clock and that AZURE_FEDERATED_TOKEN_FILE is the projected token the kubelet rotates",
        50166 | 90061 => "Entra could not read the service-account token issuer's discovery document or keys: check that <issuer>/.well-known/openid-configuration is public and names the issuer exactly as the token's iss",
        700016 | 700017 => "The client id is not an application in this tenant: check AZURE_CLIENT_ID (or User Id) and AZURE_TENANT_ID",
        90002 | 900023 => "The tenant was not found: check AZURE_TENANT_ID",
        7000215 => "The client secret is wrong: check Password (the secret's value, not its id)",
        7000222 => "The client secret has expired: create a new one for the application and put its value in Password",
        70011 | 500011 | 28000 => "The scope is not valid for this identity: check the server's DNS suffix or the configured token scope (https://database.windows.net/.default for Azure SQL)",
        50196 | 90033 => "Entra is busy or unavailable: renewal retries with backoff",
        _ => return None,
    })
}

/// Why Azure SQL refused a login with 18456, read from its text (the number is the same for
/// every reason; the words differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginFailureReason {
    /// "... Token is expired.": the token was past its `exp` when the server checked it.
    TokenExpired,
    /// "... The server is not currently configured to accept this token.": a token for another
    /// tenant, audience or cloud (or not a token at all).
    TokenNotAccepted,
    /// The plain text, and the login named no database (or `master`): Azure SQL logged it in to
    /// `master`, where a contained database user does not exist.
    NoDatabase,
    /// The plain text: the identity has no user in the database named.
    NoUser,
    /// A SQL login's refusal ("Login failed for user '\<name\>'."): a wrong name or password, or
    /// no user in the database.
    SqlLogin,
}

impl LoginFailureReason {
    /// The reason an 18456 `message` gives, for a login to `database` (`<default>`: none named).
    pub fn of(database: &str, message: &str) -> Self {
        if !message.contains("<token-identified principal>") {
            LoginFailureReason::SqlLogin
        } else if message.contains("Token is expired") {
            LoginFailureReason::TokenExpired
        } else if message.contains("not currently configured to accept this token") {
            LoginFailureReason::TokenNotAccepted
        } else if database == NO_DATABASE
            || database.trim().is_empty()
            || database.eq_ignore_ascii_case("master")
        {
            LoginFailureReason::NoDatabase
        } else {
            LoginFailureReason::NoUser
        }
    }
}

/// What [`Error::LoginFailed`] holds as its database when the configuration named none.
pub(crate) const NO_DATABASE: &str = "<default>";

/// What to check for an 18456, by its reason.
fn login_advice(database: &str, message: &str) -> String {
    match LoginFailureReason::of(database, message) {
        LoginFailureReason::TokenExpired => "The access token had expired when the server checked it: this is about time, not the database user. Check this host's clock (NTP) and anything that hands out tokens from its own cache (a token callback or credential returning an old token)".to_owned(),
        LoginFailureReason::TokenNotAccepted => "The server does not take tokens for this tenant or audience: check that AZURE_TENANT_ID (or the credential's tenant) is the tenant of the server's Microsoft Entra admin, that the token scope is the server's cloud (https://database.windows.net/.default; sovereign clouds have their own, e.g. database.usgovcloudapi.net), and that a token passed in by hand is the access token itself".to_owned(),
        LoginFailureReason::NoDatabase if !database.eq_ignore_ascii_case("master") => "No database was named, so Azure SQL logged in to master, where a user created FROM EXTERNAL PROVIDER in the application database does not exist: set Database= (or Initial Catalog=) to that database".to_owned(),
        LoginFailureReason::NoDatabase => "The login was to master, where a user created FROM EXTERNAL PROVIDER in the application database does not exist: set Database= to that database".to_owned(),
        LoginFailureReason::NoUser => format!("The token is fine, but database {database} has no user for this identity: check that the user was created there with CREATE USER [<identity name>] FROM EXTERNAL PROVIDER, that it is the database the connection string's Database= names, and that the identity is the one the token is for"),
        LoginFailureReason::SqlLogin => format!("Check User Id and Password, and that the login has a user in database {database}"),
    }
}

/// `AADSTS70021: ...` → `70021`.
fn parse_aadsts(text: &str) -> Option<u32> {
    let rest = text.strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn first_line(text: &str) -> String {
    // Entra's longest descriptions (7002138's, with its trace and correlation ids on the same
    // line) run to about 700 characters.
    const MAX: usize = 1000;
    let line = text.lines().next().unwrap_or("").trim();
    if line.len() <= MAX {
        return line.to_owned();
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &line[..end])
}

/// Replaces anything shaped like a JWT (`eyJ...` header, dot, payload) with `<redacted JWT>`,
/// so an identity provider echoing an assertion or token can never leak it through an error.
pub(crate) fn redact_jwts(text: &str) -> String {
    fn is_b64url(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '='
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("eyJ") {
        out.push_str(&rest[..at]);
        let candidate = &rest[at..];
        // Header segment, then a dot and more base64url or dots.
        let header_len = candidate
            .find(|c: char| !is_b64url(c))
            .unwrap_or(candidate.len());
        if candidate[header_len..].starts_with('.') {
            let len = candidate
                .find(|c: char| !(is_b64url(c) || c == '.'))
                .unwrap_or(candidate.len());
            out.push_str("<redacted JWT>");
            rest = &candidate[len..];
        } else {
            out.push_str(&candidate[..header_len]);
            rest = &candidate[header_len..];
        }
    }
    out.push_str(rest);
    out
}

// Public as `Error::TRANSIENT_SQL_ERRORS`.
pub(crate) const TRANSIENT_SQL_ERRORS: &[u32] = &[
    233, 4060, 4221, 10928, 10929, 40143, 40197, 40501, 40540, 40613, 42108, 42109, 49918, 49919,
    49920,
];

// Public as `Error::LOGIN_FAILED`.
pub(crate) const LOGIN_FAILED: u32 = 18456;
// Public as `Error::PERMISSION_DENIED`.
pub(crate) const PERMISSION_DENIED: u32 = 229;
// Public as `Error::SESSION_TOKEN_EXPIRED`.
pub(crate) const SESSION_TOKEN_EXPIRED: u32 = 37396;

impl Error {
    /// SQL error numbers worth retrying at connect: the list SqlClient, mssql-jdbc and Microsoft's
    /// Rust `mssql-tds` agree on. Login failure 18456 is deliberately absent.
    ///
    /// | number | meaning |
    /// |---|---|
    /// | 233 | the client was connected but the server closed the connection (no process on the other end of the pipe) |
    /// | 4060 | cannot open the database requested by the login (often: it is being brought online) |
    /// | 4221 | login to a read-secondary failed: the secondary replica is not yet available |
    /// | 10928 | resource limit reached (requests, sessions) for the database |
    /// | 10929 | resource minimum guarantee not met; the server is too busy |
    /// | 40143 | the service has encountered an error processing the request |
    /// | 40197 | the service had an error (reconfiguration, failover, upgrade) |
    /// | 40501 | the service is busy (throttling) |
    /// | 40540 | the service has encountered an error processing the request |
    /// | 40613 | the database is not currently available (failover, reconfiguration) |
    /// | 42108 | cannot connect to the SQL pool: it is paused or resuming |
    /// | 42109 | the SQL pool is warming up |
    /// | 49918 | not enough resources to process the request (elastic pool) |
    /// | 49919 | too many create/update operations in progress for the subscription |
    /// | 49920 | too many operations in progress for the subscription |
    ///
    /// I/O errors and timeouts while connecting are retried as well ([`Error::is_transient`]).
    pub const TRANSIENT_SQL_ERRORS: &[u32] = TRANSIENT_SQL_ERRORS;
    /// SQL error 18456, login failed: never retried.
    pub const LOGIN_FAILED: u32 = LOGIN_FAILED;
    /// SQL error 229, permission denied.
    pub const PERMISSION_DENIED: u32 = PERMISSION_DENIED;
    /// SQL error 37396, the session's access token has expired (server-side revalidation).
    pub const SESSION_TOKEN_EXPIRED: u32 = SESSION_TOKEN_EXPIRED;
}

impl Error {
    /// Whether trying again may succeed: connect-time I/O errors and timeouts, the transient SQL
    /// errors of [`Error::TRANSIENT_SQL_ERRORS`], a broken connection, a pool timeout, and token
    /// failures Entra marks as its own trouble (HTTP 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::ConnectionBroken { .. }
            | Error::Timeout { .. }
            | Error::PoolTimeout { .. }
            | Error::SessionTokenExpired { .. } => true,
            Error::Sql(e) => e.code().is_some_and(|c| TRANSIENT_SQL_ERRORS.contains(&c)),
            Error::TokenAcquisition { failure, .. } | Error::TokenExpired { failure, .. } => {
                failure.transient
            }
            _ => false,
        }
    }

    /// Why the server refused the login, for an 18456 ([`Error::LoginFailed`]).
    pub fn login_failure_reason(&self) -> Option<LoginFailureReason> {
        match self {
            Error::LoginFailed {
                database, message, ..
            } => Some(LoginFailureReason::of(database, message)),
            Error::TransientExhausted { last, .. } => last.login_failure_reason(),
            _ => None,
        }
    }

    /// The SQL error number, when the server answered with one.
    pub fn sql_error_number(&self) -> Option<u32> {
        match self {
            Error::LoginFailed { .. } => Some(LOGIN_FAILED),
            Error::PermissionDenied { .. } => Some(PERMISSION_DENIED),
            Error::SessionTokenExpired { number, .. } => Some(*number),
            Error::Sql(e) => e.code(),
            Error::TransientExhausted { last, .. } => last.sql_error_number(),
            _ => None,
        }
    }

    /// Whether the connection this error was seen on can no longer be used: I/O failures,
    /// timeouts, protocol errors, an expired session token (37396, or 18456 on an open
    /// session), and server errors of severity 20 or more (the server closes the session after
    /// those).
    pub fn breaks_connection(&self) -> bool {
        match self {
            Error::ConnectionBroken { .. }
            | Error::AlreadyBroken
            | Error::SessionTokenExpired { .. }
            | Error::Timeout { .. }
            | Error::Tls { .. } => true,
            Error::Sql(e) => tds_error_breaks_connection(e),
            _ => false,
        }
    }

    /// Classifies a driver error seen on an open connection (a statement's error).
    pub(crate) fn from_statement(
        e: tiberius::error::Error,
        command_timeout: Option<Duration>,
    ) -> Self {
        use tiberius::error::Error as T;
        match e {
            T::Server(ref t) => match t.code() {
                // 18456 on an open session: the server revalidated its token (microsoft/
                // azuredatastudio#14497, "Token is expired.", state 233; dotnet/SqlClient#1333).
                code @ (SESSION_TOKEN_EXPIRED | LOGIN_FAILED) => Error::SessionTokenExpired {
                    number: code,
                    message: redact_jwts(t.message()),
                },
                PERMISSION_DENIED => Error::PermissionDenied {
                    message: redact_jwts(t.message()),
                },
                _ => Error::Sql(e),
            },
            T::Io {
                kind: std::io::ErrorKind::TimedOut,
                message,
            } => match command_timeout {
                Some(after) => Error::Timeout {
                    what: TimeoutKind::Command,
                    target: None,
                    after,
                },
                // No Command Timeout: the operating system gave up on the connection.
                None => Error::ConnectionBroken { message },
            },
            T::Io { message, .. } => Error::ConnectionBroken { message },
            T::Protocol(m) => Error::ConnectionBroken {
                message: format!("protocol error: {m}"),
            },
            T::Tls(message) => Error::ConnectionBroken {
                message: format!("TLS error: {message}"),
            },
            other => Error::Sql(other),
        }
    }
}

/// Whether a raw driver error seen on an open connection leaves it unusable: transport and
/// protocol failures, severity 20 and up, and the two answers of a server that revalidated the
/// session's token and found it expired. 37396 leaves the session open but every request on it
/// fails (dotnet/SqlClient#2792); 18456 "Token is expired" comes with DONE_SRVERROR, after which
/// the server closes the session (dotnet/SqlClient#1333, SqlClient's TdsParser.TryProcessDone),
/// though at severity 14 tiberius reports it as an ordinary server error.
pub(crate) fn tds_error_breaks_connection(e: &tiberius::error::Error) -> bool {
    use tiberius::error::Error as T;
    match e {
        T::Io { .. } | T::Protocol(_) | T::Tls(_) | T::Routing { .. } => true,
        T::Server(t) => matches!(t.code(), SESSION_TOKEN_EXPIRED | LOGIN_FAILED) || t.class() >= 20,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
