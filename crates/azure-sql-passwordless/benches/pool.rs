//! The pool's figures, measured against the sandbox started in-process (loopback, real TLS, real
//! TDS logins with tokens from the Entra stand-in):
//!
//! 1. warm `pool.get()` latency, p50/p99/max, with 1 and with 64 concurrent tasks;
//! 2. Entra requests per 1,000 connections opened concurrently (goal: 1 per token lifetime);
//! 3. the longest `pool.get()` while a renewal is in flight under load, against the longest
//!    outside renewals (goal: no larger). Renewal requests are stalled 250 ms at Entra so they
//!    last long enough to overlap many `get()`s;
//! 4. Entra requests per token lifetime in the steady state, over 24 hours of Entra-length
//!    tokens (60 and 90 minutes): simulated on Tokio's paused clock (the cache's real code, a
//!    provider that issues tokens at once), since a day of wall-clock time is not a benchmark.
//!
//! Run: `cargo bench -p azure-sql-passwordless --bench pool` (a bench binary, not criterion:
//! it prints percentiles and counts, and how it got them). Name sections to run only those:
//! `cargo bench -p azure-sql-passwordless --bench pool -- warm` (`warm`, `concurrent`,
//! `renewal`, `steady`). With `--features opentelemetry` the pools record their metrics into
//! an OpenTelemetry SDK meter provider read by the Prometheus exporter, as a service
//! publishing them would: compare the warm figures of the two builds, run alternately.

#[path = "../tests/common/mod.rs"]
mod common;

use azure_core::credentials::AccessToken;
use azure_sql_passwordless::{Pool, PoolBuilder, RefreshRecord, TokenProvider, TokenSource};
use azure_sql_sandbox::{Sandbox, SandboxOptions};
use common::{config_for, percentile};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

fn show(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

/// Warm `get()` latency with `tasks` tasks each doing `per_task` get/drop cycles: the gets, and
/// the whole cycles (get, then the drop that returns the connection), each sorted.
async fn warm_get_latency(
    pool: &Pool,
    tasks: usize,
    per_task: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    // Warm: open as many connections as tasks, and return them.
    let mut held = Vec::new();
    for _ in 0..tasks {
        held.push(pool.get_owned().await.expect("warm-up get"));
    }
    drop(held);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let started = Instant::now();
                let conn = pool.get().await.expect("get");
                let got = started.elapsed();
                drop(conn);
                samples.push((got, started.elapsed()));
                tokio::task::yield_now().await;
            }
            samples
        }));
    }
    let (mut gets, mut cycles) = (Vec::new(), Vec::new());
    for h in handles {
        for (get, cycle) in h.await.expect("task") {
            gets.push(get);
            cycles.push(cycle);
        }
    }
    gets.sort();
    cycles.sort();
    (gets, cycles)
}

/// The meter provider the pools record into, with the `opentelemetry` feature: the SDK with the
/// Prometheus exporter as its reader (what the demo serves at `/metrics`).
struct Metrics {
    #[cfg(feature = "opentelemetry")]
    provider: opentelemetry_sdk::metrics::SdkMeterProvider,
    #[cfg(feature = "opentelemetry")]
    registry: prometheus::Registry,
}

impl Metrics {
    #[cfg(feature = "opentelemetry")]
    fn new() -> Self {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .expect("exporter");
        Self {
            provider: opentelemetry_sdk::metrics::SdkMeterProvider::builder()
                .with_reader(exporter)
                .build(),
            registry,
        }
    }

    #[cfg(not(feature = "opentelemetry"))]
    fn new() -> Self {
        Self {}
    }

    fn on(&self, builder: PoolBuilder) -> PoolBuilder {
        #[cfg(feature = "opentelemetry")]
        let builder = builder.meter_provider(&self.provider);
        builder
    }

    fn describe(&self) -> &'static str {
        if cfg!(feature = "opentelemetry") {
            "on (feature opentelemetry; OpenTelemetry SDK meter provider, Prometheus exporter)"
        } else {
            "off (built without the opentelemetry feature)"
        }
    }

    /// How many checkouts the wait-time histogram holds (proof the metrics were recorded).
    fn waits_recorded(&self) -> Option<u64> {
        #[cfg(feature = "opentelemetry")]
        {
            let families = self.registry.gather();
            let family = families
                .iter()
                .find(|f| f.name() == "db_client_connection_wait_time_seconds")?;
            Some(
                family
                    .get_metric()
                    .iter()
                    .map(|m| m.get_histogram().get_sample_count())
                    .sum(),
            )
        }
        #[cfg(not(feature = "opentelemetry"))]
        None
    }
}

/// Issues a token living `lifetime` at once, counting requests.
#[derive(Debug)]
struct Issuer {
    lifetime: Duration,
    requests: AtomicU64,
}

