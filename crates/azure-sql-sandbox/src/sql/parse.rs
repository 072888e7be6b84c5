//! Splits a T-SQL batch into statements and parses each with `sqlparser`'s MsSql dialect, adding
//! what that parser lacks and Azure SQL scripts need: `CREATE USER ... FROM EXTERNAL PROVIDER`
//! (and `WITH PASSWORD`, `WITHOUT LOGIN`), `GRANT`/`DENY`/`REVOKE ... ON OBJECT::`/`SCHEMA::`,
//! `EXECUTE AS USER = '...'` and `REVERT`,
//! and `IF ... [ELSE ...]` / `BEGIN ... END` whose bodies may hold any of these. Statements need
//! no semicolons between them, as in T-SQL. A syntax error becomes SQL Server's 102 (or 156 near
//! a keyword, 105 for an unclosed quote) with the line it is on.

use super::errors::{self, SqlError};
use super::syntax_errors::{syntax_error, unclosed_or_syntax};
use sqlparser::ast::{BinaryOperator, Expr, ObjectName, Statement, UnaryOperator};
use sqlparser::dialect::MsSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// A statement and the 1-based line of the batch it starts on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Located {
    pub stmt: Stmt,
    pub line: u32,
}

/// How a `CREATE USER` finds its principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NewUser {
    /// `FROM EXTERNAL PROVIDER [WITH OBJECT_ID = '...']`: a Microsoft Entra identity.
    External { object_id: Option<String> },
    /// `WITH PASSWORD = '...'`: a contained database user.
    Password(super::principals::Password),
    /// `WITHOUT LOGIN`.
    WithoutLogin,
    /// `FOR LOGIN x` / `FROM LOGIN x` (or no clause: the login of the same name).
    FromLogin(String),
}

/// `GRANT`, `DENY` or `REVOKE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PermissionVerb {
    Grant,
    Deny,
    Revoke,
}

/// One statement.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Stmt {
    /// Anything `sqlparser` parses itself.
    Sql(Box<Statement>),
    /// `CREATE USER`.
    CreateUser { name: String, how: NewUser },
    /// `EXECUTE AS USER = 'name'`: the session takes that database user's identity.
    ExecuteAs { user: String },
    /// `REVERT`: back to the identity before the last `EXECUTE AS`.
    Revert,
    /// `GRANT`/`DENY`/`REVOKE permissions [ON [class::]securable] TO principals`.
    Permission {
        verb: PermissionVerb,
        permissions: Vec<String>,
        /// The securable class (`OBJECT`, `SCHEMA`, ...) when written, and its name; `None`: the
        /// database.
        on: Option<(Option<String>, ObjectName)>,
        principals: Vec<String>,
    },
    /// `IF condition statement-or-block [ELSE statement-or-block]`.
    If {
        condition: Expr,
        then: Vec<Located>,
        otherwise: Vec<Located>,
    },
    /// `BEGIN ... END`.
    Block(Vec<Located>),
    /// `BEGIN TRAN`, `COMMIT`, `ROLLBACK`, `SAVE TRAN`.
    Transaction(TxnStmt),
}

/// A transaction statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TxnStmt {
    /// `BEGIN TRAN[SACTION] [name | @variable] [WITH MARK ['description']]`
    Begin(Option<TxnName>),
    /// `COMMIT [TRAN[SACTION] [name | @variable] | WORK] [WITH (DELAYED_DURABILITY = ...)]`
    Commit,
    /// `ROLLBACK [TRAN[SACTION] [name | @variable] | WORK]`: the transaction, or to a savepoint.
    Rollback(Option<TxnName>),
    /// `SAVE TRAN[SACTION] name | @variable`
    Save(TxnName),
}

/// A transaction or savepoint name as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TxnName {
    /// A name.
    Literal(String),
    /// An `@variable` holding the name.
    Variable(String),
}

/// How many operators an expression may chain (counting the enclosing parentheses' chains too):
/// `a + b + ...` parses into a tree as deep as the chain, and trees that deep are refused before
/// they are built, as SQL Server refuses them (error 191), rather than exhausting the stack.
const MAX_OPERATOR_CHAIN: usize = 1000;

