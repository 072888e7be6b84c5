//! The T-SQL scripts a sandbox sets its database up with, run the way sqlcmd runs them: a
//! service's own ([`Script::new`], [`Script::from_file`], in
//! [`SandboxOptions::scripts`](crate::SandboxOptions::scripts)), or by default the project's
//! `sql/` scripts, embedded from the very files a DBA runs by hand (not copies; the crate's
//! `sql` is a link to them). [`SETUP`] holds the top-level `sql/*.sql` in the order their names
//! sort; [`REVOKE`] holds `sql/revoke/*.sql`, which the sorted run does not pick up. A test
//! fails if a `.sql` file exists that is not embedded here, or the other way round.

use crate::sql::{Engine, SqlError};
use std::borrow::Cow;
use std::path::Path;

/// One script: T-SQL with sqlcmd's `GO` separators, `:setvar` and `$(NAME)` variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Its name, for errors: a path under `sql/` for the project's scripts, the file's path for
    /// [`Script::from_file`].
    pub name: Cow<'static, str>,
    /// Its text.
    pub text: Cow<'static, str>,
}

impl Script {
    /// A script named `name`.
    pub fn new(name: impl Into<Cow<'static, str>>, text: impl Into<Cow<'static, str>>) -> Self {
        Script {
            name: name.into(),
            text: text.into(),
        }
    }

    /// A script read from a file (UTF-8), named by its path.
    pub fn from_file(path: impl AsRef<Path>) -> std::io::Result<Script> {
        let path = path.as_ref();
        Ok(Script::new(
            path.display().to_string(),
            std::fs::read_to_string(path)?,
        ))
    }

    const fn embedded(name: &'static str, text: &'static str) -> Script {
        Script {
            name: Cow::Borrowed(name),
            text: Cow::Borrowed(text),
        }
    }
}

/// `sql/*.sql`, in the order their names sort: the Customer table, then the grant (which needs
/// the sqlcmd variable `IDENTITY_NAME`).
pub const SETUP: &[Script] = &[
    Script::embedded(
        "01_customer_table.sql",
        include_str!("../sql/01_customer_table.sql"),
    ),
    Script::embedded(
        "02_grant_read_to_workload_identity.sql",
        include_str!("../sql/02_grant_read_to_workload_identity.sql"),
    ),
];

/// `sql/revoke/*.sql`, in the order their names sort: drop the role membership, then (optionally)
/// the user.
pub const REVOKE: &[Script] = &[
    Script::embedded(
        "revoke/01_revoke_read_from_workload_identity.sql",
        include_str!("../sql/revoke/01_revoke_read_from_workload_identity.sql"),
    ),
    Script::embedded(
        "revoke/02_drop_workload_identity_user.sql",
        include_str!("../sql/revoke/02_drop_workload_identity_user.sql"),
    ),
];

/// A script that failed: which one, and SQL Server's error with the script line it stopped at.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{script}, line {}: error {} (severity {}): {}; fix the script or the variables passed to it", error.line, error.number, error.severity, error.message)]
pub struct ScriptError {
    /// The script's name.
    pub script: String,
    /// The error, its line counted in the script.
    pub error: SqlError,
}

/// Runs `scripts` in order in `database` as the server admin, as `sqlcmd -v NAME=value -i` would
/// with these variables; the first error stops them.
pub fn run(
    scripts: &[Script],
    engine: &Engine,
    database: &str,
    vars: &[(String, String)],
) -> Result<(), ScriptError> {
    for script in scripts {
        tracing::debug!(script = %script.name, database, "running sql script");
        engine
            .run_script(database, &script.text, vars)
            .map_err(|error| ScriptError {
                script: script.name.to_string(),
                error,
            })?;
    }
    Ok(())
}

/// Runs [`SETUP`] in `database` as the server admin, as `sqlcmd -v NAME=value -i` would, e.g. with
/// `IDENTITY_NAME` = the workload identity's display name in the directory.
pub fn run_all(
    engine: &Engine,
    database: &str,
    vars: &[(String, String)],
) -> Result<(), ScriptError> {
    run(SETUP, engine, database, vars)
}

