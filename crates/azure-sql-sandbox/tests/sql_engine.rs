//! The SQL engine through its public API, as the TDS server drives it: logins by access token and
//! by SQL login, batches, RPCs, permissions, and SQL Server's errors for what goes wrong.

mod support;

use azure_sql_sandbox::identity::{DirectoryEntry, FixedDirectory, PrincipalKind, TokenIdentity};
use azure_sql_sandbox::scripts;
use azure_sql_sandbox::sql::{Engine, Length, Outcome, ResultSet, Session, SqlType, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::engine::*;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const ADMIN_PASSWORD: &str = "Adm1n-Pa55word!";

fn entry(name: &str, object_id: &str, app_id: &str, kind: PrincipalKind) -> DirectoryEntry {
    DirectoryEntry {
        display_name: name.into(),
        object_id: object_id.into(),
        app_id: app_id.into(),
        tenant_id: TENANT.into(),
        kind,
    }
}

fn reader() -> DirectoryEntry {
    entry(
        "customers-identity",
        "5a7c4b1e-0d3f-4e62-9a1b-2c3d4e5f6a7b",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        PrincipalKind::ManagedIdentity,
    )
}

fn writer() -> DirectoryEntry {
    entry(
        "loader-app",
        "6b7c4b1e-0d3f-4e62-9a1b-2c3d4e5f6a7b",
        "1f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        PrincipalKind::Application,
    )
}

fn stranger() -> DirectoryEntry {
    entry(
        "stranger-app",
        "7c7c4b1e-0d3f-4e62-9a1b-2c3d4e5f6a7b",
        "2f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        PrincipalKind::Application,
    )
}

fn alice() -> DirectoryEntry {
    entry(
        "alice@contoso.com",
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        PrincipalKind::User,
    )
}

fn token(e: &DirectoryEntry) -> TokenIdentity {
    e.token_identity(SystemTime::now() + Duration::from_secs(30))
}

/// A sandbox database as `Sandbox::start` makes it: the scripts run with the workload identity.
fn engine() -> Engine {
    let engine = Engine::new(Arc::new(FixedDirectory(vec![
        reader(),
        writer(),
        stranger(),
        alice(),
    ])));
    engine.create_database("customers").unwrap();
    engine.add_admin_login("sqladmin", ADMIN_PASSWORD);
    scripts::run_all(
        &engine,
        "customers",
        &[("IDENTITY_NAME".into(), "customers-identity".into())],
    )
    .unwrap();
    engine
}

fn admin(engine: &Engine) -> Session {
    engine
        .login_sql(Some("customers"), "sqladmin", ADMIN_PASSWORD)
        .unwrap()
}

fn login(engine: &Engine, who: &DirectoryEntry) -> Session {
    engine
        .login_external("customers", &token(who))
        .unwrap_or_else(|e| panic!("{} should log in: {e}", who.display_name))
}

fn admin_does(engine: &Engine, sql: &str) {
    let mut s = admin(engine);
    ok(engine, &mut s, sql);
}

// ---- the demo's path -------------------------------------------------------------------------

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

// ---- logins ------------------------------------------------------------------------------------

#[test]
fn a_token_without_a_database_user_is_18456() {
    let engine = engine();
    let e = engine
        .login_external("customers", &token(&stranger()))
        .unwrap_err();
    assert_eq!((e.number, e.severity, e.state), (18456, 14, 1));
    assert_eq!(
        e.message,
        "Login failed for user '<token-identified principal>'."
    );
}

#[test]
fn an_unknown_database_is_4060() {
    let engine = engine();
    let e = engine
        .login_external("nosuchdb", &token(&reader()))
        .unwrap_err();
    assert_eq!((e.number, e.severity, e.state), (4060, 11, 1));
    assert_eq!(
        e.message,
        "Cannot open database \"nosuchdb\" requested by the login. The login failed."
    );
}

#[test]
fn applications_are_matched_by_app_id_and_users_by_object_id() {
    let engine = engine();
    // Same tenant, the reader's object id but another app id: not the reader.
    let mut impostor = token(&reader());
    impostor.app_id = Some(stranger().app_id);
    assert_eq!(
        engine
            .login_external("customers", &impostor)
            .unwrap_err()
            .number,
        18456
    );
    // Another tenant with the reader's app id: not the reader either.
    let mut elsewhere = token(&reader());
    elsewhere.tenant_id = "00000000-0000-0000-0000-000000000000".into();
    assert_eq!(
        engine
            .login_external("customers", &elsewhere)
            .unwrap_err()
            .number,
        18456
    );
    admin_does(
        &engine,
        "CREATE USER [alice@contoso.com] FROM EXTERNAL PROVIDER; ALTER ROLE db_datareader ADD MEMBER [alice@contoso.com]",
    );
    let mut s = login(&engine, &alice());
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Customer"),
        Value::Int(5)
    );
}

