//! Without the `opentelemetry` feature: the same types, empty, and methods that do nothing.

use super::{PoolReading, TokenReading};
use crate::error::{Error, TokenFailure};
use crate::retirement::RetireReason;
use tokio::time::Instant;

// Tuple structs rather than unit structs, so the path builds them with `default()` whether the
// feature is on or off.
#[derive(Clone, Debug, Default)]
pub(crate) struct Meters(());

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stamp(());

pub(crate) struct PoolMetrics;

impl PoolMetrics {
    #[inline(always)]
    pub(crate) fn new(_: &Meters, _: &str) -> Self {
        Self
    }
    #[inline(always)]
    pub(crate) fn checked_out(&self, _: Instant, _: Instant) -> Stamp {
        Stamp(())
    }
    #[inline(always)]
    pub(crate) fn returned(&self, _: &mut Stamp) {}
    #[inline(always)]
    pub(crate) fn created(&self, _: Instant) {}
    #[inline(always)]
    pub(crate) fn timed_out(&self) {}
    #[inline(always)]
    pub(crate) fn retired(&self, _: RetireReason) {}
    #[inline(always)]
    pub(crate) fn observe(&self, _: impl Fn() -> Option<PoolReading> + Send + Sync + 'static) {}
}

pub(crate) struct ConnectMetrics;

impl ConnectMetrics {
    #[inline(always)]
    pub(crate) fn new(_: &Meters, _: &str) -> Self {
        Self
    }
    #[inline(always)]
    pub(crate) fn login(&self, _: Result<(), &Error>, _: bool) {}
    #[inline(always)]
    pub(crate) fn redirected(&self) {}
    #[inline(always)]
    pub(crate) fn retrying(&self, _: &Error) {}
}

pub(crate) struct TokenMetrics;

impl TokenMetrics {
    #[inline(always)]
    pub(crate) fn new(
        _: &Meters,
        _: &'static str,
        _: impl Fn() -> Option<TokenReading> + Send + Sync + 'static,
    ) -> Self {
        Self
    }
    #[inline(always)]
    pub(crate) fn requested(&self, _: Option<&TokenFailure>, _: bool) {}
    #[inline(always)]
    pub(crate) fn renewed(&self) {}
    #[inline(always)]
    pub(crate) fn waited(&self) {}
}
