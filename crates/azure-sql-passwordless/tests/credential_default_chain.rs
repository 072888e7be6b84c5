//! `Active Directory Default` against the sandbox: the chain picks the first source present, in
//! the documented order, and sticks to it.

mod common;

use azure_sql_passwordless::{provider_for_with, TokenProvider};
use common::identity::*;
use std::sync::Arc;

const DEFAULT: &str = "Server=tcp:myserver.database.windows.net,1433;Database=customers;\
                       Authentication=Active Directory Default";

fn chain(id: &Identity, vars: Vec<(String, String)>) -> Arc<dyn TokenProvider> {
    provider_for_with(&id.config(DEFAULT), &environment(vars))
        .expect("builds")
        .expect("a provider")
}

#[tokio::test]
async fn in_a_pod_the_chain_finds_the_workload_identity() {
    let id = Identity::start().await;
    let provider = chain(&id, id.workload_env());
    assert_eq!(provider.kind(), "default chain");
    let token = provider.fetch(SCOPE).await.expect("a token");
    assert_eq!(provider.kind(), "default chain: workload identity");
    assert_eq!(claims(token.token.secret())["appid"], id.client_id.as_str());
}

/// The variables of a service principal on top of a pod's workload identity variables.
fn both(id: &Identity, client_id: &str, secret: &str) -> Vec<(String, String)> {
    let mut vars = id.workload_env();
    vars.retain(|(k, _)| k != "AZURE_CLIENT_ID");
    vars.push(("AZURE_CLIENT_ID".into(), client_id.to_owned()));
    vars.push(("AZURE_CLIENT_SECRET".into(), secret.to_owned()));
    vars
}

#[tokio::test]
async fn an_environment_service_principal_comes_first_and_the_choice_sticks() {
    let id = Identity::start().await;
    let sp = id
        .directory
        .create_service_principal(&id.tenant, "ci-runner");
    let provider = chain(&id, both(&id, &sp.client_id, &sp.secret));
    let token = provider.fetch(SCOPE).await.expect("a token");
    assert_eq!(
        provider.kind(),
        "default chain: environment service principal"
    );
    assert_eq!(claims(token.token.secret())["appid"], sp.client_id.as_str());
    assert!(!format!("{provider:?}").contains(&sp.secret));

    // Sticky: the next fetches go to the same source, each one request.
    for _ in 0..3 {
        let token = provider.fetch(SCOPE).await.expect("a token");
        assert_eq!(claims(token.token.secret())["appid"], sp.client_id.as_str());
    }
    let stats = id.stats();
    assert_eq!((stats.secret_grants, stats.federated_grants), (4, 0));
}

#[tokio::test]
async fn a_configured_source_that_fails_stops_the_chain_with_its_code() {
    let id = Identity::start().await;
    let sp = id
        .directory
        .create_service_principal(&id.tenant, "ci-runner");
    let provider = chain(&id, both(&id, &sp.client_id, "wrong-secret"));
    let error = provider.fetch(SCOPE).await.expect_err("wrong secret");
    assert_eq!(
        entra_error_code(&error).as_deref(),
        Some("7000215"),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("environment service principal: failed"),
        "{text}"
    );
    assert!(
        !text.contains("workload identity"),
        "the chain stopped at the first configured source: {text}"
    );
    assert_eq!(provider.kind(), "default chain", "nothing chosen");
    assert_eq!(id.stats().federated_grants, 0);
}
