//! LOGIN7 (MS-TDS 2.2.6.4): the fixed part, the variable fields (host, user, password, app,
//! server, library, language, database, ...), SQL password de-scrambling, and the FeatureExt
//! block with FEDAUTH (the security-token library carrying the Entra access token as UTF-16LE,
//! with an optional nonce; or the MSAL workflow, where the token follows in a FEDAUTH message).
//!
//! Secrets (password, token) are held in [`Secret`], whose `Debug` never shows them.

use super::error::CodecError;
use super::wire::{decode_utf16, Reader};
use std::fmt;

/// `OptionFlags2.fIntSecurity`: the client wants integrated (SSPI) authentication.
pub const OPTION2_INTEGRATED_SECURITY: u8 = 0x80;
/// `TypeFlags.fReadOnlyIntent`.
pub const TYPE_READ_ONLY_INTENT: u8 = 0x20;
/// `OptionFlags3.fExtension`: `ibExtension` points at the FeatureExt block.
pub const OPTION3_EXTENSION: u8 = 0x10;

/// FeatureExt id of FEDAUTH.
pub const FEATURE_FEDAUTH: u8 = 0x02;
/// FeatureExt terminator.
pub const FEATURE_TERMINATOR: u8 = 0xFF;

/// `bFedAuthLibrary`: the client sends a ready token (ADAL/MSAL-free: `AuthMethod::aad_token`,
/// tedious `azure-active-directory-access-token`, SqlClient `AccessToken`).
pub const FEDAUTH_LIBRARY_SECURITY_TOKEN: u8 = 0x01;
/// `bFedAuthLibrary`: the ADAL/MSAL workflow (the server answers FEDAUTHINFO first).
pub const FEDAUTH_LIBRARY_MSAL: u8 = 0x02;

/// The lowest TDS version this server speaks (7.2: 8-byte DONE counts, 4-byte user types).
pub const MIN_TDS_VERSION: u32 = 0x7200_0000;

/// A password or token from a LOGIN7. `Debug` shows only its length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that must check it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([REDACTED; {} chars])", self.0.chars().count())
    }
}

/// The federated-authentication library a FEDAUTH feature asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FedAuthLibrary {
    /// The token is in the LOGIN7 itself.
    SecurityToken {
        /// The access token (decoded from UTF-16LE).
        token: Secret,
        /// The nonce the client echoes from the server's PRELOGIN, if any.
        nonce: Option<[u8; 32]>,
    },
    /// The ADAL/MSAL workflow: the server answers FEDAUTHINFO and the token follows in a
    /// FEDAUTH message.
    Msal {
        /// The workflow byte (0x01 password/service principal, 0x02 integrated, 0x03 default,
        /// managed identity, interactive, ...).
        workflow: u8,
    },
    /// A library this server does not know.
    Other(u8),
}

/// The FEDAUTH feature of a LOGIN7.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FedAuth {
    /// `fFedAuthEcho`: the client saw FEDAUTHREQUIRED=1 in the server's PRELOGIN.
    pub echo: bool,
    /// The library and its data.
    pub library: FedAuthLibrary,
}

/// One FeatureExt entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feature {
    /// FEDAUTH (0x02).
    FedAuth(FedAuth),
    /// Any other feature (session recovery, UTF-8 support, ...), kept raw.
    Other {
        /// The FeatureId.
        id: u8,
        /// Its data.
        data: Vec<u8>,
    },
}

/// A parsed LOGIN7.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login7 {
    /// The highest TDS version the client speaks (as the LE DWORD reads, e.g. `0x74000004`).
    pub tds_version: u32,
    /// The packet size the client asks for (0: the server's default).
    pub packet_size: u32,
    /// The client library's version.
    pub client_prog_ver: u32,
    /// The client's process id.
    pub client_pid: u32,
    /// `OptionFlags1`.
    pub option_flags1: u8,
    /// `OptionFlags2`.
    pub option_flags2: u8,
    /// `TypeFlags`.
    pub type_flags: u8,
    /// `OptionFlags3`.
    pub option_flags3: u8,
    /// The client's LCID.
    pub client_lcid: u32,
    /// The client machine's name.
    pub host_name: String,
    /// The SQL login name (empty for token logins).
    pub user_name: String,
    /// The SQL login password, de-scrambled.
    pub password: Secret,
    /// The application name.
    pub app_name: String,
    /// The server name the client connected to.
    pub server_name: String,
    /// The client library's name.
    pub library_name: String,
    /// The initial language (empty: the login's default).
    pub language: String,
    /// The initial database (empty: the login's default).
    pub database: String,
    /// Bytes of SSPI data sent (integrated authentication).
    pub sspi_len: usize,
    /// The FeatureExt entries, in order.
    pub features: Vec<Feature>,
}

