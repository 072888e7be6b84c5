//! The Azure SQL side's access-token check ([`AccessTokenValidator`]): what the TDS server runs
//! on the token a LOGIN7 FEDAUTH extension carries.
//!
//! Like a relying party of the real Entra, it knows only the authority and its tenant: it fetches
//! `{authority}{tenant}/v2.0/.well-known/openid-configuration` (whose `issuer` must be
//! `{authority}{tenant}/v2.0`) and the JWKS it names over HTTPS
//! (trusting the sandbox CA), caches the keys by `kid`, and refetches when a token names a key it
//! has not seen (single flight, rate-limited), so Entra's key rotation is picked up without
//! restarts. Checks, each failure a [`TokenRejection`] naming it:
//!
//! - a JWT with `alg=RS256` and a `kid` the authority publishes, whose signature verifies;
//! - `aud` is `https://database.windows.net/` (or without the slash);
//! - `tid` is the server's tenant and `iss` is `https://sts.windows.net/{tid}/` (v1) or
//!   `{authority}{tid}/v2.0` (v2);
//! - `nbf <= now < exp`, widened by the clock skew (default 0 s in the sandbox, so
//!   second-long tokens expire exactly when they say).
//!
//! Expiry is checked last, so only a token that passes every other check is refused as
//! [`RejectionKind::Expired`] ("Token is expired." at the client); every other refusal is
//! [`RejectionKind::NotAccepted`].

use super::access_token::{v1_issuer, AZURE_SQL_AUDIENCE, AZURE_SQL_RESOURCE};
use super::remote_keys::RemoteKeys;
use crate::identity::{
    AccessTokenValidator, RejectionKind, TokenIdentity, TokenRejection, ValidateFuture,
};
use crate::pki::{http_client_trusting, PkiError};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the validator is set up.
#[derive(Clone, Debug)]
pub struct ValidatorOptions {
    /// The authority host, `https://localhost:PORT/` (trailing slash optional).
    pub authority: String,
    /// The tenant the SQL server belongs to; tokens from other tenants are refused.
    pub tenant_id: String,
    /// The CA to trust for the authority's HTTPS (PEM).
    pub ca_pem: String,
    /// Tolerance on `nbf` and `exp`. Default 0.
    pub clock_skew: Duration,
    /// The least time between two JWKS fetches triggered by unknown `kid`s. Default 1 s.
    pub min_refresh_interval: Duration,
}

impl ValidatorOptions {
    /// Options with the defaults.
    pub fn new(
        authority: impl Into<String>,
        tenant_id: impl Into<String>,
        ca_pem: impl Into<String>,
    ) -> Self {
        ValidatorOptions {
            authority: authority.into(),
            tenant_id: tenant_id.into(),
            ca_pem: ca_pem.into(),
            clock_skew: Duration::ZERO,
            min_refresh_interval: Duration::from_secs(1),
        }
    }
}

/// Why the validator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    /// The CA could not be loaded into an HTTPS client.
    #[error(transparent)]
    Http(#[from] PkiError),
    /// The authority is not an `https://` URL.
    #[error("the authority must be an https:// URL, got {0:?}")]
    Authority(String),
}

/// Validates Entra access tokens for Azure SQL.
#[derive(Debug)]
pub struct EntraValidator {
    authority: String,
    tenant_id: String,
    clock_skew: Duration,
    keys: RemoteKeys,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    aud: Audience,
    iss: String,
    tid: String,
    oid: String,
    exp: f64,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
}

fn reject(reason: impl Into<String>) -> TokenRejection {
    TokenRejection {
        kind: RejectionKind::NotAccepted,
        reason: reason.into(),
    }
}

fn to_system_time(seconds: f64) -> SystemTime {
    if seconds.is_finite() && seconds > 0.0 {
        UNIX_EPOCH + Duration::from_secs_f64(seconds.min(1e11))
    } else {
        UNIX_EPOCH
    }
}

