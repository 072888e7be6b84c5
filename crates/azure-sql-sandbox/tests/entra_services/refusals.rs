//! Every refusal Entra gives, with its AADSTS code, status and words.

use super::*;

#[tokio::test]
async fn bad_assertions_are_refused_as_entra_refuses_them() {
    let w = world().await;
    let cases: Vec<(BadToken, u32, &str)> = vec![
        (BadToken::Expired, 700024, "Client assertion is not within its valid time range. Current time: "),
        (BadToken::NotYetValid, 700024, "assertion valid from "),
        (BadToken::WrongAudience, 700212, "AADSTS700212: No matching federated identity record found for presented assertion audience 'api://SomethingElse'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."),
        (BadToken::WrongSubject, 700213, "AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:customers:intruder'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation Trace ID: "),
        (BadToken::OtherIssuer, 700211, "AADSTS700211: No matching federated identity record found for presented assertion issuer 'https://localhost:"),
        (BadToken::ForeignKey, 700027, "[Reason - The key was not found."),
        (BadToken::ForgedSignature, 700027, "[Reason - Key was found, but use of the key to verify the signature failed."),
    ];
    for (kind, code, text) in &cases {
        let assertion = w.issuer.mint_bad(*kind).unwrap();
        let (status, body) = w.exchange(&assertion).await;
        let description = assert_refusal(status, &body, 401, *code);
        assert!(description.contains(text), "{kind:?}: {description}");
        assert_eq!(body["error"], "invalid_client", "{kind:?}");
        assert!(
            !body.to_string().contains(&assertion),
            "{kind:?} echoed the assertion"
        );
    }
    let (status, body) = w.exchange("not.a.jwt").await;
    let description = assert_refusal(status, &body, 400, 50027);
    assert!(description.contains("JWT token is invalid or malformed."));
    assert_eq!(w.stats.snapshot().token_refusals, cases.len() as u64 + 1);
    assert_eq!(w.stats.snapshot().tokens_issued, 0);
}

#[tokio::test]
async fn bad_requests_are_refused_as_entra_refuses_them() {
    let w = world().await;
    let token = w.projected_token();
    let good = w.exchange_form(&token);
    let with = |key: &str, value: Option<&'static str>| -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = good
            .iter()
            .filter(|(k, _)| *k != key)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(v) = value {
            pairs.push((key.to_string(), v.to_string()));
        }
        pairs
    };
    type Case<'a> = (&'a str, Vec<(String, String)>, u16, u32, &'a str);
    let cases: Vec<Case> = vec![
        ("unknown client", with("client_id", Some("00000000-0000-0000-0000-000000000001")), 400, 700016, "Application with identifier '00000000-0000-0000-0000-000000000001' was not found in the directory 'Sandbox'."),
        ("invalid scope", with("scope", Some("https://database.windows.net/user_impersonation")), 400, 70011, "The scope https://database.windows.net/user_impersonation is not valid."),
        ("unknown resource", with("scope", Some("https://vault.azure.net/.default")), 400, 500011, "The resource principal named https://vault.azure.net was not found in the tenant named Sandbox."),
        ("missing scope", with("scope", None), 400, 900144, "The request body must contain the following parameter: 'scope'."),
        ("missing grant type", with("grant_type", None), 400, 900144, "'grant_type'"),
        ("missing client id", with("client_id", None), 400, 900144, "'client_id'"),
        ("wrong grant type", with("grant_type", Some("password")), 400, 70003, "unsupported grant type 'password'"),
        ("missing assertion type", with("client_assertion_type", None), 400, 900144, "'client_assertion_type'"),
    ];
    for (name, pairs, status_expected, code, text) in cases {
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (status, body) = w.post(&w.tenant.id, &pairs).await;
        let description = assert_refusal(status, &body, status_expected, code);
        assert!(description.contains(text), "{name}: {description}");
    }

    let (status, body) = w.post("11111111-2222-3333-4444-555555555555", &good).await;
    let description = assert_refusal(status, &body, 400, 90002);
    assert!(
        description.contains("Tenant '11111111-2222-3333-4444-555555555555' not found."),
        "{description}"
    );

    let (status, body) = w
        .post(
            &w.tenant.id,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &w.app.client_id),
                ("scope", SCOPE),
            ],
        )
        .await;
    assert_refusal(status, &body, 401, 7000218);

    let (status, body) = w
        .post(
            &w.tenant.id,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &w.app.client_id),
                ("scope", SCOPE),
                ("client_secret", "guess"),
            ],
        )
        .await;
    let description = assert_refusal(status, &body, 401, 7000215);
    assert!(!description.contains("guess"));
}

