//! Tests of the demo's flags and environment: every resolution and every settings error.

use super::*;
use azure_sql_passwordless::Authentication;

/// Parses `args` as the command line, with every environment variable ignored (the tests
/// give environment values through [`Given`], never through the process environment).
fn parse(args: &[&str]) -> Result<(Cli, Given), clap::Error> {
    let matches = Cli::command()
        .mut_args(|a| a.env(None::<&str>))
        .try_get_matches_from(std::iter::once("customers").chain(args.iter().copied()))?;
    let cli = Cli::from_arg_matches(&matches)?;
    let given = cli.given(&matches, None);
    Ok((cli, given))
}

fn env(v: &str) -> Option<(String, Origin)> {
    Some((v.to_string(), Origin::Env))
}

fn flag(v: &str) -> Option<(String, Origin)> {
    Some((v.to_string(), Origin::Flag))
}

fn server_config(target: Target) -> Config {
    match target {
        Target::Server(c) => *c,
        Target::Sandbox { .. } => panic!("expected a server target"),
    }
}

fn plain_cli() -> Cli {
    parse(&[]).expect("no arguments parse").0
}

#[test]
fn durations_parse_in_every_unit_and_combination() {
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(
        parse_duration("1m30s250ms"),
        Ok(Duration::from_millis(90_250))
    );
    assert_eq!(parse_duration(" 2d "), Ok(Duration::from_secs(172_800)));
}

#[test]
fn bad_durations_say_how_to_write_one() {
    for bad in ["", "s", "10x", "ten", "1.5s", "-1s", "10 s", "m5"] {
        let e = parse_duration(bad).expect_err(bad);
        assert!(e.contains("30s") || e.contains("5m"), "{bad}: {e}");
    }
    let huge = parse_duration("99999999999d").expect_err("overflow");
    assert!(huge.contains("too long"), "{huge}");
}

#[test]
fn watch_is_bounded() {
    assert_eq!(parse_watch("100ms"), Ok(Duration::from_millis(100)));
    assert_eq!(parse_watch("1d"), Ok(Duration::from_secs(86_400)));
    for bad in ["0", "0s", "50ms", "2d"] {
        let e = parse_watch(bad).expect_err(bad);
        assert!(e.contains("from 100ms to 24h"), "{bad}: {e}");
    }
    assert!(parse(&["--watch", "10ms"]).is_err());
    let (cli, _) = parse(&["--watch", "30s"]).expect("parses");
    assert_eq!(cli.watch, Some(Duration::from_secs(30)));
}

#[test]
fn token_lifetime_is_whole_seconds() {
    assert_eq!(parse_token_lifetime("20s"), Ok(Duration::from_secs(20)));
    assert!(parse_token_lifetime("1500ms").is_err());
    assert!(parse_token_lifetime("0").is_err());
    assert!(parse_token_lifetime("2d").is_err());
}

#[test]
fn format_defaults_to_text_and_knows_json() {
    assert_eq!(plain_cli().format, Format::Text);
    let (cli, _) = parse(&["--format", "json"]).expect("parses");
    assert_eq!(cli.format, Format::Json);
    let e = parse(&["--format", "xml"]).expect_err("xml is no format");
    assert!(e.to_string().contains("text"), "{e}");
}

#[test]
fn a_connection_string_flag_builds_the_config() {
    let (cli, given) = parse(&[
        "--connection-string",
        "Server=tcp:myserver.database.windows.net,1433;Database=mydb;Authentication=Active Directory Workload Identity",
    ])
    .expect("parses");
    let config = server_config(cli.target(&given).expect("resolves"));
    assert_eq!(config.get_host(), "myserver.database.windows.net");
    assert_eq!(config.get_database(), Some("mydb"));
    assert_eq!(
        config.get_authentication(),
        Authentication::WorkloadIdentity
    );
    assert_eq!(config.get_application_name(), "customers");
}

