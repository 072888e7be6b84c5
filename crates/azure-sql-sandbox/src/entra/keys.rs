//! Entra's token-signing keys and their rotation.
//!
//! One key signs at a time. Rotating installs a new current key and retires the old one; a
//! retired key stays in the published JWKS for `retain` (the access-token lifetime plus a second),
//! so every token it signed can still be validated until that token expires, as Entra keeps
//! previous keys published across a rollover.

use crate::signing_key::SigningKey;
use jsonwebtoken::jwk::JwkSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

struct Ring {
    current: Arc<SigningKey>,
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
    /// A ring with `first` as the current key; retired keys stay published for `retain`.
    pub fn new(first: SigningKey, retain: Duration) -> Self {
        SigningKeys {
            ring: RwLock::new(Ring {
                current: Arc::new(first),
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

    /// Makes `next` the current key and retires the previous one.
    pub fn install(&self, next: SigningKey) {
        let now = Instant::now();
        {
            let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
            let previous = std::mem::replace(&mut ring.current, Arc::new(next));
            ring.retired.push((previous, now));
            let retain = self.retain;
            ring.retired.retain(|(_, at)| now.duration_since(*at) < retain);
        }
        self.rotations.send_modify(|n| *n += 1);
        tracing::info!(kid = %self.current().kid(), "Entra signing key rotated");
    }

    /// The published keys: the current one first, then retired keys still within `retain`.
    pub fn jwks(&self) -> JwkSet {
        let now = Instant::now();
        let ring = self.read();
        let mut keys = vec![ring.current.jwk().clone()];
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
        set.keys.iter().filter_map(|k| k.common.key_id.clone()).collect()
    }

    #[test]
    fn a_retired_key_stays_published_for_the_retention_period_only() {
        let first = SigningKey::generate().unwrap();
        let first_kid = first.kid().to_string();
        let keys = SigningKeys::new(first, Duration::from_millis(200));
        let second = SigningKey::generate().unwrap();
        let second_kid = second.kid().to_string();
        let rotations = keys.rotations();
        keys.install(second);
        assert_eq!(*rotations.borrow(), 1);
        assert_eq!(keys.current().kid(), second_kid);
        assert_eq!(kids(&keys.jwks()), vec![second_kid.clone(), first_kid]);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(kids(&keys.jwks()), vec![second_kid]);
    }
}
