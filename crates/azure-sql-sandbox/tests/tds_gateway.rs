//! Gateway mode (Azure SQL's Redirect connection policy): the gateway answers a good login with a
//! routing ENVCHANGE to the node, which tiberius reports as `Error::Routing`; the node serves. A
//! login with `ApplicationIntent=ReadOnly` is routed to the read-only replica instead (read
//! scale-out), which serves the same databases and refuses writes.

mod support;

use support::tds::*;

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

async fn routed_port(config: tiberius::Config) -> u16 {
    match connect(config).await {
        Err(tiberius::error::Error::Routing { host, port }) => {
            assert_eq!(host, "localhost");
            port
        }
        Err(other) => panic!("expected a routing answer, got {other:?}"),
        Ok(_) => panic!("expected a routing answer, got a session"),
    }
}

async fn updateability(client: &mut TdsClient) -> String {
    let sql = "SELECT DATABASEPROPERTYEX(DB_NAME(), 'Updateability')";
    let row = first_row(client, sql).await;
    row.get::<&str, _>(0).expect("text").to_string()
}

#[tokio::test]
async fn a_read_only_login_is_routed_to_the_replica_which_refuses_writes() {
    let sandbox = Sandbox::start(true).await;
    let replica_port = sandbox
        .server
        .read_only_port()
        .expect("a read-only replica");
    let node_port = sandbox.server.node_port().expect("a node");
    assert_ne!(replica_port, node_port);

    let mut read_only = sandbox.config(
        sandbox.server.port(),
        tiberius::AuthMethod::sql_server(ADMIN_USER, ADMIN_PASSWORD),
        tiberius::EncryptionLevel::Required,
    );
    read_only.readonly(true);
    assert_eq!(routed_port(read_only.clone()).await, replica_port);
    let mut read_write = read_only.clone();
    read_write.readonly(false);
    assert_eq!(routed_port(read_write.clone()).await, node_port);

    read_only.port(replica_port);
    let mut replica = connect(read_only).await.expect("replica login");
    assert_eq!(updateability(&mut replica).await, "READ_ONLY");
    assert_eq!(
        customer_ids(&mut replica).await.expect("reads"),
        [1, 2, 3, 4, 5]
    );
    for sql in [
        "INSERT INTO dbo.Customer (first_name) VALUES ('x')",
        "UPDATE dbo.Customer SET active = 1",
        "DELETE FROM dbo.Customer OUTPUT DELETED.customer_id",
        "CREATE TABLE dbo.Other (a INT)",
        "TRUNCATE TABLE dbo.Customer",
        "CREATE USER [someone] WITHOUT LOGIN",
        "GRANT SELECT ON dbo.Customer TO [customers-reader]",
        "ALTER ROLE db_datawriter ADD MEMBER [customers-reader]",
        "DROP TABLE dbo.Customer",
    ] {
        assert_eq!(
            batch_error(&mut replica, sql).await,
            (
                3906,
                "Failed to update database \"customers\" because the database is read-only."
                    .to_string()
            ),
            "{sql}"
        );
    }
    // tempdb and the session's own state stay writable on a replica.
    batch_ok(&mut replica, "CREATE TABLE #scratch (a INT); INSERT INTO #scratch VALUES (1); BEGIN TRAN; SELECT a FROM #scratch; COMMIT").await;

    read_write.port(node_port);
    let mut node = connect(read_write).await.expect("node login");
    assert_eq!(updateability(&mut node).await, "READ_WRITE");
    batch_ok(&mut node, "DELETE FROM dbo.Customer WHERE customer_id = 5").await;
    assert_eq!(
        customer_ids(&mut replica).await.expect("reads"),
        [1, 2, 3, 4],
        "the replica serves the same database"
    );
    let stats = sandbox.stats.snapshot();
    assert_eq!(
        (stats.redirects, stats.logins_ok, stats.read_only_logins),
        (2, 2, 1)
    );
}

#[tokio::test]
async fn without_the_gateway_a_read_only_intent_changes_nothing() {
    // As a database without read scale-out: the login lands where it connects, read-write.
    let sandbox = Sandbox::start(false).await;
    assert_eq!(sandbox.server.read_only_port(), None);
    let mut config = sandbox.token_config(GOOD_TOKEN);
    config.readonly(true);
    let mut client = connect(config).await.expect("login");
    assert_eq!(updateability(&mut client).await, "READ_WRITE");
    assert_eq!(sandbox.stats.snapshot().read_only_logins, 0);
}

#[tokio::test]
async fn when_the_node_moves_the_gateway_routes_to_the_new_one_and_the_old_address_is_gone() {
    let sandbox = Sandbox::start(true).await;
    let old_port = sandbox.server.node_port().expect("a node");
    let on_old = sandbox.config(
        old_port,
        tiberius::AuthMethod::sql_server(ADMIN_USER, ADMIN_PASSWORD),
        tiberius::EncryptionLevel::Required,
    );
    let mut session = connect(on_old).await.expect("login on the node");
    batch_ok(
        &mut session,
        "BEGIN TRAN; DELETE FROM dbo.Customer WHERE customer_id = 5",
    )
    .await;

    let new_port = sandbox.server.move_node().await.expect("move");
    assert_ne!(new_port, old_port);
    assert_eq!(sandbox.server.node_port(), Some(new_port));

    // The session on the old node is cut (a reset, as at a reconfiguration), and its open
    // transaction is gone with it.
    let cut = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        customer_ids(&mut session),
    )
    .await
    .expect("the cut session answers at once");
    let err = cut.expect_err("the old node's session is gone");
    assert!(
        matches!(err, tiberius::error::Error::Io { .. }),
        "expected an I/O error, got {err:?}"
    );
    // Nothing listens at the old address any more.
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", old_port))
        .await
        .expect_err("the old address refuses");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // The gateway now routes logins to the new node, which serves the same database.
    assert_eq!(
        routed_port(sandbox.token_config(GOOD_TOKEN)).await,
        new_port
    );
    let mut on_new = sandbox.token_config(GOOD_TOKEN);
    on_new.port(new_port);
    let mut client = connect(on_new).await.expect("login on the new node");
    assert_eq!(
        customer_ids(&mut client).await.expect("query"),
        [1, 2, 3, 4, 5],
        "the cut session's transaction was rolled back"
    );
    // Read-only routing is untouched.
    assert_ne!(sandbox.server.read_only_port(), Some(new_port));
}

#[tokio::test]
async fn without_the_gateway_there_is_no_node_to_move() {
    let sandbox = Sandbox::start(false).await;
    let err = sandbox.server.move_node().await.expect_err("no node");
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
}
