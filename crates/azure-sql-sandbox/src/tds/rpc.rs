//! RPC requests (MS-TDS 2.2.6.6): ALL_HEADERS, the procedure (by ProcID or by name, with the
//! ProcIDs of the system procedures drivers call), option flags and typed parameters; several
//! requests may share a message, separated by a batch flag. What a system procedure's
//! parameters mean is the server's business (`crate::server`).

use super::batch::skip_all_headers;
use super::error::CodecError;
use super::types::{read_type_info, read_value, ColumnData, ParamType};
use super::wire::Reader;

/// ProcID of `sp_executesql`.
pub const SP_EXECUTESQL: u16 = 10;

/// Option flag `fNoMetaData`: the client already has the result's metadata (from `sp_prepare`)
/// and asks for COLMETADATA without it.
pub const OPTION_NO_METADATA: u16 = 0x0002;

/// `fByRefValue`: an output parameter.
const STATUS_BY_REF: u8 = 0x01;
/// `fEncrypted` (Always Encrypted).
const STATUS_ENCRYPTED: u8 = 0x08;

/// The procedure an RPC calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcRef {
    /// A well-known procedure by number (10: `sp_executesql`, 13: `sp_prepexec`, ...).
    Id(u16),
    /// A procedure by name.
    Name(String),
}

impl ProcRef {
    /// The procedure's name, for messages.
    pub fn display_name(&self) -> String {
        match self {
            ProcRef::Id(10) => "sp_executesql".into(),
            ProcRef::Id(11) => "sp_prepare".into(),
            ProcRef::Id(12) => "sp_execute".into(),
            ProcRef::Id(13) => "sp_prepexec".into(),
            ProcRef::Id(15) => "sp_unprepare".into(),
            ProcRef::Id(n) => format!("procedure id {n}"),
            ProcRef::Name(n) => n.clone(),
        }
    }

    /// Whether this is `sp_executesql` (by id, or by a name such as `sys.sp_executesql`).
    pub fn is_execute_sql(&self) -> bool {
        self.system_proc() == Some(SP_EXECUTESQL)
    }
}

/// One RPC parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcParam {
    /// Its name (`@P1`), or empty for a positional parameter.
    pub name: String,
    /// Whether it is an output parameter.
    pub by_ref: bool,
    /// Its declared type.
    pub param_type: ParamType,
    /// Its value.
    pub value: ColumnData<'static>,
}

/// One RPC request.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcRequest {
    /// The procedure.
    pub proc_ref: ProcRef,
    /// Option flags (WithRecomp, NoMetaData, ReuseMetaData).
    pub options: u16,
    /// The parameters in order.
    pub params: Vec<RpcParam>,
}

/// Parses an RPC message: one or more requests.
pub fn parse(payload: &[u8]) -> Result<Vec<RpcRequest>, CodecError> {
    let start = skip_all_headers(payload, "RPC request")?;
    let mut r = Reader::new(payload, "RPC request");
    r.seek(start);
    let mut requests = Vec::new();
    loop {
        requests.push(parse_one(&mut r)?);
        if r.is_empty() {
            break;
        }
        match r.u8()? {
            // BatchFlag (7.2+), NoExecFlag, and the 7.1 BatchFlag.
            0xFF | 0xFE | 0x80 => {
                if r.is_empty() {
                    break;
                }
            }
            other => {
                return Err(CodecError::invalid(
                    "RPC request",
                    format!("byte 0x{other:02X} after the parameters is not a batch separator"),
                ))
            }
        }
    }
    Ok(requests)
}

fn parse_one(r: &mut Reader<'_>) -> Result<RpcRequest, CodecError> {
    r.set_what("RPC procedure");
    let len = r.u16_le()?;
    let proc_ref = if len == 0xFFFF {
        ProcRef::Id(r.u16_le()?)
    } else {
        ProcRef::Name(r.utf16(len as usize)?)
    };
    r.set_what("RPC option flags");
    let options = r.u16_le()?;
    let mut params = Vec::new();
    while !r.is_empty() {
        // A batch separator ends this request's parameters.
        if let Ok(0xFF | 0xFE | 0x80) = r.clone().u8() {
            break;
        }
        let index = params.len() + 1;
        let param = parse_param(r).map_err(|e| {
            CodecError::invalid(
                "RPC parameter",
                format!("parameter {index} of {}: {e}", proc_ref.display_name()),
            )
        })?;
        params.push(param);
    }
    Ok(RpcRequest {
        proc_ref,
        options,
        params,
    })
}

fn parse_param(r: &mut Reader<'_>) -> Result<RpcParam, CodecError> {
    r.set_what("parameter name");
    let name = r.b_varchar()?;
    r.set_what("parameter status");
    let status = r.u8()?;
    if status & STATUS_ENCRYPTED != 0 {
        return Err(CodecError::unsupported(
            "Always Encrypted",
            format!("parameter '{name}' is encrypted"),
        ));
    }
    r.set_what("parameter TYPE_INFO");
    let param_type = read_type_info(r)?;
    r.set_what("parameter value");
    let value = read_value(r, &param_type)?;
    Ok(RpcParam {
        name,
        by_ref: status & STATUS_BY_REF != 0,
        param_type,
        value,
    })
}

