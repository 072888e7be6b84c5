//! Transactions and isolation through the engine's API, as the TDS server drives it: a
//! transaction spans batches until COMMIT/ROLLBACK, nests, has savepoints, stays invisible to
//! other sessions (which read the last committed data without waiting), makes a second writer
//! wait and then fail with 1222, and is rolled back when its session ends. Also the smaller
//! fidelity points: MAX columns, NOCOUNT on result sets, and error 512.

mod support;

use azure_sql_sandbox::sql::{
    Engine, Length, Outcome, Session, SqlType, TransactionChange, TransactionRequest, Value,
};
use std::time::{Duration, Instant};
use support::engine::*;
use support::tds::{engine, reader_identity, ADMIN_PASSWORD, ADMIN_USER, DATABASE};

fn admin(engine: &Engine) -> Session {
    engine
        .login_sql(Some(DATABASE), ADMIN_USER, ADMIN_PASSWORD)
        .expect("admin login")
}

fn count(engine: &Engine, s: &mut Session) -> Value {
    scalar(engine, s, "SELECT COUNT(*) FROM dbo.Customer")
}

fn changes(out: &[Outcome]) -> Vec<TransactionChange> {
    out.iter()
        .filter_map(|o| match o {
            Outcome::Transaction(c) => Some(*c),
            _ => None,
        })
        .collect()
}

const INSERT: &str =
    "INSERT INTO dbo.Customer (first_name, last_name, active) VALUES ('Eve', 'Adams', 1)";

#[test]
fn a_transaction_spans_batches_and_commits() {
    let engine = engine();
    let mut writer = admin(&engine);
    let mut other = admin(&engine);

    let out = ok(&engine, &mut writer, "BEGIN TRANSACTION");
    let [TransactionChange::Began { descriptor }] = changes(&out)[..] else {
        panic!("BEGIN announces the transaction: {out:?}")
    };
    assert_eq!(writer.transaction_descriptor(), Some(descriptor));
    ok(&engine, &mut writer, INSERT);
    assert_eq!(
        scalar(&engine, &mut writer, "SELECT @@TRANCOUNT"),
        Value::Int(1)
    );
    assert_eq!(
        scalar(&engine, &mut writer, "SELECT XACT_STATE()"),
        Value::Int(1)
    );
    assert_eq!(count(&engine, &mut writer), Value::Int(6), "its own insert");
    assert_eq!(
        count(&engine, &mut other),
        Value::Int(5),
        "another session reads the last committed rows, without waiting"
    );

    let out = ok(&engine, &mut writer, "COMMIT TRANSACTION");
    assert_eq!(
        changes(&out),
        vec![TransactionChange::Committed { descriptor }]
    );
    assert_eq!(writer.transaction_count(), 0);
    assert_eq!(count(&engine, &mut other), Value::Int(6), "committed");
    assert_eq!(
        scalar(&engine, &mut writer, "SELECT XACT_STATE()"),
        Value::Int(0)
    );
}

#[test]
fn a_rollback_in_a_later_batch_undoes_rows_and_tables() {
    let engine = engine();
    let mut s = admin(&engine);
    ok(&engine, &mut s, "BEGIN TRAN");
    ok(&engine, &mut s, "DELETE FROM Customer");
    ok(
        &engine,
        &mut s,
        "CREATE TABLE Scratch (a INT PRIMARY KEY IDENTITY(1, 1), b NVARCHAR(10)); INSERT INTO Scratch (b) VALUES (N'x')",
    );
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Scratch"),
        Value::Int(1)
    );
    let out = ok(&engine, &mut s, "ROLLBACK");
    assert!(matches!(
        changes(&out)[..],
        [TransactionChange::RolledBack { .. }]
    ));
    assert_eq!(count(&engine, &mut s), Value::Int(5));
    assert_eq!(fails(&engine, &mut s, "SELECT * FROM Scratch").number, 208);
    assert_eq!(
        scalar(
            &engine,
            &mut s,
            "SELECT COUNT(*) FROM sys.tables WHERE name = 'Scratch'"
        ),
        Value::Int(0)
    );
    // The name is free again.
    ok(&engine, &mut s, "CREATE TABLE Scratch (a INT)");
}

