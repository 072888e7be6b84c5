//! Logging in to the TDS server with tiberius: Entra access tokens (FEDAUTH) and SQL logins, over
//! TDS 7.4 (TLS inside PRELOGIN) and TDS 8.0 (TLS first), and the refusals Azure SQL gives.

mod support;

use support::tds::*;
use tiberius::{AuthMethod, EncryptionLevel};

#[tokio::test]
async fn token_login_over_tds74_reads_the_customers() {
    let sandbox = Sandbox::start(false).await;
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login");
    assert_eq!(
        customer_ids(&mut client).await.expect("query"),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        sandbox.validator.seen.lock().unwrap().as_slice(),
        [GOOD_TOKEN]
    );
    let stats = sandbox.stats.snapshot();
    assert_eq!(
        (stats.logins_ok, stats.logins_failed, stats.requests),
        (1, 0, 1)
    );
    client.close().await.expect("close");
    sandbox.server.shutdown().await;
}

#[tokio::test]
async fn loginack_says_tds_8_on_a_tds_8_login_and_7_4_otherwise() {
    use azure_sql_sandbox::tds::packet::MessageType;
    use support::raw::*;
    let sandbox = Sandbox::start(false).await;
    let version_of = |answer: &[u8]| {
        let at = answer.iter().position(|b| *b == 0xAD).expect("LOGINACK");
        u32::from_be_bytes([
            answer[at + 4],
            answer[at + 5],
            answer[at + 6],
            answer[at + 7],
        ])
    };
    // TLS first, and a LOGIN7 offering TDS 8.0 (0x08000000), then one offering 7.4.
    for (offered, acknowledged) in [(0x0800_0000u32, 0x0800_0000u32), (0x7400_0004, 0x7400_0004)] {
        let (mut raw, _) = after_prelogin(&sandbox, &prelogin()).await;
        let mut login = login7(ADMIN_USER, ADMIN_PASSWORD, DATABASE, None);
        login[4..8].copy_from_slice(&offered.to_le_bytes());
        raw.send(MessageType::LOGIN7, &login).await.expect("login");
        let answer = raw.response().await.expect("answer");
        assert_eq!(first_error(&answer), None);
        assert_eq!(version_of(&answer), acknowledged, "offered {offered:08X}");
    }
}

#[tokio::test]
async fn token_login_over_tds8_strict() {
    let sandbox = Sandbox::start(false).await;
    let config = sandbox.config(
        sandbox.server.port(),
        AuthMethod::aad_token(GOOD_TOKEN),
        EncryptionLevel::Strict,
    );
    let mut client = connect(config).await.expect("strict login");
    assert_eq!(
        customer_ids(&mut client).await.expect("query"),
        [1, 2, 3, 4, 5]
    );
}

#[tokio::test]
async fn a_client_asking_for_login_only_encryption_gets_full_encryption() {
    let sandbox = Sandbox::start(false).await;
    // ENCRYPT_OFF: the server answers ENCRYPT_REQ, so the whole session stays in TLS.
    let config = sandbox.config(
        sandbox.server.port(),
        AuthMethod::aad_token(GOOD_TOKEN),
        EncryptionLevel::Off,
    );
    let mut client = connect(config).await.expect("login");
    assert_eq!(
        customer_ids(&mut client).await.expect("query after login"),
        [1, 2, 3, 4, 5]
    );
}

#[tokio::test]
async fn a_client_that_cannot_encrypt_is_refused() {
    let sandbox = Sandbox::start(false).await;
    let config = sandbox.config(
        sandbox.server.port(),
        AuthMethod::aad_token(GOOD_TOKEN),
        EncryptionLevel::NotSupported,
    );
    let err = connect(config)
        .await
        .expect_err("Azure SQL requires encryption");
    assert!(
        server_error(&err).is_none(),
        "refused at the transport, got {err:?}"
    );
    assert!(
        sandbox.validator.seen.lock().unwrap().is_empty(),
        "the token never left the client"
    );
    assert_eq!(sandbox.stats.snapshot().logins_ok, 0);
}

/// The 18456 a refused token login gets: (state, text).
async fn refusal(sandbox: &Sandbox, token: &str) -> (u8, String) {
    match connect(sandbox.token_config(token)).await {
        Err(tiberius::error::Error::Server(e)) => {
            assert_eq!(e.code(), 18456, "{e:?}");
            assert_eq!(e.class(), 14, "{e:?}");
            (e.state(), e.message().to_string())
        }
        other => panic!("expected 18456, got {:?}", other.map(|_| "a session")),
    }
}

#[tokio::test]
async fn a_token_the_server_does_not_take_gets_18456_saying_so() {
    let sandbox = Sandbox::start(false).await;
    let (_, message) = refusal(&sandbox, "forged.token.value").await;
    assert_eq!(
        message,
        "Login failed for user '<token-identified principal>'. The server is not currently configured to accept this token."
    );
    assert_eq!(sandbox.stats.snapshot().logins_failed, 1);
}