#[test]
fn sql_logins_check_the_password_and_are_dbo() {
    let engine = engine();
    let e = engine
        .login_sql(Some("customers"), "sqladmin", "wrong")
        .unwrap_err();
    assert_eq!((e.number, e.severity), (18456, 14));
    assert_eq!(e.message, "Login failed for user 'sqladmin'.");
    assert!(!format!("{e:?}{e}").contains(ADMIN_PASSWORD));
    let mut s = admin(&engine);
    assert!(s.is_admin);
    assert_eq!(
        scalar(&engine, &mut s, "SELECT USER_NAME()"),
        Value::Text("dbo".into())
    );
    assert_eq!(
        scalar(&engine, &mut s, "SELECT SUSER_SNAME()"),
        Value::Text("sqladmin".into())
    );
    assert_eq!(
        engine
            .login_sql(Some("elsewhere"), "sqladmin", ADMIN_PASSWORD)
            .unwrap_err()
            .number,
        4060
    );
    // A contained user with a password logs in to its database only.
    admin_does(
        &engine,
        "CREATE USER reporter WITH PASSWORD = 'R3porter!pw'; ALTER ROLE db_datareader ADD MEMBER reporter",
    );
    let mut r = engine
        .login_sql(Some("customers"), "reporter", "R3porter!pw")
        .unwrap();
    assert_eq!(r.roles, vec!["db_datareader".to_string()]);
    assert_eq!(
        scalar(&engine, &mut r, "SELECT COUNT(*) FROM dbo.Customer"),
        Value::Int(5)
    );
    assert_eq!(
        engine
            .login_sql(Some("customers"), "reporter", "nope")
            .unwrap_err()
            .message,
        "Login failed for user 'reporter'."
    );
    // Naming no database is naming master, where the contained user does not exist.
    assert_eq!(
        engine
            .login_sql(None, "reporter", "R3porter!pw")
            .unwrap_err()
            .message,
        "Login failed for user 'reporter'."
    );
}

#[test]
fn master_without_a_user_for_the_identity_is_18456_never_4060() {
    // This engine has no master database; Azure SQL always has one, and the reader's user is
    // in `customers`: 18456, as Azure SQL answers, not "cannot open database" (4060), which
    // clients retry as transient.
    let engine = engine();
    for name in ["master", "MASTER"] {
        let e = engine.login_external(name, &token(&reader())).unwrap_err();
        assert_eq!((e.number, e.severity), (18456, 14), "{name}");
        assert_eq!(
            e.message,
            "Login failed for user '<token-identified principal>'."
        );
    }
}

#[test]
fn no_password_reaches_debug_output() {
    let engine = engine();
    admin_does(
        &engine,
        "CREATE USER reporter WITH PASSWORD = 'R3porter!pw'",
    );
    let shown = format!("{engine:?}");
    assert!(shown.contains("sqladmin"), "{shown}");
    assert!(!shown.contains(ADMIN_PASSWORD), "{shown}");
    assert!(!shown.contains("R3porter!pw"), "{shown}");
    let mut s = admin(&engine);
    let session = format!("{s:?}");
    assert!(!session.contains(ADMIN_PASSWORD));
    let principals = format!(
        "{:?}",
        engine.execute(&mut s, "SELECT * FROM sys.database_principals")
    );
    assert!(!principals.contains("R3porter!pw"));
}

// ---- permissions -------------------------------------------------------------------------------

