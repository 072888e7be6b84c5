//! [`SandboxEnv`]: what a client needs to reach a running sandbox, as the `KEY=value` lines of
//! the env file `serve --env-file` writes (quoted so that shells and dotenv parsers read them
//! back), with the secrets hidden from `Debug`.

use std::fmt;
use std::path::PathBuf;

/// Everything a client needs to reach the sandbox: exactly the `KEY=value` lines
/// `serve --env-file` writes ([`SandboxEnv::vars`]). `Debug` hides the admin password and the
/// App Service secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SandboxEnv {
    /// `AZURE_CLIENT_ID`: the workload identity's application (client) id.
    pub client_id: String,
    /// `AZURE_TENANT_ID`.
    pub tenant_id: String,
    /// `AZURE_AUTHORITY_HOST`, `https://localhost:PORT/`.
    pub authority_host: String,
    /// `AZURE_FEDERATED_TOKEN_FILE`: the projected service-account token.
    pub federated_token_file: PathBuf,
    /// `AZURE_SQL_SANDBOX_CA`: the CA certificate (PEM) every sandbox endpoint chains to.
    pub ca_pem_path: PathBuf,
    /// `AZURE_SQL_SERVER`, `tcp:localhost,PORT` (the gateway when it is on).
    pub server: String,
    /// The host part of `server`, `localhost`.
    pub host: String,
    /// The port part of `server`.
    pub port: u16,
    /// `AZURE_SQL_DATABASE`.
    pub database: String,
    /// `AZURE_SQL_CONNECTION_STRING`, the ADO.NET connection string for workload identity.
    pub connection_string: String,
    /// `AZURE_SQL_SANDBOX_IMDS_ENDPOINT`, `http://127.0.0.1:PORT/metadata/identity/oauth2/token`.
    pub imds_endpoint: String,
    /// `AZURE_SQL_SANDBOX_IDENTITY_ENDPOINT`: the App Service managed-identity endpoint (what
    /// `IDENTITY_ENDPOINT` would hold; not named so, or a client sourcing the file would switch
    /// to App Service managed identity).
    pub identity_endpoint: String,
    /// `AZURE_SQL_SANDBOX_IDENTITY_HEADER`: the App Service secret (`IDENTITY_HEADER`).
    pub identity_header: String,
    /// `AZURE_SQL_SANDBOX_ADMIN_USER`: the server admin's SQL login.
    pub admin_user: String,
    /// `AZURE_SQL_SANDBOX_ADMIN_PASSWORD`.
    pub admin_password: String,
    /// `AZURE_SQL_SANDBOX_EXPIRED_TOKEN_FILE`: an access token for the workload identity, signed
    /// by the sandbox's Entra, that expired a minute before the sandbox started: what a client
    /// with a stale token cache or a slow clock presents (Azure SQL answers 18456 "Token is
    /// expired."). Expired, so it grants nothing.
    pub expired_token_file: PathBuf,
}

impl fmt::Debug for SandboxEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxEnv")
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field("authority_host", &self.authority_host)
            .field("federated_token_file", &self.federated_token_file)
            .field("ca_pem_path", &self.ca_pem_path)
            .field("server", &self.server)
            .field("database", &self.database)
            .field("connection_string", &self.connection_string)
            .field("imds_endpoint", &self.imds_endpoint)
            .field("identity_endpoint", &self.identity_endpoint)
            .field("identity_header", &"<redacted>")
            .field("admin_user", &self.admin_user)
            .field("admin_password", &"<redacted>")
            .field("expired_token_file", &self.expired_token_file)
            .finish()
    }
}

/// Quotes `value` for an env file line when it holds anything beyond a conservative set of
/// characters: single quotes, which POSIX shells (`set -a; . file`), Node's `--env-file` and
/// dotenv parsers all strip. (Docker's `--env-file` keeps quotes literally.)
pub(crate) fn env_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:,@+=%".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