#[test]
fn begin_nests_and_only_the_outermost_commit_commits() {
    let engine = engine();
    let mut s = admin(&engine);
    let mut other = admin(&engine);
    assert_eq!(fails(&engine, &mut s, "COMMIT").number, 3902);
    assert_eq!(fails(&engine, &mut s, "ROLLBACK TRAN").number, 3903);
    assert_eq!(fails(&engine, &mut s, "SAVE TRAN s1").number, 628);

    let out = ok(
        &engine,
        &mut s,
        "BEGIN TRAN; BEGIN TRAN; SELECT @@TRANCOUNT",
    );
    assert_eq!(
        changes(&out).len(),
        1,
        "only the outermost BEGIN is announced"
    );
    assert_eq!(rows(&out).rows, vec![vec![Value::Int(2)]]);
    ok(&engine, &mut s, INSERT);
    let out = ok(&engine, &mut s, "COMMIT; SELECT @@TRANCOUNT");
    assert!(changes(&out).is_empty(), "an inner COMMIT commits nothing");
    assert_eq!(rows(&out).rows, vec![vec![Value::Int(1)]]);
    assert_eq!(count(&engine, &mut other), Value::Int(5));
    // ROLLBACK ends every level.
    ok(&engine, &mut s, "ROLLBACK");
    assert_eq!(s.transaction_count(), 0);
    assert_eq!(count(&engine, &mut s), Value::Int(5));
}

#[test]
fn savepoints_undo_what_followed_them() {
    let engine = engine();
    let mut s = admin(&engine);
    ok(&engine, &mut s, "BEGIN TRAN outer_tran");
    ok(&engine, &mut s, "SAVE TRAN before_anything");
    ok(
        &engine,
        &mut s,
        "INSERT INTO Customer (first_name) VALUES ('kept')",
    );
    ok(&engine, &mut s, "SAVE TRANSACTION after_kept");
    ok(
        &engine,
        &mut s,
        "INSERT INTO Customer (first_name) VALUES ('undone'); CREATE TABLE Undone (a INT)",
    );
    let out = ok(
        &engine,
        &mut s,
        "ROLLBACK TRAN after_kept; SELECT @@TRANCOUNT",
    );
    assert!(changes(&out).is_empty(), "the transaction goes on");
    assert_eq!(rows(&out).rows, vec![vec![Value::Int(1)]]);
    assert_eq!(fails(&engine, &mut s, "SELECT * FROM Undone").number, 208);
    assert_eq!(
        fails(&engine, &mut s, "ROLLBACK TRAN no_such_name").number,
        6401
    );
    ok(
        &engine,
        &mut s,
        "DECLARE @sp NVARCHAR(32) = N'after_kept'; INSERT INTO Customer (first_name) VALUES ('undone too'); ROLLBACK TRAN @sp",
    );
    ok(&engine, &mut s, "COMMIT");
    let names = rows(&ok(
        &engine,
        &mut s,
        "SELECT first_name FROM Customer WHERE customer_id > 5 ORDER BY customer_id",
    ))
    .rows
    .clone();
    assert_eq!(names, vec![vec![Value::Text("kept".into())]]);

    // A savepoint taken before the first write undoes all of it, keeping the transaction.
    ok(&engine, &mut s, "BEGIN TRAN; SAVE TRAN start");
    ok(&engine, &mut s, "DELETE FROM Customer");
    ok(&engine, &mut s, "ROLLBACK TRAN start");
    assert_eq!(s.transaction_count(), 1);
    assert_eq!(count(&engine, &mut s), Value::Int(6));
    // Rolling back by the transaction's own name ends it.
    ok(
        &engine,
        &mut s,
        "COMMIT; BEGIN TRAN named; DELETE FROM Customer",
    );
    ok(&engine, &mut s, "ROLLBACK TRAN named");
    assert_eq!(s.transaction_count(), 0);
    assert_eq!(count(&engine, &mut s), Value::Int(6));
}

