//! Discovery documents and JWKS, the SQL side's validator, signing-key rotation, and the rotated token file.

use super::*;

#[tokio::test]
async fn discovery_documents_and_jwks_are_served_and_unknown_tenants_refused() {
    let w = world().await;
    let get = |url: String| {
        let http = w.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (
                status,
                serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap(),
            )
        }
    };
    let authority = w.entra.authority_host();
    let (status, doc) = get(format!(
        "{authority}{}/v2.0/.well-known/openid-configuration",
        w.tenant.id
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["token_endpoint"], w.entra.token_endpoint(&w.tenant.id));
    assert_eq!(doc["issuer"], format!("{authority}{}/v2.0", w.tenant.id));
    let (_, jwks) = get(doc["jwks_uri"].as_str().unwrap().to_string()).await;
    assert_eq!(jwks["keys"][0]["kid"], w.entra.current_key_id().as_str());
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    let (_, v1) = get(format!(
        "{authority}{}/.well-known/openid-configuration",
        w.tenant.id
    ))
    .await;
    assert_eq!(
        v1["issuer"],
        format!("https://sts.windows.net/{}/", w.tenant.id)
    );
    let (_, instance) = get(format!("{authority}common/discovery/instance?api-version=1.1&authorization_endpoint={authority}{}/oauth2/v2.0/authorize", w.tenant.id)).await;
    assert_eq!(
        instance["tenant_discovery_endpoint"],
        format!(
            "{authority}{}/v2.0/.well-known/openid-configuration",
            w.tenant.id
        )
    );
    let (status, body) = get(format!(
        "{authority}nobody.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    ))
    .await;
    assert_refusal(status, &body, 400, 90002);
}

#[tokio::test]
async fn the_validator_refuses_every_token_azure_sql_would_refuse() {
    let w = world().await;
    let validator = w.validator();
    let good = access_token::claims(&w.grantee(), Duration::from_secs(60));
    assert!(validator
        .check(&w.entra.sign_access_token(&good).unwrap())
        .await
        .is_ok());

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut cases: Vec<(&str, AccessTokenClaims, &str)> = Vec::new();
    let mut c = good.clone();
    c.aud = "https://management.azure.com/".into();
    cases.push(("audience", c, "audience"));
    let mut c = good.clone();
    c.tid = "00000000-0000-0000-0000-000000000009".into();
    c.iss = format!("https://sts.windows.net/{}/", c.tid);
    cases.push(("tenant", c, "tenant"));
    let mut c = good.clone();
    c.iss = "https://sts.example.com/elsewhere/".into();
    cases.push(("issuer", c, "issuer"));
    let mut c = good.clone();
    c.iat = now - 120;
    c.nbf = now - 120;
    c.exp = now - 1;
    cases.push(("expired", c, "expired"));
    let mut c = good.clone();
    c.nbf = now + 600;
    c.exp = now + 1200;
    cases.push(("not yet valid", c, "not valid before"));
    // Another tenant's token that has also expired is refused for the tenant: only an otherwise
    // acceptable token is "expired" (Azure SQL's "Token is expired." 18456).
    let mut c = good.clone();
    c.tid = "00000000-0000-0000-0000-000000000009".into();
    c.iss = format!("https://sts.windows.net/{}/", c.tid);
    c.iat = now - 120;
    c.nbf = now - 120;
    c.exp = now - 1;
    cases.push(("tenant and expired", c, "tenant"));
    for (name, claims, reason) in cases {
        let token = w.entra.sign_access_token(&claims).unwrap();
        let rejection = validator.validate(&token).await.unwrap_err();
        assert!(
            rejection.reason.contains(reason),
            "{name}: {}",
            rejection.reason
        );
        let kind = if name == "expired" {
            RejectionKind::Expired
        } else {
            RejectionKind::NotAccepted
        };
        assert_eq!(rejection.kind, kind, "{name}");
    }

    // Signed by a key Entra never published, under Entra's kid, and under its own kid.
    let foreign = azure_sql_sandbox::signing_key::SigningKey::generate().unwrap();
    let forged = foreign
        .sign_with_kid(&good, &w.entra.current_key_id())
        .unwrap();
    assert!(validator
        .check(&forged)
        .await
        .unwrap_err()
        .reason
        .contains("signature"));
    let unknown = foreign.sign(&good).unwrap();
    assert!(validator
        .check(&unknown)
        .await
        .unwrap_err()
        .reason
        .contains("not published"));
    assert!(validator
        .check("garbage")
        .await
        .unwrap_err()
        .reason
        .contains("well-formed"));
    // A token for another tenant's validator.
    let elsewhere = EntraValidator::new(ValidatorOptions::new(
        w.entra.authority_host(),
        "00000000-0000-0000-0000-000000000009",
        w.pki.ca_pem(),
    ))
    .unwrap();
    assert!(elsewhere
        .check(&w.entra.sign_access_token(&good).unwrap())
        .await
        .is_err());
}

#[tokio::test]
async fn an_access_token_stops_validating_the_moment_it_expires() {
    let w = world_with(
        EntraOptions {
            token_lifetime: Duration::from_secs(1),
            ..Default::default()
        },
        Duration::from_secs(3600),
    )
    .await;
    let (_, body) = w.exchange(&w.projected_token()).await;
    let token = body["access_token"].as_str().unwrap().to_string();
    let identity = w.validator().check(&token).await.unwrap();
    let wait = identity
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    let rejection = w.validator().check(&token).await.unwrap_err();
    assert!(rejection.reason.contains("expired"), "{}", rejection.reason);
    assert_eq!(rejection.kind, RejectionKind::Expired);
}

#[tokio::test]
async fn tokens_signed_before_a_key_rotation_stay_valid_and_new_ones_validate_too() {
    let w = world().await;
    let validator = w.validator();
    let (_, body) = w.exchange(&w.projected_token()).await;
    let before = body["access_token"].as_str().unwrap().to_string();
    assert!(validator.check(&before).await.is_ok());
    let old_kid = w.entra.current_key_id();

    w.entra.rotate_signing_key().await.unwrap();
    assert_ne!(w.entra.current_key_id(), old_kid);
    let (_, body) = w.exchange(&w.projected_token()).await;
    let after = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        jsonwebtoken::decode_header(&after).unwrap().kid.unwrap(),
        w.entra.current_key_id()
    );
    // The validator has never seen the new kid: it refetches the JWKS and accepts.
    assert!(validator.check(&after).await.is_ok());
    assert!(validator.check(&before).await.is_ok());
}

#[tokio::test]
async fn the_signing_key_rotates_on_schedule() {
    let w = world_with(
        EntraOptions {
            key_rotation: Some(Duration::from_secs(1)),
            ..Default::default()
        },
        Duration::from_secs(3600),
    )
    .await;
    let first = w.entra.current_key_id();
    let mut rotations = w.entra.signing_key_rotations();
    rotations.changed().await.unwrap();
    assert_ne!(w.entra.current_key_id(), first);
    let jwks: Value = serde_json::from_slice(
        &w.http
            .get(format!(
                "{}{}/discovery/v2.0/keys",
                w.entra.authority_host(),
                w.tenant.id
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&first.as_str()),
        "the previous key must stay published: {kids:?}"
    );
}

#[tokio::test]
async fn the_rotated_token_file_keeps_working_at_entra() {
    let w = world_with(EntraOptions::default(), Duration::from_secs(2)).await;
    let first = w.projected_token();
    let mut writes = w.issuer.token_file_writes();
    writes.borrow_and_update();
    writes.changed().await.unwrap();
    let second = w.projected_token();
    assert_ne!(first, second);
    let (status, body) = w.exchange(&second).await;
    assert_eq!(status, 200, "{body}");
}