/// Undoes the LOGIN7 password scrambling: each byte was nibble-swapped, then XORed with 0xA5.
pub fn descramble_password(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|b| (b ^ 0xA5).rotate_left(4)).collect()
}

/// Whether a LOGIN7 TDS version is at least 7.2 (TDS 8.0 clients send `0x08000000`).
pub fn is_supported_tds_version(version: u32) -> bool {
    version >= MIN_TDS_VERSION || version >> 24 == 0x08
}

impl Login7 {
    /// The FEDAUTH feature, if the client sent one.
    pub fn fed_auth(&self) -> Option<&FedAuth> {
        self.features.iter().find_map(|f| match f {
            Feature::FedAuth(fa) => Some(fa),
            Feature::Other { .. } => None,
        })
    }

    /// Whether the client declares it will only read (`ApplicationIntent=ReadOnly`): the
    /// `fReadOnlyIntent` bit of TypeFlags (MS-TDS 2.2.6.4), which routes it to a read-only
    /// replica where read scale-out is on.
    pub fn read_only_intent(&self) -> bool {
        self.type_flags & TYPE_READ_ONLY_INTENT != 0
    }

    /// Whether the client asks for integrated (Windows) authentication.
    pub fn integrated_security(&self) -> bool {
        self.option_flags2 & OPTION2_INTEGRATED_SECURITY != 0
    }

    /// Parses a LOGIN7 payload.
    pub fn parse(payload: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(payload, "LOGIN7 fixed part");
        let length = r.u32_le()? as usize;
        if length > payload.len() {
            return Err(CodecError::invalid(
                "LOGIN7",
                format!(
                    "declares {length} bytes but the message holds {}",
                    payload.len()
                ),
            ));
        }
        let tds_version = r.u32_le()?;
        if !is_supported_tds_version(tds_version) {
            return Err(CodecError::unsupported(
                "TDS version",
                format!(
                    "the client offers 0x{tds_version:08X}; this server speaks TDS 7.2 and later"
                ),
            ));
        }
        let packet_size = r.u32_le()?;
        let client_prog_ver = r.u32_le()?;
        let client_pid = r.u32_le()?;
        let _connection_id = r.u32_le()?;
        let option_flags1 = r.u8()?;
        let option_flags2 = r.u8()?;
        let type_flags = r.u8()?;
        let option_flags3 = r.u8()?;
        let _client_time_zone = r.u32_le()?;
        let client_lcid = r.u32_le()?;

        let body = &payload[..length];
        let field =
            |name: &'static str, r: &mut Reader<'_>| -> Result<(usize, usize), CodecError> {
                r.set_what(name);
                Ok((r.u16_le()? as usize, r.u16_le()? as usize))
            };
        let host = field("LOGIN7 HostName offset", &mut r)?;
        let user = field("LOGIN7 UserName offset", &mut r)?;
        let password = field("LOGIN7 Password offset", &mut r)?;
        let app = field("LOGIN7 AppName offset", &mut r)?;
        let server = field("LOGIN7 ServerName offset", &mut r)?;
        let extension = field("LOGIN7 Extension offset", &mut r)?;
        let library = field("LOGIN7 CltIntName offset", &mut r)?;
        let language = field("LOGIN7 Language offset", &mut r)?;
        let database = field("LOGIN7 Database offset", &mut r)?;
        r.set_what("LOGIN7 ClientID");
        let _client_id = r.bytes(6)?;
        let sspi = field("LOGIN7 SSPI offset", &mut r)?;
        let _attach_db = field("LOGIN7 AtchDBFile offset", &mut r)?;
        let _change_password = field("LOGIN7 ChangePassword offset", &mut r)?;
        r.set_what("LOGIN7 cbSSPILong");
        let sspi_long = r.u32_le()? as usize;

        let text =
            |name: &'static str, (offset, chars): (usize, usize)| -> Result<String, CodecError> {
                let raw = slice(body, name, offset, chars * 2)?;
                decode_utf16(raw).map_err(|detail| CodecError::invalid(name, detail))
            };
        let password_raw = slice(body, "LOGIN7 Password", password.0, password.1 * 2)?;
        let password = decode_utf16(&descramble_password(password_raw))
            .map_err(|detail| CodecError::invalid("LOGIN7 Password", detail))?;

