//! Which servers the end-to-end suite runs against, chosen by environment variables:
//!
//! | target | enabled by | authentication |
//! |---|---|---|
//! | the sandbox | always | workload identity through the sandbox's Entra and Kubernetes issuer |
//! | a SQL Server container (`compose.yaml`) | `AZURE_SQL_TEST_SQLSERVER` = an ADO.NET connection string | `Sql Password` (a container cannot validate Entra tokens) |
//! | a real Azure SQL database | `AZURE_SQL_TEST_AZURE` = an ADO.NET connection string | any Entra mode, e.g. `Active Directory Default` |
//!
//! Tests that need the sandbox's fault switches (or its counters) run on the sandbox only and
//! say so. Every test that could run on a real server prints which targets it skipped and which
//! variable would enable each; and once per test binary, the skipped targets are also written
//! where a plain `cargo test` shows them (see [`announce_skipped`]).
//!
//! The demo's end-to-end tests (`crates/customers/tests/common/mod.rs`) include this file too,
//! so both suites read the same variables and report a skip the same way.

use azure_sql_passwordless::Config;
use std::io::Write;
use std::sync::Once;

/// An external target the suite can also run against.
pub struct External {
    /// `sqlserver` or `azure`.
    pub name: &'static str,
    /// The configuration parsed from the variable.
    pub config: Config,
}

/// An external target whose variable is set, before parsing.
pub struct Configured {
    /// `sqlserver` or `azure`.
    pub name: &'static str,
    /// The variable that enabled it.
    pub variable: &'static str,
    /// Its value: an ADO.NET connection string.
    pub connection_string: String,
}

/// The variables that enable external targets, with what each points at.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "sqlserver",
        "AZURE_SQL_TEST_SQLSERVER",
        "a SQL Server container (compose.yaml), Authentication=Sql Password",
    ),
    (
        "azure",
        "AZURE_SQL_TEST_AZURE",
        "a real Azure SQL database with Microsoft Entra authentication",
    ),
];

/// The external targets whose variables are set, in the order of [`VARIABLES`], as their
/// connection strings. Prints, for `test`, each target it skips and how to enable it.
pub fn configured(test: &str) -> Vec<Configured> {
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for &(name, variable, what) in VARIABLES {
        match std::env::var(variable) {
            Ok(value) if !value.trim().is_empty() => {
                println!("{test}: also running against {name} ({variable})");
                targets.push(Configured {
                    name,
                    variable,
                    connection_string: value,
                });
            }
            _ => {
                let line = format!("skipped target {name} ({what}): set {variable} to enable it");
                println!("{test}: {line}");
                skipped.push(line);
            }
        }
    }
    announce_skipped(&skipped);
    targets
}

/// The external targets whose variables are set, in the order of [`VARIABLES`]. Prints, for
/// `test`, each target it skips and how to enable it. A variable that is set but does not parse
/// fails the test with the parser's message (a typo must not silently skip a target).
pub fn external(test: &str) -> Vec<External> {
    configured(test)
        .into_iter()
        .map(|target| {
            let variable = target.variable;
            let config: Config = target
                .connection_string
                .parse()
                .unwrap_or_else(|e| panic!("{variable} does not parse: {e}"));
            External {
                name: target.name,
                config,
            }
        })
        .collect()
}

/// Writes the skipped targets, once per test binary, to the process's standard error itself.
/// The test harness captures what `print!` and `eprint!` (so `println!` and `eprintln!` too)
/// write from a test and shows it only for a test that fails; a write through the
/// `std::io::stderr()` handle is not captured, so a plain `cargo test` shows these lines between
/// the harness's own.
fn announce_skipped(skipped: &[String]) {
    static ONCE: Once = Once::new();
    if skipped.is_empty() {
        return;
    }
    ONCE.call_once(|| {
        let suite = concat!(env!("CARGO_PKG_NAME"), " tests/", env!("CARGO_CRATE_NAME"));
        let text: String = skipped
            .iter()
            .map(|line| format!("{suite}: {line}\n"))
            .collect();
        // One write for all the lines, so parallel tests' harness output does not split them.
        // Nothing to do if stderr is gone: the per-test lines above still say it.
        let _ = std::io::stderr().write_all(text.as_bytes());
    });
}

/// Prints that `test` runs on the sandbox only, and why.
pub fn sandbox_only(test: &str, why: &str) {
    println!("{test}: sandbox only ({why}); the external targets do not apply");
}
