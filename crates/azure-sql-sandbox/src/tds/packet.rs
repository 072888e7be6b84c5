//! Packet framing (MS-TDS 2.2.3): the 8-byte header, messages made of packets up to the one with
//! the EOM bit, and the splitting of a response into packets of the negotiated size.
//!
//! [`MessageReader`] is cancel-safe: everything it has read lives in its own buffer, so a session
//! can race "the next message" against a timer (to notice an ATTENTION during a delayed query)
//! without losing bytes.

use super::error::CodecError;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes in a packet header.
pub const HEADER_LEN: usize = 8;

/// The packet size before LOGIN7 negotiates another (and the size PRELOGIN answers use).
pub const DEFAULT_PACKET_SIZE: usize = 4096;

/// The smallest and largest packet sizes a client may negotiate (ENVCHANGE packet size rules).
pub const PACKET_SIZE_RANGE: std::ops::RangeInclusive<u32> = 512..=32767;

/// A packet (and message) type, the first byte of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageType(pub u8);

impl MessageType {
    /// SQL batch.
    pub const SQL_BATCH: Self = Self(0x01);
    /// Pre-TDS7 login (refused).
    pub const PRE_TDS7_LOGIN: Self = Self(0x02);
    /// Remote procedure call.
    pub const RPC: Self = Self(0x03);
    /// Tabular result: every server response.
    pub const TABULAR_RESULT: Self = Self(0x04);
    /// Attention signal (cancel the running request).
    pub const ATTENTION: Self = Self(0x06);
    /// Bulk load data.
    pub const BULK_LOAD: Self = Self(0x07);
    /// Federated authentication token (the MSAL/ADAL workflow's second leg).
    pub const FEDAUTH_TOKEN: Self = Self(0x08);
    /// Transaction manager request.
    pub const TRANSACTION_MANAGER: Self = Self(0x0E);
    /// LOGIN7.
    pub const LOGIN7: Self = Self(0x10);
    /// SSPI (integrated authentication) continuation.
    pub const SSPI: Self = Self(0x11);
    /// PRELOGIN (also carries the TLS handshake in TDS 7.x).
    pub const PRELOGIN: Self = Self(0x12);

    /// A name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::SQL_BATCH => "SQLBatch",
            Self::PRE_TDS7_LOGIN => "pre-TDS7 login",
            Self::RPC => "RPC",
            Self::TABULAR_RESULT => "tabular result",
            Self::ATTENTION => "attention",
            Self::BULK_LOAD => "bulk load",
            Self::FEDAUTH_TOKEN => "federated authentication token",
            Self::TRANSACTION_MANAGER => "transaction manager request",
            Self::LOGIN7 => "LOGIN7",
            Self::SSPI => "SSPI",
            Self::PRELOGIN => "PRELOGIN",
            _ => "unknown",
        }
    }
}

/// Status bits of a packet header.
pub mod status {
    /// Last packet of the message.
    pub const EOM: u8 = 0x01;
    /// The client abandons the message: ignore it (sent with EOM).
    pub const IGNORE: u8 = 0x02;
    /// RESETCONNECTION: reset the session before running this request (connection pools send
    /// it on reuse).
    pub const RESET_CONNECTION: u8 = 0x08;
    /// RESETCONNECTIONSKIPTRAN: reset the session but keep its transaction state.
    pub const RESET_CONNECTION_SKIP_TRAN: u8 = 0x10;
}

/// The session reset a request asks for (MS-TDS 2.2.3.1.2 "Status": RESETCONNECTION "effectively
/// simulating a logout and a subsequent login"; RESETCONNECTIONSKIPTRAN the same "but do not
/// modify the transaction state").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// RESETCONNECTION (0x08): everything, an open transaction rolled back.
    Session,
    /// RESETCONNECTIONSKIPTRAN (0x10): everything but the transaction, which stays open.
    KeepTransaction,
}

/// A packet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketHeader {
    /// What the message is.
    pub ty: MessageType,
    /// Status bits ([`status`]).
    pub status: u8,
    /// Length of the packet including this header.
    pub length: u16,
    /// The server process id of the session (sent by the server, ignored from clients).
    pub spid: u16,
    /// Packet number within the message, wrapping at 255.
    pub packet_id: u8,
}

