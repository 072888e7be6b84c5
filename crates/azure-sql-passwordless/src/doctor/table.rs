//! The table the `permission` step reads: [`TableName`], parsed so that it can only ever name a
//! table, and quoted for T-SQL.

use std::fmt;
use std::str::FromStr;

/// A table name, `name` or `schema.name` (brackets allowed: `[dbo].[Customer]`), checked so that
/// it can only ever name a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    schema: Option<String>,
    name: String,
}

impl Default for TableName {
    fn default() -> Self {
        Self {
            schema: Some("dbo".into()),
            name: "Customer".into(),
        }
    }
}

/// A table name that [`TableName`] does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a table name: write name or schema.name (letters, digits, _, $, #, @; [brackets] for anything else), e.g. dbo.Customer")]
pub struct InvalidTableName {
    value: String,
}

impl FromStr for TableName {
    type Err = InvalidTableName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidTableName {
            value: text.chars().take(200).collect(),
        };
        let parts = split_identifiers(text.trim()).ok_or_else(invalid)?;
        match parts.as_slice() {
            [name] => Ok(Self {
                schema: None,
                name: name.clone(),
            }),
            [schema, name] => Ok(Self {
                schema: Some(schema.clone()),
                name: name.clone(),
            }),
            _ => Err(invalid()),
        }
    }
}

/// `a.b`, `[a].[b]`, `[a.b]`: the parts, or `None` when the text is not identifiers.
fn split_identifiers(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'[') {
            chars.next();
            loop {
                match chars.next()? {
                    ']' if chars.peek() == Some(&']') => {
                        chars.next();
                        part.push(']');
                    }
                    ']' => break,
                    c if c.is_control() => return None,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || "_$#@".contains(c) {
                    part.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
        }
        if part.is_empty() || part.chars().count() > 128 {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

impl TableName {
    /// The name quoted for T-SQL: `[dbo].[Customer]`.
    pub(crate) fn quoted(&self) -> String {
        let quote = |s: &str| format!("[{}]", s.replace(']', "]]"));
        match &self.schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(&self.name)),
            None => quote(&self.name),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}
