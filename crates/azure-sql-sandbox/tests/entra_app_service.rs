//! `azure_identity`'s `ManagedIdentityCredential` against the sandbox's App Service managed
//! identity endpoint, configured the only way it can be: through `IDENTITY_ENDPOINT` and
//! `IDENTITY_HEADER` in the process environment. That is why this test has a binary of its own
//! (nothing else in this process reads or writes the environment).

use azure_core::credentials::TokenCredential;
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use azure_sql_sandbox::entra::directory::EntraDirectory;
use azure_sql_sandbox::entra::{Entra, EntraOptions};
use azure_sql_sandbox::pki::Pki;
use azure_sql_sandbox::{Faults, Stats};
use std::sync::Arc;

#[tokio::test]
async fn managed_identity_credential_gets_a_token_from_the_app_service_endpoint() {
    let pki = Pki::generate().unwrap();
    let directory = Arc::new(EntraDirectory::new());
    let tenant = directory.add_tenant("Sandbox", "sandbox");
    let mi = directory.create_managed_identity(&tenant, "web-app", false);
    let stats = Stats::default();
    let entra = Entra::start(
        &pki,
        directory,
        EntraOptions::default(),
        Faults::default(),
        stats.clone(),
    )
    .await
    .unwrap();
    std::env::set_var("IDENTITY_ENDPOINT", entra.identity_endpoint());
    std::env::set_var("IDENTITY_HEADER", entra.identity_header());

    let credential = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
        user_assigned_id: Some(UserAssignedId::ClientId(mi.client_id.clone())),
        ..Default::default()
    }))
    .unwrap();
    let token = credential
        .get_token(&["https://database.windows.net/.default"], None)
        .await
        .unwrap();
    let identity = entra
        .validator(&tenant.id, pki.ca_pem())
        .unwrap()
        .check(token.token.secret())
        .await
        .unwrap();
    assert_eq!(identity.object_id, mi.object_id);
    assert_eq!(identity.app_id.as_deref(), Some(mi.client_id.as_str()));
    let expires_at = identity
        .expires_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(token.expires_on.unix_timestamp(), expires_at as i64);

    // An identity the host does not have: the error azure_identity reports for a 400.
    let unknown = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
        user_assigned_id: Some(UserAssignedId::ClientId(
            "00000000-0000-0000-0000-0000000000ff".into(),
        )),
        ..Default::default()
    }))
    .unwrap();
    let err = unknown
        .get_token(&["https://database.windows.net/.default"], None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("has not been assigned"), "{err}");

    // A wrong secret header is refused.
    std::env::set_var("IDENTITY_HEADER", "wrong");
    let wrong = ManagedIdentityCredential::new(None).unwrap();
    assert!(wrong
        .get_token(&["https://database.windows.net/.default"], None)
        .await
        .is_err());
    let snapshot = stats.snapshot();
    assert_eq!(
        (snapshot.tokens_issued, snapshot.managed_identity_grants),
        (1, 2)
    );
}
