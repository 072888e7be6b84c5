//! Injected faults, load, and secrets kept out of the logs.

use super::*;

#[tokio::test]
async fn injected_failures_and_stalls_apply_to_the_token_endpoint_and_imds() {
    let w = world().await;
    let token = w.projected_token();
    w.faults
        .fail_token_requests(2, TokenEndpointFault::unavailable());
    let (status, body) = w.exchange(&token).await;
    assert_refusal(status, &body, 503, 90033);
    assert_eq!(body["error"], "temporarily_unavailable");

    w.directory.create_managed_identity(&w.tenant, "mi", true);
    let r = reqwest::Client::new()
        .get(
            url::Url::parse_with_params(
                &w.entra.imds_endpoint(),
                &[
                    ("api-version", "2018-02-01"),
                    ("resource", "https://database.windows.net"),
                ],
            )
            .unwrap(),
        )
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);

    let (status, _) = w.exchange(&token).await;
    assert_eq!(status, 200, "faults are consumed one request at a time");

    w.faults.set_token_stall(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let (status, _) = w.exchange(&token).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    w.faults.set_token_stall(None);
}

#[tokio::test]
async fn hundreds_of_concurrent_exchanges_all_succeed() {
    let w = Arc::new(world().await);
    let token = w.projected_token();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let w = w.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move { w.exchange(&token).await.0 }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(w.stats.snapshot().tokens_issued, 200);
}

#[tokio::test]
async fn tokens_assertions_and_secrets_never_reach_the_logs() {
    let w = world().await;
    let assertion = w.projected_token();
    let (_, body) = w.exchange(&assertion).await;
    let access_token = body["access_token"].as_str().unwrap().to_string();
    assert!(w.validator().check(&access_token).await.is_ok());
    let expired = w.issuer.mint_bad(BadToken::Expired).unwrap();
    w.exchange(&expired).await;
    let sp = w.directory.create_service_principal(&w.tenant, "logged");
    w.post(
        &w.tenant.id,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &sp.client_id),
            ("scope", SCOPE),
            ("client_secret", &sp.secret),
        ],
    )
    .await;

    let captured = String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned();
    assert!(
        captured.contains("issued an access token"),
        "the capture works"
    );
    for (what, token) in [
        ("assertion", &assertion),
        ("access token", &access_token),
        ("expired assertion", &expired),
    ] {
        // Any signature segment is unique to its token.
        let signature = token.rsplit('.').next().unwrap();
        assert!(!captured.contains(signature), "the {what} reached the logs");
    }
    // A client secret is no JWT (its alphabet has '.', so a '.'-segment of it can be a single
    // character that any log line contains): look for all of it.
    assert!(
        !captured.contains(&sp.secret),
        "the client secret reached the logs"
    );
    assert!(!format!("{sp:?}").contains(&sp.secret));
}
