//! Where a database's rows live: one SQLite file in WAL mode, in a directory the engine owns and
//! removes, and the pool of connections that sessions run their requests on.
//!
//! WAL gives what Azure SQL Database's `READ_COMMITTED_SNAPSHOT` gives: a reader sees the last
//! committed data and never waits for a writer, while writers take the one write lock in turn. A
//! writer that finds the lock taken waits for it ([`LockWait`]: woken the moment a writer ends,
//! not by polling) for the session's `SET LOCK_TIMEOUT`, or [`DEFAULT_LOCK_WAIT`] when that is -1
//! (SQL Server's "wait for ever"; the sandbox never hangs a client), and then fails with SQL
//! Server's error 1222.
//!
//! A session holds a connection ([`Lease`]) while a request runs and while it has a transaction
//! open; otherwise the connection goes back to the pool, so a thousand idle sessions hold no file
//! handles. A lease dropped with a transaction still open (a session that ended, a TCP
//! connection that dropped) rolls it back before the connection is reused.

use super::errors::{self, SqlError};
use super::sqlite_functions::{self, FnCtx, Identities, Shared};
use super::translate::Plan;
use rusqlite::{Connection, TransactionState};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a writer waits for the write lock when its session's `LOCK_TIMEOUT` is -1 (the
/// default). SQL Server would wait for ever; the sandbox answers 1222 well before a client's
/// command timeout (30 s in most drivers) instead.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// How many idle connections a database keeps for the next request.
const MAX_IDLE: usize = 16;

/// How many translated statements a connection keeps.
pub(crate) const PLAN_CACHE_SIZE: usize = 512;

/// The name of the one-row table whose update takes the write lock before a change to the
/// catalog or the principals (so two sessions never change them at once).
pub(crate) const METADATA_LOCK_TABLE: &str = "__azure_sql_sandbox_metadata";

/// The directory holding an engine's database files; removed when the last database using it
/// goes away.
#[derive(Debug)]
pub(crate) struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// A fresh directory under the system's temporary directory.
    pub(crate) fn create() -> Result<Arc<DataDir>, SqlError> {
        let path = std::env::temp_dir().join(format!(
            "azure-sql-sandbox-data-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).map_err(|e| {
            errors::STORAGE.with(&[&format!(
                "cannot create the data directory {}: {e}",
                path.display()
            )])
        })?;
        Ok(Arc::new(DataDir { path }))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), %error, "could not remove the sandbox's data directory");
        }
    }
}

/// Wakes writers waiting for the write lock when a writer ends (commit, rollback, or the end of
/// an autocommit statement).
#[derive(Default)]
pub(crate) struct LockWait {
    ended: Mutex<u64>,
    wake: Condvar,
    /// How many statements have found the write lock taken and started waiting for it.
    began: AtomicU64,
}

impl LockWait {
    /// A writer ended: wake the waiters.
    pub(crate) fn released(&self) {
        let mut n = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.wrapping_add(1);
        self.wake.notify_all();
    }

    /// Waits until a writer ends or `limit` passes.
    fn wait(&self, seen: u64, limit: Duration) {
        let guard = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self
            .wake
            .wait_timeout_while(guard, limit, |n| *n == seen)
            .map_err(|p| p.into_inner());
    }

    fn current(&self) -> u64 {
        *self.ended.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many waits for the write lock have begun.
    pub(crate) fn waits_begun(&self) -> u64 {
        self.began.load(Ordering::Relaxed)
    }
}

/// One SQLite connection to a database file, with what it caches for the statements it runs.
pub(crate) struct Conn {
    pub conn: Connection,
    /// What the `mssql_*` functions read (the session, the running statement's specs).
    pub ctx: Shared,
    /// Translated statements by batch text, with the metadata version they were made for.
    pub plans: HashMap<String, (u64, Arc<Plan>)>,
    /// The metadata version the attached `sys` and `INFORMATION_SCHEMA` tables hold (0: none).
    pub synced: u64,
    /// How long the busy handler waits for the write lock, in milliseconds (-1: the default).
    lock_timeout: Arc<AtomicI64>,
    /// Whether a session created a temporary table here: such a connection is closed rather
    /// than pooled, so no temporary table outlives its session.
    pub has_temp: bool,
}

impl Conn {
    /// Sets how long the next statements wait for the write lock (`SET LOCK_TIMEOUT`: -1 for
    /// the default, 0 not at all).
    pub(crate) fn set_lock_timeout(&self, ms: i32) {
        self.lock_timeout.store(i64::from(ms), Ordering::Relaxed);
    }

    /// Whether the connection holds the write lock (it changed something not yet committed).
    pub(crate) fn is_writing(&self) -> bool {
        matches!(
            self.conn.transaction_state(Some(c"main")),
            Ok(TransactionState::Write)
        )
    }

    /// Whether the connection holds a read snapshot of the file (and no write lock).
    pub(crate) fn is_reading(&self) -> bool {
        matches!(
            self.conn.transaction_state(Some(c"main")),
            Ok(TransactionState::Read)
        )
    }

