//! Requests on a logged-in session, driven by tiberius: batches with several result sets, RPC
//! (`sp_executesql`) with typed parameters in and every result type out (PLP for MAX types,
//! code page 1252 for VARCHAR), errors that keep the session, and hundreds of sessions at once.

mod support;

use std::sync::Arc;
use support::tds::*;
use tiberius::numeric::Numeric;
use tiberius::Uuid;

/// The error of a batch (tiberius reports it when sending or when reading the results).
async fn batch_error(client: &mut TdsClient, sql: &str) -> tiberius::error::Error {
    match client.simple_query(sql).await {
        Err(e) => e,
        Ok(stream) => stream.into_results().await.expect_err("an error"),
    }
}

#[tokio::test]
async fn an_unsupported_statement_is_an_error_and_the_session_goes_on() {
    let sandbox = Sandbox::start(false).await;
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login");
    let err = batch_error(&mut client, "SELEKT frobnicate FROM nowhere").await;
    assert_eq!(server_error(&err).map(|e| e.0), Some(102), "{err:?}");
    let err = batch_error(&mut client, "SELECT * FROM dbo.NoSuchTable").await;
    assert_eq!(server_error(&err).map(|e| e.0), Some(208), "{err:?}");
    assert_eq!(
        customer_ids(&mut client).await.expect("still served"),
        [1, 2, 3, 4, 5]
    );
}

#[tokio::test]
async fn a_reader_cannot_write() {
    let sandbox = Sandbox::start(false).await;
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login");
    let err = client
        .execute(
            "INSERT INTO dbo.Customer (first_name, last_name, active) VALUES (@P1, @P2, @P3)",
            &[&"Eve", &"X", &true],
        )
        .await
        .expect_err("denied");
    assert_eq!(server_error(&err).map(|e| e.0), Some(229));
    assert_eq!(
        customer_ids(&mut client).await.expect("still served").len(),
        5
    );
}

#[tokio::test]
async fn a_batch_returns_its_result_sets_in_order() {
    let sandbox = Sandbox::start(false).await;
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login");
    let results = client
        .simple_query(
            "SELECT first_name FROM dbo.Customer WHERE customer_id = 2; SELECT COUNT(*) AS n FROM dbo.Customer WHERE active = 1",
        )
        .await
        .expect("sent")
        .into_results()
        .await
        .expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0][0].get::<&str, _>(0), Some("Jane"));
    assert_eq!(results[1][0].get::<i32, _>("n"), Some(2));
}

#[tokio::test]
async fn rpc_parameters_bind() {
    let sandbox = Sandbox::start(false).await;
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login");
    let row = client
        .query(
            "SELECT first_name, last_name, active FROM dbo.Customer WHERE customer_id = @P1 AND last_name = @P2",
            &[&4i32, &"Brown"],
        )
        .await
        .expect("sent")
        .into_row()
        .await
        .expect("row")
        .expect("one row");
    assert_eq!(row.get::<&str, _>("first_name"), Some("Bob"));
    assert_eq!(row.get::<bool, _>("active"), Some(true));
    let columns: Vec<_> = row.columns().iter().map(|c| c.column_type()).collect();
    assert_eq!(
        columns,
        [
            tiberius::ColumnType::BigVarChar,
            tiberius::ColumnType::BigVarChar,
            tiberius::ColumnType::Bitn
        ]
    );
}

