//! What a call to one of the system procedures drivers use asks for, read from an RPC request:
//! `sp_executesql` (ProcID 10, tiberius, tedious, SqlClient), `sp_prepexec`/`sp_prepare`/
//! `sp_execute`/`sp_unprepare` (13, 11, 12, 15: Microsoft's ODBC and JDBC drivers): statement,
//! parameter declaration, prepared-statement handles and the named (or positional) values the
//! engine binds; SQL Server's errors for a call it cannot make sense of.

use super::messages;
use super::wire_types::value;
use crate::sql::{SqlError, Value};
use crate::tds::rpc::{
    RpcParam, RpcRequest, SP_EXECUTE, SP_EXECUTESQL, SP_PREPARE, SP_PREPEXEC, SP_UNPREPARE,
};
use crate::tds::types::ColumnData;

/// What a call to one of the system procedures drivers use asks for.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum SystemCall {
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
pub(super) fn declared_names(declaration: &str) -> Vec<String> {
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
pub(super) fn bind(
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
        Some(ColumnData::Text(s)) => Ok(s.to_string()),
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
        None | Some(ColumnData::Null) => Ok(Vec::new()),
        Some(ColumnData::Text(s)) => Ok(declared_names(s)),
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
        Some(ColumnData::Null) => Ok(None),
        Some(ColumnData::Int(h)) => i32::try_from(*h)
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
        .map(|p| (p.name.clone(), value(&p.value)))
        .collect()
}

/// Reads a call to `sp_executesql`, `sp_prepexec`, `sp_prepare`, `sp_execute` or
/// `sp_unprepare`; any other procedure is SQL Server's 2812, and missing or mistyped
/// arguments its 201/214/8144.
pub(super) fn system_call(request: &RpcRequest) -> Result<SystemCall, SqlError> {
    let name = request.proc_ref.display_name();
    let p = &request.params;
    match request.proc_ref.system_proc() {
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
        _ => Err(messages::unknown_procedure(&name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tds::batch::tests::all_headers;
    use crate::tds::rpc::tests::{nvarchar_param, tiberius_execute_sql};
    use crate::tds::rpc::{parse, ProcRef};
    use crate::tds::types::ParamType;
    use crate::tds::wire::{put_b_varchar, put_utf16};

    #[test]
    fn reads_execute_sql_by_id() {
        let requests = parse(&tiberius_execute_sql("SELECT @P1", 7)).unwrap();
        assert_eq!(
            system_call(&requests[0]).unwrap(),
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
        let SystemCall::ExecuteSql { params, .. } = system_call(req).unwrap() else {
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
    fn execute_sql_errors_are_sql_server_errors() {
        let req = RpcRequest {
            proc_ref: ProcRef::Id(10),
            options: 0,
            params: vec![],
        };
        assert_eq!(system_call(&req).unwrap_err().number, 214);
        let p = |name: &str, value: ColumnData<'static>| RpcParam {
            name: name.into(),
            by_ref: false,
            param_type: ParamType::Null,
            value,
        };
        let req = RpcRequest {
            proc_ref: ProcRef::Id(10),
            options: 0,
            params: vec![
                p("", ColumnData::Text("SELECT 1".into())),
                p("", ColumnData::Text("".into())),
                p("", ColumnData::Int(1)),
            ],
        };
        assert_eq!(system_call(&req).unwrap_err().number, 8144);
        let req = RpcRequest {
            proc_ref: ProcRef::Name("sp_who".into()),
            options: 0,
            params: vec![],
        };
        assert_eq!(system_call(&req).unwrap_err().number, 2812);
    }

    fn param(name: &str, by_ref: bool, value: ColumnData<'static>) -> RpcParam {
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
                param("", true, ColumnData::Null),
                param("", false, ColumnData::Text("@P1 bit,@P2 int".into())),
                param("", false, ColumnData::Text("SELECT 1 WHERE ? = @P1".into())),
                param("", false, ColumnData::Bool(true)),
                param("", false, ColumnData::Int(1)),
            ],
        };
        assert_eq!(
            system_call(&req).unwrap(),
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
                param("", false, ColumnData::Int(3)),
                param("", false, ColumnData::Int(9)),
            ],
        };
        assert_eq!(
            system_call(&req).unwrap(),
            SystemCall::Execute {
                handle: 3,
                values: vec![(String::new(), Value::Int(9))]
            }
        );
        let req = RpcRequest {
            proc_ref: ProcRef::Id(SP_UNPREPARE),
            options: 0,
            params: vec![param("", false, ColumnData::Int(3))],
        };
        assert_eq!(
            system_call(&req).unwrap(),
            SystemCall::Unprepare { handle: 3 }
        );
        let req = RpcRequest {
            proc_ref: ProcRef::Id(SP_EXECUTE),
            options: 0,
            params: vec![],
        };
        assert_eq!(system_call(&req).unwrap_err().number, 201);
        let req = RpcRequest {
            proc_ref: ProcRef::Id(SP_PREPARE),
            options: 0,
            params: vec![
                param("@h", true, ColumnData::Int(2)),
                param("", false, ColumnData::Null),
                param("", false, ColumnData::Text("SELECT 1".into())),
            ],
        };
        assert_eq!(
            system_call(&req).unwrap(),
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
    fn reading_random_and_truncated_requests_never_panics() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7D5);
        let request = tiberius_execute_sql("SELECT @P1", 5);
        for input in crate::tds::robustness_tests::mutations(&request, &mut rng) {
            for r in parse(&input).unwrap_or_default() {
                let _ = system_call(&r);
            }
        }
    }
}
