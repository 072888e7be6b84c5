//! The metrics of the `opentelemetry` feature, read as a platform team reads them: through the
//! OpenTelemetry SDK and its Prometheus exporter, scraped as text. A pool against the sandbox
//! (in-process, port 0) with its fault switches: the pool's instruments by the conventions'
//! names, units and kinds, the token's, and the connection events (logins by outcome and SQL
//! error number, retries, redirects, retirements by reason, timeouts).

mod common;
#[path = "common/prometheus_text.rs"]
mod prometheus_text;

use azure_sql_passwordless::{Error, Pool};
use azure_sql_sandbox::{Revalidation, SandboxOptions};
use common::{customer_ids, lifetime, query_past_the_login_token, sandbox, target};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus_text::{count, kind, sample};
use std::time::Duration;

/// A meter provider of the test's own (not the global one: tests run in parallel) and what
/// its Prometheus exporter would serve.
struct Scraper {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
}

impl Scraper {
    fn new() -> Self {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .expect("the exporter builds");
        Self {
            provider: SdkMeterProvider::builder().with_reader(exporter).build(),
            registry,
        }
    }

    fn scrape(&self) -> String {
        let mut out = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&self.registry.gather(), &mut out)
            .expect("text encoding");
        out
    }
}

const POOL: (&str, &str) = ("db_client_connection_pool_name", "orders");