#[async_trait::async_trait]
impl TokenProvider for Issuer {
    async fn fetch(&self, _scope: &str) -> azure_core::Result<AccessToken> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let lifetime = time::Duration::try_from(self.lifetime).unwrap_or_default();
        Ok(AccessToken::new(
            format!("token-{n}"),
            time::OffsetDateTime::now_utc() + lifetime,
        ))
    }
    fn kind(&self) -> &'static str {
        "simulated issuer"
    }
}

/// Requests made, and callers that waited, over `run` of simulated time with `callers` tasks
/// each asking for a token every `every`.
fn steady_state(lifetime: Duration, run: Duration, callers: usize, every: Duration) -> (u64, u64) {
    // Paused time needs a current-thread runtime of its own (on its own thread: `main` runs
    // in another runtime).
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let issuer = Arc::new(Issuer {
                lifetime,
                requests: AtomicU64::new(0),
            });
            let tokens = TokenSource::new(issuer.clone(), "https://database.windows.net/.default");
            let end = tokio::time::Instant::now() + run;
            let tasks: Vec<_> = (0..callers)
                .map(|_| {
                    let tokens = tokens.clone();
                    tokio::spawn(async move {
                        while tokio::time::Instant::now() < end {
                            tokens.token().await.expect("token");
                            tokio::time::sleep(every).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("caller");
            }
            (
                issuer.requests.load(Ordering::Relaxed),
                tokens.state().waits,
            )
        })
    })
    .join()
    .expect("simulation thread")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("azure-sql-passwordless pool benchmark (sandbox in-process, {threads} CPU threads)");
    println!();
    // Cargo passes `--bench`; the other arguments name sections.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |section: &str| only.is_empty() || only.iter().any(|o| o == section);

    // ---- 1. warm get() latency ------------------------------------------------------------
    if run("warm") {
        let sandbox = Sandbox::start(SandboxOptions::default())
            .await
            .expect("sandbox");
        let metrics = Metrics::new();
        let pool = metrics
            .on(Pool::builder(config_for(&sandbox)))
            .build()
            .await
            .expect("pool");
        println!("1. warm pool.get() latency (connections already open, no ping: idle < 30 s), and of the whole cycle with the drop that returns the connection");
        println!("   metrics: {}", metrics.describe());
        for (tasks, per_task) in [(1usize, 20_000usize), (64, 1_000)] {
            let (samples, cycles) = warm_get_latency(&pool, tasks, per_task).await;
            println!(
                "   {tasks:>2} task(s), {:>6} gets: p50 {}  p99 {}  max {}   (get + drop: p50 {}  p99 {})",
                samples.len(),
                show(percentile(&samples, 50.0)),
                show(percentile(&samples, 99.0)),
                show(*samples.last().unwrap_or(&Duration::ZERO)),
                show(percentile(&cycles, 50.0)),
                show(percentile(&cycles, 99.0)),
            );
        }
        if let Some(recorded) = metrics.waits_recorded() {
            println!("   checkouts recorded in db.client.connection.wait_time: {recorded}");
        }
        drop(pool);
        println!();
    }
    // ---- 2. Entra requests per 1,000 concurrent connections --------------------------------
    if run("concurrent") {
        let sandbox = Sandbox::start(SandboxOptions::default())
            .await
            .expect("sandbox");
        let before = sandbox.stats();
        let mut config = config_for(&sandbox);
        config.max_pool_size(1000);
        let pool = Pool::builder(config)
            .connection_timeout(Duration::from_secs(120))
            .build()
            .await
            .expect("pool");
        let started = Instant::now();
        let handles: Vec<_> = (0..1000)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.get_owned().await })
            })
            .collect();
        let mut held = Vec::new();
        for h in handles {
            held.push(h.await.expect("task").expect("get"));
        }
        let took = started.elapsed();
        let after = sandbox.stats();
        println!("2. 1,000 connections opened concurrently (pool of 1,000, all held at once)");
        println!(
            "   Entra token requests: {}   logins: {}   open sessions: {}   time: {:.2} s",
            after.token_requests - before.token_requests,
            after.logins_ok - before.logins_ok,
            pool.state().size,
            took.as_secs_f64()
        );
        drop(held);
        drop(pool);
        drop(sandbox);
        println!();
    }
    // ---- 3. get() during renewals under load -----------------------------------------------
    if run("renewal") {
        let lifetime = Duration::from_secs(10);
        let sandbox = Sandbox::start(SandboxOptions {
            token_lifetime: lifetime,
            ..SandboxOptions::default()
        })
        .await
        .expect("sandbox");
        let pool = Pool::new(config_for(&sandbox)).await.expect("pool");
        pool.get().await.expect("first get");
        sandbox
            .faults()
            .set_token_stall(Some(Duration::from_millis(250)));
        let run_for = Duration::from_secs(25);
        let started = Instant::now();
        // Watch the token cache for renewal windows (wall clock start + duration).
        let renewals: Arc<Mutex<Vec<RefreshRecord>>> = Arc::default();
        let watcher = {
            let pool = pool.clone();
            let renewals = renewals.clone();
            tokio::spawn(async move {
                while started.elapsed() < run_for + Duration::from_millis(500) {
                    if let Some(r) = pool.state().token.and_then(|t| t.last_refresh) {
                        let mut seen = renewals.lock().expect("renewals");
                        if seen.last() != Some(&r) {
                            seen.push(r);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let mut handles = Vec::new();
        for _ in 0..64 {
            let pool = pool.clone();
            handles.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                while started.elapsed() < run_for {
                    let at = SystemTime::now();
                    let t0 = Instant::now();
                    let mut conn = pool.get().await.expect("get during the run");
                    let took = t0.elapsed();
                    // Opened for this get (a new login), or an open connection handed out?
                    samples.push((at, took, conn.age() < took));
                    conn.simple_query("SELECT 1")
                        .await
                        .expect("query")
                        .into_results()
                        .await
                        .expect("results");
                    drop(conn);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                samples
            }));
        }
        let mut samples = Vec::new();
        for h in handles {
            samples.extend(h.await.expect("task"));
        }
        watcher.await.expect("watcher");
        let windows: Vec<(SystemTime, SystemTime)> = renewals
            .lock()
            .expect("renewals")
            .iter()
            .skip(1) // the first token, fetched before the run
            .map(|r| {
                let start = SystemTime::UNIX_EPOCH
                    + Duration::from_nanos(r.started.unix_timestamp_nanos().max(0) as u64);
                (start, start + r.duration)
            })
            .collect();
        let (mut during, mut outside) = (Vec::new(), Vec::new());
        let (mut during_open, mut outside_open, mut new_login) =
            (Vec::new(), Vec::new(), Vec::new());
        for (at, took, fresh) in &samples {
            let end = *at + *took;
            let overlaps = windows.iter().any(|(s, e)| *at < *e && end > *s);
            if overlaps {
                during.push(*took);
            } else {
                outside.push(*took);
            }
            if *fresh {
                new_login.push(*took);
            } else if overlaps {
                during_open.push(*took);
            } else {
                outside_open.push(*took);
            }
        }
        for set in [
            &mut during,
            &mut outside,
            &mut during_open,
            &mut outside_open,
            &mut new_login,
        ] {
            set.sort();
        }
        let state = pool.state();
        let token = state.token.clone().expect("token state");
        println!(
        "3. 64 tasks doing get + SELECT 1 for {} s; tokens live {} s; Entra answers after 250 ms",
        run_for.as_secs(),
        lifetime.as_secs()
    );
        println!(
        "   renewals: {}   callers that waited for a token after the first: {}   connections opened: {}",
        windows.len(),
        token.waits.saturating_sub(1),
        state.opened
    );
        for (name, set) in [
            ("during renewals", &during),
            ("outside renewals", &outside),
            ("  open conn., during", &during_open),
            ("  open conn., outside", &outside_open),
            ("  new login needed", &new_login),
        ] {
            println!(
                "   {name:<22} {:>6} gets: p50 {}  p99 {}  max {}",
                set.len(),
                show(percentile(set, 50.0)),
                show(percentile(set, 99.0)),
                show(*set.last().unwrap_or(&Duration::ZERO)),
            );
        }
        println!();
    }
    // ---- 4. Entra requests per token lifetime, steady state ---------------------------------
    if run("steady") {
        let day = Duration::from_secs(24 * 3600);
        println!("4. Entra requests per token lifetime over 24 h (simulated on Tokio's paused clock; 8 callers, one get every 10 s each)");
        for minutes in [60u64, 90] {
            let lifetime = Duration::from_secs(minutes * 60);
            let (requests, waits) = steady_state(lifetime, day, 8, Duration::from_secs(10));
            let lifetimes = day.as_secs_f64() / lifetime.as_secs_f64();
            let renewals = requests.saturating_sub(1);
            println!(
            "   {minutes}-min tokens: {requests} requests (the first, then {renewals} renewals) in {lifetimes:.0} lifetimes = {:.2} renewals per lifetime   callers that waited: {waits} (each one's first get, before any token existed)",
            renewals as f64 / lifetimes
        );
        }
        println!();
    }
    println!("Method: the sandbox (Entra stand-in, TLS, TDS server with gateway redirect) runs in this process;");
    println!("latencies are wall-clock time around each pool.get() call; renewal windows are the token cache's");
    println!("own records (start and duration of each request to Entra) sampled from TokenSource::state().");
    println!("\"new login needed\": the connection handed out was younger than the get() call, i.e. opened for it");
    println!("(pool growth, or a connection retired because its login token neared expiry).");
}
