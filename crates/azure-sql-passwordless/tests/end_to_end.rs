//! The real path, end to end: the projected service-account token → the Entra stand-in → TLS →
//! the TDS login through the gateway's redirect → the Customer rows, with access tokens living a
//! few seconds so renewal happens inside the tests. The sandbox runs in-process on port 0; tests
//! marked so also run against a real server when `tests/common/target.rs`'s variables are set.

mod common;

use azure_sql_passwordless::{
    connect, ApplicationIntent, Config, Connector, Encrypt, Error, Pool, RefreshOutcome,
    RenewalPolicy, TokenSource, TokenState,
};
use azure_sql_sandbox::entra::directory::FederatedCredential;
use azure_sql_sandbox::{Revalidation, SandboxOptions, TokenEndpointFault};
use common::{customer_ids, lifetime, query_past_the_login_token, sandbox, target};
use std::time::Duration;
use tokio::time::Instant;

/// How long a test waits for something that should take a few seconds before calling it a
/// hang (a guard, not a speed target: shared CI machines are slow at times).
const PATIENCE: Duration = Duration::from_secs(60);

/// The lifetime of the token the cache holds, as it counted it at receipt.
fn token_lifetime(token: &TokenState) -> Duration {
    match token.last_refresh.as_ref().map(|r| &r.outcome) {
        Some(RefreshOutcome::Ok { lifetime }) => *lifetime,
        other => panic!("no token cached: {other:?}"),
    }
}

/// Waits (polling the pool's state; nothing to await) until `done` holds, at most [`PATIENCE`].
async fn until(pool: &Pool, what: &str, done: impl Fn(&TokenState) -> bool) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while !pool.state().token.as_ref().is_some_and(&done) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what}: not within {PATIENCE:?}: {pool:?}");
}

// ---- every target --------------------------------------------------------------------------

#[tokio::test]
async fn a_pool_reads_the_five_customers_through_the_gateway() {
    let t = sandbox(SandboxOptions::default()).await;
    let pool = Pool::new(t.config.clone()).await.expect("pool");
    let mut conn = pool.get().await.expect("connection");
    assert_eq!(
        customer_ids(&mut conn).await.expect("query"),
        [1, 2, 3, 4, 5]
    );
    // The gateway redirected the login to the node: the connection lives there.
    let stats = t.sandbox.stats();
    assert_eq!(stats.redirects, 1);
    assert_ne!(conn.server(), format!("localhost:{}", t.sandbox.env().port));
    assert_eq!(stats.token_requests, 1);
    drop(conn);
    let state = pool.state();
    assert_eq!(
        (state.size, state.idle, state.in_use, state.waiting),
        (1, 1, 0, 0)
    );
    let token = state.token.expect("token state");
    assert_eq!(token.provider, "workload identity");
    assert_eq!(token.fetches, 1);

    for external in target::external("a_pool_reads_the_five_customers_through_the_gateway") {
        let pool = Pool::new(external.config)
            .await
            .expect("pool on external target");
        let mut conn = pool.get().await.expect("connection on external target");
        assert_eq!(
            customer_ids(&mut conn).await.expect("query"),
            [1, 2, 3, 4, 5],
            "on {}",
            external.name
        );
    }
}

#[tokio::test]
async fn one_shot_connect_needs_no_pool() {
    let t = sandbox(SandboxOptions::default()).await;
    let mut conn = connect(&t.config).await.expect("connect");
    assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    assert!(conn.token_expires_in().expect("an Entra login") > Duration::from_secs(3000));
    conn.close().await.expect("close");

    for external in target::external("one_shot_connect_needs_no_pool") {
        let mut conn = connect(&external.config)
            .await
            .expect("connect on external target");
        assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    }
}

