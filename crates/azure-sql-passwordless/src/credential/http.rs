//! The HTTP client each provider hands to `azure_identity`: rustls with the system's roots plus the
//! configuration's extra trusted roots, bounded timeouts, no redirects, and no retries inside
//! `azure_identity` (the token cache owns retrying).
//!
//! It also works around a bug of `azure_identity` 1.0: it reads Entra's error body with
//! `error_description` as a *borrowed* string, which fails on any JSON escape, and Entra's
//! descriptions always carry some (`\r\n` before "Trace ID"). The refusal then comes back as "invalid
//! type: string ..., expected a borrowed string", with neither the HTTP status nor the error code.
//! So the transport rewrites a failed response's `error_description` without escapes (line
//! breaks become spaces) before `azure_identity` reads it; successful responses pass untouched.

use crate::config::{Config, ConfigError};
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::http::{
    AsyncRawResponse, ClientOptions, HttpClient, Request, RetryOptions, Transport,
};
use azure_core::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// Bounds establishing a connection to Entra (or IMDS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds one whole token request, so a stalled Entra cannot hang a renewal forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One client per provider: its connection pool is reused by every fetch.
pub(crate) fn client(config: &Config) -> Result<reqwest::Client, ConfigError> {
    crate::crypto::install_default_provider();
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
        transport: Some(Transport::new(Arc::new(EntraTransport(http.clone())))),
        retry: RetryOptions::none(),
        cloud,
        ..Default::default()
    }
}

/// reqwest, with failed responses' `error_description` made readable to `azure_identity`.
#[derive(Debug)]
struct EntraTransport(reqwest::Client);

#[async_trait::async_trait]
impl HttpClient for EntraTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let response = self.0.execute_request(request).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let (status, mut headers, body) = response.deconstruct();
        let body = body.collect().await?;
        let body = match without_escapes(&body) {
            Some(rewritten) => {
                headers.remove("content-length");
                rewritten
            }
            None => body,
        };
        Ok(AsyncRawResponse::from_bytes(status, headers, body))
    }
}

/// The JSON error body with an `error_description` free of JSON escapes, or `None` when it
/// needs no change (or is not such a body).
fn without_escapes(body: &[u8]) -> Option<Bytes> {
    let mut json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let description = json.get_mut("error_description")?;
    let text = description.as_str()?;
    let plain: String = text
        .replace("\r\n", " ")
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    if plain == text {
        return None;
    }
    *description = serde_json::Value::String(plain);
    serde_json::to_vec(&json).ok().map(Bytes::from)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_descriptions_lose_their_escapes_and_nothing_else() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret.\r\nTrace ID: 1\r\nSaid \"no\" \\ here","error_codes":[7000215]}"#;
        let rewritten = without_escapes(body).expect("rewritten");
        let json: serde_json::Value = serde_json::from_slice(&rewritten).expect("JSON");
        assert_eq!(
            json["error_description"],
            "AADSTS7000215: Invalid client secret. Trace ID: 1 Said 'no' / here"
        );
        assert_eq!(json["error_codes"][0], 7000215);
        assert_eq!(json["error"], "invalid_client");
        assert!(
            !String::from_utf8_lossy(&rewritten).contains('\\'),
            "no escape left"
        );

        assert!(without_escapes(br#"{"error_description":"plain"}"#).is_none());
        assert!(without_escapes(b"<html>502</html>").is_none());
        assert!(without_escapes(br#"{"error":"x"}"#).is_none());
    }
}
