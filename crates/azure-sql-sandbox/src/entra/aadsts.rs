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
//! | 7000222 | 401  | `invalid_client`         | the client secret matches one that has expired                |
//! | 50027   | 400  | `invalid_request`        | the client assertion is not a well-formed JWT                 |
//! | 700211  | 401  | `invalid_client`         | no federated credential has the assertion's issuer            |
//! | 700213  | 401  | `invalid_client`         | ... with that issuer, none has the assertion's subject        |
//! | 7002138 | 401  | `invalid_client`         | ... one has the subject, but only compared case-insensitively |
//! | 700212  | 401  | `invalid_client`         | ... with that issuer and subject, none has its audience       |
//! | 700024  | 401  | `invalid_client`         | the assertion is expired or not yet valid                     |
//! | 700027  | 401  | `invalid_client`         | the assertion's key is not published, or its signature fails  |
//! | 50166   | 400  | `invalid_request`        | the assertion issuer's discovery document or JWKS is unreachable or unusable (its `issuer` is not the assertion's) |
//!
//! Entra stopped answering a federated-credential mismatch with the single AADSTS70021 (last seen
//! in public threads in 2022, Azure/azure-workload-identity#616 and the project's own
//! troubleshooting page, which still quotes that year's log): it now names the field that did not
//! match (700211 issuer, 700213 subject, 7002138 subject matching only case-insensitively since
//! case-sensitive matching began in 2024, 700212 audience). The sandbox sends the current codes
//! only. Each text below is the latest wording found in a public thread, cited at its row.
//!
//! The body is Entra's: `error`, `error_description` (`AADSTS<n>: <text> Trace ID: <id>
//! Correlation ID: <id> Timestamp: <time>`, on one line: Entra separated them with `\r\n` until
//! 2022 (Azure/azure-workload-identity#616) and with single spaces in every body quoted since
//! 2024 (#1350, Azure/terraform's TestRecord.md of 2026)), `error_codes: [n]`, `timestamp`,
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
    /// 7000222: the client secret matches one of the application's secrets, but that secret
    /// has expired.
    ClientSecretExpired {
        /// The client id.
        client_id: String,
    },
    /// 700211: no federated identity credential of the application has the assertion's issuer.
    NoFederatedIssuer {
        /// The assertion's `iss`.
        issuer: String,
    },
    /// 700213: credentials have the issuer, none the subject.
    NoFederatedSubject {
        /// The assertion's `sub`.
        subject: String,
    },
    /// 7002138: a credential's subject equals the assertion's only when case is ignored.
    FederatedSubjectCase {
        /// The assertion's `sub`.
        subject: String,
    },
    /// 700212: credentials have the issuer and subject, none an audience of the assertion.
    NoFederatedAudience {
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
            Aadsts::ClientSecretExpired { .. } => 7000222,
            Aadsts::NoFederatedIssuer { .. } => 700211,
            Aadsts::NoFederatedSubject { .. } => 700213,
            Aadsts::FederatedSubjectCase { .. } => 7002138,
            Aadsts::NoFederatedAudience { .. } => 700212,
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
            | Aadsts::ClientSecretExpired { .. }
            | Aadsts::NoFederatedIssuer { .. }
            | Aadsts::NoFederatedSubject { .. }
            | Aadsts::FederatedSubjectCase { .. }
            | Aadsts::NoFederatedAudience { .. }
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
            | Aadsts::ClientSecretExpired { .. }
            | Aadsts::NoFederatedIssuer { .. }
            | Aadsts::NoFederatedSubject { .. }
            | Aadsts::FederatedSubjectCase { .. }
            | Aadsts::NoFederatedAudience { .. }
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
            // dotnet/sign#849 (2025-04), an Azure.Identity log with MSAL's `invalid_client`.
            Aadsts::ClientSecretExpired { client_id } => format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
            ),
            Aadsts::MalformedJwt => "JWT token is invalid or malformed.".into(),
            // Azure/azure-workload-identity#1350 (2024-05, HTTP 401, whole body) and #1200.
            Aadsts::NoFederatedIssuer { issuer } => format!(
                "No matching federated identity record found for presented assertion issuer '{issuer}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation"
            ),
            // Azure/terraform quickstart/*/TestRecord.md (2026-01, HTTP 401, whole body with
            // error_uri) and Azure/azure-workload-identity#1200 (2025-04, a service account).
            Aadsts::NoFederatedSubject { subject } => format!(
                "No matching federated identity record found for presented assertion subject '{subject}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ),
            // Azure/login#515 (2025-02); the breaking change is Learn's "Federated identity
            // credentials now use case-sensitive matching" (reference-breaking-changes, August 2024).
            Aadsts::FederatedSubjectCase { subject } => format!(
                "No matching federated identity record found for presented assertion subject '{subject}'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: https://learn.microsoft.com/entra/workload-id/workload-identity-federation. See breaking change notification and remediation at: https://learn.microsoft.com/en-us/entra/identity-platform/reference-breaking-changes#august-2024."
            ),
            // AthenZ/athenz AzureAccessTokenProviderTest.java, a recorded answer (2024-04,
            // invalid_client); the Azure SDK for JS troubleshooting guide quotes the same start.
            Aadsts::NoFederatedAudience { audience } => format!(
                "No matching federated identity record found for presented assertion audience '{audience}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation"
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
            // Azure/azure-workload-identity#642 (2022) and #1130 (2023): the text names nothing
            // (the issuer goes to the sandbox's log only).
            Aadsts::IssuerMetadataUnavailable { .. } => {
                "Request to External OIDC endpoint failed.".into()
            }
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
                "AADSTS{code}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
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
        let refusal = Aadsts::NoFederatedSubject {
            subject: "system:serviceaccount:a:b".into(),
        };
        let correlation = "4a42e576-85bc-46ae-b7e3-b52cb8958917";
        let response = refusal.response("https://localhost:1/", Some(correlation));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_codes"], serde_json::json!([700213]));
        assert_eq!(body["correlation_id"], correlation);
        assert_eq!(body["error_uri"], "https://localhost:1/error?code=700213");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with("AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:a:b'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation Trace ID: "), "{description}");
        assert!(
            !description.contains(['\r', '\n']),
            "one line: {description}"
        );
        assert!(description.ends_with(&format!(
            " Trace ID: {} Correlation ID: {correlation} Timestamp: {}",
            body["trace_id"].as_str().unwrap(),
            body["timestamp"].as_str().unwrap()
        )));
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
            Aadsts::ClientSecretExpired {
                client_id: "c".into(),
            },
            Aadsts::NoFederatedIssuer { issuer: "i".into() },
            Aadsts::NoFederatedSubject {
                subject: "s".into(),
            },
            Aadsts::FederatedSubjectCase {
                subject: "s".into(),
            },
            Aadsts::NoFederatedAudience {
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
