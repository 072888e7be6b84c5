//! The SQL side of the Azure SQL stand-in: T-SQL parsed with `sqlparser` (MsSql dialect) and run on
//! an embedded SQLite database per sandbox database, with SQL Server's types on the way out, its
//! principals and roles (`CREATE USER ... FROM EXTERNAL PROVIDER`, `ALTER ROLE ... ADD/DROP
//! MEMBER`), its permission checks and its error numbers.
//!
//! The TDS layer (`crate::tds`) only sees the types in this module: it logs a session in with
//! [`Engine::login_external`] / [`Engine::login_sql`], runs requests with [`Engine::execute`] /
//! [`Engine::execute_rpc`] and encodes the [`Outcome`]s it gets back.
//!
//! Every query really runs: nothing is canned. The engine is split by concept:
//!
//! | module | job |
//! | --- | --- |
//! | `parse` | batch → statements (`sqlparser` MsSql + `CREATE USER`, `GRANT ... ON OBJECT::`, `IF`, named transactions) |
//! | `translate` | T-SQL → SQLite with SQL Server's name resolution and result types |
//! | `catalog` | tables, their declared SQL Server types and keys; the `sys.*` views |
//! | `principals` | users, roles, membership, grants, the permission check |
//! | `types` | SQL Server's types, conversions and the values that leave the engine |
//! | `sqlite_functions` | the SQLite functions and collation that keep SQL Server semantics |
//! | `storage` | each database's SQLite file (WAL), its connection pool, lock waits (1222) |
//! | `transaction` | a session's transaction across requests: nesting, savepoints, its connection |
//! | `session_context` | what `sp_set_session_context` sets and `SESSION_CONTEXT` reads, SQL Server's limits |
//! | `temp` | a session's local temporary tables (`#name`) |
//! | `database` | one database, its committed metadata and the executor |
//! | `errors` | every SQL Server error number and text, in one table |
//! | `sqlcmd` | sqlcmd's rules (`GO`, `:setvar`, `$(NAME)`) |
//! | [`scripts`] | the project's `sql/` files, embedded |
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
mod database;
mod errors;
mod parse;
mod principals;
pub mod scripts;
mod session_context;
mod sqlcmd;
mod sqlite_functions;
mod storage;
mod temp;
#[cfg(test)]
pub(crate) mod testing;
mod transaction;
mod translate;
mod types;

pub use session_context::SessionContext;
pub use storage::DEFAULT_LOCK_WAIT;
pub use transaction::{TransactionChange, TransactionRequest};

use crate::identity::{Directory, TokenIdentity};
use database::{Batch, Database, Vars};
use parse::{Located, Stmt, TxnName, TxnStmt};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use storage::DataDir;
use transaction::TransactionHandle;

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
    /// `SQL_VARIANT`, as `SESSION_CONTEXT` answers it: each value travels with its own base type
    /// (taken from the value: `int` or `bigint`, `float`, `nvarchar`, `varbinary`, ...). Not a
    /// type a column or variable can be declared with in the sandbox.
    Variant,
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
    /// Character types, `UNIQUEIDENTIFIER` (upper case, `6F9619FF-8B86-D011-B42D-00C04FC964FF`)
    /// and `DATETIME2` (`YYYY-MM-DD hh:mm:ss.fffffff`, seven fractional digits).
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
    /// Whether the DONE after the rows reports how many there were (`false` under
    /// `SET NOCOUNT ON`, as SQL Server leaves DONE_COUNT clear then).
    pub counted: bool,
}

/// A SQL Server error or informational message (ERROR / INFO token).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
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
    /// The session's transaction began, committed or rolled back (ENVCHANGE 8, 9 or 10).
    Transaction(TransactionChange),
}

/// A logged-in session's identity and database, as the engine checks permissions against it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
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
    /// The login name `SUSER_SNAME()` answers: the SQL login, or for an Entra token
    /// `<application id>@<tenant id>` (applications, managed identities) or
    /// `<object id>@<tenant id>` (users).
    pub login: String,
    /// The session id (`@@SPID`), unique among live sessions; the TDS layer may put it in its
    /// packet headers.
    pub spid: u16,
    /// The user's `principal_id` in the database (`USER_ID()`).
    pub principal_id: i32,
    /// `SET` options in force.
    pub options: SessionOptions,
    /// The last `IDENTITY` value this session inserted (`SCOPE_IDENTITY()`).
    pub last_identity: Option<i64>,
    /// What `sp_set_session_context` set (`SESSION_CONTEXT(key)` reads it).
    pub context: SessionContext,
    /// The session is on a read-only replica (read scale-out): writes to the database fail with
    /// 3906 and `DATABASEPROPERTYEX(DB_NAME(), 'Updateability')` answers `READ_ONLY`.
    /// Temporary tables and session state stay writable, as tempdb is on a replica.
    pub read_only: bool,
    /// The session's transaction (shared by clones of the session).
    pub(crate) transaction: TransactionHandle,
}

