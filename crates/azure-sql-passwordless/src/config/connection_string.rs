//! The connection-string parser: [`Config`]'s `FromStr`, turning each `key=value` pair the lexer
//! found into a setting, by the keyword table (`keywords.rs`), with the value parsers
//! (`Server`, booleans, numbers).

use super::error::ConfigError;
use super::keywords::{is_password_key, lookup_keyword, lookup_unsupported, Key, KEYWORDS};
use super::lexer::{split_pairs, Pair};
use super::settings::{Authentication, Secret};
use super::spelling::{nearest, normalize, shorten};
use super::values::{contains_placeholder, parse_bool, parse_number, parse_server, unbraced_guid};
use super::Config;
use std::str::FromStr;
use std::time::Duration;

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
        config.validate_once()?;
        Ok(config)
    }
}

/// Applies one parsed pair to the configuration.
pub(super) fn apply(
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
                parse_number(name, trimmed, 0, 255, "a whole number from 0 to 255")? as u8
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
        Key::IpAddressPreference => {
            config.ip_address_preference = if empty {
                defaults.ip_address_preference
            } else {
                trimmed.parse()?
            };
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
