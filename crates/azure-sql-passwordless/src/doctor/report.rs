//! The report a diagnosis returns, and how its steps are recorded: [`Report`], [`Step`],
//! [`Verdict`], each step's identity ([`StepId`] and the ten of them in order), and the
//! [`Walk`] that records a step's outcome or skips it after a failure.

use serde::Serialize;
use std::fmt;
use std::time::Duration;

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
    pub(super) steps: Vec<Step>,
    pub(super) elapsed: Duration,
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
        walk.record(SETTINGS, Outcome::failed(Vec::new(), problem.to_string()));
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

pub(crate) const SETTINGS: StepId = StepId {
    name: "settings",
    title: "the connection settings and the token source they choose",
};
pub(crate) const WORKLOAD_IDENTITY_ENV: StepId = StepId {
    name: "workload_identity_env",
    title: "the workload identity webhook's variables",
};
pub(crate) const TOKEN_FILE: StepId = StepId {
    name: "token_file",
    title: "the projected service-account token",
};
pub(crate) const ENTRA_REACHABLE: StepId = StepId {
    name: "entra_reachable",
    title: "Entra's authority host: DNS, TCP and TLS",
};
pub(crate) const TOKEN_EXCHANGE: StepId = StepId {
    name: "token_exchange",
    title: "the access token request",
};
pub(crate) const ACCESS_TOKEN: StepId = StepId {
    name: "access_token",
    title: "the access token's claims, checked against the server",
};
pub(crate) const SQL_GATEWAY: StepId = StepId {
    name: "sql_gateway",
    title: "the server's address: DNS, TCP, TLS and the certificate's name",
};
pub(crate) const SQL_REDIRECT: StepId = StepId {
    name: "sql_redirect",
    title: "the redirect target the gateway names (ports 11000-11999 on Azure)",
};
pub(crate) const LOGIN: StepId = StepId {
    name: "login",
    title: "the login with the access token",
};
pub(crate) const PERMISSION: StepId = StepId {
    name: "permission",
    title: "SELECT on the application's table",
};

/// Every step, in order.
pub(crate) const ALL_STEPS: [StepId; 10] = [
    SETTINGS,
    WORKLOAD_IDENTITY_ENV,
    TOKEN_FILE,
    ENTRA_REACHABLE,
    TOKEN_EXCHANGE,
    ACCESS_TOKEN,
    SQL_GATEWAY,
    SQL_REDIRECT,
    LOGIN,
    PERMISSION,
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
    pub(super) steps: Vec<Step>,
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
