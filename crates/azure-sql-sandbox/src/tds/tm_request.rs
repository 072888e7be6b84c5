//! Transaction manager requests (MS-TDS 2.2.6.9, packet type 0x0E): begin, commit, roll back or
//! save a transaction without T-SQL, as tiberius' `begin_transaction` and Microsoft's ODBC driver
//! (`SQLEndTran`, autocommit switches) do. Distributed-transaction requests are parsed only to be
//! refused.

use super::batch::skip_all_headers;
use super::error::CodecError;
use super::wire::Reader;

/// A transaction manager request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TmRequest {
    /// TM_BEGIN_XACT (5).
    Begin {
        /// The isolation level (0: unchanged, 1 read uncommitted ... 5 snapshot).
        isolation: u8,
        /// The transaction's name (may be empty).
        name: String,
    },
    /// TM_COMMIT_XACT (7).
    Commit {
        /// The transaction's name.
        name: String,
        /// Begin a new transaction afterwards, with this isolation level and name.
        begin_new: Option<(u8, String)>,
    },
    /// TM_ROLLBACK_XACT (8).
    Rollback {
        /// The transaction (or savepoint) name.
        name: String,
        /// Begin a new transaction afterwards.
        begin_new: Option<(u8, String)>,
    },
    /// TM_SAVE_XACT (9).
    Save {
        /// The savepoint's name.
        name: String,
    },
    /// Distributed transactions (TM_GET_DTC_ADDRESS, TM_PROPAGATE_XACT, TM_PROMOTE_XACT).
    Distributed(u16),
}

impl TmRequest {
    /// A name for messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            TmRequest::Begin { .. } => "TM_BEGIN_XACT",
            TmRequest::Commit { .. } => "TM_COMMIT_XACT",
            TmRequest::Rollback { .. } => "TM_ROLLBACK_XACT",
            TmRequest::Save { .. } => "TM_SAVE_XACT",
            TmRequest::Distributed(_) => "distributed transaction request",
        }
    }

    /// Parses a transaction manager request payload.
    pub fn parse(payload: &[u8]) -> Result<Self, CodecError> {
        let start = skip_all_headers(payload, "transaction manager request")?;
        let mut r = Reader::new(payload, "transaction manager request");
        r.seek(start);
        let ty = r.u16_le()?;
        let then_begin = |r: &mut Reader<'_>| -> Result<Option<(u8, String)>, CodecError> {
            if r.is_empty() {
                return Ok(None);
            }
            let flags = r.u8()?;
            if flags & 0x01 == 0 {
                return Ok(None);
            }
            Ok(Some((r.u8()?, r.b_varchar()?)))
        };
        Ok(match ty {
            5 => TmRequest::Begin {
                isolation: r.u8()?,
                name: r.b_varchar()?,
            },
            7 => {
                let name = r.b_varchar()?;
                TmRequest::Commit {
                    name,
                    begin_new: then_begin(&mut r)?,
                }
            }
            8 => {
                let name = r.b_varchar()?;
                TmRequest::Rollback {
                    name,
                    begin_new: then_begin(&mut r)?,
                }
            }
            9 => TmRequest::Save {
                name: r.b_varchar()?,
            },
            0 | 1 | 6 => TmRequest::Distributed(ty),
            other => {
                return Err(CodecError::invalid(
                    "transaction manager request",
                    format!("request type {other} does not exist"),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tds::batch::tests::all_headers;
    use crate::tds::wire::put_b_varchar;

    fn request(ty: u16, body: &[u8]) -> Vec<u8> {
        let mut out = all_headers();
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn parses_begin_commit_rollback_and_save() {
        let mut begin = vec![2];
        put_b_varchar(&mut begin, "t1");
        assert_eq!(
            TmRequest::parse(&request(5, &begin)).unwrap(),
            TmRequest::Begin {
                isolation: 2,
                name: "t1".into()
            }
        );
        assert_eq!(
            TmRequest::parse(&request(7, &[0, 0])).unwrap(),
            TmRequest::Commit {
                name: String::new(),
                begin_new: None
            }
        );
        let mut rollback_and_begin = vec![0, 0x01, 0];
        put_b_varchar(&mut rollback_and_begin, "next");
        assert_eq!(
            TmRequest::parse(&request(8, &rollback_and_begin)).unwrap(),
            TmRequest::Rollback {
                name: String::new(),
                begin_new: Some((0, "next".into()))
            }
        );
        assert_eq!(
            TmRequest::parse(&request(8, &[0])).unwrap().name(),
            "TM_ROLLBACK_XACT"
        );
        assert_eq!(
            TmRequest::parse(&request(9, &[1, b's', 0])).unwrap(),
            TmRequest::Save { name: "s".into() }
        );
        assert_eq!(
            TmRequest::parse(&request(0, &[0, 0])).unwrap(),
            TmRequest::Distributed(0)
        );
    }

    #[test]
    fn malformed_requests_are_errors() {
        assert!(TmRequest::parse(&request(42, &[])).is_err());
        assert!(TmRequest::parse(&request(5, &[])).is_err());
        assert!(TmRequest::parse(&all_headers()).is_err());
        assert!(TmRequest::parse(&[1, 2]).is_err());
    }
}
