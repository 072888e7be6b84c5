//! `GET /metrics` for `--watch --health-addr`: the library's metrics (pool, token, connection
//! events, named by OpenTelemetry's conventions) in Prometheus text.
//!
//! The demo does what a service does to publish them: it installs an OpenTelemetry meter
//! provider (the SDK) as the global one before building its pool, with the Prometheus exporter
//! (`opentelemetry-prometheus`) as its reader. The exporter translates the names the standard
//! way (dots to underscores, a unit suffix such as `_seconds`, `_total` on counters), so
//! `azure_sql.token.time_to_expiry` is scraped as `azure_sql_token_time_to_expiry_seconds`.
//! Without the `metrics` feature there is no exporter and `/metrics` answers 404.

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The installed exporter: what `/metrics` renders.
#[cfg(feature = "metrics")]
pub struct Exporter {
    registry: prometheus::Registry,
    provider: opentelemetry_sdk::metrics::SdkMeterProvider,
}

#[cfg(feature = "metrics")]
impl Exporter {
    /// Installs the meter provider, with the Prometheus exporter as its reader, as the global
    /// one (the library reads it when the pool is built).
    pub fn install() -> anyhow::Result<Self> {
        use anyhow::Context;
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .context("setting up the Prometheus exporter")?;
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(env!("CARGO_PKG_NAME"))
                    .build(),
            )
            .with_reader(exporter)
            .build();
        azure_sql_passwordless::opentelemetry::global::set_meter_provider(provider.clone());
        Ok(Self { registry, provider })
    }

    /// The metrics now, in Prometheus text; `None` if they cannot be encoded.
    pub fn render(&self) -> Option<String> {
        let mut text = String::new();
        match prometheus::TextEncoder::new().encode_utf8(&self.registry.gather(), &mut text) {
            Ok(()) => Some(text),
            Err(error) => {
                tracing::warn!(%error, "metrics: encoding failed");
                None
            }
        }
    }
}

#[cfg(feature = "metrics")]
impl Drop for Exporter {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::debug!(%error, "metrics: the meter provider did not shut down cleanly");
        }
    }
}

/// Without the `metrics` feature: nothing installed, nothing to render.
#[cfg(not(feature = "metrics"))]
pub struct Exporter(());

#[cfg(not(feature = "metrics"))]
impl Exporter {
    /// Nothing to install.
    pub fn install() -> anyhow::Result<Self> {
        Ok(Self(()))
    }

    /// Always `None`: `/metrics` answers 404.
    pub fn render(&self) -> Option<String> {
        None
    }
}