impl Session {
    /// `@@TRANCOUNT`: how many `BEGIN TRAN`s the open transaction nests (0: none open).
    pub fn transaction_count(&self) -> u32 {
        self.transaction.lock().depth
    }

    /// The open transaction's descriptor (what ENVCHANGE 8 announced), if one is open.
    pub fn transaction_descriptor(&self) -> Option<[u8; 8]> {
        let t = self.transaction.lock();
        (t.depth > 0).then(|| t.descriptor())
    }

    /// Rolls back the open transaction, if any, as `sp_reset_connection` and the end of a
    /// session do; returns the change to announce.
    pub fn end_transaction(&self) -> Option<TransactionChange> {
        self.transaction.lock().abandon()
    }
}

/// How many SQLite connections a database has open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionCounts {
    /// Open connections: leased to sessions (running a request, or holding a transaction) or
    /// idle.
    pub open: u64,
    /// Idle connections waiting in the pool.
    pub idle: usize,
}

/// The `SET` options a session has in force (the rest are accepted and have no effect here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// `SET NOCOUNT ON`: DONE tokens carry no row count ([`Outcome::Done`] has no
    /// `rows_affected`, a [`ResultSet`] is not `counted`).
    pub nocount: bool,
    /// `SET XACT_ABORT` (recorded; a batch always stops at its first error).
    pub xact_abort: bool,
    /// `SET TEXTSIZE`.
    pub textsize: i32,
    /// `SET LANGUAGE` (`us_english` only).
    pub language: String,
    /// `SET DATEFORMAT`.
    pub dateformat: String,
    /// `SET DATEFIRST`.
    pub datefirst: u8,
    /// `SET LOCK_TIMEOUT`.
    pub lock_timeout: i32,
    /// `SET IDENTITY_INSERT <table> ON`: the table.
    pub identity_insert: Option<String>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            nocount: false,
            xact_abort: false,
            textsize: i32::MAX,
            language: "us_english".into(),
            dateformat: "mdy".into(),
            datefirst: 7,
            lock_timeout: -1,
            identity_insert: None,
        }
    }
}

impl fmt::Display for SqlError {
    /// As sqlcmd prints it: `Msg 208, Level 16, State 1, Line 1: Invalid object name 'x'.`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Msg {}, Level {}, State {}, Line {}: {}",
            self.number, self.severity, self.state, self.line, self.message
        )
    }
}

impl std::error::Error for SqlError {}

/// How many parsed batches the engine keeps (the hot path parses nothing).
const PARSE_CACHE_SIZE: usize = 1024;

/// The server's own database, where a login that names no database lands.
pub const MASTER: &str = "master";

struct AdminLogin {
    name: String,
    password: String,
}

struct Inner {
    directory: Arc<dyn Directory>,
    databases: RwLock<Vec<Arc<Database>>>,
    logins: RwLock<HashMap<String, AdminLogin>>,
    next_spid: AtomicU32,
    parsed: Mutex<HashMap<String, Arc<[Located]>>>,
    /// Where the databases' files are (made with the first database, removed with the last).
    data_dir: Mutex<Option<Arc<DataDir>>>,
    files_created: AtomicU32,
}

