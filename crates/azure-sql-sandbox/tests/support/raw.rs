//! A raw TDS client for tests that must choose every byte: TDS 8.0 (TLS first, rustls trusting
//! the test CA), hand-built PRELOGIN, LOGIN7 and requests, and a reader of the answers.

use super::tds::*;
use azure_sql_sandbox::tds::packet::{frame_message, MessageReader, MessageType};
use rustls_pki_types::pem::PemObject;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A TDS 7.4 LOGIN7: a SQL login, or with `fedauth` (the FEDAUTH feature's data) a token login.
pub fn login7(user: &str, password: &str, database: &str, fedauth: Option<Vec<u8>>) -> Vec<u8> {
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
    let option3 = if fedauth.is_some() { 0x10 } else { 0x00 };
    fixed.extend_from_slice(&[0xE0, 0x03, 0x00, option3]);
    fixed.extend_from_slice(&[0; 4]);
    fixed.extend_from_slice(&0x0409u32.to_le_bytes());
    let mut data = Vec::new();
    let mut extension_at = 0;
    for (i, field) in fields.iter().enumerate() {
        if i == 5 {
            extension_at = fixed.len();
            fixed.extend_from_slice(&[0; 4]);
            continue;
        }
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
    if let Some(feature) = fedauth {
        let pointer_at = 94 + data.len();
        fixed[extension_at..extension_at + 2].copy_from_slice(&(pointer_at as u16).to_le_bytes());
        fixed[extension_at + 2..extension_at + 4].copy_from_slice(&4u16.to_le_bytes());
        data.extend_from_slice(&((pointer_at + 4) as u32).to_le_bytes());
        data.push(0x02);
        data.extend_from_slice(&(feature.len() as u32).to_le_bytes());
        data.extend_from_slice(&feature);
        data.push(0xFF);
    }
    fixed.extend_from_slice(&data);
    let len = fixed.len() as u32;
    fixed[..4].copy_from_slice(&len.to_le_bytes());
    fixed
}

/// The FEDAUTH feature data asking for the ADAL/MSAL workflow (`echo`: the server said
/// FEDAUTHREQUIRED).
pub fn msal_feature(echo: bool, workflow: u8) -> Vec<u8> {
    vec![(0x02 << 1) | u8::from(echo), workflow]
}

/// The FEDAUTH feature data carrying a token (security-token library).
pub fn token_feature(token: &str, echo: bool) -> Vec<u8> {
    let t = utf16(token);
    let mut f = vec![(0x01 << 1) | u8::from(echo)];
    f.extend_from_slice(&(t.len() as u32).to_le_bytes());
    f.extend_from_slice(&t);
    f
}

/// The FEDAUTH feature data carrying a token and the server's PRELOGIN nonce echoed after it.
pub fn token_feature_with_nonce(token: &str, echo: bool, nonce: [u8; 32]) -> Vec<u8> {
    let mut f = token_feature(token, echo);
    f.extend_from_slice(&nonce);
    f
}

/// A FEDAUTH message (packet type 0x08) carrying a token, as tedious sends it.
pub fn fedauth_token_message(token: &str) -> Vec<u8> {
    fedauth_token_message_with(token, None)
}

/// A FEDAUTH message carrying a token and, when given, the server's PRELOGIN nonce.
pub fn fedauth_token_message_with(token: &str, nonce: Option<[u8; 32]>) -> Vec<u8> {
    let t = utf16(token);
    let nonce_len = nonce.map_or(0, |n| n.len());
    let mut m = ((t.len() + 4 + nonce_len) as u32).to_le_bytes().to_vec();
    m.extend_from_slice(&(t.len() as u32).to_le_bytes());
    m.extend_from_slice(&t);
    if let Some(n) = nonce {
        m.extend_from_slice(&n);
    }
    m
}

/// A PRELOGIN with FEDAUTHREQUIRED and a client nonce (ENCRYPT_ON), as a client that sends
/// NONCEOPT writes it.
pub fn prelogin_with_nonce(nonce: [u8; 32]) -> Vec<u8> {
    azure_sql_sandbox::tds::prelogin::PreloginResponse {
        version: (16, 0, 0),
        encryption: azure_sql_sandbox::tds::prelogin::encryption::ON,
        fed_auth_required: Some(true),
        nonce: Some(nonce),
    }
    .encode()
}

/// The nonce of the server's PRELOGIN answer, if it sent one.
pub fn server_nonce(answer: &[u8]) -> Option<[u8; 32]> {
    azure_sql_sandbox::tds::prelogin::PreloginRequest::parse(answer)
        .expect("a PRELOGIN answer")
        .nonce
}

/// The data of the FEDAUTH acknowledgement in a login answer's FEATUREEXTACK.
pub fn fedauth_ack(tokens: &[u8]) -> Option<Vec<u8>> {
    let at = tokens.windows(2).position(|w| w == [0xAE, 0x02])?;
    let len = tokens.get(at + 2..at + 6)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    tokens.get(at + 6..at + 6 + len).map(<[u8]>::to_vec)
}

/// A PRELOGIN with VERSION and ENCRYPTION (REQ), and FEDAUTHREQUIRED when `fedauth`.
pub fn prelogin_with(fedauth: bool) -> Vec<u8> {
    let options = if fedauth { 3 } else { 2 };
    let data_at = options * 5 + 1;
    let mut p = vec![
        0x00,
        0x00,
        data_at as u8,
        0x00,
        0x06,
        0x01,
        0x00,
        (data_at + 6) as u8,
        0x00,
        0x01,
    ];
    if fedauth {
        p.extend_from_slice(&[0x06, 0x00, (data_at + 7) as u8, 0x00, 0x01]);
    }
    p.push(0xFF);
    p.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0x03]);
    if fedauth {
        p.push(0x01);
    }
    p
}

