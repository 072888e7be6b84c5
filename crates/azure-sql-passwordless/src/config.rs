//! Connection configuration: what to connect to, how to prove who we are, and the bounds that keep
//! a pool healthy. One parser ([`FromStr`], ADO.NET connection strings as Microsoft.Data.SqlClient
//! reads them), one environment reader ([`Config::from_env`]) and typed setters, all producing the
//! same [`Config`], checked by one [`Config::validate`]. Every mistake is a [`ConfigError`] naming
//! the keyword, the bad value (never a password) and what is accepted.
//!
//! What it does for callers, and its bounds, is documented on [`Config`].

mod cloud;
mod connection_string;
mod env;
mod error;
mod fields;
mod keywords;
mod lexer;
mod settings;
mod spelling;
mod validate;
mod values;

pub use error::ConfigError;
pub use settings::{ApplicationIntent, Authentication, Encrypt, IpAddressPreference, Secret};

pub use fields::Config;
pub(crate) use values::{validate_authority_host, validate_tenant_id};

#[cfg(test)]
mod tests;
