//! Records what clients send, for the fuzzers' seed corpora: with `AZURE_SQL_SANDBOX_CAPTURE_DIR`
//! set in the environment of the process running the TDS server, every message a client sends
//! (after TLS is taken off) is written under that directory, one file per distinct message,
//! named by the fuzz target that parses it (`tds_prelogin/`, `tds_login7/`, `tds_rpc/`,
//! `tds_batch/`; and `tds_packet_reader/`, the message framed as 4096-byte packets behind the
//! target's one-byte size selector). Unset (always, outside corpus capture) it does nothing.
//!
//! Access tokens and passwords never reach the files: a LOGIN7's FEDAUTH token and password
//! bytes are overwritten with `x` of the same length (the structure the parsers see is kept);
//! messages that carry a token otherwise (FEDAUTH_TOKEN) are not recorded.

use crate::tds::login7::{Feature, FedAuthLibrary, Login7};
use crate::tds::packet::{frame_message, Message, MessageType, DEFAULT_PACKET_SIZE};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The environment variable naming the capture directory.
pub const CAPTURE_DIR_VARIABLE: &str = "AZURE_SQL_SANDBOX_CAPTURE_DIR";

fn dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| std::env::var_os(CAPTURE_DIR_VARIABLE).map(PathBuf::from))
        .as_ref()
}

/// Overwrites `secret`'s bytes in `payload` (as UTF-16LE and as UTF-8) with `x`.
fn blank(payload: &mut [u8], secret: &str) {
    if secret.is_empty() {
        return;
    }
    let utf16: Vec<u8> = secret.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for needle in [utf16.as_slice(), secret.as_bytes()] {
        let mut at = 0;
        while let Some(i) = payload[at..]
            .windows(needle.len())
            .position(|w| w == needle)
        {
            payload[at + i..at + i + needle.len()].fill(b'x');
            at += i + needle.len();
        }
    }
}

/// Records `message` if capture is on.
pub(super) fn record(message: &Message) {
    let Some(dir) = dir() else { return };
    let target = match message.ty {
        MessageType::PRELOGIN => "tds_prelogin",
        MessageType::LOGIN7 => "tds_login7",
        MessageType::RPC => "tds_rpc",
        MessageType::SQL_BATCH | MessageType::TRANSACTION_MANAGER => "tds_batch",
        _ => return,
    };
    let mut payload = message.payload.clone();
    if message.ty == MessageType::LOGIN7 {
        // The password is scrambled on the wire, so blank the field by its position: parse,
        // then overwrite what parsing found. Unparseable logins are not recorded.
        let Ok(login) = Login7::parse(&payload) else {
            return;
        };
        for feature in &login.features {
            if let Feature::FedAuth(fed) = feature {
                if let FedAuthLibrary::SecurityToken { token, .. } = &fed.library {
                    blank(&mut payload, token.expose());
                }
            }
        }
        if !login.password.is_empty() {
            let scrambled: Vec<u8> = login
                .password
                .expose()
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .map(|b| (b.rotate_left(4)) ^ 0xA5)
                .collect();
            if let Some(i) = payload
                .windows(scrambled.len())
                .position(|w| w == scrambled.as_slice())
            {
                payload[i..i + scrambled.len()].fill(b'x');
            }
        }
    }
    let mut framed = vec![0u8];
    frame_message(&mut framed, message.ty, 0, &payload, DEFAULT_PACKET_SIZE);
    if let Some(first) = framed.get_mut(2) {
        *first |= message.first_status;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    payload.hash(&mut hasher);
    let name = format!("{:016x}", hasher.finish());
    for (target, bytes) in [(target, &payload), ("tds_packet_reader", &framed)] {
        let dir = dir.join(target);
        if std::fs::create_dir_all(&dir).is_ok() {
            let _ = std::fs::write(dir.join(&name), bytes);
        }
    }
}