#[test]
fn a_reader_in_a_transaction_sees_each_statement_s_committed_data() {
    // READ_COMMITTED_SNAPSHOT: a statement sees what was committed when it started, even in a
    // transaction that has not written yet.
    let engine = engine();
    let mut reader = engine
        .login_external(DATABASE, &reader_identity(Duration::from_secs(60)))
        .expect("reader login");
    let mut writer = admin(&engine);
    ok(&engine, &mut reader, "BEGIN TRAN");
    assert_eq!(count(&engine, &mut reader), Value::Int(5));
    ok(&engine, &mut writer, INSERT);
    assert_eq!(count(&engine, &mut reader), Value::Int(6));
    ok(&engine, &mut reader, "COMMIT");
}

#[test]
fn a_second_writer_waits_then_gets_1222() {
    let engine = engine();
    let mut first = admin(&engine);
    let mut second = admin(&engine);
    ok(&engine, &mut first, "BEGIN TRAN");
    ok(&engine, &mut first, INSERT);

    ok(&engine, &mut second, "SET LOCK_TIMEOUT 200");
    assert_eq!(
        scalar(&engine, &mut second, "SELECT @@LOCK_TIMEOUT"),
        Value::Int(200)
    );
    let started = Instant::now();
    let e = fails(&engine, &mut second, INSERT);
    assert_eq!((e.number, e.severity), (1222, 16), "{e}");
    assert_eq!(e.message, "Lock request time out period exceeded.");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "it waited its lock timeout first"
    );
    // LOCK_TIMEOUT 0: no wait at all. Schema changes need the same lock.
    ok(&engine, &mut second, "SET LOCK_TIMEOUT 0");
    assert_eq!(
        fails(&engine, &mut second, "DELETE FROM Customer").number,
        1222
    );
    assert_eq!(
        fails(&engine, &mut second, "CREATE TABLE Blocked (a INT)").number,
        1222
    );
    // Reading never waits.
    assert_eq!(count(&engine, &mut second), Value::Int(5));

    // The failed statements left the second session usable; once the first commits it writes.
    ok(&engine, &mut first, "COMMIT");
    ok(&engine, &mut second, INSERT);
    assert_eq!(count(&engine, &mut second), Value::Int(7));
}

#[test]
fn a_waiting_writer_goes_ahead_when_the_first_commits() {
    let engine = engine();
    let mut first = admin(&engine);
    ok(&engine, &mut first, "BEGIN TRAN");
    ok(&engine, &mut first, INSERT);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let waiter = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            let mut second = admin(&engine);
            ok(&engine, &mut second, "SET LOCK_TIMEOUT 20000");
            ready_tx.send(()).expect("signal");
            let out = engine.execute(&mut second, INSERT);
            (out, second)
        })
    };
    ready_rx.recv().expect("the waiter started");
    ok(&engine, &mut first, "COMMIT");
    let (out, mut second) = waiter.join().expect("the waiter finished");
    assert!(errors(&out).is_empty(), "{out:?}");
    assert_eq!(count(&engine, &mut second), Value::Int(7));
}

#[test]
fn ending_a_session_rolls_back_and_returns_its_connection() {
    let engine = engine();
    let mut before = admin(&engine);
    ok(&engine, &mut before, "SELECT 1");
    drop(before);
    let idle = engine.connections(DATABASE).expect("database").idle;

    let mut s = admin(&engine);
    ok(&engine, &mut s, "BEGIN TRAN");
    ok(&engine, &mut s, INSERT);
    let clone = s.clone();
    drop(s);
    let counts = engine.connections(DATABASE).expect("database");
    assert_eq!(
        counts.idle + 1,
        idle,
        "a clone of the session still holds the transaction's connection"
    );
    drop(clone);
    let counts = engine.connections(DATABASE).expect("database");
    assert_eq!(counts.idle, idle, "the connection is back in the pool");
    assert_eq!(
        counts.open as usize, counts.idle,
        "and nothing else is open"
    );

    let mut other = admin(&engine);
    ok(&engine, &mut other, "SET LOCK_TIMEOUT 0");
    ok(&engine, &mut other, INSERT);
    assert_eq!(
        count(&engine, &mut other),
        Value::Int(6),
        "the ended session's insert was rolled back and its lock released"
    );
}

