//! ENVCHANGE (MS-TDS 2.2.7.9): the database, language, collation or packet size changed, a
//! transaction began or ended, the session was reset, or (type 20) the client must reconnect
//! elsewhere (the gateway's redirect).

use super::token_type;
use crate::tds::wire::{put_b_varbyte, put_b_varchar, put_us_varchar, put_with_u16_len};

/// An ENVCHANGE token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvChange {
    /// Type 1: the current database.
    Database {
        /// The new database.
        new: String,
        /// The previous one.
        old: String,
    },
    /// Type 2: the session language.
    Language {
        /// The new language.
        new: String,
        /// The previous one.
        old: String,
    },
    /// Type 4: the packet size both sides use from the next message on.
    PacketSize {
        /// The new size.
        new: u32,
        /// The previous one.
        old: u32,
    },
    /// Type 7: the database collation (5 bytes).
    SqlCollation {
        /// The new collation.
        new: [u8; 5],
    },
    /// Type 8: a transaction began; its 8-byte descriptor goes into later requests' ALL_HEADERS.
    BeginTransaction {
        /// The new transaction's descriptor.
        descriptor: [u8; 8],
    },
    /// Type 9: the transaction committed.
    CommitTransaction {
        /// The ended transaction's descriptor.
        descriptor: [u8; 8],
    },
    /// Type 10: the transaction rolled back.
    RollbackTransaction {
        /// The ended transaction's descriptor.
        descriptor: [u8; 8],
    },
    /// Type 18: the session was reset as the client asked (RESETCONNECTION).
    ResetConnection,
    /// Type 20: reconnect to this TCP address.
    Routing {
        /// The port.
        port: u16,
        /// The host name.
        host: String,
    },
}

impl EnvChange {
    /// Appends the token.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_with_u16_len(out, token_type::ENVCHANGE, |b| match self {
            EnvChange::Database { new, old } => {
                b.push(1);
                put_b_varchar(b, new);
                put_b_varchar(b, old);
            }
            EnvChange::Language { new, old } => {
                b.push(2);
                put_b_varchar(b, new);
                put_b_varchar(b, old);
            }
            EnvChange::PacketSize { new, old } => {
                b.push(4);
                put_b_varchar(b, &new.to_string());
                put_b_varchar(b, &old.to_string());
            }
            EnvChange::SqlCollation { new } => {
                b.push(7);
                put_b_varbyte(b, new);
                put_b_varbyte(b, &[]);
            }
            EnvChange::BeginTransaction { descriptor } => {
                b.push(8);
                put_b_varbyte(b, descriptor);
                put_b_varbyte(b, &[]);
            }
            EnvChange::CommitTransaction { descriptor } => {
                b.push(9);
                put_b_varbyte(b, &[]);
                put_b_varbyte(b, descriptor);
            }
            EnvChange::RollbackTransaction { descriptor } => {
                b.push(10);
                put_b_varbyte(b, &[]);
                put_b_varbyte(b, descriptor);
            }
            EnvChange::ResetConnection => {
                b.push(18);
                put_b_varbyte(b, &[]);
                put_b_varbyte(b, &[]);
            }
            EnvChange::Routing { port, host } => {
                b.push(20);
                let mut value = vec![0u8]; // protocol: TCP
                value.extend_from_slice(&port.to_le_bytes());
                put_us_varchar(&mut value, host);
                b.extend_from_slice(&(value.len() as u16).to_le_bytes());
                b.extend_from_slice(&value);
                b.extend_from_slice(&[0, 0]); // old value: empty
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(e: EnvChange) -> Vec<u8> {
        let mut out = Vec::new();
        e.encode(&mut out);
        out
    }

    #[test]
    fn database_and_language_are_b_varchars() {
        assert_eq!(
            bytes(EnvChange::Database {
                new: "db".into(),
                old: "master".into()
            }),
            [
                0xE3, 19, 0, 1, //
                2, b'd', 0, b'b', 0, //
                6, b'm', 0, b'a', 0, b's', 0, b't', 0, b'e', 0, b'r', 0
            ]
        );
        assert_eq!(
            bytes(EnvChange::Language {
                new: "x".into(),
                old: String::new()
            }),
            [0xE3, 5, 0, 2, 1, b'x', 0, 0]
        );
    }

    #[test]
    fn packet_size_is_decimal_text() {
        assert_eq!(
            bytes(EnvChange::PacketSize {
                new: 4096,
                old: 4096
            }),
            [
                0xE3, 19, 0, 4, //
                4, b'4', 0, b'0', 0, b'9', 0, b'6', 0, //
                4, b'4', 0, b'0', 0, b'9', 0, b'6', 0
            ]
        );
    }

    #[test]
    fn collation_and_reset_are_b_varbytes() {
        assert_eq!(
            bytes(EnvChange::SqlCollation {
                new: [0x09, 0x04, 0xD0, 0x00, 0x34]
            }),
            [0xE3, 8, 0, 7, 5, 0x09, 0x04, 0xD0, 0x00, 0x34, 0]
        );
        assert_eq!(bytes(EnvChange::ResetConnection), [0xE3, 3, 0, 18, 0, 0]);
        let d = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            bytes(EnvChange::BeginTransaction { descriptor: d }),
            [0xE3, 11, 0, 8, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0]
        );
        assert_eq!(
            bytes(EnvChange::CommitTransaction { descriptor: d }),
            [0xE3, 11, 0, 9, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(
            bytes(EnvChange::RollbackTransaction { descriptor: d })[3],
            10
        );
    }

    #[test]
    fn routing_carries_protocol_port_and_host() {
        assert_eq!(
            bytes(EnvChange::Routing {
                port: 0x1234,
                host: "ab".into()
            }),
            [
                0xE3, 14, 0, 20, //
                9, 0, // routing data length
                0, // TCP
                0x34, 0x12, //
                2, 0, b'a', 0, b'b', 0, //
                0, 0
            ]
        );
    }
}
