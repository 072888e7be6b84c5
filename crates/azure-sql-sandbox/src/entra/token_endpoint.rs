//! `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant, with a federated client
//! assertion (workload identity) or a client secret, for `https://database.windows.net/.default`.
//! Also the v1 endpoint `POST /{tenant}/oauth2/token`, which older (ADAL-based) SQL clients use:
//! the resource comes as `resource=https://database.windows.net/` instead of a scope, and the
//! answer adds `expires_on`, `not_before` and `resource`, every number as a string.
//!
//! Checks run in this order, each refusal being the [`Aadsts`] row Entra would answer with:
//! injected fault → tenant (90002) → `grant_type` (900144, 70003) → `client_id` (900144) →
//! `scope` (900144, 70011) → application (700016) → resource (500011) → credential (7000218,
//! then the assertion's checks in [`super::assertion`], or the secret: 7000215 when it is none
//! of the application's, 7000222 when it is one that has expired).
//! Success answers `token_type`, `expires_in`, `ext_expires_in`, `access_token` as Entra does.

use super::aadsts::{add_entra_headers, Aadsts};
use super::access_token::{self, ClientAuth, Grantee, AZURE_SQL_RESOURCE};
use super::assertion;
use super::directory::SecretCheck;
use super::state::EntraState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The assertion type Entra accepts for `client_assertion`.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Scopes MSAL may add that say nothing about the resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// Which endpoint a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

struct Issued {
    access_token: String,
    expires_in: u64,
    expires_on: u64,
    not_before: u64,
    resource: String,
    client_id: String,
    grant: &'static str,
}

#[derive(Serialize)]
struct TokenResponseV2 {
    token_type: &'static str,
    expires_in: u64,
    ext_expires_in: u64,
    access_token: String,
}

#[derive(Serialize)]
struct TokenResponseV1 {
    token_type: &'static str,
    expires_in: String,
    ext_expires_in: String,
    expires_on: String,
    not_before: String,
    resource: String,
    access_token: String,
}

/// Parses the scope parameter into the resource it asks for, as Entra does for the
/// client-credentials grant: exactly one `<resource>/.default` (OIDC scopes ignored). The
/// `https://database.windows.net//.default` form that SQL clients historically send is the same
/// resource as `https://database.windows.net/.default`.
pub fn resource_of_scope(scope: &str) -> Result<String, Aadsts> {
    let scopes: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
        .collect();
    let single = match scopes.as_slice() {
        [] => return Err(Aadsts::MissingParameter { name: "scope" }),
        [one] => *one,
        _ => {
            return Err(Aadsts::InvalidScope {
                scope: scope.to_string(),
            })
        }
    };
    let resource = single
        .strip_suffix("/.default")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Aadsts::InvalidScope {
            scope: single.to_string(),
        })?;
    Ok(resource.strip_suffix('/').unwrap_or(resource).to_string())
}

fn is_known_resource(resource: &str) -> bool {
    resource.eq_ignore_ascii_case(AZURE_SQL_RESOURCE)
}

/// The request body (`application/x-www-form-urlencoded`) by name; the first value of a
/// repeated name wins.
pub fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let mut form: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    form
}

/// The v2.0 handler.
pub async fn token(
    State(entra): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&entra, &tenant, &headers, &body, Version::V2).await
}

/// The v1 handler.
pub async fn token_v1(
    State(entra): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&entra, &tenant, &headers, &body, Version::V1).await
}

async fn answer(
    entra: &EntraState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
    version: Version,
) -> Response {
    entra.stats.token_requests();
    let correlation = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match grant(entra, tenant, body, version).await {
        Ok(issued) => {
            entra.stats.tokens_issued();
            tracing::info!(%tenant, client_id = %issued.client_id, grant = issued.grant, ?version, "issued an access token");
            let trace_id = uuid::Uuid::new_v4().to_string();
            let correlation = correlation.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let mut response = match version {
                Version::V2 => axum::Json(TokenResponseV2 {
                    token_type: "Bearer",
                    expires_in: issued.expires_in,
                    ext_expires_in: issued.expires_in,
                    access_token: issued.access_token,
                })
                .into_response(),
                Version::V1 => axum::Json(TokenResponseV1 {
                    token_type: "Bearer",
                    expires_in: issued.expires_in.to_string(),
                    ext_expires_in: issued.expires_in.to_string(),
                    expires_on: issued.expires_on.to_string(),
                    not_before: issued.not_before.to_string(),
                    resource: issued.resource,
                    access_token: issued.access_token,
                })
                .into_response(),
            };
            add_entra_headers(response.headers_mut(), &trace_id, &correlation);
            response
        }
        Err(refusal) => {
            entra.stats.token_refusals();
            tracing::warn!(%tenant, aadsts = refusal.code(), error = refusal.error(), "refused a token request");
            refusal.response(&entra.authority, correlation.as_deref())
        }
    }
}

