//! How much load the Entra stand-in takes, so the library's benchmarks can tell whether they
//! measure the client or the stand-in. Run with
//! `cargo bench -p azure-sql-sandbox --bench entra_throughput`.
//!
//! Measures, on one in-process sandbox Entra (RS256, 2048-bit keys, HTTPS over loopback with a
//! keep-alive client trusting the sandbox CA):
//! - the latency of one federated token exchange, sequentially (p50/p99);
//! - token exchanges per second with 64 concurrent clients;
//! - the latency of the SQL side's access-token validation with its keys cached (p50/p99).

use azure_sql_sandbox::entra::directory::{EntraDirectory, FederatedCredential};
use azure_sql_sandbox::entra::{Entra, EntraOptions};
use azure_sql_sandbox::issuer::{Issuer, IssuerOptions, TOKEN_EXCHANGE_AUDIENCE};
use azure_sql_sandbox::pki::Pki;
use azure_sql_sandbox::{Faults, Stats};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pki = Pki::generate()?;
    let dir = std::env::temp_dir().join(format!("entra-bench-{}", uuid::Uuid::new_v4()));
    let issuer = Issuer::start(&pki, IssuerOptions::new(dir.join("token"))).await?;
    let directory = Arc::new(EntraDirectory::new());
    let tenant = directory.add_tenant("Bench", "bench");
    let app = directory.register_app(&tenant, "bench-identity");
    directory.add_federated_credential(
        &app.client_id,
        FederatedCredential {
            name: "bench".into(),
            issuer: issuer.url().into(),
            subject: issuer.subject(),
            audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
        },
    )?;
    let stats = Stats::default();
    let entra = Entra::start(
        &pki,
        directory,
        EntraOptions::default(),
        Faults::default(),
        stats.clone(),
    )
    .await?;
    let assertion = std::fs::read_to_string(issuer.token_file())?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &app.client_id)
        .append_pair(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .append_pair("client_assertion", &assertion)
        .append_pair("scope", "https://database.windows.net/.default")
        .finish();
    let url = entra.token_endpoint(&tenant.id);
    let http = pki.http_client()?;
    let exchange = move |http: reqwest::Client| {
        let url = url.clone();
        let body = body.clone();
        async move {
            let response = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await?;
            anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
            let bytes = response.bytes().await?;
            let value: serde_json::Value = serde_json::from_slice(&bytes)?;
            Ok::<String, anyhow::Error>(
                value["access_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        }
    };

    // Warm up (TLS session, issuer keys fetched once).
    for _ in 0..20 {
        exchange(http.clone()).await?;
    }

    let n = 500;
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        exchange(http.clone()).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "token exchange, sequential ({n} requests): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );

    let concurrency = 64;
    let total = 2000;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let http = http.clone();
        let exchange = exchange.clone();
        let share = total / concurrency + usize::from(worker < total % concurrency);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                exchange(http.clone()).await?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    println!(
        "token exchange, {concurrency} concurrent clients ({total} requests): {:.0} tokens/s",
        total as f64 / elapsed.as_secs_f64()
    );

    let token = exchange(http.clone()).await?;
    let validator = entra.validator(&tenant.id, pki.ca_pem())?;
    validator
        .check(&token)
        .await
        .map_err(|r| anyhow::anyhow!(r.reason))?;
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        validator
            .check(&token)
            .await
            .map_err(|r| anyhow::anyhow!(r.reason))?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "access-token validation, keys cached ({n} checks): p50 {:.1} µs, p99 {:.1} µs",
        percentile(&latencies, 0.50).as_secs_f64() * 1e6,
        percentile(&latencies, 0.99).as_secs_f64() * 1e6
    );
    println!(
        "(tokens issued: {}; {} CPU cores available)",
        stats.snapshot().tokens_issued,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