#[test]
fn many_sessions_in_transactions_share_a_few_connections() {
    let engine = engine();
    for _ in 0..100 {
        let mut s = admin(&engine);
        ok(&engine, &mut s, "BEGIN TRAN; SELECT COUNT(*) FROM Customer");
    }
    let mut open = Vec::new();
    for _ in 0..20 {
        let mut s = admin(&engine);
        ok(&engine, &mut s, "BEGIN TRAN; SELECT 1");
        open.push(s);
    }
    let counts = engine.connections(DATABASE).expect("database");
    assert!(
        counts.open >= 20,
        "each open transaction holds a connection"
    );
    drop(open);
    let counts = engine.connections(DATABASE).expect("database");
    assert_eq!(counts.open as usize, counts.idle);
    assert!(counts.idle <= 16, "the pool keeps a few: {counts:?}");
}

#[test]
fn a_table_created_in_a_transaction_is_private_until_commit() {
    let engine = engine();
    let mut s = admin(&engine);
    let mut other = admin(&engine);
    ok(&engine, &mut s, "BEGIN TRAN");
    ok(
        &engine,
        &mut s,
        "CREATE TABLE Orders (id INT PRIMARY KEY, note NVARCHAR(20)); INSERT INTO Orders VALUES (1, N'first')",
    );
    assert_eq!(
        scalar(
            &engine,
            &mut s,
            "SELECT COUNT(*) FROM sys.tables WHERE name = 'Orders'"
        ),
        Value::Int(1)
    );
    assert_eq!(
        fails(&engine, &mut other, "SELECT * FROM Orders").number,
        208
    );
    assert_eq!(
        scalar(
            &engine,
            &mut other,
            "SELECT COUNT(*) FROM sys.tables WHERE name = 'Orders'"
        ),
        Value::Int(0)
    );
    ok(&engine, &mut s, "COMMIT");
    assert_eq!(
        scalar(&engine, &mut other, "SELECT note FROM Orders WHERE id = 1"),
        Value::Text("first".into())
    );
}

#[test]
fn users_and_roles_follow_the_transaction() {
    let engine = engine();
    let mut s = admin(&engine);
    ok(&engine, &mut s, "BEGIN TRAN");
    ok(
        &engine,
        &mut s,
        "CREATE USER temp_user WITHOUT LOGIN; ALTER ROLE db_datawriter ADD MEMBER temp_user",
    );
    assert_eq!(
        scalar(
            &engine,
            &mut s,
            "SELECT COUNT(*) FROM sys.database_principals WHERE name = 'temp_user'"
        ),
        Value::Int(1)
    );
    ok(&engine, &mut s, "ROLLBACK");
    assert_eq!(
        scalar(
            &engine,
            &mut s,
            "SELECT COUNT(*) FROM sys.database_principals WHERE name = 'temp_user'"
        ),
        Value::Int(0)
    );
}

#[test]
fn xact_abort_rolls_the_transaction_back_on_an_error() {
    let engine = engine();
    let mut s = admin(&engine);
    // Without XACT_ABORT a failed statement is undone alone and the transaction goes on.
    ok(&engine, &mut s, "BEGIN TRAN");
    ok(&engine, &mut s, INSERT);
    let e = fails(
        &engine,
        &mut s,
        "INSERT INTO Customer (customer_id, first_name) VALUES (1, 'dup')",
    );
    assert_eq!(e.number, 544);
    assert_eq!(s.transaction_count(), 1);
    ok(&engine, &mut s, "COMMIT");
    assert_eq!(count(&engine, &mut s), Value::Int(6));

    ok(&engine, &mut s, "SET XACT_ABORT ON; BEGIN TRAN");
    ok(&engine, &mut s, INSERT);
    let out = engine.execute(&mut s, "SELECT 1 / 0");
    assert_eq!(errors(&out)[0].number, 8134);
    assert!(matches!(
        changes(&out)[..],
        [TransactionChange::RolledBack { .. }]
    ));
    assert_eq!(s.transaction_count(), 0);
    assert_eq!(count(&engine, &mut s), Value::Int(6), "the insert is gone");
}

