//! The command line: every flag with its environment variable, the duration syntax, and the
//! resolution of flags and environment into what to connect to ([`Cli::target`]).
//!
//! Precedence: a flag beats its environment variable. Among the connection settings, the
//! command line is looked at first: `--connection-string` and `--server`/`--database`/
//! `--authentication` exclude each other there. When the command line names no server, the
//! environment is read as the library's [`Config::from_env`] reads it:
//! `AZURE_SQL_CONNECTION_STRING` wins over `AZURE_SQL_SERVER` + `AZURE_SQL_DATABASE`
//! (+ `AZURE_SQL_AUTHENTICATION`, `AZURE_SQL_PORT`). `--sandbox` ignores the environment's
//! connection settings (a sourced sandbox env file sets them) and refuses the flags.

use azure_sql_passwordless::TableName;
use azure_sql_passwordless::{Config, ConfigError};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Exit status of a run that could not start because of its settings (as clap's usage errors).
pub const EXIT_USAGE: u8 = 2;
/// Exit status of a run that failed on its way to the rows (token, login, query).
pub const EXIT_FAILURE: u8 = 1;

/// The shortest `--watch` interval: anything faster only loads the database.
pub const MIN_WATCH: Duration = Duration::from_millis(100);
/// The longest `--watch` interval.
pub const MAX_WATCH: Duration = Duration::from_secs(24 * 3600);

const AFTER_HELP: &str = "\
Examples:
  customers --sandbox                                   # everything local: no Azure needed
  customers --sandbox --watch 2s --sandbox-token-lifetime 20s   # watch tokens renew
  customers --server tcp:myserver.database.windows.net,1433 --database mydb \\
            --authentication 'Active Directory Default'
  AZURE_SQL_CONNECTION_STRING='Server=...;Database=...;Authentication=Active Directory Workload Identity' \\
    customers --watch 30s --health-addr 0.0.0.0:8080

Health and metrics (with --watch and --health-addr):
  GET /livez   200 while the watch loop ticks (its last query finished within 3 intervals, or
               the one running is within its deadline); 503 otherwise
  GET /readyz  200 when the last query succeeded and a valid access token is cached; 503 with a
               one-line reason otherwise
  GET /metrics the library's pool, token and connection metrics in Prometheus text (a build
               with the `metrics` feature, the default and the container image's; 404 otherwise)

Output: `Customer ID-->N` per row on stdout (--format json: one JSON object per query); logs on
stderr (RUST_LOG, default: info for the demo and the library, warn for the rest).

Diagnosis (when the demo fails): `customers doctor` (the same flags and environment; in a pod:
kubectl exec deploy/customers -- customers doctor) checks each link and names the fix.

Exit status: 0 rows printed (or --watch stopped by SIGTERM/SIGINT); 1 the run failed (token,
login, query: one line on stderr says what and what to check); 2 bad flags or settings.";

/// Prints the Customer table's IDs over a passwordless Azure SQL connection.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "customers",
    version,
    about = "Print the Customer table's IDs over a passwordless Azure SQL connection",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// ADO.NET connection string, e.g. "Server=tcp:<server>.database.windows.net,1433;Database=<db>;Authentication=Active Directory Workload Identity".
    #[arg(
        long,
        global = true,
        env = Config::ENV_CONNECTION_STRING,
        value_name = "STRING",
        hide_env_values = true
    )]
    pub connection_string: Option<String>,

    /// Server, e.g. tcp:<server>.database.windows.net,1433 (with --database).
    #[arg(long, global = true, env = Config::ENV_SERVER, value_name = "SERVER")]
    pub server: Option<String>,

    /// Database (with --server).
    #[arg(long, global = true, env = Config::ENV_DATABASE, value_name = "NAME")]
    pub database: Option<String>,

    /// Authentication mode with --server [default: Active Directory Default].
    #[arg(long, global = true, env = Config::ENV_AUTHENTICATION, value_name = "MODE")]
    pub authentication: Option<String>,

    /// Also trust this CA certificate (PEM) for SQL's TLS and Entra's HTTPS, on top of the system roots.
    #[arg(long, global = true, env = "CUSTOMERS_CA_FILE", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Keep running and re-query every INTERVAL (500ms, 30s, 5m, 1h) until SIGTERM/SIGINT.
    #[arg(long, global = true, env = "CUSTOMERS_WATCH", value_name = "INTERVAL", value_parser = parse_watch)]
    pub watch: Option<Duration>,

    /// Output format: `text` prints `Customer ID-->N` per row, `json` one object per query (and logs in JSON).
    #[arg(long, global = true, env = "CUSTOMERS_FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Serve /livez, /readyz and /metrics on this address (needs --watch), e.g. 0.0.0.0:8080.
    #[arg(
        long,
        global = true,
        env = "CUSTOMERS_HEALTH_ADDR",
        value_name = "ADDR"
    )]
    pub health_addr: Option<SocketAddr>,

    /// Run the whole passwordless flow against a local stand-in of Entra ID, Kubernetes token
    /// projection and Azure SQL, started in-process: no Azure needed.
    #[arg(long, global = true, hide = !cfg!(feature = "sandbox"))]
    pub sandbox: bool,

    /// With --sandbox: lifetime of the stand-in's access tokens, whole seconds (20s, 5m) [default: 1h].
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        value_parser = parse_token_lifetime,
        hide = !cfg!(feature = "sandbox")
    )]
    pub sandbox_token_lifetime: Option<Duration>,

    /// `doctor`: diagnose the setup instead of printing the customers.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Check every link from the pod to the table, one step at a time, and say how to fix the
    /// broken one (settings, workload identity variables, token file, Entra, access token, SQL
    /// gateway and redirect, login, SELECT permission). Same flags and environment as the demo;
    /// --watch and --health-addr are ignored. Exit status: 0 every step passed, 1 a step failed,
    /// 2 bad flags.
    Doctor(DoctorArgs),
}

