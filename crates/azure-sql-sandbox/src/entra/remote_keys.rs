//! Another issuer's signing keys, fetched over HTTPS the way relying parties fetch them: the
//! OIDC discovery document, whose `issuer` must be the issuer the keys are wanted for (OpenID
//! Connect Discovery 1.0, section 4.3: "The issuer value returned MUST be identical to the Issuer
//! URL that was used as the prefix to /.well-known/openid-configuration"; a document naming
//! another issuer is not this issuer's and its keys are not used), then its `jwks_uri`. Keys are
//! cached by `kid`; an unknown `kid`
//! triggers one refetch (single flight: concurrent lookups wait for the same fetch), and refetches
//! are rate-limited so a flood of tokens with made-up `kid`s cannot turn into a flood of requests.
//!
//! Entra uses it for federated assertions (the Kubernetes issuer's keys); the SQL side's
//! [`super::validator::EntraValidator`] uses it for Entra's own keys.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why the keys could not be fetched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("could not fetch signing keys via {discovery_url}: {reason}")]
pub struct FetchError {
    /// The discovery document's URL.
    pub discovery_url: String,
    /// What failed.
    pub reason: String,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<DecodingKey>>,
    last_attempt: Option<Instant>,
    last_error: Option<FetchError>,
}

/// The cached keys of one issuer.
pub struct RemoteKeys {
    http: reqwest::Client,
    discovery_url: String,
    issuer: String,
    min_refresh_interval: Duration,
    cache: Mutex<Cache>,
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("discovery_url", &self.discovery_url)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct Discovery {
    #[serde(default)]
    issuer: Option<String>,
    jwks_uri: String,
}

impl RemoteKeys {
    /// The keys of `issuer`, published through the discovery document at `discovery_url` (which
    /// must name `issuer` exactly), refetched at most once per `min_refresh_interval`.
    pub fn new(
        http: reqwest::Client,
        discovery_url: String,
        issuer: String,
        min_refresh_interval: Duration,
    ) -> Self {
        RemoteKeys {
            http,
            discovery_url,
            issuer,
            min_refresh_interval,
            cache: Mutex::new(Cache::default()),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.cache().keys.get(kid).cloned()
    }

    /// The key with `kid`: `Ok(None)` when the issuer does not publish it.
    pub async fn get(&self, kid: &str) -> Result<Option<Arc<DecodingKey>>, FetchError> {
        if let Some(key) = self.cached(kid) {
            return Ok(Some(key));
        }
        let _single_flight = self.refresh.lock().await;
        // Another lookup may have refreshed while this one waited.
        if let Some(key) = self.cached(kid) {
            return Ok(Some(key));
        }
        {
            let cache = self.cache();
            if let Some(at) = cache.last_attempt {
                if at.elapsed() < self.min_refresh_interval {
                    return match &cache.last_error {
                        Some(e) => Err(e.clone()),
                        None => Ok(None),
                    };
                }
            }
        }
        let fetched = self.fetch().await;
        let mut cache = self.cache();
        cache.last_attempt = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                tracing::debug!(discovery = %self.discovery_url, keys = keys.len(), "fetched signing keys");
                cache.keys = keys;
                cache.last_error = None;
                Ok(cache.keys.get(kid).cloned())
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not fetch signing keys");
                cache.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, FetchError> {
        let fail = |reason: String| FetchError {
            discovery_url: self.discovery_url.clone(),
            reason,
        };
        let discovery: Discovery = self.get_json(&self.discovery_url).await.map_err(fail)?;
        match discovery.issuer.as_deref() {
            Some(named) if named == self.issuer => {}
            Some(named) => {
                return Err(fail(format!(
                    "the discovery document names the issuer {named:?}, not {:?}",
                    self.issuer
                )))
            }
            None => return Err(fail("the discovery document names no issuer".into())),
        }
        let jwks: JwkSet = self.get_json(&discovery.jwks_uri).await.map_err(fail)?;
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, Arc::new(key));
                }
                Err(e) => tracing::warn!(%kid, error = %e, "ignoring an unusable JWK"),
            }
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: unreadable JSON: {e}"))
    }
}
