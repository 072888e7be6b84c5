//! What the library publishes for a platform team to scrape: the pool by OpenTelemetry's
//! database-client semantic conventions (`db.client.connection.*`), the token cache, and the
//! connection events (logins, redirects, retries, retirements), through the OpenTelemetry
//! metrics API (feature `opentelemetry`; the application installs the meter provider).
//!
//! The path calls these types at the points it already has (a token request, a login attempt,
//! a checkout, a return) and does not change shape for them. Without the feature every type here
//! is empty and every method compiles to nothing. With it, events are counted by synchronous
//! instruments, and what the pool and the token cache hold now (sizes, callers waiting, time left
//! on the token) is read by callbacks when the exporter collects. A warm `get()` records nothing
//! (it keeps the time its checks already read); its two histogram points, its wait and its use,
//! are recorded when the connection comes back.
//!
//! | name | instrument | unit | attributes |
//! |---|---|---|---|
//! | `db.client.connection.count` | UpDownCounter (observed) | `{connection}` | pool name, `db.client.connection.state` = `idle` \| `used` |
//! | `db.client.connection.idle.max`, `.idle.min`, `.max` | UpDownCounter (observed) | `{connection}` | pool name |
//! | `db.client.connection.pending_requests` | UpDownCounter (observed) | `{request}` | pool name |
//! | `db.client.connection.timeouts` | Counter | `{timeout}` | pool name |
//! | `db.client.connection.create_time`, `.wait_time`, `.use_time` | Histogram | `s` | pool name |
//! | `azure_sql.connection.logins` | Counter | `{login}` | pool name, `azure_sql.login.outcome`, `error.type` |
//! | `azure_sql.connection.redirects` | Counter | `{redirect}` | pool name |
//! | `azure_sql.connection.retries` | Counter | `{retry}` | pool name, `error.type` |
//! | `azure_sql.connection.retired` | Counter (observed) | `{connection}` | pool name, `azure_sql.connection.retire_reason` |
//! | `azure_sql.token.requests` | Counter | `{request}` | `azure_sql.token.provider`, `azure_sql.token.outcome`, `error.type` |
//! | `azure_sql.token.time_to_expiry` | Gauge (observed) | `s` | provider |
//! | `azure_sql.token.renewals` | Counter | `{renewal}` | provider |
//! | `azure_sql.token.consecutive_failures` | Gauge (observed) | `{failure}` | provider |
//! | `azure_sql.token.waits` | Counter | `{wait}` | provider |
//!
//! The pool name (`db.client.connection.pool.name`) is [`crate::PoolBuilder::name`], by default
//! `server.address:server.port/db.namespace` as the conventions suggest. No attribute ever holds
//! a token, a secret or a free-form message: only names, codes and fixed words.

#[cfg(feature = "opentelemetry")]
mod enabled;
#[cfg(feature = "opentelemetry")]
pub(crate) use enabled::*;

#[cfg(not(feature = "opentelemetry"))]
mod disabled;
#[cfg(not(feature = "opentelemetry"))]
pub(crate) use disabled::*;

use crate::config::Config;
use std::time::Duration;

/// The default pool name: `server.address:server.port/db.namespace` (the conventions'
/// suggestion for a pool without a name of its own), `server.address:server.port` without a
/// database.
pub(crate) fn default_pool_name(config: &Config) -> String {
    match config.get_database() {
        Some(db) => format!("{}:{}/{db}", config.get_host(), config.get_port()),
        None => format!("{}:{}", config.get_host(), config.get_port()),
    }
}

/// What the pool holds now, read by the metrics callbacks at collection time (never read
/// without the feature).
#[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PoolReading {
    pub(crate) idle: u32,
    pub(crate) used: u32,
    /// Callers inside `get()`.
    pub(crate) pending: u32,
    pub(crate) max: u32,
    pub(crate) min_idle: u32,
    /// Connections `bb8` closed by itself: past their lifetime (idle, or on return), idle too long.
    pub(crate) reaped_lifetime: u64,
    pub(crate) reaped_idle: u64,
}

/// What the token cache holds now, read by the metrics callbacks at collection time (never
/// read without the feature).
#[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TokenReading {
    /// Time left on the cached token (zero once it has expired, or when every request so far
    /// failed); `None` before anything was asked of the source.
    pub(crate) expires_in: Option<Duration>,
    pub(crate) consecutive_failures: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pool_name_is_address_port_and_database() {
        let mut config = Config::new("myserver.database.windows.net");
        assert_eq!(
            default_pool_name(&config),
            "myserver.database.windows.net:1433"
        );
        config.database("orders").port(14330);
        assert_eq!(
            default_pool_name(&config),
            "myserver.database.windows.net:14330/orders"
        );
    }
}
