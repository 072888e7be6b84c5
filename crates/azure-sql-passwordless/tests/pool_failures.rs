//! A server that fails or vanishes never eats a caller's wait: a silent node costs one bounded
//! ping, a failed connect fails only the caller waiting for a connection, a pool timeout says
//! when connecting was the cause, and a closing pool drains. Against the sandbox (in-process,
//! port 0) with its fault switches.

mod common;

use azure_sql_passwordless::{Error, Pool};
use azure_sql_sandbox::SandboxOptions;
use common::{customer_ids, sandbox, target};
use std::time::Duration;

/// A guard against hangs, not a speed target.
const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_node_that_stops_answering_costs_one_bounded_ping_not_the_callers_wait() {
    target::sandbox_only(
        "a_node_that_stops_answering_costs_one_bounded_ping",
        "silences the server's sessions",
    );
    let t = sandbox(SandboxOptions::default()).await;
    // Command Timeout stays at its 30 s default, longer than the caller's whole 10 s wait: only
    // the ping's own bound can save the caller.
    assert_eq!(
        t.config.get_command_timeout(),
        Some(Duration::from_secs(30))
    );
    let pool = Pool::builder(t.config.clone())
        .ping_after_idle(Duration::ZERO)
        .ping_timeout(Duration::from_millis(500))
        .connection_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("pool");
    {
        let mut conn = pool.get().await.expect("first connection");
        assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    }
    // The node behind the idle connection goes silent without closing it (a failover behind a
    // firewall that drops the flow); new logins are served.
    t.sandbox.faults().stall_sessions();
    let mut conn = pool
        .get()
        .await
        .expect("a fresh connection within the same get()");
    assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    let state = pool.state();
    assert_eq!(
        (state.opened, state.closed_invalid, state.timed_out),
        (2, 1, 0),
        "{state:?}"
    );
}

