//! Batches, RPC parameters, SET options, variables, identity values, sessions and databases.

use super::*;

#[test]
fn nocount_suppresses_row_counts() {
    let engine = engine();
    let mut s = admin(&engine);
    let out = engine.execute(&mut s,
        "UPDATE Customer SET active = 1 WHERE customer_id = 2; SET NOCOUNT ON; UPDATE Customer SET active = 0 WHERE customer_id = 2",
    );
    assert_eq!(
        out,
        vec![
            Outcome::Done {
                rows_affected: Some(1)
            },
            Outcome::Done {
                rows_affected: None
            },
            Outcome::Done {
                rows_affected: None
            },
        ]
    );
    let out = engine.execute(&mut s, "DELETE FROM Customer WHERE customer_id = 99");
    assert_eq!(
        out,
        vec![Outcome::Done {
            rows_affected: None
        }],
        "NOCOUNT stays on for the session"
    );
}

#[test]
fn rpc_parameters_are_bound_as_values_never_spliced() {
    let engine = engine();
    let mut s = login(&engine, &reader());
    let sql = "SELECT first_name FROM dbo.Customer WHERE customer_id = @P1";
    let out = engine.execute_rpc(&mut s, sql, &[("@P1".into(), Value::Int(2))]);
    assert_eq!(rows(&out).rows, vec![vec![Value::Text("Jane".into())]]);
    let out = engine.execute_rpc(&mut s, sql, &[("P1".into(), Value::Int(4))]);
    assert_eq!(
        rows(&out).rows,
        vec![vec![Value::Text("Bob".into())]],
        "the @ is optional and the plan is reused with a new value"
    );
    let out = engine.execute_rpc(
        &mut s,
        "SELECT customer_id FROM Customer WHERE last_name = @name",
        &[("@name".into(), Value::Text("x' OR '1'='1".into()))],
    );
    assert!(rows(&out).rows.is_empty(), "a quote in a value is data");
    let out = engine.execute_rpc(
        &mut s,
        sql,
        &[("@P1".into(), Value::Text("1; DROP TABLE Customer".into()))],
    );
    assert_eq!(error(&out).number, 245);
    let out = engine.execute_rpc(
        &mut s,
        "SELECT @a AS a, @b AS b, @c AS c, @d AS d",
        &[
            ("@a".into(), Value::Int(7)),
            ("@b".into(), Value::Text("héllo".into())),
            ("@c".into(), Value::Null),
            ("@d".into(), Value::Int(5_000_000_000)),
        ],
    );
    let rs = rows(&out);
    assert_eq!(rs.columns[0].ty, SqlType::Int);
    assert_eq!(rs.columns[1].ty, SqlType::NVarChar(Length::Fixed(4000)));
    assert_eq!(rs.columns[3].ty, SqlType::BigInt);
    assert_eq!(
        rs.rows[0],
        vec![
            Value::Int(7),
            Value::Text("héllo".into()),
            Value::Null,
            Value::Int(5_000_000_000)
        ]
    );
    let out = engine.execute_rpc(&mut s, sql, &[]);
    assert_eq!(error(&out).number, 137);
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Customer"),
        Value::Int(5)
    );
}

#[test]
fn variables_conditions_and_blocks() {
    let engine = engine();
    let mut s = admin(&engine);
    let out = engine.execute(
        &mut s,
        "DECLARE @n INT = (SELECT COUNT(*) FROM Customer), @who NVARCHAR(50)\n\
         SET @who = N'Bob'\n\
         IF @n = 5 AND EXISTS (SELECT 1 FROM Customer WHERE first_name = @who)\n\
         BEGIN\n  SELECT @n AS n\n  PRINT 'five'\nEND\nELSE\n  SELECT 0 AS n",
    );
    assert_eq!(rows(&out).rows, vec![vec![Value::Int(5)]]);
    assert!(out
        .iter()
        .any(|o| matches!(o, Outcome::Info(i) if i.message == "five" && i.severity == 0)));
    let out = engine.execute(&mut s,
        "DECLARE @first VARCHAR(50); SELECT @first = first_name FROM Customer WHERE customer_id = 3; SELECT @first",
    );
    assert_eq!(rows(&out).rows, vec![vec![Value::Text("Alice".into())]]);
}

