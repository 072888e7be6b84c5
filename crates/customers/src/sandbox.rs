//! `--sandbox`: starts the project's local stand-ins of Entra ID, the Kubernetes token
//! projection and Azure SQL in-process (`azure-sql-sandbox`) and configures the library for
//! them exactly as a pod with Workload Identity is configured: the projected token file, the
//! workload identity's client and tenant, Entra's address, and the stand-in's CA as an extra
//! trusted root. Nothing else changes: the run then takes the same path to the rows as against
//! Azure (token exchange over HTTPS, TLS, the TDS login with the token through the gateway's
//! redirect, the query).
//!
//! Only in builds with the `sandbox` feature (the default for `cargo run`, off in the container
//! image).

use anyhow::Context;
use azure_sql_passwordless::Config;
use azure_sql_sandbox::{Sandbox, SandboxOptions};
use std::time::Duration;

/// Starts the sandbox with access tokens living `token_lifetime`, and the library
/// configuration for its workload identity.
pub async fn start(token_lifetime: Duration) -> anyhow::Result<(Sandbox, Config)> {
    let sandbox = Sandbox::start(SandboxOptions {
        token_lifetime,
        ..SandboxOptions::default()
    })
    .await
    .context("could not start the local sandbox")?;
    let config = config_for(&sandbox).context("could not configure the library for the sandbox")?;
    let env = sandbox.env();
    tracing::info!(
        server = %env.server,
        database = %env.database,
        authority = %env.authority_host,
        token_file = %env.federated_token_file.display(),
        token_lifetime_s = token_lifetime.as_secs(),
        "sandbox: Entra ID, the Kubernetes token projection and Azure SQL are running in-process"
    );
    Ok((sandbox, config))
}

/// The configuration a pod would have: the sandbox's workload identity connection string, with
/// the webhook's variables given as settings (the process environment is left alone).
fn config_for(sandbox: &Sandbox) -> anyhow::Result<Config> {
    let env = sandbox.env();
    let mut config: Config = env.connection_string.parse()?;
    config.trust_root_certificate_file(&env.ca_pem_path)?;
    config
        .tenant_id(&env.tenant_id)
        .authority_host(&env.authority_host)
        .federated_token_file(&env.federated_token_file)
        .user_id(&env.client_id)
        .application_name("customers");
    Ok(config)
}