#[test]
fn identity_values_are_not_reused_after_a_rollback() {
    let engine = engine();
    let mut s = admin(&engine);
    ok(&engine, &mut s, "BEGIN TRAN");
    ok(&engine, &mut s, INSERT);
    assert_eq!(
        scalar(&engine, &mut s, "SELECT SCOPE_IDENTITY()"),
        Value::Decimal("6".into())
    );
    ok(&engine, &mut s, "ROLLBACK");
    ok(&engine, &mut s, INSERT);
    assert_eq!(
        scalar(&engine, &mut s, "SELECT MAX(customer_id) FROM Customer"),
        Value::Int(7),
        "as SQL Server: the rolled-back value stays used"
    );
}

#[test]
fn a_procedure_that_changes_trancount_gets_266_and_the_transaction_stays() {
    let engine = engine();
    let mut s = admin(&engine);
    let out = engine.execute_rpc(&mut s, "BEGIN TRANSACTION", &[]);
    let e = errors(&out)[0];
    assert_eq!((e.number, e.state, e.line), (266, 2, 0));
    assert_eq!(
        e.message,
        "Transaction count after EXECUTE indicates a mismatching number of BEGIN and COMMIT statements. Previous count = 0, current count = 1."
    );
    assert_eq!(
        s.transaction_count(),
        1,
        "the transaction is open all the same"
    );
    let out = engine.execute_rpc(&mut s, "COMMIT", &[]);
    assert!(errors(&out)[0]
        .message
        .ends_with("Previous count = 1, current count = 0."));
    assert_eq!(s.transaction_count(), 0);
    // Balanced inside the procedure: fine.
    let out = engine.execute_rpc(
        &mut s,
        "BEGIN TRAN; INSERT INTO Customer (first_name) VALUES (@P1); COMMIT",
        &[("@P1".into(), Value::Text("Zoe".into()))],
    );
    assert!(errors(&out).is_empty(), "{out:?}");
}

#[test]
fn transaction_manager_requests_drive_the_same_transaction() {
    let engine = engine();
    let mut s = admin(&engine);
    let out = engine.transaction(
        &mut s,
        TransactionRequest::Begin {
            name: String::new(),
        },
    );
    let [Outcome::Transaction(TransactionChange::Began { descriptor }), Outcome::Done { .. }] =
        out[..]
    else {
        panic!("{out:?}")
    };
    ok(&engine, &mut s, INSERT);
    let out = engine.transaction(&mut s, TransactionRequest::Save { name: "sp".into() });
    assert!(errors(&out).is_empty());
    ok(&engine, &mut s, "DELETE FROM Customer");
    let out = engine.transaction(&mut s, TransactionRequest::Rollback { name: "sp".into() });
    assert!(changes(&out).is_empty(), "to the savepoint only");
    assert_eq!(count(&engine, &mut s), Value::Int(6));
    let out = engine.transaction(
        &mut s,
        TransactionRequest::Rollback {
            name: String::new(),
        },
    );
    assert_eq!(
        changes(&out),
        vec![TransactionChange::RolledBack { descriptor }]
    );
    assert_eq!(count(&engine, &mut s), Value::Int(5));
    // Begun in T-SQL, committed by request.
    ok(&engine, &mut s, "BEGIN TRAN");
    ok(&engine, &mut s, INSERT);
    let out = engine.transaction(&mut s, TransactionRequest::Commit);
    assert!(matches!(
        changes(&out)[..],
        [TransactionChange::Committed { .. }]
    ));
    assert_eq!(count(&engine, &mut admin(&engine)), Value::Int(6));
    let out = engine.transaction(&mut s, TransactionRequest::Commit);
    assert_eq!(errors(&out)[0].number, 3902);
}