/// `customers doctor`'s own flags.
#[derive(Args, Debug, Clone)]
pub struct DoctorArgs {
    /// The table the application reads: the doctor checks SELECT on it (name or schema.name).
    #[arg(long, value_name = "TABLE", default_value = "dbo.Customer", value_parser = parse_table)]
    pub table: TableName,
}

/// `--table`: `name` or `schema.name`.
pub fn parse_table(text: &str) -> Result<TableName, String> {
    text.parse()
        .map_err(|e: azure_sql_passwordless::InvalidTableName| e.to_string())
}

/// What `--format` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `Customer ID-->N`, one line per row.
    Text,
    /// One JSON object per query: `{"at":"<RFC 3339>","customer_ids":[1,2,...]}`.
    Json,
}

/// What the run connects to.
#[derive(Debug)]
pub enum Target {
    /// The in-process sandbox, with its access tokens living this long.
    Sandbox {
        /// Access token lifetime.
        #[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
        token_lifetime: Duration,
    },
    /// A server, configured from flags and environment.
    Server(Box<Config>),
}

/// Bad flags or settings: the run cannot start (exit status [`EXIT_USAGE`]).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Where a setting's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The command line.
    Flag,
    /// Its environment variable.
    Env,
}

/// The connection settings as given, with their origins (`None`: not given).
#[derive(Clone, Debug, Default)]
pub struct Given {
    /// `--connection-string` / `AZURE_SQL_CONNECTION_STRING`.
    pub connection_string: Option<(String, Origin)>,
    /// `--server` / `AZURE_SQL_SERVER`.
    pub server: Option<(String, Origin)>,
    /// `--database` / `AZURE_SQL_DATABASE`.
    pub database: Option<(String, Origin)>,
    /// `--authentication` / `AZURE_SQL_AUTHENTICATION`.
    pub authentication: Option<(String, Origin)>,
    /// `--ca-file` / `CUSTOMERS_CA_FILE`.
    pub ca_file: Option<(PathBuf, Origin)>,
    /// `AZURE_SQL_PORT` (environment only, as the library reads it).
    pub port: Option<String>,
}

impl Cli {
    /// Parses the process's arguments and environment; exits with clap's message and status 2
    /// on a malformed command line.
    pub fn parse_with_origins() -> (Cli, Given) {
        let matches = Cli::command().get_matches();
        match Cli::from_arg_matches(&matches) {
            Ok(cli) => {
                let given = cli.given(&matches, std::env::var(Config::ENV_PORT).ok());
                (cli, given)
            }
            Err(e) => e.exit(),
        }
    }

