//! Access tokens and passwords never reach the server's log, whatever happens to the login,
//! while the reason a token was refused does.

mod support;

use azure_sql_sandbox::tds::packet::MessageType;
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::raw::*;
use support::tds::*;
use tiberius::{AuthMethod, EncryptionLevel};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_and_passwords_never_reach_the_log() {
    const FORGED: &str = "eyJhbGciOiJSUzI1NiJ9.forged-payload-9f8e7d.forged-signature";
    const WRONG_PASSWORD: &str = "Wr0ng-But-Secret-P@ss";
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sandbox = Sandbox::start(false).await;
    connect(sandbox.token_config(FORGED))
        .await
        .expect_err("forged");
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("good token");
    customer_ids(&mut client).await.expect("query");
    for password in [ADMIN_PASSWORD, WRONG_PASSWORD] {
        let config = sandbox.config(
            sandbox.server.port(),
            AuthMethod::sql_server(ADMIN_USER, password),
            EncryptionLevel::Required,
        );
        let _ = connect(config).await;
    }
    // The ADAL/MSAL workflow's token message too.
    let mut raw = strict(&sandbox).await;
    raw.send(MessageType::PRELOGIN, &prelogin_with(true))
        .await
        .expect("prelogin");
    raw.response().await.expect("answer");
    raw.send(
        MessageType::LOGIN7,
        &login7("", "", DATABASE, Some(msal_feature(true, 2))),
    )
    .await
    .expect("login");
    raw.response().await.expect("FEDAUTHINFO");
    raw.send(MessageType::FEDAUTH_TOKEN, &fedauth_token_message(FORGED))
        .await
        .expect("token");
    raw.response().await.expect("18456");
    drop(raw);
    sandbox.server.shutdown().await;

    let log = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("UTF-8 log");
    assert!(
        log.contains("signature validation failed"),
        "the rejection reason is logged:\n{log}"
    );
    assert!(log.contains("login succeeded"), "{log}");
    for secret in [
        FORGED,
        "forged-payload",
        GOOD_TOKEN,
        "reader-token",
        ADMIN_PASSWORD,
        WRONG_PASSWORD,
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
    }
}
