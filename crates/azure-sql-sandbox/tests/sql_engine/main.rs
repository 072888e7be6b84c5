//! The SQL engine through its public API, as the TDS server drives it: logins by access token and
//! by SQL login, batches, RPCs, permissions, and SQL Server's errors for what goes wrong.

#[path = "../support/mod.rs"]
mod support;

mod batches;
mod demo_path;
mod errors;
mod logins;
mod permissions;

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
