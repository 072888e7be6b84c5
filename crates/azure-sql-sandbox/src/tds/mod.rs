//! The server side of MS-TDS, the protocol Azure SQL speaks: packet framing, PRELOGIN (and TLS
//! inside it), LOGIN7 with FEDAUTH, SQL batches, RPC requests with typed parameters, and the
//! response tokens, one token type to a file. Everything here is codec: bytes in, structures out
//! and back; no sockets, no sessions (that is [`crate::server`]).
//!
//! Malformed input is a [`CodecError`] naming the structure and field, never a panic.

pub mod batch;
pub mod collation;
pub mod datetime;
pub mod decimal;
pub mod error;
pub mod fedauth_message;
pub mod login7;
pub mod packet;
pub mod prelogin;
pub mod prelogin_tls;
pub mod response;
pub mod rpc;
pub mod tm_request;
pub mod types;
pub mod wire;

pub use error::CodecError;

#[cfg(test)]
pub(crate) mod robustness_tests {
    //! Every request parser fed random and truncated bytes: errors, never panics.

    use super::*;
    use rand::{Rng, SeedableRng};

    pub(crate) fn mutations(seed: &[u8], rng: &mut impl Rng) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = (0..seed.len()).map(|n| seed[..n].to_vec()).collect();
        for _ in 0..300 {
            let mut m = seed.to_vec();
            for _ in 0..rng.random_range(1..8) {
                if m.is_empty() {
                    break;
                }
                let at = rng.random_range(0..m.len());
                m[at] = rng.random();
            }
            out.push(m);
        }
        for _ in 0..200 {
            let len = rng.random_range(0..256);
            out.push((0..len).map(|_| rng.random()).collect());
        }
        out
    }

    #[test]
    fn parsers_survive_random_and_truncated_input() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7D5);
        let feature = login7::tests::fedauth_token_feature("tok", true, Some([1; 32]));
        let login = login7::tests::build_login7("u", "p", "db", &[feature]);
        for input in mutations(&login, &mut rng) {
            let _ = login7::Login7::parse(&input);
        }
        let prelogin = prelogin::PreloginResponse {
            version: (12, 0, 1),
            encryption: 1,
            fed_auth_required: Some(true),
            nonce: Some([2; 32]),
        }
        .encode();
        for input in mutations(&prelogin, &mut rng) {
            let _ = prelogin::PreloginRequest::parse(&input);
        }
        let rpc_request = rpc::tests::tiberius_execute_sql("SELECT @P1", 5);
        for input in mutations(&rpc_request, &mut rng) {
            let _ = rpc::parse(&input);
            let _ = batch::SqlBatch::parse(&input);
        }
    }

    #[tokio::test]
    async fn the_message_reader_survives_random_packets() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut wire = Vec::new();
        packet::frame_message(
            &mut wire,
            packet::MessageType::SQL_BATCH,
            0,
            &[7; 9000],
            512,
        );
        for input in mutations(&wire, &mut rng) {
            let mut reader = packet::MessageReader::new(1 << 16);
            let mut io = &input[..];
            while let Ok(Some(_)) = reader.next(&mut io).await {}
        }
    }
}
