//! Tokens from somewhere the `Authentication` keyword does not name: any `azure_identity`
//! credential, or your own async function (a sidecar, a vault, another process). The pool caches
//! and renews them like its own: one request per token lifetime, in the background.
//!
//! ```sh
//! export AZURE_SQL_SERVER=tcp:myserver.database.windows.net,1433 AZURE_SQL_DATABASE=mydb
//! cargo run -p azure-sql-passwordless --example custom_credential            # az login
//! EXAMPLE_TOKEN_COMMAND="az account get-access-token --resource https://database.windows.net --query accessToken -o tsv" \
//!   cargo run -p azure-sql-passwordless --example custom_credential          # a command
//! ```

use azure_sql_passwordless::azure_core::credentials::AccessToken;
use azure_sql_passwordless::azure_core::time::OffsetDateTime;
use azure_sql_passwordless::{azure_identity, from_callback, Config, Pool};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::from_env()?;
    if let Ok(ca) = std::env::var("EXAMPLE_CA_FILE") {
        config.trust_root_certificate_file(ca)?;
    }
    let builder = Pool::builder(config);
    let builder = match std::env::var("EXAMPLE_TOKEN_COMMAND") {
        // Your own function: here, a command that prints a token. The scope it is asked for is
        // the server's (https://database.windows.net/.default for Azure SQL).
        Ok(command) => builder.provider(from_callback(move |scope: String| {
            let command = command.clone();
            async move {
                let out = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(&command)
                    .env("TOKEN_SCOPE", scope)
                    .output()
                    .await?;
                if !out.status.success() {
                    return Err(format!("`{command}` failed: {}", out.status).into());
                }
                let token = String::from_utf8(out.stdout)?.trim().to_owned();
                // A command's token says nothing of its expiry here: count on 30 minutes.
                let expires_on = OffsetDateTime::now_utc() + Duration::from_secs(30 * 60);
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(AccessToken::new(
                    token, expires_on,
                ))
            }
        })),
        // Any azure_identity credential (the versions this crate re-exports).
        Err(_) => builder.credential(azure_identity::AzureCliCredential::new(None)?),
    };
    let pool = builder.build().await?;
    let mut conn = pool.get().await?;
    let row = conn
        .simple_query("SELECT SUSER_SNAME()")
        .await?
        .into_row()
        .await?;
    let who: Option<&str> = row.as_ref().and_then(|r| r.get(0));
    println!("logged in as {}", who.unwrap_or("?"));
    Ok(())
}
