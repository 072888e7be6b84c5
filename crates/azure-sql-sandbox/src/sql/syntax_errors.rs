//! A batch that does not parse, as SQL Server reports it: error 102 "Incorrect syntax near
//! 'x'." (or 156 "near the keyword" for T-SQL's reserved words), 105 for an unclosed quote, on
//! the line the parser stopped at.

use super::errors::{self, SqlError};
use sqlparser::parser::ParserError;
use sqlparser::tokenizer::{Token, TokenWithSpan};

/// T-SQL's reserved words, for which SQL Server says "near the keyword".
const RESERVED: &[&str] = &[
    "ADD",
    "ALL",
    "ALTER",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASE",
    "CHECK",
    "COLUMN",
    "COMMIT",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT_USER",
    "DEFAULT",
    "DELETE",
    "DENY",
    "DESC",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXEC",
    "EXECUTE",
    "EXISTS",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "GRANT",
    "GROUP",
    "HAVING",
    "IDENTITY",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INTO",
    "IS",
    "JOIN",
    "KEY",
    "LEFT",
    "LIKE",
    "NOT",
    "NULL",
    "OF",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "PRIMARY",
    "PRINT",
    "REVOKE",
    "RIGHT",
    "ROLLBACK",
    "SELECT",
    "SET",
    "TABLE",
    "THEN",
    "TO",
    "TOP",
    "TRAN",
    "TRANSACTION",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USE",
    "USER",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WHILE",
    "WITH",
];

fn token_text(t: &Token) -> (String, bool) {
    match t {
        Token::Word(w) => {
            let reserved =
                w.quote_style.is_none() && RESERVED.iter().any(|k| w.value.eq_ignore_ascii_case(k));
            (w.value.clone(), reserved)
        }
        Token::SingleQuotedString(s) | Token::NationalStringLiteral(s) => (s.clone(), false),
        other => (other.to_string(), false),
    }
}

/// The line and column a `sqlparser` message ends with (`... at Line: 3, Column: 7`).
fn location_of(message: &str) -> Option<(u64, u64)> {
    let at = message.rfind("Line: ")?;
    let rest = &message[at + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// SQL Server's syntax error for a parser error: near the token it stopped at (or the last one,
/// at the end of the batch), on that token's line.
pub(crate) fn syntax_error(e: &ParserError, tokens: &[TokenWithSpan]) -> SqlError {
    let message = match e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.as_str(),
        ParserError::RecursionLimitExceeded => return errors::NESTED_TOO_DEEPLY.plain(),
    };
    let meaningful = |t: &&TokenWithSpan| !matches!(t.token, Token::Whitespace(_) | Token::EOF);
    let at = location_of(message).and_then(|(line, column)| {
        tokens
            .iter()
            .filter(meaningful)
            .find(|t| t.span.start.line == line && t.span.start.column == column)
    });
    let token = at.or_else(|| tokens.iter().rfind(|t| meaningful(t)));
    let (text, reserved, line) = match token {
        Some(t) => {
            let (text, reserved) = token_text(&t.token);
            (text, reserved, t.span.start.line as u32)
        }
        None => (String::new(), false, 1),
    };
    let mut error = if reserved {
        errors::SYNTAX_KEYWORD.with(&[&text])
    } else {
        errors::SYNTAX.with(&[&text])
    };
    error.line = line.max(1);
    error
}

pub(crate) fn unclosed_or_syntax(sql: &str, message: &str, line: u64, column: u64) -> SqlError {
    let mut error = if message.to_ascii_lowercase().contains("multi-line comment") {
        errors::MISSING_END_COMMENT.plain()
    } else if message.to_ascii_lowercase().contains("unterminated") {
        let rest: String = sql
            .lines()
            .nth(line.saturating_sub(1) as usize)
            .map(|l| l.chars().skip(column as usize).collect::<String>())
            .unwrap_or_default();
        let skipped = sql
            .lines()
            .skip(line as usize)
            .collect::<Vec<_>>()
            .join("\n");
        let text = if skipped.is_empty() {
            rest
        } else {
            format!("{rest}\n{skipped}")
        };
        errors::UNCLOSED_QUOTE.with(&[&text])
    } else {
        errors::SYNTAX.with(&[message])
    };
    error.line = line.max(1) as u32;
    error
}
