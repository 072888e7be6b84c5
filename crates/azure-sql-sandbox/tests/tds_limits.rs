//! The bounds a real server keeps and the sandbox keeps too: a cap on open connections (past it,
//! Azure SQL's session-limit error 10928), a cap on a request's size, and logins that never wait
//! behind requests waiting for SQLite's write lock.

mod support;

use azure_sql_sandbox::tds::packet::MessageType;
use azure_sql_sandbox::Limits;
use std::time::Duration;
use support::raw::*;
use support::tds::*;

/// Polls (nothing to await) until `done` holds, at most 30 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what}: not within 30 s");
}

#[tokio::test]
async fn past_the_connection_limit_a_login_gets_10928_resource_2() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let sandbox = Sandbox::start_with_limits(false, engine(), limits).await;
    let first = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("one");
    let mut second = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("two");
    let err = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect_err("three is one too many");
    match &err {
        tiberius::error::Error::Server(e) => {
            assert_eq!((e.code(), e.class()), (10928, 20), "{e:?}");
            assert_eq!(
                e.message(),
                "Resource ID : 2. The session limit for the database is 2 and has been reached. See 'http://go.microsoft.com/fwlink/?LinkId=267637' for assistance."
            );
        }
        other => panic!("expected 10928, got {other:?}"),
    }
    // The sessions inside the limit are unaffected; once one leaves, a login gets in again.
    assert_eq!(customer_ids(&mut second).await.expect("query").len(), 5);
    first.close().await.expect("close");
    until("the server saw the connection go", || {
        sandbox.stats.snapshot().open_sessions <= 1
    })
    .await;
    connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("room again");
}

#[tokio::test]
async fn a_request_larger_than_the_limit_gets_4002_and_the_connection_closes() {
    let limits = Limits {
        max_request_bytes: 64 * 1024,
        ..Limits::default()
    };
    let sandbox = Sandbox::start_with_limits(false, engine(), limits).await;
    let mut raw = logged_in(&sandbox).await;
    let padding = " ".repeat(40 * 1024);
    raw.send(
        MessageType::SQL_BATCH,
        &batch(&format!("SELECT 1{padding}")),
    )
    .await
    .expect("send");
    assert_eq!(
        first_error(&raw.response().await.expect("answer")),
        Some(4002)
    );
    assert!(
        raw.response().await.is_none(),
        "the server closed the connection"
    );
    // Within the limit, the same session shape works.
    let mut raw = logged_in(&sandbox).await;
    raw.send(MessageType::SQL_BATCH, &batch("SELECT 1"))
        .await
        .expect("send");
    assert_eq!(first_error(&raw.response().await.expect("answer")), None);
}

#[test]
fn a_login_does_not_wait_behind_a_request_waiting_for_the_write_lock() {
    // One blocking thread for the engine's work: a request waiting for SQLite's write lock
    // holds it for as long as it waits.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sandbox = Sandbox::start(false).await;
        let mut holder = sandbox.admin().await;
        let mut waiter = sandbox.admin().await;
        holder
            .simple_query("BEGIN TRAN; UPDATE dbo.Customer SET active = 1 WHERE customer_id = 2")
            .await
            .expect("begin")
            .into_results()
            .await
            .expect("write lock taken");
        let waiting = tokio::spawn(async move {
            waiter
                .simple_query(
                    "SET LOCK_TIMEOUT 5000; UPDATE dbo.Customer SET active = 0 WHERE customer_id = 3",
                )
                .await?
                .into_results()
                .await
                .map(|_| ())
        });
        let engine = sandbox.engine.clone();
        until("the second writer waits for the lock", || {
            engine.lock_waits(DATABASE).unwrap_or(0) >= 1
        })
        .await;
        // The only blocking thread is taken by the waiting writer; a login still goes through.
        let login = tokio::time::timeout(
            Duration::from_secs(10),
            connect(sandbox.token_config(GOOD_TOKEN)),
        )
        .await;
        let mut reader = login
            .expect("the login did not wait for the lock")
            .expect("login");
        assert!(!waiting.is_finished(), "the writer is still waiting");
        // The writer gives up at its LOCK_TIMEOUT (every request needs the one blocking thread
        // it holds until then); then everything runs again.
        let error = waiting.await.expect("task").expect_err("1222");
        assert_eq!(server_error(&error).map(|e| e.0), Some(1222));
        holder
            .simple_query("COMMIT")
            .await
            .expect("commit")
            .into_results()
            .await
            .expect("commit");
        assert_eq!(customer_ids(&mut reader).await.expect("query").len(), 5);
    });
}