        let features = if option_flags3 & OPTION3_EXTENSION != 0 && extension.1 >= 4 {
            let mut pointer = Reader::new(
                slice(body, "LOGIN7 Extension", extension.0, 4)?,
                "LOGIN7 Extension",
            );
            let feature_offset = pointer.u32_le()? as usize;
            if feature_offset > body.len() {
                return Err(CodecError::invalid(
                    "LOGIN7 FeatureExt",
                    format!(
                        "offset {feature_offset} is past the end of the {}-byte LOGIN7",
                        body.len()
                    ),
                ));
            }
            parse_features(&body[feature_offset..])?
        } else {
            Vec::new()
        };

        Ok(Login7 {
            tds_version,
            packet_size,
            client_prog_ver,
            client_pid,
            option_flags1,
            option_flags2,
            type_flags,
            option_flags3,
            client_lcid,
            host_name: text("LOGIN7 HostName", host)?,
            user_name: text("LOGIN7 UserName", user)?,
            password: Secret(password),
            app_name: text("LOGIN7 AppName", app)?,
            server_name: text("LOGIN7 ServerName", server)?,
            library_name: text("LOGIN7 CltIntName", library)?,
            language: text("LOGIN7 Language", language)?,
            database: text("LOGIN7 Database", database)?,
            sspi_len: if sspi.1 == u16::MAX as usize {
                sspi_long
            } else {
                sspi.1
            },
            features,
        })
    }
}

fn slice<'a>(
    body: &'a [u8],
    what: &'static str,
    offset: usize,
    len: usize,
) -> Result<&'a [u8], CodecError> {
    if len == 0 {
        return Ok(&[]);
    }
    if offset > body.len() || len > body.len() - offset {
        return Err(CodecError::invalid(
            what,
            format!(
                "points at bytes {offset}..{} of a {}-byte LOGIN7",
                offset + len,
                body.len()
            ),
        ));
    }
    Ok(&body[offset..offset + len])
}

/// Parses a FeatureExt block up to its terminator.
fn parse_features(bytes: &[u8]) -> Result<Vec<Feature>, CodecError> {
    let mut r = Reader::new(bytes, "LOGIN7 FeatureExt");
    let mut out = Vec::new();
    loop {
        if r.is_empty() {
            // Some clients end the block with the LOGIN7 itself.
            break;
        }
        let id = r.u8()?;
        if id == FEATURE_TERMINATOR {
            break;
        }
        let len = r.u32_le()? as usize;
        let data = r.bytes(len)?;
        out.push(if id == FEATURE_FEDAUTH {
            Feature::FedAuth(parse_fed_auth(data)?)
        } else {
            Feature::Other {
                id,
                data: data.to_vec(),
            }
        });
    }
    Ok(out)
}

