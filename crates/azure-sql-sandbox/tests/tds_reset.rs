//! The session reset connection pools ask for (MS-TDS 2.2.3.1.2: RESETCONNECTION on the first
//! packet of the first request after a connection is handed out again, which the server runs as
//! `sp_reset_connection`), on the wire: what is reset, what is kept with
//! RESETCONNECTIONSKIPTRAN, how it is acknowledged (ENVCHANGE 18 first, no database ENVCHANGE),
//! both bits at once refused, and the fault that makes the server ignore resets.

mod support;

use support::raw::*;
use support::tds::*;

const TRANCOUNT: &str = "SELECT CONCAT(N'trancount=', @@TRANCOUNT)";

#[tokio::test]
async fn a_reset_rolls_back_restores_set_options_and_is_acknowledged_first() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    let answer = raw
        .ask(0, "SET NOCOUNT ON; BEGIN TRAN; DELETE FROM dbo.Customer")
        .await;
    assert_eq!(first_error(&answer), None);
    let (descriptor, _) = envchange(&answer, 8).expect("begin");

    let answer = raw
        .ask(
            RESETCONNECTION,
            "SELECT COUNT(*) AS n FROM dbo.Customer; SELECT CONCAT(N'trancount=', @@TRANCOUNT)",
        )
        .await;
    assert_eq!(answer[..6], RESET_ACK, "the acknowledgement comes first");
    assert_eq!(
        envchange(&answer, 10),
        Some((Vec::new(), descriptor)),
        "the rollback is announced"
    );
    assert_eq!(
        envchange(&answer, 1),
        None,
        "no database ENVCHANGE: SQL Server sends none after a reset"
    );
    assert!(shows(&answer, "trancount=0"), "{answer:?}");
    assert!(
        answer.windows(6).any(|w| w == [0xD1, 4, 5, 0, 0, 0]),
        "the five rows are back"
    );
    let statuses = done_statuses(&answer);
    assert_ne!(
        statuses[0] & 0x10,
        0,
        "NOCOUNT is OFF again: DONE_COUNT set"
    );
    assert_eq!(sandbox.stats.snapshot().resets, 1);
}

#[tokio::test]
async fn resetconnectionskiptran_resets_the_session_but_keeps_the_transaction() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    let answer = raw
        .ask(0, "SET NOCOUNT ON; BEGIN TRAN; DELETE FROM dbo.Customer")
        .await;
    let (descriptor, _) = envchange(&answer, 8).expect("begin");

    let answer = raw
        .ask(
            RESETCONNECTIONSKIPTRAN,
            "SELECT COUNT(*) AS n FROM dbo.Customer; SELECT CONCAT(N'trancount=', @@TRANCOUNT)",
        )
        .await;
    assert_eq!(answer[..6], RESET_ACK);
    assert_eq!(envchange(&answer, 10), None, "nothing rolled back");
    assert!(shows(&answer, "trancount=1"), "{answer:?}");
    assert!(
        answer.windows(6).any(|w| w == [0xD1, 4, 0, 0, 0, 0]),
        "the transaction's delete is still in force"
    );
    assert_ne!(
        done_statuses(&answer)[0] & 0x10,
        0,
        "SET options were reset all the same"
    );

    let answer = raw.ask(0, "ROLLBACK").await;
    assert_eq!(envchange(&answer, 10), Some((Vec::new(), descriptor)));
    assert_eq!(sandbox.stats.snapshot().resets, 1);
}

