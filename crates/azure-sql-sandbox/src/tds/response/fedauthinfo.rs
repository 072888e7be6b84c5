//! FEDAUTHINFO (MS-TDS 2.2.7.12): for the ADAL/MSAL workflow, where to get a token (STS URL)
//! and for which resource (SPN); the client then sends the token in a FEDAUTH message.

use super::token_type;
use crate::tds::wire::put_utf16;

const STSURL: u8 = 0x01;
const SPN: u8 = 0x02;

/// A FEDAUTHINFO token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FedAuthInfo {
    /// The token endpoint's authority, e.g. `https://login.microsoftonline.com/<tenant>`.
    pub sts_url: String,
    /// The resource, e.g. `https://database.windows.net/`.
    pub spn: String,
}

impl FedAuthInfo {
    /// Appends the token: length, count, an option table (id, data length, data offset from the
    /// count field) and the UTF-16LE strings.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut sts = Vec::new();
        put_utf16(&mut sts, &self.sts_url);
        let mut spn = Vec::new();
        put_utf16(&mut spn, &self.spn);
        let table_len = 4 + 2 * 9;
        let mut data = Vec::new();
        data.extend_from_slice(&2u32.to_le_bytes());
        data.push(STSURL);
        data.extend_from_slice(&(sts.len() as u32).to_le_bytes());
        data.extend_from_slice(&(table_len as u32).to_le_bytes());
        data.push(SPN);
        data.extend_from_slice(&(spn.len() as u32).to_le_bytes());
        data.extend_from_slice(&((table_len + sts.len()) as u32).to_le_bytes());
        data.extend_from_slice(&sts);
        data.extend_from_slice(&spn);
        out.push(token_type::FEDAUTHINFO);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_exact() {
        let mut out = Vec::new();
        FedAuthInfo {
            sts_url: "u".into(),
            spn: "s".into(),
        }
        .encode(&mut out);
        assert_eq!(
            out,
            [
                0xEE, 26, 0, 0, 0, //
                2, 0, 0, 0, //
                0x01, 2, 0, 0, 0, 22, 0, 0, 0, //
                0x02, 2, 0, 0, 0, 24, 0, 0, 0, //
                b'u', 0, b's', 0
            ]
        );
    }
}
