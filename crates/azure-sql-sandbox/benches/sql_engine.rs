//! How long the SQL engine takes for what the demo and the library's pool send: a SELECT on the
//! five-row Customer table as a plain batch and as an `sp_executesql` RPC with a parameter (both
//! served from the parse and plan caches after the first call), a batch never seen before (parse,
//! translate and prepare every time), and a login by access token.
//!
//! Run: `cargo bench -p azure-sql-sandbox --bench sql_engine`. It prints criterion's figures; the
//! ones measured when it was written are in the sandbox's `sql` module report.

use azure_sql_sandbox::identity::{DirectoryEntry, FixedDirectory, PrincipalKind, TokenIdentity};
use azure_sql_sandbox::scripts;
use azure_sql_sandbox::sql::{Engine, Outcome, Value};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn identity() -> DirectoryEntry {
    DirectoryEntry {
        display_name: "customers-identity".into(),
        object_id: "5a7c4b1e-0d3f-4e62-9a1b-2c3d4e5f6a7b".into(),
        app_id: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        kind: PrincipalKind::ManagedIdentity,
    }
}

fn token() -> TokenIdentity {
    identity().token_identity(SystemTime::now() + Duration::from_secs(3600))
}

fn engine() -> Engine {
    let engine = Engine::new(Arc::new(FixedDirectory(vec![identity()])));
    engine
        .create_database("customers")
        .expect("create the database");
    scripts::run_all(
        &engine,
        "customers",
        &[("IDENTITY_NAME".into(), "customers-identity".into())],
    )
    .expect("run the sql/ scripts");
    engine
}

fn rows(out: &[Outcome]) -> usize {
    match &out[0] {
        Outcome::Rows(rs) => rs.rows.len(),
        other => panic!("{other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let engine = engine();
    let mut session = engine
        .login_external("customers", &token())
        .expect("log in");

    c.bench_function("select 5 rows (batch, cached)", |b| {
        b.iter(|| {
            let out = engine.execute(&mut session, "SELECT customer_id FROM dbo.Customer");
            assert_eq!(rows(&out), 5);
            black_box(out)
        })
    });

    c.bench_function("select by id (sp_executesql RPC, cached)", |b| {
        let params = [("@P1".to_string(), Value::Int(3))];
        b.iter(|| {
            let out = engine.execute_rpc(
                &mut session,
                "SELECT first_name, last_name FROM dbo.Customer WHERE customer_id = @P1",
                &params,
            );
            assert_eq!(rows(&out), 1);
            black_box(out)
        })
    });

    let mut n = 0u64;
    c.bench_function(
        "select 5 rows (new batch text: parse + translate + prepare)",
        |b| {
            b.iter(|| {
                n += 1;
                let sql = format!(
                    "SELECT customer_id, first_name FROM dbo.Customer WHERE customer_id <> {n}"
                );
                black_box(engine.execute(&mut session, &sql))
            })
        },
    );

    let token = token();
    c.bench_function("login by access token", |b| {
        b.iter(|| black_box(engine.login_external("customers", &token).expect("log in")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
