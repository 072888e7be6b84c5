//! A logged-in connection: the `tiberius` client plus what the pool needs to know about it
//! (when its login token expires, when it was opened and last used, whether it is broken), and
//! the query API through which errors are seen so a broken connection is never reused.
//!
//! What it does for callers, and its bounds, is documented on [`Connection`].

mod leftovers;
mod liveness;

pub use leftovers::IsolationLevel;
pub(crate) use liveness::{Gone, Liveness};

use leftovers::{may_change_identity, may_change_isolation};

use crate::error::{tds_error_breaks_connection, Error};
use crate::metrics::Stamp;
use crate::retirement::{RetireReason, Retirement};
use futures_util::Stream;
use std::borrow::Cow;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tiberius::{ExecuteResult, QueryItem, ResetConnection, ResetState, Row, ToSql};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::compat::Compat;

/// The `tiberius` client type this crate opens.
pub type Client = tiberius::Client<Compat<TcpStream>>;

/// A logged-in connection. Run statements with [`query`](Self::query),
/// [`simple_query`](Self::simple_query) and [`execute`](Self::execute); their errors mark the
/// connection broken when it can no longer be used, so a pool discards it.
///
/// For the rest of `tiberius`'s API (bulk insert, transactions), [`client`](Self::client) gives
/// the raw client; report any error seen through it with [`report_error`](Self::report_error).
///
/// A connection is **broken** once any request on it fails with an I/O error, a timeout, a
/// protocol error, a fatal server error (severity 20 or more), or error 37396 (Azure SQL
/// revalidated the session's token and found it expired), and also when a request's future was
/// dropped before its answer arrived (the stream's state is then unknown). A pool discards
/// broken connections when they come back.
///
/// **Session reset.** When a pooled connection comes back, the pool asks for a session reset
/// (when the pool takes it back): the next request, whoever sends it (this wrapper or the
/// raw [`client`](Connection::client)), carries the TDS RESETCONNECTION bit, and the server
/// resets the session before running it (open transaction rolled back, temporary tables dropped,
/// `SET` options, database and session context back to the login's). It costs no round trip.
/// The server acknowledges the reset in the answer; a connection whose reset went out
/// unacknowledged is never handed out again. The server's reset keeps the isolation level; the
/// pool puts it back itself when a caller may have changed it ([`Connection::transaction_at`]).
///
/// **Transactions.** [`Connection::transaction`] begins one (a transaction-manager request, as
/// SqlClient and the ODBC driver send); [`Transaction::commit`] and [`Transaction::rollback`]
/// end it, and dropping it without either rolls it back before the connection's next request
/// (or, in a pool, with the reset when it comes back).
pub struct Connection {
    client: Client,
    server: String,
    retirement: Retirement,
    last_used: Instant,
    /// Why it must not be used again, once it must not: [`RetireReason::Broken`], or
    /// [`RetireReason::SessionTokenExpired`] when the server refused the session's token, or the
    /// pool's reason for retiring it at checkout.
    broken: Option<RetireReason>,
    in_request: bool,
    /// A [`Transaction`] was dropped without commit or rollback: roll back before the next
    /// request.
    rollback_pending: bool,
    command_timeout: Option<Duration>,
    /// When the pool handed it out (for the use-time metric; empty without metrics).
    pub(crate) checked_out: Stamp,
    /// Tells, between requests, whether the server has let go of it.
    liveness: Liveness,
    /// A caller may have changed the session's isolation level, which a session reset keeps
    /// (see `connection/leftovers.rs`): the pool restores it before the next caller.
    isolation_changed: bool,
    /// A caller may have left the session acting as another identity, which the server refuses
    /// to reset (`connection/leftovers.rs`): the pool proves the reset before the next caller.
    identity_changed: bool,
}

/// The statement that ends whatever transaction a dropped [`Transaction`] left open.
const ROLLBACK_IF_OPEN: &str = "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION";

impl Connection {
    pub(crate) fn new(
        client: Client,
        server: String,
        retirement: Retirement,
        command_timeout: Option<Duration>,
        liveness: Liveness,
    ) -> Self {
        Self {
            liveness,
            isolation_changed: false,
            identity_changed: false,
            client,
            server,
            last_used: retirement.opened_at(),
            retirement,
            broken: None,
            in_request: false,
            rollback_pending: false,
            command_timeout,
            checked_out: Stamp::default(),
        }
    }

