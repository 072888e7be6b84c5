//! What running a batch produces, statement by statement: result sets with their columns, row
//! counts, messages, errors and the session's transaction changes.

use super::errors::SqlError;
use super::transaction::TransactionChange;
use super::types::{SqlType, Value};

/// A result column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column name (empty for an unnamed expression, as SQL Server sends it).
    pub name: String,
    /// Its SQL Server type.
    pub ty: SqlType,
    /// Whether it may hold `NULL`.
    pub nullable: bool,
}

/// One result set.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultSet {
    /// COLMETADATA.
    pub columns: Vec<Column>,
    /// ROWs, each with one value per column.
    pub rows: Vec<Vec<Value>>,
    /// Whether the DONE after the rows reports how many there were (`false` under
    /// `SET NOCOUNT ON`, as SQL Server leaves DONE_COUNT clear then).
    pub counted: bool,
}

/// What one statement of a batch produced, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A result set (encoded as COLMETADATA, ROW..., DONE with the row count).
    Rows(ResultSet),
    /// A statement without a result set (DONE, with a count when one applies).
    Done {
        /// Rows affected, for INSERT/UPDATE/DELETE.
        rows_affected: Option<u64>,
    },
    /// An informational message (INFO token, severity <= 10).
    Info(SqlError),
    /// An error (ERROR token). A batch stops at its first error.
    Error(SqlError),
    /// The session's transaction began, committed or rolled back (ENVCHANGE 8, 9 or 10).
    Transaction(TransactionChange),
}
