//! Logins: by access token (applications by app id, users by object id) and by SQL login; 18456 and 4060.

use super::*;

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
