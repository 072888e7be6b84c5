//! RPC requests (MS-TDS 2.2.6.6): ALL_HEADERS, the procedure (by ProcID or by name), option
//! flags and typed parameters; several requests may share a message, separated by a batch flag.
//! Also the meaning of the system procedures drivers call — `sp_executesql` (ProcID 10, tiberius,
//! tedious, SqlClient), `sp_prepexec`/`sp_prepare`/`sp_execute`/`sp_unprepare` (13, 11, 12, 15:
//! Microsoft's ODBC and JDBC drivers): statement, parameter declaration, prepared-statement
//! handles and the named (or positional) values the engine binds.

use super::batch::skip_all_headers;
use super::error::CodecError;
use super::types::{read_type_info, read_value, ParamType};
use super::wire::Reader;
use crate::sql::{SqlError, Value};

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
    pub value: Value,
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

/// What a call to one of the system procedures drivers use asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum SystemCall {
    /// `sp_executesql`: run `statement` with these named values.
    ExecuteSql {
        /// The statement.
        statement: String,
        /// The values, by name (`@P1`).
        params: Vec<(String, Value)>,
    },
    /// `sp_prepexec`: prepare `statement` (after dropping `unprepare`), return its handle, run it.
    PrepExec {
        /// A handle to drop first (the client piggybacks the release of an old one).
        unprepare: Option<i32>,
        /// The `@handle` parameter's name as sent, for the RETURNVALUE.
        handle_name: String,
        /// The statement.
        statement: String,
        /// The parameter names its declaration gives, in order.
        declared: Vec<String>,
        /// The values, by name.
        params: Vec<(String, Value)>,
    },
    /// `sp_prepare`: prepare `statement` and return its handle.
    Prepare {
        /// A handle to drop first.
        unprepare: Option<i32>,
        /// The `@handle` parameter's name as sent.
        handle_name: String,
        /// The statement.
        statement: String,
        /// The parameter names its declaration gives, in order.
        declared: Vec<String>,
    },
    /// `sp_execute`: run a prepared statement with these values (named, or empty names for
    /// positional ones).
    Execute {
        /// The prepared statement's handle.
        handle: i32,
        /// The values as sent.
        values: Vec<(String, Value)>,
    },
    /// `sp_unprepare`: forget a prepared statement.
    Unprepare {
        /// Its handle.
        handle: i32,
    },
}

fn sql_error(number: u32, message: String) -> SqlError {
    SqlError {
        number,
        state: 1,
        severity: 16,
        message,
        line: 1,
    }
}

/// The names declared in `@params` (`N'@P1 int, @name nvarchar(50) OUTPUT'`), in order.
pub fn declared_names(declaration: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut item = String::new();
    for c in declaration.chars().chain(std::iter::once(',')) {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                if let Some(name) = item.split_whitespace().next() {
                    names.push(name.to_string());
                }
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    names
}

/// Names each value: its own name when the client sent one, else the declaration's name at its
/// position (8144 when there are more values than declared names). Every name starts with `@`.
pub fn bind(
    declared: &[String],
    values: &[(String, Value)],
) -> Result<Vec<(String, Value)>, SqlError> {
    values
        .iter()
        .enumerate()
        .map(|(i, (name, value))| {
            let name = if name.is_empty() {
                declared.get(i).cloned().ok_or_else(|| {
                    sql_error(
                        8144,
                        "Procedure or function has too many arguments specified.".into(),
                    )
                })?
            } else {
                name.clone()
            };
            let name = if name.starts_with('@') {
                name
            } else {
                format!("@{name}")
            };
            Ok((name, value.clone()))
        })
        .collect()
}

fn text_param(p: Option<&RpcParam>, proc_name: &str, param: &str) -> Result<String, SqlError> {
    match p.map(|p| &p.value) {
        Some(Value::Text(s)) => Ok(s.clone()),
        _ => Err(sql_error(
            214,
            format!(
                "Procedure {proc_name} expects parameter '{param}' of type 'ntext/nchar/nvarchar'."
            ),
        )),
    }
}

fn declaration(p: Option<&RpcParam>, proc_name: &str) -> Result<Vec<String>, SqlError> {
    match p.map(|p| &p.value) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Text(s)) => Ok(declared_names(s)),
        Some(_) => Err(sql_error(
            214,
            format!(
                "Procedure {proc_name} expects parameter '@params' of type 'ntext/nchar/nvarchar'."
            ),
        )),
    }
}

