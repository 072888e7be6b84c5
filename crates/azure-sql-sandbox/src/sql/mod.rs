//! The SQL side of the Azure SQL stand-in: T-SQL parsed with `sqlparser` (MsSql dialect) and run on
//! an embedded SQLite database per sandbox database, with SQL Server's types on the way out, its
//! principals and roles (`CREATE USER ... FROM EXTERNAL PROVIDER`, `ALTER ROLE ... ADD/DROP
//! MEMBER`), its permission checks and its error numbers.
//!
//! The TDS layer (`crate::tds`) only sees the types in this module: it logs a session in with
//! [`Engine::login_external`] / [`Engine::login_sql`], runs requests with [`Engine::execute`] /
//! [`Engine::execute_rpc`] and encodes the [`Outcome`]s it gets back.
//!
//! (Skeleton: the types are the contract; the engine is being built.)

use crate::identity::{Directory, TokenIdentity};
use std::sync::Arc;

/// A SQL Server column type, as it goes out in COLMETADATA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlType {
    /// `TINYINT`
    TinyInt,
    /// `SMALLINT`
    SmallInt,
    /// `INT`
    Int,
    /// `BIGINT`
    BigInt,
    /// `BIT`
    Bit,
    /// `REAL`
    Real,
    /// `FLOAT`
    Float,
    /// `DECIMAL(p, s)` / `NUMERIC(p, s)`
    Decimal {
        /// Total digits, 1..=38.
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
    /// `CHAR(n)`
    Char(u16),
    /// `VARCHAR(n)` / `VARCHAR(MAX)`
    VarChar(Length),
    /// `NCHAR(n)`
    NChar(u16),
    /// `NVARCHAR(n)` / `NVARCHAR(MAX)`
    NVarChar(Length),
    /// `VARBINARY(n)` / `VARBINARY(MAX)`
    VarBinary(Length),
    /// `UNIQUEIDENTIFIER`
    UniqueIdentifier,
    /// `DATETIME2(7)` (values travel as ISO-8601 text inside the engine)
    DateTime2,
}

/// The declared length of a variable-length type: characters for `CHAR`/`VARCHAR`/`NVARCHAR`,
/// bytes for `VARBINARY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// `(n)`, 1..=8000 (1..=4000 for `NVARCHAR`).
    Fixed(u16),
    /// `(MAX)`
    Max,
}

/// One value in a row, or a parameter value of an RPC.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `NULL`
    Null,
    /// `BIT`
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// `REAL` / `FLOAT`
    Float(f64),
    /// `DECIMAL` / `NUMERIC`, as its exact decimal text (`"12.50"`).
    Decimal(String),
    /// Character types, `UNIQUEIDENTIFIER` and `DATETIME2` (ISO-8601 text).
    Text(String),
    /// `VARBINARY`
    Bytes(Vec<u8>),
}

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
}

/// A SQL Server error or informational message (ERROR / INFO token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError {
    /// The error number (208, 229, 18456, ...).
    pub number: u32,
    /// The state.
    pub state: u8,
    /// The severity (class): 0..=10 informational, 11..=16 user errors, 20+ fatal.
    pub severity: u8,
    /// The message text, worded as SQL Server words it.
    pub message: String,
    /// The 1-based line of the batch it refers to.
    pub line: u32,
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
}

/// A logged-in session's identity and database, as the engine checks permissions against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The database the session is in.
    pub database: String,
    /// The database user name (the external provider name, or the SQL login's user).
    pub user: String,
    /// The roles the user held when the session logged in; like SQL Server, membership is read
    /// at login, so a role dropped later takes effect on the next login.
    pub roles: Vec<String>,
    /// Whether the session is the server admin (dbo of every database).
    pub is_admin: bool,
}

/// The embedded engine: every database of the sandbox, the server-level SQL logins, and the
/// directory used to resolve external principals. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Engine {
    #[allow(dead_code)]
    directory: Arc<dyn Directory>,
}

fn not_yet(what: &str) -> SqlError {
    SqlError {
        number: 40517,
        state: 1,
        severity: 16,
        message: format!("Keyword or statement option '{what}' is not supported in this version of SQL Server."),
        line: 1,
    }
}

impl Engine {
    /// An engine with no databases yet.
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Self { directory }
    }

    /// Creates an empty database.
    pub fn create_database(&self, _name: &str) -> Result<(), SqlError> {
        Err(not_yet("CREATE DATABASE"))
    }

    /// Whether a database of that name exists (case-insensitive).
    pub fn has_database(&self, _name: &str) -> bool {
        false
    }

    /// Adds a server-level SQL login with admin rights (Azure SQL's "server admin").
    pub fn add_admin_login(&self, _user: &str, _password: &str) {}

    /// Runs a script as the server admin with sqlcmd's rules: batches split on `GO` lines,
    /// `:setvar` and `$(NAME)` substitution from `vars`.
    pub fn run_script(
        &self,
        _database: &str,
        _script: &str,
        _vars: &[(String, String)],
    ) -> Result<(), SqlError> {
        Err(not_yet("script"))
    }

    /// Logs in the bearer of a validated access token: 4060 if the database does not exist,
    /// 18456 if no user was created for the identity in that database.
    pub fn login_external(
        &self,
        _database: &str,
        _who: &TokenIdentity,
    ) -> Result<Session, SqlError> {
        Err(not_yet("FEDAUTH"))
    }

    /// Logs in with a SQL login's name and password (18456 if they do not match).
    pub fn login_sql(
        &self,
        _database: Option<&str>,
        _user: &str,
        _password: &str,
    ) -> Result<Session, SqlError> {
        Err(not_yet("SQL login"))
    }

    /// Runs a SQL batch.
    pub fn execute(&self, _session: &mut Session, _batch: &str) -> Vec<Outcome> {
        vec![Outcome::Error(not_yet("batch"))]
    }

    /// Runs `sp_executesql`: `statement` with named parameters (`@P1`, `@id`, ...).
    pub fn execute_rpc(
        &self,
        _session: &mut Session,
        _statement: &str,
        _params: &[(String, Value)],
    ) -> Vec<Outcome> {
        vec![Outcome::Error(not_yet("sp_executesql"))]
    }
}