#[tokio::test]
async fn the_pool_the_token_and_the_connection_events_are_recorded_by_the_conventions() {
    target::sandbox_only(
        "metrics_by_the_conventions",
        "injects a transient login failure",
    );
    let t = sandbox(SandboxOptions::default()).await;
    let metrics = Scraper::new();
    let mut config = t.config.clone();
    config
        .max_pool_size(2)
        .connect_retry_interval(Duration::from_secs(1));
    // The first login is refused with 40613 (a failover in progress) and retried.
    t.sandbox.faults().fail_logins(1, 40613);
    let pool = Pool::builder(config)
        .name("orders")
        .meter_provider(&metrics.provider)
        .connection_timeout(Duration::from_secs(3))
        .build()
        .await
        .expect("pool");
    assert_eq!(pool.name(), "orders");
    {
        let mut conn = pool.get().await.expect("first get");
        assert_eq!(customer_ids(&mut conn).await.expect("query").len(), 5);
        let text = metrics.scrape();
        let used = [POOL, ("db_client_connection_state", "used")];
        assert_eq!(
            sample(&text, "db_client_connection_count", &used),
            Some(1.0),
            "{text}"
        );
    }
    drop(pool.get().await.expect("a warm get"));
    let text = metrics.scrape();

    // The pool, by the conventions: names, kinds, units (seconds) and the state attribute.
    let idle = [POOL, ("db_client_connection_state", "idle")];
    let used = [POOL, ("db_client_connection_state", "used")];
    assert_eq!(
        sample(&text, "db_client_connection_count", &idle),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "db_client_connection_count", &used),
        Some(0.0),
        "{text}"
    );
    assert_eq!(kind(&text, "db_client_connection_count"), Some("gauge"));
    assert_eq!(
        sample(&text, "db_client_connection_max", &[POOL]),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "db_client_connection_idle_max", &[POOL]),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "db_client_connection_idle_min", &[POOL]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "db_client_connection_pending_requests", &[POOL]),
        Some(0.0)
    );
    for histogram in ["wait_time", "use_time"] {
        let name = format!("db_client_connection_{histogram}_seconds");
        assert_eq!(kind(&text, &name), Some("histogram"), "{name}");
        assert_eq!(
            sample(&text, &format!("{name}_count"), &[POOL]),
            Some(2.0),
            "{text}"
        );
    }
    assert_eq!(
        sample(
            &text,
            "db_client_connection_create_time_seconds_count",
            &[POOL]
        ),
        Some(1.0),
        "one connection opened (its retry inside): {text}"
    );
    // The warm get waited microseconds: it is in the first buckets, not only in +Inf.
    let fast = [POOL, ("le", "0.001")];
    assert!(
        count(
            &text,
            "db_client_connection_wait_time_seconds_bucket",
            &fast
        ) >= 1.0,
        "{text}"
    );

    // Logins by outcome and SQL error number, the retry, the gateway's redirect.
    let logins = "azure_sql_connection_logins_total";
    assert_eq!(kind(&text, logins), Some("counter"));
    let refused = [
        POOL,
        ("azure_sql_login_outcome", "transient"),
        ("error_type", "40613"),
    ];
    assert_eq!(sample(&text, logins, &refused), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, logins, &[POOL, ("azure_sql_login_outcome", "ok")]),
        Some(1.0)
    );
    let retried = [POOL, ("error_type", "40613")];
    assert_eq!(
        sample(&text, "azure_sql_connection_retries_total", &retried),
        Some(1.0)
    );
    assert!(
        count(&text, "azure_sql_connection_redirects_total", &[POOL]) >= 1.0,
        "{text}"
    );

    // The token: one request, ok, a fresh token, no failure; the first caller waited for it.
    let provider = ("azure_sql_token_provider", "workload identity");
    let ok = [provider, ("azure_sql_token_outcome", "ok")];
    assert_eq!(
        sample(&text, "azure_sql_token_requests_total", &ok),
        Some(1.0),
        "{text}"
    );
    let left = sample(&text, "azure_sql_token_time_to_expiry_seconds", &[provider]);
    assert!(left.is_some_and(|s| s > 3000.0 && s <= 3600.0), "{text}");
    assert_eq!(
        kind(&text, "azure_sql_token_time_to_expiry_seconds"),
        Some("gauge")
    );
    assert_eq!(
        sample(&text, "azure_sql_token_consecutive_failures", &[provider]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "azure_sql_token_waits_total", &[provider]),
        Some(1.0)
    );
    assert_eq!(
        count(&text, "azure_sql_token_renewals_total", &[provider]),
        0.0
    );

    // Retirement by reason, and a caller that gives up waiting.
    let mut a = pool.get().await.expect("a");
    let b = pool.get().await.expect("b");
    let err = pool.get().await.expect_err("the pool of 2 is exhausted");
    assert!(matches!(err, Error::PoolTimeout { .. }), "{err:?}");
    a.mark_broken();
    drop((a, b));
    let text = metrics.scrape();
    assert_eq!(
        sample(&text, "db_client_connection_timeouts_total", &[POOL]),
        Some(1.0),
        "{text}"
    );
    let retired = "azure_sql_connection_retired_total";
    let broken = [POOL, ("azure_sql_connection_retire_reason", "broken")];
    assert_eq!(sample(&text, retired, &broken), Some(1.0), "{text}");
    let lifetime = [POOL, ("azure_sql_connection_retire_reason", "lifetime")];
    assert_eq!(
        sample(&text, retired, &lifetime),
        Some(0.0),
        "every reason is listed: {text}"
    );

    // Nothing secret in any label or value.
    assert!(!text.contains("eyJ"), "no JWT in the metrics");
    assert!(
        !text.contains(&t.sandbox.env().client_id),
        "no client id in the metrics"
    );
}

#[tokio::test]
async fn a_session_whose_token_the_server_refuses_is_retired_for_that_reason() {
    target::sandbox_only(
        "metrics_session_token_expired",
        "needs the revalidation switch",
    );
    let t = sandbox(lifetime(3)).await;
    let metrics = Scraper::new();
    let pool = Pool::builder(t.config.clone())
        .name("orders")
        .meter_provider(&metrics.provider)
        .build()
        .await
        .expect("pool");
    t.sandbox
        .faults()
        .set_revalidation(Revalidation::QueryRefused);
    let mut conn = pool.get().await.expect("get");
    customer_ids(&mut conn)
        .await
        .expect("query while the token is valid");
    let error = query_past_the_login_token(&mut conn).await;
    assert_eq!(error.sql_error_number(), Some(37396), "{error:?}");
    drop(conn);
    let text = metrics.scrape();
    let reason = [
        POOL,
        (
            "azure_sql_connection_retire_reason",
            "session_token_expired",
        ),
    ];
    assert_eq!(
        sample(&text, "azure_sql_connection_retired_total", &reason),
        Some(1.0),
        "{text}"
    );
    let broken = [POOL, ("azure_sql_connection_retire_reason", "broken")];
    assert_eq!(
        sample(&text, "azure_sql_connection_retired_total", &broken),
        Some(0.0)
    );
}
