//! The demo's path: the workload identity reads the customers; what queries and session functions answer.

use super::*;

#[test]
fn the_workload_identity_reads_the_customers_with_their_declared_types() {
    let engine = engine();
    let mut s = login(&engine, &reader());
    let rs = query(
        &engine,
        &mut s,
        "SELECT customer_id, first_name, last_name, active FROM dbo.Customer ORDER BY customer_id",
    );
    let types: Vec<(&str, &SqlType, bool)> = rs
        .columns
        .iter()
        .map(|c| (c.name.as_str(), &c.ty, c.nullable))
        .collect();
    assert_eq!(
        types,
        vec![
            ("customer_id", &SqlType::Int, false),
            ("first_name", &SqlType::VarChar(Length::Fixed(50)), true),
            ("last_name", &SqlType::VarChar(Length::Fixed(50)), true),
            ("active", &SqlType::Bit, true),
        ]
    );
    let ids: Vec<&Value> = rs.rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        ids,
        [1, 2, 3, 4, 5].map(Value::Int).iter().collect::<Vec<_>>()
    );
    assert_eq!(rs.rows[4][1], Value::Text("Emily".into()));
    assert_eq!(rs.rows[0][3], Value::Bool(true));
}

#[test]
fn queries_use_what_t_sql_allows() {
    let engine = engine();
    let mut s = login(&engine, &reader());
    let rs = query(
        &engine,
        &mut s,
        "SELECT TOP 2 [c].[customer_id], c.first_name + ' ' + c.last_name AS [name]\n\
         FROM [dbo].[Customer] AS c WHERE c.active = 1 AND c.last_name <> N'x' ORDER BY c.customer_id DESC",
    );
    assert_eq!(rs.columns[1].name, "name");
    assert_eq!(rs.columns[1].ty, SqlType::VarChar(Length::Fixed(101)));
    assert_eq!(
        rs.rows,
        vec![
            vec![Value::Int(4), Value::Text("Bob Brown".into())],
            vec![Value::Int(1), Value::Text("John Doe".into())],
        ]
    );
    // Case-insensitive comparison, as SQL Server's default collation compares.
    assert_eq!(
        scalar(
            &engine,
            &mut s,
            "SELECT customer_id FROM Customer WHERE first_name = 'EMILY'"
        ),
        Value::Int(5)
    );
    let rs = query(
        &engine,
        &mut s,
        "SELECT active, COUNT(*) AS n, MIN(first_name) AS first FROM Customer GROUP BY active HAVING COUNT(*) >= 2 ORDER BY n DESC",
    );
    assert_eq!(rs.columns[1].ty, SqlType::Int);
    assert_eq!(
        rs.rows,
        vec![
            vec![
                Value::Bool(false),
                Value::Int(3),
                Value::Text("Alice".into())
            ],
            vec![Value::Bool(true), Value::Int(2), Value::Text("Bob".into())],
        ]
    );
    let rs = query(
        &engine,
        &mut s,
        "SELECT a.first_name FROM Customer a JOIN Customer b ON b.customer_id = a.customer_id - 1 \
         WHERE b.active = (SELECT MAX(CAST(active AS INT)) FROM Customer) AND a.customer_id IN (2, 5)",
    );
    assert_eq!(
        rs.rows,
        vec![
            vec![Value::Text("Jane".into())],
            vec![Value::Text("Emily".into())]
        ]
    );
    let rs = query(
        &engine,
        &mut s,
        "SELECT DISTINCT UPPER(LEFT(last_name, 1)) AS initial FROM Customer WHERE LEN(first_name) > 3 ORDER BY initial",
    );
    assert_eq!(
        rs.rows,
        vec![
            vec![Value::Text("D".into())],
            vec![Value::Text("J".into())],
            vec![Value::Text("S".into())],
        ],
        "Bob's three letters do not count"
    );
    assert_eq!(
        query(
            &engine,
            &mut s,
            "SELECT TOP 50 PERCENT customer_id FROM Customer ORDER BY customer_id"
        )
        .rows
        .len(),
        3,
        "TOP n PERCENT rounds up"
    );
    let rs = query(&engine, &mut s, "SELECT ISNULL(NULL, 'x') AS a, CAST('42' AS INT) AS b, CONVERT(VARCHAR(5), 12345678) AS c, CAST(2.5 AS DECIMAL(5, 2)) AS d, 7 / 2 AS e, 1 + '2' AS f");
    assert_eq!(
        rs.rows[0],
        vec![
            Value::Text("x".into()),
            Value::Int(42),
            Value::Text("12345".into()),
            Value::Decimal("2.50".into()),
            Value::Int(3),
            Value::Int(3),
        ]
    );
    assert_eq!(
        rs.columns[3].ty,
        SqlType::Decimal {
            precision: 5,
            scale: 2
        }
    );
}