#[tokio::test]
async fn a_failed_connect_fails_only_the_caller_waiting_for_a_connection() {
    target::sandbox_only(
        "a_failed_connect_fails_only_the_caller_waiting",
        "injects a login failure and a slow ping",
    );
    let t = sandbox(SandboxOptions::default()).await;
    let mut config = t.config.clone();
    config.max_pool_size(2);
    let pool = Pool::builder(config)
        .ping_after_idle(Duration::ZERO)
        .build()
        .await
        .expect("pool");
    drop(pool.get().await.expect("one idle connection"));
    // Caller A takes the idle connection and pings it, slowly.
    t.sandbox
        .faults()
        .set_query_delay(Some(Duration::from_millis(1500)));
    let validating = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut conn = pool.get_owned().await?;
            conn.simple_query("SELECT 1").await?.into_results().await?;
            Ok::<_, Error>(())
        })
    };
    let started = tokio::time::timeout(PATIENCE, async {
        while pool.state().in_use == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(started.is_ok(), "caller A never took the connection");
    // Caller B finds no idle connection: its connect fails (login refused, never retried).
    t.sandbox.faults().fail_logins(1, 18456);
    let error = pool.get().await.expect_err("B's connect fails");
    assert!(matches!(error, Error::LoginFailed { .. }), "{error:?}");
    t.sandbox.faults().set_query_delay(None);
    // A was validating a healthy connection: B's failure is not A's.
    tokio::time::timeout(PATIENCE, validating)
        .await
        .expect("A finished")
        .expect("task")
        .expect("A got its connection and ran its query");
    assert_eq!(pool.state().opened, 1);
}

#[tokio::test]
async fn a_pool_timeout_while_connects_fail_names_the_connect_error() {
    target::sandbox_only(
        "a_pool_timeout_while_connects_fail_names_the_connect_error",
        "injects failover errors at login",
    );
    let t = sandbox(SandboxOptions::default()).await;
    let mut config = t.config.clone();
    // Retries that outlast the caller's wait, as the defaults (3 retries from 10 s) outlast
    // the pool's 30 s.
    config
        .connect_retry_count(10)
        .connect_retry_interval(Duration::from_secs(1));
    let pool = Pool::builder(config)
        .connection_timeout(Duration::from_millis(2500))
        .build()
        .await
        .expect("pool");
    t.sandbox.faults().fail_logins(1000, 40613);
    let error = pool.get().await.expect_err("no connection in time");
    match &error {
        Error::PoolTimeout {
            connecting: Some(cause),
            ..
        } => assert_eq!(cause.sql_error_number(), Some(40613), "{cause:?}"),
        other => panic!("expected a PoolTimeout naming the connect error, got {other:?}"),
    }
    let text = error.to_string();
    assert!(text.contains("40613"), "{text}");
    assert!(
        text.contains("connecting to the server was failing") && !text.contains("Max Pool Size"),
        "the advice points at the server, not the pool's size: {text}"
    );
    t.sandbox.faults().clear();
}

#[tokio::test]
async fn a_closed_pool_drains_and_hands_out_nothing() {
    target::sandbox_only(
        "a_closed_pool_drains_and_hands_out_nothing",
        "counts the sandbox's sessions",
    );
    let t = sandbox(SandboxOptions::default()).await;
    let pool = Pool::new(t.config.clone()).await.expect("pool");
    let held = pool.get_owned().await.expect("in use");
    drop(pool.get().await.expect("a second, idle once dropped"));
    assert_eq!((pool.state().size, pool.state().idle), (2, 1));

    let closing = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.close(PATIENCE).await })
    };
    // Closing: no new checkouts, and the idle connection is closed at once.
    let drained = tokio::time::timeout(PATIENCE, async {
        while !pool.state().closed || pool.state().idle > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(drained.is_ok(), "{:?}", pool.state());
    assert!(matches!(pool.get().await, Err(Error::PoolClosed)));
    assert!(!closing.is_finished(), "waits for the connection in use");
    drop(held);
    let closed = tokio::time::timeout(PATIENCE, closing)
        .await
        .expect("close returns once the connection in use is back")
        .expect("task");
    assert_eq!(closed.in_use, 0);
    assert_eq!(pool.state().size, 0);
    // The sandbox sees the sessions end.
    let ended = tokio::time::timeout(PATIENCE, async {
        while t.sandbox.stats().open_sessions > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "sessions still open: {:?}",
        t.sandbox.stats()
    );
    // The token source this pool made stops renewing: no task is left calling Entra.
    let requests = t.sandbox.stats().token_requests;
    assert!(matches!(
        pool.token_source().expect("tokens").token().await,
        Err(Error::PoolClosed)
    ));
    assert_eq!(t.sandbox.stats().token_requests, requests);
}

#[tokio::test]
async fn close_gives_up_on_connections_not_returned_within_the_grace() {
    target::sandbox_only("close_gives_up_after_the_grace", "holds a connection");
    let t = sandbox(SandboxOptions::default()).await;
    let pool = Pool::new(t.config.clone()).await.expect("pool");
    let held = pool.get().await.expect("in use");
    let closed = pool.close(Duration::from_millis(200)).await;
    assert_eq!(closed.in_use, 1);
    drop(held);
    assert_eq!(pool.state().size, 0, "closed when it came back");
}

/// Waits (bounded) until the sandbox has closed all but `left` of its sessions.
async fn sessions_down_to(t: &common::SandboxTarget, left: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while t.sandbox.stats().open_sessions > left {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sandbox kept {} sessions open",
            t.sandbox.stats().open_sessions
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn idle_connections_cut_when_the_database_moves_cost_callers_nothing() {
    target::sandbox_only(
        "idle_connections_cut_when_the_database_moves",
        "moves the database to another node",
    );
    let t = sandbox(SandboxOptions::default()).await;
    // The default pool: connections idle for less than 30 s are not pinged.
    let pool = Pool::new(t.config.clone()).await.expect("pool");
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut conn = pool.get_owned().await.expect("connection");
        assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
        held.push(conn);
    }
    drop(held);
    assert_eq!(pool.state().idle, 4);

    // A failover: every session on the old node is cut while the pool holds them idle.
    t.sandbox.move_node().await.expect("the node moves");
    sessions_down_to(&t, 0).await;

    // Each caller gets a working connection: the cut ones are seen and passed over.
    for caller in 0..4 {
        let mut conn = tokio::time::timeout(PATIENCE, pool.get())
            .await
            .expect("no hang")
            .expect("a connection");
        let ids = customer_ids(&mut conn).await;
        assert_eq!(ids.map(|i| i.len()).ok(), Some(5), "caller {caller}");
    }
    let state = pool.state();
    assert_eq!((state.opened, state.closed_invalid), (5, 4), "{state:?}");
}

#[tokio::test]
async fn a_redirect_target_that_refuses_sends_the_connect_back_to_the_gateway_at_once() {
    target::sandbox_only(
        "a_redirect_target_that_refuses",
        "refuses a connection at the redirect target",
    );
    let t = sandbox(SandboxOptions::default()).await;
    // No retries: only asking the gateway again within the same attempt can succeed.
    let mut config = t.config.clone();
    config.connect_retry_count(0);
    let connector = azure_sql_passwordless::Connector::new(config).expect("connector");
    // The route the gateway gives goes stale before the client gets there.
    t.sandbox.faults().refuse_redirected_connections(1);
    let mut conn = tokio::time::timeout(PATIENCE, connector.connect())
        .await
        .expect("no hang")
        .expect("logged in through a second route");
    assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
    assert_eq!(t.sandbox.stats().redirects, 2);

    // Once only: a target that keeps refusing (a firewall closed to ports 11000-11999) fails
    // the attempt with the target's error.
    t.sandbox.faults().refuse_redirected_connections(2);
    let err = connector.connect().await.expect_err("refused twice");
    assert!(
        matches!(err, Error::Connect { .. } | Error::ConnectionBroken { .. }),
        "{err:?}"
    );
}