impl PacketHeader {
    /// Parses the first 8 bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() < HEADER_LEN {
            return Err(CodecError::Truncated {
                what: "packet header",
                offset: 0,
                needed: HEADER_LEN - bytes.len(),
            });
        }
        let header = Self {
            ty: MessageType(bytes[0]),
            status: bytes[1],
            length: u16::from_be_bytes([bytes[2], bytes[3]]),
            spid: u16::from_be_bytes([bytes[4], bytes[5]]),
            packet_id: bytes[6],
        };
        if (header.length as usize) < HEADER_LEN {
            return Err(CodecError::invalid(
                "packet header",
                format!("length {} is shorter than the header itself", header.length),
            ));
        }
        Ok(header)
    }

    /// The header's 8 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let len = self.length.to_be_bytes();
        let spid = self.spid.to_be_bytes();
        [
            self.ty.0,
            self.status,
            len[0],
            len[1],
            spid[0],
            spid[1],
            self.packet_id,
            0,
        ]
    }
}

/// A whole client message: the payloads of its packets joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Its type.
    pub ty: MessageType,
    /// The status byte of the message's first packet, where a client asks for a session reset
    /// (MS-TDS: the bit "SHOULD be ignored if it is set in a packet that is not the first packet
    /// of the message"); see [`Message::reset`].
    pub first_status: u8,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// The reset the client asked for before this request, if any. Both bits at once are an
    /// error: MS-TDS 2.2.3.1.2 says RESETCONNECTION "MUST NOT be set in conjunction with the
    /// RESETCONNECTIONSKIPTRAN bit".
    pub fn reset(&self) -> Result<Option<Reset>, CodecError> {
        let full = self.first_status & status::RESET_CONNECTION != 0;
        let keep = self.first_status & status::RESET_CONNECTION_SKIP_TRAN != 0;
        match (full, keep) {
            (false, false) => Ok(None),
            (true, false) => Ok(Some(Reset::Session)),
            (false, true) => Ok(Some(Reset::KeepTransaction)),
            (true, true) => Err(CodecError::invalid(
                "packet header status",
                "RESETCONNECTION (0x08) and RESETCONNECTIONSKIPTRAN (0x10) are both set; \
                 MS-TDS 2.2.3.1.2 says they must not be combined",
            )),
        }
    }
}

/// Why the next message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The transport failed.
    #[error("reading from the client failed: {0}")]
    Io(#[from] std::io::Error),
    /// The packets do not frame a message.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The client closed the connection in the middle of a message.
    #[error("the client closed the connection in the middle of a message ({0} byte(s) pending)")]
    ClosedMidMessage(usize),
}

/// Reads whole messages from a stream of packets. Cancel-safe (see the module docs).
#[derive(Debug)]
pub struct MessageReader {
    buf: Vec<u8>,
    max_message: usize,
    // Incremental scan state over `buf`: the offset of the next unscanned header, the payload
    // bytes of the packets scanned so far, and their type.
    scanned: usize,
    payload_len: usize,
    ty: Option<MessageType>,
}