#[test]
fn session_functions_answer_for_the_token_s_user() {
    let engine = engine();
    let mut s = login(&engine, &reader());
    let rs = query(
        &engine,
        &mut s,
        "SELECT USER_NAME(), CURRENT_USER, SUSER_SNAME(), SYSTEM_USER, DB_NAME(), \
         IS_ROLEMEMBER('db_datareader'), IS_ROLEMEMBER('db_owner'), IS_ROLEMEMBER('no_such_role'), @@SPID, \
         SERVERPROPERTY('EngineEdition'), SERVERPROPERTY('Edition'), @@VERSION, GETDATE(), SYSUTCDATETIME()",
    );
    let r = &rs.rows[0];
    let login = format!("{}@{TENANT}", reader().app_id);
    assert_eq!(r[0], Value::Text("customers-identity".into()));
    assert_eq!(r[1], Value::Text("customers-identity".into()));
    assert_eq!(r[2], Value::Text(login.clone()));
    assert_eq!(r[3], Value::Text(login));
    assert_eq!(r[4], Value::Text("customers".into()));
    assert_eq!(r[5], Value::Int(1));
    assert_eq!(r[6], Value::Int(0));
    assert_eq!(r[7], Value::Null);
    assert!(matches!(r[8], Value::Int(spid) if spid > 50));
    assert_eq!(
        r[9],
        Value::Int(5),
        "Azure SQL Database is engine edition 5"
    );
    assert_eq!(r[10], Value::Text("SQL Azure".into()));
    assert!(matches!(&r[11], Value::Text(v) if v.starts_with("Microsoft SQL Azure")));
    assert!(matches!(&r[12], Value::Text(t) if t.len() == 27 && t.as_bytes()[10] == b' '));
    assert_eq!(rs.columns[12].ty, SqlType::DateTime2);
    assert_eq!(rs.columns[0].name, "", "an expression's column has no name");
    assert_eq!(rs.columns[1].name, "");
}

#[test]
fn the_drivers_session_setup_batch_is_accepted() {
    let engine = engine();
    let mut s = login(&engine, &reader());
    // What tedious sends after login, in one batch, one statement per line.
    let out = engine.execute(&mut s,
        "set ansi_nulls on\nset ansi_null_dflt_on on\nset ansi_padding on\nset ansi_warnings on\n\
         set arithabort on\nset concat_null_yields_null on\nset cursor_close_on_commit off\n\
         set datefirst 7\nset dateformat mdy\nset implicit_transactions off\nset language us_english\n\
         set numeric_roundabort off\nset quoted_identifier on\nset textsize 2147483647\n\
         set transaction isolation level read committed\nset xact_abort off\nSET NOCOUNT ON",
    );
    assert_eq!(out.len(), 17);
    assert!(out.iter().all(|o| *o
        == Outcome::Done {
            rows_affected: None
        }));
    assert!(s.options.nocount);
    assert_eq!(
        fails(&engine, &mut s, "SET NOCOUNT MAYBE").message,
        "Incorrect syntax near 'MAYBE'."
    );
}
