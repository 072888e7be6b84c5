//! `azure-sql-sandbox serve`: starts every stand-in on loopback, writes the env file, prints one
//! line per service, and runs until SIGINT or SIGTERM.
//!
//! ```text
//! cargo run -p azure-sql-sandbox -- serve --env-file /tmp/sandbox.env --token-lifetime 90s
//! set -a; . /tmp/sandbox.env; set +a
//! ```

use anyhow::{bail, Context};
use azure_sql_sandbox::scripts::Script;
use azure_sql_sandbox::{Limits, Sandbox, SandboxOptions};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "azure-sql-sandbox",
    version,
    about = "Local stand-ins for Microsoft Entra ID, Kubernetes token projection and Azure SQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start every stand-in on loopback and write the env file a client needs.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Write the client environment (KEY=value lines) here; removed again on shutdown.
    #[arg(long, value_name = "PATH")]
    env_file: Option<PathBuf>,
    /// Lifetime of Entra and IMDS access tokens (`90s`, `5m`, `1h`).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    token_lifetime: Duration,
    /// Lifetime of each projected service-account token; the file is rewritten at 80% of it.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    service_account_token_lifetime: Duration,
    /// Rotate Entra's signing key this often (default: never).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    key_rotation: Option<Duration>,
    /// Turn off the gateway (Redirect connection policy): logins are answered where they land.
    #[arg(long)]
    no_gateway: bool,
    /// The application database, where the scripts run.
    #[arg(long, value_name = "NAME", default_value = "customers")]
    database: String,
    /// A T-SQL script (sqlcmd rules) to run in the database at start, instead of the project's
    /// sql/ scripts; repeatable, run in the order given.
    #[arg(long = "script", value_name = "PATH")]
    scripts: Vec<PathBuf>,
    /// Another (empty) database on the same server; repeatable.
    #[arg(long = "extra-database", value_name = "NAME")]
    extra_databases: Vec<String>,
    /// Where the CA and the projected token go (default: a temporary directory, removed on exit).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The pod's namespace in the federated subject.
    #[arg(long, value_name = "NAME", default_value = "customers")]
    namespace: String,
    /// The pod's service account in the federated subject.
    #[arg(long, value_name = "NAME", default_value = "customers")]
    service_account: String,
    /// The workload identity's display name (CREATE USER [..] FROM EXTERNAL PROVIDER).
    #[arg(long, value_name = "NAME", default_value = "customers-identity")]
    identity_name: String,
    /// TCP connections the SQL endpoint keeps open at once; past it a login gets Azure SQL's
    /// session-limit error 10928.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Keep the services' counters (token requests, logins, requests, ...) in this file as one
    /// JSON object, rewritten every 250 ms and at shutdown (benchmarks read it: `bench/peers`).
    #[arg(long, value_name = "PATH")]
    stats_file: Option<PathBuf>,
}

/// How often `--stats-file` is rewritten.
const STATS_EVERY: Duration = Duration::from_millis(250);

/// Writes the counters to `path` whole: a temporary file beside it, renamed over it, so a
/// reader never sees half a file.
fn write_stats_file(path: &Path, stats: &azure_sql_sandbox::StatsSnapshot) -> anyhow::Result<()> {
    let json = serde_json::to_string(stats).context("could not serialise the stats")?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, json + "\n")
        .with_context(|| format!("could not write the stats file {}", path.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("could not write the stats file {}", path.display()))
}

