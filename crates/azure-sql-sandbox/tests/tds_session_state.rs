//! What a session carries besides its transaction, through tiberius: session context
//! (`sp_set_session_context`, `SESSION_CONTEXT`), local temporary tables (`#name`) and the
//! database's `Updateability`, in batches and in `sp_executesql` (how tiberius' `query()` sends
//! text), and that another session sees none of it.

mod support;

use support::tds::*;

/// The first column of the first row, as text (`None` for NULL).
async fn text(client: &mut TdsClient, sql: &str) -> Option<String> {
    first_row(client, sql)
        .await
        .get::<&str, _>(0)
        .map(str::to_string)
}

async fn int(client: &mut TdsClient, sql: &str) -> Option<i32> {
    first_row(client, sql).await.get::<i32, _>(0)
}

#[tokio::test]
async fn session_context_is_set_read_and_private_to_the_session() {
    let sandbox = Sandbox::start(false).await;
    let mut client = sandbox.admin().await;
    let mut other = sandbox.admin().await;

    batch_ok(
        &mut client,
        "EXEC sp_set_session_context @key = N'tenant', @value = N'contoso'",
    )
    .await;
    assert_eq!(
        text(&mut client, "SELECT SESSION_CONTEXT(N'tenant')").await,
        Some("contoso".into())
    );
    assert_eq!(
        text(&mut other, "SELECT SESSION_CONTEXT(N'tenant')").await,
        None,
        "another session has its own context"
    );

    // Positional arguments, sys.-qualified, an integer, and a read-only key.
    batch_ok(
        &mut client,
        "EXECUTE sys.sp_set_session_context N'user_id', 4, 1",
    )
    .await;
    assert_eq!(
        int(&mut client, "SELECT SESSION_CONTEXT(N'user_id')").await,
        Some(4)
    );
    assert_eq!(
        int(
            &mut client,
            "SELECT CAST(SESSION_CONTEXT(N'user_id') AS INT) + 1"
        )
        .await,
        Some(5)
    );
    let (number, message) = batch_error(
        &mut client,
        "EXEC sp_set_session_context @key = N'user_id', @value = 5",
    )
    .await;
    assert_eq!(number, 15664);
    assert_eq!(
        message,
        "Cannot set key 'user_id' in the session context. The key has been set as read_only for this session."
    );

    // A NULL value frees a key; variables are passed as they are.
    batch_ok(
        &mut client,
        "DECLARE @v NVARCHAR(20) = N'fabrikam'; EXEC sp_set_session_context N'tenant', @v",
    )
    .await;
    assert_eq!(
        text(&mut client, "SELECT SESSION_CONTEXT(N'tenant')").await,
        Some("fabrikam".into())
    );
    batch_ok(&mut client, "EXEC sp_set_session_context N'tenant', NULL").await;
    assert_eq!(
        text(&mut client, "SELECT SESSION_CONTEXT(N'tenant')").await,
        None
    );
}

#[tokio::test]
async fn session_context_works_through_sp_executesql_with_parameters() {
    let sandbox = Sandbox::start(false).await;
    let mut client = sandbox.admin().await;
    // tiberius sends query() text with parameters as an sp_executesql RPC.
    client
        .execute(
            "EXEC sp_set_session_context @key = N'tenant', @value = @P1, @read_only = @P2",
            &[&"contoso", &true],
        )
        .await
        .expect("set through sp_executesql");
    let row = client
        .query("SELECT SESSION_CONTEXT(@P1)", &[&"tenant"])
        .await
        .expect("query")
        .into_row()
        .await
        .expect("row")
        .expect("one row");
    assert_eq!(row.get::<&str, _>(0), Some("contoso"));
    let e = client
        .execute("EXEC sp_set_session_context N'tenant', @P1", &[&"other"])
        .await
        .expect_err("read-only");
    assert_eq!(server_error(&e).map(|e| e.0), Some(15664));
}

#[tokio::test]
async fn sp_set_session_context_refuses_what_sql_server_refuses() {
    let sandbox = Sandbox::start(false).await;
    let mut client = sandbox.admin().await;
    for (sql, number) in [
        ("EXEC sp_set_session_context N'k'", 16903),
        ("EXEC sp_set_session_context N'k', 1, 0, 1", 16914),
        ("EXEC sp_set_session_context NULL, 1", 225),
        ("EXEC sp_set_session_context N'', 1", 15666),
        ("EXEC sp_set_session_context N'k', 1, NULL", 15600),
        ("EXEC sp_set_session_context N'k', 1+1", 102),
        ("SELECT SESSION_CONTEXT('k')", 8116),
    ] {
        assert_eq!(batch_error(&mut client, sql).await.0, number, "{sql}");
    }
}

