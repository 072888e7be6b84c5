//! Managed identity over plain HTTP, as a VM or an App Service host offers it:
//!
//! - **IMDS**: `GET /metadata/identity/oauth2/token?api-version=..&resource=..` with optional
//!   `client_id`, `object_id` or `msi_res_id`, and the header `Metadata: true` (without it: 400
//!   `bad_request_102`, "Required metadata header not specified").
//! - **App Service** (api-version `2019-08-01`, what `azure_identity`'s
//!   `ManagedIdentityCredential` speaks when `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` are set):
//!   `GET /msi/token?api-version=2019-08-01&resource=..` with optional `client_id`,
//!   `object_id`/`principal_id` or `mi_res_id`/`msi_res_id`, and the header `X-IDENTITY-HEADER`
//!   carrying the host's secret (wrong or missing: 401).
//!
//! Both answer IMDS's JSON, every value a string: `access_token`, `client_id`, `expires_in`,
//! `expires_on` (epoch seconds), `ext_expires_in`, `not_before`, `resource`, `token_type`.
//! Which identity: the one named, else the system-assigned one, else the only user-assigned one
//! ([`IdentitySelector::Default`]); none → 400 "Identity not found". Injected token-endpoint
//! faults and stalls apply here too.

use super::access_token::{self, ClientAuth, Grantee, AZURE_SQL_RESOURCE};
use super::directory::IdentitySelector;
use super::state::EntraState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The IMDS token path.
pub const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// The App Service token path (`IDENTITY_ENDPOINT`).
pub const APP_SERVICE_PATH: &str = "/msi/token";
/// The only App Service API version served.
pub const APP_SERVICE_API_VERSION: &str = "2019-08-01";

fn refusal(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The IMDS handler.
pub async fn imds(
    State(entra): State<Arc<EntraState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    entra.stats.token_requests();
    let metadata = headers
        .get("metadata")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !metadata {
        entra.stats.token_refusals();
        return refusal(
            StatusCode::BAD_REQUEST,
            "bad_request_102",
            "Required metadata header not specified",
        );
    }
    let selector = if let Some(id) = query.get("client_id") {
        IdentitySelector::ClientId(id.clone())
    } else if let Some(id) = query.get("object_id") {
        IdentitySelector::ObjectId(id.clone())
    } else if let Some(id) = query.get("msi_res_id") {
        IdentitySelector::ResourceId(id.clone())
    } else {
        IdentitySelector::Default
    };
    answer(&entra, &query, selector).await
}

/// The App Service handler.
pub async fn app_service(
    State(entra): State<Arc<EntraState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    entra.stats.token_requests();
    let presented = headers
        .get("x-identity-header")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if aws_lc_rs::constant_time::verify_slices_are_equal(
        presented,
        entra.identity_header.as_bytes(),
    )
    .is_err()
    {
        entra.stats.token_refusals();
        return refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.",
        );
    }
    if let Some(version) = query.get("api-version") {
        if version != APP_SERVICE_API_VERSION {
            entra.stats.token_refusals();
            return refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("Unsupported api-version '{version}'; this endpoint serves {APP_SERVICE_API_VERSION}."),
            );
        }
    }
    let selector = if let Some(id) = query.get("client_id") {
        IdentitySelector::ClientId(id.clone())
    } else if let Some(id) = query.get("object_id").or_else(|| query.get("principal_id")) {
        IdentitySelector::ObjectId(id.clone())
    } else if let Some(id) = query.get("mi_res_id").or_else(|| query.get("msi_res_id")) {
        IdentitySelector::ResourceId(id.clone())
    } else {
        IdentitySelector::Default
    };
    answer(&entra, &query, selector).await
}

async fn answer(
    entra: &EntraState,
    query: &HashMap<String, String>,
    selector: IdentitySelector,
) -> Response {
    entra.stats.managed_identity_grants();
    let result = issue(entra, query, &selector).await;
    match result {
        Ok(response) => {
            entra.stats.tokens_issued();
            response
        }
        Err(response) => {
            entra.stats.token_refusals();
            tracing::warn!(
                status = response.status().as_u16(),
                ?selector,
                "refused a managed-identity token request"
            );
            response
        }
    }
}

async fn issue(
    entra: &EntraState,
    query: &HashMap<String, String>,
    selector: &IdentitySelector,
) -> Result<Response, Response> {
    if let Some(stall) = entra.faults.token_stall() {
        tokio::time::sleep(stall).await;
    }
    if let Some(fault) = entra.faults.take_token_fault() {
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Err(refusal(
            status,
            &fault.error,
            &format!("AADSTS{}: {}", fault.aadsts, fault.description),
        ));
    }
    if query.get("api-version").is_none_or(|v| v.is_empty()) {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'api-version' is missing",
        ));
    }
    let Some(requested) = query.get("resource").filter(|r| !r.is_empty()) else {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'resource' is missing",
        ));
    };
    let identity = entra
        .directory
        .managed_identity(selector)
        .map_err(|description| refusal(StatusCode::BAD_REQUEST, "invalid_request", description))?;
    let resource = requested.strip_suffix("/.default").unwrap_or(requested);
    let resource = resource.strip_suffix('/').unwrap_or(resource);
    if !resource.eq_ignore_ascii_case(AZURE_SQL_RESOURCE) {
        let tenant_name = entra
            .directory
            .tenant(&identity.tenant_id)
            .map_or_else(|| identity.tenant_id.clone(), |t| t.display_name);
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            &format!("AADSTS500011: The resource principal named {requested} was not found in the tenant named {tenant_name}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."),
        ));
    }
    let grantee = Grantee {
        tenant_id: identity.tenant_id.clone(),
        object_id: identity.object_id.clone(),
        client_id: identity.client_id.clone(),
        auth: ClientAuth::ManagedIdentity,
        resource_id: Some(identity.resource_id.clone()),
    };
    let issued = access_token::issue(&entra.keys, &grantee, entra.token_lifetime).map_err(|e| {
        tracing::error!(error = %e, "could not sign an access token");
        refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Could not sign the token.",
        )
    })?;
    tracing::info!(client_id = %identity.client_id, "issued a managed-identity access token");
    Ok(Json(json!({
        "access_token": issued.access_token,
        "client_id": identity.client_id,
        "expires_in": issued.expires_in.to_string(),
        "expires_on": issued.expires_on.to_string(),
        "ext_expires_in": issued.expires_in.to_string(),
        "not_before": issued.not_before.to_string(),
        "resource": requested,
        "token_type": "Bearer",
    }))
    .into_response())
}
