//! The two ways to run: [`once`] (one connection, one query, exit) and [`watch`] (a pool, a
//! query every interval, health endpoints, until SIGTERM/SIGINT).

use crate::cli::Format;
use crate::health::{self, Health};
use crate::metrics::Exporter;
use crate::output;
use crate::query;
use anyhow::Context;
use azure_sql_passwordless::{Config, Pool, PoolBuilder};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::{Instant, MissedTickBehavior};

/// How the run ended when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The rows were printed (once), or a signal stopped the watch.
    Done,
    /// Stdout was closed (`customers | head -1`): nothing more to print.
    StdoutClosed,
}

/// One connection (the library's one-shot `connect`, no pool), one query, the rows printed.
pub async fn once(config: &Config, format: Format) -> anyhow::Result<Ended> {
    let target = describe(config);
    let mut conn = azure_sql_passwordless::connect(config)
        .await
        .with_context(|| format!("could not connect to {target}"))?;
    let ids = query::customer_ids(&mut conn).await?;
    if let Err(error) = conn.close().await {
        tracing::debug!(%error, "closing the connection failed");
    }
    print(format, &ids).map(|printed| {
        if printed {
            Ended::Done
        } else {
            Ended::StdoutClosed
        }
    })
}

/// What a watch needs besides the pool.
pub struct WatchOptions {
    /// Time between the starts of two queries.
    pub interval: Duration,
    /// Output format.
    pub format: Format,
    /// Serve `/livez`, `/readyz` and `/metrics` here.
    pub health_addr: Option<SocketAddr>,
}

/// The bound on one query of the watch (getting a connection, then the statement): the pool's
/// wait for a connection, plus the command timeout (or a minute without one), plus slack. A
/// query past it is abandoned (the library discards its connection) and counts as failed.
pub fn query_deadline(config: &Config) -> Duration {
    PoolBuilder::DEFAULT_CONNECTION_TIMEOUT
        + config
            .get_command_timeout()
            .unwrap_or(Duration::from_secs(60))
        + Duration::from_secs(5)
}

/// Queries every `interval` through a pool until `shutdown` resolves. A failed query is logged
/// and marks the pod unready; it does not end the loop (the next tick tries again).
pub async fn watch(
    config: Config,
    options: WatchOptions,
    shutdown: impl Future<Output = &'static str>,
) -> anyhow::Result<Ended> {
    let target = describe(&config);
    let deadline = query_deadline(&config);
    // The meter provider goes in before the pool is built (the library reads it then); only
    // with somewhere to serve the metrics.
    let metrics = match options.health_addr {
        Some(_) => Some(Arc::new(Exporter::install()?)),
        None => None,
    };
    let pool = Pool::builder(config)
        .build()
        .await
        .with_context(|| format!("could not set up the pool for {target}"))?;
    let health = Arc::new(Health::new(options.interval, deadline, Instant::now()));
    let server = match (options.health_addr, metrics) {
        (Some(addr), Some(metrics)) => {
            let listener = health::Listener::bind(addr).await.with_context(|| {
                format!("could not listen on --health-addr {addr} (in use, or not an address of this host?)")
            })?;
            let bound = listener
                .local_addr()
                .context("reading the health address")?;
            tracing::info!(addr = %bound, "health: serving /livez, /readyz and /metrics");
            Some(AbortOnDrop(tokio::spawn(health::serve(
                listener,
                health.clone(),
                pool.clone(),
                metrics,
            ))))
        }
        _ => None,
    };
    tracing::info!(
        server = %target,
        interval_ms = options.interval.as_millis() as u64,
        "watch: querying dbo.Customer every interval until SIGTERM or SIGINT"
    );

    tokio::pin!(shutdown);
    let mut ticks = tokio::time::interval(options.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let ended = loop {
        tokio::select! {
            biased;
            signal = &mut shutdown => {
                tracing::info!(signal, "watch: stopping");
                break Ended::Done;
            }
            _ = ticks.tick() => {}
        }
        let started = Instant::now();
        health.started(started);
        let attempt = tokio::time::timeout(deadline, async {
            let mut conn = pool.get().await.context("could not get a connection")?;
            query::customer_ids(&mut conn).await
        });
        let outcome = tokio::select! {
            biased;
            signal = &mut shutdown => {
                tracing::info!(signal, "watch: stopping (a query in flight was abandoned)");
                break Ended::Done;
            }
            outcome = attempt => outcome,
        };
        let outcome = outcome.unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "the query did not finish within {deadline:?}"
            ))
        });
        let finished = Instant::now();
        match outcome {
            Ok(ids) => {
                health.finished(finished, Ok(ids.len()));
                let state = pool.state();
                tracing::debug!(
                    rows = ids.len(),
                    duration_ms = (finished - started).as_millis() as u64,
                    pool_size = state.size,
                    pool_idle = state.idle,
                    token_expires_in_s = state
                        .token
                        .as_ref()
                        .and_then(|t| t.expires_in)
                        .map(|d| d.as_secs()),
                    "watch: query ok"
                );
                if !print(options.format, &ids)? {
                    break Ended::StdoutClosed;
                }
            }
            Err(error) => {
                let line = crate::one_line(&error);
                tracing::error!(error = %line, "watch: query failed; trying again at the next interval");
                health.finished(finished, Err(line));
            }
        }
    };
    drop(server);
    // Graceful: the idle connections are closed (their sessions end at the server now, not when
    // the process dies) and the token stops renewing. Nothing is in use here any more (a query
    // in flight was abandoned above), so the grace only bounds a connection still coming back.
    let closed = pool.close(CLOSE_GRACE).await;
    let state = pool.state();
    tracing::info!(
        still_in_use = closed.in_use,
        opened = state.opened,
        closed_broken = state.closed_broken,
        closed_reaped = state.closed_reaped,
        token_fetches = state.token.as_ref().map(|t| t.fetches),
        "watch: stopped"
    );
    Ok(ended)
}

/// How long a stopping watch waits for connections to come back before it closes the pool:
/// well inside Kubernetes' default 30-second termination grace.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Resolves on SIGTERM or SIGINT with the signal's name.
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        })
    }
}

/// Prints the IDs to stdout; `Ok(false)` when stdout has been closed.
fn print(format: Format, ids: &[i32]) -> anyhow::Result<bool> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match output::write_ids(&mut out, format, ids, OffsetDateTime::now_utc()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            tracing::debug!("stdout is closed; stopping");
            Ok(false)
        }
        Err(e) => Err(e).context("writing to stdout failed"),
    }
}

/// `host,port/database` for messages.
fn describe(config: &Config) -> String {
    format!(
        "{},{}/{}",
        config.get_host(),
        config.get_port(),
        config.get_database().unwrap_or("<default database>")
    )
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_deadline_covers_the_pool_wait_and_the_command_timeout() {
        let mut config = Config::new("myserver.database.windows.net");
        assert_eq!(query_deadline(&config), Duration::from_secs(30 + 30 + 5));
        config.command_timeout(None);
        assert_eq!(query_deadline(&config), Duration::from_secs(30 + 60 + 5));
    }

    #[test]
    fn targets_read_as_host_port_database() {
        let mut config = Config::new("myserver.database.windows.net");
        assert_eq!(
            describe(&config),
            "myserver.database.windows.net,1433/<default database>"
        );
        config.database("mydb").port(14330);
        assert_eq!(
            describe(&config),
            "myserver.database.windows.net,14330/mydb"
        );
    }
}