#[test]
fn a_reader_can_select_but_not_change_anything() {
    let engine = engine();
    let mut s = login(&engine, &reader());
    assert_eq!(s.roles, vec!["db_datareader".to_string()]);
    let e = fails(
        &engine,
        &mut s,
        "INSERT INTO dbo.Customer (first_name, last_name, active) VALUES ('Eve', 'Hacker', 1)",
    );
    assert_eq!((e.number, e.severity, e.state), (229, 14, 5));
    assert_eq!(
        e.message,
        "The INSERT permission was denied on the object 'Customer', database 'customers', schema 'dbo'."
    );
    assert_eq!(
        fails(&engine, &mut s, "DELETE FROM Customer").message,
        "The DELETE permission was denied on the object 'Customer', database 'customers', schema 'dbo'."
    );
    assert_eq!(
        fails(&engine, &mut s, "UPDATE Customer SET active = 0").number,
        229
    );
    let e = fails(&engine, &mut s, "CREATE TABLE t (a INT)");
    assert_eq!((e.number, e.severity), (262, 14));
    assert_eq!(
        e.message,
        "CREATE TABLE permission denied in database 'customers'."
    );
    assert_eq!(fails(&engine, &mut s, "DROP TABLE Customer").number, 3701);
    assert_eq!(
        fails(
            &engine,
            &mut s,
            "CREATE USER [loader-app] FROM EXTERNAL PROVIDER"
        )
        .number,
        15247
    );
    assert_eq!(
        fails(&engine, &mut s, "ALTER ROLE db_owner ADD MEMBER [customers-identity]").message,
        "Cannot alter the role 'db_owner', because it does not exist or you do not have permission."
    );
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Customer"),
        Value::Int(5),
        "nothing changed"
    );
}

#[test]
fn a_writer_writes_and_needs_select_for_a_where_clause() {
    let engine = engine();
    admin_does(
        &engine,
        "CREATE USER [loader-app] FROM EXTERNAL PROVIDER; ALTER ROLE db_datawriter ADD MEMBER [loader-app]",
    );
    let mut s = login(&engine, &writer());
    let out = engine.execute(
        &mut s,
        "INSERT INTO Customer (first_name, last_name, active) VALUES ('Fay', 'Lee', 1)",
    );
    assert_eq!(
        out,
        vec![Outcome::Done {
            rows_affected: Some(1)
        }]
    );
    assert_eq!(
        fails(&engine, &mut s, "SELECT * FROM Customer").message,
        "The SELECT permission was denied on the object 'Customer', database 'customers', schema 'dbo'."
    );
    // SQL Server wants SELECT too when UPDATE or DELETE reads columns in WHERE.
    assert_eq!(
        fails(&engine, &mut s, "DELETE FROM Customer WHERE customer_id = 6").message,
        "The SELECT permission was denied on the object 'Customer', database 'customers', schema 'dbo'."
    );
}

#[test]
fn a_dropped_role_denies_the_next_login_but_not_the_open_session() {
    let engine = engine();
    let mut open = login(&engine, &reader());
    admin_does(
        &engine,
        "ALTER ROLE db_datareader DROP MEMBER [customers-identity]",
    );
    assert_eq!(
        scalar(&engine, &mut open, "SELECT COUNT(*) FROM Customer"),
        Value::Int(5),
        "roles are read at login"
    );
    let mut next = login(&engine, &reader());
    assert!(next.roles.is_empty());
    let e = fails(&engine, &mut next, "SELECT customer_id FROM dbo.Customer");
    assert_eq!((e.number, e.severity, e.state), (229, 14, 5));
    assert_eq!(
        e.message,
        "The SELECT permission was denied on the object 'Customer', database 'customers', schema 'dbo'."
    );
}

