//! Unit tests of the principals, roles, grants and the permission check.

use super::*;
use crate::sql::catalog::Catalog;
use crate::sql::Session;

fn entry(name: &str, kind: PrincipalKind) -> DirectoryEntry {
    DirectoryEntry {
        display_name: name.into(),
        object_id: "11111111-1111-1111-1111-111111111111".into(),
        app_id: "22222222-2222-2222-2222-222222222222".into(),
        tenant_id: "33333333-3333-3333-3333-333333333333".into(),
        kind,
    }
}

fn session(user: &str, roles: &[&str]) -> Session {
    Session {
        database: "db".into(),
        user: user.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        is_admin: false,
        ..Session::default()
    }
}

fn customer_table() -> Table {
    use sqlparser::ast::Statement;
    let sql = "CREATE TABLE Customer (id INT)";
    let Statement::CreateTable(ct) =
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MsSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    else {
        unreachable!()
    };
    Catalog::new("now").define(&ct, "db", "now").unwrap()
}

#[test]
fn a_contained_user_s_password_is_never_shown() {
    let mut p = Principals::new("now");
    p.create_local_user("reporter", Some(&Password::new("S3cret-pw!".into())), "now")
        .unwrap();
    let shown = format!("{p:?}");
    assert!(!shown.contains("S3cret-pw!"), "{shown}");
    assert!(shown.contains("<redacted>"));
    let Kind::Contained { password } = &p.find("reporter").unwrap().kind else {
        panic!("not a contained user")
    };
    assert!(password.matches("S3cret-pw!"));
    assert!(!password.matches("S3cret-pw"));
}

#[test]
fn applications_are_keyed_by_app_id_and_users_by_object_id() {
    let mut p = Principals::new("now");
    p.create_external_user("app", &entry("app", PrincipalKind::Application), "now")
        .unwrap();
    let tenant = "33333333-3333-3333-3333-333333333333";
    assert!(p
        .find_external(tenant, "22222222-2222-2222-2222-222222222222")
        .is_some());
    let mut q = Principals::new("now");
    q.create_external_user("bob", &entry("bob", PrincipalKind::User), "now")
        .unwrap();
    assert!(q
        .find_external(tenant, "11111111-1111-1111-1111-111111111111")
        .is_some());
    assert!(q
        .find_external(tenant, "22222222-2222-2222-2222-222222222222")
        .is_none());
    assert!(q
        .find_external("another-tenant", "11111111-1111-1111-1111-111111111111")
        .is_none());
}

#[test]
fn the_same_identity_cannot_get_two_users() {
    let mut p = Principals::new("now");
    let e = entry("app", PrincipalKind::ManagedIdentity);
    p.create_external_user("app", &e, "now").unwrap();
    assert_eq!(
        p.create_external_user("app", &e, "now").unwrap_err().number,
        15023
    );
    assert_eq!(
        p.create_external_user("alias", &e, "now")
            .unwrap_err()
            .number,
        15063
    );
}

#[test]
fn membership_is_transitive_and_dropping_a_user_drops_its_memberships() {
    let mut p = Principals::new("now");
    p.create_local_user("ann", None, "now").unwrap();
    p.create_role("readers", None, "now").unwrap();
    p.alter_role("readers", "ann", true).unwrap();
    p.alter_role("db_datareader", "readers", true).unwrap();
    let ann = p.find("ann").unwrap().id;
    let mut roles = p.roles_of(ann);
    roles.sort();
    assert_eq!(roles, vec!["db_datareader", "readers"]);
    assert_eq!(p.drop_role("readers", false).unwrap_err().number, 15144);
    p.drop_user("ann", false).unwrap();
    assert!(p
        .member_rows()
        .iter()
        .all(|r| r[1] != rusqlite::types::Value::Integer(ann as i64)));
    assert_eq!(p.drop_user("ann", false).unwrap_err().number, 15151);
    assert!(p.drop_user("ann", true).is_ok());
}

#[test]
fn altering_unknown_roles_or_members_is_15151() {
    let mut p = Principals::new("now");
    assert_eq!(
        p.alter_role("nope", "dbo", true).unwrap_err().message,
        "Cannot alter the role 'nope', because it does not exist or you do not have permission."
    );
    assert_eq!(
        p.alter_role("db_datareader", "ghost", true)
            .unwrap_err()
            .message,
        "Cannot add the principal 'ghost', because it does not exist or you do not have permission."
    );
}

#[test]
fn readers_read_writers_write_and_deny_wins() {
    let table = customer_table();
    let p = Principals::new("now");
    let reader = session("r", &["db_datareader"]);
    assert!(p.allowed(&reader, Permission::Select, &table));
    assert!(!p.allowed(&reader, Permission::Insert, &table));
    let writer = session("w", &["db_datawriter"]);
    assert!(p.allowed(&writer, Permission::Delete, &table));
    assert!(!p.allowed(&writer, Permission::Select, &table));
    let both = session("x", &["db_datareader", "db_denydatareader"]);
    assert!(!p.allowed(&both, Permission::Select, &table));
    let nobody = session("n", &[]);
    assert!(!p.allowed(&nobody, Permission::Select, &table));
    assert!(p.allowed(&session("o", &["db_owner"]), Permission::Insert, &table));
}

#[test]
fn grants_and_denials_apply_to_the_user_and_its_roles() {
    let table = customer_table();
    let mut p = Principals::new("now");
    p.create_local_user("ann", None, "now").unwrap();
    let ann = session("ann", &[]);
    p.set_permission(
        "ann",
        Permission::Select,
        Securable::Object(table.object_id),
        false,
        false,
    )
    .unwrap();
    assert!(p.allowed(&ann, Permission::Select, &table));
    assert!(!p.allowed(&ann, Permission::Update, &table));
    p.set_permission(
        "public",
        Permission::Update,
        Securable::Schema(1),
        false,
        false,
    )
    .unwrap();
    assert!(
        p.allowed(&ann, Permission::Update, &table),
        "public's grants apply to everyone"
    );
    p.create_role("r", None, "now").unwrap();
    p.set_permission("r", Permission::Select, Securable::Schema(1), true, false)
        .unwrap();
    let ann_in_r = session("ann", &["r"]);
    assert!(
        !p.allowed(&ann_in_r, Permission::Select, &table),
        "DENY wins"
    );
    p.set_permission("r", Permission::Select, Securable::Schema(1), false, true)
        .unwrap();
    assert!(
        p.allowed(&ann_in_r, Permission::Select, &table),
        "REVOKE removes the DENY"
    );
    assert_eq!(
        p.set_permission("dbo", Permission::Select, Securable::Database, false, false)
            .unwrap_err()
            .number,
        15151
    );
}