    fn given(&self, matches: &ArgMatches, port: Option<String>) -> Given {
        let origin = |id: &str| match matches.value_source(id) {
            Some(ValueSource::CommandLine) => Origin::Flag,
            _ => Origin::Env,
        };
        let with = |value: &Option<String>, id: &str| {
            value
                .as_ref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (v.clone(), origin(id)))
        };
        Given {
            connection_string: with(&self.connection_string, "connection_string"),
            server: with(&self.server, "server"),
            database: with(&self.database, "database"),
            authentication: with(&self.authentication, "authentication"),
            ca_file: self.ca_file.clone().map(|p| (p, origin("ca_file"))),
            port: port.filter(|p| !p.trim().is_empty()),
        }
    }

    /// Checks the flags that depend on each other (beyond what clap checks).
    pub fn check(&self) -> Result<(), UsageError> {
        if self.health_addr.is_some() && self.watch.is_none() {
            return Err(UsageError(
                "--health-addr (CUSTOMERS_HEALTH_ADDR) needs --watch: a single run exits before a probe could ask; add --watch 30s, or drop --health-addr".into(),
            ));
        }
        Ok(())
    }

    /// Resolves what to connect to from the flags and `given` (see the module docs).
    pub fn target(&self, given: &Given) -> Result<Target, UsageError> {
        if self.sandbox {
            let token_lifetime = self
                .sandbox_token_lifetime
                .unwrap_or(DEFAULT_SANDBOX_TOKEN_LIFETIME);
            return sandbox_target(token_lifetime, given);
        }
        if self.sandbox_token_lifetime.is_some() {
            return Err(UsageError(
                "--sandbox-token-lifetime only applies with --sandbox; add --sandbox or drop it"
                    .into(),
            ));
        }
        let mut config = config_from(given)?;
        if let Some((path, origin)) = &given.ca_file {
            config
                .trust_root_certificate_file(path)
                .map_err(|e| UsageError(format!("{}: {e}", name_of("ca_file", *origin))))?;
        }
        if config.get_application_name() == Config::DEFAULT_APPLICATION_NAME {
            config.application_name("customers");
        }
        Ok(Target::Server(Box::new(config)))
    }
}

/// The sandbox's access token lifetime unless `--sandbox-token-lifetime` says otherwise:
/// Entra's own (about an hour).
pub const DEFAULT_SANDBOX_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

fn sandbox_target(token_lifetime: Duration, given: &Given) -> Result<Target, UsageError> {
    if !cfg!(feature = "sandbox") {
        return Err(UsageError(
            "this build of customers has no sandbox (built without the `sandbox` feature, as the container image is); run it from the repository with `cargo run -p customers -- --sandbox`".into(),
        ));
    }
    let flags: Vec<&str> = [
        ("--connection-string", &given.connection_string),
        ("--server", &given.server),
        ("--database", &given.database),
        ("--authentication", &given.authentication),
    ]
    .into_iter()
    .filter(|(_, v)| matches!(v, Some((_, Origin::Flag))))
    .map(|(name, _)| name)
    .chain(matches!(given.ca_file, Some((_, Origin::Flag))).then_some("--ca-file"))
    .collect();
    if !flags.is_empty() {
        return Err(UsageError(format!(
            "--sandbox starts its own server and trusts its own CA, so {} cannot be used with it; drop {}",
            flags.join(", "),
            if flags.len() == 1 { "it" } else { "them" }
        )));
    }
    if given.connection_string.is_some() || given.server.is_some() {
        tracing::debug!(
            "--sandbox: ignoring the AZURE_SQL_* connection settings in the environment"
        );
    }
    Ok(Target::Sandbox { token_lifetime })
}

/// The flag and variable a setting comes from, for messages.
fn name_of(id: &str, origin: Origin) -> String {
    let (flag, var) = match id {
        "connection_string" => ("--connection-string", Config::ENV_CONNECTION_STRING),
        "server" => ("--server", Config::ENV_SERVER),
        "database" => ("--database", Config::ENV_DATABASE),
        "authentication" => ("--authentication", Config::ENV_AUTHENTICATION),
        "ca_file" => ("--ca-file", "CUSTOMERS_CA_FILE"),
        _ => (id, id),
    };
    match origin {
        Origin::Flag => flag.to_string(),
        Origin::Env => format!("environment variable {var}"),
    }
}