fn handle(p: Option<&RpcParam>, proc_name: &str) -> Result<Option<i32>, SqlError> {
    match p.map(|p| &p.value) {
        None => Err(sql_error(
            201,
            format!("Procedure or function '{proc_name}' expects parameter '@handle', which was not supplied."),
        )),
        Some(Value::Null) => Ok(None),
        Some(Value::Int(h)) => i32::try_from(*h)
            .map(Some)
            .map_err(|_| sql_error(8179, format!("Could not find prepared statement with handle {h}."))),
        Some(other) => Err(sql_error(
            8114,
            format!("Error converting data type {other:?} to int for parameter '@handle'."),
        )),
    }
}

fn values(params: &[RpcParam]) -> Vec<(String, Value)> {
    params
        .iter()
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect()
}

impl RpcRequest {
    /// Reads a call to `sp_executesql`, `sp_prepexec`, `sp_prepare`, `sp_execute` or
    /// `sp_unprepare`; any other procedure is SQL Server's 2812, and missing or mistyped
    /// arguments its 201/214/8144.
    pub fn system_call(&self) -> Result<SystemCall, SqlError> {
        let name = self.proc_ref.display_name();
        let p = &self.params;
        match self.proc_ref.system_proc() {
            Some(SP_EXECUTESQL) => {
                let statement = text_param(p.first(), &name, "@statement")?;
                let declared = declaration(p.get(1), &name)?;
                let params = bind(&declared, &values(p.get(2..).unwrap_or_default()))?;
                Ok(SystemCall::ExecuteSql { statement, params })
            }
            Some(SP_PREPEXEC) => {
                let unprepare = handle(p.first(), &name)?;
                let declared = declaration(p.get(1), &name)?;
                let statement = text_param(p.get(2), &name, "@stmt")?;
                let params = bind(&declared, &values(p.get(3..).unwrap_or_default()))?;
                Ok(SystemCall::PrepExec {
                    unprepare,
                    handle_name: p[0].name.clone(),
                    statement,
                    declared,
                    params,
                })
            }
            Some(SP_PREPARE) => {
                let unprepare = handle(p.first(), &name)?;
                let declared = declaration(p.get(1), &name)?;
                let statement = text_param(p.get(2), &name, "@stmt")?;
                Ok(SystemCall::Prepare {
                    unprepare,
                    handle_name: p[0].name.clone(),
                    statement,
                    declared,
                })
            }
            Some(SP_EXECUTE) => match handle(p.first(), &name)? {
                Some(handle) => Ok(SystemCall::Execute {
                    handle,
                    values: values(&p[1..]),
                }),
                None => Err(sql_error(
                    8179,
                    "Could not find prepared statement with handle NULL.".into(),
                )),
            },
            Some(SP_UNPREPARE) => match handle(p.first(), &name)? {
                Some(handle) => Ok(SystemCall::Unprepare { handle }),
                None => Err(sql_error(
                    8179,
                    "Could not find prepared statement with handle NULL.".into(),
                )),
            },
            _ => Err(SqlError {
                number: 2812,
                state: 62,
                severity: 16,
                message: format!("Could not find stored procedure '{name}'."),
                line: 1,
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tds::batch::tests::all_headers;
    use crate::tds::wire::{put_b_varchar, put_utf16};

    fn nvarchar_param(out: &mut Vec<u8>, name: &str, value: &str) {
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
        assert_eq!(
            req.system_call().unwrap(),
            SystemCall::ExecuteSql {
                statement: "SELECT @P1".into(),
                params: vec![("@P1".to_string(), Value::Int(7))]
            }
        );
    }

    #[test]
    fn parses_execute_sql_by_name_with_positional_values() {
        let mut out = all_headers();
        let mut name = Vec::new();
        let n = put_utf16(&mut name, "sp_executesql");
        out.extend_from_slice(&(n as u16).to_le_bytes());
        out.extend_from_slice(&name);
        out.extend_from_slice(&[0, 0]);
        nvarchar_param(&mut out, "", "SELECT @a, @b");
        nvarchar_param(&mut out, "", "@a decimal(10, 2), @b nvarchar(10) OUTPUT");
        nvarchar_param(&mut out, "", "x");
        put_b_varchar(&mut out, "");
        out.push(0);
        out.push(0x1F);
        let req = &parse(&out).unwrap()[0];
        assert_eq!(req.proc_ref, ProcRef::Name("sp_executesql".into()));
        let SystemCall::ExecuteSql { params, .. } = req.system_call().unwrap() else {
            panic!("not sp_executesql");
        };
        assert_eq!(
            params,
            vec![
                ("@a".to_string(), Value::Text("x".into())),
                ("@b".to_string(), Value::Null)
            ]
        );
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
    fn execute_sql_errors_are_sql_server_errors() {
        let req = RpcRequest {
            proc_ref: ProcRef::Id(10),
            options: 0,
            params: vec![],
        };
        assert_eq!(req.system_call().unwrap_err().number, 214);
        let p = |name: &str, value: Value| RpcParam {
            name: name.into(),
            by_ref: false,
            param_type: ParamType::Null,
            value,
        };
        let req = RpcRequest {
            proc_ref: ProcRef::Id(10),
            options: 0,
            params: vec![
                p("", Value::Text("SELECT 1".into())),
                p("", Value::Text(String::new())),
                p("", Value::Int(1)),
            ],
        };
        assert_eq!(req.system_call().unwrap_err().number, 8144);
        let req = RpcRequest {
            proc_ref: ProcRef::Name("sp_who".into()),
            options: 0,
            params: vec![],
        };
        assert_eq!(req.system_call().unwrap_err().number, 2812);
    }

    fn param(name: &str, by_ref: bool, value: Value) -> RpcParam {
        RpcParam {
            name: name.into(),
            by_ref,
            param_type: ParamType::Null,
            value,
        }
    }

    #[test]
    fn reads_the_prepared_statement_procedures() {
        // sp_prepexec as ODBC sends it: @handle OUTPUT (NULL), declaration, statement, values.
        let req = RpcRequest {
            proc_ref: ProcRef::Id(SP_PREPEXEC),
            options: 0,
            params: vec![
                param("", true, Value::Null),
                param("", false, Value::Text("@P1 bit,@P2 int".into())),
                param("", false, Value::Text("SELECT 1 WHERE ? = @P1".into())),
                param("", false, Value::Bool(true)),
                param("", false, Value::Int(1)),
            ],
        };
        assert_eq!(
            req.system_call().unwrap(),
            SystemCall::PrepExec {
                unprepare: None,
                handle_name: String::new(),
                statement: "SELECT 1 WHERE ? = @P1".into(),
                declared: vec!["@P1".into(), "@P2".into()],
                params: vec![
                    ("@P1".into(), Value::Bool(true)),
                    ("@P2".into(), Value::Int(1))
                ],
            }
        );
        let req = RpcRequest {
            proc_ref: ProcRef::Name("sp_execute".into()),
            options: 0,
            params: vec![
                param("", false, Value::Int(3)),
                param("", false, Value::Int(9)),
            ],
        };
        assert_eq!(
            req.system_call().unwrap(),
            SystemCall::Execute {
                handle: 3,
                values: vec![(String::new(), Value::Int(9))]
            }
        );
        let req = RpcRequest {
            proc_ref: ProcRef::Id(SP_UNPREPARE),
            options: 0,
            params: vec![param("", false, Value::Int(3))],
        };
        assert_eq!(
            req.system_call().unwrap(),
            SystemCall::Unprepare { handle: 3 }
        );
        let req = RpcRequest {
            proc_ref: ProcRef::Id(SP_EXECUTE),
            options: 0,
            params: vec![],
        };
        assert_eq!(req.system_call().unwrap_err().number, 201);
        let req = RpcRequest {
            proc_ref: ProcRef::Id(SP_PREPARE),
            options: 0,
            params: vec![
                param("@h", true, Value::Int(2)),
                param("", false, Value::Null),
                param("", false, Value::Text("SELECT 1".into())),
            ],
        };
        assert_eq!(
            req.system_call().unwrap(),
            SystemCall::Prepare {
                unprepare: Some(2),
                handle_name: "@h".into(),
                statement: "SELECT 1".into(),
                declared: vec![]
            }
        );
    }

    #[test]
    fn binds_positional_values_by_declaration() {
        let declared = vec!["@a".to_string(), "b".to_string()];
        assert_eq!(
            bind(
                &declared,
                &[
                    (String::new(), Value::Int(1)),
                    (String::new(), Value::Int(2))
                ]
            )
            .unwrap(),
            vec![
                ("@a".to_string(), Value::Int(1)),
                ("@b".to_string(), Value::Int(2))
            ]
        );
        assert_eq!(
            bind(&declared, &vec![(String::new(), Value::Null); 3])
                .unwrap_err()
                .number,
            8144
        );
        assert_eq!(
            declared_names("@a decimal(10, 2), @b nvarchar(max) OUTPUT"),
            ["@a", "@b"]
        );
        assert!(declared_names("").is_empty());
    }

    #[test]
    fn several_requests_in_one_message() {
        let mut out = tiberius_execute_sql("SELECT 1", 1);
        out.push(0xFF);
        let second = tiberius_execute_sql("SELECT 2", 2);
        out.extend_from_slice(&second[22..]);
        let requests = parse(&out).unwrap();
        assert_eq!(requests.len(), 2);
        assert!(matches!(
            requests[1].system_call(),
            Ok(SystemCall::ExecuteSql { statement, .. }) if statement == "SELECT 2"
        ));
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
