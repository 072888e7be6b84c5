//! Every refusal the Entra stand-in gives, in one table, answered as Entra answers it.
//!
//! | AADSTS  | HTTP | `error`                  | when                                                          |
//! |---------|------|--------------------------|---------------------------------------------------------------|
//! | 90002   | 400  | `invalid_request`        | the tenant in the path is unknown                             |
//! | 900144  | 400  | `invalid_request`        | a required form parameter is missing                          |
//! | 70003   | 400  | `unsupported_grant_type` | `grant_type` is not `client_credentials`                      |
//! | 7000218 | 401  | `invalid_client`         | neither `client_assertion` nor `client_secret` was sent       |
//! | 700016  | 400  | `unauthorized_client`    | no application with that client id in the tenant              |
//! | 70011   | 400  | `invalid_scope`          | the scope is not one `<resource>/.default`                    |
//! | 500011  | 400  | `invalid_resource`       | the scope's resource is not a known resource                  |
//! | 7000215 | 401  | `invalid_client`         | wrong client secret                                           |
//! | 50027   | 400  | `invalid_request`        | the client assertion is not a well-formed JWT                 |
//! | 70021   | 401  | `invalid_client`         | no federated credential matches the assertion's iss/sub/aud   |
//! | 700024  | 401  | `invalid_client`         | the assertion is expired or not yet valid                     |
//! | 700027  | 401  | `invalid_client`         | the assertion's key is not published, or its signature fails  |
//! | 50166   | 400  | `invalid_request`        | the assertion issuer's discovery document or JWKS is unreachable |
//!
//! The body is Entra's: `error`, `error_description` (`AADSTS<n>: <text>` followed by
//! `Trace ID`, `Correlation ID` and `Timestamp` lines), `error_codes: [n]`, `timestamp`,
//! `trace_id`, `correlation_id` (the client's `client-request-id` when it sent one, as Entra
//! echoes it) and `error_uri`. Injected faults ([`crate::faults::TokenEndpointFault`]) go out in
//! the same shape.

use crate::faults::TokenEndpointFault;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::SystemTime;

/// A refusal of the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aadsts {
    /// 90002: the tenant in the path is not in the directory.
    UnknownTenant {
        /// The tenant as requested.
        tenant: String,
    },
    /// 900144: a required parameter is missing from the form body.
    MissingParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// 70003: the grant type is not supported.
    UnsupportedGrantType {
        /// The grant type sent.
        grant_type: String,
    },
    /// 7000218: no client credential in the request.
    MissingCredential,
    /// 700016: no such application in the tenant.
    UnknownClient {
        /// The client id sent.
        client_id: String,
        /// The tenant's display name.
        tenant_name: String,
    },
    /// 70011: the scope is not a single `<resource>/.default`.
    InvalidScope {
        /// The scope sent.
        scope: String,
    },
    /// 500011: the scope names a resource the tenant does not know.
    UnknownResource {
        /// The resource part of the scope.
        resource: String,
        /// The tenant's display name.
        tenant_name: String,
    },
    /// 7000215: the client secret does not match any of the application's secrets.
    InvalidClientSecret {
        /// The client id.
        client_id: String,
    },
    /// 50027: the client assertion is not a well-formed JWT.
    MalformedJwt,
    /// 70021: no federated identity credential of the application matches the assertion.
    NoMatchingFederatedIdentity {
        /// The assertion's `iss`.
        issuer: String,
        /// The assertion's `sub`.
        subject: String,
        /// The assertion's `aud` (joined with `,` when several).
        audience: String,
    },
    /// 700024: the assertion is outside its validity window.
    AssertionNotInValidTimeRange {
        /// The server's time.
        now: SystemTime,
        /// The assertion's `nbf` (epoch when absent).
        not_before: SystemTime,
        /// The assertion's `exp`.
        expires_at: SystemTime,
    },
    /// 700027: the key named by the assertion's `kid` is not published by its issuer.
    AssertionKeyNotFound {
        /// The `kid` in the assertion's header.
        kid: String,
        /// The application.
        client_id: String,
    },
    /// 700027: the key was found but the signature does not verify with it.
    AssertionInvalidSignature {
        /// The `kid` in the assertion's header.
        kid: String,
        /// The application.
        client_id: String,
    },
    /// 50166: the assertion issuer's OIDC metadata could not be fetched.
    IssuerMetadataUnavailable {
        /// The issuer.
        issuer: String,
    },
    /// A fault injected by a test ([`crate::Faults::fail_token_requests`]).
    Injected(TokenEndpointFault),
}

