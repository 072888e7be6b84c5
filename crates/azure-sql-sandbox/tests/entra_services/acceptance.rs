//! Acceptance: the projected token (and client secrets) exchanged for Azure SQL tokens, by hand and with azure_identity's credentials.

use super::*;

#[tokio::test]
async fn the_projected_token_is_exchanged_for_a_v1_azure_sql_token() {
    let w = world_with(
        EntraOptions {
            token_lifetime: Duration::from_secs(5),
            ..Default::default()
        },
        Duration::from_secs(3600),
    )
    .await;
    let (status, body) = w.exchange(&w.projected_token()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 5);
    assert_eq!(body["ext_expires_in"], 5);
    let token = body["access_token"].as_str().unwrap();

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(
        header.kid.as_deref(),
        Some(w.entra.current_key_id().as_str())
    );
    let claims = claims_of(token);
    assert_eq!(claims.aud, "https://database.windows.net/");
    assert_eq!(
        claims.iss,
        format!("https://sts.windows.net/{}/", w.tenant.id)
    );
    assert_eq!(claims.tid, w.tenant.id);
    assert_eq!(claims.oid, w.app.object_id);
    assert_eq!(claims.sub, w.app.object_id);
    assert_eq!(claims.appid, w.app.client_id);
    assert_eq!(claims.appidacr, "2");
    assert_eq!(claims.idtyp, "app");
    assert_eq!(claims.ver, "1.0");
    assert_eq!(claims.exp - claims.iat, 5);

    let identity = w.validator().check(token).await.unwrap();
    assert_eq!(identity.object_id, w.app.object_id);
    assert_eq!(identity.app_id.as_deref(), Some(w.app.client_id.as_str()));
    assert_eq!(identity.tenant_id, w.tenant.id);
    assert_eq!(
        identity.expires_at,
        UNIX_EPOCH + Duration::from_secs(claims.exp)
    );

    let stats = w.stats.snapshot();
    assert_eq!(
        (
            stats.token_requests,
            stats.federated_grants,
            stats.tokens_issued,
            stats.token_refusals
        ),
        (1, 1, 1, 0)
    );
}

#[tokio::test]
async fn the_double_slash_scope_sql_clients_send_is_the_same_resource_and_the_domain_names_the_tenant(
) {
    let w = world().await;
    let token = w.projected_token();
    let mut pairs = w.exchange_form(&token);
    pairs.retain(|(k, _)| *k != "scope");
    pairs.push(("scope", "https://database.windows.net//.default"));
    let (status, body) = w.post("sandbox.onmicrosoft.com", &pairs).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap()).aud,
        "https://database.windows.net/"
    );
}