fn check_depth(tokens: &[TokenWithSpan]) -> Result<(), SqlError> {
    let mut chains: Vec<usize> = vec![0];
    let mut total = 0usize;
    for t in tokens {
        match &t.token {
            Token::LParen => chains.push(0),
            Token::RParen if chains.len() > 1 => {
                total -= chains.pop().unwrap_or(0);
            }
            Token::Comma | Token::SemiColon => {
                if let Some(c) = chains.last_mut() {
                    total -= *c;
                    *c = 0;
                }
            }
            Token::Word(w) if w.quote_style.is_none() => {
                let operator = ["AND", "OR", "NOT"]
                    .iter()
                    .any(|k| w.value.eq_ignore_ascii_case(k));
                let clause = [
                    "SELECT", "FROM", "WHERE", "VALUES", "SET", "WHEN", "THEN", "ELSE", "ON",
                    "HAVING", "BY", "AS", "IF", "BEGIN", "END", "INSERT", "UPDATE", "DELETE",
                ]
                .iter()
                .any(|k| w.value.eq_ignore_ascii_case(k));
                if clause {
                    if let Some(c) = chains.last_mut() {
                        total -= *c;
                        *c = 0;
                    }
                } else if operator {
                    if let Some(c) = chains.last_mut() {
                        *c += 1;
                    }
                    total += 1;
                }
            }
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::Eq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::Ampersand
            | Token::Pipe
            | Token::Caret
            | Token::StringConcat => {
                if let Some(c) = chains.last_mut() {
                    *c += 1;
                }
                total += 1;
            }
            _ => {}
        }
        if total > MAX_OPERATOR_CHAIN {
            let mut e = errors::NESTED_TOO_DEEPLY.plain();
            e.line = (t.span.start.line as u32).max(1);
            return Err(e);
        }
    }
    Ok(())
}

/// Parses a whole batch; a syntax error anywhere means nothing in it runs (as SQL Server compiles
/// the batch first).
pub(crate) fn parse_batch(sql: &str) -> Result<Vec<Located>, SqlError> {
    let dialect = MsSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| unclosed_or_syntax(sql, &e.message, e.location.line, e.location.column))?;
    check_depth(&tokens)?;
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens.clone());
    let mut out = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token_ref().token == Token::EOF {
            break;
        }
        match parse_one(&mut parser) {
            Ok(s) => out.push(s),
            Err(e) => return Err(syntax_error(&e, &tokens)),
        }
    }
    check_exec_arguments(&out)?;
    Ok(out)
}

/// An `EXEC` argument's value, its `@name =` (if written) dropped.
pub(crate) fn argument_value(argument: &Expr) -> &Expr {
    match argument {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } if matches!(left.as_ref(), Expr::Identifier(i) if i.value.starts_with('@')) => right,
        other => other,
    }
}

/// `EXEC` passes constants and variables only: "only literals and variables (not expressions
/// or function calls) can be passed as parameters" (Microsoft Learn, sp_set_session_context).
/// SQL Server refuses anything else when it compiles the batch (102 near the operator, so none
/// of the batch runs).
fn check_exec_arguments(statements: &[Located]) -> Result<(), SqlError> {
    for located in statements {
        match &located.stmt {
            Stmt::Sql(s) => {
                let Statement::Execute { parameters, .. } = s.as_ref() else {
                    continue;
                };
                for p in parameters {
                    let near = match argument_value(p) {
                        Expr::Value(_) | Expr::Identifier(_) => continue,
                        Expr::UnaryOp {
                            op: UnaryOperator::Minus | UnaryOperator::Plus,
                            expr,
                        } if matches!(expr.as_ref(), Expr::Value(_)) => continue,
                        Expr::BinaryOp { op, .. } => op.to_string(),
                        Expr::Function(f) => f.name.to_string(),
                        other => other.to_string().chars().take(30).collect(),
                    };
                    let mut e = errors::SYNTAX.with(&[&near]);
                    e.line = located.line;
                    return Err(e);
                }
            }
            Stmt::If {
                then, otherwise, ..
            } => {
                check_exec_arguments(then)?;
                check_exec_arguments(otherwise)?;
            }
            Stmt::Block(body) => check_exec_arguments(body)?,
            _ => {}
        }
    }
    Ok(())
}