#[tokio::test]
async fn every_type_travels_both_ways() {
    let sandbox = Sandbox::start(false).await;
    let mut client = sandbox.admin().await;
    client
        .simple_query(
            "CREATE TABLE dbo.Typed (id INT PRIMARY KEY, i BIGINT, s SMALLINT, t TINYINT, b BIT, f FLOAT, r REAL, \
             d DECIMAL(10, 2), v VARCHAR(50), nv NVARCHAR(50), c CHAR(3), nc NCHAR(3), \
             bin VARBINARY(50), g UNIQUEIDENTIFIER, dt DATETIME2)",
        )
        .await
        .expect("sent")
        .into_results()
        .await
        .expect("created");

    let guid = Uuid::parse_str("6f9619ff-8b86-d011-b42d-00c04fc964ff").expect("uuid");
    let dt = time::Date::from_calendar_date(2024, time::Month::May, 1)
        .expect("date")
        .with_hms_nano(13, 45, 0, 123_456_700)
        .expect("time");
    let inserted = client
        .execute(
            "INSERT INTO dbo.Typed VALUES (@P1, @P2, @P3, @P4, @P5, @P6, @P7, @P8, @P9, @P10, @P11, @P12, @P13, @P14, @P15)",
            &[
                &1i32,
                &-9_000_000_000i64,
                &-12i16,
                &250u8,
                &true,
                &1.5f64,
                &0.25f32,
                &Numeric::new_with_scale(-12345, 2),
                &"Crème brûlée €",
                &"日本語",
                &"ab",
                &"x",
                &&[1u8, 2, 3][..],
                &guid,
                &dt,
            ],
        )
        .await
        .expect("insert");
    assert_eq!(inserted.rows_affected(), [1]);
    client
        .execute(
            "INSERT INTO dbo.Typed (id, i, v, bin, g, dt) VALUES (@P1, @P2, @P3, @P4, @P5, @P6)",
            &[
                &2i32,
                &Option::<i64>::None,
                &Option::<&str>::None,
                &Option::<&[u8]>::None,
                &Option::<Uuid>::None,
                &Option::<time::PrimitiveDateTime>::None,
            ],
        )
        .await
        .expect("insert NULLs");
    client
        .execute(
            "INSERT INTO dbo.Typed (id, v) VALUES (@P1, @P2)",
            &[&3i32, &"日本"],
        )
        .await
        .expect("insert unmappable");

    let rows = client
        .simple_query("SELECT * FROM dbo.Typed ORDER BY id")
        .await
        .expect("sent")
        .into_first_result()
        .await
        .expect("rows");
    assert_eq!(rows.len(), 3);
    let r = &rows[0];
    assert_eq!(r.get::<i32, _>("id"), Some(1));
    assert_eq!(r.get::<i64, _>("i"), Some(-9_000_000_000));
    assert_eq!(r.get::<i16, _>("s"), Some(-12));
    assert_eq!(r.get::<u8, _>("t"), Some(250));
    assert_eq!(r.get::<bool, _>("b"), Some(true));
    assert_eq!(r.get::<f64, _>("f"), Some(1.5));
    assert_eq!(r.get::<f32, _>("r"), Some(0.25));
    assert_eq!(
        r.get::<Numeric, _>("d"),
        Some(Numeric::new_with_scale(-12345, 2))
    );
    assert_eq!(r.get::<&str, _>("v"), Some("Crème brûlée €"));
    assert_eq!(r.get::<&str, _>("nv"), Some("日本語"));
    assert_eq!(r.get::<&str, _>("c"), Some("ab "), "CHAR pads");
    assert_eq!(r.get::<&str, _>("nc"), Some("x  "), "NCHAR pads");
    assert_eq!(r.get::<&[u8], _>("bin"), Some(&[1u8, 2, 3][..]));
    assert_eq!(r.get::<Uuid, _>("g"), Some(guid));
    assert_eq!(r.get::<time::PrimitiveDateTime, _>("dt"), Some(dt));

    let r = &rows[1];
    assert_eq!(r.get::<i64, _>("i"), None);
    assert_eq!(r.get::<&str, _>("v"), None);
    assert_eq!(r.get::<&[u8], _>("bin"), None);
    assert_eq!(r.get::<Uuid, _>("g"), None);
    assert_eq!(r.get::<time::PrimitiveDateTime, _>("dt"), None);

    assert_eq!(
        rows[2].get::<&str, _>("v"),
        Some("??"),
        "VARCHAR holds code page 1252"
    );
}

#[tokio::test]
async fn max_values_travel_as_plp_both_ways() {
    let sandbox = Sandbox::start(false).await;
    let mut client = connect(sandbox.token_config(GOOD_TOKEN))
        .await
        .expect("login");
    // Longer than 4000 characters and 8000 bytes: tiberius sends them as PLP parameters, and the
    // MAX columns come back as PLP values.
    let long_text: String = "ü€".repeat(5_000);
    let long_bytes: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let row = client
        .query(
            "SELECT CAST(@P1 AS NVARCHAR(MAX)) AS nv, CAST(@P2 AS VARBINARY(MAX)) AS bin, \
             CAST(@P3 AS VARCHAR(MAX)) AS v, CAST(@P4 AS NVARCHAR(MAX)) AS empty, CAST(@P5 AS VARBINARY(MAX)) AS none",
            &[&long_text.as_str(), &long_bytes.as_slice(), &"Crème €", &"", &Option::<&[u8]>::None],
        )
        .await
        .expect("sent")
        .into_row()
        .await
        .expect("row")
        .expect("one row");
    assert_eq!(row.get::<&str, _>("nv"), Some(long_text.as_str()));
    assert_eq!(row.get::<&[u8], _>("bin"), Some(long_bytes.as_slice()));
    assert_eq!(row.get::<&str, _>("v"), Some("Crème €"));
    assert_eq!(row.get::<&str, _>("empty"), Some(""));
    assert_eq!(row.get::<&[u8], _>("none"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_sessions_at_once() {
    const SESSIONS: usize = 200;
    let sandbox = Arc::new(Sandbox::start(false).await);
    let all_logged_in = Arc::new(tokio::sync::Barrier::new(SESSIONS));
    let mut tasks = Vec::new();
    for _ in 0..SESSIONS {
        let sandbox = sandbox.clone();
        let barrier = all_logged_in.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = connect(sandbox.token_config(GOOD_TOKEN)).await?;
            barrier.wait().await;
            let ids = customer_ids(&mut client).await?;
            client.close().await?;
            Ok::<_, tiberius::error::Error>(ids)
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("session"), [1, 2, 3, 4, 5]);
    }
    let stats = sandbox.stats.snapshot();
    assert_eq!(stats.logins_ok, SESSIONS as u64);
    assert!(stats.max_open_sessions >= SESSIONS as u64, "{stats:?}");
}