    /// Runs SQL that returns nothing (transaction control, DDL).
    pub(crate) fn run(&self, sql: &str) -> Result<(), SqlError> {
        self.conn.execute_batch(sql).map_err(sqlite_failure)
    }
}

/// SQL Server's error for a failed SQLite call: 1222 when the write lock could not be had in
/// time, otherwise 8180 with SQLite's message.
pub(crate) fn sqlite_failure(e: rusqlite::Error) -> SqlError {
    if is_busy(&e) {
        return errors::LOCK_TIMEOUT.plain();
    }
    errors::NOT_PREPARED.with(&[&e.to_string()])
}

/// Whether SQLite gave up waiting for a lock.
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A database's file and its idle connections.
pub(crate) struct Store {
    path: PathBuf,
    idle: Mutex<Vec<Conn>>,
    pub(crate) lock_wait: Arc<LockWait>,
    /// `IDENTITY` counters: shared by every connection, never rolled back (as in SQL Server).
    pub(crate) identity: Identities,
    /// `CREATE TABLE`s for the system views each connection attaches in memory.
    system_tables: Vec<String>,
    /// How many connections are open (idle or leased), for tests and logs.
    open: AtomicU64,
    _dir: Arc<DataDir>,
}

impl Store {
    /// Creates the database file `<dir>/<n>.sqlite` in WAL mode; `system_tables` are created
    /// in every connection's attached `sys` / `information_schema` databases.
    pub(crate) fn create(
        dir: Arc<DataDir>,
        file_name: &str,
        system_tables: Vec<String>,
    ) -> Result<Arc<Store>, SqlError> {
        let path = dir.path().join(file_name);
        for suffix in ["", "-wal", "-shm"] {
            let mut stale = path.clone().into_os_string();
            stale.push(suffix);
            let _ = std::fs::remove_file(stale);
        }
        let store = Arc::new(Store {
            path,
            idle: Mutex::new(Vec::new()),
            lock_wait: Arc::new(LockWait::default()),
            identity: Identities::default(),
            system_tables,
            open: AtomicU64::new(0),
            _dir: dir,
        });
        let first = store.open()?;
        first.run(&format!(
            "PRAGMA journal_mode = WAL; CREATE TABLE main.{METADATA_LOCK_TABLE} (version INTEGER NOT NULL); INSERT INTO main.{METADATA_LOCK_TABLE} VALUES (0);"
        ))?;
        store.put_back(first);
        Ok(store)
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Conn>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a connection: WAL without fsync (the data is throwaway), the `mssql_*` functions
    /// and collation, the busy handler, and the system views attached in memory.
    fn open(&self) -> Result<Conn, SqlError> {
        let fail = |e: rusqlite::Error| {
            errors::STORAGE.with(&[&format!(
                "cannot open the database file {}: {e}",
                self.path.display()
            )])
        };
        let mut conn = Connection::open(&self.path).map_err(fail)?;
        let ctx: Shared = Arc::new(Mutex::new(FnCtx::new(self.identity.clone())));
        sqlite_functions::register(&conn, ctx.clone()).map_err(fail)?;
        conn.set_prepared_statement_cache_capacity(256);
        conn.execute_batch(
            "PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY; \
             ATTACH DATABASE ':memory:' AS sys; ATTACH DATABASE ':memory:' AS information_schema;",
        )
        .map_err(fail)?;
        for ddl in &self.system_tables {
            conn.execute_batch(ddl).map_err(fail)?;
        }
        let lock_timeout = Arc::new(AtomicI64::new(-1));
        let timeout = lock_timeout.clone();
        let lock_wait = self.lock_wait.clone();
        let mut started = Instant::now();
        let mut seen = 0;
        conn.busy_handler(Some(move |count: i32| {
            // Called while the write lock is taken: wait for a writer to end, up to the
            // session's lock timeout since the first call for this lock.
            if count == 0 {
                started = Instant::now();
                lock_wait.began.fetch_add(1, Ordering::Relaxed);
            }
            let limit = match timeout.load(Ordering::Relaxed) {
                ms if ms < 0 => DEFAULT_LOCK_WAIT,
                ms => Duration::from_millis(ms as u64),
            };
            let waited = started.elapsed();
            if waited >= limit {
                return false;
            }
            let now = lock_wait.current();
            if now == seen && count > 0 {
                // Nobody ended since the last try: sleep until someone does (or a short
                // while, in case a writer ended without saying so).
                lock_wait.wait(seen, (limit - waited).min(Duration::from_millis(25)));
            }
            seen = lock_wait.current();
            true
        }))
        .map_err(fail)?;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Conn {
            conn,
            ctx,
            plans: HashMap::new(),
            synced: 0,
            lock_timeout,
            has_temp: false,
        })
    }

    /// A connection for a session: an idle one, or a new one.
    pub(crate) fn acquire(self: &Arc<Self>) -> Result<Lease, SqlError> {
        let idle = self.idle().pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open()?,
        };
        Ok(Lease {
            conn: Some(conn),
            store: self.clone(),
        })
    }

    /// Takes a connection back: rolled back if a transaction is still open, kept if there is
    /// room and it never held a temporary table, closed otherwise.
    fn put_back(&self, mut conn: Conn) {
        if !conn.conn.is_autocommit() {
            // The rollback also undoes the system views it synced inside the transaction.
            conn.synced = 0;
            let writing = conn.is_writing();
            if let Err(error) = conn.conn.execute_batch("ROLLBACK") {
                tracing::warn!(%error, "could not roll back a connection's transaction; closing it");
                drop(conn);
                self.open.fetch_sub(1, Ordering::Relaxed);
                self.lock_wait.released();
                return;
            }
            if writing {
                tracing::debug!("rolled back the open transaction of an ended session");
                self.lock_wait.released();
            }
        }
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE && !conn.has_temp {
            idle.push(conn);
        } else {
            drop(idle);
            drop(conn);
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// How many connections are open, idle or in use.
    pub(crate) fn open_connections(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// How many connections wait in the pool.
    pub(crate) fn idle_connections(&self) -> usize {
        self.idle().len()
    }
}

/// A connection lent to a session; back to the pool (rolled back first) when dropped.
pub(crate) struct Lease {
    conn: Option<Conn>,
    store: Arc<Store>,
}

impl std::ops::Deref for Lease {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        // Only `drop` takes the connection out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.store.put_back(conn);
        }
    }
}