#[test]
fn server_flags_build_the_config_with_the_default_chain_unless_told() {
    let (cli, given) = parse(&[
        "--server",
        "tcp:myserver.database.windows.net,1433",
        "--database",
        "mydb",
    ])
    .expect("parses");
    let config = server_config(cli.target(&given).expect("resolves"));
    assert_eq!(config.get_port(), 1433);
    assert_eq!(config.get_authentication(), Authentication::Default);

    let (cli, given) = parse(&[
        "--server",
        "myserver.database.windows.net",
        "--database",
        "mydb",
        "--authentication",
        "active directory msi",
    ])
    .expect("parses");
    let config = server_config(cli.target(&given).expect("resolves"));
    assert_eq!(config.get_authentication(), Authentication::ManagedIdentity);
}

#[test]
fn an_application_name_in_the_connection_string_is_kept() {
    let given = Given {
        connection_string: flag("Server=s;Database=d;Application Name=billing"),
        ..Given::default()
    };
    let config = server_config(plain_cli().target(&given).expect("resolves"));
    assert_eq!(config.get_application_name(), "billing");
}

#[test]
fn in_the_environment_the_connection_string_wins_as_in_the_library() {
    let given = Given {
        connection_string: env("Server=a.database.windows.net;Database=from_cs"),
        server: env("b.database.windows.net"),
        database: env("from_vars"),
        ..Given::default()
    };
    let config = server_config(plain_cli().target(&given).expect("resolves"));
    assert_eq!(config.get_database(), Some("from_cs"));
}

#[test]
fn flags_beat_the_environment_whichever_form_they_take() {
    let given = Given {
        connection_string: env("Server=a.database.windows.net;Database=from_env"),
        server: flag("b.database.windows.net"),
        database: flag("from_flags"),
        ..Given::default()
    };
    let config = server_config(plain_cli().target(&given).expect("resolves"));
    assert_eq!(config.get_host(), "b.database.windows.net");
    assert_eq!(config.get_database(), Some("from_flags"));

    let given = Given {
        connection_string: flag("Server=a.database.windows.net;Database=from_flag"),
        server: env("b.database.windows.net"),
        database: env("from_env"),
        ..Given::default()
    };
    let config = server_config(plain_cli().target(&given).expect("resolves"));
    assert_eq!(config.get_database(), Some("from_flag"));
}

#[test]
fn an_authentication_variable_applies_to_server_flags() {
    let given = Given {
        server: flag("b.database.windows.net"),
        database: flag("d"),
        authentication: env("Active Directory Workload Identity"),
        ..Given::default()
    };
    let config = server_config(plain_cli().target(&given).expect("resolves"));
    assert_eq!(
        config.get_authentication(),
        Authentication::WorkloadIdentity
    );
}

#[test]
fn the_port_variable_applies_to_the_server_form() {
    let given = Given {
        server: env("myserver.database.windows.net"),
        database: env("d"),
        port: Some("14330".into()),
        ..Given::default()
    };
    let config = server_config(plain_cli().target(&given).expect("resolves"));
    assert_eq!(config.get_port(), 14330);
}

#[test]
fn a_connection_string_flag_and_server_flags_exclude_each_other() {
    let (cli, given) = parse(&[
        "--connection-string",
        "Server=a;Database=b",
        "--database",
        "c",
    ])
    .expect("clap lets it through");
    let e = cli.target(&given).expect_err("conflict");
    assert!(
        e.0.contains("--connection-string and --database exclude each other"),
        "{e}"
    );
}

#[test]
fn nothing_to_connect_to_names_every_way_to_say_it() {
    let e = plain_cli().target(&Given::default()).expect_err("empty");
    for needle in [
        "--connection-string",
        "AZURE_SQL_CONNECTION_STRING",
        "--server",
        "AZURE_SQL_DATABASE",
        "--sandbox",
    ] {
        assert!(e.0.contains(needle), "{needle} missing from: {e}");
    }
}

#[test]
fn server_and_database_go_together() {
    let given = Given {
        server: flag("myserver.database.windows.net"),
        ..Given::default()
    };
    let e = plain_cli().target(&given).expect_err("no database");
    assert!(
        e.0.contains("--server needs --database (AZURE_SQL_DATABASE)"),
        "{e}"
    );
    let given = Given {
        database: env("d"),
        ..Given::default()
    };
    let e = plain_cli().target(&given).expect_err("no server");
    assert!(e.0.contains("needs --server (AZURE_SQL_SERVER)"), "{e}");
}