#[tokio::test]
async fn both_reset_bits_at_once_are_a_protocol_error_and_nothing_runs() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    raw.ask(0, "BEGIN TRAN").await;
    let answer = raw
        .ask(
            RESETCONNECTION | RESETCONNECTIONSKIPTRAN,
            "DELETE FROM dbo.Customer",
        )
        .await;
    assert_eq!(first_error(&answer), Some(4002));
    assert!(
        shows(&answer, "must not be combined"),
        "the error says why: {answer:?}"
    );
    assert_ne!(answer[..6], RESET_ACK, "no reset happened");

    // The session goes on: the transaction is still open and the delete did not run.
    let answer = raw
        .ask(
            0,
            "SELECT COUNT(*) AS n FROM dbo.Customer; SELECT CONCAT(N'trancount=', @@TRANCOUNT)",
        )
        .await;
    assert!(answer.windows(6).any(|w| w == [0xD1, 4, 5, 0, 0, 0]));
    assert!(shows(&answer, "trancount=1"));
    assert_eq!(sandbox.stats.snapshot().resets, 0);
}

#[tokio::test]
async fn ignore_resets_skips_the_reset_and_its_acknowledgement_n_times() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    raw.ask(0, "BEGIN TRAN").await;
    sandbox.faults.ignore_resets(1);

    let answer = raw.ask(RESETCONNECTION, TRANCOUNT).await;
    assert_eq!(envchange(&answer, 18), None, "no acknowledgement");
    assert!(shows(&answer, "trancount=1"), "nothing was reset");
    assert_eq!(sandbox.stats.snapshot().resets, 0);

    let answer = raw.ask(RESETCONNECTION, TRANCOUNT).await;
    assert_eq!(answer[..6], RESET_ACK, "the fault is used up");
    assert!(shows(&answer, "trancount=0"));
    assert_eq!(sandbox.stats.snapshot().resets, 1);

    sandbox.faults.ignore_resets(5);
    sandbox.faults.clear();
    let answer = raw.ask(RESETCONNECTION, TRANCOUNT).await;
    assert_eq!(answer[..6], RESET_ACK, "clear() cancels pending ignores");
}

#[tokio::test]
async fn a_reset_clears_the_session_context_read_only_keys_included() {
    // mirek/msduck observed it against SQL Server 2025: RESETCONNECTION "clears every key and
    // read_only lock".
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    let answer = raw
        .ask(0, "EXEC sp_set_session_context N'tenant', N'contoso', 1")
        .await;
    assert_eq!(first_error(&answer), None);
    const READ: &str =
        "SELECT CONCAT(N'tenant=', CAST(SESSION_CONTEXT(N'tenant') AS NVARCHAR(20)), N';')";
    assert!(shows(&raw.ask(0, READ).await, "tenant=contoso;"));

    let answer = raw.ask(RESETCONNECTION, READ).await;
    assert_eq!(answer[..6], RESET_ACK);
    assert!(shows(&answer, "tenant=;"), "{answer:?}");
    let answer = raw
        .ask(0, "EXEC sp_set_session_context N'tenant', N'fabrikam'")
        .await;
    assert_eq!(first_error(&answer), None, "the read-only lock went too");
}

const TEMP_TABLE: &str = "SELECT CONCAT(N'temp=', OBJECT_ID(N'tempdb..#t'), N';')";

#[tokio::test]
async fn a_reset_drops_the_session_s_temporary_tables() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    let answer = raw
        .ask(0, "CREATE TABLE #t (a INT); INSERT INTO #t VALUES (1)")
        .await;
    assert_eq!(first_error(&answer), None);
    assert!(!shows(&raw.ask(0, TEMP_TABLE).await, "temp=;"));

    let answer = raw.ask(RESETCONNECTION, TEMP_TABLE).await;
    assert_eq!(answer[..6], RESET_ACK);
    assert!(shows(&answer, "temp=;"), "gone: {answer:?}");
    let answer = raw.ask(0, "CREATE TABLE #t (b INT)").await;
    assert_eq!(first_error(&answer), None, "the name is free again");
}

