//! Logs: `tracing` events on stderr (stdout carries only the rows), human-readable or, with
//! `--format json`, one JSON object per line. `RUST_LOG` chooses what is shown; by default the
//! demo and the library log at `info` (token acquisitions and renewals, connects, redirects,
//! retries) and everything else, the sandbox included, at `warn`.

use crate::cli::Format;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "warn,customers=info,azure_sql_passwordless=info";

/// Installs the subscriber. A malformed `RUST_LOG` is reported and the default used.
pub fn init(format: Format) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("customers: RUST_LOG is not a valid filter ({e}); using {DEFAULT_FILTER}");
            EnvFilter::new(DEFAULT_FILTER)
        }),
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        Format::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        Format::Json => builder.json().with_current_span(false).try_init(),
    };
    if let Err(e) = installed {
        eprintln!("customers: could not install the logger: {e}");
    }
}
