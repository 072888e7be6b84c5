//! FEATUREEXTACK (MS-TDS 2.2.7.11): the features of the LOGIN7 FeatureExt the server accepted.
//! The sandbox acknowledges FEDAUTH only (empty data, or the nonce the client sent in PRELOGIN).

use super::token_type;

/// One acknowledged feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureAck {
    /// The FeatureId.
    pub id: u8,
    /// Its acknowledgement data.
    pub data: Vec<u8>,
}

/// A FEATUREEXTACK token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureExtAck(pub Vec<FeatureAck>);

impl FeatureExtAck {
    /// Appends the token.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(token_type::FEATUREEXTACK);
        for ack in &self.0 {
            out.push(ack.id);
            out.extend_from_slice(&(ack.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&ack.data);
        }
        out.push(0xFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fedauth_ack_bytes_are_exact() {
        let mut out = Vec::new();
        FeatureExtAck(vec![FeatureAck {
            id: 0x02,
            data: vec![],
        }])
        .encode(&mut out);
        assert_eq!(out, [0xAE, 0x02, 0, 0, 0, 0, 0xFF]);

        let mut out = Vec::new();
        FeatureExtAck(vec![FeatureAck {
            id: 0x02,
            data: vec![7; 32],
        }])
        .encode(&mut out);
        assert_eq!(&out[..6], [0xAE, 0x02, 32, 0, 0, 0]);
        assert_eq!(out.len(), 6 + 32 + 1);
        assert_eq!(out[out.len() - 1], 0xFF);
    }
}