    /// Runs a parameterised statement (`@P1`, `@P2`, ...) and streams its results.
    ///
    /// ```no_run
    /// # async fn example(conn: &mut azure_sql_passwordless::Connection) -> azure_sql_passwordless::Result<()> {
    /// let rows = conn
    ///     .query("SELECT customer_id FROM dbo.Customer WHERE active = @P1", &[&true])
    ///     .await?
    ///     .into_first_result()
    ///     .await?;
    /// for row in rows {
    ///     let id: Option<i32> = row.get(0);
    ///     println!("Customer ID-->{}", id.unwrap_or_default());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn query<'a, 'b>(
        &'a mut self,
        sql: impl Into<Cow<'b, str>>,
        params: &'b [&'b dyn ToSql],
    ) -> Result<QueryStream<'a>, Error>
    where
        'a: 'b,
    {
        let sql = sql.into();
        self.note(&sql);
        self.begin().await?;
        let timeout = self.command_timeout;
        let Self {
            client,
            broken,
            in_request,
            ..
        } = self;
        let result = client.query(sql, params).await;
        *in_request = false;
        QueryStream::started(result, broken, timeout)
    }

    /// Runs a batch without parameters and streams its results. Never pass user input here;
    /// use [`query`](Self::query) with parameters.
    pub async fn simple_query<'a, 'b>(
        &'a mut self,
        sql: impl Into<Cow<'b, str>>,
    ) -> Result<QueryStream<'a>, Error>
    where
        'a: 'b,
    {
        let sql = sql.into();
        self.note(&sql);
        self.begin().await?;
        let timeout = self.command_timeout;
        let Self {
            client,
            broken,
            in_request,
            ..
        } = self;
        let result = client.simple_query(sql).await;
        *in_request = false;
        QueryStream::started(result, broken, timeout)
    }

    /// Runs a parameterised statement and returns the rows it affected.
    pub async fn execute<'a>(
        &mut self,
        sql: impl Into<Cow<'a, str>>,
        params: &[&dyn ToSql],
    ) -> Result<ExecuteResult, Error> {
        let sql = sql.into();
        self.note(&sql);
        self.begin().await?;
        let result = self.client.execute(sql, params).await;
        self.in_request = false;
        result.map_err(|e| seen(&mut self.broken, e, self.command_timeout))
    }

    /// The raw `tiberius` client, for what this wrapper does not offer. Errors seen through it
    /// bypass the broken-connection tracking: pass them to [`report_error`](Self::report_error)
    /// (or call [`mark_broken`](Self::mark_broken)) so the pool does not reuse a dead connection.
    ///
    /// A session reset the pool asked for rides on the first request sent through it too. If a
    /// [`Transaction`] was dropped unfinished, its rollback does as well: the next request
    /// then also resets the session (as a pool does between callers).
    ///
    /// What is sent through it cannot be seen, so a pool puts the session's isolation level back
    /// to READ COMMITTED before its next caller, and makes sure the session reset took (one round
    /// trip then; see [`transaction_at`](Self::transaction_at)).
    pub fn client(&mut self) -> &mut Client {
        self.last_used = Instant::now();
        self.isolation_changed = true;
        self.identity_changed = true;
        if std::mem::take(&mut self.rollback_pending) {
            self.client.reset_connection(ResetConnection::Full);
        }
        &mut self.client
    }

    /// Begins a transaction; [`Transaction::commit`] or [`Transaction::rollback`] ends it, and
    /// dropping it unfinished rolls it back before this connection's next request. Statements
    /// run through the transaction (it derefs to this connection) are part of it.
    ///
    /// ```no_run
    /// # async fn example(pool: &azure_sql_passwordless::Pool) -> azure_sql_passwordless::Result<()> {
    /// let mut conn = pool.get().await?;
    /// let mut tx = conn.transaction().await?;
    /// tx.execute("UPDATE dbo.Customer SET active = 0 WHERE customer_id = @P1", &[&3i32])
    ///     .await?;
    /// tx.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        self.transaction_request(TransactionRequest::Begin).await?;
        Ok(Transaction {
            conn: self,
            finished: false,
        })
    }

    /// Begins a transaction at an isolation level, as [`transaction`](Self::transaction) does
    /// otherwise. As in SQL Server, the level stays the session's after the transaction ends,
    /// and a session reset keeps it; so that the next caller of a pooled connection does not
    /// inherit it (SqlClient's pool lets it through: dotnet/SqlClient#96), the pool puts the
    /// session back to READ COMMITTED before handing it out again, in one round trip. The same
    /// happens after a statement that says `SET TRANSACTION ISOLATION LEVEL`.
    ///
    /// ```no_run
    /// # async fn example(pool: &azure_sql_passwordless::Pool) -> azure_sql_passwordless::Result<()> {
    /// use azure_sql_passwordless::IsolationLevel;
    /// let mut conn = pool.get().await?;
    /// let mut tx = conn.transaction_at(IsolationLevel::Serializable).await?;
    /// tx.execute("UPDATE dbo.Customer SET active = 0 WHERE customer_id = @P1", &[&3i32])
    ///     .await?;
    /// tx.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn transaction_at(
        &mut self,
        level: IsolationLevel,
    ) -> Result<Transaction<'_>, Error> {
        self.isolation_changed |= level != IsolationLevel::ReadCommitted;
        self.transaction_request(TransactionRequest::BeginAt(level))
            .await?;
        Ok(Transaction {
            conn: self,
            finished: false,
        })
    }

    /// Notes what `sql` may leave on the session that a reset does not undo.
    fn note(&mut self, sql: &str) {
        self.isolation_changed |= may_change_isolation(sql);
        self.identity_changed |= may_change_identity(sql);
    }

    /// Whether the next checkout must prove the session reset with a round trip of its own (and
    /// put the isolation level back): a caller may have left what a reset does not undo.
    pub(crate) fn reset_needs_proof(&self) -> bool {
        self.isolation_changed || self.identity_changed
    }

    /// One round trip that carries the session reset the pool asked for: the isolation level put
    /// back to READ COMMITTED when a caller may have changed it, else a `SELECT 1`. A session the
    /// server will not reset (18059) fails it.
    pub(crate) async fn prove_reset(&mut self) -> Result<(), Error> {
        let sql = if self.isolation_changed {
            leftovers::RESTORE
        } else {
            "SELECT 1"
        };
        self.simple_query(sql).await?.into_results().await?;
        self.isolation_changed = false;
        self.identity_changed = false;
        Ok(())
    }

    /// Sends a transaction-manager request (what SqlClient and the ODBC driver send to begin,
    /// commit and roll back).
    async fn transaction_request(&mut self, request: TransactionRequest) -> Result<(), Error> {
        self.begin().await?;
        let result = match request {
            TransactionRequest::Begin => self.client.begin_transaction().await,
            TransactionRequest::BeginAt(level) => {
                self.client
                    .begin_transaction_with_isolation(level.to_tds())
                    .await
            }
            TransactionRequest::Commit => self.client.commit_transaction().await,
            TransactionRequest::Rollback => self.client.rollback_transaction().await,
        };
        self.in_request = false;
        result.map_err(|e| seen(&mut self.broken, e, self.command_timeout))
    }

    /// Asks for a session reset with the next request (the pool calls it when the connection
    /// comes back): whatever this caller left on the session (transaction, temporary tables,
    /// `SET` options, database, session context) is gone before the next caller's first
    /// statement runs. No round trip: see the module docs.
    pub(crate) fn prepare_for_reuse(&mut self) {
        self.client.reset_connection(ResetConnection::Full);
        // The reset rolls back what a dropped transaction left open.
        self.rollback_pending = false;
    }

    /// Whether a session reset went out with a request and the server has not acknowledged it:
    /// nothing then proves the previous caller's state is gone.
    pub(crate) fn reset_unacknowledged(&self) -> bool {
        matches!(self.client.reset_state(), ResetState::Sent(_))
    }

    /// When the connection must be retired (its login token, its lifetime).
    pub(crate) fn retirement(&self) -> &Retirement {
        &self.retirement
    }

    /// Records an error seen through [`client`](Self::client); returns whether it broke the
    /// connection.
    pub fn report_error(&mut self, error: &tiberius::error::Error) -> bool {
        if tds_error_breaks_connection(error) {
            self.retire(broken_by(error));
        }
        self.broken.is_some()
    }

    /// Marks the connection as unusable: the pool discards it when it comes back.
    pub fn mark_broken(&mut self) {
        self.retire(RetireReason::Broken);
    }

    /// Marks it not to be used again, for `reason` (the first reason given stays).
    pub(crate) fn retire(&mut self, reason: RetireReason) {
        if self.broken.is_none() {
            tracing::debug!(server = %self.server, reason = reason.as_str(), "connection: marked broken");
        }
        self.broken.get_or_insert(reason);
    }

    /// Why it must not be used again, if it must not (a request's future dropped mid-way
    /// counts as broken).
    pub(crate) fn broken_reason(&self) -> Option<RetireReason> {
        self.broken
            .or(self.in_request.then_some(RetireReason::Broken))
    }

    /// Whether the connection must not be used again (see the module docs).
    pub fn is_broken(&self) -> bool {
        self.broken.is_some() || self.in_request
    }

    /// The server (`host:port`) this connection is logged in to, after any redirect.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Time left before the token this connection logged in with expires (`None` for SQL
    /// logins), by the monotonic and the wall clock, whichever says less.
    pub fn token_expires_in(&self) -> Option<Duration> {
        self.retirement.token_expires_in(Instant::now())
    }

    /// Whether the login token is past the point where the pool stops handing the connection
    /// out: its expiry less the minimum remaining lifetime of the [`crate::RenewalPolicy`], less
    /// a random share of up to a tenth of the token's lifetime (so the connections that logged
    /// in with one token do not all retire at once).
    pub fn token_retired(&self) -> bool {
        self.retirement.token_retired(Instant::now())
    }

    /// Whether the connection has lived its `Connection Lifetime` (drawn, for each connection,
    /// between 90% and 100% of the configured value, so connections opened together do not all
    /// reconnect at once).
    pub fn lifetime_reached(&self) -> bool {
        self.retirement.lifetime_reached(Instant::now())
    }

    /// When the connection was opened.
    pub fn opened_at(&self) -> Instant {
        self.retirement.opened_at()
    }

    /// How long ago the connection was opened.
    pub fn age(&self) -> Duration {
        self.opened_at().elapsed()
    }

    /// How long since the connection last started a request.
    pub fn idle_for(&self) -> Duration {
        self.idle_at(Instant::now())
    }

    /// Whether the server has let go of it while it sat idle (closed or reset it), seen without
    /// a round trip; `None` too while a request is out (its answer is not idleness).
    pub(crate) fn server_gone(&self) -> Option<Gone> {
        if self.in_request {
            return None;
        }
        self.liveness.gone()
    }

    /// How long it has been idle at `now`.
    pub(crate) fn idle_at(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_used)
    }

    /// Closes the connection politely.
    pub async fn close(self) -> Result<(), Error> {
        self.client
            .close()
            .await
            .map_err(|e| Error::from_statement(e, None))
    }

    /// A cheap round trip (`SELECT 1`) proving the session still works.
    pub async fn ping(&mut self) -> Result<(), Error> {
        self.simple_query("SELECT 1").await?.into_results().await?;
        Ok(())
    }

    /// Checks the connection can take a request and marks one started; first rolls back what a
    /// dropped [`Transaction`] left open.
    async fn begin(&mut self) -> Result<(), Error> {
        if self.broken.is_some() || self.in_request {
            // A previous request's future was dropped mid-way: the stream is out of sync.
            self.broken.get_or_insert(RetireReason::Broken);
            return Err(Error::AlreadyBroken);
        }
        self.last_used = Instant::now();
        if self.rollback_pending {
            self.in_request = true;
            let result = match self.client.simple_query(ROLLBACK_IF_OPEN).await {
                Ok(stream) => stream.into_results().await.map(drop),
                Err(e) => Err(e),
            };
            self.in_request = false;
            result.map_err(|e| seen(&mut self.broken, e, self.command_timeout))?;
            self.rollback_pending = false;
            tracing::debug!(server = %self.server, "connection: rolled back a dropped transaction");
        }
        self.in_request = true;
        Ok(())
    }
}

