//! Managed identity: IMDS and the App Service endpoint.

use super::*;

#[tokio::test]
async fn imds_requires_the_metadata_header_and_issues_managed_identity_tokens() {
    let w = world().await;
    let mi = w
        .directory
        .create_managed_identity(&w.tenant, "batch-job", false);
    let url = w.entra.imds_endpoint();
    let plain = reqwest::Client::new();
    let get = |query: Vec<(&'static str, String)>, metadata: bool| {
        let with_query = url::Url::parse_with_params(&url, &query).unwrap();
        let mut request = plain.get(with_query);
        if metadata {
            request = request.header("Metadata", "true");
        }
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            (
                status,
                serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap(),
            )
        }
    };
    let base = vec![
        ("api-version", "2018-02-01".to_string()),
        ("resource", "https://database.windows.net/".to_string()),
    ];

    let (status, body) = get(base.clone(), false).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "bad_request_102");
    assert_eq!(
        body["error_description"],
        "Required metadata header not specified"
    );

    let mut q = base.clone();
    q.push(("client_id", mi.client_id.clone()));
    let (status, body) = get(q, true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], mi.client_id.as_str());
    assert_eq!(body["resource"], "https://database.windows.net/");
    let expires_on: u64 = body["expires_on"].as_str().unwrap().parse().unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(expires_on, claims.exp);
    assert_eq!(claims.oid, mi.object_id);
    assert_eq!(claims.xms_mirid.as_deref(), Some(mi.resource_id.as_str()));
    assert!(w
        .validator()
        .check(body["access_token"].as_str().unwrap())
        .await
        .is_ok());

    // The only user-assigned identity is the default; by object id and resource id too.
    assert_eq!(get(base.clone(), true).await.0, 200);
    let mut q = base.clone();
    q.push(("msi_res_id", mi.resource_id.clone()));
    assert_eq!(get(q, true).await.0, 200);

    let mut q = base.clone();
    q.push(("client_id", "00000000-0000-0000-0000-00000000dead".into()));
    let (status, body) = get(q, true).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("Identity not found"))
    );

    let (status, body) = get(vec![("api-version", "2018-02-01".into())], true).await;
    assert_eq!(status, 400);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("'resource'"));
    let (status, body) = get(
        vec![
            ("api-version", "2018-02-01".into()),
            ("resource", "https://vault.azure.net".into()),
        ],
        true,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_resource"))
    );

    w.directory
        .create_managed_identity(&w.tenant, "second", false);
    let (status, body) = get(base.clone(), true).await;
    assert_eq!(status, 400);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("Multiple user assigned identities exist"));

    let stats = w.stats.snapshot();
    assert_eq!(stats.tokens_issued, 3);
    assert!(stats.managed_identity_grants >= 7);
}

#[tokio::test]
async fn the_app_service_endpoint_checks_its_secret_header() {
    let w = world().await;
    let mi = w
        .directory
        .create_managed_identity(&w.tenant, "web-app", false);
    let plain = reqwest::Client::new();
    let query = [
        ("api-version", "2019-08-01"),
        ("resource", "https://database.windows.net"),
        ("client_id", mi.client_id.as_str()),
    ];
    let url = url::Url::parse_with_params(&w.entra.identity_endpoint(), &query).unwrap();
    let r = plain.get(url.clone()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = plain
        .get(url)
        .header("X-IDENTITY-HEADER", w.entra.identity_header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(body["expires_on"].as_str().unwrap().parse::<u64>().is_ok());
}