pub fn prelogin() -> Vec<u8> {
    prelogin_with(false)
}

pub fn all_headers() -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&22u32.to_le_bytes());
    h.extend_from_slice(&18u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&1u32.to_le_bytes());
    h
}

pub fn batch(text: &str) -> Vec<u8> {
    let mut b = all_headers();
    b.extend_from_slice(&utf16(text));
    b
}

pub struct Raw<S> {
    pub io: S,
    pub reader: MessageReader,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    pub async fn send(&mut self, ty: MessageType, payload: &[u8]) -> std::io::Result<()> {
        let mut wire = Vec::new();
        frame_message(&mut wire, ty, 0, payload, 4096);
        self.io.write_all(&wire).await?;
        self.io.flush().await
    }

    /// Sends a message whose first packet asks for a session reset (RESETCONNECTION).
    pub async fn send_resetting(&mut self, ty: MessageType, payload: &[u8]) -> std::io::Result<()> {
        self.send_with_status(ty, payload, RESETCONNECTION).await
    }

    /// Sends a message whose first packet carries these status bits too (reset bits).
    pub async fn send_with_status(
        &mut self,
        ty: MessageType,
        payload: &[u8],
        bits: u8,
    ) -> std::io::Result<()> {
        let mut wire = Vec::new();
        frame_message(&mut wire, ty, 0, payload, 4096);
        wire[1] |= bits;
        self.io.write_all(&wire).await?;
        self.io.flush().await
    }

    /// Sends a batch (with these status bits on its first packet) and returns the response.
    pub async fn ask(&mut self, bits: u8, sql: &str) -> Vec<u8> {
        self.send_with_status(MessageType::SQL_BATCH, &batch(sql), bits)
            .await
            .expect("send");
        self.response().await.expect("a response")
    }

    /// Sends a token LOGIN7 (no user, the test database) with the FEDAUTH feature `feature`.
    pub async fn send_fedauth_login(&mut self, feature: Vec<u8>) {
        self.send(
            MessageType::LOGIN7,
            &login7("", "", DATABASE, Some(feature)),
        )
        .await
        .expect("login");
    }

    /// The next response, or `None` when the server closed the connection.
    pub async fn response(&mut self) -> Option<Vec<u8>> {
        match self.reader.next(&mut self.io).await {
            Ok(Some(m)) => {
                assert_eq!(m.ty, MessageType::TABULAR_RESULT);
                Some(m.payload)
            }
            _ => None,
        }
    }
}

/// The RESETCONNECTION status bit (MS-TDS 2.2.3.1.2).
pub const RESETCONNECTION: u8 = 0x08;
/// The RESETCONNECTIONSKIPTRAN status bit.
pub const RESETCONNECTIONSKIPTRAN: u8 = 0x10;
/// The bytes a response starts with when it acknowledges a reset: ENVCHANGE type 18, empty.
pub const RESET_ACK: [u8; 6] = [0xE3, 3, 0, 18, 0, 0];

