//! The access tokens Entra issues for Azure SQL: RS256 JWTs shaped like the v1 tokens Azure SQL
//! receives for an application or a managed identity.
//!
//! Header `typ=JWT`, `alg=RS256`, `kid`. Claims: `aud=https://database.windows.net/`,
//! `iss=https://sts.windows.net/{tid}/`, `iat`/`nbf`/`exp`, `appid`, `appidacr` (`1` for a client
//! secret, `2` for an assertion or a managed identity), `idp` (= `iss`), `idtyp=app`, `oid`, `sub`
//! (= `oid`), `tid`, `uti`, `ver=1.0`, and `xms_mirid` for a managed identity. `iat` and `nbf` are
//! the issue time (no backdating, so second-long lifetimes behave exactly).

use super::keys::SigningKeys;
use crate::signing_key::SigningKeyError;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Azure SQL's resource URI, as scopes name it (`<this>/.default`).
pub const AZURE_SQL_RESOURCE: &str = "https://database.windows.net";
/// The `aud` of Azure SQL access tokens.
pub const AZURE_SQL_AUDIENCE: &str = "https://database.windows.net/";

/// The v1 issuer for a tenant.
pub fn v1_issuer(tenant_id: &str) -> String {
    format!("https://sts.windows.net/{tenant_id}/")
}

/// How the client authenticated (the `appidacr` claim).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client secret (`appidacr=1`).
    Secret,
    /// A client assertion, federated or certificate (`appidacr=2`).
    Assertion,
    /// A managed identity (`appidacr=2`).
    ManagedIdentity,
}

/// The claims of an issued access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Audience.
    pub aud: String,
    /// Issuer.
    pub iss: String,
    /// Issued at.
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expiry.
    pub exp: u64,
    /// Application (client) id.
    pub appid: String,
    /// How the client authenticated.
    pub appidacr: String,
    /// Identity provider.
    pub idp: String,
    /// `app` for application tokens.
    pub idtyp: String,
    /// Object id of the service principal.
    pub oid: String,
    /// Subject (= `oid` for applications).
    pub sub: String,
    /// Tenant id.
    pub tid: String,
    /// A unique token id.
    pub uti: String,
    /// Token version, `1.0`.
    pub ver: String,
    /// The managed identity's resource id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub xms_mirid: Option<String>,
}

/// Who a token is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grantee {
    /// Tenant id.
    pub tenant_id: String,
    /// Service principal object id.
    pub object_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// How it authenticated.
    pub auth: ClientAuth,
    /// The managed identity's resource id, for managed identities.
    pub resource_id: Option<String>,
}

/// An issued token and its times.
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Seconds until expiry.
    pub expires_in: u64,
    /// Expiry, seconds since the epoch.
    pub expires_on: u64,
    /// Not before, seconds since the epoch.
    pub not_before: u64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"<redacted>")
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The claims of an Azure SQL access token for `grantee`, issued now and valid for `lifetime`
/// (whole seconds, at least 1). Tests start from these to make deliberately wrong tokens.
pub fn claims(grantee: &Grantee, lifetime: Duration) -> AccessTokenClaims {
    let now = now_seconds();
    let lifetime = lifetime.as_secs().max(1);
    let iss = v1_issuer(&grantee.tenant_id);
    AccessTokenClaims {
        aud: AZURE_SQL_AUDIENCE.into(),
        iss: iss.clone(),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        appid: grantee.client_id.clone(),
        appidacr: match grantee.auth {
            ClientAuth::Secret => "1",
            ClientAuth::Assertion | ClientAuth::ManagedIdentity => "2",
        }
        .into(),
        idp: iss,
        idtyp: "app".into(),
        oid: grantee.object_id.clone(),
        sub: grantee.object_id.clone(),
        tid: grantee.tenant_id.clone(),
        uti: uuid::Uuid::new_v4().simple().to_string(),
        ver: "1.0".into(),
        xms_mirid: grantee.resource_id.clone(),
    }
}

/// Signs an Azure SQL access token for `grantee`, valid for `lifetime` (whole seconds, at least 1).
pub fn issue(
    keys: &SigningKeys,
    grantee: &Grantee,
    lifetime: Duration,
) -> Result<IssuedToken, SigningKeyError> {
    let claims = claims(grantee, lifetime);
    let access_token = keys.current().sign(&claims)?;
    Ok(IssuedToken {
        access_token,
        expires_in: claims.exp - claims.iat,
        expires_on: claims.exp,
        not_before: claims.nbf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing_key::SigningKey;

    #[test]
    fn tokens_carry_the_v1_claims_azure_sql_reads() {
        let keys = SigningKeys::new(
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
            Duration::from_secs(5),
        );
        let grantee = Grantee {
            tenant_id: "t".into(),
            object_id: "o".into(),
            client_id: "c".into(),
            auth: ClientAuth::Assertion,
            resource_id: None,
        };
        let issued = issue(&keys, &grantee, Duration::from_secs(3)).unwrap();
        assert_eq!(issued.expires_in, 3);
        let header = jsonwebtoken::decode_header(&issued.access_token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(keys.current().kid()));
        let claims =
            jsonwebtoken::dangerous::insecure_decode::<AccessTokenClaims>(&issued.access_token)
                .unwrap()
                .claims;
        assert_eq!(claims.aud, "https://database.windows.net/");
        assert_eq!(claims.iss, "https://sts.windows.net/t/");
        assert_eq!(
            (
                claims.oid.as_str(),
                claims.sub.as_str(),
                claims.appid.as_str()
            ),
            ("o", "o", "c")
        );
        assert_eq!(
            (
                claims.appidacr.as_str(),
                claims.idtyp.as_str(),
                claims.ver.as_str()
            ),
            ("2", "app", "1.0")
        );
        assert_eq!(claims.exp - claims.iat, 3);
        assert_eq!(claims.nbf, claims.iat);
        assert!(!format!("{issued:?}").contains(&issued.access_token));
    }
}
