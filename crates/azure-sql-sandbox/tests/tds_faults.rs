//! Every TDS fault switch, seen from tiberius: refused and dropped connections, transient login
//! errors, slow logins and queries (and ATTENTION cancelling a slow one), a reset mid-response,
//! Azure SQL's mid-session token revalidation (error 37396, or 18456 "Token is expired"), and
//! sessions that stall as a node that vanished behind a firewall does.

mod support;

use azure_sql_sandbox::tds::packet::MessageType;
use azure_sql_sandbox::Revalidation;
use std::time::{Duration, Instant};
use support::raw::*;
use support::tds::*;

#[tokio::test]
async fn a_refused_connection_fails_and_the_next_one_works() {
    let sandbox = Sandbox::start(false).await;
    sandbox.faults.refuse_connections(1);
    let err = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect_err("refused");
    assert!(server_error(&err).is_none(), "{err:?}");
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("second try");
    assert_eq!(customer_ids(&mut client).await.expect("query").len(), 5);
    let stats = sandbox.stats.snapshot();
    assert_eq!((stats.tcp_connections, stats.logins_ok), (2, 1));
}

#[tokio::test]
async fn a_connection_dropped_after_login7_fails_and_the_next_one_works() {
    let sandbox = Sandbox::start(false).await;
    sandbox.faults.drop_after_login_request(1);
    let err = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect_err("dropped");
    assert!(server_error(&err).is_none(), "{err:?}");
    assert!(
        sandbox.validator.seen.lock().unwrap().is_empty(),
        "dropped before validation"
    );
    connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("second try");
}

#[tokio::test]
async fn transient_login_errors_carry_azure_numbers_and_texts() {
    let sandbox = Sandbox::start(false).await;
    sandbox.faults.fail_logins(2, 40613);
    for _ in 0..2 {
        let err = connect(sandbox.token_config(GOOD_TOKEN))
            .await
            .expect_err("transient");
        let (number, message) = server_error(&err).expect("server error");
        assert_eq!(number, 40613);
        assert!(
            message.starts_with(&format!(
                "Database '{DATABASE}' on server 'localhost' is not currently available."
            )),
            "{message}"
        );
    }
    connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("the third login succeeds");
    for number in [40501, 40197, 49918, 4060, 10928] {
        sandbox.faults.fail_logins(1, number);
        let err = connect(sandbox.token_config(GOOD_TOKEN))
            .await
            .expect_err("transient");
        assert_eq!(server_error(&err).map(|e| e.0), Some(number));
    }
    assert_eq!(sandbox.stats.snapshot().logins_failed, 7);
}

#[tokio::test]
async fn a_slow_login_outlasts_a_short_client_handshake_timeout() {
    let sandbox = Sandbox::start(false).await;
    sandbox
        .faults
        .set_login_delay(Some(Duration::from_secs(30)));
    let mut config = sandbox.token_config(GOOD_TOKEN);
    config.handshake_timeout(Some(Duration::from_millis(300)));
    let err = connect(config).await.expect_err("timed out");
    assert!(
        matches!(
            err,
            tiberius::error::Error::Io {
                kind: std::io::ErrorKind::TimedOut,
                ..
            }
        ),
        "{err:?}"
    );
    sandbox.faults.set_login_delay(None);
    connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("fast again");
}

#[tokio::test]
async fn attention_cancels_a_slow_query_and_the_session_goes_on() {
    let sandbox = Sandbox::start(false).await;
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login");
    sandbox
        .faults
        .set_query_delay(Some(Duration::from_secs(60)));
    let started = Instant::now();
    let held = tokio::time::timeout(Duration::from_millis(200), client.simple_query("SELECT 1"))
        .await
        .is_err();
    assert!(held, "the query is held by the delay");
    client
        .cancel_query()
        .await
        .expect("the server acknowledges the attention");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the cancel did not wait for the delay"
    );
    sandbox.faults.set_query_delay(None);
    assert_eq!(
        customer_ids(&mut client).await.expect("query after cancel"),
        [1, 2, 3, 4, 5]
    );
}

#[tokio::test]
async fn attention_with_nothing_running_is_acknowledged() {
    let sandbox = Sandbox::start(false).await;
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login");
    client.cancel_query().await.expect("acknowledged");
    assert_eq!(customer_ids(&mut client).await.expect("query").len(), 5);
}

#[tokio::test]
async fn a_reset_mid_response_breaks_that_connection_only() {
    let sandbox = Sandbox::start(false).await;
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login");
    sandbox.faults.reset_queries(1);
    let err = customer_ids(&mut client).await.expect_err("reset");
    assert!(server_error(&err).is_none(), "{err:?}");
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("new connection");
    assert_eq!(customer_ids(&mut client).await.expect("query").len(), 5);
}

/// A session logged in with a token living 1.5 s, queried once while it is valid, with the
/// server revalidating sessions `how`; returns the client and when its token expires.
async fn revalidated_session(
    sandbox: &Sandbox,
    how: Revalidation,
) -> (TdsClient, tokio::time::Instant) {
    let lifetime = Duration::from_millis(1500);
    let expires = tokio::time::Instant::now() + lifetime;
    sandbox
        .validator
        .add("short-lived", reader_identity(lifetime));
    let mut client = connect(sandbox.token_config("short-lived"))
        .await
        .expect("login");
    sandbox.faults.set_revalidation(how);
    assert_eq!(
        customer_ids(&mut client).await.expect("still valid").len(),
        5
    );
    (client, expires)
}

