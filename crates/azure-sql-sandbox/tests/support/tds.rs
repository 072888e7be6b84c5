//! Shared fixtures of the TDS server's integration tests: a test CA (rcgen) and a server
//! certificate for localhost/127.0.0.1/::1, a fixed-map access-token validator and directory, an
//! engine with the Customer table and a reader user, and tiberius configurations that trust the
//! test CA explicitly (never `trust_cert()`).

use azure_sql_sandbox::identity::{
    AccessTokenValidator, DirectoryEntry, FixedDirectory, PrincipalKind, RejectionKind,
    TokenIdentity, TokenRejection, ValidateFuture,
};
use azure_sql_sandbox::server::{tls_config, TdsServer, TdsServerOptions};
use azure_sql_sandbox::sql::Engine;
use azure_sql_sandbox::{Faults, Limits, Stats};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub const DATABASE: &str = "customers";
pub const ADMIN_USER: &str = "sandboxadmin";
pub const ADMIN_PASSWORD: &str = "Adm1n-P@ssword";
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const READER_NAME: &str = "customers-reader";
pub const READER_APP_ID: &str = "0b2f7b4e-5b36-4a8e-9a35-1d8f8a4c1c10";
pub const READER_OID: &str = "6c1f5b1e-2a7d-4f0e-8f0a-1b2c3d4e5f60";
/// A token the test validator accepts for the reader.
pub const GOOD_TOKEN: &str = "eyJ0eXAiOiJKV1QifQ.reader-token.sig";
/// A token the validator accepts for an identity with no database user.
pub const STRANGER_TOKEN: &str = "eyJ0eXAiOiJKV1QifQ.stranger-token.sig";

pub const SETUP: &str = "
CREATE TABLE dbo.Customer (
    customer_id INT PRIMARY KEY IDENTITY(1, 1),
    first_name VARCHAR(50),
    last_name VARCHAR(50),
    active BIT
);
INSERT INTO dbo.Customer (first_name, last_name, active) VALUES
    ('John', 'Doe', 1), ('Jane', 'Smith', 0), ('Alice', 'Johnson', 0), ('Bob', 'Brown', 1), ('Emily', 'Davis', 0);
GO
CREATE USER [customers-reader] FROM EXTERNAL PROVIDER;
ALTER ROLE db_datareader ADD MEMBER [customers-reader];
GO
";

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A test CA and the server certificate it signed, the CA written to a PEM file for tiberius.
pub struct TestPki {
    pub ca_pem_path: PathBuf,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivatePkcs8KeyDer<'static>,
}

static NEXT_FILE: AtomicUsize = AtomicUsize::new(0);

impl TestPki {
    pub fn generate() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "TDS test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        params
            .subject_alt_names
            .push(SanType::IpAddress("::1".parse().expect("ip")));
        let cert = params.signed_by(&key, &issuer).expect("server certificate");

        let ca_pem_path = std::env::temp_dir().join(format!(
            "tds-test-ca-{}-{}.pem",
            std::process::id(),
            NEXT_FILE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&ca_pem_path, ca_cert.pem()).expect("write the CA file");
        TestPki {
            ca_pem_path,
            server_chain: vec![cert.der().clone()],
            server_key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    pub fn tls(&self) -> Arc<rustls::ServerConfig> {
        tls_config(
            self.server_chain.clone(),
            PrivateKeyDer::Pkcs8(self.server_key.clone_key()),
        )
        .expect("TLS config")
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_pem_path);
    }
}

/// The reader identity, the one the directory knows.
pub fn reader() -> DirectoryEntry {
    DirectoryEntry {
        display_name: READER_NAME.into(),
        object_id: READER_OID.into(),
        app_id: READER_APP_ID.into(),
        tenant_id: TENANT.into(),
        kind: PrincipalKind::Application,
    }
}

/// Accepts a fixed map of token strings; tests add tokens (with their expiry) as they go.
#[derive(Default)]
pub struct TestValidator {
    tokens: Mutex<HashMap<String, TokenIdentity>>,
    pub seen: Mutex<Vec<String>>,
    /// What [`AccessTokenValidator::sts_url`] answers.
    pub sts_url: Mutex<Option<String>>,
}

impl TestValidator {
    pub fn add(&self, token: &str, identity: TokenIdentity) {
        self.tokens
            .lock()
            .expect("lock")
            .insert(token.into(), identity);
    }
}

pub fn reader_identity(expires_in: Duration) -> TokenIdentity {
    reader().token_identity(SystemTime::now() + expires_in)
}

impl AccessTokenValidator for TestValidator {
    fn validate<'a>(&'a self, token: &'a str) -> ValidateFuture<'a> {
        Box::pin(async move {
            self.seen.lock().expect("lock").push(token.to_string());
            let identity = self.tokens.lock().expect("lock").get(token).cloned();
            match identity {
                None => Err(TokenRejection {
                    kind: RejectionKind::NotAccepted,
                    reason: "IDX10511: signature validation failed (test validator)".into(),
                }),
                Some(id) if id.expires_at <= SystemTime::now() => Err(TokenRejection {
                    kind: RejectionKind::Expired,
                    reason: "IDX10223: lifetime validation failed, the token is expired".into(),
                }),
                Some(id) => Ok(id),
            }
        })
    }