/// Whether a response carries `text` as UTF-16 (a value of an `NVARCHAR` column): tests select
/// `CONCAT(N'label=', value)` and look for the label and value together.
pub fn shows(tokens: &[u8], text: &str) -> bool {
    let needle = utf16(text);
    tokens.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// The first ENVCHANGE of `ty` in a response: its new and old values.
pub fn envchange(tokens: &[u8], ty: u8) -> Option<(Vec<u8>, Vec<u8>)> {
    let at = tokens
        .windows(4)
        .position(|w| w[0] == 0xE3 && w[3] == ty && u16::from_le_bytes([w[1], w[2]]) >= 3)?;
    let body = &tokens[at + 4..];
    let new_len = usize::from(*body.first()?);
    let new = body.get(1..1 + new_len)?.to_vec();
    let old_len = usize::from(*body.get(1 + new_len)?);
    let old = body.get(2 + new_len..2 + new_len + old_len)?.to_vec();
    Some((new, old))
}

/// The status of the DONE tokens (0xFD) that close a statement.
pub fn done_statuses(tokens: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = tokens[at..].iter().position(|b| *b == 0xFD) {
        let i = at + i;
        if tokens.len() >= i + 13 {
            out.push(u16::from_le_bytes([tokens[i + 1], tokens[i + 2]]));
        }
        at = i + 1;
    }
    out
}

/// The number of the first ERROR token in a response, if any.
pub fn first_error(tokens: &[u8]) -> Option<u32> {
    let at = tokens.iter().position(|b| *b == 0xAA)?;
    let n = tokens.get(at + 3..at + 7)?;
    Some(u32::from_le_bytes([n[0], n[1], n[2], n[3]]))
}

pub async fn strict(sandbox: &Sandbox) -> Raw<tokio_rustls::client::TlsStream<TcpStream>> {
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

/// A TDS 8.0 connection that has sent `prelogin` and read the answer (returned).
pub async fn after_prelogin(sandbox: &Sandbox, prelogin: &[u8]) -> (StrictRaw, Vec<u8>) {
    let mut raw = strict(sandbox).await;
    raw.send(MessageType::PRELOGIN, prelogin)
        .await
        .expect("prelogin");
    let answer = raw.response().await.expect("prelogin answer");
    (raw, answer)
}

/// A TDS 8.0 connection that has sent PRELOGIN with FEDAUTHREQUIRED, then a LOGIN7 with the
/// FEDAUTH feature `feature` (the answer is the caller's to read).
pub async fn fedauth_login(sandbox: &Sandbox, feature: Vec<u8>) -> StrictRaw {
    let (mut raw, _) = after_prelogin(sandbox, &prelogin_with(true)).await;
    raw.send(
        MessageType::LOGIN7,
        &login7("", "", DATABASE, Some(feature)),
    )
    .await
    .expect("login");
    raw
}

/// The raw client over TLS-first.
pub type StrictRaw = Raw<tokio_rustls::client::TlsStream<TcpStream>>;

pub async fn logged_in(sandbox: &Sandbox) -> StrictRaw {
    let (mut raw, _) = after_prelogin(sandbox, &prelogin()).await;
    raw.send(
        MessageType::LOGIN7,
        &login7(ADMIN_USER, ADMIN_PASSWORD, DATABASE, None),
    )
    .await
    .expect("login");
    let answer = raw.response().await.expect("login answer");
    assert!(answer.contains(&0xAD), "LOGINACK in {answer:?}");
    raw
}

/// A typed RPC parameter value, encoded as Microsoft's drivers send it.
pub enum Param<'a> {
    /// INTN(4), or NULL.
    Int(Option<i32>),
    /// BITN.
    Bit(bool),
    /// NVARCHAR(4000).
    NVarChar(&'a str),
    /// NTEXT (ODBC sends long declarations so).
    NText(&'a str),
}

/// One RPC parameter: name (may be empty), output flag and value.
pub fn rpc_param(out: &mut Vec<u8>, name: &str, output: bool, value: Param<'_>) {
    let units = utf16(name);
    out.push((units.len() / 2) as u8);
    out.extend_from_slice(&units);
    out.push(u8::from(output));
    const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];
    match value {
        Param::Int(v) => {
            out.extend_from_slice(&[0x26, 4]);
            match v {
                Some(v) => {
                    out.push(4);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                None => out.push(0),
            }
        }
        Param::Bit(b) => out.extend_from_slice(&[0x68, 1, 1, u8::from(b)]),
        Param::NVarChar(s) => {
            out.extend_from_slice(&[0xE7, 0x40, 0x1F]);
            out.extend_from_slice(&COLLATION);
            let t = utf16(s);
            out.extend_from_slice(&(t.len() as u16).to_le_bytes());
            out.extend_from_slice(&t);
        }
        Param::NText(s) => {
            out.extend_from_slice(&[0x63, 0xFF, 0xFF, 0xFF, 0x7F]);
            out.extend_from_slice(&COLLATION);
            let t = utf16(s);
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(&t);
        }
    }
}

/// An RPC request by ProcID with these option flags and parameters.
pub fn rpc_by_id(proc_id: u16, options: u16, params: Vec<(&str, bool, Param<'_>)>) -> Vec<u8> {
    let mut out = all_headers();
    out.extend_from_slice(&0xFFFFu16.to_le_bytes());
    out.extend_from_slice(&proc_id.to_le_bytes());
    out.extend_from_slice(&options.to_le_bytes());
    for (name, output, value) in params {
        rpc_param(&mut out, name, output, value);
    }
    out
}

/// The value of the first RETURNVALUE token carrying an INTN, if any (the prepared handle).
pub fn returned_int(tokens: &[u8]) -> Option<i32> {
    // RETURNVALUE, ordinal, empty name, status 1, user type, flags, INTN(4), length 4.
    let at = tokens.windows(14).position(|w| {
        w[0] == 0xAC && w[3] == 0 && w[4] == 0x01 && w[11] == 0x26 && w[12] == 4 && w[13] == 4
    })?;
    let v = tokens.get(at + 14..at + 18)?;
    Some(i32::from_le_bytes([v[0], v[1], v[2], v[3]]))
}
