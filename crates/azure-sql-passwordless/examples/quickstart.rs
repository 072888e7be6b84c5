//! The README's quick start: one pool, one query, the pool's state.
//!
//! ```sh
//! export AZURE_SQL_SERVER=tcp:myserver.database.windows.net,1433 AZURE_SQL_DATABASE=mydb
//! export AZURE_SQL_AUTHENTICATION="Active Directory Default"   # or Workload Identity in a pod
//! cargo run -p azure-sql-passwordless --example quickstart
//! ```
//!
//! Against the bundled sandbox instead of Azure (its CA is private, so trust it explicitly):
//!
//! ```sh
//! cargo run -p azure-sql-sandbox -- serve --env-file /tmp/sandbox.env &
//! set -a; . /tmp/sandbox.env; set +a
//! EXAMPLE_CA_FILE=$AZURE_SQL_SANDBOX_CA cargo run -p azure-sql-passwordless --example quickstart
//! ```

use azure_sql_passwordless::{Config, Pool};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // AZURE_SQL_CONNECTION_STRING, or AZURE_SQL_SERVER + AZURE_SQL_DATABASE (+ optional
    // AZURE_SQL_AUTHENTICATION); in an AKS pod the Workload Identity webhook adds the rest.
    let mut config = Config::from_env()?;
    if let Ok(ca) = std::env::var("EXAMPLE_CA_FILE") {
        config.trust_root_certificate_file(ca)?;
    }
    let pool = Pool::new(config).await?;

    let mut conn = pool.get().await?;
    let rows = conn
        .query(
            "SELECT customer_id FROM dbo.Customer WHERE active = @P1",
            &[&true],
        )
        .await?
        .into_first_result()
        .await?;
    for row in rows {
        println!("Customer ID-->{}", row.get::<i32, _>(0).unwrap_or_default());
    }
    drop(conn);

    println!("{:?}", pool.state()); // size, idle, waiting, token expiry and last refresh
    pool.close(std::time::Duration::from_secs(5)).await;
    Ok(())
}
