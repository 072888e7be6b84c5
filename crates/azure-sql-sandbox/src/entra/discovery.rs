//! Entra's metadata endpoints, so MSAL-based clients (which discover before they ask for a
//! token) and the SQL side's validator find what they look for:
//!
//! - `GET /{tenant}/v2.0/.well-known/openid-configuration` and the v1
//!   `GET /{tenant}/.well-known/openid-configuration`: OIDC discovery documents;
//! - `GET /{tenant}/discovery/v2.0/keys`, `GET /{tenant}/discovery/keys` and
//!   `GET /common/discovery/keys`: the JWKS with the signing keys (current and recently retired);
//! - `GET /common/discovery/instance`: MSAL's instance discovery, naming this host as its own
//!   (and only) alias.
//!
//! An unknown tenant gets AADSTS90002, as from Entra.

use super::aadsts::Aadsts;
use super::state::EntraState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

fn tenant_or_refusal(entra: &EntraState, tenant: &str) -> Result<super::directory::Tenant, Aadsts> {
    entra
        .directory
        .tenant(tenant)
        .ok_or_else(|| Aadsts::UnknownTenant {
            tenant: tenant.to_string(),
        })
}

/// The v2.0 discovery document.
pub async fn openid_configuration_v2(
    State(entra): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
) -> Response {
    let found = match tenant_or_refusal(&entra, &tenant) {
        Ok(t) => t,
        Err(refusal) => return refusal.response(&entra.authority, None),
    };
    let a = &entra.authority;
    Json(json!({
        "token_endpoint": format!("{a}{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{a}{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{a}{}/v2.0", found.id),
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{a}{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{a}{tenant}/oauth2/v2.0/devicecode"),
        "end_session_endpoint": format!("{a}{tenant}/oauth2/v2.0/logout"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "appid", "appidacr", "idtyp", "ver"],
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }))
    .into_response()
}

/// The v1 discovery document (issuer `https://sts.windows.net/{tid}/`, as v1 tokens carry).
pub async fn openid_configuration_v1(
    State(entra): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
) -> Response {
    let found = match tenant_or_refusal(&entra, &tenant) {
        Ok(t) => t,
        Err(refusal) => return refusal.response(&entra.authority, None),
    };
    let a = &entra.authority;
    Json(json!({
        "token_endpoint": format!("{a}{tenant}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{a}{tenant}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "issuer": super::access_token::v1_issuer(&found.id),
        "authorization_endpoint": format!("{a}{tenant}/oauth2/authorize"),
        "cloud_instance_name": "microsoftonline.com",
    }))
    .into_response()
}

/// The signing keys of a tenant.
pub async fn keys(State(entra): State<Arc<EntraState>>, Path(tenant): Path<String>) -> Response {
    if tenant != "common" && tenant != "organizations" {
        if let Err(refusal) = tenant_or_refusal(&entra, &tenant) {
            return refusal.response(&entra.authority, None);
        }
    }
    Json(entra.keys.jwks()).into_response()
}

/// The signing keys at `/common/discovery/keys`.
pub async fn common_keys(State(entra): State<Arc<EntraState>>) -> Response {
    Json(entra.keys.jwks()).into_response()
}

/// MSAL's instance discovery.
pub async fn instance_discovery(
    State(entra): State<Arc<EntraState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let host = entra
        .authority
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let tenant = query
        .get("authorization_endpoint")
        .and_then(|e| e.strip_prefix(entra.authority.as_str()))
        .and_then(|rest| rest.split('/').next())
        .filter(|t| !t.is_empty())
        .unwrap_or("common")
        .to_string();
    Json(json!({
        "tenant_discovery_endpoint": format!("{}{tenant}/v2.0/.well-known/openid-configuration", entra.authority),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    }))
    .into_response()
}
