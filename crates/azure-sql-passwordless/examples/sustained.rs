//! The sustained leg of `bench/peers`: one process, N concurrent workers, each looping get a
//! connection from the pool, run the demo's query, read the five IDs, give the connection back,
//! for a fixed time. Prints one JSON line: the queries, wall seconds and this process's CPU
//! seconds (user + system, from `/proc/self/stat`) of the measured window, which starts after a
//! warm-up (the pool's logins and the first token are not in it).
//!
//! ```sh
//! cargo run -p azure-sql-sandbox -- serve --env-file /tmp/sandbox.env &
//! set -a; . /tmp/sandbox.env; set +a
//! EXAMPLE_CA_FILE=$AZURE_SQL_SANDBOX_CA cargo run --release -p azure-sql-passwordless \
//!   --example sustained -- 64 10 2 10    # workers, seconds, warm-up seconds, pool size
//! ```
//!
//! The runtime is Tokio's multi-thread one with a worker per core (what `#[tokio::main]`
//! builds); `SUSTAINED_RUNTIME=current_thread` runs everything on one thread instead.
//!
//! The other stacks' versions of the same loop are in `bench/clients/`.

use azure_sql_passwordless::{Config, Pool};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUERY: &str = "SELECT customer_id FROM dbo.Customer ORDER BY customer_id";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = match std::env::var("SUSTAINED_RUNTIME").as_deref() {
        Ok("current_thread") => tokio::runtime::Builder::new_current_thread(),
        Ok("multi_thread") | Err(_) => tokio::runtime::Builder::new_multi_thread(),
        Ok(other) => {
            return Err(format!("SUSTAINED_RUNTIME={other}: current_thread or multi_thread").into())
        }
    }
    .enable_all()
    .build()?;
    runtime.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("usage: sustained WORKERS SECONDS WARMUP_SECONDS POOL_SIZE ({e})"))?;
    let [workers, seconds, warmup, pool_size] = args[..] else {
        return Err("usage: sustained WORKERS SECONDS WARMUP_SECONDS POOL_SIZE".into());
    };
    let mut config = Config::from_env()?;
    if let Ok(ca) = std::env::var("EXAMPLE_CA_FILE") {
        config.trust_root_certificate_file(ca)?;
    }
    config.max_pool_size(u32::try_from(pool_size)?);
    let pool = Pool::new(config).await?;

    let queries = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (pool, queries, errors, stop) =
            (pool.clone(), queries.clone(), errors.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match one_query(&pool).await {
                    Ok(5) => queries.fetch_add(1, Ordering::Relaxed),
                    Ok(_) | Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let (q0, cpu0, t0) = (
        queries.load(Ordering::Relaxed),
        cpu_seconds()?,
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (q1, cpu1, t1) = (
        queries.load(Ordering::Relaxed),
        cpu_seconds()?,
        Instant::now(),
    );
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await?;
    }
    println!(
        "{{\"queries\": {}, \"seconds\": {:.3}, \"cpu_seconds\": {:.3}, \"errors\": {}}}",
        q1 - q0,
        (t1 - t0).as_secs_f64(),
        cpu1 - cpu0,
        errors.load(Ordering::Relaxed)
    );
    pool.close(Duration::from_secs(5)).await;
    Ok(())
}

/// One checkout, the query, the rows read; the number of IDs.
async fn one_query(pool: &Pool) -> Result<usize, azure_sql_passwordless::Error> {
    let mut conn = pool.get().await?;
    let rows = conn.simple_query(QUERY).await?.into_first_result().await?;
    Ok(rows
        .iter()
        .filter(|row| row.try_get::<i32, _>(0).ok().flatten().is_some())
        .count())
}

/// This process's user + system CPU time so far, from `/proc/self/stat` (fields 14 and 15, in
/// clock ticks of 1/100 s, Linux's `USER_HZ` on every architecture it ships for).
fn cpu_seconds() -> Result<f64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("/proc/self/stat has no ')'")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let (utime, stime) = match (fields.get(11), fields.get(12)) {
        (Some(u), Some(s)) => (u.parse::<u64>()?, s.parse::<u64>()?),
        _ => return Err("/proc/self/stat is too short".into()),
    };
    let ticks = utime + stime;
    Ok(ticks as f64 / 100.0)
}
