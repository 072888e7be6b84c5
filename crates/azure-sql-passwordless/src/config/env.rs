//! [`Config::from_env`]: the configuration from `AZURE_SQL_*` variables, as the demo and a pod's
//! manifest set them. The variable names are public so a program that documents or checks its
//! environment names the same ones.

use super::error::ConfigError;
use super::spelling::shorten;
use super::values::parse_server;
use super::Config;

// Public as `Config::ENV_CONNECTION_STRING`.
pub(crate) const ENV_CONNECTION_STRING: &str = "AZURE_SQL_CONNECTION_STRING";
// Public as `Config::ENV_SERVER`.
pub(crate) const ENV_SERVER: &str = "AZURE_SQL_SERVER";
// Public as `Config::ENV_DATABASE`.
pub(crate) const ENV_DATABASE: &str = "AZURE_SQL_DATABASE";
// Public as `Config::ENV_AUTHENTICATION`.
pub(crate) const ENV_AUTHENTICATION: &str = "AZURE_SQL_AUTHENTICATION";
// Public as `Config::ENV_PORT`.
pub(crate) const ENV_PORT: &str = "AZURE_SQL_PORT";

impl Config {
    /// An ADO.NET connection string: when set, the other variables are not read.
    pub const ENV_CONNECTION_STRING: &str = ENV_CONNECTION_STRING;
    /// `tcp:<server>.database.windows.net,1433` (or `<server>`), with [`Config::ENV_DATABASE`].
    pub const ENV_SERVER: &str = ENV_SERVER;
    /// The database, with [`Config::ENV_SERVER`].
    pub const ENV_DATABASE: &str = ENV_DATABASE;
    /// Optional: the `Authentication` mode (default `Active Directory Default`).
    pub const ENV_AUTHENTICATION: &str = ENV_AUTHENTICATION;
    /// Optional: the port, when [`Config::ENV_SERVER`] has none.
    pub const ENV_PORT: &str = ENV_PORT;
}

impl Config {
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
        config.validate_once()?;
        Ok(config)
    }
}
