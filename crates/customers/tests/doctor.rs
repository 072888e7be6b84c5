//! `customers doctor` end to end against the sandbox started in-process: with a pod's
//! environment every step passes; then one link at a time is broken (in the environment, in the
//! projected token file, in Entra's directory, in the network, in the database), and exactly
//! that step must fail, every earlier step pass, every later one be skipped, and the fix name
//! the field or command to change. No report may carry a token, and no run may ask Entra or log
//! in more than once.

mod common;

use azure_sql_sandbox::{BadToken, Sandbox, SandboxOptions};
use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The steps, in order, as the report names them.
const STEPS: [&str; 10] = [
    "settings",
    "workload_identity_env",
    "token_file",
    "entra_reachable",
    "token_exchange",
    "access_token",
    "sql_gateway",
    "sql_redirect",
    "login",
    "permission",
];

/// One link to break.
#[derive(Clone, Copy, Debug)]
enum Break {
    WebhookVariablesMissing,
    TokenFileUnreadable,
    TokenExpired,
    TokenForAnotherAudience,
    SubjectMismatch,
    IssuerMismatch,
    UnknownClientId,
    UnknownTenant,
    EntraUnreachable,
    WrongServerPort,
    RedirectTargetUnreachable,
    NoDatabaseNamed,
    DatabaseUnavailable,
    UserMissing,
    RoleRevoked,
}

