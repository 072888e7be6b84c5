//! LOGINACK (MS-TDS 2.2.7.14): the login succeeded; the interface, the TDS version (big-endian on
//! the wire, unlike almost everything else) and the server's product name and version.

use super::token_type;
use crate::tds::wire::{put_b_varchar, put_with_u16_len};

/// TDS 7.4, as LOGINACK carries it.
pub const TDS_7_4: u32 = 0x7400_0004;
/// TDS 8.0, as LOGINACK carries it (MS-TDS 2.2.7.14 and the version table of 2.2.6.4).
pub const TDS_8_0: u32 = 0x0800_0000;

/// A LOGINACK token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginAck {
    /// 1: SQL_TSQL.
    pub interface: u8,
    /// The TDS version the session speaks.
    pub tds_version: u32,
    /// The product name ("Microsoft SQL Server").
    pub prog_name: String,
    /// Major, minor, build.
    pub version: (u8, u8, u16),
}

impl LoginAck {
    /// What Azure SQL Database answers a LOGIN7 offering `client_tds_version`: T-SQL, the TDS
    /// version both speak (LOGIN7's TDSVersion is "the highest TDS version being used by the
    /// client", LOGINACK's "the TDS version being used by the server", MS-TDS 2.2.6.4 and
    /// 2.2.7.14): 8.0 to a TDS 8 login, else 7.4 (clients that log in with 7.4 over TLS-first,
    /// such as tiberius, accept nothing else: 8.0 there is "Login ACK: Invalid TDS version");
    /// "Microsoft SQL Server" 12.0.2000.
    pub fn azure_sql(client_tds_version: u32) -> Self {
        let tds8 = client_tds_version >> 24 == 0x08;
        Self {
            interface: 1,
            tds_version: if tds8 { TDS_8_0 } else { TDS_7_4 },
            prog_name: "Microsoft SQL Server".into(),
            version: (12, 0, 2000),
        }
    }

    /// Appends the token.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_with_u16_len(out, token_type::LOGINACK, |b| {
            b.push(self.interface);
            b.extend_from_slice(&self.tds_version.to_be_bytes());
            put_b_varchar(b, &self.prog_name);
            b.push(self.version.0);
            b.push(self.version.1);
            b.extend_from_slice(&self.version.2.to_be_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_exact() {
        let mut out = Vec::new();
        LoginAck {
            interface: 1,
            tds_version: TDS_7_4,
            prog_name: "SQL".into(),
            version: (12, 0, 2000),
        }
        .encode(&mut out);
        // length = 1 + 4 + (1 + 3*2) + 4 = 16
        assert_eq!(
            out,
            [
                0xAD, 16, 0,    //
                0x01, //
                0x74, 0x00, 0x00, 0x04, //
                3, b'S', 0, b'Q', 0, b'L', 0, //
                12, 0, 0x07, 0xD0
            ]
        );
        assert_eq!(LoginAck::azure_sql(TDS_7_4).tds_version, TDS_7_4);
        assert_eq!(LoginAck::azure_sql(0x7300_000B).tds_version, TDS_7_4);
        let mut out = Vec::new();
        LoginAck::azure_sql(0x0800_0000).encode(&mut out);
        assert_eq!(out[4..8], [0x08, 0x00, 0x00, 0x00], "big-endian 8.0");
    }
}