#[test]
fn end_transaction_rolls_back_as_a_reset_does() {
    let engine = engine();
    let mut s = admin(&engine);
    assert_eq!(s.end_transaction(), None);
    ok(&engine, &mut s, "BEGIN TRAN; DELETE FROM Customer");
    let descriptor = s.transaction_descriptor().expect("open");
    assert_eq!(
        s.end_transaction(),
        Some(TransactionChange::RolledBack { descriptor })
    );
    assert_eq!(count(&engine, &mut s), Value::Int(5));
}

#[test]
fn a_script_must_not_leave_a_transaction_open() {
    let engine = engine();
    let e = engine
        .run_script(
            DATABASE,
            "BEGIN TRAN\nINSERT INTO Customer (first_name) VALUES ('x')\nGO\n",
            &[],
        )
        .expect_err("open transaction");
    assert!(e.message.contains("COMMIT"), "{e}");
    assert_eq!(count(&engine, &mut admin(&engine)), Value::Int(5));
    engine
        .run_script(
            DATABASE,
            "BEGIN TRAN\nGO\nINSERT INTO Customer (first_name) VALUES ('x')\nGO\nCOMMIT\n",
            &[],
        )
        .expect("a transaction may span the script's batches");
    assert_eq!(count(&engine, &mut admin(&engine)), Value::Int(6));
}

// ---- the smaller fidelity gaps ---------------------------------------------------------------

#[test]
fn max_columns_are_created_and_described_as_max() {
    let engine = engine();
    let mut s = admin(&engine);
    ok(
        &engine,
        &mut s,
        "CREATE TABLE Documents (id INT PRIMARY KEY, body NVARCHAR(MAX) NOT NULL, ascii VARCHAR(max), data VARBINARY(MAX))",
    );
    let long = "é".repeat(10_000);
    ok(
        &engine,
        &mut s,
        &format!("INSERT INTO Documents VALUES (1, N'{long}', REPLICATE('a', 9000), 0x0102)"),
    );
    let out = ok(&engine, &mut s, "SELECT body, ascii, data FROM Documents");
    let rs = rows(&out);
    let types: Vec<&SqlType> = rs.columns.iter().map(|c| &c.ty).collect();
    assert_eq!(
        types,
        vec![
            &SqlType::NVarChar(Length::Max),
            &SqlType::VarChar(Length::Max),
            &SqlType::VarBinary(Length::Max)
        ]
    );
    assert_eq!(rs.rows[0][0], Value::Text(long));
    assert_eq!(rs.rows[0][1], Value::Text("a".repeat(9000)));
    assert_eq!(rs.rows[0][2], Value::Bytes(vec![1, 2]));
    assert_eq!(
        rows(&ok(
            &engine,
            &mut s,
            "SELECT CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'Documents' AND COLUMN_NAME = 'body'"
        ))
        .rows,
        vec![vec![Value::Int(-1)]]
    );
}

#[test]
fn nocount_leaves_result_sets_uncounted() {
    let engine = engine();
    let mut s = admin(&engine);
    let out = ok(
        &engine,
        &mut s,
        "SELECT 1; SET NOCOUNT ON; SELECT 2; SET NOCOUNT OFF; SELECT 3",
    );
    let counted: Vec<bool> = out
        .iter()
        .filter_map(|o| match o {
            Outcome::Rows(rs) => Some(rs.counted),
            _ => None,
        })
        .collect();
    assert_eq!(counted, vec![true, false, true]);
}

