//! PRELOGIN (MS-TDS 2.2.6.5): the client's option table (version, encryption, instance, thread id,
//! MARS, trace id, FEDAUTHREQUIRED, nonce) and the server's answer, including the encryption
//! negotiation of a server that, like Azure SQL, requires encryption.

use super::error::CodecError;
use super::wire::Reader;

const VERSION: u8 = 0x00;
const ENCRYPTION: u8 = 0x01;
const INSTOPT: u8 = 0x02;
const THREADID: u8 = 0x03;
const MARS: u8 = 0x04;
const FEDAUTHREQUIRED: u8 = 0x06;
const NONCEOPT: u8 = 0x07;
const TERMINATOR: u8 = 0xFF;

/// The `B_FENCRYPTION` values.
pub mod encryption {
    /// Encryption available but off (only the login is encrypted).
    pub const OFF: u8 = 0x00;
    /// Encryption available and on.
    pub const ON: u8 = 0x01;
    /// Encryption not available.
    pub const NOT_SUP: u8 = 0x02;
    /// Encryption required.
    pub const REQ: u8 = 0x03;
    /// Bit added when the client authenticates with a certificate.
    pub const CLIENT_CERT: u8 = 0x20;
}

/// What the client sent in PRELOGIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreloginRequest {
    /// The client library's version (`UL_VERSION`) and sub-build.
    pub version: (u32, u16),
    /// The client's encryption setting (see [`encryption`]).
    pub encryption: u8,
    /// The instance name the client wants validated, if any.
    pub instance: Option<String>,
    /// The client's thread id, if sent.
    pub thread_id: Option<u32>,
    /// Whether the client asks for MARS.
    pub mars: bool,
    /// Whether the client sent FEDAUTHREQUIRED (it will log in with an Entra token).
    pub fed_auth_required: bool,
    /// The client's nonce, if sent.
    pub nonce: Option<[u8; 32]>,
}

impl PreloginRequest {
    /// Parses a PRELOGIN payload. The first option must be VERSION (MS-TDS 3.3.5.1).
    pub fn parse(payload: &[u8]) -> Result<Self, CodecError> {
        let mut table = Reader::new(payload, "PRELOGIN option table");
        let mut out = PreloginRequest {
            version: (0, 0),
            encryption: encryption::NOT_SUP,
            instance: None,
            thread_id: None,
            mars: false,
            fed_auth_required: false,
            nonce: None,
        };
        let mut first = true;
        let mut saw_encryption = false;
        loop {
            let token = table.u8()?;
            if token == TERMINATOR {
                break;
            }
            let offset = table.u16_be()? as usize;
            let length = table.u16_be()? as usize;
            if first && token != VERSION {
                return Err(CodecError::invalid(
                    "PRELOGIN",
                    format!("the first option is 0x{token:02X}, not VERSION"),
                ));
            }
            first = false;
            if offset > payload.len() || length > payload.len() - offset {
                return Err(CodecError::invalid(
                    "PRELOGIN option table",
                    format!(
                        "option 0x{token:02X} points at bytes {offset}..{} of a {}-byte message",
                        offset + length,
                        payload.len()
                    ),
                ));
            }
            let data = &payload[offset..offset + length];
            let mut r = Reader::new(data, "PRELOGIN option");
            match token {
                VERSION => {
                    r.set_what("PRELOGIN VERSION");
                    out.version = (r.u32_be()?, r.u16_be()?);
                }
                ENCRYPTION => {
                    r.set_what("PRELOGIN ENCRYPTION");
                    out.encryption = r.u8()?;
                    saw_encryption = true;
                }
                INSTOPT => {
                    let name = data.split(|b| *b == 0).next().unwrap_or_default();
                    if !name.is_empty() {
                        out.instance = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
                THREADID if length >= 4 => {
                    r.set_what("PRELOGIN THREADID");
                    out.thread_id = Some(r.u32_be()?);
                }
                MARS => {
                    r.set_what("PRELOGIN MARS");
                    out.mars = r.u8()? != 0;
                }
                FEDAUTHREQUIRED => {
                    r.set_what("PRELOGIN FEDAUTHREQUIRED");
                    out.fed_auth_required = r.u8()? == 0x01;
                }
                NONCEOPT => {
                    r.set_what("PRELOGIN NONCEOPT");
                    let mut nonce = [0u8; 32];
                    nonce.copy_from_slice(r.bytes(32)?);
                    out.nonce = Some(nonce);
                }
                // TRACEID and options newer than this server are accepted and ignored.
                _ => {}
            }
        }
        if first {
            return Err(CodecError::invalid("PRELOGIN", "the option table is empty"));
        }
        if !saw_encryption {
            // A client that says nothing about encryption cannot encrypt.
            out.encryption = encryption::NOT_SUP;
        }
        Ok(out)
    }
}

/// How the session continues after the PRELOGIN exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Negotiated {
    /// Encrypt the whole session (TLS handshake inside PRELOGIN packets next).
    Encrypt,
    /// The client cannot encrypt; Azure SQL refuses such connections.
    Refuse,
}

/// The answer of a server that requires encryption (MS-TDS 2.2.6.5, server ENCRYPT_REQ): the
/// value to send and what follows.
pub fn negotiate_encryption(client: u8) -> (u8, Negotiated) {
    match client & !encryption::CLIENT_CERT {
        encryption::ON | encryption::REQ => (encryption::ON, Negotiated::Encrypt),
        encryption::OFF => (encryption::REQ, Negotiated::Encrypt),
        _ => (encryption::REQ, Negotiated::Refuse),
    }
}

/// The server's PRELOGIN answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreloginResponse {
    /// Product version: major, minor, build.
    pub version: (u8, u8, u16),
    /// The encryption answer (see [`negotiate_encryption`]).
    pub encryption: u8,
    /// `Some(true)` when the client sent FEDAUTHREQUIRED (the server supports federated
    /// authentication); `None` omits the option.
    pub fed_auth_required: Option<bool>,
    /// A server nonce, sent when the client sent one.
    pub nonce: Option<[u8; 32]>,
}