#[tokio::test]
async fn revalidation_fails_requests_once_the_login_token_expires() {
    let sandbox = Sandbox::start(false).await;
    let (mut client, expires) = revalidated_session(&sandbox, Revalidation::QueryRefused).await;
    tokio::time::sleep_until(expires + Duration::from_millis(50)).await;
    for _ in 0..2 {
        let err = customer_ids(&mut client).await.expect_err("expired");
        let (number, message) = server_error(&err).expect("server error");
        assert_eq!(number, 37396);
        assert!(message.contains("access token is expired"), "{message}");
    }
    let err = client
        .query(
            "SELECT first_name FROM dbo.Customer WHERE customer_id = @P1",
            &[&1i32],
        )
        .await
        .expect_err("RPCs too");
    assert_eq!(server_error(&err).map(|e| e.0), Some(37396));

    // The session was never dropped: without revalidation it serves again.
    sandbox.faults.set_revalidate_sessions(false);
    assert_eq!(customer_ids(&mut client).await.expect("served").len(), 5);
}

#[tokio::test]
async fn revalidation_can_answer_token_is_expired_and_end_the_session() {
    let sandbox = Sandbox::start(false).await;
    let (mut client, expires) = revalidated_session(&sandbox, Revalidation::LoginExpired).await;
    tokio::time::sleep_until(expires + Duration::from_millis(50)).await;
    let err = customer_ids(&mut client).await.expect_err("expired");
    match &err {
        tiberius::error::Error::Server(e) => {
            assert_eq!((e.code(), e.class(), e.state()), (18456, 14, 233), "{e:?}");
            assert_eq!(
                e.message(),
                "Login failed for user '<token-identified principal>'. Token is expired."
            );
        }
        other => panic!("expected 18456, got {other:?}"),
    }
    // The server ended the session: nothing more is served on it, whatever the switch says.
    sandbox.faults.set_revalidate_sessions(false);
    let err = customer_ids(&mut client)
        .await
        .expect_err("the connection is closed");
    assert!(server_error(&err).is_none(), "{err:?}");
}

#[tokio::test]
async fn revalidation_sends_done_srverror_with_token_is_expired() {
    use azure_sql_sandbox::tds::packet::MessageType;
    use support::raw::*;
    let sandbox = Sandbox::start(false).await;
    let lifetime = Duration::from_millis(300);
    let expires = tokio::time::Instant::now() + lifetime;
    sandbox
        .validator
        .add("expired-soon", reader_identity(lifetime));
    let mut raw = fedauth_login(&sandbox, token_feature("expired-soon", true)).await;
    assert!(raw.response().await.expect("login answer").contains(&0xAD));
    sandbox.faults.set_revalidation(Revalidation::LoginExpired);
    tokio::time::sleep_until(expires + Duration::from_millis(50)).await;
    raw.send(MessageType::SQL_BATCH, &batch("SELECT 1"))
        .await
        .expect("batch");
    let answer = raw.response().await.expect("the refusal");
    assert_eq!(first_error(&answer), Some(18456));
    // The last token: DONE with DONE_ERROR | DONE_SRVERROR.
    let done = &answer[answer.len() - 13..];
    assert_eq!(done[0], 0xFD);
    assert_eq!(u16::from_le_bytes([done[1], done[2]]), 0x0002 | 0x0100);
    assert!(
        raw.response().await.is_none(),
        "the server closed the connection"
    );
}

#[tokio::test]
async fn sql_login_sessions_are_not_revalidated() {
    let sandbox = Sandbox::start(false).await;
    let config = sandbox.config(
        sandbox.server.port(),
        tiberius::AuthMethod::sql_server(ADMIN_USER, ADMIN_PASSWORD),
        tiberius::EncryptionLevel::Required,
    );
    let mut client = connect(config).await.expect("login");
    sandbox.faults.set_revalidate_sessions(true);
    assert_eq!(customer_ids(&mut client).await.expect("query").len(), 5);
}

/// How long a stalled session is given to (wrongly) answer.
const SILENCE: Duration = Duration::from_millis(300);

#[tokio::test]
async fn stalled_sessions_answer_nothing_and_keep_their_connection_while_new_ones_work() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    let answer = raw
        .ask(
            0,
            "BEGIN TRAN; DELETE FROM dbo.Customer WHERE customer_id = 1",
        )
        .await;
    assert_eq!(first_error(&answer), None);
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login");
    assert_eq!(customer_ids(&mut client).await.expect("query").len(), 5);

    sandbox.faults.stall_sessions();
    sandbox.faults.clear();
    assert!(
        tokio::time::timeout(SILENCE, customer_ids(&mut client))
            .await
            .is_err(),
        "the stalled session does not answer"
    );
    raw.send(MessageType::SQL_BATCH, &batch("SELECT 1"))
        .await
        .expect("the connection still takes bytes");
    assert!(
        tokio::time::timeout(SILENCE, raw.response()).await.is_err(),
        "no answer, and no close either (a close would end the wait with None)"
    );

    let mut fresh = sandbox.admin().await;
    assert_eq!(customer_ids(&mut fresh).await.expect("query").len(), 5);
    // The stalled session's transaction ended with it, as on a failed-over node: a writer
    // gets the lock (within its lock wait) and its delete of customer 1 is undone.
    batch_ok(&mut fresh, "DELETE FROM dbo.Customer WHERE customer_id = 2").await;
    assert_eq!(customer_ids(&mut fresh).await.expect("query"), [1, 3, 4, 5]);
    let stats = sandbox.stats.snapshot();
    assert_eq!(stats.stalled, 2);
    assert_eq!(stats.open_sessions, 3, "stalled sessions stay open");
}
