//! The doctor: finds the broken link of a passwordless setup, step by step, and says how to fix
//! it. [`diagnose`] walks the same path a connection takes (settings, the workload identity
//! environment, the projected token file, Entra, the access token, the SQL gateway and its
//! redirect, the login, a `SELECT` on the application's table) with the path's own functions, and
//! returns a [`Report`]: one [`Step`] per link, each passed, failed, skipped (an earlier step
//! failed) or not applicable, with what was seen (claims and addresses, never a token) and, for
//! the failed one, the fix naming the field or command to change.
//!
//! Bounds: one token request and one login per run (no retries: a transient answer is reported
//! as such), each within its own timeout (Entra's request timeout, `Connect Timeout`).
//!
//! | file | steps |
//! |---|---|
//! | `doctor.rs` | [`diagnose`], [`DiagnoseOptions`]: the walk, step after step |
//! | `doctor/report.rs` | [`Report`], [`Step`], [`Verdict`]; the steps' names in order, and how an outcome is recorded |
//! | `doctor/table.rs` | [`TableName`], the table the `permission` step reads |
//! | `doctor/identity.rs` | `settings`, `workload_identity_env`, `token_file` |
//! | `doctor/entra.rs` | `entra_reachable`, `token_exchange`, `access_token` |
//! | `doctor/sql.rs` | `sql_gateway`, `sql_redirect`, `login`, `permission` |
//! | `doctor/dns.rs` | the DNS lookup both the Entra and the SQL steps start with |
//! | `doctor/jwt.rs` | reading a JWT's claims (never its signature; the token itself is never shown) |

mod dns;
mod entra;
mod identity;
mod jwt;
mod report;
mod sql;
mod table;

pub use report::{Report, Step, Verdict};
pub use table::{InvalidTableName, TableName};

use crate::config::Config;
use crate::credential::Environment;
use report::Walk;

/// Runs every step of the diagnosis for `config`, reading the `AZURE_*` variables from the
/// process, and checking `SELECT` on `dbo.Customer`. See [`diagnose_with`].
pub async fn diagnose(config: &Config) -> Report {
    diagnose_with(config, &DiagnoseOptions::default()).await
}

/// Runs every step of the diagnosis for `config` (see the module docs for the steps). Never
/// fails: what goes wrong is the report's content. At most one token request and one login.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use azure_sql_passwordless::{diagnose_with, Config, DiagnoseOptions};
/// let config: Config = "Server=tcp:myserver.database.windows.net,1433;Database=mydb;\
///                       Authentication=Active Directory Workload Identity"
///     .parse()?;
/// let options = DiagnoseOptions::default().table("dbo.Orders".parse()?);
/// let report = diagnose_with(&config, &options).await;
/// print!("{report}");
/// std::process::exit(if report.passed() { 0 } else { 1 });
/// # }
/// ```
pub async fn diagnose_with(config: &Config, options: &DiagnoseOptions) -> Report {
    let started = std::time::Instant::now();
    let mut walk = Walk::default();
    let mut context = identity::Context::new(config, &options.environment);

    identity::settings(&mut walk, &mut context);
    identity::workload_identity_env(&mut walk, &context);
    let assertion = identity::token_file(&mut walk, &context).await;
    entra::reachable(&mut walk, &context).await;
    let token = entra::exchange(&mut walk, &context, assertion.as_ref()).await;
    entra::access_token(&mut walk, &context, token.as_ref());
    let connection = sql::connect(&mut walk, &context, token).await;
    sql::permission(&mut walk, connection, &options.table).await;

    Report {
        steps: walk.steps,
        elapsed: started.elapsed(),
    }
}

/// What [`diagnose_with`] checks besides the configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DiagnoseOptions {
    /// The table the application reads: the `permission` step runs `SELECT TOP (1)` on it.
    pub table: TableName,
    /// Where the `AZURE_*` variables are read (the process environment by default).
    pub environment: Environment,
}

impl Default for DiagnoseOptions {
    fn default() -> Self {
        Self {
            table: TableName::default(),
            environment: Environment::process(),
        }
    }
}

impl DiagnoseOptions {
    /// Checks `SELECT` on `table` instead of `dbo.Customer`.
    pub fn table(mut self, table: TableName) -> Self {
        self.table = table;
        self
    }

    /// Reads the `AZURE_*` variables from `environment`.
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }
}

#[cfg(test)]
mod tests;