/// The transaction-manager requests [`Transaction`] sends.
#[derive(Clone, Copy, Debug)]
enum TransactionRequest {
    Begin,
    BeginAt(IsolationLevel),
    Commit,
    Rollback,
}

/// A transaction on a [`Connection`] ([`Connection::transaction`]). Derefs to the connection,
/// so statements run through it are part of the transaction. Ends with [`commit`](Self::commit)
/// or [`rollback`](Self::rollback); dropped without either, it is rolled back before the
/// connection's next request (in a pool: by the session reset when the connection comes back).
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    finished: bool,
}

impl Transaction<'_> {
    /// Commits the transaction. If the commit fails, the connection rolls back whatever is left
    /// before its next request.
    pub async fn commit(mut self) -> Result<(), Error> {
        self.finish(TransactionRequest::Commit).await
    }

    /// Rolls the transaction back.
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.finish(TransactionRequest::Rollback).await
    }

    async fn finish(&mut self, request: TransactionRequest) -> Result<(), Error> {
        let result = self.conn.transaction_request(request).await;
        // Finished either way; a failed commit or rollback leaves the rollback pending.
        self.finished = result.is_ok();
        result
    }
}

impl Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.finished {
            tracing::debug!(
                server = %self.conn.server,
                "connection: a transaction was dropped without commit or rollback; it is rolled back before the next request"
            );
            self.conn.rollback_pending = true;
        }
    }
}