impl Aadsts {
    /// The AADSTS number.
    pub fn code(&self) -> u32 {
        match self {
            Aadsts::UnknownTenant { .. } => 90002,
            Aadsts::MissingParameter { .. } => 900144,
            Aadsts::UnsupportedGrantType { .. } => 70003,
            Aadsts::MissingCredential => 7000218,
            Aadsts::UnknownClient { .. } => 700016,
            Aadsts::InvalidScope { .. } => 70011,
            Aadsts::UnknownResource { .. } => 500011,
            Aadsts::InvalidClientSecret { .. } => 7000215,
            Aadsts::MalformedJwt => 50027,
            Aadsts::NoMatchingFederatedIdentity { .. } => 70021,
            Aadsts::AssertionNotInValidTimeRange { .. } => 700024,
            Aadsts::AssertionKeyNotFound { .. } | Aadsts::AssertionInvalidSignature { .. } => {
                700027
            }
            Aadsts::IssuerMetadataUnavailable { .. } => 50166,
            Aadsts::Injected(f) => f.aadsts,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Aadsts::MissingCredential
            | Aadsts::InvalidClientSecret { .. }
            | Aadsts::NoMatchingFederatedIdentity { .. }
            | Aadsts::AssertionNotInValidTimeRange { .. }
            | Aadsts::AssertionKeyNotFound { .. }
            | Aadsts::AssertionInvalidSignature { .. } => StatusCode::UNAUTHORIZED,
            Aadsts::Injected(f) => {
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The OAuth `error` value.
    pub fn error(&self) -> &str {
        match self {
            Aadsts::UnsupportedGrantType { .. } => "unsupported_grant_type",
            Aadsts::UnknownClient { .. } => "unauthorized_client",
            Aadsts::InvalidScope { .. } => "invalid_scope",
            Aadsts::UnknownResource { .. } => "invalid_resource",
            Aadsts::MissingCredential
            | Aadsts::InvalidClientSecret { .. }
            | Aadsts::NoMatchingFederatedIdentity { .. }
            | Aadsts::AssertionNotInValidTimeRange { .. }
            | Aadsts::AssertionKeyNotFound { .. }
            | Aadsts::AssertionInvalidSignature { .. } => "invalid_client",
            Aadsts::Injected(f) => &f.error,
            _ => "invalid_request",
        }
    }

    /// The text after `AADSTS<n>: `.
    pub fn message(&self) -> String {
        match self {
            Aadsts::UnknownTenant { tenant } => format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
            Aadsts::MissingParameter { name } => format!(
                "The request body must contain the following parameter: '{name}'."
            ),
            Aadsts::UnsupportedGrantType { grant_type } => format!(
                "The app requested an unsupported grant type '{grant_type}'."
            ),
            Aadsts::MissingCredential => "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
            Aadsts::UnknownClient { client_id, tenant_name } => format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
            Aadsts::InvalidScope { scope } => format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
            Aadsts::UnknownResource { resource, tenant_name } => format!(
                "The resource principal named {resource} was not found in the tenant named {tenant_name}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
            Aadsts::InvalidClientSecret { client_id } => format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
            Aadsts::MalformedJwt => "JWT token is invalid or malformed.".into(),
            Aadsts::NoMatchingFederatedIdentity { issuer, subject, audience } => format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{audience}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ),
            Aadsts::AssertionNotInValidTimeRange { now, not_before, expires_at } => format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
                iso8601_7(*now),
                iso8601_7(*not_before),
                iso8601_7(*expires_at)
            ),
            Aadsts::AssertionKeyNotFound { kid, client_id } => format!(
                "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '{kid}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"
            ),
            Aadsts::AssertionInvalidSignature { kid, client_id } => format!(
                "Client assertion contains an invalid signature. [Reason - Key was found, but use of the key to verify the signature failed., Thumbprint of key used by client: '{kid}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"
            ),
            Aadsts::IssuerMetadataUnavailable { issuer } => format!(
                "Request to External OIDC endpoint failed. Issuer: '{issuer}'."
            ),
            Aadsts::Injected(f) => f.description.clone(),
        }
    }

    /// The full HTTP answer. `authority` is the authority host (`https://localhost:PORT/`) for
    /// `error_uri`; `correlation_id` the client's `client-request-id`, if it sent one.
    pub fn response(&self, authority: &str, correlation_id: Option<&str>) -> Response {
        let now = SystemTime::now();
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = correlation_id
            .filter(|c| uuid::Uuid::parse_str(c).is_ok())
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
        let timestamp = entra_timestamp(now);
        let code = self.code();
        let body = ErrorBody {
            error: self.error().to_string(),
            error_description: format!(
                "AADSTS{code}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.message()
            ),
            error_codes: [code],
            timestamp,
            trace_id: trace_id.clone(),
            correlation_id: correlation_id.clone(),
            error_uri: format!("{authority}error?code={code}"),
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        add_entra_headers(response.headers_mut(), &trace_id, &correlation_id);
        response
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
    error_description: String,
    error_codes: [u32; 1],
    timestamp: String,
    trace_id: String,
    correlation_id: String,
    error_uri: String,
}

/// Headers Entra puts on every token response.
pub(crate) fn add_entra_headers(headers: &mut HeaderMap, trace_id: &str, correlation_id: &str) {
    headers.insert(
        "cache-control",
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert("pragma", HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(trace_id) {
        headers.insert("x-ms-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        headers.insert("client-request-id", v);
    }
}

fn civil(t: SystemTime) -> time::OffsetDateTime {
    time::OffsetDateTime::from(t)
}

/// `2022-10-27 23:39:22Z`, as in Entra's `timestamp` and `Timestamp:` line.
pub fn entra_timestamp(t: SystemTime) -> String {
    let d = civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// `2024-10-02T22:05:03.6755165Z` (seven fractional digits, .NET's round-trip format), as in
/// AADSTS700024's text.
pub fn iso8601_7(t: SystemTime) -> String {
    let d = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.nanosecond() / 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_times_as_entra_does() {
        let t = UNIX_EPOCH + Duration::new(1_727_906_703, 675_516_500);
        assert_eq!(entra_timestamp(t), "2024-10-02 22:05:03Z");
        assert_eq!(iso8601_7(t), "2024-10-02T22:05:03.6755165Z");
        assert_eq!(iso8601_7(UNIX_EPOCH), "1970-01-01T00:00:00.0000000Z");
    }

    #[tokio::test]
    async fn the_body_has_entras_shape() {
        let refusal = Aadsts::NoMatchingFederatedIdentity {
            issuer: "https://issuer/".into(),
            subject: "system:serviceaccount:a:b".into(),
            audience: "api://AzureADTokenExchange".into(),
        };
        let correlation = "4a42e576-85bc-46ae-b7e3-b52cb8958917";
        let response = refusal.response("https://localhost:1/", Some(correlation));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_codes"], serde_json::json!([70021]));
        assert_eq!(body["correlation_id"], correlation);
        assert_eq!(body["error_uri"], "https://localhost:1/error?code=70021");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with("AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: 'https://issuer/'. Assertion Subject: 'system:serviceaccount:a:b'. Assertion Audience: 'api://AzureADTokenExchange'."), "{description}");
        let lines: Vec<&str> = description.split("\r\n").collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[1].starts_with("Trace ID: "));
        assert_eq!(lines[2], format!("Correlation ID: {correlation}"));
        assert_eq!(
            lines[3],
            format!("Timestamp: {}", body["timestamp"].as_str().unwrap())
        );
        assert_eq!(
            lines[1],
            format!("Trace ID: {}", body["trace_id"].as_str().unwrap())
        );
    }

    #[test]
    fn every_refusal_has_a_distinct_row() {
        let rows = [
            Aadsts::UnknownTenant { tenant: "t".into() },
            Aadsts::MissingParameter { name: "scope" },
            Aadsts::UnsupportedGrantType {
                grant_type: "password".into(),
            },
            Aadsts::MissingCredential,
            Aadsts::UnknownClient {
                client_id: "c".into(),
                tenant_name: "t".into(),
            },
            Aadsts::InvalidScope { scope: "s".into() },
            Aadsts::UnknownResource {
                resource: "r".into(),
                tenant_name: "t".into(),
            },
            Aadsts::InvalidClientSecret {
                client_id: "c".into(),
            },
            Aadsts::MalformedJwt,
            Aadsts::NoMatchingFederatedIdentity {
                issuer: "i".into(),
                subject: "s".into(),
                audience: "a".into(),
            },
            Aadsts::AssertionNotInValidTimeRange {
                now: UNIX_EPOCH,
                not_before: UNIX_EPOCH,
                expires_at: UNIX_EPOCH,
            },
            Aadsts::AssertionKeyNotFound {
                kid: "k".into(),
                client_id: "c".into(),
            },
            Aadsts::IssuerMetadataUnavailable { issuer: "i".into() },
        ];
        let mut codes: Vec<u32> = rows.iter().map(Aadsts::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), rows.len());
        for row in &rows {
            assert!(!row.message().is_empty());
            assert!(row.status().is_client_error());
        }
    }
}