#[test]
fn grants_and_denials_work_without_fixed_roles() {
    let engine = engine();
    admin_does(&engine, "CREATE USER [loader-app] FROM EXTERNAL PROVIDER");
    let mut s = login(&engine, &writer());
    assert_eq!(fails(&engine, &mut s, "SELECT * FROM Customer").number, 229);
    admin_does(
        &engine,
        "GRANT SELECT ON OBJECT::dbo.Customer TO [loader-app]",
    );
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Customer"),
        Value::Int(5),
        "grants are checked live"
    );
    admin_does(
        &engine,
        "CREATE ROLE auditors; ALTER ROLE auditors ADD MEMBER [loader-app]; DENY SELECT ON SCHEMA::dbo TO auditors",
    );
    let mut again = login(&engine, &writer());
    assert_eq!(
        fails(&engine, &mut again, "SELECT * FROM Customer").number,
        229,
        "a DENY through a role wins over the GRANT"
    );
    admin_does(&engine, "REVOKE SELECT ON SCHEMA::dbo FROM auditors");
    assert_eq!(
        scalar(&engine, &mut again, "SELECT COUNT(*) FROM Customer"),
        Value::Int(5)
    );
    let mut a = admin(&engine);
    let rs = query(
        &engine,
        &mut a,
        "SELECT p.permission_name, p.state_desc, u.name FROM sys.database_permissions p \
         JOIN sys.database_principals u ON u.principal_id = p.grantee_principal_id \
         WHERE p.class = 1 ORDER BY u.name",
    );
    assert_eq!(
        rs.rows,
        vec![vec![
            Value::Text("SELECT".into()),
            Value::Text("GRANT".into()),
            Value::Text("loader-app".into())
        ]]
    );
}

#[test]
fn principals_and_memberships_show_in_the_system_views() {
    let engine = engine();
    let mut s = admin(&engine);
    let rs = query(
        &engine,
        &mut s,
        "SELECT u.name, u.type, u.type_desc, r.name AS role FROM sys.database_role_members m \
         JOIN sys.database_principals r ON r.principal_id = m.role_principal_id \
         JOIN sys.database_principals u ON u.principal_id = m.member_principal_id \
         WHERE u.name = N'customers-identity'",
    );
    assert_eq!(
        rs.rows,
        vec![vec![
            Value::Text("customers-identity".into()),
            Value::Text("E".into()),
            Value::Text("EXTERNAL_USER".into()),
            Value::Text("db_datareader".into()),
        ]]
    );
    // The user's sid is its client id's bytes, as Azure SQL stores it.
    let sid = scalar(
        &engine,
        &mut s,
        "SELECT sid FROM sys.database_principals WHERE name = 'customers-identity'",
    );
    assert_eq!(
        sid,
        Value::Bytes(vec![
            0x3c, 0x2d, 0x1e, 0x0f, 0x5a, 0x4b, 0x78, 0x69, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2,
            0xe1, 0xf0
        ])
    );
    assert_eq!(
        fails(
            &engine,
            &mut s,
            "CREATE USER [customers-identity] FROM EXTERNAL PROVIDER"
        )
        .number,
        15023
    );
    let e = fails(
        &engine,
        &mut s,
        "CREATE USER [ghost] FROM EXTERNAL PROVIDER",
    );
    assert_eq!(e.number, 33130);
    assert_eq!(
        e.message,
        "Principal 'ghost' could not be found or this principal type is not supported."
    );
}

// ---- errors ------------------------------------------------------------------------------------

