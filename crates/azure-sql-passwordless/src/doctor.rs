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
//! | `doctor.rs` | the public types ([`Report`], [`Step`], [`Verdict`], [`DiagnoseOptions`], [`TableName`]) and the walk |
//! | `doctor/identity.rs` | `settings`, `workload_identity_env`, `token_file` |
//! | `doctor/entra.rs` | `entra_reachable`, `token_exchange`, `access_token` |
//! | `doctor/sql.rs` | `sql_gateway`, `sql_redirect`, `login`, `permission` |
//! | `doctor/jwt.rs` | reading a JWT's claims (never its signature; the token itself is never shown) |

mod entra;
mod identity;
mod jwt;
mod sql;

use crate::config::Config;
use crate::credential::Environment;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

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

/// A table name, `name` or `schema.name` (brackets allowed: `[dbo].[Customer]`), checked so that
/// it can only ever name a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    schema: Option<String>,
    name: String,
}

impl Default for TableName {
    fn default() -> Self {
        Self {
            schema: Some("dbo".into()),
            name: "Customer".into(),
        }
    }
}

/// A table name that [`TableName`] does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a table name: write name or schema.name (letters, digits, _, $, #, @; [brackets] for anything else), e.g. dbo.Customer")]
pub struct InvalidTableName {
    value: String,
}

impl FromStr for TableName {
    type Err = InvalidTableName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidTableName {
            value: text.chars().take(200).collect(),
        };
        let parts = split_identifiers(text.trim()).ok_or_else(invalid)?;
        match parts.as_slice() {
            [name] => Ok(Self {
                schema: None,
                name: name.clone(),
            }),
            [schema, name] => Ok(Self {
                schema: Some(schema.clone()),
                name: name.clone(),
            }),
            _ => Err(invalid()),
        }
    }
}

/// `a.b`, `[a].[b]`, `[a.b]`: the parts, or `None` when the text is not identifiers.
fn split_identifiers(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'[') {
            chars.next();
            loop {
                match chars.next()? {
                    ']' if chars.peek() == Some(&']') => {
                        chars.next();
                        part.push(']');
                    }
                    ']' => break,
                    c if c.is_control() => return None,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || "_$#@".contains(c) {
                    part.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
        }
        if part.is_empty() || part.chars().count() > 128 {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

impl TableName {
    /// The name quoted for T-SQL: `[dbo].[Customer]`.
    pub(crate) fn quoted(&self) -> String {
        let quote = |s: &str| format!("[{}]", s.replace(']', "]]"));
        match &self.schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(&self.name)),
            None => quote(&self.name),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The outcome of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The link works.
    Passed,
    /// The link is broken: [`Step::fix`] says what to change.
    Failed,
    /// Not tried, because an earlier step failed.
    Skipped,
    /// Not part of this setup (for example the token file, with a managed identity).
    NotApplicable,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "ok",
            Verdict::Failed => "FAILED",
            Verdict::Skipped => "skipped",
            Verdict::NotApplicable => "n/a",
        }
    }
}

/// One link of the path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Step {
    /// A stable identifier: `settings`, `workload_identity_env`, `token_file`,
    /// `entra_reachable`, `token_exchange`, `access_token`, `sql_gateway`, `sql_redirect`,
    /// `login`, `permission`.
    pub name: &'static str,
    /// What the step checks, in words.
    pub title: &'static str,
    /// The outcome.
    pub verdict: Verdict,
    /// What was seen: settings, claims, addresses, answers. Never a token or a secret.
    pub seen: Vec<String>,
    /// For a failed step, what to change (one or two sentences naming the field or command).
    pub fix: Option<String>,
}

/// The diagnosis: the steps in order. `Display` renders it for a terminal; it serializes (serde)
/// to one JSON object.
#[derive(Clone, Debug)]
pub struct Report {
    steps: Vec<Step>,
    elapsed: Duration,
}

impl Report {
    /// The steps, in the order they ran.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Whether no step failed.
    pub fn passed(&self) -> bool {
        self.failed().is_none()
    }

    /// The step that failed (the walk stops at the first one).
    pub fn failed(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.verdict == Verdict::Failed)
    }

    /// How long the diagnosis took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The report of settings that could not even be read (a connection string that does not
    /// parse, say): the `settings` step failed with `problem` as its fix, the rest skipped.
    pub fn settings_failed(problem: impl fmt::Display) -> Report {
        let mut walk = Walk::default();
        walk.record(
            identity::SETTINGS,
            Outcome::failed(Vec::new(), problem.to_string()),
        );
        for &step in ALL_STEPS.iter().skip(1) {
            walk.gate(step, None);
        }
        Report {
            steps: walk.steps,
            elapsed: Duration::ZERO,
        }
    }
}

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Report", 4)?;
        s.serialize_field("passed", &self.passed())?;
        s.serialize_field("failed_step", &self.failed().map(|f| f.name))?;
        s.serialize_field(
            "elapsed_ms",
            &u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
        )?;
        s.serialize_field("steps", &self.steps)?;
        s.end()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(
                f,
                "{:>2}. [{}] {}: {}",
                i + 1,
                step.verdict.label(),
                step.name,
                step.title
            )?;
            for line in &step.seen {
                writeln!(f, "      {line}")?;
            }
            if let Some(fix) = &step.fix {
                writeln!(f, "      fix: {fix}")?;
            }
        }
        match self.failed() {
            None => writeln!(f, "all steps passed ({} ms)", self.elapsed.as_millis()),
            Some(step) => writeln!(
                f,
                "step {} failed ({} ms): fix it and run the doctor again",
                step.name,
                self.elapsed.as_millis()
            ),
        }
    }
}