#[test]
fn a_subquery_used_as_a_value_must_return_one_row() {
    let engine = engine();
    let mut s = admin(&engine);
    let e = fails(&engine, &mut s, "SELECT (SELECT first_name FROM Customer)");
    assert_eq!((e.number, e.severity), (512, 16));
    assert_eq!(
        e.message,
        "Subquery returned more than 1 value. This is not permitted when the subquery follows =, !=, <, <= , >, >= or when the subquery is used as an expression."
    );
    assert_eq!(
        fails(
            &engine,
            &mut s,
            "SELECT * FROM Customer WHERE customer_id = (SELECT customer_id FROM Customer WHERE active = 1)"
        )
        .number,
        512
    );
    assert_eq!(
        fails(
            &engine,
            &mut s,
            "DECLARE @id INT = (SELECT customer_id FROM Customer)"
        )
        .number,
        512
    );
    // One row, no row, correlated, and IN/EXISTS (which may see many) still work.
    assert_eq!(
        scalar(
            &engine,
            &mut s,
            "SELECT (SELECT first_name FROM Customer WHERE customer_id = 4)"
        ),
        Value::Text("Bob".into())
    );
    assert_eq!(
        scalar(
            &engine,
            &mut s,
            "SELECT (SELECT first_name FROM Customer WHERE customer_id = 42)"
        ),
        Value::Null
    );
    let out = ok(
        &engine,
        &mut s,
        "SELECT c.customer_id, (SELECT COUNT(*) FROM Customer d WHERE d.active = c.active) FROM Customer c ORDER BY c.customer_id",
    );
    assert_eq!(rows(&out).rows[0], vec![Value::Int(1), Value::Int(2)]);
    assert_eq!(rows(&out).rows[1], vec![Value::Int(2), Value::Int(3)]);
    assert_eq!(
        scalar(
            &engine,
            &mut s,
            "SELECT COUNT(*) FROM Customer WHERE customer_id IN (SELECT customer_id FROM Customer WHERE active = 0)"
        ),
        Value::Int(3)
    );
}

#[test]
fn temporary_tables_keep_their_connection_and_close_it_when_the_session_ends() {
    let engine = engine();
    let mut warm = admin(&engine);
    ok(&engine, &mut warm, "SELECT 1");
    drop(warm);
    let before = engine.connections(DATABASE).expect("database");

    let mut s = admin(&engine);
    ok(
        &engine,
        &mut s,
        "CREATE TABLE #t (a INT); INSERT INTO #t VALUES (1)",
    );
    let held = engine.connections(DATABASE).expect("database");
    assert_eq!(
        held.idle + 1,
        before.idle,
        "the session keeps its connection"
    );
    assert_eq!(scalar(&engine, &mut s, "SELECT a FROM #t"), Value::Int(1));
    drop(s);
    let after = engine.connections(DATABASE).expect("database");
    assert_eq!(
        (after.open, after.idle),
        (before.open - 1, before.idle - 1),
        "closed, not pooled: no temporary table outlives its session"
    );

    // Every pooled connection is clean: a new session creates its own #t.
    let mut next = admin(&engine);
    ok(&engine, &mut next, "CREATE TABLE #t (b INT)");
}

#[test]
fn a_reset_drops_temporary_tables_and_keeps_the_transaction_when_asked() {
    let engine = engine();
    let mut s = admin(&engine);
    ok(&engine, &mut s, "CREATE TABLE #t (a INT)");
    assert_eq!(engine.reset_session(&s, false), Ok(None));
    assert_eq!(
        scalar(&engine, &mut s, "SELECT OBJECT_ID(N'tempdb..#t')"),
        Value::Null
    );

    ok(
        &engine,
        &mut s,
        "CREATE TABLE #t (a INT); BEGIN TRAN; DELETE FROM Customer",
    );
    assert_eq!(
        engine.reset_session(&s, true),
        Ok(None),
        "nothing rolled back"
    );
    assert_eq!(
        scalar(&engine, &mut s, "SELECT OBJECT_ID(N'tempdb..#t')"),
        Value::Null
    );
    assert_eq!(
        count(&engine, &mut s),
        Value::Int(0),
        "the transaction goes on"
    );
    ok(&engine, &mut s, "CREATE TABLE #t (b INT); ROLLBACK");
    assert_eq!(count(&engine, &mut s), Value::Int(5));
    assert_eq!(
        scalar(&engine, &mut s, "SELECT OBJECT_ID(N'tempdb..#t')"),
        Value::Null,
        "neither the #t the reset dropped nor the one the rollback undid"
    );
    ok(
        &engine,
        &mut s,
        "CREATE TABLE #t (c INT); INSERT INTO #t (c) VALUES (1)",
    );
}