/// Builds the library configuration from the given settings, through the library's own
/// environment reader (so flags and variables mean exactly what `Config::from_env` says).
fn config_from(given: &Given) -> Result<Config, UsageError> {
    let flag = |v: &Option<(String, Origin)>| matches!(v, Some((_, Origin::Flag)));
    let cs_flag = flag(&given.connection_string);
    let server_flags: Vec<&str> = [
        ("--server", &given.server),
        ("--database", &given.database),
        ("--authentication", &given.authentication),
    ]
    .into_iter()
    .filter(|(_, v)| flag(v))
    .map(|(n, _)| n)
    .collect();
    if cs_flag && !server_flags.is_empty() {
        return Err(UsageError(format!(
            "--connection-string and {} exclude each other: put everything in the connection string, or drop it",
            server_flags.join(", ")
        )));
    }
    // Which form to read: the command line decides when it names one; else the environment,
    // where the connection string wins (as in Config::from_env).
    let use_cs = if cs_flag {
        true
    } else if !server_flags.is_empty() {
        false
    } else {
        given.connection_string.is_some()
    };
    let (cs, server, database, authentication) = if use_cs {
        (given.connection_string.clone(), None, None, None)
    } else {
        (
            None,
            given.server.clone(),
            given.database.clone(),
            given.authentication.clone(),
        )
    };
    if cs.is_none() && server.is_none() && database.is_none() {
        return Err(UsageError(
            "nothing to connect to: pass --connection-string (or set AZURE_SQL_CONNECTION_STRING), or --server and --database (AZURE_SQL_SERVER, AZURE_SQL_DATABASE); or try --sandbox for a local stand-in".into(),
        ));
    }
    if server.is_some() != database.is_some() {
        let (missing, have) = if server.is_none() {
            ("--server (AZURE_SQL_SERVER)", "--database")
        } else {
            ("--database (AZURE_SQL_DATABASE)", "--server")
        };
        return Err(UsageError(format!(
            "{have} needs {missing} too (or give a whole --connection-string)"
        )));
    }
    let port = given.port.clone();
    let lookup = |name: &str| -> Option<String> {
        let pick = |v: &Option<(String, Origin)>| v.as_ref().map(|(s, _)| s.clone());
        match name {
            Config::ENV_CONNECTION_STRING => pick(&cs),
            Config::ENV_SERVER => pick(&server),
            Config::ENV_DATABASE => pick(&database),
            Config::ENV_AUTHENTICATION => pick(&authentication),
            Config::ENV_PORT => port.clone(),
            _ => None,
        }
    };
    Config::from_env_with(lookup).map_err(|e| {
        let origin_of = |id: &str| {
            let v = match id {
                "connection_string" => &cs,
                "server" => &server,
                "database" => &database,
                _ => &authentication,
            };
            v.as_ref().map(|(_, o)| *o).unwrap_or(Origin::Env)
        };
        match e {
            ConfigError::InvalidEnvironment { variable, source } => {
                let id = match variable {
                    "AZURE_SQL_CONNECTION_STRING" => "connection_string",
                    "AZURE_SQL_SERVER" => "server",
                    "AZURE_SQL_DATABASE" => "database",
                    "AZURE_SQL_AUTHENTICATION" => "authentication",
                    _ => return UsageError(format!("environment variable {variable}: {source}")),
                };
                UsageError(format!("{}: {source}", name_of(id, origin_of(id))))
            }
            other => UsageError(other.to_string()),
        }
    })
}

/// Parses `500ms`, `30s`, `5m`, `1h`, `1h30m`, `2d`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. 30s, 5m or 500ms".into());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let bad = || format!("`{text}` is not a duration; write e.g. 30s, 5m, 1h30m or 500ms");
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(bad()),
        };
        let part = u32::try_from(number)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or_else(|| format!("`{text}` is too long"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("`{text}` is too long"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// `--watch`: a duration from [`MIN_WATCH`] to [`MAX_WATCH`].
pub fn parse_watch(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    if !(MIN_WATCH..=MAX_WATCH).contains(&interval) {
        return Err(format!(
            "the watch interval must be from {MIN_WATCH:?} to {}h, got {interval:?}",
            MAX_WATCH.as_secs() / 3600
        ));
    }
    Ok(interval)
}

/// `--sandbox-token-lifetime`: whole seconds, at least 1, at most a day.
pub fn parse_token_lifetime(text: &str) -> Result<Duration, String> {
    let lifetime = parse_duration(text)?;
    if lifetime.subsec_nanos() != 0 || lifetime < Duration::from_secs(1) {
        return Err(format!(
            "the token lifetime must be whole seconds, at least 1s, got {lifetime:?}"
        ));
    }
    if lifetime > Duration::from_secs(86_400) {
        return Err(format!(
            "the token lifetime must be at most 1d (Entra's tokens live about an hour), got {lifetime:?}"
        ));
    }
    Ok(lifetime)
}

#[cfg(test)]
mod tests;
