//! The procedures a batch may `EXEC`: `sp_executesql` and `sp_set_session_context`, and their
//! arguments.

use super::{Batch, Exec, Vars};
use crate::sql::conversion;
use crate::sql::conversion::Mode;
use crate::sql::errors;
use crate::sql::errors::SqlError;
use crate::sql::types::SqlType;
use crate::sql::types::{self, TypeContext, TypeInfo};
use crate::sql::values;
use rusqlite::types::Value as Sv;
use sqlparser::ast::Statement;

impl Exec<'_> {
    /// `EXEC sp_executesql N'statement' [, N'@a int, @b nvarchar(10)' [, @a = 1 | 1, ...]]`
    /// written in a batch: the statement runs as its own batch with those parameters.
    pub(super) fn sp_executesql(
        &mut self,
        b: &mut Batch<'_>,
        parameters: &[sqlparser::ast::Expr],
        db: &str,
    ) -> Result<(), SqlError> {
        use sqlparser::ast::{BinaryOperator, Expr};
        let Some(first) = parameters.first() else {
            return Err(errors::SP_EXECUTESQL_STATEMENT.plain());
        };
        let (text, _) = self.scalar(b, first, db)?;
        let Sv::Text(text) = text else {
            return Err(errors::SP_EXECUTESQL_STATEMENT.plain());
        };
        let mut declared: Vec<(String, SqlType)> = Vec::new();
        if let Some(decl) = parameters.get(1) {
            let (d, _) = self.scalar(b, decl, db)?;
            if let Sv::Text(d) = d {
                if !d.trim().is_empty() {
                    let parsed = crate::sql::parse::parse_batch(&format!("DECLARE {d}"))?;
                    for located in parsed.iter() {
                        let crate::sql::parse::Stmt::Sql(s) = &located.stmt else {
                            return Err(errors::SYNTAX.with(&[&d]));
                        };
                        let Statement::Declare { stmts, .. } = s.as_ref() else {
                            return Err(errors::SYNTAX.with(&[&d]));
                        };
                        for decl in stmts {
                            let dt = decl
                                .data_type
                                .as_ref()
                                .ok_or_else(|| errors::SYNTAX.with(&[&d]))?;
                            for (i, name) in decl.names.iter().enumerate() {
                                let ty = types::parse_type(
                                    &dt.to_string(),
                                    TypeContext::Declaration,
                                    i + 1,
                                    &format!("parameter '{}'", name.value),
                                )?;
                                declared.push((name.value.clone(), ty));
                            }
                        }
                    }
                }
            }
        }
        let mut inner_vars = Vars::default();
        for (name, ty) in &declared {
            inner_vars.set(name, Sv::Null, TypeInfo::of(ty.clone(), true));
        }
        for (position, arg) in parameters.iter().skip(2).enumerate() {
            let (name, value_expr) = match arg {
                Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq,
                    right,
                } => match left.as_ref() {
                    Expr::Identifier(i) if i.value.starts_with('@') => {
                        (i.value.clone(), right.as_ref())
                    }
                    _ => return Err(errors::SYNTAX.with(&["="])),
                },
                other => match declared.get(position) {
                    Some((n, _)) => (n.clone(), other),
                    None => return Err(errors::SP_EXECUTESQL_TOO_MANY.plain()),
                },
            };
            let Some((_, ty)) = declared.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) else {
                return Err(errors::SP_EXECUTESQL_UNKNOWN_PARAMETER.with(&[&name]));
            };
            let (v, source) = self.scalar(b, value_expr, db)?;
            let v = conversion::convert(
                (&v).into(),
                ty,
                source.as_ref(),
                &Mode::Cast { try_: false },
            )?;
            inner_vars.set(&name, v, TypeInfo::of(ty.clone(), true));
        }
        let statements = crate::sql::parse::parse_batch(&text)?;
        let mut inner = Batch {
            session: &mut *b.session,
            vars: inner_vars,
            out: Vec::new(),
            directory: b.directory,
            logins: b.logins.clone(),
            text: &text,
        };
        let mut failure = None;
        for located in statements.iter() {
            if let Err(e) = self.run(&mut inner, located, None, db) {
                failure = Some(e);
                break;
            }
        }
        let out = std::mem::take(&mut inner.out);
        b.out.extend(out);
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `EXEC sp_set_session_context [@key =] N'key', [@value =] value [, [@read_only =] bit]`.
    /// An extended procedure's arguments bind by position whatever names they carry (Microsoft
    /// Learn: "Arguments for extended stored procedures must be entered in the specific order";
    /// mirek/msduck, observing SQL Server 2025: `@value = N'x', @key = N'named'` stores key
    /// `x`). The errors for a wrong count, a `NULL` key or `@read_only` are the ones observed
    /// there, naming the procedure by its internal name as SQL Server does.
    pub(super) fn sp_set_session_context(
        &mut self,
        b: &mut Batch<'_>,
        parameters: &[sqlparser::ast::Expr],
        db: &str,
    ) -> Result<(), SqlError> {
        const INTERNAL_NAME: &str = "sp_set_connection_context";
        if parameters.len() < 2 {
            return Err(errors::PROCEDURE_PARAMETER_COUNT.with(&[INTERNAL_NAME]));
        }
        if parameters.len() > 3 {
            return Err(errors::PROCEDURE_TOO_MANY_PARAMETERS.with(&[INTERNAL_NAME]));
        }
        let mut values = Vec::with_capacity(parameters.len());
        for p in parameters {
            values.push(self.procedure_argument(b, p, db)?);
        }
        let key = match &values[0] {
            Sv::Null => {
                return Err(errors::PROCEDURE_PARAMETERS_INVALID.with(&["sp_set_session_context"]))
            }
            Sv::Text(t) => t.clone(),
            Sv::Integer(i) => i.to_string(),
            Sv::Real(r) => values::format_real(*r, None),
            Sv::Blob(_) => return Err(errors::INVALID_PROCEDURE_PARAMETER.with(&[INTERNAL_NAME])),
        };
        if key.is_empty() {
            return Err(errors::SESSION_CONTEXT_KEY_TOO_LONG.with(&[&key]));
        }
        let read_only = match values.get(2) {
            None => false,
            Some(Sv::Integer(i)) => *i != 0,
            Some(Sv::Real(r)) => *r != 0.0,
            Some(Sv::Text(t)) => match t.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                n => n
                    .parse::<f64>()
                    .map(|n| n != 0.0)
                    .map_err(|_| errors::INVALID_PROCEDURE_PARAMETER.with(&[INTERNAL_NAME]))?,
            },
            Some(Sv::Null | Sv::Blob(_)) => {
                return Err(errors::INVALID_PROCEDURE_PARAMETER.with(&[INTERNAL_NAME]))
            }
        };
        let value = values.swap_remove(1);
        b.session.context.set(&key, value, read_only)?;
        self.ctx_lock().session.context = b.session.context.clone();
        self.done(b, None);
        Ok(())
    }

    /// The value of one `EXEC` argument, its `@name =` dropped: a constant, a variable, or a bare
    /// word (which T-SQL reads as a character string in `EXEC`). The parser has already refused
    /// anything else.
    pub(super) fn procedure_argument(
        &mut self,
        b: &Batch<'_>,
        argument: &sqlparser::ast::Expr,
        db: &str,
    ) -> Result<Sv, SqlError> {
        use sqlparser::ast::Expr;
        match crate::sql::parse::argument_value(argument) {
            Expr::Identifier(word)
                if word.quote_style.is_none() && !word.value.starts_with('@') =>
            {
                Ok(Sv::Text(word.value.clone()))
            }
            other => Ok(self.scalar(b, other, db)?.0),
        }
    }
}
