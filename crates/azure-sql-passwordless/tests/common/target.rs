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
//! variable would enable each.

use azure_sql_passwordless::Config;

/// An external target the suite can also run against.
pub struct External {
    /// `sqlserver` or `azure`.
    pub name: &'static str,
    /// The configuration parsed from the variable.
    pub config: Config,
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

/// The external targets whose variables are set, in the order of [`VARIABLES`]. Prints, for
/// `test`, each target it skips and how to enable it. A variable that is set but does not parse
/// fails the test with the parser's message (a typo must not silently skip a target).
pub fn external(test: &str) -> Vec<External> {
    let mut targets = Vec::new();
    for (name, variable, what) in VARIABLES {
        match std::env::var(variable) {
            Ok(value) if !value.trim().is_empty() => {
                let config: Config = value
                    .parse()
                    .unwrap_or_else(|e| panic!("{variable} does not parse: {e}"));
                println!("{test}: also running against {name} ({variable})");
                targets.push(External { name, config });
            }
            _ => println!("{test}: skipped target {name} ({what}): set {variable} to enable it"),
        }
    }
    targets
}

/// Prints that `test` runs on the sandbox only, and why.
pub fn sandbox_only(test: &str, why: &str) {
    println!("{test}: sandbox only ({why}); the external targets do not apply");
}