fn parse_one(p: &mut Parser<'_>) -> Result<Located, ParserError> {
    let line = p.peek_token_ref().span.start.line as u32;
    let stmt = if p.parse_keyword(Keyword::IF) {
        let condition = p.parse_expr()?;
        let then = parse_body(p)?;
        let mut seen_semicolon = false;
        while p.consume_token(&Token::SemiColon) {
            seen_semicolon = true;
        }
        let otherwise = if p.parse_keyword(Keyword::ELSE) {
            parse_body(p)?
        } else {
            if seen_semicolon {
                p.prev_token();
            }
            Vec::new()
        };
        Stmt::If {
            condition,
            then,
            otherwise,
        }
    } else if is_block_start(p) {
        p.expect_keyword_is(Keyword::BEGIN)?;
        Stmt::Block(parse_block_rest(p)?)
    } else if p.peek_keyword(Keyword::BEGIN) && is_word(&p.peek_nth_token(1).token, "TRY") {
        return p.expected(
            "a statement (BEGIN TRY ... END CATCH is not supported by the sandbox)",
            p.peek_token(),
        );
    } else if let Some(t) = parse_transaction(p)? {
        Stmt::Transaction(t)
    } else if p.parse_keywords(&[Keyword::EXECUTE, Keyword::AS])
        || p.parse_keywords(&[Keyword::EXEC, Keyword::AS])
    {
        p.expect_keyword_is(Keyword::USER)?;
        p.expect_token(&Token::Eq)?;
        let user = match p.next_token().token {
            Token::SingleQuotedString(s) | Token::NationalStringLiteral(s) => s,
            _ => return p.expected("a user name in quotes", p.peek_token()),
        };
        Stmt::ExecuteAs { user }
    } else if is_word(&p.peek_token_ref().token, "REVERT") {
        p.next_token();
        Stmt::Revert
    } else if p.parse_keywords(&[Keyword::CREATE, Keyword::USER]) {
        parse_create_user(p)?
    } else if p.parse_keyword(Keyword::GRANT) {
        parse_permission(p, PermissionVerb::Grant)?
    } else if p.parse_keyword(Keyword::DENY) {
        parse_permission(p, PermissionVerb::Deny)?
    } else if p.parse_keyword(Keyword::REVOKE) {
        parse_permission(p, PermissionVerb::Revoke)?
    } else {
        Stmt::Sql(Box::new(p.parse_statement()?))
    };
    Ok(Located { stmt, line })
}

fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w))
}

/// `BEGIN` opening a block, not `BEGIN TRAN[SACTION]`/`DISTRIBUTED`/`TRY`.
fn is_block_start(p: &Parser<'_>) -> bool {
    if !p.peek_keyword(Keyword::BEGIN) {
        return false;
    }
    let next = p.peek_nth_token(1).token;
    !([
        "TRAN",
        "TRANSACTION",
        "WORK",
        "DISTRIBUTED",
        "TRY",
        "CATCH",
        "DIALOG",
        "CONVERSATION",
    ]
    .iter()
    .any(|w| is_word(&next, w))
        || matches!(next, Token::SemiColon | Token::EOF))
}

fn parse_body(p: &mut Parser<'_>) -> Result<Vec<Located>, ParserError> {
    if is_block_start(p) {
        let line = p.peek_token_ref().span.start.line as u32;
        p.expect_keyword_is(Keyword::BEGIN)?;
        let body = parse_block_rest(p)?;
        Ok(vec![Located {
            stmt: Stmt::Block(body),
            line,
        }])
    } else {
        Ok(vec![parse_one(p)?])
    }
}

