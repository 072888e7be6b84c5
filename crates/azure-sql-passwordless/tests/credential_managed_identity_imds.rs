//! Managed identity through IMDS, the protocol of VMs, scale sets and AKS nodes, against the
//! sandbox's IMDS endpoint.
//!
//! `azure_identity` sends IMDS requests to the fixed address `http://169.254.169.254`, which a
//! test cannot take over. It does send them through the library's HTTP client, and that client
//! honours `HTTP_PROXY` as every Azure SDK does; an HTTP proxy receives the request with its
//! whole URL (`GET http://169.254.169.254/metadata/identity/oauth2/token?...`), so pointing
//! `HTTP_PROXY` at the sandbox's plain-HTTP listener delivers the request, unchanged, to the
//! sandbox's IMDS handler. The environment is global to the process: this file is its own test
//! binary with a single test, which sets the variable before anything of the library runs.
//! (The same property is what makes a VM behind a proxy fail: see the README's troubleshooting
//! on `NO_PROXY`.)

mod common;

use azure_sql_passwordless::provider_for;
use azure_sql_passwordless::Authentication;
use common::identity::*;

const SERVER: &str = "Server=tcp:myserver.database.windows.net,1433;Database=customers";

#[tokio::test]
async fn imds_managed_identity_system_and_user_assigned() {
    let id = Identity::start().await;
    let imds = id.entra.imds_endpoint();
    let proxy = imds
        .strip_suffix("/metadata/identity/oauth2/token")
        .expect("the IMDS path");
    for var in [
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "IMDS_ENDPOINT",
        "NO_PROXY",
        "no_proxy",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("HTTP_PROXY", proxy);
    std::env::set_var("http_proxy", proxy);

    // The host's system-assigned identity answers when no `User Id` names another.
    let host = id
        .directory
        .create_managed_identity(&id.tenant, "aks-node", true);
    let mut config = id.config(SERVER);
    config.authentication(Authentication::ManagedIdentity);
    let provider = provider_for(&config).expect("builds").expect("a provider");
    assert_eq!(provider.kind(), "managed identity");
    let appid = fetched_appid(&config).await.expect("a token from IMDS");
    assert_eq!(appid, host.client_id);
    assert_eq!(id.stats().managed_identity_grants, 1);

    // A user-assigned identity, picked by its client id (`User Id`).
    let orders = id
        .directory
        .create_managed_identity(&id.tenant, "orders-api", false);
    config.user_id(orders.client_id.clone());
    let appid = fetched_appid(&config).await.expect("a token from IMDS");
    assert_eq!(appid, orders.client_id);
    assert_eq!(
        id.stats().managed_identity_grants,
        2,
        "one request per fetch"
    );

    // An identity not assigned to this host: IMDS refuses (400), and the error says so.
    assert_not_assigned(&mut config).await;
}
