//! Entra's token-signing keys and their rotation.
//!
//! One key signs at a time, and the next one is already published, as Entra publishes a key
//! before it signs with it: a relying party that fetched the JWKS before a rotation already holds
//! the key that signs after it. Rotating makes the published next key current, retires the old
//! current key and publishes a freshly generated next key. A retired key stays in the JWKS for
//! `retain` (the access-token lifetime plus a second), so every token it signed can still be
//! validated until that token expires.

use crate::signing_key::SigningKey;
use jsonwebtoken::jwk::JwkSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

struct Ring {
    current: Arc<SigningKey>,
    next: Arc<SigningKey>,
    retired: Vec<(Arc<SigningKey>, Instant)>,
}

/// The key ring.
pub struct SigningKeys {
    ring: RwLock<Ring>,
    retain: Duration,
    rotations: watch::Sender<u64>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("current_kid", &self.current().kid())
            .field("retain", &self.retain)
            .finish()
    }
}

impl SigningKeys {
    /// A ring signing with `current` and publishing `next` ahead of its use; retired keys stay
    /// published for `retain`.
    pub fn new(current: SigningKey, next: SigningKey, retain: Duration) -> Self {
        SigningKeys {
            ring: RwLock::new(Ring {
                current: Arc::new(current),
                next: Arc::new(next),
                retired: Vec::new(),
            }),
            retain,
            rotations: watch::channel(0).0,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        // Every write replaces whole fields; a poisoned ring is still consistent.
        self.ring.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The key signing new tokens now.
    pub fn current(&self) -> Arc<SigningKey> {
        self.read().current.clone()
    }

    /// Makes the published next key current, retires the previous one and publishes `upcoming`
    /// as the next key.
    pub fn rotate(&self, upcoming: SigningKey) {
        let now = Instant::now();
        {
            let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
            let next = std::mem::replace(&mut ring.next, Arc::new(upcoming));
            let previous = std::mem::replace(&mut ring.current, next);
            ring.retired.push((previous, now));
            let retain = self.retain;
            ring.retired
                .retain(|(_, at)| now.duration_since(*at) < retain);
        }
        self.rotations.send_modify(|n| *n += 1);
        tracing::info!(kid = %self.current().kid(), "Entra signing key rotated");
    }

    /// The published keys: the current one first, then the next one, then retired keys still
    /// within `retain`.
    pub fn jwks(&self) -> JwkSet {
        let now = Instant::now();
        let ring = self.read();
        let mut keys = vec![ring.current.jwk().clone(), ring.next.jwk().clone()];
        keys.extend(
            ring.retired
                .iter()
                .rev()
                .filter(|(_, at)| now.duration_since(*at) < self.retain)
                .map(|(k, _)| k.jwk().clone()),
        );
        JwkSet { keys }
    }

    /// Counts rotations; tests await a change.
    pub fn rotations(&self) -> watch::Receiver<u64> {
        self.rotations.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kids(set: &JwkSet) -> Vec<String> {
        set.keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect()
    }

    #[test]
    fn the_next_key_is_published_before_use_and_a_retired_key_only_for_the_retention_period() {
        let [first, second, third] = [(); 3].map(|_| SigningKey::generate().unwrap());
        let [k1, k2, k3] = [&first, &second, &third].map(|k| k.kid().to_string());
        let keys = SigningKeys::new(first, second, Duration::from_millis(200));
        assert_eq!(kids(&keys.jwks()), vec![k1.clone(), k2.clone()]);
        let rotations = keys.rotations();
        keys.rotate(third);
        assert_eq!(*rotations.borrow(), 1);
        assert_eq!(keys.current().kid(), k2);
        assert_eq!(kids(&keys.jwks()), vec![k2.clone(), k3.clone(), k1]);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(kids(&keys.jwks()), vec![k2, k3]);
    }
}
