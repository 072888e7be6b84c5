//! An RSA-2048 JWT signing key with its key id and public JWK: what both token issuers of the
//! sandbox (the Kubernetes service-account issuer and Entra) sign with and publish in their JWKS.
//!
//! The key id is the key's RFC 7638 JWK thumbprint (SHA-256, base64url), so it is stable for a
//! key and distinct between keys, as the real issuers' `kid`s are.

use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::fmt;

/// Why a key could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    /// RSA key generation failed.
    #[error("could not generate an RSA signing key: {0}")]
    Generate(#[source] rcgen::Error),
    /// The generated key could not be loaded for signing.
    #[error("could not load the RSA signing key: {0}")]
    Load(#[source] jsonwebtoken::errors::Error),
    /// Signing failed.
    #[error("could not sign a JWT: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// An RSA private key for RS256 JWTs, with its `kid` and public JWK.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key. This takes tens of milliseconds of CPU: call it from
    /// `spawn_blocking` on a hot path.
    pub fn generate() -> Result<SigningKey, SigningKeyError> {
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .map_err(SigningKeyError::Generate)?;
        let pem = key.serialize_pem();
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(SigningKeyError::Load)?;
        let mut jwk =
            Jwk::from_encoding_key(&encoding, Algorithm::RS256).map_err(SigningKeyError::Load)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256);
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(SigningKey { kid, encoding, jwk })
    }

    /// The key id (`kid` header of every JWT it signs).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kty=RSA`, `use=sig`, `alg=RS256`, `kid`, `n`, `e`).
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs `claims` as an RS256 JWT with `typ=JWT` and this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, SigningKeyError> {
        self.sign_with_kid(claims, &self.kid)
    }

    /// Signs `claims` but puts `kid` in the header (tests use it to present an unknown key id).
    pub fn sign_with_kid<T: Serialize>(
        &self,
        claims: &T,
        kid: &str,
    ) -> Result<String, SigningKeyError> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(SigningKeyError::Sign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn signs_tokens_that_its_published_jwk_verifies_and_others_do_not() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        assert_ne!(key.kid(), other.kid());

        let claims = serde_json::json!({"sub": "x", "exp": 4_000_000_000u64});
        let token = key.sign(&claims).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        assert_eq!(header.alg, Algorithm::RS256);

        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        let ours = DecodingKey::from_jwk(key.jwk()).unwrap();
        let theirs = DecodingKey::from_jwk(other.jwk()).unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &ours, &validation).is_ok());
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &theirs, &validation).is_err());
    }

    #[test]
    fn debug_shows_the_kid_but_not_the_key() {
        let key = SigningKey::generate().unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains(key.kid()));
        assert!(debug.contains("<redacted>"));
    }
}
