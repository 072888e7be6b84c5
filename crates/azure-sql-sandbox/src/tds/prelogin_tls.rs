//! TLS inside PRELOGIN packets, as TDS 7.x does it (MS-TDS 2.2.6.5): during the handshake every
//! TLS record travels as the payload of PRELOGIN (0x12) packets, both ways; once the handshake is
//! done, TLS records flow raw on the socket and carry TDS packets inside.
//!
//! [`PreloginTls`] is the transport under the server's `tokio_rustls` stream: in handshake mode it
//! unwraps incoming PRELOGIN packets and wraps outgoing TLS bytes into PRELOGIN packets on each
//! flush; [`PreloginTls::handshake_done`] switches it to a plain pass-through. For TDS 8.0
//! (TLS first) it starts in pass-through mode.

use super::packet::{status, MessageType, PacketHeader, DEFAULT_PACKET_SIZE, HEADER_LEN};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The transport adapter (see the module docs).
#[derive(Debug)]
pub struct PreloginTls<S> {
    inner: S,
    handshaking: bool,
    header: [u8; HEADER_LEN],
    header_filled: usize,
    body_remaining: usize,
    pending: Vec<u8>,
    framed: Vec<u8>,
    framed_written: usize,
}

impl<S> PreloginTls<S> {
    /// Wraps `inner`; `handshaking` is true for TDS 7.x (TLS in PRELOGIN), false for TDS 8.0.
    pub fn new(inner: S, handshaking: bool) -> Self {
        Self {
            inner,
            handshaking,
            header: [0; HEADER_LEN],
            header_filled: 0,
            body_remaining: 0,
            pending: Vec::new(),
            framed: Vec::new(),
            framed_written: 0,
        }
    }

    /// Switches to pass-through once the TLS handshake has completed.
    pub fn handshake_done(&mut self) {
        self.handshaking = false;
    }

    /// The transport underneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncWrite + Unpin> PreloginTls<S> {
    fn poll_write_framed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.framed_written < self.framed.len() {
            let n = ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.framed[self.framed_written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.framed_written += n;
        }
        self.framed.clear();
        self.framed_written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PreloginTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.handshaking {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        while this.body_remaining == 0 {
            while this.header_filled < HEADER_LEN {
                let mut hb = ReadBuf::new(&mut this.header[this.header_filled..]);
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut hb))?;
                let n = hb.filled().len();
                if n == 0 {
                    return if this.header_filled == 0 {
                        Poll::Ready(Ok(()))
                    } else {
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the client closed the connection inside a PRELOGIN packet header",
                        )))
                    };
                }
                this.header_filled += n;
            }
            let header = PacketHeader::parse(&this.header)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            if header.ty != MessageType::PRELOGIN {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "expected a PRELOGIN packet carrying the TLS handshake, got a {} packet (0x{:02X})",
                        header.ty.name(),
                        header.ty.0
                    ),
                )));
            }
            this.header_filled = 0;
            this.body_remaining = header.length as usize - HEADER_LEN;
        }
        let mut tmp = [0u8; DEFAULT_PACKET_SIZE];
        let n = this.body_remaining.min(buf.remaining()).min(tmp.len());
        let mut limited = ReadBuf::new(&mut tmp[..n]);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let got = limited.filled().len();
        if got == 0 && n > 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the client closed the connection inside a PRELOGIN packet",
            )));
        }
        buf.put_slice(limited.filled());
        this.body_remaining -= got;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PreloginTls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.handshaking {
            this.pending.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(this.poll_write_framed(cx))?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.pending.is_empty() {
            let chunks: Vec<&[u8]> = this
                .pending
                .chunks(DEFAULT_PACKET_SIZE - HEADER_LEN)
                .collect();
            let last = chunks.len() - 1;
            for (i, chunk) in chunks.into_iter().enumerate() {
                let header = PacketHeader {
                    ty: MessageType::PRELOGIN,
                    status: if i == last { status::EOM } else { 0 },
                    length: (HEADER_LEN + chunk.len()) as u16,
                    spid: 0,
                    packet_id: (i + 1) as u8,
                };
                this.framed.extend_from_slice(&header.encode());
                this.framed.extend_from_slice(chunk);
            }
            this.pending.clear();
        }
        ready!(this.poll_write_framed(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn unwraps_prelogin_packets_while_handshaking() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut wire = Vec::new();
        for (i, part) in [&b"hello "[..], &b"world"[..]].iter().enumerate() {
            let h = PacketHeader {
                ty: MessageType::PRELOGIN,
                status: if i == 1 { status::EOM } else { 0 },
                length: (HEADER_LEN + part.len()) as u16,
                spid: 0,
                packet_id: 1,
            };
            wire.extend_from_slice(&h.encode());
            wire.extend_from_slice(part);
        }
        wire.extend_from_slice(b"raw after");
        client.write_all(&wire).await.unwrap();
        drop(client);

        let mut tls = PreloginTls::new(server, true);
        let mut got = [0u8; 11];
        tls.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello world");
        tls.handshake_done();
        let mut rest = Vec::new();
        tls.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"raw after");
    }

    #[tokio::test]
    async fn wraps_writes_into_prelogin_packets_on_flush() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let mut tls = PreloginTls::new(server, true);
        let big = vec![7u8; 5000];
        tls.write_all(&big).await.unwrap();
        tls.flush().await.unwrap();
        tls.handshake_done();
        tls.write_all(b"raw").await.unwrap();
        tls.flush().await.unwrap();
        drop(tls);

        let mut wire = Vec::new();
        let mut client = client;
        client.read_to_end(&mut wire).await.unwrap();
        let first = PacketHeader::parse(&wire).unwrap();
        assert_eq!(
            (first.ty, first.status, first.length),
            (MessageType::PRELOGIN, 0, 4096)
        );
        let second = PacketHeader::parse(&wire[4096..]).unwrap();
        assert_eq!(second.status, status::EOM);
        assert_eq!(second.length as usize, HEADER_LEN + 5000 - 4088);
        assert_eq!(&wire[4096 + second.length as usize..], b"raw");
    }

    #[tokio::test]
    async fn refuses_other_packets_during_the_handshake() {
        let (mut client, server) = tokio::io::duplex(1024);
        client
            .write_all(&[0x10, 0x01, 0x00, 0x09, 0, 0, 1, 0, 0])
            .await
            .unwrap();
        let mut tls = PreloginTls::new(server, true);
        let mut got = [0u8; 1];
        let err = tls.read(&mut got).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
