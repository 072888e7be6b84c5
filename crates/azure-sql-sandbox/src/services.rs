//! [`Sandbox`]: every stand-in started together on loopback, as `serve` runs them and as tests
//! start them in-process, plus the [`SandboxEnv`] a client needs to reach them.
//!
//! [`Sandbox::start`] goes: PKI (CA written to the state dir) → the Kubernetes issuer (first token
//! written to the projected file) and Entra side by side (a tenant, and the workload identity's app
//! registration `identity_name` with a federated credential for `system:serviceaccount:<ns>:<sa>`
//! from the issuer) → SQL engine (the databases, a server admin login with a random password,
//! [`SandboxOptions::scripts`] run with `IDENTITY_NAME`: by default the repository's `sql/`
//! scripts) → TDS server (gateway on by default) → the environment. Everything listens on loopback,
//! port 0. Dropping the sandbox stops every service and removes a temporary state dir.

use crate::client_env::SandboxEnv;
use crate::entra::access_token::{self, ClientAuth, Grantee};
use crate::entra::directory::{
    DirectoryError, EntraDirectory, FederatedCredential, ManagedIdentity, ServicePrincipal, Tenant,
};
use crate::entra::validator::{EntraValidator, ValidatorError, ValidatorOptions};
use crate::entra::{Entra, EntraError, EntraOptions};
use crate::faults::Faults;
use crate::issuer::{Issuer, IssuerError, IssuerOptions, TOKEN_EXCHANGE_AUDIENCE};
use crate::pki::{Pki, PkiError};
use crate::scripts::{self, Script, ScriptError};
use crate::server::{Limits, TdsServer, TdsServerOptions};
use crate::sql::{self, Engine, SqlError};
use crate::stats::{Stats, StatsSnapshot};
use rand::Rng;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The SQL login the sandbox creates as its server admin.
pub const ADMIN_USER: &str = "sandboxadmin";

/// How the sandbox is set up. `Default` gives what `serve` runs with no flags.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Lifetime of Entra and IMDS access tokens (whole seconds, at least 1). Default one hour.
    pub token_lifetime: Duration,
    /// Lifetime of each projected service-account token; the file is rewritten at 80% of it.
    /// Default one hour.
    pub service_account_token_lifetime: Duration,
    /// Rotate Entra's signing key this often. Default: never.
    pub key_rotation: Option<Duration>,
    /// Azure SQL's Redirect connection policy: the first address routes logins to a second one.
    /// Default on.
    pub gateway: bool,
    /// The application database, where [`SandboxOptions::scripts`] run. Default `customers`.
    pub database: String,
    /// More (empty) databases on the same server.
    pub extra_databases: Vec<String>,
    /// Where the CA and the projected token file go. Default: a fresh temporary directory,
    /// removed when the sandbox is dropped.
    pub state_dir: Option<PathBuf>,
    /// The pod's namespace. Default `customers`.
    pub namespace: String,
    /// The pod's service account. Default `customers`.
    pub service_account: String,
    /// The workload identity's display name (`CREATE USER [..] FROM EXTERNAL PROVIDER`).
    /// Default `customers-identity`.
    pub identity_name: String,
    /// The SQL endpoint's bounds (login time, request size, connections).
    pub limits: Limits,
    /// The T-SQL scripts run in `database` at start, in order, as the server admin with
    /// sqlcmd's rules (`GO`, `:setvar`, `$(NAME)`), the sqlcmd variable `IDENTITY_NAME` set to
    /// `identity_name`: a service's own schema and grants ([`Script::from_file`]). Default the
    /// project's `sql/` scripts ([`scripts::SETUP`]: the demo's `dbo.Customer` and its grant).
    pub scripts: Vec<Script>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            token_lifetime: Duration::from_secs(3600),
            service_account_token_lifetime: Duration::from_secs(3600),
            key_rotation: None,
            gateway: true,
            database: "customers".into(),
            extra_databases: Vec::new(),
            state_dir: None,
            namespace: "customers".into(),
            service_account: "customers".into(),
            identity_name: "customers-identity".into(),
            limits: Limits::default(),
            scripts: scripts::SETUP.to_vec(),
        }
    }
}