impl fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("connection", &self.conn)
            .field("finished", &self.finished)
            .finish()
    }
}

/// Classifies an error seen on the connection, marking it broken when it must not be reused.
fn seen(
    broken: &mut Option<RetireReason>,
    e: tiberius::error::Error,
    timeout: Option<Duration>,
) -> Error {
    if tds_error_breaks_connection(&e) {
        broken.get_or_insert(broken_by(&e));
    }
    let error = Error::from_statement(e, timeout);
    tracing::debug!(error = %error, broken = broken.is_some(), "connection: request failed");
    error
}

/// Why an error that breaks the connection retires it: the server refusing the session's token
/// (37396, or 18456 on an open session) has its own reason.
fn broken_by(e: &tiberius::error::Error) -> RetireReason {
    match e {
        tiberius::error::Error::Server(t)
            if matches!(
                t.code(),
                crate::error::SESSION_TOKEN_EXPIRED | crate::error::LOGIN_FAILED
            ) =>
        {
            RetireReason::SessionTokenExpired
        }
        _ => RetireReason::Broken,
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("age", &self.age())
            .field("token_expires_in", &self.token_expires_in())
            .field("broken", &self.is_broken())
            .finish()
    }
}

/// The results of a statement, as a stream of [`QueryItem`]s (metadata, then rows, for each
/// result set). Errors mark the connection broken when they must.
pub struct QueryStream<'a> {
    inner: tiberius::QueryStream<'a>,
    broken: &'a mut Option<RetireReason>,
    timeout: Option<Duration>,
}

