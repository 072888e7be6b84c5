//! Gateway mode (Azure SQL's Redirect connection policy): the gateway answers a good login with a
//! routing ENVCHANGE to the node, which tiberius reports as `Error::Routing`; the node serves.

mod tds_support;

use tds_support::*;

#[tokio::test]
async fn the_gateway_routes_a_token_login_to_the_node() {
    let sandbox = Sandbox::start(true).await;
    let node_port = sandbox.server.node_port().expect("gateway mode has a node");
    assert_ne!(node_port, sandbox.server.port());

    let err = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect_err("routed");
    match err {
        tiberius::error::Error::Routing { host, port } => {
            assert_eq!(host, "localhost");
            assert_eq!(port, node_port);
        }
        other => panic!("expected a routing answer, got {other:?}"),
    }
    let stats = sandbox.stats.snapshot();
    assert_eq!((stats.redirects, stats.logins_ok), (1, 0));

    // Log in again where the gateway said, with the same token.
    let mut config = sandbox.token_config(GOOD_TOKEN);
    config.port(node_port);
    let mut client = connect(config).await.expect("node login");
    assert_eq!(
        customer_ids(&mut client).await.expect("query"),
        [1, 2, 3, 4, 5]
    );
    let stats = sandbox.stats.snapshot();
    assert_eq!(
        (stats.redirects, stats.logins_ok, stats.tcp_connections),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn the_gateway_refuses_a_bad_token_instead_of_routing_it() {
    let sandbox = Sandbox::start(true).await;
    let err = connect(sandbox.token_config("forged"))
        .await
        .expect_err("refused");
    assert_eq!(server_error(&err).map(|e| e.0), Some(18456));
    assert_eq!(sandbox.stats.snapshot().redirects, 0);
}

#[tokio::test]
async fn strict_clients_are_routed_too() {
    let sandbox = Sandbox::start(true).await;
    let config = sandbox.config(
        sandbox.server.port(),
        tiberius::AuthMethod::aad_token(GOOD_TOKEN),
        tiberius::EncryptionLevel::Strict,
    );
    let err = connect(config).await.expect_err("routed");
    assert!(
        matches!(err, tiberius::error::Error::Routing { .. }),
        "{err:?}"
    );
}
