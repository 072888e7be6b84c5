//! `SET`: the session options SQL Server has (`NOCOUNT`, `XACT_ABORT`, `LOCK_TIMEOUT`,
//! `IDENTITY_INSERT`, ...) and variable assignment.

use super::{Batch, Exec};
use crate::sql::conversion;
use crate::sql::conversion::Mode;
use crate::sql::errors;
use crate::sql::errors::SqlError;
use crate::sql::session::Session;
use sqlparser::ast::{Set, SetSessionParamKind, TransactionIsolationLevel, TransactionMode};

impl Exec<'_> {
    pub(super) fn set(&mut self, b: &mut Batch<'_>, set: &Set, db: &str) -> Result<(), SqlError> {
        match set {
            Set::SetSessionParam(SetSessionParamKind::Generic(g)) => {
                for name in &g.names {
                    set_option(b.session, name, &g.value)?;
                }
                Ok(())
            }
            Set::SetSessionParam(SetSessionParamKind::IdentityInsert(ii)) => {
                let table = self.meta.catalog.resolve(&ii.obj, db)?;
                if table.identity.is_none() {
                    return Err(errors::IDENTITY_INSERT_NO_IDENTITY.with(&[&table.name]));
                }
                let on = matches!(ii.value, sqlparser::ast::SessionParamValue::On);
                b.session.options.identity_insert = on.then(|| table.name.clone());
                Ok(())
            }
            Set::SetSessionParam(SetSessionParamKind::Statistics(_)) => Ok(()),
            Set::SetSessionParam(other) => {
                Err(errors::NOT_SUPPORTED.with(&[&format!("SET {other}")]))
            }
            Set::SetTransaction { modes, .. } => {
                for mode in modes {
                    if let TransactionMode::IsolationLevel(level) = mode {
                        let number = match level {
                            TransactionIsolationLevel::ReadUncommitted => 1,
                            TransactionIsolationLevel::ReadCommitted => 2,
                            TransactionIsolationLevel::RepeatableRead => 3,
                            TransactionIsolationLevel::Serializable => 4,
                            TransactionIsolationLevel::Snapshot => 5,
                        };
                        b.session.options.isolation = number;
                        // Seen by the batch's next statements (`sys.dm_exec_sessions`).
                        self.ctx_lock().session.isolation = i64::from(number);
                    }
                }
                Ok(())
            }
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = crate::sql::catalog::display_name(variable);
                if !name.starts_with('@') {
                    let value = values.first().map(|v| v.to_string()).unwrap_or_default();
                    return set_option(b.session, &name, &value);
                }
                let key = name.to_lowercase();
                let ty = b
                    .vars
                    .types
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| errors::UNDECLARED_VARIABLE.with(&[&name]))?;
                let Some(e) = values.first() else {
                    return Err(errors::SYNTAX.with(&["="]));
                };
                let (v, source) = self.scalar(b, e, db)?;
                let value = match &ty.ty {
                    Some(t) => conversion::convert(
                        (&v).into(),
                        t,
                        source.as_ref(),
                        &Mode::Cast { try_: false },
                    )?,
                    None => v,
                };
                b.vars.set(&name, value, ty);
                Ok(())
            }
            other => Err(errors::NOT_SUPPORTED.with(&[&other
                .to_string()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")])),
        }
    }
}

/// The `SET` options drivers send after login, and a few scripts use.
pub(super) fn set_option(session: &mut Session, name: &str, value: &str) -> Result<(), SqlError> {
    let upper = name.to_ascii_uppercase();
    let on_off = || -> Result<bool, SqlError> {
        match value.to_ascii_uppercase().as_str() {
            "ON" => Ok(true),
            "OFF" => Ok(false),
            _ => Err(errors::SET_OPTION_VALUE.with(&[value])),
        }
    };
    let number = || -> Result<i64, SqlError> {
        value
            .trim()
            .parse::<i64>()
            .map_err(|_| errors::SET_OPTION_VALUE.with(&[value]))
    };
    let options = &mut session.options;
    match upper.as_str() {
        "NOCOUNT" => options.nocount = on_off()?,
        "XACT_ABORT" => options.xact_abort = on_off()?,
        "ANSI_NULLS"
        | "ANSI_PADDING"
        | "ANSI_WARNINGS"
        | "ANSI_NULL_DFLT_ON"
        | "ANSI_NULL_DFLT_OFF"
        | "ANSI_DEFAULTS"
        | "ARITHABORT"
        | "ARITHIGNORE"
        | "CONCAT_NULL_YIELDS_NULL"
        | "CURSOR_CLOSE_ON_COMMIT"
        | "QUOTED_IDENTIFIER"
        | "NUMERIC_ROUNDABORT"
        | "FORCEPLAN"
        | "NO_BROWSETABLE" => {
            on_off()?;
        }
        "IMPLICIT_TRANSACTIONS" | "FMTONLY" | "NOEXEC" | "PARSEONLY" => {
            if on_off()? {
                return Err(errors::NOT_SUPPORTED.with(&[&format!("SET {upper} ON")]));
            }
        }
        "TEXTSIZE" => {
            let n = number()?;
            options.textsize = if n <= 0 {
                i32::MAX
            } else {
                n.min(i32::MAX as i64) as i32
            };
        }
        "LOCK_TIMEOUT" => options.lock_timeout = number()?.clamp(-1, i32::MAX as i64) as i32,
        "DATEFIRST" => {
            let n = number()?;
            if !(1..=7).contains(&n) {
                return Err(errors::SET_OPTION_VALUE.with(&[value]));
            }
            options.datefirst = n as u8;
        }
        "DATEFORMAT" => {
            let v = value.trim_matches('\'').to_ascii_lowercase();
            if !["mdy", "dmy", "ymd", "ydm", "myd", "dym"].contains(&v.as_str()) {
                return Err(errors::SET_OPTION_VALUE.with(&[value]));
            }
            options.dateformat = v;
        }
        "LANGUAGE" => {
            let v = value.trim_matches(|c| c == '\'' || c == '[' || c == ']');
            options.language = match v.to_ascii_lowercase().as_str() {
                "us_english" | "english" => "us_english".into(),
                _ => return Err(errors::NOT_SUPPORTED.with(&[&format!("SET LANGUAGE {v}")])),
            };
        }
        "DEADLOCK_PRIORITY" | "QUERY_GOVERNOR_COST_LIMIT" | "CONTEXT_INFO" => {}
        "ROWCOUNT" => {
            if number()? != 0 {
                return Err(errors::NOT_SUPPORTED.with(&["SET ROWCOUNT"]));
            }
        }
        _ => return Err(errors::SYNTAX.with(&[name])),
    }
    Ok(())
}
