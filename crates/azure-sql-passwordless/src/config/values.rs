//! The values of the settings: parsing each (`Server`, booleans, numbers, the enumerated
//! settings' `FromStr`), and the checks one value needs (lengths, GUIDs, tenant ids, the
//! authority, PEM certificates). The parser and the validator share them.

use super::error::ConfigError;
use super::settings::{ApplicationIntent, Authentication, Encrypt, IpAddressPreference};
use super::spelling::{nearest, normalize, shorten};
use std::str::FromStr;

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

impl FromStr for IpAddressPreference {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match normalize(s).as_str() {
            "ipv4first" => Ok(IpAddressPreference::Ipv4First),
            "ipv6first" => Ok(IpAddressPreference::Ipv6First),
            "useplatformdefault" => Ok(IpAddressPreference::UsePlatformDefault),
            _ => Err(ConfigError::InvalidValue {
                keyword: "IP Address Preference",
                value: shorten(s.trim()),
                expected: "`IPv4First`, `IPv6First` or `UsePlatformDefault`",
            }),
        }
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
pub(super) const AUTHENTICATION_NAMES: &[&str] = &[
    "Active Directory Workload Identity",
    "Active Directory Managed Identity",
    "Active Directory MSI",
    "Active Directory Service Principal",
    "Active Directory Azure CLI",
    "Active Directory Default",
    "Sql Password",
];

/// SqlClient modes this library refuses, with what to use instead.
pub(super) const UNSUPPORTED_AUTHENTICATION: &[(&str, &str)] = &[
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

/// Parses `Server`: `[tcp:]host[,port]`, refusing the forms Azure SQL cannot use.
pub(super) fn parse_server(value: &str) -> Result<(String, Option<u16>), ConfigError> {
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

pub(super) fn parse_bool(keyword: &'static str, value: &str) -> Result<bool, ConfigError> {
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

pub(super) fn parse_number(
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

/// `{8-4-4-4-12}` → the GUID inside: SqlClient and the portal accept a client id in braces, and
/// Entra wants it bare. Anything else is kept as written (a SQL login name, say).
pub(super) fn unbraced_guid(value: &str) -> &str {
    match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
        Some(inner) if is_guid(value) => inner,
        _ => value,
    }
}

pub(super) fn contains_placeholder(value: &str) -> bool {
    value.to_ascii_lowercase().contains("{your")
}

/// SQL Server's limit for names (database, login, application name).
pub(super) fn check_len(keyword: &'static str, value: &str) -> Result<(), ConfigError> {
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
pub(super) fn check_client_id(
    authentication: Authentication,
    value: &str,
) -> Result<(), ConfigError> {
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

pub(super) fn check_pem(pem: &[u8], origin: impl Fn() -> String) -> Result<(), ConfigError> {
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
