//! The ADAL/MSAL FEDAUTH workflow (tedious' `token-credential`, SqlClient's `Active Directory
//! Default`/`Managed Identity`/...): LOGIN7 asks for the MSAL library, the server answers
//! FEDAUTHINFO (STS URL and SPN), the client sends its token in a FEDAUTH message, and the login
//! completes — spoken byte by byte, since tiberius only knows the security-token library.

mod support;

use azure_sql_sandbox::server::AZURE_SQL_SPN;
use azure_sql_sandbox::tds::packet::MessageType;
use support::raw::Raw;
use support::raw::*;
use support::tds::*;

fn utf16_text(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).expect("UTF-16")
}

/// STS URL and SPN of a FEDAUTHINFO token (offsets count from the CountOfInfoIDs field).
fn fedauth_info(tokens: &[u8]) -> (String, String) {
    assert_eq!(tokens[0], 0xEE, "a FEDAUTHINFO token: {tokens:?}");
    let data = &tokens[5..];
    let count = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let (mut sts, mut spn) = (String::new(), String::new());
    for i in 0..count {
        let o = &data[4 + i * 9..];
        let len = u32::from_le_bytes([o[1], o[2], o[3], o[4]]) as usize;
        let at = u32::from_le_bytes([o[5], o[6], o[7], o[8]]) as usize;
        let text = utf16_text(&data[at..at + len]);
        match o[0] {
            0x01 => sts = text,
            0x02 => spn = text,
            other => panic!("unknown FEDAUTHINFO id {other}"),
        }
    }
    (sts, spn)
}

#[tokio::test]
async fn the_msal_workflow_logs_in_with_the_token_sent_after_fedauthinfo() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = fedauth_login(&sandbox, msal_feature(true, 0x02)).await;
    let info = raw.response().await.expect("FEDAUTHINFO");
    assert_eq!(
        fedauth_info(&info),
        (TEST_STS_URL.to_string(), AZURE_SQL_SPN.to_string())
    );
    assert!(
        sandbox.validator.seen.lock().unwrap().is_empty(),
        "no token yet"
    );

    raw.send(
        MessageType::FEDAUTH_TOKEN,
        &fedauth_token_message(GOOD_TOKEN),
    )
    .await
    .expect("token");
    let answer = raw.response().await.expect("login answer");
    assert_eq!(first_error(&answer), None);
    assert!(answer.contains(&0xAD), "LOGINACK");
    let ack = answer
        .windows(7)
        .any(|w| w == [0xAE, 0x02, 0, 0, 0, 0, 0xFF]);
    assert!(
        ack,
        "an empty FEDAUTH acknowledgement, as SqlClient requires: {answer:?}"
    );
    assert_eq!(
        sandbox.validator.seen.lock().unwrap().as_slice(),
        [GOOD_TOKEN]
    );

    raw.send(
        MessageType::SQL_BATCH,
        &batch("SELECT customer_id FROM dbo.Customer"),
    )
    .await
    .expect("query");
    let rows = raw.response().await.expect("rows");
    let row_5 = [0xD1, 4, 5, 0, 0, 0];
    assert!(
        rows.windows(6).any(|w| w == row_5),
        "the row of customer 5 in {rows:?}"
    );
    assert_eq!(sandbox.stats.snapshot().logins_ok, 1);
}

#[tokio::test]
async fn a_bad_token_in_the_fedauth_message_gets_18456() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = fedauth_login(&sandbox, msal_feature(true, 0x03)).await;
    raw.response().await.expect("FEDAUTHINFO");
    raw.send(MessageType::FEDAUTH_TOKEN, &fedauth_token_message("forged"))
        .await
        .expect("token");
    assert_eq!(
        first_error(&raw.response().await.expect("answer")),
        Some(18456)
    );
    assert!(raw.response().await.is_none(), "then the connection closes");
}

#[tokio::test]
async fn without_an_sts_url_the_msal_workflow_is_refused() {
    let sandbox = Sandbox::start(false).await;
    *sandbox.validator.sts_url.lock().unwrap() = None;
    let mut raw = fedauth_login(&sandbox, msal_feature(true, 0x02)).await;
    assert_eq!(
        first_error(&raw.response().await.expect("answer")),
        Some(18456)
    );
}