fn parse_block_rest(p: &mut Parser<'_>) -> Result<Vec<Located>, ParserError> {
    let mut body = Vec::new();
    loop {
        while p.consume_token(&Token::SemiColon) {}
        if p.parse_keyword(Keyword::END) {
            return Ok(body);
        }
        if p.peek_token_ref().token == Token::EOF {
            return p.expected("END", p.peek_token());
        }
        body.push(parse_one(p)?);
    }
}

fn eat_word(p: &mut Parser<'_>, w: &str) -> bool {
    if is_word(&p.peek_token_ref().token, w) {
        p.next_token();
        true
    } else {
        false
    }
}

fn expect_word(p: &mut Parser<'_>, w: &str) -> Result<(), ParserError> {
    if eat_word(p, w) {
        Ok(())
    } else {
        p.expected(w, p.peek_token())
    }
}

/// Words that start a statement, so never a transaction name written after `TRAN`.
const STATEMENT_STARTS: &[&str] = &[
    "ALTER",
    "BEGIN",
    "BREAK",
    "COMMIT",
    "CONTINUE",
    "CREATE",
    "DECLARE",
    "DELETE",
    "DENY",
    "DROP",
    "ELSE",
    "END",
    "EXEC",
    "EXECUTE",
    "GO",
    "GRANT",
    "IF",
    "INSERT",
    "MERGE",
    "PRINT",
    "RAISERROR",
    "RETURN",
    "REVOKE",
    "ROLLBACK",
    "SAVE",
    "SELECT",
    "SET",
    "THROW",
    "TRUNCATE",
    "UPDATE",
    "USE",
    "WAITFOR",
    "WHILE",
    "WITH",
];

/// The optional name after `TRAN`: a (bracketed) identifier or an `@variable`.
fn transaction_name(p: &mut Parser<'_>) -> Option<TxnName> {
    let Token::Word(w) = p.peek_token_ref().token.clone() else {
        return None;
    };
    if w.quote_style.is_none()
        && STATEMENT_STARTS
            .iter()
            .any(|k| w.value.eq_ignore_ascii_case(k))
    {
        return None;
    }
    p.next_token();
    Some(if w.quote_style.is_none() && w.value.starts_with('@') {
        TxnName::Variable(w.value)
    } else {
        TxnName::Literal(w.value)
    })
}

/// `BEGIN TRAN`, `COMMIT`, `ROLLBACK` and `SAVE TRAN` with T-SQL's optional names (which
/// `sqlparser` does not read); `None` when the statement is something else.
fn parse_transaction(p: &mut Parser<'_>) -> Result<Option<TxnStmt>, ParserError> {
    let tran = |t: &Token| is_word(t, "TRAN") || is_word(t, "TRANSACTION");
    let first = p.peek_token_ref().token.clone();
    if is_word(&first, "BEGIN") && tran(&p.peek_nth_token_ref(1).token) {
        p.next_token();
        p.next_token();
        let name = transaction_name(p);
        if p.peek_keyword(Keyword::WITH) && is_word(&p.peek_nth_token_ref(1).token, "MARK") {
            p.next_token();
            p.next_token();
            if matches!(
                p.peek_token_ref().token,
                Token::SingleQuotedString(_) | Token::NationalStringLiteral(_)
            ) {
                p.next_token();
            }
        }
        return Ok(Some(TxnStmt::Begin(name)));
    }
    if is_word(&first, "SAVE") && tran(&p.peek_nth_token_ref(1).token) {
        p.next_token();
        p.next_token();
        return match transaction_name(p) {
            Some(name) => Ok(Some(TxnStmt::Save(name))),
            None => p.expected("a savepoint name", p.peek_token()),
        };
    }
    let commit = is_word(&first, "COMMIT");
    if !commit && !is_word(&first, "ROLLBACK") {
        return Ok(None);
    }
    p.next_token();
    let mut name = None;
    if tran(&p.peek_token_ref().token) {
        p.next_token();
        name = transaction_name(p);
    } else {
        eat_word(p, "WORK");
    }
    if commit {
        if p.peek_keyword(Keyword::WITH) && p.peek_nth_token_ref(1).token == Token::LParen {
            p.next_token();
            p.next_token();
            expect_word(p, "DELAYED_DURABILITY")?;
            p.expect_token(&Token::Eq)?;
            p.parse_identifier()?;
            p.expect_token(&Token::RParen)?;
        }
        return Ok(Some(TxnStmt::Commit));
    }
    Ok(Some(TxnStmt::Rollback(name)))
}

