//! [`ConfigError`]: every configuration mistake, naming the keyword (or setting, or variable),
//! the bad value (never a password) and what to do.

use super::settings::Authentication;
use std::path::PathBuf;

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
