//! `customers doctor`: runs the library's diagnosis ([`azure_sql_passwordless::diagnose_with`])
//! on the settings the demo would use (the same flags and environment, or `--sandbox`) and
//! prints the report: text, or one JSON object with `--format json`. Passed: exit 0; a step
//! failed: exit 1. Settings that come from the environment and do not parse are the report's
//! failed first step; bad flags are a usage error (exit 2), as for the demo.

#[cfg(not(feature = "sandbox"))]
use crate::cli::UsageError;
use crate::cli::{Cli, DoctorArgs, Format, Given, Origin, Target};
use anyhow::Context;
use azure_sql_passwordless::{diagnose_with, DiagnoseOptions, Report};
use std::io::Write;

/// Runs the diagnosis and prints it; `Ok(true)` when every step passed.
pub async fn run(cli: &Cli, given: &Given, args: &DoctorArgs) -> anyhow::Result<bool> {
    let options = DiagnoseOptions::default().table(args.table.clone());
    let report = match cli.target(given) {
        Ok(Target::Server(config)) => diagnose_with(&config, &options).await,
        #[cfg(feature = "sandbox")]
        Ok(Target::Sandbox { token_lifetime }) => {
            let (sandbox, config) = crate::sandbox::start(token_lifetime).await?;
            let report = diagnose_with(&config, &options).await;
            sandbox.shutdown().await;
            report
        }
        #[cfg(not(feature = "sandbox"))]
        Ok(Target::Sandbox { .. }) => {
            anyhow::bail!(UsageError("this build has no sandbox".into()))
        }
        Err(e) if cli.sandbox || any_flag(given) => return Err(e.into()),
        Err(e) => Report::settings_failed(e),
    };
    print(&report, cli.format)?;
    Ok(report.passed())
}

/// Whether a connection setting was given on the command line (then a mistake is a bad flag).
fn any_flag(given: &Given) -> bool {
    [
        &given.connection_string,
        &given.server,
        &given.database,
        &given.authentication,
    ]
    .iter()
    .any(|v| matches!(v, Some((_, Origin::Flag))))
        || matches!(given.ca_file, Some((_, Origin::Flag)))
}

fn print(report: &Report, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Text => write!(out, "{report}"),
        Format::Json => serde_json::to_writer(&mut out, report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out)),
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // `customers doctor | head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("could not print the report"),
    }
}
