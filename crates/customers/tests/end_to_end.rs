//! The `customers` binary end to end, as a user runs it: `--sandbox` with no Azure at all; a pod's
//! environment (the workload identity webhook's variables and the `k8s/` ConfigMap) against the
//! sandbox started in-process; the one-line failures and exit statuses users act on; `--watch`
//! with its health endpoints, token renewal underneath and a clean stop on SIGTERM; `/metrics`
//! scraped across a renewal and an Entra outage.

mod common;

use azure_sql_sandbox::SandboxOptions;
use common::*;
use std::time::Duration;
use tokio::time::Instant;

const REVOKE: &str = "ALTER ROLE db_datareader DROP MEMBER [customers-identity];";
const GRANT: &str = "ALTER ROLE db_datareader ADD MEMBER [customers-identity];";

// ---- printing the customers ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_flag_prints_the_five_customers_with_no_azure() {
    let run = run_demo(customers::<&str, &str>(&[]), &["--sandbox"]).await;
    assert!(run.status.success(), "{run}");
    assert_eq!(run.stdout, FIVE, "{run}");
    // The real path was taken: a token from the stand-in's Entra, a login through the gateway.
    assert!(run.stderr.contains("token: acquired"), "{run}");
    assert!(run.stderr.contains("gateway redirect"), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_format_prints_one_object_per_query_and_logs_json() {
    let run = run_demo(
        customers::<&str, &str>(&[]),
        &["--sandbox", "--format", "json"],
    )
    .await;
    assert!(run.status.success(), "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{run}");
    let report: serde_json::Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    assert_eq!(report["customer_ids"], serde_json::json!([1, 2, 3, 4, 5]));
    assert!(
        report["at"].as_str().is_some_and(|at| at.ends_with('Z')),
        "{report}"
    );
    for line in run.stderr.lines() {
        assert!(log_fields(line).is_some(), "not a JSON log line: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_environment_reads_the_customers_with_one_token_request() {
    let sandbox = sandbox(SandboxOptions::default()).await;
    let run = run_demo(customers(&pod_env(&sandbox)), &[]).await;
    assert!(run.status.success(), "{run}");
    assert_eq!(run.stdout, FIVE, "{run}");
    let stats = sandbox.stats();
    assert_eq!(stats.token_requests, 1);
    assert_eq!(
        stats.federated_grants, 1,
        "workload identity, not another grant"
    );
    assert_eq!(stats.redirects, 1);
    assert_eq!(stats.logins_ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_string_works_from_the_environment_and_from_the_flag() {
    let sandbox = sandbox(SandboxOptions::default()).await;
    let env = sandbox.env();
    let ca = env.ca_pem_path.display().to_string();
    let mut vars = webhook_env(&sandbox);
    vars.push(("AZURE_SQL_CONNECTION_STRING", env.connection_string.clone()));
    vars.push(("CUSTOMERS_CA_FILE", ca.clone()));
    let from_env = run_demo(customers(&vars), &[]).await;
    assert!(from_env.status.success(), "{from_env}");
    assert_eq!(from_env.stdout, FIVE);

    // The flag beats a wrong variable; --ca-file as a flag too.
    let mut vars = webhook_env(&sandbox);
    vars.push((
        "AZURE_SQL_CONNECTION_STRING",
        "Server=nowhere;Database=x".into(),
    ));
    let from_flag = run_demo(
        customers(&vars),
        &[
            "--connection-string",
            &env.connection_string,
            "--ca-file",
            &ca,
        ],
    )
    .await;
    assert!(from_flag.status.success(), "{from_flag}");
    assert_eq!(from_flag.stdout, FIVE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_reads_the_customers_on_every_target() {
    // The sandbox is the always-on target (the tests above); real servers when configured.
    for (name, connection_string) in
        external_targets("the_demo_reads_the_customers_on_every_target")
    {
        // A real server's environment (az login, managed identity, ...) is the user's own.
        let mut command = tokio::process::Command::new(BIN);
        command.kill_on_drop(true);
        let run = run_demo(command, &["--connection-string", &connection_string]).await;
        assert!(run.status.success(), "on {name}: {run}");
        assert_eq!(run.stdout, FIVE, "on {name}");
    }
}

// ---- failures: one line, what to check, the right exit status --------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_role_fails_with_229_and_says_which_role() {
    let sandbox = sandbox(SandboxOptions::default()).await;
    sandbox
        .execute_admin("customers", REVOKE)
        .await
        .expect("revoke");
    let mut vars = pod_env(&sandbox);
    vars.push(("RUST_LOG", "off".into()));
    let run = run_demo(customers(&vars), &[]).await;
    assert_eq!(run.status.code(), Some(1), "{run}");
    assert!(run.stdout.is_empty(), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run}");
    let line = run.last_error_line();
    assert!(
        line.starts_with("customers: querying dbo.Customer failed: "),
        "{line}"
    );
    assert!(line.contains("error 229"), "{line}");
    assert!(
        line.contains("ALTER ROLE db_datareader ADD MEMBER"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_user_fails_the_login_with_18456_and_says_what_to_check() {
    let sandbox = sandbox(SandboxOptions::default()).await;
    sandbox
        .execute_admin("customers", "DROP USER [customers-identity];")
        .await
        .expect("drop user");
    let mut vars = pod_env(&sandbox);
    vars.push(("RUST_LOG", "off".into()));
    let run = run_demo(customers(&vars), &[]).await;
    assert_eq!(run.status.code(), Some(1), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run}");
    let line = run.last_error_line();
    assert!(
        line.starts_with("customers: could not connect to localhost,"),
        "{line}"
    );
    assert!(line.contains("18456"), "{line}");
    assert!(line.contains("FROM EXTERNAL PROVIDER"), "{line}");
    // 18456 is never retried: one failed login and one token request, nothing more.
    let stats = sandbox.stats();
    assert_eq!(stats.logins_failed, 1, "{stats:?}");
    assert_eq!(stats.logins_ok, 0, "{stats:?}");
    assert_eq!(stats.token_requests, 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_identity_fails_with_entras_code() {
    let sandbox = sandbox(SandboxOptions::default()).await;
    let mut vars: Vec<(&str, String)> = pod_env(&sandbox)
        .into_iter()
        .filter(|(k, _)| *k != "AZURE_CLIENT_ID")
        .collect();
    vars.push((
        "AZURE_CLIENT_ID",
        "6f1c3d4e-0000-4000-8000-000000000abc".into(),
    ));
    vars.push(("RUST_LOG", "off".into()));
    let run = run_demo(customers(&vars), &[]).await;
    assert_eq!(run.status.code(), Some(1), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run}");
    let line = run.last_error_line();
    assert!(line.contains("workload identity"), "{line}");
    assert!(line.contains("AADSTS700016"), "{line}");
    assert_eq!(sandbox.stats().logins_ok, 0);
}

#[tokio::test]
async fn settings_mistakes_exit_2_naming_what_to_set() {
    // Nothing at all.
    let run = run_demo(customers::<&str, &str>(&[("RUST_LOG", "off")]), &[]).await;
    assert_eq!(run.status.code(), Some(2), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    for needle in ["--connection-string", "AZURE_SQL_SERVER", "--sandbox"] {
        assert!(run.stderr.contains(needle), "{needle}: {run}");
    }

    // A typo in the connection string, from the environment.
    let run = run_demo(
        customers(&[
            ("RUST_LOG", "off"),
            (
                "AZURE_SQL_CONNECTION_STRING",
                "Server=tcp:s.database.windows.net,1433;Databse=d",
            ),
        ]),
        &[],
    )
    .await;
    assert_eq!(run.status.code(), Some(2), "{run}");
    assert!(
        run.stderr
            .starts_with("customers: environment variable AZURE_SQL_CONNECTION_STRING: "),
        "{run}"
    );
    assert!(run.stderr.contains("did you mean `Database`"), "{run}");

    // The webhook did not inject its variables (label or annotation missing).
    let run = run_demo(
        customers(&[
            ("RUST_LOG", "off"),
            ("AZURE_SQL_SERVER", "tcp:s.database.windows.net,1433"),
            ("AZURE_SQL_DATABASE", "d"),
            (
                "AZURE_SQL_AUTHENTICATION",
                "Active Directory Workload Identity",
            ),
        ]),
        &[],
    )
    .await;
    assert_eq!(run.status.code(), Some(2), "{run}");
    assert!(
        run.stderr.contains("AZURE_"),
        "names the missing variable: {run}"
    );

    // A bad flag value is clap's usage error, also status 2.
    let run = run_demo(customers::<&str, &str>(&[]), &["--watch", "soon"]).await;
    assert_eq!(run.status.code(), Some(2), "{run}");
    assert!(run.stderr.contains("30s"), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_reaches_the_output_even_at_debug_level() {
    let sandbox = sandbox(SandboxOptions::default()).await;
    let sp = sandbox.create_service_principal("reporting-app");
    sandbox
        .execute_admin(
            "customers",
            "CREATE USER [reporting-app] FROM EXTERNAL PROVIDER; ALTER ROLE db_datareader ADD MEMBER [reporting-app];",
        )
        .await
        .expect("grant the service principal");
    let env = sandbox.env();
    let connection_string = format!(
        "Server={};Database={};Authentication=Active Directory Service Principal;User Id={};Password={}",
        env.server, env.database, sp.client_id, sp.secret
    );
    let vars = [
        ("AZURE_TENANT_ID", env.tenant_id.clone()),
        ("AZURE_AUTHORITY_HOST", env.authority_host.clone()),
        ("AZURE_SQL_CONNECTION_STRING", connection_string),
        ("CUSTOMERS_CA_FILE", env.ca_pem_path.display().to_string()),
        ("RUST_LOG", "debug".into()),
    ];
    let ok = run_demo(customers(&vars), &[]).await;
    assert!(ok.status.success(), "{ok}");
    assert_eq!(ok.stdout, FIVE);
    assert_eq!(sandbox.stats().secret_grants, 1);

    // And when the login is refused, the error line shows no secret either.
    sandbox
        .execute_admin("customers", "DROP USER [reporting-app];")
        .await
        .expect("drop");
    let refused = run_demo(customers(&vars), &[]).await;
    assert_eq!(refused.status.code(), Some(1), "{refused}");

    // --help shows which variables it reads, never their values.
    let help = run_demo(customers(&vars), &["--help"]).await;
    assert!(
        help.stdout.contains("AZURE_SQL_CONNECTION_STRING"),
        "{help}"
    );

    for run in [&ok, &refused, &help] {
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(!all.contains(&sp.secret), "the client secret leaked: {run}");
        // Access tokens and client assertions are JWTs: base64url of `{"` starts with `eyJ`.
        assert!(!all.contains("eyJ"), "a JWT leaked: {run}");
    }
}

// ---- --watch -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_serves_health_follows_a_revoked_role_and_stops_on_sigterm() {
    let sandbox = sandbox(SandboxOptions::default()).await;
    let env = sandbox.env();
    // A one-second connection lifetime, so the revoke reaches the pool's logins at once.
    let mut vars: Vec<(&str, String)> = webhook_env(&sandbox);
    vars.extend([
        (
            "AZURE_SQL_CONNECTION_STRING",
            format!("{};Connection Lifetime=1", env.connection_string),
        ),
        ("CUSTOMERS_CA_FILE", env.ca_pem_path.display().to_string()),
    ]);
    let (mut demo, addr) = watch_with_health(customers(&vars)).await;

    // A printed query means the loop has recorded it: ready, with a token.
    let first = demo.next_stdout().await;
    let report: serde_json::Value = serde_json::from_str(&first).expect("json");
    assert_eq!(report["customer_ids"], serde_json::json!([1, 2, 3, 4, 5]));
    let (status, body) = get(&addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ready: "), "{body}");
    assert!(
        body.contains("access token from workload identity expires in"),
        "{body}"
    );
    let (status, body) = get(&addr, "/livez").await;
    assert_eq!(status, 200, "{body}");
    // The metrics are there only in a build with them (the default and the container's).
    let expected = if cfg!(feature = "metrics") { 200 } else { 404 };
    assert_eq!(get(&addr, "/metrics").await.0, expected);
    assert_eq!(get(&addr, "/other").await.0, 404);

    // Revoke: the next logins lack the role, the loop logs it, keeps going, and is unready.
    sandbox
        .execute_admin("customers", REVOKE)
        .await
        .expect("revoke");
    let failure = demo
        .stderr_until("reporting the failed query", |l| {
            l.contains("watch: query failed") && l.contains("229")
        })
        .await;
    assert!(log_fields(&failure).is_some(), "{failure}");
    let (status, body) = get(&addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("the last query") && body.contains("error 229"),
        "{body}"
    );
    let (status, body) = get(&addr, "/livez").await;
    assert_eq!(status, 200, "an outage is not a reason to restart: {body}");

    // Grant again: queries succeed and the pod is ready again.
    sandbox
        .execute_admin("customers", GRANT)
        .await
        .expect("grant");
    let again = loop {
        // Drain what was printed before the revoke took effect.
        let line = demo.next_stdout().await;
        let report: serde_json::Value = serde_json::from_str(&line).expect("json");
        if get(&addr, "/readyz").await.0 == 200 {
            break report;
        }
    };
    assert_eq!(again["customer_ids"], serde_json::json!([1, 2, 3, 4, 5]));

    let status = demo.terminate().await;
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
    // The pool was closed before the process ended: its connections closed, none left in use.
    demo.stderr_until("closing the pool", |l| l.contains("pool: closed"))
        .await;
    let stopped = demo
        .stderr_until("logging the stop", |l| l.contains("watch: stopped"))
        .await;
    assert!(
        stopped.contains("still_in_use=0") || stopped.contains(r#""still_in_use":0"#),
        "{stopped}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_keeps_reading_across_token_lifetimes_renewing_at_80_percent_of_each() {
    // Access tokens live 3 s (counted as 2 s: whole-second expiry), so the demo's pool renews
    // every 1.6 s (80%), several times while the demo watches.
    let sandbox = sandbox(lifetime(3)).await;
    let renew_after = Duration::from_millis(1600);
    let before_first_token = Instant::now();
    let mut demo = spawn(
        customers(&pod_env(&sandbox)),
        &["--watch", "200ms", "--format", "json"],
    );
    // Read queries until the sandbox has issued a fourth token (three renewals), and one more.
    let mut queries = 0;
    loop {
        let last = sandbox.stats().tokens_issued >= 4;
        let line = demo.next_stdout().await;
        let report: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(
            report["customer_ids"],
            serde_json::json!([1, 2, 3, 4, 5]),
            "query {queries}"
        );
        queries += 1;
        if last {
            break;
        }
    }
    let elapsed = before_first_token.elapsed();
    let status = demo.terminate().await;
    assert_eq!(status.code(), Some(0));
    let stderr = demo
        .stderr_until("logging the stop", |l| l.contains("watch: stopped"))
        .await;
    assert!(
        !demo.seen_stderr.iter().any(|l| l.contains("query failed")),
        "no query failed across renewals: {}\n{stderr}",
        demo.seen_stderr.join("\n")
    );
    let stats = sandbox.stats();
    // The last query ran after the first token had expired: on a connection logged in again.
    assert!(stats.logins_ok >= 2, "{queries} queries; {stats:?}");
    // Each renewal comes at least 80% of a lifetime after the previous token arrived (a slow
    // machine only spaces them more; 5% slack): about 1.25 requests per token lifetime, not 2.
    let renewals = stats.token_requests - 1;
    let most = elapsed.as_secs_f64() / renew_after.mul_f64(0.95).as_secs_f64();
    assert!(
        renewals as f64 <= most,
        "{} token requests in {elapsed:?}: renewed more often than every {renew_after:?}",
        stats.token_requests
    );
}

// ---- /metrics ------------------------------------------------------------------------------

/// `GET /metrics` from the demo at `addr`.
#[cfg(feature = "metrics")]
async fn scrape(addr: &str) -> String {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Scrapes `addr` until `done` holds for the text (at most [`PATIENCE`]), and returns that text;
/// `seen` is called on every scrape on the way (to record how a gauge moved).
#[cfg(feature = "metrics")]
async fn scrape_until(
    addr: &str,
    what: &str,
    mut seen: impl FnMut(&str),
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = scrape(addr).await;
        seen(&text);
        if done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "never {what}; last scrape:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(feature = "metrics")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_token_renewal_and_an_entra_outage() {
    use common::prometheus_text::{count, kind, sample};
    // Access tokens live 10 s (counted as 9 s): renewal 7.2 s after receipt, with 1.8 s left for
    // the retries of the outage below before the token would expire. Every count below is read
    // from the scrapes themselves, not from when this test thinks a renewal happened: on a
    // loaded machine a scrape can lag a renewal (CI once saw a second renewal land before the
    // outage began, with 6-second tokens).
    let sandbox = sandbox(lifetime(10)).await;
    let (mut demo, addr) = watch_with_health(customers(&pod_env(&sandbox))).await;
    demo.next_stdout().await;

    let provider = ("azure_sql_token_provider", "workload identity");
    let requests = "azure_sql_token_requests_total";
    let ok = [provider, ("azure_sql_token_outcome", "ok")];
    let unavailable = [
        provider,
        ("azure_sql_token_outcome", "unavailable"),
        ("error_type", "AADSTS90033"),
    ];
    let expiry = |text: &str| sample(text, "azure_sql_token_time_to_expiry_seconds", &[provider]);
    let renewals = |text: &str| count(text, "azure_sql_token_renewals_total", &[provider]);
    let failing = |text: &str| sample(text, "azure_sql_token_consecutive_failures", &[provider]);

    // After the first query: one request, ok; a token with its life ahead; nothing failing; the
    // pool by the conventions' names, in Prometheus's translation.
    let first = scrape(&addr).await;
    assert_eq!(sample(&first, requests, &ok), Some(1.0), "{first}");
    assert_eq!(kind(&first, requests), Some("counter"));
    assert_eq!(
        kind(&first, "azure_sql_token_time_to_expiry_seconds"),
        Some("gauge")
    );
    let fresh = expiry(&first).expect("the expiry gauge");
    assert!(fresh > 4.0 && fresh <= 10.0, "{first}");
    assert_eq!(renewals(&first), 0.0);
    assert_eq!(failing(&first), Some(0.0));
    assert_eq!(
        count(&first, "azure_sql_token_waits_total", &[provider]),
        1.0
    );
    // The demo's pool is named by the library's default, `host:port/database`.
    let env = sandbox.env();
    let pool_name = format!("{}:{}/{}", env.host, env.port, env.database);
    let pool = ("db_client_connection_pool_name", pool_name.as_str());
    assert!(
        count(&first, "db_client_connection_count", &[pool]) >= 1.0,
        "{first}"
    );
    assert!(
        count(
            &first,
            "db_client_connection_wait_time_seconds_count",
            &[pool]
        ) >= 1.0
    );
    let logins = [pool, ("azure_sql_login_outcome", "ok")];
    assert!(count(&first, "azure_sql_connection_logins_total", &logins) >= 1.0);
    assert!(count(&first, "azure_sql_connection_redirects_total", &[pool]) >= 1.0);

    // The expiry gauge falls as the token ages, then jumps back when renewal brings a new one.
    let mut lowest = fresh;
    let renewed = scrape_until(
        &addr,
        "renewed",
        |text| {
            if renewals(text) == 0.0 {
                lowest = lowest.min(expiry(text).unwrap_or(lowest));
            }
        },
        |text| renewals(text) >= 1.0,
    )
    .await;
    assert!(
        lowest < fresh - 1.0,
        "the gauge fell: {fresh} then {lowest}"
    );
    let after_renewal = expiry(&renewed).expect("gauge");
    assert!(
        after_renewal > lowest + 1.0,
        "it jumped back: {lowest} then {after_renewal}"
    );
    assert_eq!(
        sample(&renewed, requests, &ok),
        Some(renewals(&renewed) + 1.0),
        "{renewed}"
    );

    // Entra goes down: the next renewal fails, is retried, and each failure is counted with its
    // code; the gauge keeps falling (the old token serves on).
    sandbox.faults().fail_token_requests(
        u32::MAX,
        azure_sql_sandbox::TokenEndpointFault::unavailable(),
    );
    let mut during = after_renewal;
    let outage = scrape_until(
        &addr,
        "counting failed renewals",
        |text| during = expiry(text).unwrap_or(during),
        |text| count(text, requests, &unavailable) >= 2.0 && failing(text) >= Some(2.0),
    )
    .await;
    assert!(during < after_renewal, "{after_renewal} then {during}");
    // The failures follow the last success: every success but the first replaced a token.
    let renewed_before = renewals(&outage);
    assert!(renewed_before >= 1.0, "{outage}");
    assert_eq!(
        sample(&outage, requests, &ok),
        Some(renewed_before + 1.0),
        "{outage}"
    );
    assert_eq!(
        kind(&outage, "azure_sql_token_consecutive_failures"),
        Some("gauge")
    );

    // Entra is back: the next retry renews, the failures stop, the gauge jumps back.
    sandbox.faults().clear();
    let recovered = scrape_until(
        &addr,
        "renewed after the outage",
        |_| {},
        |text| renewals(text) > renewed_before,
    )
    .await;
    assert_eq!(failing(&recovered), Some(0.0), "{recovered}");
    assert!(
        expiry(&recovered).is_some_and(|left| left > during + 1.0),
        "{recovered}"
    );
    let failed = count(&recovered, requests, &unavailable);
    assert!(failed >= 2.0, "the failures stay counted: {recovered}");
    let succeeded = sample(&recovered, requests, &ok).expect("ok requests");
    assert_eq!(succeeded, renewals(&recovered) + 1.0, "{recovered}");
    assert_eq!(
        count(&recovered, requests, &[provider]),
        succeeded + failed,
        "every request is counted once, by its outcome: {recovered}"
    );
    // Nobody waited on Entra after the first token, through the outage too.
    assert_eq!(
        count(&recovered, "azure_sql_token_waits_total", &[provider]),
        1.0
    );
    assert!(!recovered.contains("eyJ"), "no token in the metrics");

    let status = demo.terminate().await;
    assert_eq!(status.code(), Some(0));
}
