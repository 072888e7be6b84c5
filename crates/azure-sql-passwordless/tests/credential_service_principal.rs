//! A service principal with a client secret against the sandbox's Entra: tokens for the right
//! app, refusals with their AADSTS codes, and no secret in any `Debug` or error.

mod common;

use azure_sql_passwordless::provider_for_with;
use azure_sql_passwordless::{Authentication, Config};
use common::identity::*;

const SERVER: &str = "Server=tcp:myserver.database.windows.net,1433;Database=customers";

fn sp_config(id: &Identity, client_id: &str, secret: &str) -> Config {
    let mut config = id.config(SERVER);
    config
        .authentication(Authentication::ServicePrincipal)
        .user_id(client_id)
        .password(secret)
        .tenant_id(id.tenant_id())
        .authority_host(id.authority_host());
    config
}

#[tokio::test]
async fn a_client_secret_gets_a_token_for_its_app() {
    let id = Identity::start().await;
    let sp = id
        .directory
        .create_service_principal(&id.tenant, "reporting-app");
    let config = sp_config(&id, &sp.client_id, &sp.secret);
    let provider = provider_for_with(&config, &environment(Vec::new()))
        .expect("builds")
        .expect("a provider");
    assert_eq!(provider.kind(), "service principal");
    let shown = format!("{provider:?} {config:?} {config}");
    assert!(
        !shown.contains(&sp.secret),
        "Debug shows no secret: {shown}"
    );

    let token = provider.fetch(SCOPE).await.expect("a token");
    assert_eq!(claims(token.token.secret())["appid"], sp.client_id.as_str());
    provider.fetch(SCOPE).await.expect("again");
    assert_eq!(id.stats().secret_grants, 2, "one request per fetch");
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_7000215_and_not_shown() {
    let id = Identity::start().await;
    let sp = id
        .directory
        .create_service_principal(&id.tenant, "reporting-app");
    let wrong = "not-the-secret-Q7";
    let config = sp_config(&id, &sp.client_id, wrong);
    let provider = provider_for_with(&config, &environment(Vec::new()))
        .expect("builds")
        .expect("provider");
    let error = provider.fetch(SCOPE).await.expect_err("wrong secret");
    assert_eq!(
        entra_error_code(&error).as_deref(),
        Some("7000215"),
        "{error}"
    );
    assert!(
        !format!("{error} {error:?}").contains(wrong),
        "the secret never appears"
    );
}

#[tokio::test]
async fn the_tenant_and_authority_come_from_the_environment() {
    let id = Identity::start().await;
    let sp = id
        .directory
        .create_service_principal(&id.tenant, "reporting-app");
    let mut config = id.config(SERVER);
    config
        .authentication(Authentication::ServicePrincipal)
        .user_id(sp.client_id.clone())
        .password(sp.secret.clone());
    let env = environment(vec![
        ("AZURE_TENANT_ID".into(), id.tenant_id()),
        ("AZURE_AUTHORITY_HOST".into(), id.authority_host()),
    ]);
    let provider = provider_for_with(&config, &env)
        .expect("builds")
        .expect("provider");
    provider.fetch(SCOPE).await.expect("a token");
}
