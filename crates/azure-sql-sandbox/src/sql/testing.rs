//! Test fixtures shared by the engine's unit tests: a directory over a fixed list of identities,
//! and the access-token identities their tokens would carry.

use crate::identity::{Directory, DirectoryEntry, FixedDirectory, PrincipalKind, TokenIdentity};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

/// The tenant every fixture lives in.
pub(crate) const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// The workload identity the scripts grant (a user-assigned managed identity).
pub(crate) static IDENTITY: LazyLock<DirectoryEntry> = LazyLock::new(|| DirectoryEntry {
    display_name: "customers-identity".into(),
    object_id: "5a7c4b1e-0d3f-4e62-9a1b-2c3d4e5f6a7b".into(),
    app_id: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
    tenant_id: TENANT.into(),
    kind: PrincipalKind::ManagedIdentity,
});

/// A service principal that exists in the directory but has no database user.
pub(crate) static STRANGER: LazyLock<DirectoryEntry> = LazyLock::new(|| DirectoryEntry {
    display_name: "stranger-app".into(),
    object_id: "11111111-2222-3333-4444-555555555555".into(),
    app_id: "66666666-7777-8888-9999-000000000000".into(),
    tenant_id: TENANT.into(),
    kind: PrincipalKind::Application,
});

/// A human user.
pub(crate) static ALICE: LazyLock<DirectoryEntry> = LazyLock::new(|| DirectoryEntry {
    display_name: "alice@contoso.com".into(),
    object_id: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
    app_id: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
    tenant_id: TENANT.into(),
    kind: PrincipalKind::User,
});

/// The directory holding the fixtures.
pub(crate) fn directory() -> Arc<dyn Directory> {
    Arc::new(FixedDirectory(vec![
        IDENTITY.clone(),
        STRANGER.clone(),
        ALICE.clone(),
    ]))
}

/// What a validated token for a directory entry says.
pub(crate) trait TokenFor {
    fn token(&self) -> TokenIdentity;
}

impl TokenFor for DirectoryEntry {
    fn token(&self) -> TokenIdentity {
        self.token_identity(SystemTime::now() + Duration::from_secs(60))
    }
}
