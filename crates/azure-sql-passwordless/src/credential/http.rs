//! The HTTP client each provider hands to `azure_identity`: rustls with the system's roots plus the
//! configuration's extra trusted roots, bounded timeouts, no redirects, and no retries inside
//! `azure_identity` (the token cache owns retrying).

use crate::config::{Config, ConfigError};
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use std::sync::Arc;
use std::time::Duration;

/// Bounds establishing a connection to Entra (or IMDS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds one whole token request, so a stalled Entra cannot hang a renewal forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One client per provider: its connection pool is reused by every fetch.
pub(crate) fn client(config: &Config) -> Result<reqwest::Client, ConfigError> {
    let mut roots = Vec::new();
    for pem in &config.trusted_root_pem {
        let certs =
            reqwest::Certificate::from_pem_bundle(pem).map_err(|e| ConfigError::HttpClient {
                reason: format!("a trusted root certificate does not parse ({e})"),
            })?;
        roots.extend(certs);
    }
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if !roots.is_empty() {
        builder = builder.tls_certs_merge(roots);
    }
    builder.build().map_err(|e| ConfigError::HttpClient {
        reason: error_chain(&e),
    })
}

/// `azure_identity` options: our client as transport, no retries, and the authority (when
/// given) as a custom cloud, so `azure_identity` never reads `AZURE_AUTHORITY_HOST` itself.
pub(crate) fn client_options(http: &reqwest::Client, authority: Option<&str>) -> ClientOptions {
    let cloud = authority.map(|authority| {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = authority.to_owned();
        Arc::new(CloudConfiguration::Custom(custom))
    });
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        retry: RetryOptions::none(),
        cloud,
        ..Default::default()
    }
}

/// Puts an `azure_identity` error's causes into its message (its `Display` stops at "failed to
/// execute `reqwest` request", hiding "connection refused" or a certificate problem), keeping the
/// original as the source so the Entra error code stays reachable.
pub(crate) fn with_causes(error: azure_core::Error) -> azure_core::Error {
    let text = error_chain(&error);
    if text == error.to_string() {
        return error;
    }
    let kind = error.kind().clone();
    azure_core::Error::with_error(kind, error, text)
}

/// An error with its causes, for messages (reqwest's `Display` omits them).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