// ---- tokens --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_keep_working_across_several_token_lifetimes() {
    target::sandbox_only(
        "connections_keep_working_across_several_token_lifetimes",
        "needs token lifetimes of seconds",
    );
    let t = sandbox(lifetime(3)).await;
    let pool = Pool::new(t.config.clone()).await.expect("pool");
    // The very first get() waits for the first token; after that nobody should.
    let before_first_token = Instant::now();
    let mut conn = pool.get().await.expect("first get");
    customer_ids(&mut conn).await.expect("query");
    let first_expiry = Instant::now() + conn.token_expires_in().expect("an Entra login");
    drop(conn);
    let lifetime = token_lifetime(&pool.state().token.expect("token state"));
    let margins = RenewalPolicy::default().scaled(lifetime);
    // 8 workers get, query and give back until the token has been renewed three times, and
    // once more after that.
    let renewed_three_times = |pool: &Pool| pool.state().token.is_some_and(|t| t.fetches >= 4);
    let mut workers = Vec::new();
    for _ in 0..8 {
        let pool = pool.clone();
        workers.push(tokio::spawn(async move {
            let mut expiries = Vec::new();
            loop {
                let last_round = renewed_three_times(&pool);
                let asked = Instant::now();
                let mut conn = pool.get().await.expect("get across renewals");
                // The pool hands out a connection only while its login token has more than
                // the minimum remaining lifetime left (checked at checkout, after `asked`; 25%
                // slack: each token's margin is a tenth of its own counted lifetime, which is
                // shorter by the time its request took).
                let expires = Instant::now() + conn.token_expires_in().expect("an Entra login");
                assert!(
                    expires > asked + margins.min_remaining.mul_f64(0.75),
                    "handed out a connection whose token expires {:?} after the get() began",
                    expires.saturating_duration_since(asked)
                );
                expiries.push(expires);
                assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
                drop(conn);
                if last_round {
                    return expiries;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let mut expiries = vec![first_expiry];
    for w in workers {
        let done = tokio::time::timeout(PATIENCE, w).await;
        expiries.extend(done.expect("three renewals").expect("worker"));
    }
    let elapsed = before_first_token.elapsed();
    let stats = t.sandbox.stats();
    let token = pool.state().token.expect("token state");
    assert_eq!(
        token.waits, 1,
        "only the first caller waited for Entra: {token:?}"
    );
    assert_eq!(token.failures, 0);
    assert_eq!(
        stats.token_requests, token.fetches,
        "every request came from the one cache"
    );
    // Renewal at 80% of the lifetime: each renewal comes at least that long after the previous
    // token arrived, however many connections log in (a slow machine only spaces them more).
    // Tokens' lifetimes differ by the milliseconds their requests took: 5% slack.
    let renew_after = lifetime.mul_f64(0.8);
    let renewals = token.fetches - 1;
    let most = elapsed.as_secs_f64() / renew_after.mul_f64(0.95).as_secs_f64();
    assert!(
        renewals as f64 <= most,
        "{renewals} renewals in {elapsed:?}: more than one per {renew_after:?}"
    );
    // Connections logged in with a renewed token replaced those of the first one (which had
    // expired by the last round): queries ran under several tokens.
    expiries.sort();
    let tokens_seen = 1 + expiries
        .windows(2)
        .filter(|w| w[1] - w[0] > Duration::from_millis(100))
        .count();
    assert!(tokens_seen >= 2, "{tokens_seen} tokens; {stats:?}");
    assert!(stats.logins_ok >= 2, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_gets_make_one_entra_request() {
    target::sandbox_only(
        "a_thousand_concurrent_gets_make_one_entra_request",
        "counts the sandbox's Entra requests",
    );
    let t = sandbox(SandboxOptions::default()).await;
    let pool = Pool::new(t.config.clone()).await.expect("pool");
    let gets: Vec<_> = (0..1000)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut conn = pool.get_owned().await?;
                conn.simple_query("SELECT 1").await?.into_results().await?;
                Ok::<_, Error>(())
            })
        })
        .collect();
    for g in gets {
        g.await.expect("task").expect("get and query");
    }
    let stats = t.sandbox.stats();
    assert_eq!(stats.token_requests, 1, "{stats:?}");
    let state = pool.state();
    assert!(state.size <= 100 && state.opened >= 2, "{state:?}");
    assert_eq!(state.waiting, 0);
}

#[tokio::test]
async fn entra_failing_during_renewal_keeps_the_pool_serving_and_logging_in() {
    target::sandbox_only("entra_failing_during_renewal", "injects Entra failures");
    // Tokens live a minute and renewal is due after 2% of it (1.2 s), so Entra fails while the
    // cached token has most of its life left, whatever the machine's speed.
    let t = sandbox(lifetime(60)).await;
    let pool = Pool::builder(t.config.clone())
        .renewal_policy(RenewalPolicy::default().renew_at_fraction(0.02))
        .build()
        .await
        .expect("pool");
    let mut held = pool.get().await.expect("get");
    customer_ids(&mut held).await.expect("query");
    t.sandbox
        .faults()
        .fail_token_requests(u32::MAX, TokenEndpointFault::unavailable());
    until(&pool, "renewal failed twice", |t| t.failures >= 2).await;
    // The pool keeps serving, new logins included (one connection is held, so this opens
    // another with the cached token).
    let mut conn = pool.get().await.expect("served while renewal fails");
    assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    assert_eq!(pool.state().opened, 2);
    let token = pool.state().token.expect("token");
    assert_eq!(token.waits, 1, "nobody waited for Entra: {token:?}");
    assert!(token.consecutive_failures >= 2, "{token:?}");
    assert!(
        matches!(token.last_refresh.map(|r| r.outcome), Some(RefreshOutcome::Failed(f)) if f.aadsts == Some(90033)),
        "the state says why renewal fails"
    );
    // Entra recovers: the next retry brings a new token.
    t.sandbox.faults().clear();
    until(&pool, "renewal succeeded", |t| t.consecutive_failures == 0).await;
    assert_eq!(t.sandbox.stats().tokens_issued, 2);
}

#[tokio::test]
async fn entra_failing_until_expiry_fails_callers_with_the_aadsts_text_then_recovers() {
    target::sandbox_only("entra_failing_until_expiry", "injects Entra failures");
    let t = sandbox(lifetime(3)).await;
    let pool = Pool::new(t.config.clone()).await.expect("pool");
    customer_ids(&mut pool.get().await.expect("get"))
        .await
        .expect("query");
    t.sandbox
        .faults()
        .fail_token_requests(u32::MAX, TokenEndpointFault::unavailable());
    // Until the token runs out, the pool keeps serving; then get() fails with Entra's answer.
    let error = tokio::time::timeout(PATIENCE, async {
        loop {
            match pool.get().await {
                Ok(mut conn) => {
                    customer_ids(&mut conn)
                        .await
                        .expect("query with the old token");
                }
                Err(e) => break e,
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .expect("get() never failed, though the token expired");
    // Only once the token had expired.
    assert!(
        matches!(error, Error::TokenExpired { .. }),
        "expected TokenExpired, got {error:?}"
    );
    // The connection served through its token's last margin: with no newer token, replacing it
    // would have logged in again with the same one.
    assert_eq!(pool.state().opened, 1, "{:?}", pool.state());
    let text = error.to_string();
    assert!(text.contains("AADSTS90033"), "{text}");
    assert!(text.contains("workload identity"), "{text}");
    let token = pool.state().token.expect("token");
    assert!(token.failures >= 1, "{token:?}");
    // Entra recovers: the next get() past the backoff (at most a twentieth of the lifetime,
    // plus jitter) gets a fresh token and connection.
    t.sandbox.faults().clear();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut conn = pool.get().await.expect("recovered");
    assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
}

#[tokio::test]
async fn an_entra_refusal_reaches_the_caller_at_once_with_its_code() {
    target::sandbox_only(
        "an_entra_refusal_reaches_the_caller",
        "uses the sandbox's Entra",
    );
    let t = sandbox(SandboxOptions::default()).await;
    let mut config = t.config.clone();
    // A client id that is not registered: Entra refuses (unknown application).
    config.user_id("00000000-0000-0000-0000-000000000001");
    let pool = Pool::builder(config)
        .connection_timeout(Duration::from_secs(20))
        .build()
        .await
        .expect("pool");
    // Entra's refusal, not the pool's 20-second timeout (which would be Error::PoolTimeout).
    let error = pool.get().await.expect_err("refused");
    let text = error.to_string();
    assert!(matches!(error, Error::TokenAcquisition { .. }), "{error:?}");
    assert_eq!(pool.state().timed_out, 0);
    assert_eq!(
        t.sandbox.stats().token_requests,
        1,
        "asked once, not retried"
    );
    assert!(text.contains("AADSTS"), "{text}");
    assert!(!text.contains("eyJ"), "{text}");
}

// ---- sessions and permissions --------------------------------------------------------------

#[tokio::test]
async fn a_session_revalidated_with_37396_or_18456_is_discarded_and_the_next_get_succeeds() {
    target::sandbox_only(
        "a_session_revalidated_with_37396_or_18456",
        "needs the sandbox's revalidation switch",
    );
    // Azure SQL answers a revalidated session whose token expired with either number.
    for (revalidation, number) in [
        (Revalidation::QueryRefused, 37396),
        (Revalidation::LoginExpired, 18456),
    ] {
        let t = sandbox(lifetime(3)).await;
        let pool = Pool::new(t.config.clone()).await.expect("pool");
        t.sandbox.faults().set_revalidation(revalidation);
        let mut conn = pool.get().await.expect("get");
        customer_ids(&mut conn)
            .await
            .expect("query while the token is valid");
        let error = query_past_the_login_token(&mut conn).await;
        assert!(
            matches!(error, Error::SessionTokenExpired { .. }),
            "{number}: {error:?}"
        );
        assert_eq!(error.sql_error_number(), Some(number));
        // Discarded at once, on the error itself (not at the next use of a closed socket).
        assert!(conn.is_broken(), "{number}");
        assert!(matches!(
            customer_ids(&mut conn).await,
            Err(Error::AlreadyBroken)
        ));
        drop(conn);
        let before = pool.state().closed_broken;
        assert!(before >= 1, "{:?}", pool.state());
        let mut conn = pool.get().await.expect("a fresh connection");
        assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    }
}

#[tokio::test]
async fn a_revoked_role_takes_effect_within_the_connection_lifetime() {
    target::sandbox_only(
        "a_revoked_role_takes_effect",
        "changes roles with the sandbox's admin",
    );
    let t = sandbox(SandboxOptions::default()).await;
    let mut config = t.config.clone();
    let bound = Duration::from_secs(2);
    config.connection_lifetime(bound);
    let pool = Pool::new(config).await.expect("pool");
    customer_ids(&mut pool.get().await.expect("get"))
        .await
        .expect("query");
    t.sandbox
        .execute_admin(
            &t.sandbox.env().database,
            "ALTER ROLE db_datareader DROP MEMBER [customers-identity];",
        )
        .await
        .expect("revoke");
    let revoked = Instant::now();
    // SQL reads a session's roles at login: connections opened before the revoke keep reading
    // until the pool retires them (at most `Connection Lifetime` after they opened); the first
    // connection opened after it is refused.
    let (error, conn) = tokio::time::timeout(PATIENCE, async {
        loop {
            let asked = Instant::now();
            let mut conn = pool.get().await.expect("login still works");
            assert!(
                conn.opened_at() + bound > asked,
                "handed out a connection older than Connection Lifetime ({:?} at the get())",
                asked - conn.opened_at()
            );
            match customer_ids(&mut conn).await {
                Ok(_) => assert!(
                    conn.opened_at() < revoked,
                    "a connection opened after the revoke read the table"
                ),
                Err(e) => break (e, conn),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the revoke never took effect");
    assert!(
        conn.opened_at() > revoked,
        "a connection opened before the revoke lost the role: {error}"
    );
    assert!(matches!(error, Error::PermissionDenied { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("ALTER ROLE db_datareader ADD MEMBER"),
        "{error}"
    );
}

#[tokio::test]
async fn two_pools_on_two_databases_share_one_token_source() {
    target::sandbox_only(
        "two_pools_share_one_token_source",
        "counts the sandbox's Entra requests",
    );
    let t = sandbox(SandboxOptions {
        extra_databases: vec!["billing".into()],
        ..SandboxOptions::default()
    })
    .await;
    common::add_reader(&t.sandbox, "billing").await;
    let customers = Pool::new(t.config.clone()).await.expect("customers pool");
    let mut billing_config = t.config.clone();
    billing_config.database("billing");
    let shared = customers.token_source().cloned().expect("token source");
    let billing = Pool::builder(billing_config)
        .token_source(shared)
        .build()
        .await
        .expect("billing pool");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let pool = if i % 2 == 0 {
            customers.clone()
        } else {
            billing.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.get_owned().await?;
            conn.simple_query("SELECT 1").await?.into_results().await?;
            Ok::<_, Error>(())
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("query");
    }
    assert_eq!(t.sandbox.stats().token_requests, 1);
    assert!(customers
        .token_source()
        .expect("source")
        .same_source(billing.token_source().expect("source")));
}

// ---- what each refusal tells the user -----------------------------------------------------

/// `connection_string` set up for the sandbox (the workload identity's `User Id` unless it names
/// its own), without retries.
fn sandbox_config(t: &common::SandboxTarget, connection_string: &str) -> Config {
    let mut config = common::config_from(&t.sandbox, connection_string);
    config.connect_retry_count(0);
    if config.get_authentication() != azure_sql_passwordless::Authentication::ServicePrincipal {
        config.user_id(&t.sandbox.env().client_id);
    }
    config
}

/// A token source whose tokens are `jwt` whatever its claims say, valid for an hour by the
/// cache's account (a token handed out by a cache or computed against a wrong clock).
fn fixed_token(jwt: String) -> TokenSource {
    let provider = azure_sql_passwordless::from_callback(move |_scope: String| {
        let jwt = jwt.clone();
        async move {
            Ok::<_, std::io::Error>(azure_core::credentials::AccessToken::new(
                jwt,
                azure_core::time::OffsetDateTime::now_utc() + Duration::from_secs(3600),
            ))
        }
    });
    TokenSource::new(provider, "https://database.windows.net/.default")
}

/// Resets the workload identity's federated credentials to exactly `credential`.
fn federate(t: &common::SandboxTarget, credential: FederatedCredential) {
    let directory = t.sandbox.directory();
    let client_id = &t.sandbox.env().client_id;
    directory
        .remove_federated_credentials(client_id)
        .expect("remove");
    directory
        .add_federated_credential(client_id, credential)
        .expect("add");
}

#[tokio::test]
async fn each_refusal_reaches_the_user_with_azures_code_and_what_to_check() {
    target::sandbox_only(
        "each_refusal_reaches_the_user",
        "makes the sandbox refuse in every way Azure does",
    );
    let t = sandbox(SandboxOptions::default()).await;
    let env = t.sandbox.env().clone();
    let issuer = t.sandbox.issuer();
    let pod = FederatedCredential {
        name: "pod".into(),
        issuer: issuer.url().to_string(),
        subject: issuer.subject(),
        audiences: vec!["api://AzureADTokenExchange".into()],
    };
    let sp = t.sandbox.create_service_principal("reporting");
    let expired_secret = t
        .sandbox
        .add_client_secret(&sp.client_id, Duration::ZERO)
        .expect("secret");
    let sign = |edit: &dyn Fn(&mut azure_sql_sandbox::entra::access_token::AccessTokenClaims)| {
        let mut claims = t
            .sandbox
            .workload_token_claims(Duration::from_secs(3600))
            .expect("claims");
        edit(&mut claims);
        t.sandbox.entra().sign_access_token(&claims).expect("sign")
    };
    let expired_jwt = sign(&|c| {
        c.exp = c.iat - 60;
        c.nbf = c.exp - 3600;
        c.iat = c.nbf;
    });
    let other_tenant_jwt = sign(&|c| {
        c.tid = "00000000-0000-0000-0000-0000000000aa".into();
        c.iss = format!("https://sts.windows.net/{}/", c.tid);
    });
    let without_database = env
        .connection_string
        .replace(&format!("Database={};", env.database), "");
    assert!(
        !without_database.contains("Database="),
        "{without_database}"
    );
    let in_master = env
        .connection_string
        .replace(&format!("Database={}", env.database), "Database=master");

    enum Setup {
        Federate(FederatedCredential),
        Config(String),
        Token(String),
        Admin(&'static str),
    }
    let pod_with = |edit: &dyn Fn(&mut FederatedCredential)| {
        let mut c = pod.clone();
        edit(&mut c);
        Setup::Federate(c)
    };
    let service_principal = format!(
        "Server={};Database={};Authentication=Active Directory Service Principal;User Id={};Password={expired_secret}",
        env.server, env.database, sp.client_id
    );
    // (what, setup, code in the text, what the text must say to check)
    let rows: Vec<(&str, Setup, &str, Vec<&str>)> = vec![
        (
            "issuer mismatch",
            pod_with(&|c| c.issuer = c.issuer.trim_end_matches('/').to_string()),
            "AADSTS700211: No matching federated identity record found for presented assertion issuer",
            vec!["oidcIssuerProfile.issuerUrl", "trailing slash"],
        ),
        (
            "audience mismatch",
            pod_with(&|c| c.audiences = vec!["api://AKSIdentityBinding".into()]),
            "AADSTS700212: No matching federated identity record found for presented assertion audience 'api://AzureADTokenExchange'",
            vec!["api://AzureADTokenExchange"],
        ),
        (
            "subject mismatch",
            pod_with(&|c| c.subject = "system:serviceaccount:customers:other".into()),
            "AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:customers:customers'",
            vec!["system:serviceaccount:<namespace>:<service account>"],
        ),
        (
            "subject in another case",
            pod_with(&|c| c.subject = c.subject.to_uppercase()),
            "AADSTS7002138: No matching federated identity record found for presented assertion subject 'system:serviceaccount:customers:customers'. The subject matches with case-insensitive comparison",
            vec!["case-sensitively"],
        ),
        (
            "expired client secret",
            Setup::Config(service_principal),
            "AADSTS7000222: The provided client secret keys for app",
            vec!["The client secret has expired: create a new one"],
        ),
        (
            "no database named",
            Setup::Config(without_database),
            "(error 18456): Login failed for user '<token-identified principal>'.",
            vec!["No database was named", "set Database="],
        ),
        (
            "Database=master",
            Setup::Config(in_master),
            "(error 18456): Login failed for user '<token-identified principal>'.",
            vec!["The login was to master", "set Database="],
        ),
        (
            "expired token",
            Setup::Token(expired_jwt),
            "(error 18456): Login failed for user '<token-identified principal>'. Token is expired.",
            vec!["clock"],
        ),
        (
            "another tenant's token",
            Setup::Token(other_tenant_jwt),
            "(error 18456): Login failed for user '<token-identified principal>'. The server is not currently configured to accept this token.",
            vec!["AZURE_TENANT_ID", "token scope"],
        ),
        (
            "no user for the identity",
            Setup::Admin("DROP USER [customers-identity];"),
            "(error 18456): Login failed for user '<token-identified principal>'.",
            vec!["has no user for this identity", "FROM EXTERNAL PROVIDER"],
        ),
    ];
    for (what, setup, code, advice) in rows {
        federate(&t, pod.clone());
        let connector = match setup {
            Setup::Federate(credential) => {
                federate(&t, credential);
                Connector::new(sandbox_config(&t, &env.connection_string))
            }
            Setup::Config(connection_string) => {
                Connector::new(sandbox_config(&t, &connection_string))
            }
            Setup::Token(jwt) => Connector::with_token_source(
                sandbox_config(&t, &env.connection_string),
                fixed_token(jwt),
            ),
            Setup::Admin(sql) => {
                t.sandbox
                    .execute_admin(&env.database, sql)
                    .await
                    .expect("admin");
                Connector::new(sandbox_config(&t, &env.connection_string))
            }
        }
        .expect("connector");
        let error = connector.connect().await.expect_err(what);
        let text = error.to_string();
        assert!(text.contains(code), "{what}: {text}");
        for needle in advice {
            assert!(text.contains(needle), "{what}: no {needle:?} in {text}");
        }
        if code.contains("18456") {
            assert!(
                matches!(error, Error::LoginFailed { .. }),
                "{what}: {error:?}"
            );
            if !what.starts_with("no user") {
                assert!(!text.contains("CREATE USER"), "{what}: {text}");
            }
        } else {
            assert!(
                matches!(error, Error::TokenAcquisition { .. }),
                "{what}: {error:?}"
            );
        }
        assert!(!text.contains("eyJ"), "{what}: {text}");
        assert!(!text.contains(&expired_secret), "{what}: {text}");
    }
}

// ---- connecting: retry, refusal, TLS --------------------------------------------------------

#[tokio::test]
async fn transient_login_errors_are_retried_and_18456_is_not() {
    target::sandbox_only("transient_login_errors_are_retried", "injects login errors");
    let t = sandbox(SandboxOptions::default()).await;
    let mut config = t.config.clone();
    // The shortest interval allowed (1 s): each retry costs a second here.
    config
        .connect_retry_count(1)
        .connect_retry_interval(Duration::from_secs(1));
    let connector = Connector::new(config).expect("connector");

    t.sandbox.faults().fail_logins(1, 40613);
    let started = Instant::now();
    let mut conn = connector
        .connect()
        .await
        .expect("the second attempt logs in");
    assert!(
        started.elapsed() >= Duration::from_millis(750),
        "retried without a delay"
    );
    assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    assert_eq!(t.sandbox.stats().logins_failed, 1);

    t.sandbox.faults().fail_logins(10, 40613);
    let error = connector.connect().await.expect_err("retries run out");
    match &error {
        Error::TransientExhausted { attempts, last } => {
            assert_eq!(*attempts, 2);
            assert_eq!(last.sql_error_number(), Some(40613));
        }
        other => panic!("expected TransientExhausted, got {other:?}"),
    }
    t.sandbox.faults().clear();

    let failed_before = t.sandbox.stats().logins_failed;
    t.sandbox.faults().fail_logins(5, 18456);
    let error = connector.connect().await.expect_err("login refused");
    assert!(matches!(error, Error::LoginFailed { .. }), "{error:?}");
    assert!(
        error.to_string().contains("FROM EXTERNAL PROVIDER"),
        "{error}"
    );
    assert_eq!(
        t.sandbox.stats().logins_failed,
        failed_before + 1,
        "18456 was not retried"
    );
    // Every attempt asked the token cache, which answered from its cache.
    assert_eq!(t.sandbox.stats().token_requests, 1);
}

#[tokio::test]
async fn connect_timeout_bounds_the_whole_attempt_across_the_gateway_redirect() {
    target::sandbox_only(
        "connect_timeout_bounds_the_whole_attempt",
        "injects login delays",
    );
    let t = sandbox(SandboxOptions::default()).await;
    // Where the gateway sends logins: the node, reached directly below.
    let node = {
        let conn = connect(&t.config).await.expect("connect");
        conn.server().to_owned()
    };
    let (host, port) = node.rsplit_once(':').expect("host:port");
    let mut config = t.config.clone();
    config
        .connect_timeout(Duration::from_secs(3))
        .connect_retry_count(0);
    let mut direct = config.clone();
    direct.host(host).port(port.parse().expect("port"));

    // Every login now takes 2 s at the server: one hop fits in the 3-second Connect Timeout,
    // the gateway's and the node's together (4 s) do not.
    t.sandbox
        .faults()
        .set_login_delay(Some(Duration::from_secs(2)));
    let mut conn = connect(&direct).await.expect("one hop fits");
    assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    let error = connect(&config).await.expect_err("two hops do not fit");
    let timeout = match &error {
        Error::TransientExhausted { last, .. } => last.as_ref(),
        other => other,
    };
    assert!(
        matches!(timeout, Error::Timeout { after, .. } if *after == Duration::from_secs(3)),
        "{error:?}"
    );
    assert!(error.to_string().contains("Connect Timeout"), "{error}");
}

#[tokio::test]
async fn application_intent_read_only_is_routed_to_a_read_only_replica() {
    target::sandbox_only(
        "application_intent_read_only_is_routed_to_a_read_only_replica",
        "needs the gateway's read-only replica",
    );
    let t = sandbox(SandboxOptions::default()).await;
    // A writer, so what stops the write on the replica is the replica, not a permission.
    let database = t.config.get_database().expect("database").to_owned();
    t.sandbox
        .execute_admin(
            &database,
            "ALTER ROLE db_datawriter ADD MEMBER [customers-identity];",
        )
        .await
        .expect("grant");
    let updateability =
        "SELECT CAST(DATABASEPROPERTYEX(DB_NAME(), 'Updateability') AS NVARCHAR(20))";
    async fn text(conn: &mut azure_sql_passwordless::Connection, sql: &str) -> Option<String> {
        conn.simple_query(sql)
            .await
            .expect("query")
            .into_row()
            .await
            .expect("row")
            .and_then(|r| r.get::<&str, _>(0).map(str::to_owned))
    }
    let mut primary = connect(&t.config).await.expect("read-write login");
    assert_eq!(
        text(&mut primary, updateability).await.as_deref(),
        Some("READ_WRITE")
    );

    let mut config = t.config.clone();
    config.application_intent(ApplicationIntent::ReadOnly);
    let pool = Pool::new(config).await.expect("pool");
    let mut replica = pool.get().await.expect("read-only login");
    let replica_port = t
        .sandbox
        .read_only_port()
        .expect("a replica behind the gateway");
    assert!(
        replica.server().ends_with(&format!(":{replica_port}")),
        "routed to {}",
        replica.server()
    );
    assert_eq!(
        customer_ids(&mut replica).await.expect("reads work").len(),
        5
    );
    assert_eq!(
        text(&mut replica, updateability).await.as_deref(),
        Some("READ_ONLY")
    );
    let write = replica
        .execute(
            "UPDATE dbo.Customer SET active = active WHERE customer_id = 1",
            &[],
        )
        .await;
    assert_eq!(
        write.as_ref().err().and_then(Error::sql_error_number),
        Some(3906),
        "{write:?}"
    );
    assert_eq!(t.sandbox.stats().read_only_logins, 1);
}

#[tokio::test]
async fn strict_encryption_logs_in_with_tds_8() {
    target::sandbox_only(
        "strict_encryption_logs_in_with_tds_8",
        "the sandbox speaks TDS 8.0",
    );
    let t = sandbox(SandboxOptions::default()).await;
    let mut config = t.config.clone();
    config.encrypt(Encrypt::Strict);
    let mut conn = connect(&config).await.expect("strict login");
    assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_with_a_tls_error_that_says_what_to_check() {
    target::sandbox_only(
        "an_untrusted_certificate_is_refused",
        "uses the sandbox's private CA",
    );
    let t = sandbox(SandboxOptions::default()).await;
    // The right token, but the SQL endpoint's CA is not trusted.
    let tokens = Connector::new(t.config.clone())
        .expect("connector")
        .token_source()
        .cloned()
        .expect("tokens");
    let env = t.sandbox.env();
    let mut config: Config = env.connection_string.parse().expect("parses");
    config.connect_retry_count(0);
    let error = Connector::with_token_source(config.clone(), tokens.clone())
        .expect("connector")
        .connect()
        .await
        .expect_err("untrusted");
    assert!(matches!(error, Error::Tls { .. }), "{error:?}");
    assert!(error.to_string().contains("CA is trusted"), "{error}");
    // Trusted CA, wrong expected name.
    let mut config = t.config.clone();
    config.host_name_in_certificate("not-the-server.example");
    let error = Connector::with_token_source(config, tokens)
        .expect("connector")
        .connect()
        .await
        .expect_err("wrong name");
    assert!(
        matches!(error, Error::Tls { ref host, .. } if host == "not-the-server.example"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_dead_connection_is_reported_and_replaced() {
    target::sandbox_only(
        "a_dead_connection_is_reported_and_replaced",
        "injects a reset",
    );
    let t = sandbox(SandboxOptions::default()).await;
    let pool = Pool::new(t.config.clone()).await.expect("pool");
    customer_ids(&mut pool.get().await.expect("get"))
        .await
        .expect("query");
    t.sandbox.faults().reset_queries(1);
    let mut conn = pool.get().await.expect("get");
    let error = customer_ids(&mut conn).await.expect_err("reset mid-query");
    assert!(error.breaks_connection(), "{error:?}");
    assert!(conn.is_broken());
    assert!(matches!(
        customer_ids(&mut conn).await,
        Err(Error::AlreadyBroken)
    ));
    drop(conn);
    let mut conn = pool.get().await.expect("a new connection");
    assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    assert_eq!(pool.state().closed_broken, 1);
}

#[tokio::test]
async fn a_command_timeout_or_an_abandoned_request_breaks_the_connection() {
    target::sandbox_only("a_command_timeout_breaks_the_connection", "delays answers");
    let t = sandbox(SandboxOptions::default()).await;
    let mut config = t.config.clone();
    config.command_timeout(Some(Duration::from_millis(300)));
    let pool = Pool::new(config).await.expect("pool");
    customer_ids(&mut pool.get().await.expect("get"))
        .await
        .expect("query");
    t.sandbox
        .faults()
        .set_query_delay(Some(Duration::from_secs(1)));
    let mut conn = pool.get().await.expect("get");
    let error = customer_ids(&mut conn)
        .await
        .expect_err("the server is slow");
    assert!(
        matches!(
            error,
            Error::Timeout {
                what: azure_sql_passwordless::TimeoutKind::Command,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(conn.is_broken());
    drop(conn);
    // A caller that gives up on a request (its own timeout, a lost select!) leaves the
    // connection mid-response: it is discarded too.
    let mut conn = pool.get().await.expect("get");
    let abandoned = tokio::time::timeout(Duration::from_millis(50), conn.simple_query("SELECT 1"))
        .await
        .is_err();
    assert!(abandoned, "the request was abandoned");
    assert!(conn.is_broken());
    drop(conn);
    t.sandbox.faults().set_query_delay(None);
    let mut conn = pool.get().await.expect("a fresh connection");
    assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    assert_eq!(pool.state().closed_broken, 2);
}

#[tokio::test]
async fn the_pool_times_out_waiting_when_every_connection_is_in_use() {
    target::sandbox_only("the_pool_times_out_waiting", "sizes the pool to one");
    let t = sandbox(SandboxOptions::default()).await;
    let mut config = t.config.clone();
    config.max_pool_size(1);
    let pool = Pool::builder(config)
        .connection_timeout(Duration::from_millis(300))
        .build()
        .await
        .expect("pool");
    // The first get opens the connection (token, TLS, login), which on a loaded machine can
    // outlast 300 ms: its connect goes on in the background, so a retry takes it when ready.
    let held = {
        let mut tries = 0;
        loop {
            match pool.get().await {
                Ok(connection) => break connection,
                Err(Error::PoolTimeout { .. }) if tries < 100 => tries += 1,
                Err(error) => panic!("the only connection: {error:?}"),
            }
        }
    };
    let timed_out_before = pool.state().timed_out;
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|_| ()) })
    };
    // The waiter is counted while it waits.
    while pool.state().waiting == 0 {
        tokio::task::yield_now().await;
    }
    let error = waiter.await.expect("task").expect_err("times out");
    assert!(
        matches!(error, Error::PoolTimeout { max_size: 1, .. }),
        "{error:?}"
    );
    drop(held);
    assert_eq!(pool.state().timed_out, timed_out_before + 1);
    pool.get().await.expect("free again");
}
