//! The engine: every database of a server, its SQL logins, the directory external principals
//! are resolved in, and the calls the server makes — create databases, log sessions in, run
//! batches, `sp_executesql` and transaction manager requests, reset sessions, run sqlcmd
//! scripts.

use super::database::Database;
use super::errors::{self, SqlError};
use super::executor::{self, Batch, Vars};
use super::outcome::Outcome;
use super::parse::{self, Located, Stmt, TxnName, TxnStmt};
use super::session::Session;
use super::sqlcmd;
use super::storage::DataDir;
use super::transaction::{TransactionChange, TransactionRequest};
use super::types::Value;
use super::values;
use crate::identity::{Directory, TokenIdentity};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// How many SQLite connections a database has open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionCounts {
    /// Open connections: leased to sessions (running a request, or holding a transaction) or
    /// idle.
    pub open: u64,
    /// Idle connections waiting in the pool.
    pub idle: usize,
}

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
        executor::run_batch(db, &mut batch, &statements);
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
    ///
    /// A session acting as another user (`EXECUTE AS` without `REVERT`) cannot be reset: SQL
    /// Server answers 18059 and drops the connection (dotnet/efcore#27999; the "EXECUTE AS with
    /// connection pooling will randomly fail" of MicrosoftDocs/sql-docs#2001). That error is
    /// returned and nothing is reset.
    pub fn reset_session(
        &self,
        session: &Session,
        keep_transaction: bool,
    ) -> Result<Option<TransactionChange>, SqlError> {
        if !session.impersonation.is_empty() {
            return Err(errors::RESET_UNDER_IMPERSONATION.plain());
        }
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
        Ok(rolled_back)
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
            vars.set(
                &name,
                values::to_storage(value),
                values::type_of_value(value),
            );
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
        executor::run_batch(&db, &mut batch, &statements);
        batch.out
    }
}
