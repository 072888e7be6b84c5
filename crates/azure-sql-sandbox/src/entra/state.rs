//! What the Entra service's request handlers share: the directory, the signing keys, the
//! federated issuers' keys, the authority, token lifetimes, faults and counters.

use super::assertion::IssuerKeys;
use super::directory::EntraDirectory;
use super::keys::SigningKeys;
use crate::faults::Faults;
use crate::stats::Stats;
use std::sync::Arc;
use std::time::Duration;

/// What the handlers share.
pub struct EntraState {
    pub(crate) directory: Arc<EntraDirectory>,
    pub(crate) keys: SigningKeys,
    pub(crate) issuer_keys: IssuerKeys,
    pub(crate) authority: String,
    pub(crate) token_lifetime: Duration,
    pub(crate) assertion_clock_skew: Duration,
    pub(crate) identity_header: String,
    pub(crate) faults: Faults,
    pub(crate) stats: Stats,
}
