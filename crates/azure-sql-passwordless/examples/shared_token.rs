//! A service with two databases on one server: two pools, one token between them, so one
//! request to Entra per token lifetime whatever the number of pools and connections.
//!
//! ```sh
//! export AZURE_SQL_SERVER=tcp:myserver.database.windows.net,1433
//! export AZURE_SQL_DATABASE=orders EXAMPLE_SECOND_DATABASE=billing
//! cargo run -p azure-sql-passwordless --example shared_token
//! ```
//!
//! (`EXAMPLE_CA_FILE` trusts a private CA, as in the quickstart example.)

use azure_sql_passwordless::{Config, Pool};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut first = Config::from_env()?;
    if let Ok(ca) = std::env::var("EXAMPLE_CA_FILE") {
        first.trust_root_certificate_file(ca)?;
    }
    let mut second = first.clone();
    second.database(std::env::var("EXAMPLE_SECOND_DATABASE")?);

    let first = Pool::new(first).await?;
    let tokens = first
        .token_source()
        .cloned()
        .ok_or("an Entra authentication mode has a token source")?;
    let second = Pool::builder(second)
        .token_source(tokens)
        .connection_timeout(Duration::from_secs(10))
        .build()
        .await?;

    for (name, pool) in [("first", &first), ("second", &second)] {
        let mut conn = pool.get().await?;
        let row = conn
            .simple_query("SELECT DB_NAME()")
            .await?
            .into_row()
            .await?;
        let database: Option<&str> = row.as_ref().and_then(|r| r.get(0));
        println!("{name} pool: database {}", database.unwrap_or("?"));
    }
    let fetches = first.state().token.map_or(0, |t| t.fetches);
    println!("requests to Entra for both pools: {fetches}");
    Ok(())
}