async fn grant(
    entra: &EntraState,
    tenant: &str,
    body: &[u8],
    version: Version,
) -> Result<Issued, Aadsts> {
    if let Some(stall) = entra.faults.token_stall() {
        tokio::time::sleep(stall).await;
    }
    if let Some(fault) = entra.faults.take_token_fault() {
        return Err(Aadsts::Injected(fault));
    }
    let tenant = entra
        .directory
        .tenant(tenant)
        .ok_or_else(|| Aadsts::UnknownTenant {
            tenant: tenant.to_string(),
        })?;

    let form = parse_form(body);
    let param = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());

    let has_assertion = param("client_assertion").is_some();
    if has_assertion {
        entra.stats.federated_grants();
    } else if param("client_secret").is_some() {
        entra.stats.secret_grants();
    }

    let grant_type = param("grant_type").ok_or(Aadsts::MissingParameter { name: "grant_type" })?;
    if grant_type != "client_credentials" {
        return Err(Aadsts::UnsupportedGrantType {
            grant_type: grant_type.to_string(),
        });
    }
    let client_id = param("client_id").ok_or(Aadsts::MissingParameter { name: "client_id" })?;
    let (requested, resource) = match version {
        Version::V2 => {
            let scope = param("scope").ok_or(Aadsts::MissingParameter { name: "scope" })?;
            (scope.to_string(), resource_of_scope(scope)?)
        }
        Version::V1 => {
            let resource =
                param("resource").ok_or(Aadsts::MissingParameter { name: "resource" })?;
            let trimmed = resource.strip_suffix('/').unwrap_or(resource);
            (resource.to_string(), trimmed.to_string())
        }
    };
    let app = entra
        .directory
        .app(&tenant.id, client_id)
        .ok_or_else(|| Aadsts::UnknownClient {
            client_id: client_id.to_string(),
            tenant_name: tenant.display_name.clone(),
        })?;
    if !is_known_resource(&resource) {
        return Err(Aadsts::UnknownResource {
            resource,
            tenant_name: tenant.display_name.clone(),
        });
    }

    let (auth, kind) = if let Some(assertion) = param("client_assertion") {
        match param("client_assertion_type") {
            None => {
                return Err(Aadsts::MissingParameter {
                    name: "client_assertion_type",
                })
            }
            Some(JWT_BEARER) => {}
            Some(_) => return Err(Aadsts::MissingCredential),
        }
        assertion::validate(
            &entra.issuer_keys,
            &app,
            assertion,
            entra.assertion_clock_skew,
        )
        .await?;
        (ClientAuth::Assertion, "client_assertion")
    } else if let Some(secret) = param("client_secret") {
        match app.check_secret(secret, std::time::SystemTime::now()) {
            SecretCheck::Valid => {}
            SecretCheck::Expired => {
                return Err(Aadsts::ClientSecretExpired {
                    client_id: app.client_id.clone(),
                })
            }
            SecretCheck::Unknown => {
                return Err(Aadsts::InvalidClientSecret {
                    client_id: app.client_id.clone(),
                })
            }
        }
        (ClientAuth::Secret, "client_secret")
    } else {
        return Err(Aadsts::MissingCredential);
    };

    let grantee = Grantee {
        tenant_id: tenant.id.clone(),
        object_id: app.object_id.clone(),
        client_id: app.client_id.clone(),
        auth,
        resource_id: None,
    };
    let issued = access_token::issue(&entra.keys, &grantee, entra.token_lifetime).map_err(|e| {
        tracing::error!(error = %e, "could not sign an access token");
        Aadsts::Injected(crate::faults::TokenEndpointFault::unavailable())
    })?;
    Ok(Issued {
        access_token: issued.access_token,
        expires_in: issued.expires_in,
        expires_on: issued.expires_on,
        not_before: issued.not_before,
        resource: requested,
        client_id: app.client_id,
        grant: kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_name_one_resource_with_dot_default() {
        assert_eq!(
            resource_of_scope("https://database.windows.net/.default").unwrap(),
            "https://database.windows.net"
        );
        assert_eq!(
            resource_of_scope("https://database.windows.net//.default").unwrap(),
            "https://database.windows.net"
        );
        assert_eq!(
            resource_of_scope("https://database.windows.net/.default openid offline_access")
                .unwrap(),
            "https://database.windows.net"
        );
        assert_eq!(
            resource_of_scope("https://vault.azure.net/.default").unwrap(),
            "https://vault.azure.net"
        );
        assert_eq!(resource_of_scope(" ").unwrap_err().code(), 900144);
        assert_eq!(resource_of_scope("openid").unwrap_err().code(), 900144);
        assert_eq!(
            resource_of_scope("https://database.windows.net/user_impersonation")
                .unwrap_err()
                .code(),
            70011
        );
        assert_eq!(
            resource_of_scope("https://database.windows.net")
                .unwrap_err()
                .code(),
            70011
        );
        assert_eq!(resource_of_scope("/.default").unwrap_err().code(), 70011);
        assert_eq!(
            resource_of_scope("https://a/.default https://b/.default")
                .unwrap_err()
                .code(),
            70011
        );
    }
}