/// ProcID of `sp_prepare`.
pub const SP_PREPARE: u16 = 11;
/// ProcID of `sp_execute`.
pub const SP_EXECUTE: u16 = 12;
/// ProcID of `sp_prepexec`.
pub const SP_PREPEXEC: u16 = 13;
/// ProcID of `sp_unprepare`.
pub const SP_UNPREPARE: u16 = 15;

impl ProcRef {
    /// The ProcID of a system procedure the sandbox serves, called by id or by name
    /// (`sp_executesql`, `sys.sp_prepexec`, `[sys].[sp_execute]`, ...).
    pub fn system_proc(&self) -> Option<u16> {
        match self {
            ProcRef::Id(id) => Some(*id),
            ProcRef::Name(name) => {
                let last = name.rsplit('.').next()?;
                let last = last
                    .trim_matches(|c| c == '[' || c == ']' || c == '"')
                    .to_ascii_lowercase();
                match last.as_str() {
                    "sp_executesql" => Some(SP_EXECUTESQL),
                    "sp_prepare" => Some(SP_PREPARE),
                    "sp_execute" => Some(SP_EXECUTE),
                    "sp_prepexec" => Some(SP_PREPEXEC),
                    "sp_unprepare" => Some(SP_UNPREPARE),
                    _ => None,
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tds::batch::tests::all_headers;
    use crate::tds::wire::{put_b_varchar, put_utf16};

    pub(crate) fn nvarchar_param(out: &mut Vec<u8>, name: &str, value: &str) {
        put_b_varchar(out, name);
        out.push(0);
        out.extend_from_slice(&[0xE7, 0x40, 0x1F, 0, 0, 0, 0, 0]);
        let mut v = Vec::new();
        put_utf16(&mut v, value);
        out.extend_from_slice(&(v.len() as u16).to_le_bytes());
        out.extend_from_slice(&v);
    }

    /// `sp_executesql` as tiberius sends it: ProcID 10, `stmt`, `params`, `@P1` INTN.
    pub(crate) fn tiberius_execute_sql(statement: &str, p1: i32) -> Vec<u8> {
        let mut out = all_headers();
        out.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 0]);
        nvarchar_param(&mut out, "stmt", statement);
        nvarchar_param(&mut out, "params", "@P1 int");
        put_b_varchar(&mut out, "@P1");
        out.push(0);
        out.extend_from_slice(&[0x26, 4, 4]);
        out.extend_from_slice(&p1.to_le_bytes());
        out
    }

    #[test]
    fn parses_execute_sql_by_id() {
        let requests = parse(&tiberius_execute_sql("SELECT @P1", 7)).unwrap();
        assert_eq!(requests.len(), 1);
        let req = &requests[0];
        assert_eq!(req.proc_ref, ProcRef::Id(10));
        assert!(req.proc_ref.is_execute_sql());
        assert_eq!(req.params.len(), 3);
        assert_eq!(req.params[0].value, ColumnData::Text("SELECT @P1".into()));
        assert_eq!(req.params[2].name, "@P1");
        assert_eq!(req.params[2].value, ColumnData::Int(7));
    }

    #[test]
    fn recognises_qualified_names() {
        for name in [
            "sp_executesql",
            "sys.sp_executesql",
            "[sys].[sp_executesql]",
            "SP_EXECUTESQL",
        ] {
            assert!(ProcRef::Name(name.into()).is_execute_sql(), "{name}");
        }
        assert!(!ProcRef::Name("sp_who".into()).is_execute_sql());
        assert!(!ProcRef::Id(13).is_execute_sql());
    }

    #[test]
    fn several_requests_in_one_message() {
        let mut out = tiberius_execute_sql("SELECT 1", 1);
        out.push(0xFF);
        let second = tiberius_execute_sql("SELECT 2", 2);
        out.extend_from_slice(&second[22..]);
        let requests = parse(&out).unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(
            requests[1].params[0].value,
            ColumnData::Text("SELECT 2".into())
        );
    }

    #[test]
    fn malformed_requests_name_the_parameter() {
        let good = tiberius_execute_sql("SELECT @P1", 7);
        for cut in 0..good.len() {
            // Never a panic; a cut between parameters is a shorter valid request.
            let _ = parse(&good[..cut]);
        }
        assert!(parse(&good[..good.len() - 2]).is_err());
        assert!(parse(&good[..30]).is_err());
        let mut bad = good.clone();
        let at = bad.len() - 7;
        bad[at] = 0x62; // sql_variant
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("parameter 3 of sp_executesql"), "{err}");
    }
}