#[tokio::test]
async fn resetconnectionskiptran_drops_temporary_tables_too() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    raw.ask(0, "CREATE TABLE #t (a INT); BEGIN TRAN").await;
    let answer = raw
        .ask(
            RESETCONNECTIONSKIPTRAN,
            "SELECT CONCAT(N'temp=', OBJECT_ID(N'tempdb..#t'), N';', N'trancount=', @@TRANCOUNT)",
        )
        .await;
    assert_eq!(answer[..6], RESET_ACK);
    assert!(shows(&answer, "temp=;trancount=1"), "{answer:?}");
}

const ISOLATION: &str = "SELECT CONCAT(N'isolation=', transaction_isolation_level) \
                         FROM sys.dm_exec_sessions WHERE session_id = @@SPID";

#[tokio::test]
async fn the_isolation_level_outlives_a_reset_as_on_sql_server() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    let answer = raw.ask(0, ISOLATION).await;
    assert!(shows(&answer, "isolation=2"), "read committed at login");
    let answer = raw
        .ask(
            0,
            &format!("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; {ISOLATION}"),
        )
        .await;
    assert!(shows(&answer, "isolation=4"), "{answer:?}");
    // sp_reset_connection keeps it (KB3025845; dotnet/SqlClient#96).
    let answer = raw.ask(RESETCONNECTION, ISOLATION).await;
    assert_eq!(answer[..6], RESET_ACK);
    assert!(shows(&answer, "isolation=4"), "{answer:?}");
    let answer = raw
        .ask(
            0,
            &format!("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; {ISOLATION}"),
        )
        .await;
    assert!(shows(&answer, "isolation=2"), "{answer:?}");
}

async fn user_name(client: &mut TdsClient) -> String {
    let row = first_row(client, "SELECT USER_NAME()").await;
    row.get::<&str, _>(0).expect("a name").to_string()
}

#[tokio::test]
async fn execute_as_takes_a_user_s_identity_until_revert() {
    let sandbox = Sandbox::start(false).await;
    let mut admin = sandbox.admin().await;
    assert_eq!(user_name(&mut admin).await, "dbo");
    batch_ok(&mut admin, &format!("EXECUTE AS USER = N'{READER_NAME}'")).await;
    assert_eq!(user_name(&mut admin).await, READER_NAME);
    // The reader's permissions now: reading, not writing.
    assert_eq!(customer_ids(&mut admin).await.expect("reads").len(), 5);
    assert_eq!(
        batch_error(&mut admin, "DELETE FROM dbo.Customer").await.0,
        229
    );
    batch_ok(&mut admin, "REVERT").await;
    assert_eq!(user_name(&mut admin).await, "dbo");
    batch_ok(&mut admin, "REVERT").await; // nothing to revert: nothing happens

    // Impersonating takes a database owner here (IMPERSONATE is not modelled).
    let mut reader = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("reader login");
    assert_eq!(
        batch_error(&mut reader, "EXECUTE AS USER = 'dbo'").await.0,
        15517
    );
    assert_eq!(
        batch_error(&mut admin, "EXEC AS USER = 'nobody'").await.0,
        15517
    );
}

#[tokio::test]
async fn a_reset_under_execute_as_fails_with_18059_and_the_server_drops_the_connection() {
    let sandbox = Sandbox::start(false).await;
    let mut admin = sandbox.admin().await;
    batch_ok(&mut admin, &format!("EXECUTE AS USER = '{READER_NAME}'")).await;
    admin.reset_connection(tiberius::ResetConnection::Full);
    let refused = match admin.simple_query("SELECT 1").await {
        Ok(stream) => stream.into_results().await.map(drop),
        Err(e) => Err(e),
    };
    let err = refused.expect_err("the reset is refused");
    assert_eq!(server_error(&err).map(|e| e.0), Some(18059), "{err:?}");
    let after = match admin.simple_query("SELECT 1").await {
        Ok(stream) => stream.into_results().await.map(drop),
        Err(e) => Err(e),
    };
    assert!(after.is_err(), "the connection is gone");
    assert_eq!(sandbox.stats.snapshot().resets, 0);
}