impl EntraValidator {
    /// A validator for tokens of `options.tenant_id` issued by `options.authority`.
    pub fn new(options: ValidatorOptions) -> Result<EntraValidator, ValidatorError> {
        if !options.authority.starts_with("https://") {
            return Err(ValidatorError::Authority(options.authority));
        }
        let authority = format!("{}/", options.authority.trim_end_matches('/'));
        let http = http_client_trusting(&options.ca_pem)?;
        let discovery = format!(
            "{authority}{}/v2.0/.well-known/openid-configuration",
            options.tenant_id
        );
        Ok(EntraValidator {
            // The v2.0 document names `{authority}{tenant}/v2.0`, the issuer of v2 tokens.
            keys: RemoteKeys::new(
                http,
                discovery,
                format!("{authority}{}/v2.0", options.tenant_id),
                options.min_refresh_interval,
            ),
            authority,
            tenant_id: options.tenant_id,
            clock_skew: options.clock_skew,
        })
    }

    /// Validates `token`.
    pub async fn check(&self, token: &str) -> Result<TokenIdentity, TokenRejection> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| reject("the token is not a well-formed JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(reject(format!(
                "the token is signed with {:?}, not RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| reject("the token's header has no kid"))?;
        let key = self
            .keys
            .get(&kid)
            .await
            .map_err(|e| reject(format!("the authority's signing keys are unavailable: {e}")))?
            .ok_or_else(|| {
                reject(format!(
                    "the token's signing key {kid} is not published by the authority"
                ))
            })?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    reject("the token's signature does not verify")
                }
                _ => reject(format!("the token's claims are unreadable: {e}")),
            })?
            .claims;

        let audiences = match &claims.aud {
            Audience::One(a) => vec![a.as_str()],
            Audience::Many(v) => v.iter().map(String::as_str).collect(),
        };
        if !audiences
            .iter()
            .any(|a| *a == AZURE_SQL_AUDIENCE || *a == AZURE_SQL_RESOURCE)
        {
            return Err(reject(format!(
                "the token's audience {audiences:?} is not {AZURE_SQL_AUDIENCE}"
            )));
        }
        if claims.tid != self.tenant_id {
            return Err(reject(format!(
                "the token is from tenant {}, not the server's tenant {}",
                claims.tid, self.tenant_id
            )));
        }
        let v2_issuer = format!("{}{}/v2.0", self.authority, claims.tid);
        if claims.iss != v1_issuer(&claims.tid) && claims.iss != v2_issuer {
            return Err(reject(format!(
                "the token's issuer {} is not {}",
                claims.iss,
                v1_issuer(&claims.tid)
            )));
        }
        let now = SystemTime::now();
        let expires_at = to_system_time(claims.exp);
        if now >= expires_at + self.clock_skew {
            return Err(TokenRejection {
                kind: RejectionKind::Expired,
                reason: format!(
                    "the token expired at {} (now {})",
                    super::aadsts::iso8601_7(expires_at),
                    super::aadsts::iso8601_7(now)
                ),
            });
        }
        if let Some(nbf) = claims.nbf {
            let not_before = to_system_time(nbf);
            if now + self.clock_skew < not_before {
                return Err(reject(format!(
                    "the token is not valid before {} (now {})",
                    super::aadsts::iso8601_7(not_before),
                    super::aadsts::iso8601_7(now)
                )));
            }
        }
        Ok(TokenIdentity {
            tenant_id: claims.tid,
            object_id: claims.oid,
            app_id: claims.appid.or(claims.azp),
            expires_at,
        })
    }
}

impl AccessTokenValidator for EntraValidator {
    fn validate<'a>(&'a self, token: &'a str) -> ValidateFuture<'a> {
        Box::pin(self.check(token))
    }

    /// `{authority}{tenant}`, as Azure SQL names its STS in FEDAUTHINFO.
    fn sts_url(&self) -> Option<String> {
        Some(format!("{}{}", self.authority, self.tenant_id))
    }
}
