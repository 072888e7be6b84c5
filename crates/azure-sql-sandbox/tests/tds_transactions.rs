//! Transactions through the TDS server, as clients drive them: T-SQL `BEGIN TRAN` in one batch
//! and `COMMIT`/`ROLLBACK` in a later one (tiberius), transaction manager requests (tiberius'
//! `begin_transaction` & co., which ODBC with autocommit off and SqlClient's `BeginTransaction`
//! send too), isolation between connections, a second writer's 1222, the rollback when a
//! connection drops or is reset, and the ENVCHANGE tokens announcing it all. Also NOCOUNT's DONE,
//! MAX columns and error 512 on the wire.

mod support;

use azure_sql_sandbox::tds::packet::MessageType;
use std::time::Duration;
use support::raw::*;
use support::tds::*;

async fn insert(client: &mut TdsClient, name: &str) -> tiberius::Result<u64> {
    let result = client
        .execute(
            "INSERT INTO dbo.Customer (first_name, last_name, active) VALUES (@P1, 'Test', 1)",
            &[&name],
        )
        .await?;
    Ok(result.total())
}

async fn count(client: &mut TdsClient) -> i32 {
    customer_ids(client).await.expect("read").len() as i32
}

#[tokio::test]
async fn a_t_sql_transaction_spans_batches_and_stays_private_until_commit() {
    let sandbox = Sandbox::start(false).await;
    let mut writer = sandbox.admin().await;
    let mut other = sandbox.admin().await;

    batch_ok(&mut writer, "BEGIN TRANSACTION").await;
    assert_eq!(insert(&mut writer, "Eve").await.expect("insert"), 1);
    assert_eq!(count(&mut writer).await, 6);
    assert_eq!(count(&mut other).await, 5, "not yet committed; not blocked");
    batch_ok(&mut writer, "COMMIT TRANSACTION").await;
    assert_eq!(count(&mut other).await, 6);

    batch_ok(
        &mut writer,
        "BEGIN TRAN; DELETE FROM dbo.Customer WHERE first_name = 'Eve'",
    )
    .await;
    assert_eq!(count(&mut writer).await, 5);
    batch_ok(&mut writer, "ROLLBACK").await;
    assert_eq!(count(&mut writer).await, 6, "the delete was undone");
    assert_eq!(batch_error(&mut writer, "COMMIT").await.0, 3902);
}

#[tokio::test]
async fn a_second_writer_gets_1222_and_goes_ahead_after_the_commit() {
    let sandbox = Sandbox::start(false).await;
    let mut first = sandbox.admin().await;
    let mut second = sandbox.admin().await;
    batch_ok(&mut first, "BEGIN TRAN").await;
    insert(&mut first, "First").await.expect("insert");

    batch_ok(&mut second, "SET LOCK_TIMEOUT 100").await;
    let e = insert(&mut second, "Second").await.expect_err("locked");
    assert_eq!(
        server_error(&e),
        Some((1222, "Lock request time out period exceeded.".into()))
    );
    assert_eq!(count(&mut second).await, 5, "reading is not blocked");

    batch_ok(&mut first, "COMMIT").await;
    insert(&mut second, "Second")
        .await
        .expect("the lock is free");
    assert_eq!(count(&mut second).await, 7);
}

#[tokio::test]
async fn a_dropped_connection_rolls_its_transaction_back() {
    let sandbox = Sandbox::start(false).await;
    let mut gone = sandbox.admin().await;
    batch_ok(&mut gone, "BEGIN TRAN").await;
    insert(&mut gone, "Lost").await.expect("insert");
    drop(gone);

    // This insert waits for the dropped session's lock until the server has rolled it back.
    let mut next = sandbox.admin().await;
    insert(&mut next, "Kept")
        .await
        .expect("insert after the rollback");
    let names: Vec<String> = next
        .simple_query("SELECT first_name FROM dbo.Customer WHERE customer_id > 5")
        .await
        .expect("query")
        .into_first_result()
        .await
        .expect("rows")
        .iter()
        .filter_map(|r| r.get::<&str, _>(0).map(str::to_string))
        .collect();
    assert_eq!(names, vec!["Kept".to_string()]);
    let connections = sandbox.engine.connections(DATABASE).expect("database");
    assert!(connections.open <= 16, "{connections:?}");
}