fn parse_fed_auth(data: &[u8]) -> Result<FedAuth, CodecError> {
    let mut r = Reader::new(data, "LOGIN7 FEDAUTH options");
    let options = r.u8()?;
    let echo = options & 0x01 != 0;
    let library = match options >> 1 {
        FEDAUTH_LIBRARY_SECURITY_TOKEN => {
            r.set_what("LOGIN7 FEDAUTH token");
            let len = r.u32_le()? as usize;
            let raw = r.bytes(len)?;
            let token = decode_utf16(raw)
                .map_err(|detail| CodecError::invalid("LOGIN7 FEDAUTH token", detail))?;
            let nonce = if r.remaining() >= 32 {
                let mut n = [0u8; 32];
                n.copy_from_slice(r.bytes(32)?);
                Some(n)
            } else {
                None
            };
            FedAuthLibrary::SecurityToken {
                token: Secret(token),
                nonce,
            }
        }
        FEDAUTH_LIBRARY_MSAL => {
            r.set_what("LOGIN7 FEDAUTH workflow");
            FedAuthLibrary::Msal { workflow: r.u8()? }
        }
        other => FedAuthLibrary::Other(other),
    };
    Ok(FedAuth { echo, library })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tds::wire::put_utf16;

    /// Builds a TDS 7.4 LOGIN7 laid out as tiberius lays it out (variable data after the fixed
    /// part, the FeatureExt pointer and block at the end).
    pub(crate) fn build_login7(
        user: &str,
        password: &str,
        database: &str,
        features: &[(u8, Vec<u8>)],
    ) -> Vec<u8> {
        let fields = [
            "host", user, password, "app", "server", "", "lib", "", database,
        ];
        let mut fixed = Vec::new();
        fixed.extend_from_slice(&0u32.to_le_bytes()); // length, patched below
        fixed.extend_from_slice(&0x7400_0004u32.to_le_bytes());
        fixed.extend_from_slice(&4096u32.to_le_bytes());
        fixed.extend_from_slice(&[0; 12]); // prog ver, pid, connection id
        fixed.extend_from_slice(&[
            0xE0,
            0x03,
            0x00,
            if features.is_empty() {
                0
            } else {
                OPTION3_EXTENSION
            },
        ]);
        fixed.extend_from_slice(&[0; 4]); // time zone
        fixed.extend_from_slice(&0x0409u32.to_le_bytes());
        let mut data = Vec::new();
        let base = 94;
        let mut ext_at = 0;
        for (i, value) in fields.iter().enumerate() {
            let offset = base + data.len();
            if i == 5 {
                ext_at = fixed.len();
                fixed.extend_from_slice(&[0, 0, 0, 0]);
                continue;
            }
            let mut encoded = Vec::new();
            let n = put_utf16(&mut encoded, value);
            if i == 2 {
                encoded = encoded.iter().map(|b| b.rotate_left(4) ^ 0xA5).collect();
            }
            data.extend_from_slice(&encoded);
            fixed.extend_from_slice(&(offset as u16).to_le_bytes());
            fixed.extend_from_slice(&(n as u16).to_le_bytes());
        }
        fixed.extend_from_slice(&[0; 6]); // client id
        for _ in 0..3 {
            fixed.extend_from_slice(&((base + data.len()) as u16).to_le_bytes());
            fixed.extend_from_slice(&[0, 0]);
        }
        fixed.extend_from_slice(&[0; 4]); // cbSSPILong
        assert_eq!(fixed.len(), base);
        if !features.is_empty() {
            let pointer_at = base + data.len();
            fixed[ext_at..ext_at + 2].copy_from_slice(&(pointer_at as u16).to_le_bytes());
            fixed[ext_at + 2..ext_at + 4].copy_from_slice(&4u16.to_le_bytes());
            data.extend_from_slice(&((pointer_at + 4) as u32).to_le_bytes());
            for (id, body) in features {
                data.push(*id);
                data.extend_from_slice(&(body.len() as u32).to_le_bytes());
                data.extend_from_slice(body);
            }
            data.push(FEATURE_TERMINATOR);
        }
        let mut out = fixed;
        out.extend_from_slice(&data);
        let len = out.len() as u32;
        out[..4].copy_from_slice(&len.to_le_bytes());
        out
    }

    /// A FEDAUTH feature body for the security-token library.
    pub(crate) fn fedauth_token_feature(
        token: &str,
        echo: bool,
        nonce: Option<[u8; 32]>,
    ) -> (u8, Vec<u8>) {
        let mut body = vec![(FEDAUTH_LIBRARY_SECURITY_TOKEN << 1) | u8::from(echo)];
        let mut encoded = Vec::new();
        put_utf16(&mut encoded, token);
        body.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
        body.extend_from_slice(&encoded);
        if let Some(n) = nonce {
            body.extend_from_slice(&n);
        }
        (FEATURE_FEDAUTH, body)
    }

    #[test]
    fn parses_the_spec_example() {
        // MS-TDS 4.2 (a TDS 7.2 login from OSQL-32), payload after the packet header.
        let payload = [
            0x88, 0x00, 0x00, 0x00, 0x02, 0x00, 0x09, 0x72, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x03, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x09, 0x04, 0x00, 0x00, 0x5E, 0x00, 0x08, 0x00, 0x6E, 0x00,
            0x02, 0x00, 0x72, 0x00, 0x00, 0x00, 0x72, 0x00, 0x07, 0x00, 0x80, 0x00, 0x00, 0x00,
            0x80, 0x00, 0x00, 0x00, 0x80, 0x00, 0x04, 0x00, 0x88, 0x00, 0x00, 0x00, 0x88, 0x00,
            0x00, 0x00, 0x00, 0x50, 0x8B, 0xE2, 0xB7, 0x8F, 0x88, 0x00, 0x00, 0x00, 0x88, 0x00,
            0x00, 0x00, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x73, 0x00, 0x6B, 0x00,
            0x6F, 0x00, 0x73, 0x00, 0x74, 0x00, 0x6F, 0x00, 0x76, 0x00, 0x31, 0x00, 0x73, 0x00,
            0x61, 0x00, 0x4F, 0x00, 0x53, 0x00, 0x51, 0x00, 0x4C, 0x00, 0x2D, 0x00, 0x33, 0x00,
            0x32, 0x00, 0x4F, 0x00, 0x44, 0x00, 0x42, 0x00, 0x43, 0x00,
        ];
        let login = Login7::parse(&payload).unwrap();
        assert_eq!(login.tds_version, 0x7209_0002);
        assert_eq!(login.packet_size, 4096);
        assert_eq!(login.host_name, "skostov1");
        assert_eq!(login.user_name, "sa");
        assert!(login.password.is_empty());
        assert_eq!(login.app_name, "OSQL-32");
        assert_eq!(login.library_name, "ODBC");
        assert_eq!(login.database, "");
        assert_eq!(login.client_lcid, 0x0409);
        assert!(login.features.is_empty());
        assert!(login.fed_auth().is_none());
    }

    #[test]
    fn reads_the_read_only_intent() {
        let mut payload = build_login7("admin", "pw", "customers", &[]);
        assert!(!Login7::parse(&payload).unwrap().read_only_intent());
        payload[26] |= TYPE_READ_ONLY_INTENT; // TypeFlags, after OptionFlags1 and 2.
        assert!(Login7::parse(&payload).unwrap().read_only_intent());
    }

    #[test]
    fn descrambles_the_sql_password() {
        let login = Login7::parse(&build_login7("admin", "P@ssw0rd!", "customers", &[])).unwrap();
        assert_eq!(login.user_name, "admin");
        assert_eq!(login.password.expose(), "P@ssw0rd!");
        assert_eq!(login.database, "customers");
        // The scrambling of 'a' (0x61): swap nibbles 0x16, xor 0xA5 = 0xB3.
        assert_eq!(descramble_password(&[0xB3, 0xA5]), [0x61, 0x00]);
    }

    #[test]
    fn reads_the_fedauth_security_token_and_nonce() {
        let feature = fedauth_token_feature("eyJ0eXAi.token", true, Some([9; 32]));
        let other = (0x0A, vec![0x01]);
        let login = Login7::parse(&build_login7("", "", "db", &[feature, other])).unwrap();
        let fed = login.fed_auth().unwrap();
        assert!(fed.echo);
        assert_eq!(
            fed.library,
            FedAuthLibrary::SecurityToken {
                token: Secret::new("eyJ0eXAi.token"),
                nonce: Some([9; 32])
            }
        );
        assert_eq!(
            login.features[1],
            Feature::Other {
                id: 0x0A,
                data: vec![1]
            }
        );
    }

    #[test]
    fn reads_the_msal_workflow() {
        let feature = (FEATURE_FEDAUTH, vec![(FEDAUTH_LIBRARY_MSAL << 1), 0x03]);
        let login = Login7::parse(&build_login7("", "", "db", &[feature])).unwrap();
        let fed = login.fed_auth().unwrap();
        assert!(!fed.echo);
        assert_eq!(fed.library, FedAuthLibrary::Msal { workflow: 3 });
    }

    #[test]
    fn debug_never_shows_the_password_or_token() {
        let feature = fedauth_token_feature("super-secret-token", false, None);
        let login =
            Login7::parse(&build_login7("u", "hunter2-password", "db", &[feature])).unwrap();
        let shown = format!("{login:?}");
        assert!(!shown.contains("super-secret-token"), "{shown}");
        assert!(!shown.contains("hunter2-password"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn truncated_or_lying_logins_are_errors() {
        let good = build_login7("u", "p", "db", &[fedauth_token_feature("t", false, None)]);
        for cut in [0, 3, 20, 60, 93] {
            assert!(Login7::parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Declared length larger than the message.
        let mut lying = good.clone();
        lying[0] = 0xFF;
        lying[1] = 0xFF;
        assert!(Login7::parse(&lying).is_err());
        // A field pointing past the end.
        let mut lying = good.clone();
        lying[36] = 0xF0;
        lying[37] = 0xFF;
        assert!(Login7::parse(&lying).is_err());
        // An ancient TDS version.
        let mut old = good;
        old[4..8].copy_from_slice(&0x7000_0000u32.to_le_bytes());
        assert!(matches!(
            Login7::parse(&old),
            Err(CodecError::Unsupported { .. })
        ));
    }
}