/// Why the sandbox could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// An option is unusable.
    #[error("invalid sandbox option: {0}")]
    InvalidOptions(String),
    /// The state directory could not be created.
    #[error("could not create the sandbox state directory {path}: {source}; pick a writable --state-dir")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CA or the TLS configuration.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The Kubernetes issuer.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// Entra.
    #[error(transparent)]
    Entra(#[from] EntraError),
    /// The SQL side's token validator.
    #[error(transparent)]
    Validator(#[from] ValidatorError),
    /// A directory operation (unknown client id, ...).
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Setting up a database.
    #[error("could not set up database {database:?}: error {}: {}", .error.number, .error.message)]
    Sql {
        /// The database.
        database: String,
        /// SQL Server's error.
        error: SqlError,
    },
    /// One of [`SandboxOptions::scripts`] failed.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// The TDS server could not start.
    #[error("could not start the TDS server: {0}")]
    Tds(#[source] std::io::Error),
}

/// Removes a temporary state directory when dropped.
#[derive(Debug)]
struct StateDir {
    path: PathBuf,
    remove_on_drop: bool,
}

impl Drop for StateDir {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Owns the TDS server and stops it when dropped (the server itself keeps running until
/// `shutdown` or the end of the runtime).
struct TdsGuard(Option<TdsServer>);

impl TdsGuard {
    fn server(&self) -> Option<&TdsServer> {
        self.0.as_ref()
    }

    async fn shutdown(mut self) {
        if let Some(server) = self.0.take() {
            server.shutdown().await;
        }
    }
}

impl Drop for TdsGuard {
    fn drop(&mut self) {
        if let Some(server) = self.0.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(server.shutdown());
                }
                Err(_) => tracing::debug!(
                    "no runtime to stop the TDS server on; it stops with its runtime"
                ),
            }
        }
    }
}

/// A random SQL password: 30 characters with upper and lower case letters, digits and a symbol
/// (SQL Server's complexity rules), none of them special in a connection string or a shell.
fn admin_password() -> String {
    const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let body: String = (0..26)
        .map(|_| char::from(ALNUM[rng.random_range(0..ALNUM.len())]))
        .collect();
    format!("Sx_{body}-9")
}

fn check_name(what: &str, value: &str) -> Result<(), SandboxError> {
    if value.is_empty()
        || value.len() > 128
        || value.contains([']', '[', '\'', '"', ';'])
        || value.chars().any(char::is_control)
    {
        return Err(SandboxError::InvalidOptions(format!(
            "{what} must be 1 to 128 characters without brackets, quotes or ';', got {value:?}"
        )));
    }
    Ok(())
}

impl SandboxOptions {
    fn validate(&self) -> Result<(), SandboxError> {
        for (what, lifetime) in [
            ("token lifetime", self.token_lifetime),
            (
                "service-account token lifetime",
                self.service_account_token_lifetime,
            ),
        ] {
            if lifetime < Duration::from_secs(1) {
                return Err(SandboxError::InvalidOptions(format!(
                    "{what} must be at least 1 s, got {lifetime:?}"
                )));
            }
        }
        check_name("database", &self.database)?;
        check_name("identity name", &self.identity_name)?;
        for extra in &self.extra_databases {
            check_name("extra database", extra)?;
            if extra.eq_ignore_ascii_case(&self.database) {
                return Err(SandboxError::InvalidOptions(format!(
                    "extra database {extra:?} is the application database"
                )));
            }
        }
        Ok(())
    }
}

/// Every stand-in, running. Dropping it stops them all.
pub struct Sandbox {
    env: SandboxEnv,
    faults: Faults,
    stats: Stats,
    pki: Pki,
    directory: Arc<EntraDirectory>,
    tenant: Tenant,
    engine: Engine,
    issuer: Issuer,
    entra: Entra,
    tds: TdsGuard,
    validator: Arc<EntraValidator>,
    // Last, so the services stop before their files go.
    _state: StateDir,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts everything (see the module documentation for the order).
    pub async fn start(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        options.validate()?;
        let state = match &options.state_dir {
            Some(path) => StateDir {
                path: path.clone(),
                remove_on_drop: false,
            },
            None => StateDir {
                path: std::env::temp_dir().join(format!(
                    "azure-sql-sandbox-{}",
                    uuid::Uuid::new_v4().simple()
                )),
                remove_on_drop: true,
            },
        };
        std::fs::create_dir_all(&state.path).map_err(|source| SandboxError::StateDir {
            path: state.path.clone(),
            source,
        })?;
        let faults = Faults::default();
        let stats = Stats::default();

        let pki = tokio::task::spawn_blocking(Pki::generate)
            .await
            .map_err(|e| SandboxError::InvalidOptions(format!("PKI task failed: {e}")))??;
        let ca_pem_path = pki.write_ca_pem(&state.path)?;

        let mut issuer_options =
            IssuerOptions::new(state.path.join("tokens").join("azure-identity-token"));
        issuer_options.namespace = options.namespace.clone();
        issuer_options.service_account = options.service_account.clone();
        issuer_options.token_lifetime = options.service_account_token_lifetime;
        issuer_options.stats = stats.clone();
        let directory = Arc::new(EntraDirectory::new());
        let tenant = directory.add_tenant("Azure SQL Sandbox", "azuresqlsandbox");
        let workload = directory.register_app(&tenant, &options.identity_name);
        // The issuer and Entra each generate RSA keys; start them side by side.
        let (issuer, entra) = tokio::try_join!(
            async {
                Issuer::start(&pki, issuer_options)
                    .await
                    .map_err(SandboxError::from)
            },
            async {
                Entra::start(
                    &pki,
                    directory.clone(),
                    EntraOptions {
                        token_lifetime: options.token_lifetime,
                        key_rotation: options.key_rotation,
                        ..EntraOptions::default()
                    },
                    faults.clone(),
                    stats.clone(),
                )
                .await
                .map_err(SandboxError::from)
            },
        )?;
        directory.add_federated_credential(
            &workload.client_id,
            FederatedCredential {
                name: format!("{}-{}", options.namespace, options.service_account),
                issuer: issuer.url().to_string(),
                subject: issuer.subject(),
                audiences: vec![TOKEN_EXCHANGE_AUDIENCE.to_string()],
            },
        )?;

        let engine = Engine::new(directory.clone());
        // Every Azure SQL server has `master`: logins naming no database land there.
        let master = sql::MASTER.to_string();
        let databases = std::iter::once(&options.database).chain(&options.extra_databases);
        let master_listed = databases
            .clone()
            .any(|d| d.eq_ignore_ascii_case(sql::MASTER));
        let databases = databases.chain((!master_listed).then_some(&master));
        for database in databases {
            engine
                .create_database(database)
                .map_err(|error| SandboxError::Sql {
                    database: database.clone(),
                    error,
                })?;
        }
        let admin_password = admin_password();
        engine.add_admin_login(ADMIN_USER, &admin_password);
        scripts::run(
            &options.scripts,
            &engine,
            &options.database,
            &[("IDENTITY_NAME".to_string(), options.identity_name.clone())],
        )?;

        let validator = Arc::new(EntraValidator::new(ValidatorOptions::new(
            entra.authority_host(),
            tenant.id.clone(),
            pki.ca_pem(),
        ))?);
        let tls = crate::server::tls_config(pki.server_cert_chain(), pki.server_key())
            .map_err(PkiError::from)?;
        let tds = TdsServer::start(TdsServerOptions {
            tls,
            engine: engine.clone(),
            validator: validator.clone(),
            faults: faults.clone(),
            stats: stats.clone(),
            gateway: options.gateway,
            host_name: "localhost".into(),
            limits: options.limits.clone(),
        })
        .await
        .map_err(SandboxError::Tds)?;

        let expired_token_file = state.path.join("expired-access-token");
        let mut expired = access_token::claims(
            &Grantee {
                tenant_id: tenant.id.clone(),
                object_id: workload.object_id.clone(),
                client_id: workload.client_id.clone(),
                auth: ClientAuth::Assertion,
                resource_id: None,
            },
            Duration::from_secs(3600),
        );
        expired.exp = expired.iat.saturating_sub(60);
        expired.nbf = expired.exp.saturating_sub(3600);
        expired.iat = expired.nbf;
        let expired = entra
            .sign_access_token(&expired)
            .map_err(EntraError::from)?;
        std::fs::write(&expired_token_file, expired).map_err(|source| SandboxError::StateDir {
            path: expired_token_file.clone(),
            source,
        })?;

        let port = tds.port();
        let server = format!("tcp:localhost,{port}");
        let env = SandboxEnv {
            client_id: workload.client_id.clone(),
            tenant_id: tenant.id.clone(),
            authority_host: entra.authority_host().to_string(),
            federated_token_file: issuer.token_file().to_path_buf(),
            ca_pem_path,
            connection_string: format!(
                "Server={server};Database={};Authentication=Active Directory Workload Identity;Encrypt=True",
                options.database
            ),
            server,
            host: "localhost".into(),
            port,
            database: options.database.clone(),
            imds_endpoint: entra.imds_endpoint(),
            identity_endpoint: entra.identity_endpoint(),
            identity_header: entra.identity_header().to_string(),
            admin_user: ADMIN_USER.into(),
            admin_password,
            expired_token_file,
        };
        tracing::info!(
            server = %env.server,
            node_port = ?tds.node_port(),
            read_only_port = ?tds.read_only_port(),
            authority = %env.authority_host,
            issuer = %issuer.url(),
            "sandbox started"
        );
        Ok(Sandbox {
            env,
            faults,
            stats,
            pki,
            directory,
            tenant,
            engine,
            issuer,
            entra,
            tds: TdsGuard(Some(tds)),
            validator,
            _state: state,
        })
    }

    /// What a client needs to reach the sandbox.
    pub fn env(&self) -> &SandboxEnv {
        &self.env
    }

    /// The fault switches of every service.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The services' counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Runs T-SQL (sqlcmd rules: `GO` batches, `$(VAR)`) in `database` as the server admin,
    /// e.g. `ALTER ROLE db_datareader DROP MEMBER [customers-identity]`.
    pub async fn execute_admin(&self, database: &str, sql: &str) -> Result<(), SqlError> {
        let engine = self.engine.clone();
        let database = database.to_string();
        let sql = sql.to_string();
        tokio::task::spawn_blocking(move || engine.run_script(&database, &sql, &[]))
            .await
            .unwrap_or_else(|e| {
                Err(SqlError {
                    number: 50000,
                    state: 1,
                    severity: 16,
                    message: format!("the admin batch did not finish: {e}"),
                    line: 1,
                })
            })
    }

    /// Registers an application with a client secret in the sandbox's tenant (for
    /// `Authentication=Active Directory Service Principal`). Grant it access with
    /// [`Sandbox::execute_admin`] (`CREATE USER [name] FROM EXTERNAL PROVIDER`, ...).
    pub fn create_service_principal(&self, display_name: &str) -> ServicePrincipal {
        self.directory
            .create_service_principal(&self.tenant, display_name)
    }

    /// Adds a client secret to the application `client_id` that Entra accepts for `lifetime`,
    /// then refuses with AADSTS7000222 (`Duration::ZERO`: expired already). Returns its value.
    pub fn add_client_secret(
        &self,
        client_id: &str,
        lifetime: Duration,
    ) -> Result<String, SandboxError> {
        Ok(self
            .directory
            .add_client_secret_valid_for(client_id, lifetime)?)
    }

    /// The claims of the access token Entra issues the workload identity now, valid for
    /// `lifetime`: change a field (`exp`, `tid`, `aud`, ...) and sign them with
    /// [`Entra::sign_access_token`] for a token Azure SQL must refuse for that reason.
    pub fn workload_token_claims(
        &self,
        lifetime: Duration,
    ) -> Result<access_token::AccessTokenClaims, SandboxError> {
        let app = self
            .directory
            .app(&self.tenant.id, &self.env.client_id)
            .ok_or_else(|| DirectoryError::UnknownClient {
                client_id: self.env.client_id.clone(),
            })?;
        Ok(access_token::claims(
            &Grantee {
                tenant_id: self.tenant.id.clone(),
                object_id: app.object_id,
                client_id: app.client_id,
                auth: ClientAuth::Assertion,
                resource_id: None,
            },
            lifetime,
        ))
    }

    /// Creates a user-assigned managed identity served by IMDS and the App Service endpoint.
    pub fn create_managed_identity(&self, display_name: &str) -> ManagedIdentity {
        self.directory
            .create_managed_identity(&self.tenant, display_name, false)
    }

    /// Trusts tokens from `issuer` with subject `subject` (audience `api://AzureADTokenExchange`)
    /// for the application `client_id`.
    pub fn add_federated_credential(
        &self,
        client_id: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<(), SandboxError> {
        self.directory.add_federated_credential(
            client_id,
            FederatedCredential {
                name: format!("credential-{}", uuid::Uuid::new_v4().simple()),
                issuer: issuer.to_string(),
                subject: subject.to_string(),
                audiences: vec![TOKEN_EXCHANGE_AUDIENCE.to_string()],
            },
        )?;
        Ok(())
    }

    /// The Kubernetes issuer: mint good or bad service-account tokens, rewrite the token file.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// The Entra stand-in (key rotation, signing test tokens, endpoints).
    pub fn entra(&self) -> &Entra {
        &self.entra
    }

    /// The directory of tenants, apps and managed identities.
    pub fn directory(&self) -> &Arc<EntraDirectory> {
        &self.directory
    }

    /// The sandbox's CA and certificates (for clients that need the CA in memory).
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The SQL engine behind the TDS server.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The validator the TDS server checks access tokens with.
    pub fn validator(&self) -> &Arc<EntraValidator> {
        &self.validator
    }

    /// The gateway's port (the only port when the gateway is off).
    pub fn sql_port(&self) -> u16 {
        self.env.port
    }

    /// The node's port, where the gateway routes logins (`None` when the gateway is off).
    pub fn node_port(&self) -> Option<u16> {
        self.tds.server().and_then(TdsServer::node_port)
    }

    /// Moves the database to another node ([`TdsServer::move_node`]): the gateway routes logins
    /// to a new port from now on, the old one refuses connections, and the sessions on the old
    /// node are cut. Returns the new port; an error without the gateway.
    pub async fn move_node(&self) -> std::io::Result<u16> {
        match self.tds.server() {
            Some(server) => server.move_node().await,
            None => Err(std::io::Error::other("the TDS server has stopped")),
        }
    }

    /// The read-only replica's port, where the gateway routes logins with
    /// `ApplicationIntent=ReadOnly` (read scale-out): the same databases, writes refused with
    /// 3906, `DATABASEPROPERTYEX(DB_NAME(), 'Updateability')` `READ_ONLY`. `None` when the
    /// gateway is off: then a read-only intent is served read-write, as by a database without
    /// read scale-out.
    pub fn read_only_port(&self) -> Option<u16> {
        self.tds.server().and_then(TdsServer::read_only_port)
    }

    /// The state directory (CA, projected token).
    pub fn state_dir(&self) -> &Path {
        &self._state.path
    }

    /// Stops every service and waits for them to finish; panics if a session or HTTP task of
    /// the sandbox panicked while it ran ([`Stats::check_no_task_panics`]).
    pub async fn shutdown(self) {
        let Sandbox {
            tds,
            entra,
            issuer,
            stats,
            _state,
            ..
        } = self;
        tds.shutdown().await;
        entra.shutdown().await;
        issuer.shutdown().await;
        drop(_state);
        tracing::info!("sandbox stopped");
        // Every task has ended: none may have panicked.
        stats.check_no_task_panics("the sandbox");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_env::env_value;

    #[test]
    fn admin_passwords_meet_sql_servers_complexity_rules_and_need_no_quoting() {
        let p = admin_password();
        assert!(p.len() >= 16);
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
        assert_eq!(env_value(&p), p);
        assert_ne!(p, admin_password());
    }

    #[test]
    fn unusable_options_are_refused_before_anything_starts() {
        let bad = [
            SandboxOptions {
                token_lifetime: Duration::from_millis(500),
                ..Default::default()
            },
            SandboxOptions {
                database: String::new(),
                ..Default::default()
            },
            SandboxOptions {
                identity_name: "a]b".into(),
                ..Default::default()
            },
            SandboxOptions {
                extra_databases: vec!["Customers".into()],
                ..Default::default()
            },
        ];
        for options in bad {
            assert!(
                matches!(options.validate(), Err(SandboxError::InvalidOptions(_))),
                "{options:?}"
            );
        }
        assert!(SandboxOptions::default().validate().is_ok());
    }
}
