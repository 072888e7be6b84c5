//! Permissions: readers, writers, roles, grants and denials, and the system views that show them.

use super::*;

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