/// The embedded engine: every database of the sandbox, the server-level SQL logins, and the
/// directory used to resolve external principals. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let databases: Vec<String> = self
            .read_databases()
            .iter()
            .map(|d| d.name.clone())
            .collect();
        let logins: Vec<String> = self
            .inner
            .logins
            .read()
            .map(|l| l.values().map(|a| a.name.clone()).collect())
            .unwrap_or_default();
        f.debug_struct("Engine")
            .field("databases", &databases)
            .field("admin_logins", &logins)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with no databases yet.
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Self {
            inner: Arc::new(Inner {
                directory,
                databases: RwLock::new(Vec::new()),
                logins: RwLock::new(HashMap::new()),
                next_spid: AtomicU32::new(0),
                parsed: Mutex::new(HashMap::new()),
                data_dir: Mutex::new(None),
                files_created: AtomicU32::new(0),
            }),
        }
    }

    fn read_databases(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Database>>> {
        self.inner
            .databases
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn database(&self, name: &str) -> Option<Arc<Database>> {
        self.read_databases()
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
            .cloned()
    }

    /// Creates an empty database (error 1801 if one of that name exists).
    pub fn create_database(&self, name: &str) -> Result<(), SqlError> {
        let mut databases = self
            .inner
            .databases
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if databases.iter().any(|d| d.name.eq_ignore_ascii_case(name)) {
            return Err(errors::DATABASE_EXISTS.with(&[name]));
        }
        let dir = {
            let mut dir = self
                .inner
                .data_dir
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match dir.as_ref() {
                Some(d) => d.clone(),
                None => dir.insert(DataDir::create()?).clone(),
            }
        };
        let n = self.inner.files_created.fetch_add(1, Ordering::Relaxed);
        databases.push(Arc::new(Database::create(
            name,
            dir,
            &format!("database-{n}.sqlite"),
        )?));
        Ok(())
    }

    /// How many SQLite connections a database has open and idle (`None`: no such database).
    pub fn connections(&self, database: &str) -> Option<ConnectionCounts> {
        let (open, idle) = self.database(database)?.connections();
        Some(ConnectionCounts { open, idle })
    }

    /// How many statements of a database have found its write lock taken and waited for it
    /// (`None`: no such database).
    pub fn lock_waits(&self, database: &str) -> Option<u64> {
        Some(self.database(database)?.lock_waits())
    }

    /// Whether a database of that name exists (case-insensitive).
    pub fn has_database(&self, name: &str) -> bool {
        self.database(name).is_some()
    }

    /// The databases, in the order they were created.
    pub fn databases(&self) -> Vec<String> {
        self.read_databases()
            .iter()
            .map(|d| d.name.clone())
            .collect()
    }

    /// Adds a server-level SQL login with admin rights (Azure SQL's "server admin"); adding a
    /// login that exists changes its password.
    pub fn add_admin_login(&self, user: &str, password: &str) {
        self.inner
            .logins
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                user.to_lowercase(),
                AdminLogin {
                    name: user.to_string(),
                    password: password.to_string(),
                },
            );
    }

    fn next_spid(&self) -> u16 {
        // SQL Server gives user sessions ids above 50.
        let n = self.inner.next_spid.fetch_add(1, Ordering::Relaxed);
        (51 + n % 32_000) as u16
    }

    fn admin_session(&self, database: &Database, login: &str) -> Session {
        Session {
            database: database.name.clone(),
            user: "dbo".into(),
            roles: vec!["db_owner".into()],
            is_admin: true,
            login: login.to_string(),
            spid: self.next_spid(),
            principal_id: 1,
            ..Session::default()
        }
    }

    /// Runs a script as the server admin with sqlcmd's rules: batches split on `GO` lines,
    /// `:setvar` and `$(NAME)` substitution from `vars`. The first error stops it; its line is
    /// counted in the script.
    pub fn run_script(
        &self,
        database: &str,
        script: &str,
        vars: &[(String, String)],
    ) -> Result<(), SqlError> {
        let db = self
            .database(database)
            .ok_or_else(|| errors::CANNOT_OPEN_DATABASE.with(&[database]))?;
        let batches = sqlcmd::split(script, vars)?;
        let mut session = self.admin_session(&db, "sqlcmd");
        for batch in batches {
            for _ in 0..batch.repeat {
                let outcomes = self.run_batch(&db, &mut session, &batch.text, Vars::default());
                if let Some(Outcome::Error(mut e)) = outcomes
                    .into_iter()
                    .find(|o| matches!(o, Outcome::Error(_)))
                {
                    e.line += batch.first_line - 1;
                    return Err(e);
                }
            }
        }
        let open = session.transaction_count();
        if open > 0 {
            session.end_transaction();
            return Err(errors::SQLCMD_TRANSACTION_OPEN.with(&[&open.to_string()]));
        }
        Ok(())
    }

    /// Logs in the bearer of a validated access token: 4060 if the database does not exist,
    /// 18456 if no user was created for the identity in that database. The user is found as
    /// Azure SQL finds it: by tenant and application id for an application or managed identity
    /// (`app_id` present), by object id for a user.
    ///
    /// `master` always exists on an Azure SQL server: an engine without it answers 18456 there,
    /// as Azure SQL does for an identity whose user is in an application database
    /// (Azure/sql-action#213), never 4060 (which clients retry as transient).
    pub fn login_external(&self, database: &str, who: &TokenIdentity) -> Result<Session, SqlError> {
        let db = match self.database(database) {
            Some(db) => db,
            None if database.eq_ignore_ascii_case(MASTER) => {
                return Err(errors::LOGIN_FAILED.with(&[errors::TOKEN_PRINCIPAL]))
            }
            None => return Err(errors::CANNOT_OPEN_DATABASE.with(&[database])),
        };
        let key = who.app_id.as_deref().unwrap_or(&who.object_id);
        let Some((user, principal_id, roles)) = db.external_user(&who.tenant_id, key) else {
            tracing::info!(
                database = %db.name,
                tenant_id = %who.tenant_id,
                key = %key,
                "login refused: no database user for this identity (CREATE USER ... FROM EXTERNAL PROVIDER)"
            );
            return Err(errors::LOGIN_FAILED.with(&[errors::TOKEN_PRINCIPAL]));
        };
        Ok(Session {
            database: db.name.clone(),
            user,
            roles,
            is_admin: false,
            login: format!("{key}@{}", who.tenant_id),
            spid: self.next_spid(),
            principal_id,
            ..Session::default()
        })
    }

    /// Logs in with a SQL login's name and password: a server admin login (dbo in every
    /// database) or a contained user of `database` (`CREATE USER x WITH PASSWORD`). 18456 if
    /// neither matches; 4060 if the database does not exist. Without a database, `master`, as
    /// Azure SQL (a login's default database is `master`; a contained user must name its
    /// database: learn.microsoft.com/sql/relational-databases/security/contained-database-users-making-your-database-portable).
    pub fn login_sql(
        &self,
        database: Option<&str>,
        user: &str,
        password: &str,
    ) -> Result<Session, SqlError> {
        let database = database.unwrap_or(MASTER);
        let admin = {
            let logins = self.inner.logins.read().unwrap_or_else(|p| p.into_inner());
            logins.get(&user.to_lowercase()).and_then(|l| {
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    l.password.as_bytes(),
                    password.as_bytes(),
                )
                .is_ok()
                .then(|| l.name.clone())
            })
        };
        let failed = || errors::LOGIN_FAILED.with(&[user]);
        let db = self.database(database);
        if let Some(login) = admin {
            let db = db.ok_or_else(|| errors::CANNOT_OPEN_DATABASE.with(&[database]))?;
            return Ok(self.admin_session(&db, &login));
        }
        let db = db.ok_or_else(failed)?;
        let (name, principal_id, roles) = db.contained_user(user, password).ok_or_else(failed)?;
        Ok(Session {
            database: db.name.clone(),
            login: name.clone(),
            user: name,
            roles,
            is_admin: false,
            spid: self.next_spid(),
            principal_id,
            ..Session::default()
        })
    }

    fn parse(&self, batch: &str) -> Result<Arc<[Located]>, SqlError> {
        if let Some(p) = self
            .inner
            .parsed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(batch)
        {
            return Ok(p.clone());
        }
        let parsed: Arc<[Located]> = parse::parse_batch(batch)?.into();
        let mut cache = self.inner.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= PARSE_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(batch.to_string(), parsed.clone());
        Ok(parsed)
    }

    fn run_batch(
        &self,
        db: &Database,
        session: &mut Session,
        text: &str,
        vars: Vars,
    ) -> Vec<Outcome> {
        let statements = match self.parse(text) {
            Ok(s) => s,
            Err(e) => return vec![Outcome::Error(e)],
        };
        let logins = self
            .inner
            .logins
            .read()
            .map(|l| l.values().map(|a| a.name.clone()).collect())
            .unwrap_or_default();
        let mut batch = Batch {
            session,
            vars,
            out: Vec::new(),
            directory: self.inner.directory.as_ref(),
            logins,
            text,
        };
        db.execute(&mut batch, &statements);
        batch.out
    }

    fn session_database(&self, session: &Session) -> Result<Arc<Database>, Vec<Outcome>> {
        self.database(&session.database).ok_or_else(|| {
            vec![Outcome::Error(
                errors::CANNOT_OPEN_DATABASE.with(&[&session.database]),
            )]
        })
    }

    /// The engine's part of a session reset (`sp_reset_connection`): the open transaction
    /// rolled back (unless `keep_transaction`, RESETCONNECTIONSKIPTRAN), returning the change to
    /// announce, and the session's temporary tables dropped. The caller puts the session's own
    /// state (database, `SET` options, session context) back as it was at login.
    pub fn reset_session(
        &self,
        session: &Session,
        keep_transaction: bool,
    ) -> Option<TransactionChange> {
        let rolled_back = if keep_transaction {
            None
        } else {
            session.end_transaction()
        };
        let mut txn = session.transaction.lock();
        if txn.temp.needs_reconciling() {
            if txn.depth > 0 {
                // The transaction stays on its connection: drop the tables inside it.
                let names: Vec<String> = txn.temp.sqlite_names().collect();
                if let Some(lease) = txn.lease.as_ref() {
                    for name in names {
                        if let Err(error) = lease.run(&format!("DROP TABLE IF EXISTS {name}")) {
                            tracing::warn!(%error, "a reset could not drop a temporary table");
                        }
                    }
                }
            } else {
                // Let the connection go: it is closed, and its temporary tables with it.
                txn.lease = None;
            }
            txn.temp.clear();
        }
        rolled_back
    }

    /// Runs a SQL batch: one [`Outcome`] per statement, in order, ending at the first error.
    pub fn execute(&self, session: &mut Session, batch: &str) -> Vec<Outcome> {
        match self.session_database(session) {
            Ok(db) => self.run_batch(&db, session, batch, Vars::default()),
            Err(e) => e,
        }
    }

    /// Runs `sp_executesql`: `statement` with named parameters (`@P1`, `@id`, ...; the `@` is
    /// optional), bound as values, never spliced into the text. A parameter's type is taken from
    /// its value ([`Value::Int`] an `INT`, or `BIGINT` past its range; [`Value::Text`]
    /// `NVARCHAR`; ...).
    pub fn execute_rpc(
        &self,
        session: &mut Session,
        statement: &str,
        params: &[(String, Value)],
    ) -> Vec<Outcome> {
        let db = match self.session_database(session) {
            Ok(db) => db,
            Err(e) => return e,
        };
        let mut vars = Vars::default();
        for (name, value) in params {
            let name = if name.starts_with('@') {
                name.clone()
            } else {
                format!("@{name}")
            };
            vars.set(&name, types::to_storage(value), types::type_of_value(value));
        }
        let before = session.transaction_count();
        let mut out = self.run_batch(&db, session, statement, vars);
        let after = session.transaction_count();
        if before != after {
            // A procedure must leave @@TRANCOUNT as it found it; the transaction stays as is.
            let mut e =
                errors::TRANSACTION_COUNT_MISMATCH.with(&[&before.to_string(), &after.to_string()]);
            e.line = 0;
            out.push(Outcome::Error(e));
        }
        out
    }

    /// Runs a transaction manager request on the session's transaction, exactly as the T-SQL
    /// statement it stands for (`BEGIN TRANSACTION`, `COMMIT`, `ROLLBACK [name]`, `SAVE
    /// TRANSACTION name`): a [`Outcome::Transaction`] when the transaction began or ended, then
    /// [`Outcome::Done`]; or the error (3902, 3903, 628, 6401, ...).
    pub fn transaction(&self, session: &mut Session, request: TransactionRequest) -> Vec<Outcome> {
        let db = match self.session_database(session) {
            Ok(db) => db,
            Err(e) => return e,
        };
        let named = |name: String| (!name.is_empty()).then_some(TxnName::Literal(name));
        let stmt = match request {
            TransactionRequest::Begin { name } => TxnStmt::Begin(named(name)),
            TransactionRequest::Commit => TxnStmt::Commit,
            TransactionRequest::Rollback { name } => TxnStmt::Rollback(named(name)),
            TransactionRequest::Save { name } => TxnStmt::Save(TxnName::Literal(name)),
        };
        let statements = [Located {
            stmt: Stmt::Transaction(stmt),
            line: 1,
        }];
        let mut batch = Batch {
            session,
            vars: Vars::default(),
            out: Vec::new(),
            directory: self.inner.directory.as_ref(),
            logins: Vec::new(),
            text: "",
        };
        db.execute(&mut batch, &statements);
        batch.out
    }
}