/// Parses `90s`, `5m`, `1h`, `1h30m`, `500ms`, `2d`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. 90s, 5m or 1h".into());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number before {rest:?}; write e.g. 90s, 5m or 1h"
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            "d" => Duration::from_secs(number.saturating_mul(86_400)),
            "" => {
                return Err(format!(
                    "invalid duration {text:?}: {number} needs a unit (ms, s, m, h, d)"
                ))
            }
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?}; use ms, s, m, h or d"
                ))
            }
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// Writes the env file readable by its owner only (it holds the admin password).
fn write_env_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("could not create the env file {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("could not write the env file {}", path.display()))?;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate =
            signal(SignalKind::terminate()).context("could not listen for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => { r.context("could not listen for SIGINT")?; Ok("SIGINT") }
            _ = terminate.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("could not listen for Ctrl-C")?;
        Ok("Ctrl-C")
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.env_file {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                bail!(
                    "the env file's directory {} does not exist; create it or pick another --env-file",
                    dir.display()
                );
            }
        }
    }
    let options = SandboxOptions {
        token_lifetime: args.token_lifetime,
        service_account_token_lifetime: args.service_account_token_lifetime,
        key_rotation: args.key_rotation,
        gateway: !args.no_gateway,
        database: args.database,
        extra_databases: args.extra_databases,
        state_dir: args.state_dir,
        namespace: args.namespace,
        service_account: args.service_account,
        identity_name: args.identity_name,
        limits: Limits {
            max_connections: args.max_connections as usize,
            ..Limits::default()
        },
        scripts: if args.scripts.is_empty() {
            SandboxOptions::default().scripts
        } else {
            args.scripts
                .iter()
                .map(|path| {
                    Script::from_file(path)
                        .with_context(|| format!("could not read the script {}", path.display()))
                })
                .collect::<anyhow::Result<_>>()?
        },
    };
    let sandbox = Sandbox::start(options)
        .await
        .context("the sandbox did not start")?;
    let env = sandbox.env();
    if let Some(path) = &args.env_file {
        write_env_file(path, &env.to_env_file())?;
    }

    let mut out = std::io::stdout().lock();
    let node = match (sandbox.node_port(), sandbox.read_only_port()) {
        (Some(node), Some(replica)) => {
            format!("gateway; node tcp:localhost,{node}, read-only replica tcp:localhost,{replica}")
        }
        (Some(node), None) => format!("gateway; node tcp:localhost,{node}"),
        _ => "gateway off".to_string(),
    };
    writeln!(
        out,
        "sql          {} ({node}), database {}",
        env.server, env.database
    )?;
    writeln!(
        out,
        "entra        {} (tenant {})",
        env.authority_host, env.tenant_id
    )?;
    writeln!(out, "imds         {}", env.imds_endpoint)?;
    writeln!(out, "app service  {}", env.identity_endpoint)?;
    writeln!(out, "issuer       {}", sandbox.issuer().url())?;
    writeln!(out, "token file   {}", env.federated_token_file.display())?;
    writeln!(out, "ca           {}", env.ca_pem_path.display())?;
    match &args.env_file {
        Some(path) => writeln!(out, "env file     {}", path.display())?,
        None => writeln!(
            out,
            "env file     (none; pass --env-file PATH to write one)"
        )?,
    }
    out.flush()?;
    drop(out);

    let signal = match &args.stats_file {
        None => wait_for_signal().await?,
        Some(path) => {
            let signal = wait_for_signal();
            tokio::pin!(signal);
            let mut every = tokio::time::interval(STATS_EVERY);
            loop {
                tokio::select! {
                    signal = &mut signal => break signal?,
                    _ = every.tick() => write_stats_file(path, &sandbox.stats())?,
                }
            }
        }
    };
    if let Some(path) = &args.stats_file {
        write_stats_file(path, &sandbox.stats())?;
    }
    tracing::info!(signal, "shutting down");
    sandbox.shutdown().await;
    if let Some(path) = &args.env_file {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(file = %path.display(), error = %e, "could not remove the env file");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_file_is_one_json_object_with_the_counters() {
        let dir = std::env::temp_dir().join(format!("sandbox-stats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stats.json");
        let stats = azure_sql_sandbox::Stats::default();
        stats.token_requests();
        stats.logins_ok();
        write_stats_file(&path, &stats.snapshot()).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["token_requests"], 1);
        assert_eq!(json["logins_ok"], 1);
        assert_eq!(json["requests"], 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration(" 10s "), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn bad_durations_say_what_to_write() {
        for bad in ["", "s", "10x", "1h30", "ten seconds", "-5s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("duration"), "{bad:?}: {err}");
        }
        assert!(parse_duration("10x").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn every_flag_parses() {
        let cli = Cli::try_parse_from([
            "azure-sql-sandbox",
            "serve",
            "--env-file",
            "/tmp/s.env",
            "--token-lifetime",
            "90s",
            "--service-account-token-lifetime",
            "2m",
            "--key-rotation",
            "10m",
            "--no-gateway",
            "--database",
            "shop",
            "--extra-database",
            "audit",
            "--extra-database",
            "archive",
            "--state-dir",
            "/tmp/state",
            "--namespace",
            "prod",
            "--service-account",
            "api",
            "--identity-name",
            "api-identity",
            "--max-connections",
            "50",
            "--stats-file",
            "/tmp/stats.json",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command;
        assert_eq!(args.token_lifetime, Duration::from_secs(90));
        assert_eq!(
            args.service_account_token_lifetime,
            Duration::from_secs(120)
        );
        assert_eq!(args.key_rotation, Some(Duration::from_secs(600)));
        assert!(args.no_gateway);
        assert_eq!(args.extra_databases, vec!["audit", "archive"]);
        assert_eq!(args.identity_name, "api-identity");
        assert_eq!(args.max_connections, 50);
        assert_eq!(args.stats_file, Some(PathBuf::from("/tmp/stats.json")));
        assert!(
            Cli::try_parse_from(["azure-sql-sandbox", "serve", "--max-connections", "0"]).is_err()
        );
        let err = Cli::try_parse_from(["azure-sql-sandbox", "serve", "--token-lifetime", "soon"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid duration"), "{err}");
    }
}