impl PreloginResponse {
    /// The option table and its data, in SQL Server's order: VERSION, ENCRYPTION, INSTOPT
    /// (valid), THREADID (empty), MARS (off), then FEDAUTHREQUIRED and NONCEOPT when present.
    pub fn encode(&self) -> Vec<u8> {
        let (major, minor, build) = self.version;
        let mut version = vec![major, minor];
        version.extend_from_slice(&build.to_be_bytes());
        version.extend_from_slice(&[0, 0]);
        let mut options: Vec<(u8, Vec<u8>)> = vec![
            (VERSION, version),
            (ENCRYPTION, vec![self.encryption]),
            (INSTOPT, vec![0x00]),
            (THREADID, vec![]),
            (MARS, vec![0x00]),
        ];
        if let Some(required) = self.fed_auth_required {
            options.push((FEDAUTHREQUIRED, vec![u8::from(required)]));
        }
        if let Some(nonce) = self.nonce {
            options.push((NONCEOPT, nonce.to_vec()));
        }
        let mut offset = options.len() * 5 + 1;
        let mut out = Vec::new();
        for (token, data) in &options {
            out.push(*token);
            out.extend_from_slice(&(offset as u16).to_be_bytes());
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            offset += data.len();
        }
        out.push(TERMINATOR);
        for (_, data) in options {
            out.extend_from_slice(&data);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_example() {
        // MS-TDS 4.1, payload after the 8-byte header.
        let payload = [
            0x00, 0x00, 0x15, 0x00, 0x06, 0x01, 0x00, 0x1B, 0x00, 0x01, 0x02, 0x00, 0x1C, 0x00,
            0x0C, 0x03, 0x00, 0x28, 0x00, 0x04, 0xFF, 0x08, 0x00, 0x01, 0x55, 0x00, 0x00, 0x00,
            0x4D, 0x53, 0x53, 0x51, 0x4C, 0x53, 0x65, 0x72, 0x76, 0x65, 0x72, 0x00, 0x80, 0x19,
            0x00, 0x00,
        ];
        let req = PreloginRequest::parse(&payload).unwrap();
        assert_eq!(req.version, (0x0800_0155, 0));
        assert_eq!(req.encryption, encryption::OFF);
        assert_eq!(req.instance.as_deref(), Some("MSSQLServer"));
        assert_eq!(req.thread_id, Some(0x8019_0000));
        assert!(!req.fed_auth_required);
        assert_eq!(req.nonce, None);
    }

    #[test]
    fn encodes_the_answer_byte_exact() {
        let resp = PreloginResponse {
            version: (12, 0, 2000),
            encryption: encryption::ON,
            fed_auth_required: Some(true),
            nonce: None,
        };
        #[rustfmt::skip]
        let expected = [
            // option table: 6 options * 5 bytes + terminator = 31 = 0x1F
            0x00, 0x00, 0x1F, 0x00, 0x06,
            0x01, 0x00, 0x25, 0x00, 0x01,
            0x02, 0x00, 0x26, 0x00, 0x01,
            0x03, 0x00, 0x27, 0x00, 0x00,
            0x04, 0x00, 0x27, 0x00, 0x01,
            0x06, 0x00, 0x28, 0x00, 0x01,
            0xFF,
            // VERSION 12.0.2000, sub-build 0
            0x0C, 0x00, 0x07, 0xD0, 0x00, 0x00,
            0x01, // ENCRYPT_ON
            0x00, // INSTOPT: valid
            0x00, // MARS off
            0x01, // FEDAUTHREQUIRED
        ];
        assert_eq!(resp.encode(), expected);
    }

    #[test]
    fn answer_round_trips_through_the_parser() {
        let resp = PreloginResponse {
            version: (16, 0, 1000),
            encryption: encryption::REQ,
            fed_auth_required: None,
            nonce: Some([7; 32]),
        };
        let parsed = PreloginRequest::parse(&resp.encode()).unwrap();
        assert_eq!(parsed.encryption, encryption::REQ);
        assert_eq!(parsed.nonce, Some([7; 32]));
        assert_eq!(parsed.thread_id, None);
    }

    #[test]
    fn encryption_is_required() {
        assert_eq!(
            negotiate_encryption(encryption::ON),
            (encryption::ON, Negotiated::Encrypt)
        );
        assert_eq!(
            negotiate_encryption(encryption::REQ),
            (encryption::ON, Negotiated::Encrypt)
        );
        assert_eq!(
            negotiate_encryption(encryption::OFF),
            (encryption::REQ, Negotiated::Encrypt)
        );
        assert_eq!(
            negotiate_encryption(encryption::NOT_SUP),
            (encryption::REQ, Negotiated::Refuse)
        );
    }

    #[test]
    fn malformed_tables_are_errors() {
        assert!(PreloginRequest::parse(&[]).is_err());
        assert!(PreloginRequest::parse(&[0xFF]).is_err());
        // Offset past the end.
        assert!(PreloginRequest::parse(&[0x00, 0x00, 0x40, 0x00, 0x06, 0xFF]).is_err());
        // First option is not VERSION.
        assert!(PreloginRequest::parse(&[0x01, 0x00, 0x06, 0x00, 0x01, 0xFF, 0x00]).is_err());
        // Option data shorter than the field.
        assert!(PreloginRequest::parse(&[0x00, 0x00, 0x06, 0x00, 0x02, 0xFF, 0, 0]).is_err());
    }
}