fn parse_create_user(p: &mut Parser<'_>) -> Result<Stmt, ParserError> {
    let name = p.parse_identifier()?.value;
    let how = if p.parse_keyword(Keyword::FROM) {
        if eat_word(p, "EXTERNAL") {
            expect_word(p, "PROVIDER")?;
            let mut object_id = None;
            if p.parse_keyword(Keyword::WITH) {
                loop {
                    let option = p.parse_identifier()?.value.to_ascii_uppercase();
                    p.expect_token(&Token::Eq)?;
                    match option.as_str() {
                        "OBJECT_ID" => object_id = Some(p.parse_literal_string()?),
                        "DEFAULT_SCHEMA" => {
                            p.parse_identifier()?;
                        }
                        _ => return p.expected("OBJECT_ID or DEFAULT_SCHEMA", p.peek_token()),
                    }
                    if !p.consume_token(&Token::Comma) {
                        break;
                    }
                }
            }
            NewUser::External { object_id }
        } else {
            expect_word(p, "LOGIN")?;
            NewUser::FromLogin(p.parse_identifier()?.value)
        }
    } else if p.parse_keyword(Keyword::FOR) {
        expect_word(p, "LOGIN")?;
        NewUser::FromLogin(p.parse_identifier()?.value)
    } else if eat_word(p, "WITHOUT") {
        expect_word(p, "LOGIN")?;
        NewUser::WithoutLogin
    } else if p.parse_keyword(Keyword::WITH) {
        let mut password = None;
        loop {
            let option = p.parse_identifier()?.value.to_ascii_uppercase();
            p.expect_token(&Token::Eq)?;
            match option.as_str() {
                "PASSWORD" => password = Some(p.parse_literal_string()?),
                "DEFAULT_SCHEMA" => {
                    p.parse_identifier()?;
                }
                _ => return p.expected("PASSWORD or DEFAULT_SCHEMA", p.peek_token()),
            }
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        match password {
            Some(pw) => NewUser::Password(super::principals::Password::new(pw)),
            None => NewUser::FromLogin(name.clone()),
        }
    } else {
        NewUser::FromLogin(name.clone())
    };
    Ok(Stmt::CreateUser { name, how })
}

fn parse_permission(p: &mut Parser<'_>, verb: PermissionVerb) -> Result<Stmt, ParserError> {
    if verb == PermissionVerb::Revoke && p.parse_keyword(Keyword::GRANT) {
        expect_word(p, "OPTION")?;
        p.expect_keyword_is(Keyword::FOR)?;
    }
    let mut permissions = Vec::new();
    loop {
        let mut words = Vec::new();
        loop {
            let t = p.peek_token();
            match &t.token {
                Token::Word(w)
                    if w.quote_style.is_none()
                        && !["ON", "TO", "FROM"]
                            .iter()
                            .any(|k| w.value.eq_ignore_ascii_case(k)) =>
                {
                    words.push(w.value.to_ascii_uppercase());
                    p.next_token();
                }
                Token::LParen => {
                    return p.expected("ON or TO (column permissions are not supported)", t)
                }
                _ => break,
            }
        }
        if words.is_empty() {
            return p.expected("a permission", p.peek_token());
        }
        permissions.push(words.join(" "));
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    let on = if p.parse_keyword(Keyword::ON) {
        let first = p.parse_object_name(false)?;
        if p.consume_token(&Token::DoubleColon) {
            let class = super::catalog::display_name(&first).to_ascii_uppercase();
            Some((Some(class), p.parse_object_name(false)?))
        } else {
            Some((None, first))
        }
    } else {
        None
    };
    if !(p.parse_keyword(Keyword::TO)
        || (verb == PermissionVerb::Revoke && p.parse_keyword(Keyword::FROM)))
    {
        return p.expected("TO", p.peek_token());
    }
    let mut principals = vec![p.parse_identifier()?.value];
    while p.consume_token(&Token::Comma) {
        principals.push(p.parse_identifier()?.value);
    }
    if p.parse_keyword(Keyword::WITH) {
        p.expect_keyword_is(Keyword::GRANT)?;
        expect_word(p, "OPTION")?;
    }
    let _ = p.parse_keyword(Keyword::CASCADE);
    if p.parse_keyword(Keyword::AS) {
        p.parse_identifier()?;
    }
    Ok(Stmt::Permission {
        verb,
        permissions,
        on,
        principals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Vec<Located> {
        parse_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    }

    #[test]
    fn statements_need_no_semicolons_and_keep_their_lines() {
        let s = parse("SELECT 1\nSELECT 2;\n\nSELECT 3");
        assert_eq!(s.iter().map(|l| l.line).collect::<Vec<_>>(), vec![1, 2, 4]);
    }

    #[test]
    fn create_user_from_external_provider() {
        let s = parse("CREATE USER [my-app] FROM EXTERNAL PROVIDER;");
        assert_eq!(
            s[0].stmt,
            Stmt::CreateUser {
                name: "my-app".into(),
                how: NewUser::External { object_id: None }
            }
        );
        let s = parse("CREATE USER x FROM EXTERNAL PROVIDER WITH OBJECT_ID = 'abc'");
        assert!(matches!(
            &s[0].stmt,
            Stmt::CreateUser { how: NewUser::External { object_id: Some(id) }, .. } if id == "abc"
        ));
        let s = parse("CREATE USER c WITH PASSWORD = 'pw', DEFAULT_SCHEMA = dbo");
        assert!(
            matches!(&s[0].stmt, Stmt::CreateUser { how: NewUser::Password(p), .. } if p.matches("pw"))
        );
        let s = parse("CREATE USER c WITHOUT LOGIN");
        assert!(matches!(
            &s[0].stmt,
            Stmt::CreateUser {
                how: NewUser::WithoutLogin,
                ..
            }
        ));
    }

    #[test]
    fn idempotent_script_shapes_parse() {
        let s = parse(
            "IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'x')\n    CREATE USER [x] FROM EXTERNAL PROVIDER;\nALTER ROLE db_datareader ADD MEMBER [x];",
        );
        assert_eq!(s.len(), 2);
        let Stmt::If {
            then, otherwise, ..
        } = &s[0].stmt
        else {
            panic!("{:?}", s[0].stmt)
        };
        assert!(matches!(then[0].stmt, Stmt::CreateUser { .. }));
        assert!(otherwise.is_empty());
        assert_eq!(s[1].line, 3);
        let s = parse("IF OBJECT_ID(N'dbo.t', N'U') IS NULL\nBEGIN\n  CREATE TABLE dbo.t (a INT);\n  INSERT INTO dbo.t VALUES (1)\nEND\nELSE PRINT 'exists'");
        let Stmt::If {
            then, otherwise, ..
        } = &s[0].stmt
        else {
            panic!()
        };
        let Stmt::Block(body) = &then[0].stmt else {
            panic!()
        };
        assert_eq!(body.len(), 2);
        assert_eq!(body[1].line, 4);
        assert_eq!(otherwise.len(), 1);
    }

    #[test]
    fn grants_with_securable_classes() {
        let s = parse("GRANT SELECT, INSERT ON OBJECT::dbo.Customer TO [app], reporting");
        let Stmt::Permission {
            verb,
            permissions,
            on,
            principals,
        } = &s[0].stmt
        else {
            panic!()
        };
        assert_eq!(*verb, PermissionVerb::Grant);
        assert_eq!(permissions, &["SELECT", "INSERT"]);
        assert_eq!(on.as_ref().unwrap().0.as_deref(), Some("OBJECT"));
        assert_eq!(principals, &["app", "reporting"]);
        let s = parse("REVOKE VIEW DEFINITION ON SCHEMA::dbo FROM app");
        assert!(
            matches!(&s[0].stmt, Stmt::Permission { verb: PermissionVerb::Revoke, permissions, .. } if permissions == &["VIEW DEFINITION"])
        );
    }

    #[test]
    fn transaction_statements_with_and_without_names() {
        let s = parse("BEGIN TRAN; COMMIT");
        assert_eq!(s[0].stmt, Stmt::Transaction(TxnStmt::Begin(None)));
        assert_eq!(s[1].stmt, Stmt::Transaction(TxnStmt::Commit));
        let s = parse(
            "BEGIN TRANSACTION t1 WITH MARK 'nightly'\nSAVE TRAN [before update]\nUPDATE t SET a = 1\nROLLBACK TRANSACTION @sp\nCOMMIT TRAN t1 WITH (DELAYED_DURABILITY = ON)\nROLLBACK WORK\nCOMMIT\nSELECT 1",
        );
        let kinds: Vec<&Stmt> = s.iter().map(|l| &l.stmt).collect();
        assert_eq!(
            kinds[0],
            &Stmt::Transaction(TxnStmt::Begin(Some(TxnName::Literal("t1".into()))))
        );
        assert_eq!(
            kinds[1],
            &Stmt::Transaction(TxnStmt::Save(TxnName::Literal("before update".into())))
        );
        assert!(matches!(kinds[2], Stmt::Sql(_)));
        assert_eq!(
            kinds[3],
            &Stmt::Transaction(TxnStmt::Rollback(Some(TxnName::Variable("@sp".into()))))
        );
        assert_eq!(kinds[4], &Stmt::Transaction(TxnStmt::Commit));
        assert_eq!(kinds[5], &Stmt::Transaction(TxnStmt::Rollback(None)));
        assert_eq!(kinds[6], &Stmt::Transaction(TxnStmt::Commit));
        assert!(matches!(kinds[7], Stmt::Sql(_)), "SELECT is not a name");
        assert_eq!(s[7].line, 8);
        // A statement keyword right after TRAN starts the next statement.
        let s = parse("BEGIN TRAN\nINSERT INTO t VALUES (1)\nROLLBACK TRAN");
        assert_eq!(s.len(), 3);
        assert_eq!(parse_batch("SAVE TRAN").unwrap_err().number, 156);
    }

    #[test]
    fn exec_arguments_are_constants_or_variables_and_the_batch_fails_to_compile_otherwise() {
        let s = parse(
            "EXEC sp_set_session_context @key = N'k', @value = -1, @read_only = 1\nEXEC sp_set_session_context user_id, @v",
        );
        assert_eq!(s.len(), 2);
        let e = parse_batch("SELECT 1\nEXEC sp_set_session_context N'k', 1+1").unwrap_err();
        assert_eq!((e.number, e.line), (102, 2));
        assert_eq!(e.message, "Incorrect syntax near '+'.");
        let e = parse_batch("IF 1 = 1 EXEC sp_set_session_context N'k', GETDATE()").unwrap_err();
        assert_eq!(e.number, 102);
    }

    #[test]
    fn syntax_errors_name_the_token_and_line() {
        let e = parse_batch("SELECT 1\nSELECT * FROM t WHERE").unwrap_err();
        assert_eq!((e.number, e.line), (156, 2));
        assert_eq!(e.message, "Incorrect syntax near the keyword 'WHERE'.");
        let e = parse_batch("SELECT 1 +* 2").unwrap_err();
        assert_eq!(e.number, 102);
        assert_eq!(e.message, "Incorrect syntax near '*'.");
        let e = parse_batch("SELECT 'abc").unwrap_err();
        assert_eq!(e.number, 105);
        assert_eq!(
            e.message,
            "Unclosed quotation mark after the character string 'abc'."
        );
        let e = parse_batch("IF 1 = 1 BEGIN SELECT 1").unwrap_err();
        assert_eq!(e.number, 102);
    }
}