#[tokio::test]
async fn temporary_tables_belong_to_their_session() {
    let sandbox = Sandbox::start(false).await;
    let mut client = sandbox.token_client().await;
    let mut other = sandbox.admin().await;

    // Any user may create one: the reader has no CREATE TABLE permission in the database.
    batch_ok(
        &mut client,
        "CREATE TABLE #t (id INT PRIMARY KEY, name NVARCHAR(20) NOT NULL)",
    )
    .await;
    batch_ok(
        &mut client,
        "INSERT INTO #t (id, name) VALUES (1, N'one'), (2, N'two')",
    )
    .await;
    let result = client
        .execute("INSERT INTO #t VALUES (@P1, @P2)", &[&3i32, &"three"])
        .await
        .expect("insert through sp_executesql");
    assert_eq!(result.total(), 1);
    assert_eq!(
        int(
            &mut client,
            "SELECT COUNT(*) FROM #t JOIN dbo.Customer c ON c.customer_id = #t.id"
        )
        .await,
        Some(3)
    );
    assert_eq!(
        text(&mut client, "SELECT name FROM #t WHERE id = 2").await,
        Some("two".into())
    );
    assert!(
        int(&mut client, "SELECT OBJECT_ID(N'tempdb..#t')")
            .await
            .is_some(),
        "OBJECT_ID finds it with the tempdb prefix"
    );
    assert_eq!(int(&mut client, "SELECT OBJECT_ID(N'#t')").await, None);
    assert_eq!(
        batch_error(&mut client, "CREATE TABLE #t (a INT)").await.0,
        2714
    );
    assert_eq!(
        batch_error(&mut client, "INSERT INTO #t VALUES (1, N'again')")
            .await
            .0,
        2627
    );

    // Another session sees nothing of it, and may have its own #t.
    assert_eq!(
        int(&mut other, "SELECT OBJECT_ID(N'tempdb..#t')").await,
        None
    );
    assert_eq!(batch_error(&mut other, "SELECT * FROM #t").await.0, 208);
    batch_ok(
        &mut other,
        "CREATE TABLE #t (x INT); INSERT INTO #t VALUES (7)",
    )
    .await;
    assert_eq!(int(&mut other, "SELECT x FROM #t").await, Some(7));

    batch_ok(&mut client, "DROP TABLE #t").await;
    assert_eq!(
        int(&mut client, "SELECT OBJECT_ID(N'tempdb..#t')").await,
        None
    );
    assert_eq!(batch_error(&mut client, "DROP TABLE #t").await.0, 3701);
    batch_ok(&mut client, "DROP TABLE IF EXISTS #t").await;
    assert_eq!(
        int(&mut other, "SELECT x FROM #t").await,
        Some(7),
        "untouched"
    );
}

#[tokio::test]
async fn a_rolled_back_transaction_takes_its_temporary_tables_with_it() {
    let sandbox = Sandbox::start(false).await;
    let mut client = sandbox.admin().await;
    batch_ok(&mut client, "CREATE TABLE #kept (a INT)").await;
    batch_ok(
        &mut client,
        "BEGIN TRAN; DELETE FROM dbo.Customer WHERE customer_id = 5; CREATE TABLE #new (a INT); DROP TABLE #kept",
    )
    .await;
    assert_eq!(
        int(&mut client, "SELECT OBJECT_ID(N'tempdb..#kept')").await,
        None
    );
    batch_ok(&mut client, "ROLLBACK").await;
    assert!(
        int(&mut client, "SELECT OBJECT_ID(N'tempdb..#kept')")
            .await
            .is_some(),
        "the drop was undone"
    );
    assert_eq!(
        int(&mut client, "SELECT OBJECT_ID(N'tempdb..#new')").await,
        None,
        "the create was undone"
    );
    batch_ok(
        &mut client,
        "CREATE TABLE #new (a INT); INSERT INTO #kept VALUES (1)",
    )
    .await;
}