#[test]
fn identity_values_follow_seed_and_increment_and_are_never_reused() {
    let engine = engine();
    let mut s = admin(&engine);
    let out = engine.execute(&mut s,
        "CREATE TABLE dbo.Orders (id INT IDENTITY(100, 10) PRIMARY KEY, item NVARCHAR(20) NOT NULL);\n\
         INSERT INTO Orders (item) VALUES (N'a'), (N'b');\n\
         SELECT SCOPE_IDENTITY() AS last;\n\
         DELETE FROM Orders WHERE id = 110;\n\
         INSERT INTO Orders (item) VALUES (N'c');\n\
         SELECT id FROM Orders ORDER BY id",
    );
    let sets: Vec<&ResultSet> = out
        .iter()
        .filter_map(|o| match o {
            Outcome::Rows(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(sets[0].rows, vec![vec![Value::Decimal("110".into())]]);
    assert_eq!(
        sets[1].rows,
        vec![vec![Value::Int(100)], vec![Value::Int(120)]]
    );
    assert_eq!(s.last_identity, Some(120));
}

#[test]
fn a_rolled_back_transaction_leaves_no_trace() {
    let engine = engine();
    let mut s = admin(&engine);
    let out = engine.execute(&mut s,
        "BEGIN TRANSACTION; DELETE FROM Customer; CREATE TABLE Scratch (a INT); ROLLBACK; SELECT COUNT(*) FROM Customer",
    );
    assert_eq!(rows(&out).rows, vec![vec![Value::Int(5)]]);
    assert_eq!(fails(&engine, &mut s, "SELECT * FROM Scratch").number, 208);
    assert_eq!(fails(&engine, &mut s, "COMMIT").number, 3902);
    // A transaction spans batches (tests/sql_transactions.rs has the rest).
    let out = engine.execute(&mut s, "BEGIN TRAN\nDELETE FROM Customer");
    assert!(
        !out.iter().any(|o| matches!(o, Outcome::Error(_))),
        "{out:?}"
    );
    assert_eq!(s.transaction_count(), 1);
    engine.execute(&mut s, "ROLLBACK");
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Customer"),
        Value::Int(5)
    );
}

#[test]
fn sessions_on_many_threads_run_at_once() {
    let engine = engine();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let mut s = login(&engine, &reader());
                for j in 0..200 {
                    let id = (i + j) % 5 + 1;
                    let out = engine.execute_rpc(
                        &mut s,
                        "SELECT customer_id FROM dbo.Customer WHERE customer_id = @P1",
                        &[("@P1".into(), Value::Int(id))],
                    );
                    assert_eq!(rows(&out).rows, vec![vec![Value::Int(id)]]);
                }
                s.spid
            })
        })
        .collect();
    let mut spids: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    spids.sort();
    spids.dedup();
    assert_eq!(spids.len(), 8, "every session has its own @@SPID");
}

#[test]
fn databases_are_separate() {
    let engine = engine();
    engine.create_database("other").unwrap();
    assert_eq!(engine.create_database("OTHER").unwrap_err().number, 1801);
    assert!(engine.has_database("Customers"));
    assert_eq!(
        engine.databases(),
        vec!["customers".to_string(), "other".to_string()]
    );
    let mut s = engine
        .login_sql(Some("other"), "sqladmin", ADMIN_PASSWORD)
        .unwrap();
    assert_eq!(fails(&engine, &mut s, "SELECT * FROM Customer").number, 208);
    assert_eq!(
        engine
            .login_external("other", &token(&reader()))
            .unwrap_err()
            .number,
        18456,
        "the user exists in customers only"
    );
}

#[test]
fn sp_executesql_written_in_a_batch_binds_its_parameters() {
    let engine = engine();
    let mut s = login(&engine, &reader());
    let rs = query(
        &engine,
        &mut s,
        "EXEC sp_executesql N'SELECT first_name FROM dbo.Customer WHERE customer_id = @id', N'@id int', @id = 3",
    );
    assert_eq!(rs.rows, vec![vec![Value::Text("Alice".into())]]);
    let rs = query(
        &engine,
        &mut s,
        "EXECUTE sp_executesql N'SELECT @a + @b AS total', N'@a int, @b int', 40, 2",
    );
    assert_eq!(rs.rows, vec![vec![Value::Int(42)]]);
    assert_eq!(
        fails(
            &engine,
            &mut s,
            "EXEC sp_executesql N'SELECT @x', N'@p int', @x = 1"
        )
        .number,
        8145
    );
    assert_eq!(
        fails(&engine, &mut s, "EXEC sp_who").message,
        "Could not find stored procedure 'sp_who'."
    );
}