/// Runs the revoke scripts: only the role membership (`drop_user: false`) or the user too.
pub fn run_revoke(
    engine: &Engine,
    database: &str,
    vars: &[(String, String)],
    drop_user: bool,
) -> Result<(), ScriptError> {
    let scripts = if drop_user { REVOKE } else { &REVOKE[..1] };
    run(scripts, engine, database, vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::testing::{directory, TokenFor, IDENTITY};
    use crate::sql::{Outcome, SqlType, Value};
    use std::path::{Path, PathBuf};

    fn sql_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sql")
    }

    fn sql_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.to_ascii_lowercase().ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_sql_file_is_embedded_in_sorted_order_and_nothing_else() {
        let top = sql_files(&sql_dir());
        let embedded: Vec<&str> = SETUP.iter().map(|s| &*s.name).collect();
        assert_eq!(
            top, embedded,
            "sql/*.sql and scripts::SETUP differ: embed every file, in sorted order"
        );
        let revoke: Vec<String> = sql_files(&sql_dir().join("revoke"))
            .into_iter()
            .map(|n| format!("revoke/{n}"))
            .collect();
        let embedded: Vec<&str> = REVOKE.iter().map(|s| &*s.name).collect();
        assert_eq!(
            revoke, embedded,
            "sql/revoke/*.sql and scripts::REVOKE differ"
        );
        for s in SETUP.iter().chain(REVOKE) {
            let on_disk = std::fs::read_to_string(sql_dir().join(&*s.name)).unwrap();
            assert_eq!(on_disk, s.text, "{} is not the file on disk", s.name);
        }
    }

    #[test]
    fn only_the_grant_needs_an_entra_principal() {
        // compose.yaml's SQL Server container skips scripts naming an external provider, so the
        // table must not live in one of them.
        for s in SETUP {
            let external = s
                .text
                .to_ascii_uppercase()
                .contains("FROM EXTERNAL PROVIDER");
            let table = s.text.contains("CREATE TABLE");
            assert!(
                !(external && table),
                "{} mixes the table and the Entra user",
                s.name
            );
        }
    }

    fn vars() -> Vec<(String, String)> {
        vec![("IDENTITY_NAME".to_string(), IDENTITY.display_name.clone())]
    }

    fn engine() -> Engine {
        let engine = Engine::new(directory());
        engine.create_database("customers").unwrap();
        engine
    }

    fn customers(engine: &Engine) -> Vec<Vec<Value>> {
        let mut session = engine
            .login_external("customers", &IDENTITY.token())
            .expect("the workload identity logs in");
        let out = engine.execute(&mut session, "SELECT customer_id, first_name, last_name, active FROM dbo.Customer ORDER BY customer_id");
        let Outcome::Rows(rs) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(rs.columns[0].ty, SqlType::Int);
        assert!(!rs.columns[0].nullable, "customer_id is INT NOT NULL");
        assert_eq!(rs.columns[3].ty, SqlType::Bit);
        rs.rows.clone()
    }

    #[test]
    fn running_the_scripts_as_the_sandbox_does_yields_the_five_customers() {
        let engine = engine();
        run_all(&engine, "customers", &vars()).unwrap();
        let rows = customers(&engine);
        let expected = [
            (1, "John", "Doe", true),
            (2, "Jane", "Smith", false),
            (3, "Alice", "Johnson", false),
            (4, "Bob", "Brown", true),
            (5, "Emily", "Davis", false),
        ];
        assert_eq!(rows.len(), 5);
        for (row, (id, first, last, active)) in rows.iter().zip(expected) {
            assert_eq!(
                row,
                &vec![
                    Value::Int(id),
                    Value::Text(first.into()),
                    Value::Text(last.into()),
                    Value::Bool(active)
                ]
            );
        }
    }

    #[test]
    fn the_scripts_are_idempotent() {
        let engine = engine();
        run_all(&engine, "customers", &vars()).unwrap();
        run_all(&engine, "customers", &vars()).unwrap();
        assert_eq!(customers(&engine).len(), 5);
    }

    #[test]
    fn the_grant_needs_identity_name_and_says_so() {
        let engine = engine();
        let e = run_all(&engine, "customers", &[]).unwrap_err();
        assert_eq!(e.script, "02_grant_read_to_workload_identity.sql");
        assert_eq!(
            e.error.message,
            "'IDENTITY_NAME' scripting variable not defined."
        );
        assert!(e
            .to_string()
            .contains("02_grant_read_to_workload_identity.sql, line"));
    }

    #[test]
    fn granting_an_identity_the_directory_does_not_know_fails_with_33130() {
        let engine = engine();
        let e = run_all(
            &engine,
            "customers",
            &[("IDENTITY_NAME".into(), "nobody".into())],
        )
        .unwrap_err();
        assert_eq!(e.error.number, 33130);
        assert_eq!(
            e.error.message,
            "Principal 'nobody' could not be found or this principal type is not supported."
        );
    }

    #[test]
    fn revoking_takes_effect_on_the_next_login() {
        let engine = engine();
        run_all(&engine, "customers", &vars()).unwrap();
        let mut open = engine
            .login_external("customers", &IDENTITY.token())
            .unwrap();
        run_revoke(&engine, "customers", &vars(), false).unwrap();
        // The open session keeps the roles it logged in with.
        assert!(matches!(
            engine.execute(&mut open, "SELECT customer_id FROM dbo.Customer")[0],
            Outcome::Rows(_)
        ));
        let mut next = engine
            .login_external("customers", &IDENTITY.token())
            .unwrap();
        let out = engine.execute(&mut next, "SELECT customer_id FROM dbo.Customer");
        let Outcome::Error(e) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!((e.number, e.severity, e.state), (229, 14, 5));
        assert_eq!(e.message, "The SELECT permission was denied on the object 'Customer', database 'customers', schema 'dbo'.");
        // Dropping the user too: the next login is refused outright.
        run_revoke(&engine, "customers", &vars(), true).unwrap();
        let e = engine
            .login_external("customers", &IDENTITY.token())
            .unwrap_err();
        assert_eq!(e.number, 18456);
        // And the grant brings it all back.
        run_all(&engine, "customers", &vars()).unwrap();
        assert_eq!(customers(&engine).len(), 5);
    }
}
