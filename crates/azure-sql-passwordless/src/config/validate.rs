//! [`Config::validate`]: the rules of the keyword table, the cross-keyword rules and the
//! non-ADO settings, checked once whichever way the configuration was built.

use super::error::ConfigError;
use super::settings::{Authentication, Encrypt};
use super::spelling::shorten;
use super::values::{
    check_client_id, check_len, check_pem, validate_authority_host, validate_tenant_id,
};
use super::Config;
use std::time::Duration;

impl Config {
    /// [`validate`](Self::validate) unless it already passed and nothing changed since.
    pub(crate) fn validate_once(&mut self) -> Result<(), ConfigError> {
        if !self.validated {
            self.validate()?;
            self.validated = true;
        }
        Ok(())
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
        let has_password = self
            .password
            .as_ref()
            .is_some_and(|p| !p.expose().is_empty());
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
                    .is_some_and(|p| p.expose().chars().count() > 128)
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