#[test]
fn hostile_input_gets_errors_not_panics() {
    let engine = engine();
    let mut s = admin(&engine);
    let chain = |n: usize| format!("SELECT 1{}", " + 1".repeat(n));
    // A long chain still runs; one past the limit is refused before it is built.
    assert_eq!(scalar(&engine, &mut s, &chain(999)), Value::Int(1000));
    let e = fails(&engine, &mut s, &chain(50_000));
    assert_eq!((e.number, e.severity), (191, 15));
    let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    assert_eq!(fails(&engine, &mut s, &deep).number, 191);
    let ors: Vec<String> = (0..400).map(|i| format!("customer_id = {i}")).collect();
    assert_eq!(
        query(
            &engine,
            &mut s,
            &format!(
                "SELECT customer_id FROM Customer WHERE {}",
                ors.join(" OR ")
            )
        )
        .rows
        .len(),
        5
    );
    for (sql, number) in [
        ("/* never closed", 113),
        ("SELECT 'never closed", 105),
        ("SELECT 1e400", 0),
        ("SELECT CAST('x' AS GEOGRAPHY)", 2715),
        ("SELECT CAST('x' AS VARCHAR(9000))", 131),
        ("SELECT DATEADD(year, 1, '9999-12-31')", 517),
        ("SELECT LEFT('abc', -1)", 536),
        ("SELECT ABS(-9223372036854775807 - 1)", 8115),
        ("SELECT 5 % 0", 8134),
        ("SELECT GETDATE() + 1", 206),
        ("MERGE INTO Customer USING Customer s ON 1 = 0 WHEN NOT MATCHED THEN INSERT (first_name) VALUES ('x');", 40517),
        ("ALTER TABLE Customer ADD email VARCHAR(100)", 40517),
        ("SELECT * INTO Copy FROM Customer", 40517),
        ("CREATE TABLE ##global (a INT)", 40517),
        ("CREATE TABLE #with_identity (a INT IDENTITY)", 40517),
        ("SELECT c.* FROM Customer c CROSS APPLY (SELECT 1 AS x) a", 40517),
        ("SELECT * FROM other.dbo.Customer", 40515),
        ("SELECT ?", 40517),
        ("SELECT 0xABC", 0),
    ] {
        let out = engine.execute(&mut s, sql);
        match (number, out.last()) {
            (0, Some(Outcome::Rows(_))) => {}
            (n, Some(Outcome::Error(e))) => assert_eq!(e.number, n, "{sql}: {e:?}"),
            (_, other) => panic!("{sql}: {other:?}"),
        }
    }
    assert!(engine.execute(&mut s, "").is_empty());
    assert!(engine.execute(&mut s, "  -- a comment only").is_empty());
    assert_eq!(
        scalar(&engine, &mut s, "SELECT N'日本語' + N'!'"),
        Value::Text("日本語!".into())
    );
}

#[test]
fn output_returns_the_rows_a_statement_changed() {
    let engine = engine();
    let mut s = admin(&engine);
    let rs = query(
        &engine,
        &mut s,
        "INSERT INTO dbo.Customer (first_name, last_name, active) OUTPUT INSERTED.customer_id, INSERTED.first_name AS name VALUES ('Gus', 'Grey', 1), ('Hal', 'Hill', 0)",
    );
    assert_eq!(rs.columns[0].name, "customer_id");
    assert_eq!(rs.columns[0].ty, SqlType::Int);
    assert!(!rs.columns[0].nullable);
    assert_eq!(rs.columns[1].name, "name");
    assert_eq!(
        rs.rows,
        vec![
            vec![Value::Int(6), Value::Text("Gus".into())],
            vec![Value::Int(7), Value::Text("Hal".into())],
        ]
    );
    assert_eq!(s.last_identity, Some(7));
    let rs = query(
        &engine,
        &mut s,
        "UPDATE Customer SET active = 1 OUTPUT INSERTED.customer_id, INSERTED.active WHERE customer_id = 2",
    );
    assert_eq!(rs.rows, vec![vec![Value::Int(2), Value::Bool(true)]]);
    let rs = query(
        &engine,
        &mut s,
        "DELETE FROM Customer OUTPUT DELETED.* WHERE customer_id = 7",
    );
    assert_eq!(rs.columns.len(), 4);
    assert_eq!(rs.rows[0][1], Value::Text("Hal".into()));
    assert_eq!(
        fails(
            &engine,
            &mut s,
            "UPDATE Customer SET active = 0 OUTPUT DELETED.active WHERE customer_id = 2"
        )
        .number,
        40517
    );
    let mut reader = login(&engine, &reader());
    assert_eq!(
        fails(
            &engine,
            &mut reader,
            "INSERT INTO Customer (first_name) OUTPUT INSERTED.customer_id VALUES ('x')"
        )
        .number,
        229
    );
    let e = fails(
        &engine,
        &mut s,
        "CREATE TABLE Tag (name VARCHAR(10) PRIMARY KEY); INSERT INTO Tag OUTPUT INSERTED.name VALUES ('a'), ('a')",
    );
    assert_eq!(e.number, 2627, "{e:?}");
}