#[tokio::test]
async fn transaction_manager_requests_roll_back_commit_and_save() {
    let sandbox = Sandbox::start(false).await;
    let mut client = sandbox.admin().await;
    let mut other = sandbox.admin().await;

    client.begin_transaction().await.expect("begin");
    insert(&mut client, "Undone").await.expect("insert");
    assert_eq!(count(&mut other).await, 5);
    client.rollback_transaction().await.expect("rollback");
    assert_eq!(count(&mut client).await, 5, "really undone");

    client.begin_transaction().await.expect("begin");
    insert(&mut client, "Kept").await.expect("insert");
    client.save_transaction("after_kept").await.expect("save");
    insert(&mut client, "Undone").await.expect("insert");
    batch_ok(&mut client, "ROLLBACK TRANSACTION after_kept").await;
    client.commit_transaction().await.expect("commit");
    assert_eq!(count(&mut other).await, 6);

    // A transaction begun by request ends in T-SQL, and the other way round.
    client.begin_transaction().await.expect("begin");
    insert(&mut client, "Kept too").await.expect("insert");
    batch_ok(&mut client, "COMMIT").await;
    batch_ok(&mut client, "BEGIN TRAN").await;
    insert(&mut client, "Undone").await.expect("insert");
    client.rollback_transaction().await.expect("rollback");
    assert_eq!(count(&mut other).await, 7);
}

#[tokio::test]
async fn begin_and_commit_are_announced_with_the_same_descriptor() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    raw.send(MessageType::SQL_BATCH, &batch("BEGIN TRAN"))
        .await
        .expect("send");
    let answer = raw.response().await.expect("answer");
    let (descriptor, old) = envchange(&answer, 8).expect("ENVCHANGE begin transaction");
    assert_eq!((descriptor.len(), old.len()), (8, 0));
    raw.send(MessageType::SQL_BATCH, &batch("COMMIT"))
        .await
        .expect("send");
    let answer = raw.response().await.expect("answer");
    assert_eq!(
        envchange(&answer, 9),
        Some((Vec::new(), descriptor.clone())),
        "ENVCHANGE commit names the transaction"
    );

    // A reset rolls an open transaction back, and says so after acknowledging the reset.
    raw.send(
        MessageType::SQL_BATCH,
        &batch("BEGIN TRAN; DELETE FROM dbo.Customer"),
    )
    .await
    .expect("send");
    let answer = raw.response().await.expect("answer");
    let (descriptor, _) = envchange(&answer, 8).expect("begin");
    raw.send_resetting(
        MessageType::SQL_BATCH,
        &batch("SELECT COUNT(*) FROM dbo.Customer"),
    )
    .await
    .expect("send");
    let answer = raw.response().await.expect("answer");
    assert_eq!(answer[..6], RESET_ACK, "the reset first");
    assert_eq!(envchange(&answer, 10), Some((Vec::new(), descriptor)));
    assert_eq!(first_error(&answer), None);
    assert!(
        answer.windows(6).any(|w| w == [0xD1, 4, 5, 0, 0, 0]),
        "all five rows are back: {answer:?}"
    );
}

#[tokio::test]
async fn dones_carry_done_inxact_while_a_transaction_is_open() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    assert_eq!(inxact(&mut raw, "SELECT 1").await, [false]);
    // The statement that begins it ends in it; one that commits ends outside it.
    assert_eq!(
        inxact(&mut raw, "SELECT 1; BEGIN TRAN; SELECT 2").await,
        [false, true, true]
    );
    assert_eq!(inxact(&mut raw, "SELECT 3").await, [true], "a later batch");
    assert_eq!(
        inxact(&mut raw, "SELECT 4; COMMIT; SELECT 5").await,
        [true, false, false]
    );
    // Transaction manager requests too: begin leaves one open, a rollback closes it.
    raw.send(MessageType::TRANSACTION_MANAGER, &tm_begin())
        .await
        .expect("send");
    let answer = raw.response().await.expect("answer");
    assert_eq!(first_error(&answer), None);
    assert_eq!(done_statuses(&answer), [0x0004]);
    assert_eq!(inxact(&mut raw, "ROLLBACK").await, [false]);
}