impl MessageReader {
    /// A reader that refuses messages whose payload exceeds `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            buf: Vec::with_capacity(DEFAULT_PACKET_SIZE),
            max_message,
            scanned: 0,
            payload_len: 0,
            ty: None,
        }
    }

    /// Changes the size limit (after login, requests may be larger than logins).
    pub fn set_max_message(&mut self, max_message: usize) {
        self.max_message = max_message;
    }

    /// Bytes buffered but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Returns the next message, or `None` when the client closed the connection between
    /// messages.
    pub async fn next<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
    ) -> Result<Option<Message>, FrameError> {
        loop {
            if let Some(message) = self.take_message()? {
                return Ok(Some(message));
            }
            let n = io.read_buf(&mut self.buf).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::ClosedMidMessage(self.buf.len()))
                };
            }
        }
    }

    /// Cuts a complete message off the front of the buffer, if one is there.
    fn take_message(&mut self) -> Result<Option<Message>, CodecError> {
        loop {
            let rest = &self.buf[self.scanned..];
            if rest.len() < HEADER_LEN {
                return Ok(None);
            }
            let header = PacketHeader::parse(rest)?;
            match self.ty {
                None => self.ty = Some(header.ty),
                Some(ty) if ty != header.ty => {
                    return Err(CodecError::invalid(
                        "packet header",
                        format!(
                            "a {} packet (0x{:02X}) arrived in the middle of a {} message",
                            header.ty.name(),
                            header.ty.0,
                            ty.name()
                        ),
                    ))
                }
                Some(_) => {}
            }
            let body = header.length as usize - HEADER_LEN;
            if self.payload_len + body > self.max_message {
                return Err(CodecError::invalid(
                    "message",
                    format!(
                        "a {} message is larger than the {} bytes this server accepts",
                        header.ty.name(),
                        self.max_message
                    ),
                ));
            }
            if rest.len() < header.length as usize {
                return Ok(None);
            }
            self.scanned += header.length as usize;
            self.payload_len += body;
            if header.status & status::EOM == 0 {
                continue;
            }

            // A complete message: join the payloads and drop the packets from the buffer.
            let mut payload = Vec::with_capacity(self.payload_len);
            let mut at = 0;
            let mut first_status = None;
            while at < self.scanned {
                let h = PacketHeader::parse(&self.buf[at..])?;
                first_status.get_or_insert(h.status);
                payload.extend_from_slice(&self.buf[at + HEADER_LEN..at + h.length as usize]);
                at += h.length as usize;
            }
            self.buf.drain(..self.scanned);
            self.scanned = 0;
            self.payload_len = 0;
            let ty = header.ty;
            self.ty = None;
            if header.status & status::IGNORE != 0 {
                // The client abandoned this message; look for the next one.
                continue;
            }
            return Ok(Some(Message {
                ty,
                first_status: first_status.unwrap_or(header.status),
                payload,
            }));
        }
    }
}

