//! Validation of a federated client assertion (workload identity federation), in Entra's order:
//!
//! 1. it must be a well-formed JWT with `iss`, `sub`, `aud` and `exp` (else AADSTS50027);
//! 2. one of the application's federated credentials must match its `iss` and `sub` exactly and
//!    one of its audiences (else AADSTS70021, naming the assertion's issuer, subject, audience);
//! 3. its signature must verify with the issuer's published key named by `kid`, fetched over
//!    HTTPS through the issuer's discovery document (AADSTS700027 when the key is not published
//!    or the signature fails; AADSTS50166 when the issuer's metadata cannot be fetched);
//! 4. the current time must lie within `nbf`..`exp`, widened by the configured clock skew
//!    (AADSTS700024).

use super::aadsts::Aadsts;
use super::directory::AppRegistration;
use super::remote_keys::RemoteKeys;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `aud` as a string or an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn values(&self) -> Vec<&str> {
        match self {
            Audience::One(a) => vec![a.as_str()],
            Audience::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: f64,
    #[serde(default)]
    nbf: Option<f64>,
}

/// The JWKS caches of the external issuers Entra has been asked to trust, by issuer URL.
pub struct IssuerKeys {
    http: reqwest::Client,
    min_refresh_interval: Duration,
    by_issuer: Mutex<HashMap<String, Arc<RemoteKeys>>>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys").finish_non_exhaustive()
    }
}

impl IssuerKeys {
    /// Caches fetching with `http`, refetching a given issuer's keys at most once per interval.
    pub fn new(http: reqwest::Client, min_refresh_interval: Duration) -> Self {
        IssuerKeys {
            http,
            min_refresh_interval,
            by_issuer: Mutex::new(HashMap::new()),
        }
    }

    fn for_issuer(&self, issuer: &str) -> Arc<RemoteKeys> {
        let mut map = self.by_issuer.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(issuer.to_string())
            .or_insert_with(|| {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                Arc::new(RemoteKeys::new(
                    self.http.clone(),
                    discovery,
                    self.min_refresh_interval,
                ))
            })
            .clone()
    }
}

fn to_system_time(seconds: f64) -> SystemTime {
    if seconds.is_finite() && seconds > 0.0 {
        UNIX_EPOCH + Duration::from_secs_f64(seconds.min(1e11))
    } else {
        UNIX_EPOCH
    }
}

/// Checks `assertion` for `app`; `Ok` means Entra would issue a token.
pub async fn validate(
    keys: &IssuerKeys,
    app: &AppRegistration,
    assertion: &str,
    clock_skew: Duration,
) -> Result<(), Aadsts> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Aadsts::MalformedJwt)?;
    let claims = jsonwebtoken::dangerous::insecure_decode::<AssertionClaims>(assertion)
        .map_err(|_| Aadsts::MalformedJwt)?
        .claims;
    let audiences = claims.aud.values();

    let matched = app.federated_credentials.iter().any(|fic| {
        fic.issuer == claims.iss
            && fic.subject == claims.sub
            && audiences
                .iter()
                .any(|a| fic.audiences.iter().any(|f| f == a))
    });
    if !matched {
        return Err(Aadsts::NoMatchingFederatedIdentity {
            issuer: claims.iss,
            subject: claims.sub,
            audience: audiences.join(","),
        });
    }

    let kid = header.kid.clone().unwrap_or_default();
    let not_found = || Aadsts::AssertionKeyNotFound {
        kid: kid.clone(),
        client_id: app.client_id.clone(),
    };
    if kid.is_empty()
        || !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
        )
    {
        return Err(not_found());
    }
    let key = keys
        .for_issuer(&claims.iss)
        .get(&kid)
        .await
        .map_err(|e| {
            tracing::warn!(issuer = %claims.iss, error = %e, "federated issuer metadata unavailable");
            Aadsts::IssuerMetadataUnavailable {
                issuer: claims.iss.clone(),
            }
        })?
        .ok_or_else(not_found)?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    if let Err(e) = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation) {
        return Err(match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                Aadsts::AssertionInvalidSignature {
                    kid: kid.clone(),
                    client_id: app.client_id.clone(),
                }
            }
            _ => Aadsts::MalformedJwt,
        });
    }

    let now = SystemTime::now();
    let not_before = claims.nbf.map_or(UNIX_EPOCH, to_system_time);
    let expires_at = to_system_time(claims.exp);
    if now + clock_skew < not_before || now >= expires_at + clock_skew {
        return Err(Aadsts::AssertionNotInValidTimeRange {
            now,
            not_before,
            expires_at,
        });
    }
    Ok(())
}
