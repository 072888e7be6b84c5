//! Shared by the demo's end-to-end tests: the real `customers` binary run as a child process
//! against the sandbox started in-process (port 0), with the environment a pod on AKS has, and
//! the readers of its output.
#![allow(dead_code)]

#[path = "../../../azure-sql-passwordless/tests/common/prometheus_text.rs"]
pub mod prometheus_text;
#[path = "../../../azure-sql-passwordless/tests/common/target.rs"]
pub mod target;

use azure_sql_sandbox::{Sandbox, SandboxOptions};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_customers");

/// Bound on any one run or wait: a hang fails the test instead of stalling the suite.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The five sample rows as the demo prints them.
pub const FIVE: &str =
    "Customer ID-->1\nCustomer ID-->2\nCustomer ID-->3\nCustomer ID-->4\nCustomer ID-->5\n";

/// Starts a sandbox with `options`.
pub async fn sandbox(options: SandboxOptions) -> Sandbox {
    Sandbox::start(options).await.expect("the sandbox starts")
}

/// Sandbox options with access tokens living `secs` seconds.
pub fn lifetime(secs: u64) -> SandboxOptions {
    SandboxOptions {
        token_lifetime: Duration::from_secs(secs),
        ..SandboxOptions::default()
    }
}

/// The variables the workload identity webhook injects into a pod.
pub fn webhook_env(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    let env = sandbox.env();
    vec![
        ("AZURE_CLIENT_ID", env.client_id.clone()),
        ("AZURE_TENANT_ID", env.tenant_id.clone()),
        ("AZURE_AUTHORITY_HOST", env.authority_host.clone()),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            env.federated_token_file.display().to_string(),
        ),
    ]
}

/// What a pod running the demo on AKS has: the webhook's variables, the `k8s/` ConfigMap's
/// server, database and authentication, and (standing in for the system's CA store, which
/// trusts Azure's certificates) the sandbox's CA.
pub fn pod_env(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    let env = sandbox.env();
    let mut vars = webhook_env(sandbox);
    vars.extend([
        ("AZURE_SQL_SERVER", env.server.clone()),
        ("AZURE_SQL_DATABASE", env.database.clone()),
        (
            "AZURE_SQL_AUTHENTICATION",
            "Active Directory Workload Identity".to_string(),
        ),
        ("CUSTOMERS_CA_FILE", env.ca_pem_path.display().to_string()),
    ]);
    vars
}

/// The binary with an empty environment plus `vars` (nothing leaks in from the test's own).
pub fn customers<K: AsRef<str>, V: AsRef<str>>(vars: &[(K, V)]) -> Command {
    let mut command = Command::new(BIN);
    command.env_clear().kill_on_drop(true);
    for (k, v) in vars {
        command.env(k.as_ref(), v.as_ref());
    }
    command
}

/// A finished run.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The last line on stderr: the one-line failure.
    pub fn last_error_line(&self) -> &str {
        self.stderr.lines().last().unwrap_or_default()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` with `args` to the end (at most [`PATIENCE`]).
pub async fn run_demo(mut command: Command, args: &[&str]) -> Run {
    let output = tokio::time::timeout(
        PATIENCE,
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output(),
    )
    .await
    .expect("the demo finishes in time")
    .expect("the demo runs");
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A running demo whose stdout and stderr lines arrive on channels.
pub struct Running {
    pub child: Child,
    pub stdout: mpsc::UnboundedReceiver<String>,
    pub stderr: mpsc::UnboundedReceiver<String>,
    /// Every stderr line seen so far by [`Running::stderr_until`] (for failure messages).
    pub seen_stderr: Vec<String>,
}

/// Starts `command` with `args`, its output read line by line.
pub fn spawn(mut command: Command, args: &[&str]) -> Running {
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let stdout = lines(child.stdout.take().expect("piped stdout"));
    let stderr = lines(child.stderr.take().expect("piped stderr"));
    Running {
        child,
        stdout,
        stderr,
        seen_stderr: Vec::new(),
    }
}

fn lines(
    reader: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Running {
    /// The next stdout line (at most [`PATIENCE`]).
    pub async fn next_stdout(&mut self) -> String {
        match tokio::time::timeout(PATIENCE, self.stdout.recv()).await {
            Ok(Some(line)) => line,
            other => panic!(
                "no stdout line ({other:?}); stderr so far:\n{}",
                self.seen_stderr.join("\n")
            ),
        }
    }

    /// Reads stderr until a line satisfies `pred`, and returns it.
    pub async fn stderr_until(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.stderr.recv()).await {
                Ok(Some(line)) => {
                    self.seen_stderr.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                other => panic!(
                    "no stderr line {what} ({other:?}); stderr so far:\n{}",
                    self.seen_stderr.join("\n")
                ),
            }
        }
    }

    /// Sends SIGTERM, as the kubelet does, and waits for the exit (at most [`PATIENCE`]).
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().expect("still running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid}");
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the demo stops after SIGTERM")
            .expect("wait works")
    }
}

/// Starts `command` as `--watch 200ms --format json --health-addr 127.0.0.1:0` and returns it with
/// the address its health server announced (probes and `/metrics`).
pub async fn watch_with_health(command: Command) -> (Running, String) {
    let mut demo = spawn(
        command,
        &[
            "--watch",
            "200ms",
            "--format",
            "json",
            "--health-addr",
            "127.0.0.1:0",
        ],
    );
    let line = demo
        .stderr_until("announcing the health address", |l| {
            log_fields(l).is_some_and(|f| f.get("addr").is_some())
        })
        .await;
    let addr = log_fields(&line).expect("json")["addr"]
        .as_str()
        .expect("addr is a string")
        .to_string();
    (demo, addr)
}

/// A JSON log line's `fields` (the demo logs JSON with `--format json`).
pub fn log_fields(line: &str) -> Option<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value.get("fields").cloned()
}

/// `GET http://{addr}{path}`: status and body.
pub async fn get(addr: &str, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    let body = response.text().await.expect("a body");
    (status, body)
}

/// External targets for the demo: the same variables as the library's end-to-end suite, read by
/// its own `target.rs` (included below), passed to the binary as `--connection-string`. Prints
/// each target skipped and the variable that enables it.
pub fn external_targets(test: &str) -> Vec<(&'static str, String)> {
    target::configured(test)
        .into_iter()
        .map(|t| (t.name, t.connection_string))
        .collect()
}
