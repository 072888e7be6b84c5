//! A database's metadata at one version: its catalog and its principals. The last committed
//! version is the database's; a transaction that changes either keeps its own until it commits.

use super::catalog::Catalog;
use super::principals::Principals;
use std::sync::atomic::{AtomicU64, Ordering};

/// A database's catalog and principals at one point. Each version has its own number, which
/// plans and each connection's copy of the system views are checked against.
#[derive(Clone)]
pub(crate) struct Metadata {
    pub version: u64,
    pub catalog: Catalog,
    pub principals: Principals,
}

/// A new metadata version number (never 0, which means "none").
pub(crate) fn next_version() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
