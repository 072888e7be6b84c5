//! Workload identity against the sandbox's Entra and Kubernetes issuer: the projected token file
//! is exchanged for an access token, read afresh on every fetch (a rotated file counts at once),
//! and Entra's refusals surface with their AADSTS codes.

mod common;

use azure_sql_passwordless::Config;
use azure_sql_passwordless::{provider_for_with, TokenProvider};
use azure_sql_sandbox::issuer::BadToken;
use common::identity::*;
use std::sync::Arc;

fn provider(config: &Config, vars: Vec<(String, String)>) -> Arc<dyn TokenProvider> {
    provider_for_with(config, &environment(vars))
        .expect("the provider builds")
        .expect("workload identity has a provider")
}

#[tokio::test]
async fn the_projected_token_is_exchanged_once_per_fetch() {
    let id = Identity::start().await;
    let provider = provider(&id.config(WORKLOAD), id.workload_env());
    assert_eq!(provider.kind(), "workload identity");

    let before = id.stats().federated_grants;
    let token = provider.fetch(SCOPE).await.expect("a token");
    let claims = claims(token.token.secret());
    assert_eq!(claims["appid"], id.client_id.as_str(), "{claims}");
    assert_eq!(claims["tid"], id.tenant_id().as_str(), "{claims}");
    let lifetime = token.expires_on - time::OffsetDateTime::now_utc();
    assert!(
        lifetime > time::Duration::seconds(20) && lifetime <= time::Duration::seconds(31),
        "{lifetime}"
    );

    provider.fetch(SCOPE).await.expect("a second token");
    assert_eq!(
        id.stats().federated_grants - before,
        2,
        "no hidden cache: one exchange per fetch"
    );
}

#[tokio::test]
async fn a_rotated_token_file_is_read_afresh() {
    let id = Identity::start().await;
    let provider = provider(&id.config(WORKLOAD), id.workload_env());
    provider
        .fetch(SCOPE)
        .await
        .expect("the projected token works");

    // The file now holds a token for another service account: the very next fetch presents it.
    let intruder = id.issuer.mint_bad(BadToken::WrongSubject).expect("mint");
    id.issuer
        .write_token_file(&intruder)
        .expect("rewrite the file");
    let error = provider
        .fetch(SCOPE)
        .await
        .expect_err("Entra refuses the other subject");
    assert_eq!(
        entra_error_code(&error).as_deref(),
        Some("700213"),
        "{error}"
    );
    assert!(error.to_string().contains("AADSTS700213"), "{error}");
    assert!(
        !format!("{error} {error:?}").contains(&intruder),
        "the assertion is never shown"
    );

    // The kubelet writes a good one again: accepted at once.
    id.issuer.rotate_now().expect("rotate");
    provider.fetch(SCOPE).await.expect("the fresh file works");
}

#[tokio::test]
async fn an_expired_assertion_is_refused_with_700024() {
    let id = Identity::start().await;
    let provider = provider(&id.config(WORKLOAD), id.workload_env());
    let expired = id.issuer.mint_bad(BadToken::Expired).expect("mint");
    id.issuer.write_token_file(&expired).expect("rewrite");
    let error = provider.fetch(SCOPE).await.expect_err("expired");
    assert_eq!(
        entra_error_code(&error).as_deref(),
        Some("700024"),
        "{error}"
    );
}

#[tokio::test]
async fn unknown_client_and_tenant_are_refused_with_their_codes() {
    let id = Identity::start().await;
    let mut config = id.config(WORKLOAD);
    config.user_id("00000000-0000-0000-0000-0000000000aa");
    let error = provider(&config, id.workload_env())
        .fetch(SCOPE)
        .await
        .expect_err("unknown client");
    assert_eq!(
        entra_error_code(&error).as_deref(),
        Some("700016"),
        "{error}"
    );

    let mut config = id.config(WORKLOAD);
    config.tenant_id("11111111-2222-3333-4444-555555555555");
    let error = provider(&config, id.workload_env())
        .fetch(SCOPE)
        .await
        .expect_err("unknown tenant");
    assert_eq!(
        entra_error_code(&error).as_deref(),
        Some("90002"),
        "{error}"
    );
}

#[tokio::test]
async fn settings_in_code_replace_the_environment() {
    let id = Identity::start().await;
    let mut config = id.config(WORKLOAD);
    config
        .user_id(id.client_id.clone())
        .tenant_id(id.tenant_id())
        .authority_host(id.authority_host())
        .federated_token_file(id.issuer.token_file());
    provider(&config, Vec::new())
        .fetch(SCOPE)
        .await
        .expect("configured entirely in code");
}

#[tokio::test]
async fn without_the_sandbox_ca_the_https_certificate_is_refused() {
    let id = Identity::start().await;
    let config: Config = WORKLOAD.parse().expect("parses");
    let error = provider(&config, id.workload_env())
        .fetch(SCOPE)
        .await
        .expect_err("untrusted CA");
    let text = error.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("unknownissuer"),
        "{error}"
    );
    assert_eq!(id.stats().federated_grants, 0);
}