impl SandboxEnv {
    /// The variables, in the order the env file lists them.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_CLIENT_ID", self.client_id.clone()),
            ("AZURE_TENANT_ID", self.tenant_id.clone()),
            ("AZURE_AUTHORITY_HOST", self.authority_host.clone()),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                self.federated_token_file.display().to_string(),
            ),
            (
                "AZURE_SQL_SANDBOX_CA",
                self.ca_pem_path.display().to_string(),
            ),
            ("AZURE_SQL_SERVER", self.server.clone()),
            ("AZURE_SQL_DATABASE", self.database.clone()),
            (
                "AZURE_SQL_CONNECTION_STRING",
                self.connection_string.clone(),
            ),
            (
                "AZURE_SQL_SANDBOX_IMDS_ENDPOINT",
                self.imds_endpoint.clone(),
            ),
            (
                "AZURE_SQL_SANDBOX_IDENTITY_ENDPOINT",
                self.identity_endpoint.clone(),
            ),
            (
                "AZURE_SQL_SANDBOX_IDENTITY_HEADER",
                self.identity_header.clone(),
            ),
            ("AZURE_SQL_SANDBOX_ADMIN_USER", self.admin_user.clone()),
            (
                "AZURE_SQL_SANDBOX_ADMIN_PASSWORD",
                self.admin_password.clone(),
            ),
            (
                "AZURE_SQL_SANDBOX_EXPIRED_TOKEN_FILE",
                self.expired_token_file.display().to_string(),
            ),
        ]
    }

    /// The env file: a comment line, then `KEY=value` lines (values single-quoted when they
    /// hold spaces, `;` or other shell-special characters).
    pub fn to_env_file(&self) -> String {
        let mut out = String::from(
            "# azure-sql-sandbox: everything a client needs to run the passwordless flow against the sandbox.\n",
        );
        for (key, value) in self.vars() {
            out.push_str(key);
            out.push('=');
            out.push_str(&env_value(&value));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env() -> SandboxEnv {
        SandboxEnv {
            client_id: "c".into(),
            tenant_id: "t".into(),
            authority_host: "https://localhost:1/".into(),
            federated_token_file: "/tmp/x/azure-identity-token".into(),
            ca_pem_path: "/tmp/x/ca.pem".into(),
            server: "tcp:localhost,2".into(),
            host: "localhost".into(),
            port: 2,
            database: "customers".into(),
            connection_string: "Server=tcp:localhost,2;Database=customers;Authentication=Active Directory Workload Identity;Encrypt=True".into(),
            imds_endpoint: "http://127.0.0.1:3/metadata/identity/oauth2/token".into(),
            identity_endpoint: "http://127.0.0.1:3/msi/token".into(),
            identity_header: "header-secret".into(),
            admin_user: "sandboxadmin".into(),
            admin_password: "Sx_password-9".into(),
            expired_token_file: "/tmp/x/expired-access-token".into(),
        }
    }

    #[test]
    fn the_env_file_lists_every_variable_and_quotes_what_a_shell_would_split() {
        let file = env().to_env_file();
        let lines: Vec<&str> = file.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 14);
        assert!(lines.contains(&"AZURE_SQL_SERVER=tcp:localhost,2"));
        assert!(lines.contains(&"AZURE_AUTHORITY_HOST=https://localhost:1/"));
        assert!(lines.contains(&"AZURE_SQL_CONNECTION_STRING='Server=tcp:localhost,2;Database=customers;Authentication=Active Directory Workload Identity;Encrypt=True'"));
        assert!(!file.contains("\nIDENTITY_ENDPOINT="));
        assert!(!file.contains("\nIDENTITY_HEADER="));
        assert_eq!(env_value("it's"), r"'it'\''s'");
        assert_eq!(env_value(""), "''");
    }

    #[test]
    fn the_env_file_survives_a_posix_shell() {
        let Ok(sh) = which_sh() else { return };
        let dir = std::env::temp_dir().join(format!("env-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sandbox.env");
        std::fs::write(&path, env().to_env_file()).unwrap();
        let out = std::process::Command::new(sh)
            .arg("-c")
            .arg(format!(
                "set -a; . '{}'; printf '%s' \"$AZURE_SQL_CONNECTION_STRING\"",
                path.display()
            ))
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            env().connection_string
        );
    }

    fn which_sh() -> Result<&'static str, ()> {
        if Path::new("/bin/sh").exists() {
            Ok("/bin/sh")
        } else {
            Err(())
        }
    }

    #[test]
    fn debug_hides_the_admin_password_and_the_identity_header() {
        let debug = format!("{:?}", env());
        assert!(!debug.contains("Sx_password-9"));
        assert!(!debug.contains("header-secret"));
        assert!(debug.contains("tcp:localhost,2"));
    }
}
