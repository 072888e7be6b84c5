//! Local stand-ins for the three services a passwordless Azure SQL client talks to, faithful enough
//! that real drivers from other ecosystems work against them:
//!
//! - **Kubernetes token projection** ([`issuer`]): an OIDC issuer that mints service-account
//!   tokens into a file and rewrites it before expiry, as the kubelet does.
//! - **Microsoft Entra ID** ([`entra`]): an HTTPS token endpoint that trades federated client
//!   assertions, client secrets and managed-identity requests for RS256 access tokens, refusing
//!   what Entra refuses with its `AADSTS` codes.
//! - **Azure SQL** ([`server`] over [`tds`] and [`sql`]): a TDS server (PRELOGIN, TLS both ways,
//!   LOGIN7 with FEDAUTH) over an embedded SQL engine, with the gateway's redirect and
//!   injectable faults.
//!
//! [`Sandbox::start`] brings all three up on loopback (port 0) with a CA of its own ([`pki`]),
//! runs the schema scripts ([`scripts`]) and hands back the [`SandboxEnv`] a client needs;
//! `azure-sql-sandbox serve` does the same from the command line and writes that environment to
//! a file. [`faults`] and [`stats`] let tests steer and observe every service.
//!
//! # In a service's own tests
//!
//! A service's integration tests can start the sandbox in-process with their own database,
//! workload identity and schema scripts, get a token the way the service does in its pod (here
//! `azure_identity`'s workload identity credential, reading the projected token file), and run
//! their real queries over TDS, TLS checked against the sandbox's CA:
//!
//! ```
//! use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
//! use azure_core::credentials::TokenCredential;
//! use azure_core::http::{ClientOptions, Transport};
//! use azure_identity::{
//!     ClientAssertionCredentialOptions, WorkloadIdentityCredential,
//!     WorkloadIdentityCredentialOptions,
//! };
//! use azure_sql_sandbox::pki::http_client_trusting;
//! use azure_sql_sandbox::scripts::Script;
//! use azure_sql_sandbox::{Sandbox, SandboxOptions};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
//! use tokio::net::TcpStream;
//! use tokio_util::compat::TokioAsyncWriteCompatExt;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The service's database, its identity and its schema (sqlcmd rules: GO, $(VARIABLES)).
//! let sandbox = Sandbox::start(SandboxOptions {
//!     database: "orders".into(),
//!     identity_name: "orders-api".into(),
//!     scripts: vec![Script::new(
//!         "schema.sql",
//!         "CREATE TABLE dbo.Orders (id INT PRIMARY KEY, item NVARCHAR(50) NOT NULL);
//!          INSERT INTO dbo.Orders (id, item) VALUES (1, N'book'), (2, N'lamp');
//!          GO
//!          CREATE USER [$(IDENTITY_NAME)] FROM EXTERNAL PROVIDER;
//!          ALTER ROLE db_datareader ADD MEMBER [$(IDENTITY_NAME)];",
//!     )],
//!     token_lifetime: Duration::from_secs(60), // renewal happens inside the test
//!     gateway: false,                          // one port; clients that follow redirects can keep it
//!     ..SandboxOptions::default()
//! })
//! .await?;
//! let env = sandbox.env();
//!
//! // The pod's credential: its projected token traded at (the sandbox's) Entra.
//! let ca = std::fs::read_to_string(&env.ca_pem_path)?;
//! let mut cloud = CustomConfiguration::default();
//! cloud.authority_host = env.authority_host.clone();
//! let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
//!     credential_options: ClientAssertionCredentialOptions {
//!         client_options: ClientOptions {
//!             transport: Some(Transport::new(Arc::new(http_client_trusting(&ca)?))),
//!             cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
//!             ..Default::default()
//!         },
//!     },
//!     client_id: Some(env.client_id.clone()),
//!     tenant_id: Some(env.tenant_id.clone()),
//!     token_file_path: Some(env.federated_token_file.clone()),
//! }))?;
//! let token = credential
//!     .get_token(&["https://database.windows.net/.default"], None)
//!     .await?;
//!
//! // The service's own query, logged in with the access token.
//! let mut config = Config::new();
//! config.host(&env.host);
//! config.port(env.port);
//! config.database(&env.database);
//! config.authentication(AuthMethod::aad_token(token.token.secret()));
//! config.encryption(EncryptionLevel::Required);
//! config.trust_cert_ca(env.ca_pem_path.display().to_string());
//! let tcp = TcpStream::connect(config.get_addr()).await?;
//! let mut client = Client::connect(config, tcp.compat_write()).await?;
//! let rows = client
//!     .query("SELECT item FROM dbo.Orders WHERE id = @P1", &[&2i32])
//!     .await?
//!     .into_first_result()
//!     .await?;
//! assert_eq!(rows[0].get::<&str, _>(0), Some("lamp"));
//!
//! drop(client);
//! sandbox.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Where things are
//!
//! | module | job |
//! | --- | --- |
//! | [`services`] | [`Sandbox`]: every service started together, its options and errors |
//! | [`client_env`] | [`SandboxEnv`]: what a client needs, and the env file `serve` writes |
//! | [`scripts`] | the schema scripts a sandbox runs at start: a service's own, or the project's `sql/` |
//! | [`issuer`] | the Kubernetes OIDC issuer and the projected token file |
//! | [`entra`] | the Entra token endpoint, discovery, IMDS, the directory, `AADSTS` refusals |
//! | [`identity`] | the contract between them: directory entries and what a validated token says |
//! | [`tds`] | the TDS codec, with its own wire types: it knows nothing of the SQL engine |
//! | [`sql`] | T-SQL on an embedded engine: principals, roles, types, transactions, errors |
//! | [`server`] | the Azure SQL endpoint: listeners, the session state machine, the gateway; the one place engine and wire types meet |
//! | [`pki`], [`signing_key`], [`http_server`] | the CA and TLS, JWT signing keys, the HTTPS servers Entra and the issuer run on |
//! | [`faults`], [`stats`] | what tests switch on and what they count |
//!
//! Imports go one way (`.ci/module-cycles` checks it): no module imports one that imports it
//! back, and `tds` never imports `sql`.
//!
//! It is test and development infrastructure, not a product: it never imports the library it
//! examines (`azure-sql-passwordless`), so a bug there cannot pass its own exam.

pub mod client_env;
pub mod entra;
pub mod faults;
pub mod http_server;
pub mod identity;
pub mod issuer;
pub mod pki;
pub mod scripts;
pub mod server;
pub mod services;
pub mod signing_key;
pub mod sql;
pub mod stats;
pub mod tds;

pub use client_env::SandboxEnv;
pub use entra::directory::{ManagedIdentity, ServicePrincipal};
pub use faults::{Faults, Revalidation, TokenEndpointFault};
pub use issuer::{BadToken, Issuer};
pub use server::{Limits, TdsServer, TdsServerOptions};
pub use services::{Sandbox, SandboxError, SandboxOptions};
pub use stats::{Stats, StatsSnapshot};
