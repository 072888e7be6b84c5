//! No token, assertion or secret reaches a log line or `Debug` output, through a login, a
//! renewal and a failed renewal. Alone in its test binary: `tracing`'s per-thread subscriber
//! must not share the process with other tests' callsites.

mod common;

use azure_sql_passwordless::{Pool, TokenState};
use azure_sql_sandbox::TokenEndpointFault;
use common::{customer_ids, lifetime, sandbox, target};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "current_thread")]
async fn no_token_or_secret_reaches_the_logs() {
    use std::io::Write;
    #[derive(Clone, Default)]
    struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    target::sandbox_only(
        "no_token_or_secret_reaches_the_logs",
        "reads the sandbox's tokens",
    );
    let capture = Capture::default();
    let writer = capture.clone();
    // Everything the library and the crates it drives log; the sandbox (the examiner) aside.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "azure_sql_passwordless=trace,tiberius=trace,azure_identity=trace,azure_core=trace,typespec_client_core=trace,reqwest=trace,bb8=trace",
        ))
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let t = sandbox(lifetime(2)).await;
    let pool = Pool::new(t.config.clone()).await.expect("pool");
    let mut conn = pool.get().await.expect("get");
    customer_ids(&mut conn).await.expect("query");
    let token = pool
        .token_source()
        .expect("source")
        .token()
        .await
        .expect("token");
    // Through a renewal and a failing one (waiting on the cache's counters, at most a minute).
    let until = |done: fn(&TokenState) -> bool| {
        let pool = pool.clone();
        async move {
            let polled = tokio::time::timeout(Duration::from_secs(60), async {
                while !pool.state().token.as_ref().is_some_and(done) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            polled.await.expect("the token cache got there");
        }
    };
    until(|t| t.fetches >= 2).await;
    t.sandbox
        .faults()
        .fail_token_requests(2, TokenEndpointFault::unavailable());
    until(|t| t.failures >= 1).await;
    let shown = format!("{pool:?} {conn:?} {:?} {token:?}", pool.state());
    let logs = String::from_utf8_lossy(&capture.0.lock().expect("logs")).into_owned();
    assert!(logs.contains("token: acquired"), "the capture works");
    assert!(logs.contains("connect: logged in"));
    let assertion = std::fs::read_to_string(&t.sandbox.env().federated_token_file).expect("file");
    for secret in [token.secret(), assertion.trim()] {
        assert!(!logs.contains(secret), "a secret reached the logs");
        assert!(!shown.contains(secret), "a secret reached Debug output");
    }
    assert!(
        !logs.contains("eyJ"),
        "something JWT-shaped reached the logs"
    );
    assert!(!shown.contains("eyJ"));
}