#[tokio::test]
async fn the_v1_endpoint_takes_a_resource_and_answers_with_string_times() {
    let w = world().await;
    let token = w.projected_token();
    let mut pairs = w.exchange_form(&token);
    pairs.retain(|(k, _)| *k != "scope");
    pairs.push(("resource", "https://database.windows.net/"));
    let response = w
        .http
        .post(format!(
            "{}{}/oauth2/token",
            w.entra.authority_host(),
            w.tenant.id
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["resource"], "https://database.windows.net/");
    assert_eq!(body["expires_in"], "3600");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(body["expires_on"], claims.exp.to_string());
    assert_eq!(body["not_before"], claims.nbf.to_string());

    pairs.retain(|(k, _)| *k != "resource");
    pairs.push(("resource", "https://vault.azure.net"));
    let response = w
        .http
        .post(format!(
            "{}{}/oauth2/token",
            w.entra.authority_host(),
            w.tenant.id
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_refusal(status, &body, 400, 500011);
}

#[tokio::test]
async fn azure_identity_workload_and_assertion_credentials_get_tokens() {
    let w = world().await;
    let workload = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: w.client_options(),
        },
        client_id: Some(w.app.client_id.clone()),
        tenant_id: Some(w.tenant.id.clone()),
        token_file_path: Some(w.issuer.token_file().to_path_buf()),
    }))
    .unwrap();
    let token = workload.get_token(&[SCOPE], None).await.unwrap();
    let identity = w.validator().check(token.token.secret()).await.unwrap();
    assert_eq!(identity.object_id, w.app.object_id);

    #[derive(Debug)]
    struct FromFile(PathBuf);
    #[async_trait::async_trait]
    impl ClientAssertion for FromFile {
        async fn secret(
            &self,
            _: Option<azure_core::http::ClientMethodOptions<'_>>,
        ) -> azure_core::Result<String> {
            Ok(std::fs::read_to_string(&self.0)?)
        }
    }
    let assertion = ClientAssertionCredential::new(
        w.tenant.id.clone(),
        w.app.client_id.clone(),
        FromFile(w.issuer.token_file().to_path_buf()),
        Some(ClientAssertionCredentialOptions {
            client_options: w.client_options(),
        }),
    )
    .unwrap();
    let token = assertion.get_token(&[SCOPE], None).await.unwrap();
    assert!(w.validator().check(token.token.secret()).await.is_ok());

    // A refusal reaches azure_identity's caller with Entra's code and text.
    w.issuer
        .write_token_file(&w.issuer.mint_bad(BadToken::Expired).unwrap())
        .unwrap();
    let refused = ClientAssertionCredential::new(
        w.tenant.id.clone(),
        w.app.client_id.clone(),
        FromFile(w.issuer.token_file().to_path_buf()),
        Some(ClientAssertionCredentialOptions {
            client_options: w.client_options(),
        }),
    )
    .unwrap();
    let err = refused
        .get_token(&[SCOPE], None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("AADSTS700024"), "{err}");
}

#[tokio::test]
async fn client_secret_grants_work_with_azure_identity_and_refuse_a_wrong_secret() {
    let w = world().await;
    let sp = w.directory.create_service_principal(&w.tenant, "reporting");
    let credential = ClientSecretCredential::new(
        &sp.tenant_id,
        sp.client_id.clone(),
        Secret::new(sp.secret.clone()),
        Some(ClientSecretCredentialOptions {
            client_options: w.client_options(),
        }),
    )
    .unwrap();
    let token = credential.get_token(&[SCOPE], None).await.unwrap();
    let claims = claims_of(token.token.secret());
    assert_eq!(claims.appidacr, "1");
    assert_eq!(claims.oid, sp.object_id);
    assert!(w.validator().check(token.token.secret()).await.is_ok());

    let wrong = ClientSecretCredential::new(
        &sp.tenant_id,
        sp.client_id.clone(),
        Secret::new("not-the-secret"),
        Some(ClientSecretCredentialOptions {
            client_options: w.client_options(),
        }),
    )
    .unwrap();
    let err = wrong
        .get_token(&[SCOPE], None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("AADSTS7000215"), "{err}");
    assert!(!err.contains(&sp.secret));
    assert_eq!(w.stats.snapshot().secret_grants, 2);
}

#[tokio::test]
async fn an_expired_client_secret_is_refused_with_7000222_and_a_valid_one_still_works() {
    let w = world().await;
    let sp = w.directory.create_service_principal(&w.tenant, "reporting");
    let expired = w
        .directory
        .add_client_secret_valid_for(&sp.client_id, std::time::Duration::ZERO)
        .unwrap();
    let form = |secret: &str| {
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".to_string(), sp.client_id.clone()),
            ("scope".to_string(), SCOPE.to_string()),
            ("client_secret".to_string(), secret.to_string()),
        ]
    };
    let pairs = form(&expired);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, body) = w.post(&w.tenant.id, &pairs).await;
    let description = assert_refusal(status, &body, 401, 7000222);
    assert!(
        description.starts_with(&format!(
            "AADSTS7000222: The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret",
            sp.client_id
        )),
        "{description}"
    );
    assert_eq!(body["error"], "invalid_client");
    assert!(!body.to_string().contains(&expired));
    // The application's other secret is unaffected.
    let pairs = form(&sp.secret);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _) = w.post(&w.tenant.id, &pairs).await;
    assert_eq!(status, 200);
}