#[tokio::test]
async fn an_app_without_a_matching_federated_credential_is_refused() {
    let w = world().await;
    let other = w.directory.register_app(&w.tenant, "no-federation");
    let token = w.projected_token();
    let (status, body) = w
        .post(
            &w.tenant.id,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &other.client_id),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &token),
                ("scope", SCOPE),
            ],
        )
        .await;
    // No credential at all: none has the issuer, which the answer names (and nothing else).
    let description = assert_refusal(status, &body, 401, 700211);
    assert!(
        description.starts_with(&format!(
            "AADSTS700211: No matching federated identity record found for presented assertion issuer '{}'. Please check",
            w.issuer.url()
        )),
        "{description}"
    );
    assert!(
        !description.contains("system:serviceaccount"),
        "{description}"
    );

    // Revoking the federation stops the exchange at once.
    w.directory
        .remove_federated_credentials(&w.app.client_id)
        .unwrap();
    let (status, body) = w.exchange(&token).await;
    assert_refusal(status, &body, 401, 700211);
}

#[tokio::test]
async fn an_issuer_whose_discovery_document_names_another_issuer_is_refused_with_50166() {
    let w = world().await;
    // A cluster whose tokens say `iss` without the trailing slash its discovery document (and
    // every AKS issuer) carries, and a federated credential written the same way: the credential
    // matches, but the issuer's metadata is not this issuer's.
    let assertion = w.trusted_assertion_from(w.issuer.url().trim_end_matches('/'));
    let (status, body) = w.exchange(&assertion).await;
    let description = assert_refusal(status, &body, 400, 50166);
    assert!(
        description
            .starts_with("AADSTS50166: Request to External OIDC endpoint failed. Trace ID: "),
        "{description}"
    );
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(w.stats.snapshot().tokens_issued, 0);
    // The issuer as it publishes itself still works.
    let (status, _) = w.exchange(&w.projected_token()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_unreachable_issuer_is_refused_with_50166() {
    let w = world().await;
    // An issuer URL nobody serves: a port bound, then closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let assertion = w.trusted_assertion_from(&format!("https://localhost:{port}/gone/"));
    let (status, body) = w.exchange(&assertion).await;
    let description = assert_refusal(status, &body, 400, 50166);
    assert!(
        !description.contains("localhost"),
        "names nothing: {description}"
    );
}

#[tokio::test]
async fn remote_keys_refuse_a_discovery_document_naming_another_issuer() {
    use azure_sql_sandbox::entra::remote_keys::RemoteKeys;
    let w = world().await;
    let discovery = format!("{}.well-known/openid-configuration", w.issuer.url());
    let kid = w.issuer.key_id().to_string();
    let keys = RemoteKeys::new(
        w.http.clone(),
        discovery.clone(),
        w.issuer.url().to_string(),
        Duration::ZERO,
    );
    assert!(keys.get(&kid).await.unwrap().is_some(), "the right issuer");
    let wrong = RemoteKeys::new(
        w.http.clone(),
        discovery,
        w.issuer.url().trim_end_matches('/').to_string(),
        Duration::ZERO,
    );
    let error = wrong.get(&kid).await.map(|_| ()).unwrap_err();
    assert!(
        error
            .reason
            .contains("the discovery document names the issuer"),
        "{error}"
    );
}

#[tokio::test]
async fn a_subject_that_matches_only_without_case_is_refused_with_7002138() {
    let w = world().await;
    let mut spec = w.issuer.token_spec();
    spec.subject = "system:serviceaccount:Customers:customers".into();
    let assertion = w.issuer.mint_with(&spec).unwrap();
    let (status, body) = w.exchange(&assertion).await;
    let description = assert_refusal(status, &body, 401, 7002138);
    assert!(
        description.starts_with("AADSTS7002138: No matching federated identity record found for presented assertion subject 'system:serviceaccount:Customers:customers'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison."),
        "{description}"
    );
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(w.stats.snapshot().tokens_issued, 0);
}

#[tokio::test]
async fn the_client_request_id_comes_back_as_the_correlation_id() {
    let w = world().await;
    let correlation = uuid::Uuid::new_v4().to_string();
    let response = w
        .http
        .post(w.entra.token_endpoint(&w.tenant.id))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("client-request-id", &correlation)
        .body(form(&w.exchange_form("not.a.jwt")))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["correlation_id"], correlation.as_str());
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains(&format!("Correlation ID: {correlation}")));
}
