//! Validation of a federated client assertion (workload identity federation), in Entra's order:
//!
//! 1. it must be a well-formed JWT with `iss`, `sub`, `aud` and `exp` (else AADSTS50027);
//! 2. one of the application's federated credentials must match it, field by field, each
//!    mismatch its own refusal ([`match_federated_credential`]): the issuer exactly (else
//!    AADSTS700211), then the subject exactly (AADSTS700213, or AADSTS7002138 when it matches
//!    only case-insensitively), then one of the audiences (AADSTS700212);
//! 3. its signature must verify with the issuer's published key named by `kid`, fetched over
//!    HTTPS through the issuer's discovery document (AADSTS700027 when the key is not published
//!    or the signature fails; AADSTS50166 when the issuer's metadata cannot be fetched or its
//!    discovery document names another issuer);
//! 4. the current time must lie within `nbf`..`exp`, widened by the configured clock skew
//!    (AADSTS700024).

use super::aadsts::Aadsts;
use super::directory::{AppRegistration, FederatedCredential};
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

/// The claims of a client assertion that Entra reads.
#[derive(Deserialize)]
pub struct AssertionClaims {
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
                    issuer.to_string(),
                    self.min_refresh_interval,
                ))
            })
            .clone()
    }
}

/// Finds a federated credential trusting `issuer`, `subject` and one of `audiences`, refusing as
/// Entra does with the first field that no credential matches.
///
/// Entra answers per field (see [`super::aadsts`] for the texts and their sources). Which field it
/// reports when several differ at once is not documented: the sandbox narrows the credentials by
/// issuer, then subject, then audience, which gives the answers seen in public threads for one
/// wrong field at a time (a trailing slash on the issuer: 700211, Azure/azure-workload-identity
/// troubleshooting guide; another service account: 700213, #1200; a token projected for another
/// audience: 700212). Issuer and subject are compared case-sensitively: Entra's breaking change
/// of 2024 ("Federated identity credentials now use case-sensitive matching").
pub fn match_federated_credential(
    credentials: &[FederatedCredential],
    issuer: &str,
    subject: &str,
    audiences: &[&str],
) -> Result<(), Aadsts> {
    let same_issuer: Vec<&FederatedCredential> =
        credentials.iter().filter(|c| c.issuer == issuer).collect();
    if same_issuer.is_empty() {
        return Err(Aadsts::NoFederatedIssuer {
            issuer: issuer.to_string(),
        });
    }
    let same_subject: Vec<&FederatedCredential> = same_issuer
        .iter()
        .copied()
        .filter(|c| c.subject == subject)
        .collect();
    if same_subject.is_empty() {
        let folded = same_issuer
            .iter()
            .any(|c| c.subject.to_lowercase() == subject.to_lowercase());
        return Err(if folded {
            Aadsts::FederatedSubjectCase {
                subject: subject.to_string(),
            }
        } else {
            Aadsts::NoFederatedSubject {
                subject: subject.to_string(),
            }
        });
    }
    let audience_ok = same_subject
        .iter()
        .any(|c| audiences.iter().any(|a| c.audiences.iter().any(|f| f == a)));
    if !audience_ok {
        return Err(Aadsts::NoFederatedAudience {
            audience: audiences.join(","),
        });
    }
    Ok(())
}

fn to_system_time(seconds: f64) -> SystemTime {
    if seconds.is_finite() && seconds > 0.0 {
        UNIX_EPOCH + Duration::from_secs_f64(seconds.min(1e11))
    } else {
        UNIX_EPOCH
    }
}

/// Steps 1 and 2, before any key is fetched: `assertion` must be a well-formed JWT whose claims
/// one of `credentials` matches. Returns its header and claims, signature unchecked.
pub fn check_unverified(
    credentials: &[FederatedCredential],
    assertion: &str,
) -> Result<(jsonwebtoken::Header, AssertionClaims), Aadsts> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Aadsts::MalformedJwt)?;
    let claims = jsonwebtoken::dangerous::insecure_decode::<AssertionClaims>(assertion)
        .map_err(|_| Aadsts::MalformedJwt)?
        .claims;
    match_federated_credential(credentials, &claims.iss, &claims.sub, &claims.aud.values())?;
    Ok((header, claims))
}

/// Checks `assertion` for `app`; `Ok` means Entra would issue a token.
pub async fn validate(
    keys: &IssuerKeys,
    app: &AppRegistration,
    assertion: &str,
    clock_skew: Duration,
) -> Result<(), Aadsts> {
    let (header, claims) = check_unverified(&app.federated_credentials, assertion)?;

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
        // Unreachable metadata is AADSTS50166 (Azure/azure-workload-identity#642, #1130). No
        // public thread shows what Entra answers for a discovery document naming another issuer
        // (a token whose `iss` lacks the trailing slash its issuer publishes): it is metadata
        // Entra cannot use for this issuer, so it gets the same answer.
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

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://oidc.example/abc/";
    const SUBJECT: &str = "system:serviceaccount:shop:api";
    const AUDIENCE: &str = "api://AzureADTokenExchange";

    fn credentials() -> Vec<FederatedCredential> {
        vec![FederatedCredential {
            name: "api".into(),
            issuer: ISSUER.into(),
            subject: SUBJECT.into(),
            audiences: vec![AUDIENCE.into()],
        }]
    }

    fn code(issuer: &str, subject: &str, audience: &str) -> Option<u32> {
        match_federated_credential(&credentials(), issuer, subject, &[audience])
            .err()
            .map(|r| r.code())
    }

    #[test]
    fn each_mismatched_field_has_its_own_code() {
        assert_eq!(code(ISSUER, SUBJECT, AUDIENCE), None);
        // The trailing slash is part of the issuer.
        assert_eq!(
            code("https://oidc.example/abc", SUBJECT, AUDIENCE),
            Some(700211)
        );
        assert_eq!(
            code(ISSUER, "system:serviceaccount:shop:other", AUDIENCE),
            Some(700213)
        );
        assert_eq!(
            code(ISSUER, "system:serviceaccount:Shop:api", AUDIENCE),
            Some(7002138)
        );
        assert_eq!(
            code(ISSUER, SUBJECT, "https://kubernetes.default.svc"),
            Some(700212)
        );
        // Several wrong at once: the issuer is reported first, then the subject.
        assert_eq!(code("https://other/", "x", "y"), Some(700211));
        assert_eq!(code(ISSUER, "x", "y"), Some(700213));
        // No credential at all: nothing has the issuer.
        assert_eq!(
            match_federated_credential(&[], ISSUER, SUBJECT, &[AUDIENCE])
                .unwrap_err()
                .code(),
            700211
        );
    }

    #[test]
    fn the_refusal_names_the_field_that_did_not_match() {
        let refusal =
            match_federated_credential(&credentials(), ISSUER, SUBJECT, &["a", "b"]).unwrap_err();
        assert_eq!(
            refusal,
            Aadsts::NoFederatedAudience {
                audience: "a,b".into()
            }
        );
        assert!(refusal.message().starts_with(
            "No matching federated identity record found for presented assertion audience 'a,b'."
        ));
    }
}
