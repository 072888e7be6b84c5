//! Garbage and truncated input at every stage of a connection — the first bytes, PRELOGIN,
//! LOGIN7, packets and requests on a logged-in session — gets a protocol error or a closed
//! connection, never a panic, and the server goes on serving everyone else.
//!
//! These tests speak raw TDS: TDS 8.0 (TLS first, with a rustls client trusting the test CA) so
//! the bytes inside TLS are entirely the test's to choose.

mod tds_support;

use azure_sql_sandbox::tds::packet::{frame_message, MessageReader, MessageType};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use tds_support::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A TDS 7.4 LOGIN7 for a SQL login (no FeatureExt).
fn sql_login7(user: &str, password: &str, database: &str) -> Vec<u8> {
    let fields = [
        "test-host",
        user,
        password,
        "raw-test",
        "localhost",
        "",
        "raw",
        "",
        database,
    ];
    let mut fixed = Vec::new();
    fixed.extend_from_slice(&[0; 4]);
    fixed.extend_from_slice(&0x7400_0004u32.to_le_bytes());
    fixed.extend_from_slice(&4096u32.to_le_bytes());
    fixed.extend_from_slice(&[0; 12]);
    fixed.extend_from_slice(&[0xE0, 0x03, 0x00, 0x00]);
    fixed.extend_from_slice(&[0; 4]);
    fixed.extend_from_slice(&0x0409u32.to_le_bytes());
    let mut data = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let mut bytes = utf16(field);
        if i == 2 {
            bytes = bytes.iter().map(|b| b.rotate_left(4) ^ 0xA5).collect();
        }
        fixed.extend_from_slice(&((94 + data.len()) as u16).to_le_bytes());
        fixed.extend_from_slice(&((bytes.len() / 2) as u16).to_le_bytes());
        data.extend_from_slice(&bytes);
    }
    fixed.extend_from_slice(&[0; 6]);
    for _ in 0..3 {
        fixed.extend_from_slice(&((94 + data.len()) as u16).to_le_bytes());
        fixed.extend_from_slice(&[0, 0]);
    }
    fixed.extend_from_slice(&[0; 4]);
    assert_eq!(fixed.len(), 94);
    fixed.extend_from_slice(&data);
    let len = fixed.len() as u32;
    fixed[..4].copy_from_slice(&len.to_le_bytes());
    fixed
}

fn prelogin() -> Vec<u8> {
    // VERSION, ENCRYPTION (REQ), terminator.
    let mut p = vec![
        0x00, 0x00, 0x0B, 0x00, 0x06, 0x01, 0x00, 0x11, 0x00, 0x01, 0xFF,
    ];
    p.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0x03]);
    p
}

fn all_headers() -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&22u32.to_le_bytes());
    h.extend_from_slice(&18u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&1u32.to_le_bytes());
    h
}

fn batch(text: &str) -> Vec<u8> {
    let mut b = all_headers();
    b.extend_from_slice(&utf16(text));
    b
}

struct Raw<S> {
    io: S,
    reader: MessageReader,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    async fn send(&mut self, ty: MessageType, payload: &[u8]) -> std::io::Result<()> {
        let mut wire = Vec::new();
        frame_message(&mut wire, ty, 0, payload, 4096);
        self.io.write_all(&wire).await?;
        self.io.flush().await
    }

    /// The next response, or `None` when the server closed the connection.
    async fn response(&mut self) -> Option<Vec<u8>> {
        match self.reader.next(&mut self.io).await {
            Ok(Some(m)) => {
                assert_eq!(m.ty, MessageType::TABULAR_RESULT);
                Some(m.payload)
            }
            _ => None,
        }
    }
}

/// The number of the first ERROR token in a response, if any.
fn first_error(tokens: &[u8]) -> Option<u32> {
    let at = tokens.iter().position(|b| *b == 0xAA)?;
    let n = tokens.get(at + 3..at + 7)?;
    Some(u32::from_le_bytes([n[0], n[1], n[2], n[3]]))
}

async fn strict(sandbox: &Sandbox) -> Raw<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&sandbox.pki.ca_pem_path).expect("CA file");
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"tds/8.0".to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", sandbox.server.port()))
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS");
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"tds/8.0"[..]),
        "the server negotiates tds/8.0"
    );
    Raw {
        io: tls,
        reader: MessageReader::new(1 << 20),
    }
}

async fn logged_in(sandbox: &Sandbox) -> Raw<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut raw = strict(sandbox).await;
    raw.send(MessageType::PRELOGIN, &prelogin())
        .await
        .expect("prelogin");
    raw.response().await.expect("prelogin answer");
    raw.send(
        MessageType::LOGIN7,
        &sql_login7(ADMIN_USER, ADMIN_PASSWORD, DATABASE),
    )
    .await
    .expect("login");
    let answer = raw.response().await.expect("login answer");
    assert!(answer.contains(&0xAD), "LOGINACK in {answer:?}");
    raw
}

use rustls_pki_types::pem::PemObject;

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
    let mut login = sql_login7(ADMIN_USER, ADMIN_PASSWORD, DATABASE);
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