#[tokio::test]
async fn an_expired_token_gets_18456_state_233_token_is_expired() {
    let sandbox = Sandbox::start(false).await;
    sandbox
        .validator
        .add("expired-token", reader_identity(std::time::Duration::ZERO));
    let (state, message) = refusal(&sandbox, "expired-token").await;
    assert_eq!(state, 233);
    assert_eq!(
        message,
        "Login failed for user '<token-identified principal>'. Token is expired."
    );
}

#[tokio::test]
async fn a_valid_token_without_a_database_user_gets_the_plain_18456() {
    let sandbox = Sandbox::start(false).await;
    let (_, message) = refusal(&sandbox, STRANGER_TOKEN).await;
    assert_eq!(
        message,
        "Login failed for user '<token-identified principal>'."
    );
}

#[tokio::test]
async fn an_unknown_database_gets_4060() {
    let sandbox = Sandbox::start(false).await;
    let mut config = sandbox.token_config(GOOD_TOKEN);
    config.database("nosuchdb");
    let err = connect(config).await.expect_err("no such database");
    assert_eq!(server_error(&err).map(|e| e.0), Some(4060));
}

#[tokio::test]
async fn sql_login_with_the_admin_password() {
    let sandbox = Sandbox::start(false).await;
    let config = sandbox.config(
        sandbox.server.port(),
        AuthMethod::sql_server(ADMIN_USER, ADMIN_PASSWORD),
        EncryptionLevel::Required,
    );
    let mut client = connect(config).await.expect("SQL login");
    assert_eq!(
        customer_ids(&mut client).await.expect("query"),
        [1, 2, 3, 4, 5]
    );
    assert!(sandbox.validator.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn sql_login_with_a_wrong_password_gets_18456() {
    let sandbox = Sandbox::start(false).await;
    let config = sandbox.config(
        sandbox.server.port(),
        AuthMethod::sql_server(ADMIN_USER, "not-the-password"),
        EncryptionLevel::Strict,
    );
    let err = connect(config).await.expect_err("wrong password");
    let (number, message) = server_error(&err).expect("server error");
    assert_eq!(number, 18456);
    assert_eq!(message, format!("Login failed for user '{ADMIN_USER}'."));
}

/// A tiberius configuration naming no database.
fn without_database(sandbox: &Sandbox, auth: AuthMethod) -> tiberius::Config {
    let mut config = tiberius::Config::new();
    config.host("localhost");
    config.port(sandbox.server.port());
    config.authentication(auth);
    config.encryption(EncryptionLevel::Required);
    config.trust_cert_ca(sandbox.pki.ca_pem_path.display().to_string());
    config
}

#[tokio::test]
async fn a_token_login_naming_no_database_lands_in_master_and_gets_18456() {
    let sandbox = Sandbox::start(false).await;
    let err = connect(without_database(
        &sandbox,
        AuthMethod::aad_token(GOOD_TOKEN),
    ))
    .await
    .expect_err("the reader has no user in master");
    let (number, message) = server_error(&err).expect("a server error");
    assert_eq!(number, 18456);
    assert_eq!(
        message,
        "Login failed for user '<token-identified principal>'."
    );
    // Naming master is the same login, and the same answer: not 4060, which clients retry.
    let mut config = sandbox.token_config(GOOD_TOKEN);
    config.database("master");
    let err = connect(config).await.expect_err("no user in master");
    assert_eq!(server_error(&err).map(|e| e.0), Some(18456));
    // The token itself was good: with its database named it logs in.
    connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login to the application database");
}

#[tokio::test]
async fn a_sql_login_naming_no_database_lands_in_master() {
    let sandbox = Sandbox::start(false).await;
    let mut client = connect(without_database(
        &sandbox,
        AuthMethod::sql_server(ADMIN_USER, ADMIN_PASSWORD),
    ))
    .await
    .expect("the server admin logs in to master");
    let row = client
        .simple_query("SELECT DB_NAME()")
        .await
        .expect("query")
        .into_row()
        .await
        .expect("row")
        .expect("one row");
    assert_eq!(row.get::<&str, _>(0), Some("master"));
}

#[tokio::test]
async fn the_server_also_listens_on_ipv6_loopback() {
    let sandbox = Sandbox::start(false).await;
    let Ok(tcp) = tokio::net::TcpStream::connect(("::1", sandbox.server.port())).await else {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    };
    use tokio_util::compat::TokioAsyncWriteCompatExt;
    let client =
        tiberius::Client::connect(sandbox.token_config(GOOD_TOKEN), tcp.compat_write()).await;
    client.expect("login over ::1");
}