#[tokio::test]
async fn a_fedauth_echo_that_contradicts_prelogin_is_refused() {
    let sandbox = Sandbox::start(false).await;
    // PRELOGIN without FEDAUTHREQUIRED, then a LOGIN7 claiming the server asked for it.
    let (mut raw, _) = after_prelogin(&sandbox, &prelogin_with(false)).await;
    raw.send_fedauth_login(token_feature(GOOD_TOKEN, true))
        .await;
    assert_eq!(
        first_error(&raw.response().await.expect("answer")),
        Some(4002)
    );
    assert!(sandbox.validator.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_security_token_login_without_fedauthrequired_works() {
    // Clients that skip FEDAUTHREQUIRED in PRELOGIN send fFedAuthEcho = 0.
    let sandbox = Sandbox::start(false).await;
    let (mut raw, _) = after_prelogin(&sandbox, &prelogin_with(false)).await;
    raw.send_fedauth_login(token_feature(GOOD_TOKEN, false))
        .await;
    let answer = raw.response().await.expect("answer");
    assert_eq!(first_error(&answer), None);
    assert!(answer.contains(&0xAD));
}

// ---- the PRELOGIN nonce ----------------------------------------------------------------------

/// PRELOGIN with a client nonce; returns the connection and the server's nonce.
async fn with_nonces(
    sandbox: &Sandbox,
    client_nonce: [u8; 32],
) -> (
    Raw<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    [u8; 32],
) {
    let (raw, answer) = after_prelogin(sandbox, &prelogin_with_nonce(client_nonce)).await;
    let server = server_nonce(&answer).expect("the server answers a nonce with its own");
    assert_ne!(server, client_nonce);
    (raw, server)
}

#[tokio::test]
async fn a_login_echoing_the_server_nonce_is_acknowledged_with_the_client_nonce() {
    let sandbox = Sandbox::start(false).await;
    let client_nonce = [0x5A; 32];
    let (mut raw, server) = with_nonces(&sandbox, client_nonce).await;
    raw.send_fedauth_login(token_feature_with_nonce(GOOD_TOKEN, true, server))
        .await;
    let answer = raw.response().await.expect("login answer");
    assert_eq!(first_error(&answer), None);
    assert_eq!(fedauth_ack(&answer), Some(client_nonce.to_vec()));
}

#[tokio::test]
async fn a_fedauth_nonce_that_is_not_the_servers_is_refused() {
    let sandbox = Sandbox::start(false).await;
    let client_nonce = [0x11; 32];
    // Echoing its own nonce, or nothing, instead of the server's.
    for echo in [Some(client_nonce), None] {
        let (mut raw, _) = with_nonces(&sandbox, client_nonce).await;
        let feature = match echo {
            Some(n) => token_feature_with_nonce(GOOD_TOKEN, true, n),
            None => token_feature(GOOD_TOKEN, true),
        };
        raw.send_fedauth_login(feature).await;
        assert_eq!(
            first_error(&raw.response().await.expect("answer")),
            Some(4002),
            "echo {echo:?}"
        );
        assert!(raw.response().await.is_none(), "then the connection closes");
    }
    // A nonce echoed where the server sent none.
    let (mut raw, answer) = after_prelogin(&sandbox, &prelogin_with(true)).await;
    assert_eq!(server_nonce(&answer), None);
    raw.send_fedauth_login(token_feature_with_nonce(GOOD_TOKEN, true, [7; 32]))
        .await;
    assert_eq!(
        first_error(&raw.response().await.expect("answer")),
        Some(4002)
    );
    assert!(
        sandbox.validator.seen.lock().unwrap().is_empty(),
        "no token was looked at"
    );
}

#[tokio::test]
async fn the_msal_workflow_checks_the_nonce_of_the_fedauth_message() {
    let sandbox = Sandbox::start(false).await;
    for good in [true, false] {
        let (mut raw, server) = with_nonces(&sandbox, [0x22; 32]).await;
        raw.send_fedauth_login(msal_feature(true, 0x02)).await;
        raw.response().await.expect("FEDAUTHINFO");
        let nonce = if good { server } else { [0x33; 32] };
        raw.send(
            MessageType::FEDAUTH_TOKEN,
            &fedauth_token_message_with(GOOD_TOKEN, Some(nonce)),
        )
        .await
        .expect("token");
        let answer = raw.response().await.expect("answer");
        if good {
            assert_eq!(first_error(&answer), None);
            assert_eq!(fedauth_ack(&answer), Some(vec![0x22; 32]));
        } else {
            assert_eq!(first_error(&answer), Some(4002));
        }
    }
}

// ---- the time limit after FEDAUTHINFO ----------------------------------------------------------

#[tokio::test]
async fn a_client_that_never_sends_its_token_after_fedauthinfo_is_disconnected() {
    let limits = azure_sql_sandbox::Limits {
        login_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let sandbox = Sandbox::start_with_limits(false, engine(), limits).await;
    let mut raw = fedauth_login(&sandbox, msal_feature(true, 0x02)).await;
    raw.response().await.expect("FEDAUTHINFO");
    // Wait for the server: it closes the connection once the login's time is up.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(30), raw.response()).await;
    assert_eq!(closed.expect("the server gave up"), None);
    assert!(sandbox.validator.seen.lock().unwrap().is_empty());
}