struct Case {
    broken: Break,
    /// The step that must fail.
    fails: &'static str,
    /// What its fix must name.
    fix_names: &'static [&'static str],
    /// Earlier steps that may be "not applicable" instead of passed, and why.
    may_not_apply: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        broken: Break::WebhookVariablesMissing,
        fails: "workload_identity_env",
        fix_names: &[
            "azure.workload.identity/use",
            "azure.workload.identity/client-id",
        ],
        may_not_apply: &[],
    },
    Case {
        broken: Break::TokenFileUnreadable,
        fails: "token_file",
        fix_names: &["AZURE_FEDERATED_TOKEN_FILE"],
        may_not_apply: &[],
    },
    Case {
        broken: Break::TokenExpired,
        fails: "token_file",
        fix_names: &["expired (exp)", "AZURE_FEDERATED_TOKEN_FILE"],
        may_not_apply: &[],
    },
    Case {
        broken: Break::TokenForAnotherAudience,
        fails: "token_file",
        fix_names: &["audience (aud)", "api://AzureADTokenExchange"],
        may_not_apply: &[],
    },
    Case {
        broken: Break::SubjectMismatch,
        fails: "token_exchange",
        fix_names: &[
            "`subject`",
            "system:serviceaccount:customers:intruder",
            "az identity federated-credential create",
        ],
        may_not_apply: &[],
    },
    Case {
        broken: Break::IssuerMismatch,
        fails: "token_exchange",
        fix_names: &["`issuer`", "oidcIssuerProfile.issuerUrl"],
        may_not_apply: &[],
    },
    Case {
        broken: Break::UnknownClientId,
        fails: "token_exchange",
        fix_names: &["AZURE_CLIENT_ID", "6f1c3d4e-0000-4000-8000-000000000abc"],
        may_not_apply: &[],
    },
    Case {
        broken: Break::UnknownTenant,
        fails: "token_exchange",
        fix_names: &["AZURE_TENANT_ID", "7d2b1c1e-0000-4000-8000-000000000def"],
        may_not_apply: &[],
    },
    Case {
        broken: Break::EntraUnreachable,
        fails: "entra_reachable",
        fix_names: &["AZURE_AUTHORITY_HOST", "egress"],
        may_not_apply: &[],
    },
    Case {
        broken: Break::WrongServerPort,
        fails: "sql_gateway",
        fix_names: &["port in Server="],
        may_not_apply: &[],
    },
    Case {
        broken: Break::RedirectTargetUnreachable,
        fails: "sql_redirect",
        fix_names: &["11000-11999", "Proxy"],
        may_not_apply: &[],
    },
    // The sandbox's gateway, like Azure's, checks the login before routing it: a refused login
    // never reaches a redirect.
    Case {
        broken: Break::NoDatabaseNamed,
        fails: "login",
        fix_names: &["Database="],
        may_not_apply: &["sql_redirect"],
    },
    Case {
        broken: Break::DatabaseUnavailable,
        fails: "login",
        fix_names: &["40613 is transient", "Connect Retry Count"],
        may_not_apply: &["sql_redirect"],
    },
    Case {
        broken: Break::UserMissing,
        fails: "login",
        fix_names: &["CREATE USER", "FROM EXTERNAL PROVIDER", "customers"],
        may_not_apply: &["sql_redirect"],
    },
    Case {
        broken: Break::RoleRevoked,
        fails: "permission",
        fix_names: &["ALTER ROLE db_datareader ADD MEMBER [customers-identity]"],
        may_not_apply: &[],
    },
];

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Replaces (or adds) `name` in `vars`.
fn set(vars: &mut Vec<(&'static str, String)>, name: &'static str, value: String) {
    vars.retain(|(k, _)| *k != name);
    vars.push((name, value));
}

/// Breaks `link` on `sandbox` or in the pod's `vars`.
async fn break_link(link: Break, sandbox: &Sandbox, vars: &mut Vec<(&'static str, String)>) {
    let env = sandbox.env();
    let write_bad = |kind| {
        let token = sandbox.issuer().mint_bad(kind).expect("mint");
        sandbox.issuer().write_token_file(&token).expect("write");
    };
    match link {
        Break::WebhookVariablesMissing => vars.retain(|(k, _)| {
            ![
                "AZURE_CLIENT_ID",
                "AZURE_TENANT_ID",
                "AZURE_AUTHORITY_HOST",
                "AZURE_FEDERATED_TOKEN_FILE",
            ]
            .contains(k)
        }),
        Break::TokenFileUnreadable => {
            let missing = sandbox.state_dir().join("no-such-dir").join("token");
            set(
                vars,
                "AZURE_FEDERATED_TOKEN_FILE",
                missing.display().to_string(),
            );
        }
        Break::TokenExpired => write_bad(BadToken::Expired),
        Break::TokenForAnotherAudience => write_bad(BadToken::WrongAudience),
        Break::SubjectMismatch => write_bad(BadToken::WrongSubject),
        Break::IssuerMismatch => write_bad(BadToken::OtherIssuer),
        Break::UnknownTenant => set(
            vars,
            "AZURE_TENANT_ID",
            "7d2b1c1e-0000-4000-8000-000000000def".into(),
        ),
        Break::UnknownClientId => set(
            vars,
            "AZURE_CLIENT_ID",
            "6f1c3d4e-0000-4000-8000-000000000abc".into(),
        ),
        Break::EntraUnreachable => set(
            vars,
            "AZURE_AUTHORITY_HOST",
            format!("https://127.0.0.1:{}/", closed_port()),
        ),
        Break::WrongServerPort => set(
            vars,
            "AZURE_SQL_SERVER",
            format!("tcp:{},{}", env.host, closed_port()),
        ),
        // A firewall closed to the redirect ports refuses every try (the library asks the gateway
        // again once when a target refuses: two).
        Break::RedirectTargetUnreachable => sandbox.faults().refuse_redirected_connections(2),
        Break::NoDatabaseNamed => {
            vars.retain(|(k, _)| !k.starts_with("AZURE_SQL_"));
            set(
                vars,
                "AZURE_SQL_CONNECTION_STRING",
                format!(
                    "Server=tcp:{},{};Authentication=Active Directory Workload Identity;Encrypt=True",
                    env.host, env.port
                ),
            );
        }
        Break::DatabaseUnavailable => sandbox.faults().fail_logins(1, 40613),
        Break::UserMissing => sandbox
            .execute_admin("customers", "DROP USER [customers-identity];")
            .await
            .expect("drop user"),
        Break::RoleRevoked => sandbox
            .execute_admin(
                "customers",
                "ALTER ROLE db_datareader DROP MEMBER [customers-identity];",
            )
            .await
            .expect("revoke"),
    }
}

/// Runs `customers doctor --format json` with `vars` and returns the run and its report.
async fn doctor(vars: &[(&'static str, String)]) -> (Run, Value) {
    let run = run_demo(customers(vars), &["doctor", "--format", "json"]).await;
    assert!(!run.stdout.contains("eyJ"), "a token in the report: {run}");
    assert!(!run.stderr.contains("eyJ"), "a token in the logs: {run}");
    assert_eq!(run.stdout.lines().count(), 1, "one JSON object: {run}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run}"));
    let names: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, STEPS, "{run}");
    (run, report)
}

fn verdict<'a>(report: &'a Value, step: &str) -> &'a str {
    report["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == step))
        .and_then(|s| s["verdict"].as_str())
        .unwrap_or("<missing>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_setup_passes_every_step_with_one_token_request_and_one_login() {
    let sandbox = sandbox(SandboxOptions::default()).await;
    let started = Instant::now();
    let (run, report) = doctor(&pod_env(&sandbox)).await;
    let took = started.elapsed();
    assert_eq!(run.status.code(), Some(0), "{run}");
    assert_eq!(report["passed"], true, "{run}");
    for step in STEPS {
        assert_eq!(verdict(&report, step), "passed", "{step}: {run}");
    }
    // What was seen: the token file's claims, the redirect, the database user; no secrets.
    let text = run.stdout.as_str();
    for seen in [
        "system:serviceaccount:customers:customers",
        "api://AzureADTokenExchange",
        "https://database.windows.net/",
        "redirected the login",
        "database user customers-identity",
    ] {
        assert!(text.contains(seen), "{seen}: {run}");
    }
    let stats = sandbox.stats();
    assert_eq!(stats.token_requests, 1, "{stats:?}");
    assert_eq!(stats.logins_ok, 1, "{stats:?}");
    assert_eq!(stats.logins_failed, 0, "{stats:?}");
    eprintln!("doctor, every step passing: {took:?} (the process included)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_link_fails_its_own_step_and_names_the_fix() {
    for case in CASES {
        let sandbox = sandbox(SandboxOptions::default()).await;
        let mut vars = pod_env(&sandbox);
        break_link(case.broken, &sandbox, &mut vars).await;
        let started = Instant::now();
        let (run, report) = doctor(&vars).await;
        let took = started.elapsed();
        let what = format!("{:?} ({took:?})", case.broken);
        assert_eq!(run.status.code(), Some(1), "{what}: {run}");
        assert_eq!(report["passed"], false, "{what}: {run}");
        assert_eq!(report["failed_step"], case.fails, "{what}: {run}");
        let at = STEPS
            .iter()
            .position(|s| *s == case.fails)
            .expect("a known step");
        for earlier in &STEPS[..at] {
            let v = verdict(&report, earlier);
            let ok =
                v == "passed" || (v == "not_applicable" && case.may_not_apply.contains(earlier));
            assert!(ok, "{what}: {earlier} is {v}: {run}");
        }
        for later in &STEPS[at + 1..] {
            assert_eq!(verdict(&report, later), "skipped", "{what}: {later}: {run}");
        }
        let failed = report["steps"][at].clone();
        let fix = failed["fix"].as_str().unwrap_or_default();
        for name in case.fix_names {
            assert!(
                fix.contains(name),
                "{what}: the fix does not name {name}: {fix}"
            );
        }
        assert!(
            !failed["seen"].as_array().is_some_and(Vec::is_empty),
            "{what}: nothing seen: {run}"
        );
        let stats = sandbox.stats();
        assert!(stats.token_requests <= 1, "{what}: {stats:?}");
        assert!(
            stats.logins_ok + stats.logins_failed <= 1,
            "{what}: {stats:?}"
        );
        // Within the connect timeouts: nothing here waits for one to run out.
        assert!(took < Duration::from_secs(15), "{what}");
        sandbox.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_sandbox_passes_and_prints_a_readable_report() {
    let run = run_demo(customers(&[("RUST_LOG", "off")]), &["doctor", "--sandbox"]).await;
    assert_eq!(run.status.code(), Some(0), "{run}");
    assert!(run.stdout.contains("[ok] permission"), "{run}");
    assert!(run.stdout.contains("all steps passed"), "{run}");
    assert!(!run.stdout.contains("eyJ"), "{run}");
}

#[tokio::test]
async fn bad_flags_exit_2_and_settings_from_the_environment_are_a_failed_first_step() {
    let run = run_demo(
        customers(&[("RUST_LOG", "off")]),
        &["doctor", "--table", "dbo.Customer; DROP TABLE x"],
    )
    .await;
    assert_eq!(run.status.code(), Some(2), "{run}");
    assert!(run.stderr.contains("schema.name"), "{run}");

    let run = run_demo(
        customers(&[
            ("RUST_LOG", "off"),
            ("AZURE_SQL_CONNECTION_STRING", "Server=x;Databse=typo"),
        ]),
        &["doctor", "--format", "json"],
    )
    .await;
    assert_eq!(run.status.code(), Some(1), "{run}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run}"));
    assert_eq!(report["failed_step"], "settings", "{run}");
    assert!(
        report["steps"][0]["fix"]
            .as_str()
            .is_some_and(|f| f.contains("Databse")),
        "{run}"
    );
}