/// A step's identity: its name and title.
#[derive(Clone, Copy)]
pub(crate) struct StepId {
    name: &'static str,
    title: &'static str,
}

/// Every step, in order.
const ALL_STEPS: [StepId; 10] = [
    identity::SETTINGS,
    identity::WORKLOAD_IDENTITY_ENV,
    identity::TOKEN_FILE,
    entra::ENTRA_REACHABLE,
    entra::TOKEN_EXCHANGE,
    entra::ACCESS_TOKEN,
    sql::SQL_GATEWAY,
    sql::SQL_REDIRECT,
    sql::LOGIN,
    sql::PERMISSION,
];

/// What a step found.
pub(crate) enum Outcome {
    Passed(Vec<String>),
    Failed { seen: Vec<String>, fix: String },
    NotApplicable(String),
}

impl Outcome {
    pub(crate) fn failed(seen: Vec<String>, fix: impl Into<String>) -> Self {
        Outcome::Failed {
            seen,
            fix: fix.into(),
        }
    }
}

/// The steps so far, and whether one has failed.
#[derive(Default)]
pub(crate) struct Walk {
    steps: Vec<Step>,
}

impl Walk {
    fn broken(&self) -> bool {
        self.steps.iter().any(|s| s.verdict == Verdict::Failed)
    }

    /// Whether `step` runs: `false` (and the step recorded as not applicable, with the reason,
    /// or skipped after a failure) when it does not.
    pub(crate) fn gate(&mut self, step: StepId, not_applicable: Option<String>) -> bool {
        if let Some(reason) = not_applicable {
            self.record(step, Outcome::NotApplicable(reason));
            return false;
        }
        if self.broken() {
            self.push(step, Verdict::Skipped, Vec::new(), None);
            return false;
        }
        true
    }

    pub(crate) fn record(&mut self, step: StepId, outcome: Outcome) {
        match outcome {
            Outcome::Passed(seen) => self.push(step, Verdict::Passed, seen, None),
            Outcome::Failed { seen, fix } => self.push(step, Verdict::Failed, seen, Some(fix)),
            Outcome::NotApplicable(reason) => {
                self.push(step, Verdict::NotApplicable, vec![reason], None)
            }
        }
    }

    fn push(&mut self, step: StepId, verdict: Verdict, seen: Vec<String>, fix: Option<String>) {
        // Everything shown passes through the JWT redaction once more: a report never carries
        // a token, whatever a server or a file echoed.
        let clean = |s: String| crate::error::redact_jwts(&s);
        self.steps.push(Step {
            name: step.name,
            title: step.title,
            verdict,
            seen: seen.into_iter().map(clean).collect(),
            fix: fix.map(clean),
        });
    }
}

/// `d` as `1h 2m 3s` (whole seconds).
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, s) => format!("{h}h {m}m {s}s"),
    }
}

#[cfg(test)]
mod tests;
