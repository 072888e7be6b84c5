//! What one caller leaves on a pooled connection never reaches the next: the session reset on
//! reuse, and the transaction helper. Against the sandbox (in-process, port 0) and, for the
//! tests marked so, the external targets of `tests/common/target.rs`.

mod common;

use azure_sql_passwordless::{connect, tiberius, Config, Connection, IsolationLevel, Pool};
use azure_sql_sandbox::SandboxOptions;
use common::{sandbox, target};

/// A table the sandbox's identity may write (created by the admin with `db_datawriter`).
const SCRATCH: &str = "dbo.PoolScratch";

/// The first row of `sql`'s answer (the statement must succeed).
async fn first_row(conn: &mut Connection, sql: &str) -> Option<tiberius::Row> {
    conn.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_row()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn scalar_i32(conn: &mut Connection, sql: &str) -> Option<i32> {
    first_row(conn, sql)
        .await
        .and_then(|row| row.get::<i32, _>(0))
}

async fn scalar_text(conn: &mut Connection, sql: &str) -> Option<String> {
    first_row(conn, sql)
        .await
        .and_then(|row| row.get::<&str, _>(0).map(str::to_owned))
}

async fn run(conn: &mut Connection, sql: &str) {
    conn.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_results()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A sandbox with a second database and a table the identity may write.
async fn writable_sandbox() -> common::SandboxTarget {
    let t = sandbox(SandboxOptions {
        extra_databases: vec!["billing".into()],
        ..SandboxOptions::default()
    })
    .await;
    let database = t.config.get_database().expect("a database").to_owned();
    t.sandbox
        .execute_admin(
            &database,
            &format!(
                "CREATE TABLE {SCRATCH} (id INT NOT NULL PRIMARY KEY, note NVARCHAR(50) NULL); \
                 ALTER ROLE db_datawriter ADD MEMBER [customers-identity];"
            ),
        )
        .await
        .expect("scratch table");
    common::add_reader(&t.sandbox, "billing").await;
    t
}

/// The session's isolation level, as `sys.dm_exec_sessions` numbers it (2: read committed).
const ISOLATION: &str =
    "SELECT transaction_isolation_level FROM sys.dm_exec_sessions WHERE session_id = @@SPID";

async fn isolation(conn: &mut Connection) -> Option<i16> {
    first_row(conn, ISOLATION)
        .await
        .and_then(|row| row.get::<i16, _>(0))
}

/// One connection in the pool, so the second caller gets the first one's session.
fn single(config: &Config) -> Config {
    let mut config = config.clone();
    config.max_pool_size(1);
    config
}

/// The first caller leaves a transaction open (with a write, when `write` names a table it may
/// write), `SET NOCOUNT ON`, another database (when `other_database` names one), a temporary
/// table, a session-context value and the serializable isolation level (which a session reset
/// keeps: the pool puts it back); the second caller, on the same connection, sees none of it.
async fn leftovers_do_not_reach_the_next_caller(
    pool: &Pool,
    write: Option<&str>,
    other_database: Option<&str>,
) {
    let home = {
        let mut conn = pool.get().await.expect("first caller");
        let home = scalar_text(&mut conn, "SELECT DB_NAME()")
            .await
            .expect("a database");
        run(&mut conn, "BEGIN TRANSACTION").await;
        if let Some(table) = write {
            run(
                &mut conn,
                &format!("INSERT INTO {table} (id, note) VALUES (1, N'left over')"),
            )
            .await;
        }
        run(&mut conn, "SET NOCOUNT ON").await;
        run(&mut conn, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").await;
        assert_eq!(isolation(&mut conn).await, Some(4));
        run(&mut conn, "CREATE TABLE #leftover (id INT)").await;
        run(
            &mut conn,
            "EXEC sp_set_session_context @key = N'tenant', @value = N'first caller'",
        )
        .await;
        assert_eq!(scalar_i32(&mut conn, "SELECT @@TRANCOUNT").await, Some(1));
        if let Some(db) = other_database {
            run(&mut conn, &format!("USE [{db}]")).await;
            assert_eq!(
                scalar_text(&mut conn, "SELECT DB_NAME()").await.as_deref(),
                Some(db)
            );
        }
        home
        // The caller returns early, as on an error: the connection goes back as it is.
    };
    let state = pool.state();
    assert_eq!((state.size, state.idle), (1, 1), "kept for the next caller");

    let mut conn = pool.get().await.expect("second caller");
    assert_eq!(
        scalar_i32(&mut conn, "SELECT @@TRANCOUNT").await,
        Some(0),
        "the open transaction was rolled back"
    );
    assert_eq!(
        scalar_text(&mut conn, "SELECT DB_NAME()").await,
        Some(home),
        "back in the login's database"
    );
    assert_eq!(
        scalar_i32(
            &mut conn,
            "SELECT CASE WHEN OBJECT_ID(N'tempdb..#leftover') IS NULL THEN 0 ELSE 1 END"
        )
        .await,
        Some(0),
        "the temporary table was dropped"
    );
    assert_eq!(
        scalar_text(
            &mut conn,
            "SELECT CAST(SESSION_CONTEXT(N'tenant') AS NVARCHAR(50))"
        )
        .await,
        None,
        "the session context was cleared"
    );
    assert_eq!(
        isolation(&mut conn).await,
        Some(2),
        "back to read committed"
    );
    // NOCOUNT is off again: the SELECT's DONE carries its row count.
    let counted = conn.execute("SELECT 1 AS one", &[]).await.expect("select");
    assert_eq!(counted.total(), 1, "SET NOCOUNT ON did not carry over");
    if let Some(table) = write {
        assert_eq!(
            scalar_i32(&mut conn, &format!("SELECT COUNT(*) FROM {table}")).await,
            Some(0),
            "the first caller's uncommitted insert was rolled back"
        );
    }
    drop(conn);
    assert_eq!(pool.state().opened, 1, "one connection served every caller");
}

#[tokio::test]
async fn what_a_caller_leaves_on_a_connection_never_reaches_the_next_caller() {
    let t = writable_sandbox().await;
    let pool = Pool::new(single(&t.config)).await.expect("pool");
    // Azure SQL Database refuses `USE` to another database (40508), so no caller can leave one
    // behind there; SQL Server allows it, and the external SQL Server target checks it.
    {
        let mut conn = pool.get().await.expect("connection");
        let refused = conn.simple_query("USE [billing]").await.map(drop);
        let number = refused.as_ref().err().and_then(|e| e.sql_error_number());
        assert_eq!(number, Some(40508), "{refused:?}");
    }
    leftovers_do_not_reach_the_next_caller(&pool, Some(SCRATCH), None).await;
    assert!(
        t.sandbox.stats().resets >= 1,
        "the server reset the session"
    );

    for external in
        target::external("what_a_caller_leaves_on_a_connection_never_reaches_the_next_caller")
    {
        let pool = Pool::new(single(&external.config))
            .await
            .expect("pool on external target");
        // A read-only login: no write; `master` is the other database every SQL Server has.
        let other = (external.name == "sqlserver").then_some("master");
        leftovers_do_not_reach_the_next_caller(&pool, None, other).await;
    }
}

#[tokio::test]
async fn a_reset_the_server_does_not_acknowledge_discards_the_connection() {
    target::sandbox_only(
        "a_reset_the_server_does_not_acknowledge_discards_the_connection",
        "makes the server ignore a reset",
    );
    let t = writable_sandbox().await;
    let pool = Pool::new(single(&t.config)).await.expect("pool");
    {
        let mut conn = pool.get().await.expect("first caller");
        run(&mut conn, "BEGIN TRANSACTION").await;
        run(&mut conn, &format!("INSERT INTO {SCRATCH} (id) VALUES (7)")).await;
    }
    // The server runs the next request without resetting (and without acknowledging).
    t.sandbox.faults().ignore_resets(1);
    {
        let mut conn = pool.get().await.expect("second caller");
        // The request that carried the reset ran in the old session: this is what the pool
        // must never let a third caller see.
        assert_eq!(scalar_i32(&mut conn, "SELECT @@TRANCOUNT").await, Some(1));
    }
    let state = pool.state();
    assert_eq!(
        (state.size, state.closed_broken),
        (0, 1),
        "not proven clean: discarded on return, {state:?}"
    );
    let mut conn = pool.get().await.expect("third caller");
    assert_eq!(scalar_i32(&mut conn, "SELECT @@TRANCOUNT").await, Some(0));
    assert_eq!(
        scalar_i32(&mut conn, &format!("SELECT COUNT(*) FROM {SCRATCH}")).await,
        Some(0)
    );
    assert_eq!(
        pool.state().opened,
        2,
        "a new login served the third caller"
    );
}

#[tokio::test]
async fn a_transaction_commits_rolls_back_and_is_rolled_back_when_dropped() {
    target::sandbox_only(
        "a_transaction_commits_rolls_back_and_is_rolled_back_when_dropped",
        "writes to a table",
    );
    let t = writable_sandbox().await;
    let pool = Pool::new(single(&t.config)).await.expect("pool");
    let count = format!("SELECT COUNT(*) FROM {SCRATCH}");
    let mut conn = pool.get().await.expect("connection");

    let mut tx = conn.transaction().await.expect("begin");
    tx.execute(
        &format!("INSERT INTO {SCRATCH} (id, note) VALUES (@P1, @P2)"),
        &[&1i32, &"committed"],
    )
    .await
    .expect("insert");
    assert_eq!(scalar_i32(&mut tx, "SELECT @@TRANCOUNT").await, Some(1));
    tx.commit().await.expect("commit");
    assert_eq!(scalar_i32(&mut conn, "SELECT @@TRANCOUNT").await, Some(0));
    assert_eq!(scalar_i32(&mut conn, &count).await, Some(1));

    let mut tx = conn.transaction().await.expect("begin");
    run(&mut tx, &format!("INSERT INTO {SCRATCH} (id) VALUES (2)")).await;
    tx.rollback().await.expect("rollback");
    assert_eq!(scalar_i32(&mut conn, &count).await, Some(1));

    // Dropped unfinished (an early return on an error): rolled back before the next request
    // on the same connection, with no pool involved.
    {
        let mut tx = conn.transaction().await.expect("begin");
        run(&mut tx, &format!("INSERT INTO {SCRATCH} (id) VALUES (3)")).await;
    }
    assert_eq!(scalar_i32(&mut conn, "SELECT @@TRANCOUNT").await, Some(0));
    assert_eq!(scalar_i32(&mut conn, &count).await, Some(1));

    // Dropped unfinished and the connection returned: the next caller finds it rolled back.
    {
        let mut tx = conn.transaction().await.expect("begin");
        run(&mut tx, &format!("INSERT INTO {SCRATCH} (id) VALUES (4)")).await;
    }
    drop(conn);
    let mut conn = pool.get().await.expect("next caller");
    assert_eq!(scalar_i32(&mut conn, &count).await, Some(1));
    assert_eq!(pool.state().opened, 1);

    // A one-shot connection gets the same guarantee.
    let mut one = connect(&t.config).await.expect("connect");
    {
        let mut tx = one.transaction().await.expect("begin");
        run(&mut tx, &format!("INSERT INTO {SCRATCH} (id) VALUES (5)")).await;
    }
    assert_eq!(scalar_i32(&mut one, &count).await, Some(1));
    // A statement that fails inside a transaction leaves it to roll back, and the connection
    // usable.
    let mut tx = one.transaction().await.expect("begin");
    let duplicate = tx
        .execute(&format!("INSERT INTO {SCRATCH} (id) VALUES (1)"), &[])
        .await;
    assert!(duplicate.is_err(), "id 1 exists already: {duplicate:?}");
    tx.rollback().await.expect("rollback after an error");
    assert_eq!(scalar_i32(&mut one, &count).await, Some(1));
    assert!(!one.is_broken());
}

#[tokio::test]
async fn an_isolation_level_a_transaction_leaves_never_reaches_the_next_caller() {
    let t = writable_sandbox().await;
    let pool = Pool::new(single(&t.config)).await.expect("pool");
    {
        let mut conn = pool.get().await.expect("first caller");
        let mut tx = conn
            .transaction_at(IsolationLevel::Serializable)
            .await
            .expect("begin");
        tx.execute(
            &format!("INSERT INTO {SCRATCH} (id, note) VALUES (7, N'serializable')"),
            &[],
        )
        .await
        .expect("insert");
        tx.commit().await.expect("commit");
        // As in SQL Server, the level outlives the transaction on the session.
        assert_eq!(isolation(&mut conn).await, Some(4));
    }
    let requests = t.sandbox.stats().requests;
    {
        let mut conn = pool.get().await.expect("second caller");
        assert_eq!(isolation(&mut conn).await, Some(2), "read committed again");
    }
    // Putting it back took one round trip (the restore, then the caller's query).
    assert_eq!(t.sandbox.stats().requests - requests, 2);

    // A caller who leaves the level alone costs the next one nothing more.
    let requests = t.sandbox.stats().requests;
    {
        let mut conn = pool.get().await.expect("third caller");
        assert_eq!(isolation(&mut conn).await, Some(2));
    }
    assert_eq!(t.sandbox.stats().requests - requests, 1);
    assert_eq!(pool.state().opened, 1, "one connection served every caller");
}

#[tokio::test]
async fn a_caller_who_leaves_execute_as_behind_costs_the_next_caller_nothing() {
    target::sandbox_only(
        "a_caller_who_leaves_execute_as_behind",
        "impersonates as the sandbox's admin login",
    );
    let t = writable_sandbox().await;
    let env = t.sandbox.env();
    let database = t.config.get_database().expect("a database");
    // The server admin (a SQL login) may impersonate the database's users.
    let admin = common::config_from(
        &t.sandbox,
        &format!(
            "Server=tcp:{},{};Database={database};Authentication=Sql Password;\
             User Id={};Password={};Encrypt=True",
            env.host, env.port, env.admin_user, env.admin_password
        ),
    );
    let pool = Pool::new(single(&admin)).await.expect("pool");
    let user = "SELECT USER_NAME()";
    {
        // A caller who reverts: its connection serves the next one.
        let mut conn = pool.get().await.expect("first caller");
        run(
            &mut conn,
            "EXECUTE AS USER = 'customers-identity'; SELECT USER_NAME(); REVERT",
        )
        .await;
    }
    {
        let mut conn = pool.get().await.expect("second caller");
        assert_eq!(scalar_text(&mut conn, user).await.as_deref(), Some("dbo"));
    }
    assert_eq!(pool.state().opened, 1);
    {
        // A caller who returns early while acting as another user: SQL Server refuses to reset
        // that session (18059) and drops the connection.
        let mut conn = pool.get().await.expect("third caller");
        run(&mut conn, "EXECUTE AS USER = 'customers-identity'").await;
        assert_eq!(
            scalar_text(&mut conn, user).await.as_deref(),
            Some("customers-identity")
        );
    }
    let mut conn = pool.get().await.expect("fourth caller");
    assert_eq!(
        scalar_text(&mut conn, user).await.as_deref(),
        Some("dbo"),
        "a fresh session, and no error"
    );
    let state = pool.state();
    assert_eq!((state.opened, state.closed_invalid), (2, 1), "{state:?}");
}
