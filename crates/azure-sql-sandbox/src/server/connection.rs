//! One connection up to its login: the first byte decides TDS 7.x (PRELOGIN in the clear, then
//! TLS inside PRELOGIN packets) or TDS 8.0 (TLS first, PRELOGIN inside it); then [`Conn`], the
//! encrypted TDS conversation the login and the session's requests travel on.

use super::shared::Shared;
use crate::tds::packet::{
    frame_message, FrameError, Message, MessageReader, MessageType, DEFAULT_PACKET_SIZE,
};
use crate::tds::prelogin::{negotiate_encryption, Negotiated, PreloginRequest, PreloginResponse};
use crate::tds::prelogin_tls::PreloginTls;
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest PRELOGIN or LOGIN7 message accepted (MS-TDS caps LOGIN7 at 128 KiB).
const MAX_LOGIN_MESSAGE: usize = 128 * 1024;

/// Why a session ended early (logged, never sent).
#[derive(Debug, thiserror::Error)]
pub(super) enum SessionError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("{0}")]
    Protocol(String),
    /// [`crate::Faults::stall_sessions`] stalled the session.
    #[error("the session was stalled by a fault")]
    Stalled,
}

pub(super) type Tls = tokio_rustls::server::TlsStream<PreloginTls<TcpStream>>;

/// One connection's TDS conversation after TLS.
pub(super) struct Conn {
    pub(super) stream: Tls,
    pub(super) reader: MessageReader,
    spid: u16,
    pub(super) packet_size: usize,
    pub(super) peer: SocketAddr,
}

impl Conn {
    pub(super) async fn next(&mut self) -> Result<Option<Message>, FrameError> {
        let message = self.reader.next(&mut self.stream).await?;
        if let Some(m) = &message {
            super::capture::record(m);
        }
        Ok(message)
    }

    pub(super) async fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut wire = Vec::with_capacity(payload.len() + 64);
        frame_message(
            &mut wire,
            MessageType::TABULAR_RESULT,
            self.spid,
            payload,
            self.packet_size,
        );
        self.stream.write_all(&wire).await?;
        self.stream.flush().await
    }

    /// Sends part of the response, then resets the connection (the "reset mid-response" fault).
    pub(super) async fn send_then_reset(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut wire = Vec::new();
        frame_message(
            &mut wire,
            MessageType::TABULAR_RESULT,
            self.spid,
            payload,
            self.packet_size,
        );
        let cut = (wire.len() / 2).max(9).min(wire.len());
        self.stream.write_all(&wire[..cut]).await?;
        self.stream.flush().await?;
        self.stream.get_ref().0.get_ref().set_zero_linger()?;
        tracing::info!(peer = %self.peer, sent = cut, of = wire.len(), "fault: resetting the connection mid-response");
        Ok(())
    }

    pub(super) async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }
}

pub(super) async fn read_message<S: AsyncRead + Unpin>(
    reader: &mut MessageReader,
    io: &mut S,
    expected: MessageType,
) -> Result<Option<Message>, SessionError> {
    let message = reader.next(io).await?;
    if let Some(m) = &message {
        super::capture::record(m);
    }
    match message {
        None => Ok(None),
        Some(m) if m.ty == expected => Ok(Some(m)),
        Some(m) => Err(SessionError::Protocol(format!(
            "the client sent a {} message (0x{:02X}) where {} was expected",
            m.ty.name(),
            m.ty.0,
            expected.name()
        ))),
    }
}

pub(super) async fn write_raw<S: AsyncWrite + Unpin>(
    io: &mut S,
    spid: u16,
    payload: &[u8],
) -> io::Result<()> {
    let mut wire = Vec::new();
    frame_message(
        &mut wire,
        MessageType::TABULAR_RESULT,
        spid,
        payload,
        DEFAULT_PACKET_SIZE,
    );
    io.write_all(&wire).await?;
    io.flush().await
}

/// What the PRELOGIN exchange settled, for the login that follows.
pub(super) struct Prelogin {
    /// What the client sent.
    pub(super) request: PreloginRequest,
    /// The nonce the server answered with, which a FEDAUTH login must echo.
    pub(super) server_nonce: Option<[u8; 32]>,
}

pub(super) fn prelogin_answer(request: &PreloginRequest) -> (PreloginResponse, Negotiated) {
    let (encryption, negotiated) = negotiate_encryption(request.encryption);
    let response = PreloginResponse {
        version: (12, 0, 2000),
        encryption,
        fed_auth_required: request.fed_auth_required.then_some(true),
        nonce: request.nonce.map(|_| rand::random::<[u8; 32]>()),
    };
    (response, negotiated)
}

/// PRELOGIN and TLS, both ways; returns the encrypted connection and what PRELOGIN settled.
pub(super) async fn handshake(
    shared: &Shared,
    mut tcp: TcpStream,
    peer: SocketAddr,
    spid: u16,
) -> Result<Option<(Conn, Prelogin)>, SessionError> {
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 {
        return Ok(None);
    }
    match first[0] {
        0x16 => {
            // TDS 8.0: TLS first, then PRELOGIN inside it.
            let mut stream = shared
                .strict_tls
                .accept(PreloginTls::new(tcp, false))
                .await?;
            let mut reader = MessageReader::new(MAX_LOGIN_MESSAGE);
            let Some(message) =
                read_message(&mut reader, &mut stream, MessageType::PRELOGIN).await?
            else {
                return Ok(None);
            };
            let request = PreloginRequest::parse(&message.payload)
                .map_err(|e| SessionError::Protocol(e.to_string()))?;
            let (response, _) = prelogin_answer(&request);
            write_raw(&mut stream, spid, &response.encode()).await?;
            tracing::debug!(%peer, "TDS 8.0 (strict) handshake done");
            let conn = Conn {
                stream,
                reader,
                spid,
                packet_size: DEFAULT_PACKET_SIZE,
                peer,
            };
            let prelogin = Prelogin {
                request,
                server_nonce: response.nonce,
            };
            Ok(Some((conn, prelogin)))
        }
        0x12 => {
            // TDS 7.x: PRELOGIN in the clear, then TLS inside PRELOGIN packets.
            let mut reader = MessageReader::new(MAX_LOGIN_MESSAGE);
            let Some(message) = read_message(&mut reader, &mut tcp, MessageType::PRELOGIN).await?
            else {
                return Ok(None);
            };
            let request = PreloginRequest::parse(&message.payload)
                .map_err(|e| SessionError::Protocol(e.to_string()))?;
            let (response, negotiated) = prelogin_answer(&request);
            write_raw(&mut tcp, spid, &response.encode()).await?;
            if negotiated == Negotiated::Refuse {
                tracing::warn!(%peer, "refused a client that cannot encrypt (Azure SQL requires encryption)");
                return Ok(None);
            }
            if reader.buffered() > 0 {
                return Err(SessionError::Protocol(
                    "the client sent data before the TLS handshake".into(),
                ));
            }
            let mut stream = shared
                .prelogin_tls
                .accept(PreloginTls::new(tcp, true))
                .await?;
            stream.get_mut().0.handshake_done();
            tracing::debug!(%peer, "TDS 7.x handshake done (TLS in PRELOGIN)");
            let conn = Conn {
                stream,
                reader,
                spid,
                packet_size: DEFAULT_PACKET_SIZE,
                peer,
            };
            let prelogin = Prelogin {
                request,
                server_nonce: response.nonce,
            };
            Ok(Some((conn, prelogin)))
        }
        other => Err(SessionError::Protocol(format!(
            "the first byte 0x{other:02X} is neither a PRELOGIN packet nor a TLS handshake"
        ))),
    }
}