/// Splits `payload` into packets of at most `packet_size` bytes (header included), numbered from
/// 1, the last one flagged EOM, and appends them to `out`.
pub fn frame_message(
    out: &mut Vec<u8>,
    ty: MessageType,
    spid: u16,
    payload: &[u8],
    packet_size: usize,
) {
    let chunk = packet_size.clamp(HEADER_LEN + 1, u16::MAX as usize) - HEADER_LEN;
    let mut packet_id: u8 = 1;
    let mut chunks = payload.chunks(chunk).peekable();
    if chunks.peek().is_none() {
        let header = PacketHeader {
            ty,
            status: status::EOM,
            length: HEADER_LEN as u16,
            spid,
            packet_id,
        };
        out.extend_from_slice(&header.encode());
        return;
    }
    while let Some(part) = chunks.next() {
        let last = chunks.peek().is_none();
        let header = PacketHeader {
            ty,
            status: if last { status::EOM } else { 0 },
            length: (HEADER_LEN + part.len()) as u16,
            spid,
            packet_id,
        };
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(part);
        packet_id = packet_id.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(ty: u8, status: u8, id: u8, body: &[u8]) -> Vec<u8> {
        let mut p = PacketHeader {
            ty: MessageType(ty),
            status,
            length: (HEADER_LEN + body.len()) as u16,
            spid: 0,
            packet_id: id,
        }
        .encode()
        .to_vec();
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn header_is_byte_exact_with_the_spec_login_example() {
        // MS-TDS 4.2: "10 01 00 90 00 00 01 00".
        let h = PacketHeader::parse(&[0x10, 0x01, 0x00, 0x90, 0x00, 0x00, 0x01, 0x00]).unwrap();
        assert_eq!(h.ty, MessageType::LOGIN7);
        assert_eq!(h.status, status::EOM);
        assert_eq!(h.length, 0x90);
        assert_eq!(h.packet_id, 1);
        assert_eq!(h.encode(), [0x10, 0x01, 0x00, 0x90, 0x00, 0x00, 0x01, 0x00]);
    }

    #[test]
    fn a_header_shorter_than_itself_is_refused() {
        assert!(PacketHeader::parse(&[0x12, 0x01, 0x00, 0x04, 0, 0, 0, 0]).is_err());
    }

    #[tokio::test]
    async fn joins_packets_until_eom() {
        let mut wire = packet(0x01, 0, 1, b"ab");
        wire.extend(packet(
            0x01,
            status::EOM | status::RESET_CONNECTION,
            2,
            b"cd",
        ));
        wire.extend(packet(0x06, status::EOM, 1, b""));
        let mut reader = MessageReader::new(1024);
        let mut io = &wire[..];
        let m = reader.next(&mut io).await.unwrap().unwrap();
        assert_eq!(m.ty, MessageType::SQL_BATCH);
        assert_eq!(m.payload, b"abcd");
        assert_eq!(
            m.reset(),
            Ok(None),
            "reset is read from the first packet only"
        );
        let m = reader.next(&mut io).await.unwrap().unwrap();
        assert_eq!(m.ty, MessageType::ATTENTION);
        assert!(m.payload.is_empty());
        assert!(reader.next(&mut io).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_two_reset_bits_are_told_apart_and_refused_together() {
        let mut wire = Vec::new();
        for bits in [
            0,
            status::RESET_CONNECTION,
            status::RESET_CONNECTION_SKIP_TRAN,
            status::RESET_CONNECTION | status::RESET_CONNECTION_SKIP_TRAN,
        ] {
            wire.extend(packet(0x01, status::EOM | bits, 1, b"x"));
        }
        let mut reader = MessageReader::new(1024);
        let mut resets = Vec::new();
        let mut rest = &wire[..];
        while let Some(m) = reader.next(&mut rest).await.unwrap() {
            resets.push(m.reset());
        }
        assert_eq!(resets[0], Ok(None));
        assert_eq!(resets[1], Ok(Some(Reset::Session)));
        assert_eq!(resets[2], Ok(Some(Reset::KeepTransaction)));
        let err = resets[3].clone().unwrap_err().to_string();
        assert!(err.contains("must not be combined"), "{err}");
    }

    #[tokio::test]
    async fn ignored_messages_are_skipped() {
        let mut wire = packet(0x01, 0, 1, b"ab");
        wire.extend(packet(0x01, status::EOM | status::IGNORE, 2, b"cd"));
        wire.extend(packet(0x01, status::EOM, 1, b"ef"));
        let mut io = &wire[..];
        let m = MessageReader::new(1024)
            .next(&mut io)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.payload, b"ef");
    }

    #[tokio::test]
    async fn mixed_types_truncation_and_size_limits_are_errors() {
        let mut wire = packet(0x01, 0, 1, b"ab");
        wire.extend(packet(0x03, status::EOM, 2, b"cd"));
        let mut io = &wire[..];
        assert!(matches!(
            MessageReader::new(1024).next(&mut io).await,
            Err(FrameError::Codec(_))
        ));

        let wire = packet(0x01, status::EOM, 1, b"abcdef");
        let mut io = &wire[..wire.len() - 2];
        assert!(matches!(
            MessageReader::new(1024).next(&mut io).await,
            Err(FrameError::ClosedMidMessage(_))
        ));

        let mut io = &wire[..];
        assert!(matches!(
            MessageReader::new(4).next(&mut io).await,
            Err(FrameError::Codec(_))
        ));
    }

    #[tokio::test]
    async fn framing_splits_and_rejoins() {
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        frame_message(&mut wire, MessageType::TABULAR_RESULT, 51, &payload, 512);
        // 504 payload bytes per packet: 2 packets.
        assert_eq!(wire.len(), 1000 + 2 * HEADER_LEN);
        let first = PacketHeader::parse(&wire).unwrap();
        assert_eq!(
            (first.status, first.length, first.spid, first.packet_id),
            (0, 512, 51, 1)
        );
        let second = PacketHeader::parse(&wire[512..]).unwrap();
        assert_eq!((second.status, second.packet_id), (status::EOM, 2));
        let mut io = &wire[..];
        let m = MessageReader::new(4096)
            .next(&mut io)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.payload, payload);
    }

    #[test]
    fn an_empty_message_is_one_header() {
        let mut wire = Vec::new();
        frame_message(&mut wire, MessageType::TABULAR_RESULT, 0, &[], 4096);
        assert_eq!(wire, [0x04, 0x01, 0x00, 0x08, 0, 0, 1, 0]);
    }
}