    fn sts_url(&self) -> Option<String> {
        self.sts_url.lock().expect("lock").clone()
    }
}

/// The STS URL the test validator gives ADAL/MSAL-workflow clients.
pub const TEST_STS_URL: &str = "https://localhost:9443/72f988bf-86f1-41af-91ab-2d7cd011db47";

/// A running TDS server over a prepared engine.
pub struct Sandbox {
    pub server: TdsServer,
    pub faults: Faults,
    pub stats: Stats,
    pub validator: Arc<TestValidator>,
    pub engine: Engine,
    pub pki: TestPki,
}

pub fn engine() -> Engine {
    let engine = Engine::new(Arc::new(FixedDirectory(vec![reader()])));
    engine
        .create_database(DATABASE)
        .expect("create the database");
    // The server's own database, where logins naming none land.
    engine.create_database("master").expect("create master");
    engine.add_admin_login(ADMIN_USER, ADMIN_PASSWORD);
    engine
        .run_script(DATABASE, SETUP, &[])
        .expect("run the setup script");
    engine
}

impl Sandbox {
    pub async fn start(gateway: bool) -> Sandbox {
        Self::start_with(gateway, engine()).await
    }

    pub async fn start_with(gateway: bool, engine: Engine) -> Sandbox {
        Self::start_with_limits(gateway, engine, Limits::default()).await
    }

    pub async fn start_with_limits(gateway: bool, engine: Engine, limits: Limits) -> Sandbox {
        init_tracing();
        let pki = TestPki::generate();
        let validator = Arc::new(TestValidator::default());
        *validator.sts_url.lock().expect("lock") = Some(TEST_STS_URL.into());
        validator.add(GOOD_TOKEN, reader_identity(Duration::from_secs(3600)));
        validator.add(
            STRANGER_TOKEN,
            TokenIdentity {
                tenant_id: TENANT.into(),
                object_id: "00000000-0000-0000-0000-00000000dead".into(),
                app_id: Some("00000000-0000-0000-0000-00000000beef".into()),
                expires_at: SystemTime::now() + Duration::from_secs(3600),
            },
        );
        let faults = Faults::default();
        let stats = Stats::default();
        let server = TdsServer::start(TdsServerOptions {
            tls: pki.tls(),
            engine: engine.clone(),
            validator: validator.clone(),
            faults: faults.clone(),
            stats: stats.clone(),
            gateway,
            host_name: "localhost".into(),
            limits,
        })
        .await
        .expect("start the TDS server");
        Sandbox {
            server,
            faults,
            stats,
            validator,
            engine,
            pki,
        }
    }

    /// A tiberius configuration for `localhost:<port>`, trusting the test CA.
    pub fn config(&self, port: u16, auth: AuthMethod, encryption: EncryptionLevel) -> Config {
        let mut config = Config::new();
        config.host("localhost");
        config.port(port);
        config.database(DATABASE);
        config.authentication(auth);
        config.encryption(encryption);
        config.trust_cert_ca(self.pki.ca_pem_path.display().to_string());
        config.handshake_timeout(Some(Duration::from_secs(20)));
        config
    }

    /// The SQL admin's session on the server's main port (TDS 7.4, TLS inside PRELOGIN).
    pub async fn admin(&self) -> TdsClient {
        let config = self.config(
            self.server.port(),
            AuthMethod::sql_server(ADMIN_USER, ADMIN_PASSWORD),
            EncryptionLevel::Required,
        );
        connect(config).await.expect("admin login")
    }

    /// The reader's session (a token login, `db_datareader` only) on the server's main port.
    pub async fn token_client(&self) -> TdsClient {
        connect(self.token_config(GOOD_TOKEN))
            .await
            .expect("token login")
    }

    /// Token login to the server's main port with TDS 7.4 and TLS inside PRELOGIN.
    pub fn token_config(&self, token: &str) -> Config {
        self.config(
            self.server.port(),
            AuthMethod::aad_token(token),
            EncryptionLevel::Required,
        )
    }
}

pub type TdsClient = Client<Compat<TcpStream>>;

/// Connects over IPv4 loopback (the certificate is checked against `localhost`).
pub async fn connect(config: Config) -> tiberius::Result<TdsClient> {
    let port = config
        .get_addr()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

/// The server error number of a failed call, if it is a server error.
pub fn server_error(e: &tiberius::error::Error) -> Option<(u32, String)> {
    match e {
        tiberius::error::Error::Server(token) => Some((token.code(), token.message().to_string())),
        _ => None,
    }
}

/// Runs a batch that must succeed, reading all its results.
pub async fn batch_ok(client: &mut TdsClient, sql: &str) {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_results()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Runs a batch that must fail with a server error: its number and text.
pub async fn batch_error(client: &mut TdsClient, sql: &str) -> (u32, String) {
    let result = match client.simple_query(sql).await {
        Ok(stream) => stream.into_results().await.map(|_| ()),
        Err(e) => Err(e),
    };
    let e = result.expect_err(sql);
    server_error(&e).unwrap_or_else(|| panic!("{sql}: not a server error: {e}"))
}

/// The first row of a batch's first result.
pub async fn first_row(client: &mut TdsClient, sql: &str) -> tiberius::Row {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_row()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

/// The customer ids, in order.
pub async fn customer_ids(client: &mut TdsClient) -> tiberius::Result<Vec<i32>> {
    let rows = client
        .simple_query("SELECT customer_id FROM dbo.Customer ORDER BY customer_id")
        .await?
        .into_first_result()
        .await?;
    Ok(rows.iter().filter_map(|r| r.get::<i32, _>(0)).collect())
}