#[test]
fn library_errors_name_the_flag_or_the_variable_the_value_came_from() {
    let given = Given {
        connection_string: flag("Server=s;Databse=d"),
        ..Given::default()
    };
    let e = plain_cli().target(&given).expect_err("typo");
    assert!(e.0.starts_with("--connection-string: "), "{e}");
    assert!(e.0.contains("did you mean `Database`"), "{e}");

    let given = Given {
        server: flag("s"),
        database: flag("d"),
        authentication: env("Active Directory Kerberos"),
        ..Given::default()
    };
    let e = plain_cli().target(&given).expect_err("unknown mode");
    assert!(
        e.0.starts_with("environment variable AZURE_SQL_AUTHENTICATION: "),
        "{e}"
    );
    assert!(e.0.contains("Active Directory Workload Identity"), "{e}");

    let given = Given {
        server: env("np:myserver"),
        database: env("d"),
        ..Given::default()
    };
    let e = plain_cli().target(&given).expect_err("named pipes");
    assert!(
        e.0.starts_with("environment variable AZURE_SQL_SERVER: "),
        "{e}"
    );
}

#[test]
fn a_password_with_a_passwordless_mode_is_refused_without_showing_it() {
    let given = Given {
        connection_string: flag(
            "Server=s;Database=d;Authentication=Active Directory Workload Identity;Password=hunter2-secret",
        ),
        ..Given::default()
    };
    let e = plain_cli().target(&given).expect_err("password");
    assert!(e.0.contains("`Password` given"), "{e}");
    assert!(!e.0.contains("hunter2-secret"), "{e}");
}

#[test]
fn a_missing_ca_file_is_named() {
    let given = Given {
        connection_string: env("Server=s;Database=d"),
        ca_file: Some(("/nonexistent/ca.pem".into(), Origin::Flag)),
        ..Given::default()
    };
    let e = plain_cli().target(&given).expect_err("no such file");
    assert!(e.0.starts_with("--ca-file: "), "{e}");
    assert!(e.0.contains("/nonexistent/ca.pem"), "{e}");
}

#[test]
fn health_needs_watch() {
    let (cli, _) = parse(&["--health-addr", "127.0.0.1:8080"]).expect("parses");
    let e = cli.check().expect_err("no watch");
    assert!(e.0.contains("needs --watch"), "{e}");
    let (cli, _) = parse(&["--health-addr", "127.0.0.1:8080", "--watch", "1s"]).expect("parses");
    assert!(cli.check().is_ok());
    assert!(parse(&["--health-addr", "localhost"]).is_err());
}

#[test]
fn the_sandbox_token_lifetime_needs_the_sandbox() {
    let (cli, given) = parse(&[
        "--sandbox-token-lifetime",
        "20s",
        "--connection-string",
        "Server=s;Database=d",
    ])
    .expect("parses");
    let e = cli.target(&given).expect_err("no sandbox");
    assert!(e.0.contains("only applies with --sandbox"), "{e}");
}

#[cfg(feature = "sandbox")]
#[test]
fn the_sandbox_ignores_the_environment_and_refuses_connection_flags() {
    let (cli, _) = parse(&["--sandbox", "--sandbox-token-lifetime", "20s"]).expect("parses");
    let given = Given {
        connection_string: env("Server=a;Database=b"),
        server: env("a"),
        ..Given::default()
    };
    match cli.target(&given).expect("resolves") {
        Target::Sandbox { token_lifetime } => {
            assert_eq!(token_lifetime, Duration::from_secs(20))
        }
        Target::Server(_) => panic!("expected the sandbox"),
    }
    let given = Given {
        server: flag("a"),
        ca_file: Some(("ca.pem".into(), Origin::Flag)),
        ..Given::default()
    };
    let e = cli.target(&given).expect_err("flags with --sandbox");
    assert!(
        e.0.contains("--server, --ca-file cannot be used with it"),
        "{e}"
    );
}

#[cfg(not(feature = "sandbox"))]
#[test]
fn without_the_feature_the_sandbox_says_how_to_get_it() {
    let (cli, given) = parse(&["--sandbox"]).expect("parses");
    let e = cli.target(&given).expect_err("no sandbox");
    assert!(e.0.contains("cargo run -p customers -- --sandbox"), "{e}");
}