/// Runs a batch; for each statement's DONE, whether it carries DONE_INXACT (0x0004).
async fn inxact<S>(raw: &mut Raw<S>, sql: &str) -> Vec<bool>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    raw.send(MessageType::SQL_BATCH, &batch(sql))
        .await
        .expect("send");
    let answer = raw.response().await.expect("answer");
    assert_eq!(first_error(&answer), None, "{sql}");
    done_statuses(&answer)
        .iter()
        .map(|s| s & 0x0004 != 0)
        .collect()
}

/// A transaction manager request: TM_BEGIN_XACT, read committed, no name.
fn tm_begin() -> Vec<u8> {
    let mut b = all_headers();
    b.extend_from_slice(&5u16.to_le_bytes());
    b.push(0x02);
    b.push(0);
    b
}

#[tokio::test]
async fn nocount_clears_the_count_of_a_result_set_s_done() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    raw.send(
        MessageType::SQL_BATCH,
        &batch("SELECT 1 AS a; SET NOCOUNT ON; SELECT 2 AS b"),
    )
    .await
    .expect("send");
    let answer = raw.response().await.expect("answer");
    assert_eq!(first_error(&answer), None);
    let statuses = done_statuses(&answer);
    assert_eq!(statuses.len(), 3, "{answer:?}");
    assert_ne!(statuses[0] & 0x10, 0, "counted before NOCOUNT");
    assert_eq!(statuses[2] & 0x10, 0, "DONE_COUNT clear under NOCOUNT");
}

#[tokio::test]
async fn max_columns_and_error_512_on_the_wire() {
    let sandbox = Sandbox::start(false).await;
    let mut client = sandbox.admin().await;
    batch_ok(
        &mut client,
        "CREATE TABLE dbo.Notes (id INT PRIMARY KEY, body NVARCHAR(MAX), raw VARBINARY(MAX))",
    )
    .await;
    let long = "ü".repeat(6000);
    client
        .execute(
            "INSERT INTO dbo.Notes VALUES (1, @P1, @P2)",
            &[&long.as_str(), &vec![7u8; 9000]],
        )
        .await
        .expect("insert");
    let row = client
        .query("SELECT body, raw FROM dbo.Notes WHERE id = @P1", &[&1i32])
        .await
        .expect("query")
        .into_row()
        .await
        .expect("row")
        .expect("one row");
    assert_eq!(row.get::<&str, _>(0), Some(long.as_str()));
    assert_eq!(row.get::<&[u8], _>(1).map(<[u8]>::len), Some(9000));

    assert_eq!(
        batch_error(&mut client, "SELECT (SELECT customer_id FROM dbo.Customer)")
            .await
            .0,
        512
    );
}

#[tokio::test]
async fn a_lock_wait_ends_in_1222_not_a_hang() {
    // The session's LOCK_TIMEOUT bounds the wait; the client's own timeout is never reached.
    let sandbox = Sandbox::start(false).await;
    let mut first = sandbox.admin().await;
    let mut second = sandbox.admin().await;
    batch_ok(
        &mut first,
        "BEGIN TRAN; DELETE FROM dbo.Customer WHERE customer_id = 1",
    )
    .await;
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        batch_error(
            &mut second,
            "SET LOCK_TIMEOUT 50; UPDATE dbo.Customer SET active = 0",
        ),
    )
    .await
    .expect("an answer, not a hang");
    assert_eq!(result.0, 1222);
}

#[tokio::test]
async fn a_transaction_begun_at_an_isolation_level_leaves_the_session_there() {
    // SqlClient's BeginTransaction(IsolationLevel.Serializable) leaves the session serializable
    // after the commit (dotnet/SqlClient#96): the level is the session's, not the transaction's.
    let sandbox = Sandbox::start(false).await;
    let mut client = sandbox.admin().await;
    let level = "SELECT transaction_isolation_level FROM sys.dm_exec_sessions \
                 WHERE session_id = @@SPID";
    let read = |row: tiberius::Row| row.get::<i16, _>(0).expect("a level");
    assert_eq!(read(first_row(&mut client, level).await), 2);
    client
        .begin_transaction_with_isolation(tiberius::IsolationLevel::Serializable)
        .await
        .expect("begin");
    client.commit_transaction().await.expect("commit");
    assert_eq!(read(first_row(&mut client, level).await), 4);
    // A begin that names no level keeps the session's.
    client.begin_transaction().await.expect("begin");
    client.rollback_transaction().await.expect("rollback");
    assert_eq!(read(first_row(&mut client, level).await), 4);
}
