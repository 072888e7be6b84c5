//! The SQL side of the Azure SQL stand-in: T-SQL parsed with `sqlparser` (MsSql dialect) and run on
//! an embedded SQLite database per sandbox database, with SQL Server's types on the way out, its
//! principals and roles (`CREATE USER ... FROM EXTERNAL PROVIDER`, `ALTER ROLE ... ADD/DROP
//! MEMBER`), its permission checks and its error numbers.
//!
//! The server (`crate::server`) only sees the types this module re-exports: it logs a session in
//! with [`Engine::login_external`] / [`Engine::login_sql`], runs requests with
//! [`Engine::execute`] / [`Engine::execute_rpc`] and encodes the [`Outcome`]s it gets back. This
//! file only lists the modules; each defines what it names.
//!
//! Every query really runs: nothing is canned. The engine is split by concept:
//!
//! | module | job |
//! | --- | --- |
//! | `engine` | the server's databases and SQL logins; logging sessions in; running batches, RPCs, transaction manager requests and scripts |
//! | `session` | a logged-in session: identity, database, `SET` options, its transaction |
//! | `outcome` | what a batch produces: result sets, counts, messages, errors, transaction changes |
//! | `syntax_errors` | a batch that does not parse, as SQL Server words it (102, 105, 156) |
//! | `parse` | batch → statements (`sqlparser` MsSql + `CREATE USER`, `GRANT ... ON OBJECT::`, `IF`, named transactions) |
//! | `translate` | T-SQL → SQLite with SQL Server's name resolution and result types |
//! | `catalog` | tables, their declared SQL Server types and keys |
//! | `schema` | the schemas a database has (`dbo`, `sys`, `INFORMATION_SCHEMA`, `#temp`) |
//! | `system_catalog` | the `sys.*` and `INFORMATION_SCHEMA` views' definitions, type ids |
//! | `principals` | users, roles, membership, grants, the permission check |
//! | `types` | SQL Server's types, the values that leave the engine, declared types parsed |
//! | `conversion` | SQL Server's conversion rules: implicit, `CAST`/`CONVERT`, storing into a column |
//! | `values` | the forms values take in SQLite, to and from the typed values |
//! | `metadata` | a database's catalog and principals at one version |
//! | `sqlite_functions` | the SQLite functions and collation that keep SQL Server semantics |
//! | `date_arithmetic` | `DATEADD`, `DATEDIFF`, `DATEPART` on `DATETIME2` text |
//! | `storage` | each database's SQLite file (WAL), its connection pool, lock waits (1222) |
//! | `transaction` | a session's transaction across requests: nesting, savepoints, its connection |
//! | `session_context` | what `sp_set_session_context` sets and `SESSION_CONTEXT` reads, SQL Server's limits |
//! | `temp` | a session's local temporary tables (`#name`) |
//! | `database` | one database: its file, pool and committed metadata, the users a login finds |
//! | `executor` | runs a batch's statements on a session's connection (the dispatcher in `executor/statements`) |
//! | `errors` | [`SqlError`], and every SQL Server error number and text in one table |
//! | `sqlcmd` | sqlcmd's rules (`GO`, `:setvar`, `$(NAME)`) |
//!
//! Sessions are isolated as in Azure SQL Database (`READ_COMMITTED_SNAPSHOT` on): a reader sees
//! the last committed data and never waits; writers take turns (a writer waiting longer than its
//! `SET LOCK_TIMEOUT`, or [`DEFAULT_LOCK_WAIT`], gets error 1222); a transaction stays open across
//! batches and transaction manager requests until `COMMIT`/`ROLLBACK`, and is rolled back when
//! its session ends ([`Session`]s hold it; dropping the last clone rolls it back).
//!
//! What it does not do: cursors, stored procedures, global temporary tables (`##name`), `TRY`/`CATCH`,
//! `UPDATE ... FROM`, `OUTPUT DELETED` in an `UPDATE`, `CHECK`/`FOREIGN KEY` constraints,
//! row-level locking (two writers conflict even on different rows). Each is refused with a SQL
//! Server error (40517, 102, 2812), never a panic or a dropped connection.

mod catalog;
mod conversion;
mod database;
mod date_arithmetic;
mod engine;
mod errors;
mod executor;
mod metadata;
mod outcome;
mod parse;
mod principals;
mod schema;
mod session;
mod session_context;
mod sqlcmd;
mod sqlite_functions;
mod storage;
mod syntax_errors;
mod system_catalog;
mod temp;
#[cfg(test)]
pub(crate) mod testing;
mod transaction;
mod translate;
mod types;
mod values;

pub use engine::{ConnectionCounts, Engine, MASTER};
pub use errors::SqlError;
pub use outcome::{Column, Outcome, ResultSet};
pub use session::{Session, SessionOptions};
pub use session_context::SessionContext;
pub use storage::DEFAULT_LOCK_WAIT;
pub use transaction::{TransactionChange, TransactionRequest};
pub use types::{Length, SqlType, Value};
