//! The one support module of the library's integration tests: the sandbox started in-process
//! with the library configured for it (never through process environment variables), the
//! target switch that points the same tests at a real server (`target.rs`), the identity half
//! of the sandbox for the credential tests (`identity.rs`), and small helpers.
#![allow(dead_code)]

pub mod identity;
pub mod target;

use azure_sql_passwordless::{Config, Connection};
use azure_sql_sandbox::{Sandbox, SandboxOptions};
use std::time::Duration;

/// The query every target can answer.
pub const CUSTOMERS: &str = "SELECT customer_id FROM dbo.Customer ORDER BY customer_id";

/// A running sandbox and a library configuration for its workload identity.
pub struct SandboxTarget {
    pub sandbox: Sandbox,
    pub config: Config,
}

/// Starts a sandbox with `options` and configures the library for it as a pod would be:
/// workload identity, the projected token file, the sandbox's Entra and CA.
pub async fn sandbox(options: SandboxOptions) -> SandboxTarget {
    init_tracing();
    let sandbox = Sandbox::start(options).await.expect("sandbox starts");
    let config = config_for(&sandbox);
    SandboxTarget { sandbox, config }
}

/// The library configuration for `sandbox`'s workload identity.
pub fn config_for(sandbox: &Sandbox) -> Config {
    let mut config = config_from(sandbox, &sandbox.env().connection_string);
    config.user_id(&sandbox.env().client_id);
    config
}

/// `connection_string`, set up to reach `sandbox` as a pod would: its CA trusted, its Entra
/// and tenant, the projected token file (the `User Id` is the caller's to set).
pub fn config_from(sandbox: &Sandbox, connection_string: &str) -> Config {
    let env = sandbox.env();
    let mut config: Config = connection_string
        .parse()
        .expect("the connection string parses");
    config
        .trust_root_certificate_file(&env.ca_pem_path)
        .expect("the sandbox CA reads");
    config
        .tenant_id(&env.tenant_id)
        .authority_host(&env.authority_host)
        .federated_token_file(&env.federated_token_file);
    config
}

/// Creates the sandbox's workload identity as a user of `database` with `db_datareader`, as
/// `sql/` does for the application database.
pub async fn add_reader(sandbox: &Sandbox, database: &str) {
    sandbox
        .execute_admin(
            database,
            "CREATE USER [customers-identity] FROM EXTERNAL PROVIDER; \
             ALTER ROLE db_datareader ADD MEMBER [customers-identity];",
        )
        .await
        .unwrap_or_else(|e| panic!("a reader on {database}: {e}"));
}

/// Sandbox options with access tokens living `secs` seconds.
pub fn lifetime(secs: u64) -> SandboxOptions {
    SandboxOptions {
        token_lifetime: Duration::from_secs(secs),
        ..SandboxOptions::default()
    }
}

/// The customer ids, in order.
pub async fn customer_ids(conn: &mut Connection) -> azure_sql_passwordless::Result<Vec<i32>> {
    let rows = conn
        .simple_query(CUSTOMERS)
        .await?
        .into_first_result()
        .await?;
    Ok(rows.iter().filter_map(|r| r.get::<i32, _>(0)).collect())
}

/// Holds `conn` past its login token's expiry, as a long unit of work would, and queries until
/// the server refuses the session (the cache counts expiry up to a second and the request's
/// duration early, so the server may still accept the token a little longer); returns the
/// refusal. For a sandbox whose `Faults::set_revalidation` is on.
pub async fn query_past_the_login_token(conn: &mut Connection) -> azure_sql_passwordless::Error {
    let left = conn.token_expires_in().expect("an Entra login");
    tokio::time::sleep(left).await;
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match customer_ids(conn).await {
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => break e,
            }
        }
    })
    .await
    .expect("the server revalidates")
}

/// Logs to the test's output when `RUST_LOG` is set (`RUST_LOG=azure_sql_passwordless=debug`).
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// The `p`th percentile (0 to 100, nearest rank) of `sorted`, ascending; zero when empty. What
/// the pool bench and the soak report.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
