//! Garbage and truncated input at every stage of a connection — the first bytes, PRELOGIN,
//! LOGIN7, packets and requests on a logged-in session — gets a protocol error or a closed
//! connection, never a panic, and the server goes on serving everyone else.
//!
//! These tests speak raw TDS: TDS 8.0 (TLS first, with a rustls client trusting the test CA) so
//! the bytes inside TLS are entirely the test's to choose.

mod support;

use azure_sql_sandbox::tds::packet::{MessageReader, MessageType};
use rand::{Rng, SeedableRng};
use support::raw::*;
use support::tds::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn still_serving(sandbox: &Sandbox) {
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("the server still serves");
    assert_eq!(customer_ids(&mut client).await.expect("query").len(), 5);
}

#[tokio::test]
async fn garbage_first_bytes_close_the_connection() {
    let sandbox = Sandbox::start(false).await;
    for garbage in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0x00; 64],
        &[0x12, 0x01, 0x00, 0x02],
        &[0x12, 0x01, 0xFF, 0xFF, 0, 0, 0, 0],
    ] {
        let mut tcp = TcpStream::connect(("127.0.0.1", sandbox.server.port()))
            .await
            .expect("connect");
        tcp.write_all(garbage).await.expect("write");
        tcp.shutdown().await.expect("half-close");
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest).await;
    }
    still_serving(&sandbox).await;
}

#[tokio::test]
async fn random_prelogin_payloads_never_break_the_server() {
    let sandbox = Sandbox::start(false).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7d5);
    for _ in 0..64 {
        let len = rng.random_range(0..200);
        let payload: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let tcp = TcpStream::connect(("127.0.0.1", sandbox.server.port()))
            .await
            .expect("connect");
        let mut raw = Raw {
            io: tcp,
            reader: MessageReader::new(1 << 20),
        };
        raw.send(MessageType::PRELOGIN, &payload)
            .await
            .expect("send");
        // Either an answer (the payload parsed) or a closed connection.
        let _ = raw.response().await;
    }
    still_serving(&sandbox).await;
}

#[tokio::test]
async fn a_malformed_login7_gets_a_protocol_error() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = strict(&sandbox).await;
    raw.send(MessageType::PRELOGIN, &prelogin())
        .await
        .expect("prelogin");
    raw.response().await.expect("answer");
    let mut login = login7(ADMIN_USER, ADMIN_PASSWORD, DATABASE, None);
    login.truncate(70);
    login[..4].copy_from_slice(&70u32.to_le_bytes());
    raw.send(MessageType::LOGIN7, &login).await.expect("send");
    let answer = raw.response().await.expect("an error answer");
    assert_eq!(first_error(&answer), Some(4002));
    assert!(raw.response().await.is_none(), "then the connection closes");
    assert_eq!(sandbox.stats.snapshot().logins_failed, 1);
    still_serving(&sandbox).await;
}

#[tokio::test]
async fn a_sql_batch_before_login_closes_the_connection() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = strict(&sandbox).await;
    raw.send(MessageType::PRELOGIN, &prelogin())
        .await
        .expect("prelogin");
    raw.response().await.expect("answer");
    raw.send(MessageType::SQL_BATCH, &batch("SELECT 1"))
        .await
        .expect("send");
    assert!(raw.response().await.is_none());
    still_serving(&sandbox).await;
}

#[tokio::test]
async fn malformed_requests_get_errors_and_the_session_survives() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;

    // Odd-length batch text.
    let mut odd = batch("SELECT 1");
    odd.push(0x41);
    raw.send(MessageType::SQL_BATCH, &odd).await.expect("send");
    assert_eq!(
        first_error(&raw.response().await.expect("answer")),
        Some(4002)
    );

    // ALL_HEADERS longer than the message.
    raw.send(MessageType::SQL_BATCH, &[0xFF, 0, 0, 0, 1])
        .await
        .expect("send");
    assert_eq!(
        first_error(&raw.response().await.expect("answer")),
        Some(4002)
    );

    // RPC truncated in the middle of a parameter.
    let mut rpc = all_headers();
    rpc.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 0, 4, b's', 0, b't', 0]);
    raw.send(MessageType::RPC, &rpc).await.expect("send");
    let answer = raw.response().await.expect("answer");
    assert_eq!(first_error(&answer), Some(8016));
    assert!(answer.contains(&0xFE), "closed by DONEPROC");

    // An unknown procedure.
    let mut rpc = all_headers();
    let name = utf16("sp_frobnicate");
    rpc.extend_from_slice(&((name.len() / 2) as u16).to_le_bytes());
    rpc.extend_from_slice(&name);
    rpc.extend_from_slice(&[0, 0]);
    raw.send(MessageType::RPC, &rpc).await.expect("send");
    assert_eq!(
        first_error(&raw.response().await.expect("answer")),
        Some(2812)
    );

    // A transaction manager request.
    raw.send(MessageType::TRANSACTION_MANAGER, &all_headers())
        .await
        .expect("send");
    assert!(first_error(&raw.response().await.expect("answer")).is_some());

    // Random payloads as batches and RPCs.
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for i in 0..100 {
        let len = rng.random_range(0..300);
        let mut payload = all_headers();
        payload.extend((0..len).map(|_| rng.random::<u8>()));
        let ty = if i % 2 == 0 {
            MessageType::RPC
        } else {
            MessageType::SQL_BATCH
        };
        raw.send(ty, &payload).await.expect("send");
        raw.response().await.expect("every request gets an answer");
    }

    // Still logged in and serving.
    raw.send(
        MessageType::SQL_BATCH,
        &batch("SELECT COUNT(*) FROM dbo.Customer"),
    )
    .await
    .expect("send");
    let answer = raw.response().await.expect("answer");
    assert!(answer.contains(&0xD1), "a ROW in {answer:?}");
    assert_eq!(first_error(&answer), None);
}

#[tokio::test]
async fn broken_framing_after_login_ends_the_session_with_an_error() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    // A packet header whose length is shorter than the header.
    raw.io
        .write_all(&[0x01, 0x01, 0x00, 0x04, 0, 0, 1, 0])
        .await
        .expect("send");
    raw.io.flush().await.expect("flush");
    let answer = raw.response().await.expect("an error answer");
    assert_eq!(first_error(&answer), Some(4002));
    assert!(raw.response().await.is_none());
    still_serving(&sandbox).await;
}