impl<'a> QueryStream<'a> {
    /// Wraps the driver's answer to a request: its stream, or its error seen by the connection.
    fn started(
        result: tiberius::Result<tiberius::QueryStream<'a>>,
        broken: &'a mut Option<RetireReason>,
        timeout: Option<Duration>,
    ) -> Result<Self, Error> {
        match result {
            Ok(inner) => Ok(QueryStream {
                inner,
                broken,
                timeout,
            }),
            Err(e) => Err(seen(broken, e, timeout)),
        }
    }

    /// Every result set, each as a `Vec` of rows.
    pub async fn into_results(mut self) -> Result<Vec<Vec<Row>>, Error> {
        use futures_util::TryStreamExt;
        let mut results: Vec<Vec<Row>> = Vec::new();
        let mut current: Option<Vec<Row>> = None;
        while let Some(item) = self.try_next().await? {
            match item {
                QueryItem::Metadata(_) => {
                    if let Some(previous) = current.take() {
                        results.push(previous);
                    }
                    current = Some(Vec::new());
                }
                QueryItem::Row(row) => current.get_or_insert_with(Vec::new).push(row),
            }
        }
        results.extend(current);
        Ok(results)
    }

    /// The rows of the first result set.
    pub async fn into_first_result(self) -> Result<Vec<Row>, Error> {
        Ok(self
            .into_results()
            .await?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// The first row of the first result set.
    pub async fn into_row(self) -> Result<Option<Row>, Error> {
        Ok(self.into_first_result().await?.into_iter().next())
    }
}

impl Stream for QueryStream<'_> {
    type Item = Result<QueryItem, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(seen(this.broken, e, this.timeout)))),
            Poll::Ready(Some(Ok(item))) => Poll::Ready(Some(Ok(item))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for QueryStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryStream").finish_non_exhaustive()
    }
}