#[test]
fn sql_server_errors_for_bad_statements() {
    let engine = engine();
    let mut s = admin(&engine);
    let check = |s: &mut Session, sql: &str, number: u32, message: &str| {
        let e = fails(&engine, s, sql);
        assert_eq!((e.number, e.message.as_str()), (number, message), "{sql}");
    };
    check(
        &mut s,
        "SELECT * FROM dbo.Custmer",
        208,
        "Invalid object name 'dbo.Custmer'.",
    );
    check(
        &mut s,
        "SELECT nope FROM Customer",
        207,
        "Invalid column name 'nope'.",
    );
    check(
        &mut s,
        "SELECT customer_id FROM Customer a, Customer b",
        209,
        "Ambiguous column name 'customer_id'.",
    );
    check(
        &mut s,
        "SELECT customer_id FROM Customer WHERE",
        156,
        "Incorrect syntax near the keyword 'WHERE'.",
    );
    check(&mut s, "SELECT 1 +* 2", 102, "Incorrect syntax near '*'.");
    check(
        &mut s,
        "SELECT CAST('abc' AS INT)",
        245,
        "Conversion failed when converting the varchar value 'abc' to data type int.",
    );
    check(
        &mut s,
        "SELECT customer_id FROM Customer WHERE customer_id = 'x'",
        245,
        "Conversion failed when converting the varchar value 'x' to data type int.",
    );
    check(
        &mut s,
        "SELECT customer_id / (active - active) FROM Customer",
        8134,
        "Divide by zero error encountered.",
    );
    check(
        &mut s,
        "SELECT @undeclared",
        137,
        "Must declare the scalar variable \"@undeclared\".",
    );
    check(
        &mut s,
        "SELECT NOSUCHFUNCTION(1)",
        195,
        "'NOSUCHFUNCTION' is not a recognized built-in function name.",
    );
    check(&mut s, "SELECT * FROM Customer FOR XML AUTO", 40517, "Keyword or statement option 'FOR XML / FOR JSON' is not supported in this version of SQL Server.");
    check(&mut s, "USE master", 40508, "USE statement is not supported to switch between databases. Use a new connection to connect to a different database.");
    check(
        &mut s,
        "INSERT INTO Customer (first_name, last_name, active) VALUES ('Maximilian-Alexander-Christopher-Wolfgang-Amadeus-Johann', 'X', 1)",
        2628,
        "String or binary data would be truncated in table 'customers.dbo.Customer', column 'first_name'. Truncated value: 'Maximilian-Alexander-Christopher-Wolfgang-Amadeus-'.",
    );
    check(
        &mut s,
        "INSERT INTO Customer (customer_id, first_name) VALUES (1, 'x')",
        544,
        "Cannot insert explicit value for identity column in table 'Customer' when IDENTITY_INSERT is set to OFF.",
    );
    admin_does(
        &engine,
        "CREATE TABLE dbo.Product (sku VARCHAR(10) NOT NULL PRIMARY KEY, price DECIMAL(10, 2) NOT NULL)",
    );
    check(&mut s, "INSERT INTO Product (sku) VALUES ('A1')", 515, "Cannot insert the value NULL into column 'price', table 'customers.dbo.Product'; column does not allow nulls. INSERT fails.");
    admin_does(&engine, "INSERT INTO Product VALUES ('A1', 9.99)");
    let e = fails(
        &engine,
        &mut s,
        "INSERT INTO Product VALUES ('B2', 1), ('A1', 2)",
    );
    assert_eq!((e.number, e.severity), (2627, 14));
    assert!(
        e.message
            .starts_with("Violation of PRIMARY KEY constraint 'PK__Product__"),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("'. Cannot insert duplicate key in object 'dbo.Product'. The duplicate key value is (A1)."), "{}", e.message);
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Product"),
        Value::Int(1),
        "the failed statement inserted nothing"
    );
    check(&mut s, "UPDATE Product SET price = NULL", 515, "Cannot insert the value NULL into column 'price', table 'customers.dbo.Product'; column does not allow nulls. UPDATE fails.");
    check(
        &mut s,
        "CREATE TABLE Product (a INT)",
        2714,
        "There is already an object named 'Product' in the database.",
    );
}

#[test]
fn a_batch_stops_at_its_first_error_and_says_which_line() {
    let engine = engine();
    let mut s = admin(&engine);
    let out = engine.execute(&mut s,
        "INSERT INTO Customer (first_name) VALUES ('One')\nSELECT COUNT(*) FROM Customer\n\nSELECT * FROM Nowhere\nINSERT INTO Customer (first_name) VALUES ('Two')",
    );
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0],
        Outcome::Done {
            rows_affected: Some(1)
        }
    );
    assert_eq!(rows(&out[1..2]).rows, vec![vec![Value::Int(6)]]);
    let e = error(&out);
    assert_eq!((e.number, e.line), (208, 4));
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Customer"),
        Value::Int(6),
        "the statement after the error did not run"
    );
    // A syntax error anywhere means nothing in the batch runs.
    let out = engine.execute(&mut s, "DELETE FROM Customer\nSELECT FROM WHERE");
    assert_eq!(out.len(), 1);
    assert_eq!(error(&out).line, 2);
    assert_eq!(
        scalar(&engine, &mut s, "SELECT COUNT(*) FROM Customer"),
        Value::Int(6)
    );
}

// ---- batches, RPCs, options --------------------------------------------------------------------

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
