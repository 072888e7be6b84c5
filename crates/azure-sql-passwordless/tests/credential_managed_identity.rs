//! Managed identity through the App Service protocol, against the sandbox's identity endpoint.
//!
//! `azure_identity`'s `ManagedIdentityCredential` reads `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`
//! from the process environment, which is global: this file is its own test binary and holds a
//! single test, which sets them as soon as the sandbox has said where its endpoint listens, and
//! before anything of the library runs. IMDS (VMs, AKS nodes) is tested in
//! `credential_managed_identity_imds.rs`.

mod common;

use azure_sql_passwordless::Authentication;
use azure_sql_passwordless::{provider_for, provider_for_with};
use common::identity::*;

const SERVER: &str = "Server=tcp:myserver.database.windows.net,1433;Database=customers";

#[tokio::test]
async fn app_service_managed_identity() {
    let id = Identity::start().await;
    let endpoint = id.entra.identity_endpoint();
    let header = id.entra.identity_header().to_owned();
    std::env::set_var("IDENTITY_ENDPOINT", &endpoint);
    std::env::set_var("IDENTITY_HEADER", &header);

    // A user-assigned identity, picked by its client id.
    let identity = id
        .directory
        .create_managed_identity(&id.tenant, "orders-api", false);
    let mut config = id.config(SERVER);
    config
        .authentication(Authentication::ManagedIdentity)
        .user_id(identity.client_id.clone());
    let provider = provider_for(&config).expect("builds").expect("a provider");
    assert_eq!(provider.kind(), "managed identity");
    let token = provider.fetch(SCOPE).await.expect("a token");
    assert_eq!(
        claims(token.token.secret())["appid"],
        identity.client_id.as_str()
    );
    provider.fetch(SCOPE).await.expect("again");
    assert_eq!(
        id.stats().managed_identity_grants,
        2,
        "one request per fetch"
    );

    // An identity that is not assigned to this host.
    assert_not_assigned(&mut config).await;

    // The default chain, with only the App Service variables around, picks the managed identity.
    let mut config = id.config(SERVER);
    config
        .authentication(Authentication::Default)
        .user_id(identity.client_id.clone());
    let only_app_service = environment(vec![
        ("IDENTITY_ENDPOINT".into(), endpoint),
        ("IDENTITY_HEADER".into(), header),
    ]);
    let chain = provider_for_with(&config, &only_app_service)
        .expect("builds")
        .expect("a provider");
    let token = chain.fetch(SCOPE).await.expect("a token");
    assert_eq!(chain.kind(), "default chain: managed identity");
    assert_eq!(
        claims(token.token.secret())["appid"],
        identity.client_id.as_str()
    );
}
