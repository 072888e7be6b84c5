//! `customers`: prints the Customer table's IDs (`Customer ID-->N`) over a passwordless Azure SQL
//! connection made by `azure-sql-passwordless`, as the Azure Workload Identity samples do in
//! Python. The whole program is a thin user of the library: parse the settings, get a
//! connection, run one query, print.
//!
//! ```text
//! customers --sandbox                         # everything local (Entra, token projection, SQL)
//! customers --watch 30s --health-addr 0.0.0.0:8080   # in a pod: AZURE_SQL_SERVER, ... from a ConfigMap
//! ```
//!
//! | module | job |
//! |---|---|
//! | `cli` | flags and their environment variables, durations, what to connect to |
//! | `doctor` | `customers doctor`: the library's diagnosis, printed |
//! | `run` | once (one-shot `connect`) or watch (a pool, a query every interval, until a signal) |
//! | `query` | the one query |
//! | `output` | `Customer ID-->N` or JSON on stdout |
//! | `health` | `/livez`, `/readyz` and `/metrics` for `--watch` |
//! | `metrics` | the OpenTelemetry meter provider and its Prometheus exporter, for `/metrics` |
//! | `logging` | `tracing` on stderr, text or JSON |
//! | `sandbox` | `--sandbox`: the local stand-ins in-process (feature `sandbox`) |
//!
//! A failure ends with one line on stderr (`customers: <what failed>: <why, what to check>`)
//! and exit status 1; bad flags or settings with status 2 (see `customers --help`).

mod cli;
mod doctor;
mod health;
mod logging;
mod metrics;
mod output;
mod query;
mod run;
#[cfg(feature = "sandbox")]
mod sandbox;

use cli::{Cli, Command, Given, Target, UsageError, EXIT_FAILURE, EXIT_USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    let (cli, given) = Cli::parse_with_origins();
    logging::init(cli.format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("customers: could not start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    if let Some(Command::Doctor(args)) = &cli.command {
        return match runtime.block_on(doctor::run(&cli, &given, args)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(EXIT_FAILURE),
            Err(error) => {
                eprintln!("customers doctor: {}", one_line(&error));
                ExitCode::from(exit_status(&error))
            }
        };
    }
    match runtime.block_on(run(cli, given)) {
        Ok(ended) => {
            if ended == run::Ended::StdoutClosed {
                tracing::debug!("stdout closed before everything was printed");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("customers: {}", one_line(&error));
            ExitCode::from(exit_status(&error))
        }
    }
}

async fn run(cli: Cli, given: Given) -> anyhow::Result<run::Ended> {
    cli.check()?;
    // Signal handlers go in before anything slow, so a SIGTERM during start-up is seen.
    let shutdown = match cli.watch {
        Some(_) => Some(run::shutdown_signal()?),
        None => None,
    };
    #[cfg(feature = "sandbox")]
    let mut sandbox = None;
    let config = match cli.target(&given)? {
        Target::Server(config) => *config,
        #[cfg(feature = "sandbox")]
        Target::Sandbox { token_lifetime } => {
            let (started, config) = sandbox::start(token_lifetime).await?;
            sandbox = Some(started);
            config
        }
        #[cfg(not(feature = "sandbox"))]
        Target::Sandbox { .. } => {
            anyhow::bail!(UsageError("this build has no sandbox".into()))
        }
    };
    let ended = match (cli.watch, shutdown) {
        (Some(interval), Some(shutdown)) => {
            let options = run::WatchOptions {
                interval,
                format: cli.format,
                health_addr: cli.health_addr,
            };
            run::watch(config, options, shutdown).await?
        }
        _ => run::once(&config, cli.format).await?,
    };
    #[cfg(feature = "sandbox")]
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    Ok(ended)
}

/// The exit status for `error`: 2 for settings the user must fix before anything can run
/// (flags, connection string, missing environment, an unreadable CA file), 1 for the rest.
fn exit_status(error: &anyhow::Error) -> u8 {
    let settings = error.chain().any(|e| {
        e.is::<UsageError>()
            || e.is::<azure_sql_passwordless::ConfigError>()
            || matches!(
                e.downcast_ref::<azure_sql_passwordless::Error>(),
                Some(
                    azure_sql_passwordless::Error::Config(_)
                        | azure_sql_passwordless::Error::NoTokenSource { .. }
                        | azure_sql_passwordless::Error::InvalidPoolSetting { .. }
                )
            )
    });
    if settings {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

/// `error` and its causes on one line, `: `-separated, leaving out a cause whose text the line
/// already holds (the library's messages often include their source's text), with newlines
/// folded so a log collector keeps it as one record.
pub(crate) fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn one_line_joins_causes_and_skips_repeats() {
        let inner = std::io::Error::other("connection reset");
        let error = anyhow::Error::new(inner)
            .context("the connection to the server broke: connection reset")
            .context("querying dbo.Customer failed");
        assert_eq!(
            one_line(&error),
            "querying dbo.Customer failed: the connection to the server broke: connection reset"
        );
    }

    #[test]
    fn one_line_folds_newlines() {
        let error = anyhow::anyhow!("first line\nsecond  line\n");
        assert_eq!(one_line(&error), "first line second line");
    }

    #[test]
    fn settings_errors_exit_2_and_runtime_errors_exit_1() {
        let usage = anyhow::Error::new(UsageError("bad flag".into()));
        assert_eq!(exit_status(&usage), EXIT_USAGE);
        let config: Result<azure_sql_passwordless::Config, _> = "Server=s;Databse=d".parse();
        let config = config
            .map_err(azure_sql_passwordless::Error::from)
            .context("could not connect")
            .expect_err("a typo");
        assert_eq!(exit_status(&config), EXIT_USAGE);
        let runtime = anyhow::Error::new(azure_sql_passwordless::Error::PermissionDenied {
            message: "The SELECT permission was denied".into(),
        })
        .context("querying dbo.Customer failed");
        assert_eq!(exit_status(&runtime), EXIT_FAILURE);
    }
}
