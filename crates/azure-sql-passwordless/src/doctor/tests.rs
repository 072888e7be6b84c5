use super::report::{Outcome, Walk, ALL_STEPS, SETTINGS};
use super::*;
use std::time::Duration;

#[test]
fn table_names_take_identifiers_and_brackets_only() {
    let t: TableName = "dbo.Customer".parse().expect("plain");
    assert_eq!(t.quoted(), "[dbo].[Customer]");
    assert_eq!(t.to_string(), "dbo.Customer");
    let t: TableName = "[sales].[Order Lines]".parse().expect("brackets");
    assert_eq!(t.quoted(), "[sales].[Order Lines]");
    let t: TableName = "[a]]b]".parse().expect("escaped bracket");
    assert_eq!(t.quoted(), "[a]]b]");
    assert_eq!(
        "Customer".parse::<TableName>().map(|t| t.quoted()),
        Ok("[Customer]".to_owned())
    );
    for bad in [
        "",
        "dbo.",
        "a.b.c",
        "dbo.Customer; DROP TABLE x",
        "[unclosed",
        "x--",
    ] {
        let err = bad.parse::<TableName>().expect_err(bad);
        assert!(err.to_string().contains("schema.name"), "{err}");
    }
}

#[test]
fn a_report_of_unreadable_settings_fails_the_first_step_and_skips_the_rest() {
    let report = Report::settings_failed("Server= is missing");
    assert!(!report.passed());
    assert_eq!(report.failed().map(|s| s.name), Some("settings"));
    assert_eq!(report.steps().len(), ALL_STEPS.len());
    assert!(report.steps()[1..]
        .iter()
        .all(|s| s.verdict == Verdict::Skipped));
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["passed"], false);
    assert_eq!(json["failed_step"], "settings");
    assert_eq!(json["steps"][1]["verdict"], "skipped");
    let text = report.to_string();
    assert!(text.contains("[FAILED] settings"), "{text}");
    assert!(text.contains("fix: Server= is missing"), "{text}");
}

#[test]
fn nothing_shaped_like_a_jwt_reaches_a_step() {
    let mut walk = Walk::default();
    walk.record(
        SETTINGS,
        Outcome::failed(
            vec!["echo eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".into()],
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        ),
    );
    let step = &walk.steps[0];
    assert!(!format!("{step:?}").contains("eyJ"), "{step:?}");
}

#[test]
fn subjects_name_their_namespace_and_service_account() {
    assert_eq!(
        identity::service_account("system:serviceaccount:shop:orders"),
        Some(("shop", "orders"))
    );
    assert_eq!(
        identity::service_account("system:serviceaccount:shop"),
        None
    );
    assert_eq!(identity::service_account("user:alice"), None);
}

#[test]
fn jwt_claims_are_read_from_the_payload() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!(
        "{}.{}.sig",
        b64(r#"{"alg":"none"}"#),
        b64(r#"{"aud":["api://AzureADTokenExchange"],"iss":"https://issuer/","exp":4102444800}"#)
    );
    let claims = jwt::claims(&token).expect("a JWT");
    assert_eq!(claims.texts("aud"), ["api://AzureADTokenExchange"]);
    assert_eq!(claims.text("iss"), Some("https://issuer/"));
    assert!(claims.time("exp").is_some());
    assert!(jwt::claims("not.a").is_err());
    assert!(jwt::claims("a.!!!.c").is_err());
}

#[test]
fn a_firewall_refusal_names_the_address_the_server_saw() {
    let message = "Cannot open server 'contoso' requested by the login. Client with IP address '203.0.113.5' is not allowed to access the server.  To enable access, use the Azure Management Portal or run sp_set_firewall_rule on the master database to create a firewall rule for this IP address or address range.";
    assert_eq!(sql::client_address(message).as_deref(), Some("203.0.113.5"));
    assert_eq!(sql::client_address("Client with IP address 'x' is"), None);
    assert_eq!(sql::client_address("no address here"), None);
}

fn verdicts(report: &Report) -> Vec<(&'static str, Verdict)> {
    report.steps().iter().map(|s| (s.name, s.verdict)).collect()
}

#[tokio::test]
async fn a_sql_login_skips_the_token_steps_and_a_closed_port_fails_the_gateway() {
    let (mut config, port) = crate::test_support::sql_login_to_closed_port();
    config.connect_timeout(Duration::from_secs(5));
    let options = DiagnoseOptions::default().environment(Environment::from_pairs::<&str, &str>([]));
    let report = diagnose_with(&config, &options).await;
    use Verdict::*;
    assert_eq!(
        verdicts(&report),
        [
            ("settings", Passed),
            ("workload_identity_env", NotApplicable),
            ("token_file", NotApplicable),
            ("entra_reachable", NotApplicable),
            ("token_exchange", NotApplicable),
            ("access_token", NotApplicable),
            ("sql_gateway", Failed),
            ("sql_redirect", Skipped),
            ("login", Skipped),
            ("permission", Skipped),
        ],
        "{report}"
    );
    let fix = report.failed().and_then(|s| s.fix.as_deref()).unwrap_or("");
    assert!(fix.contains(&format!("127.0.0.1:{port}")), "{fix}");
    assert!(fix.contains("port in Server="), "{fix}");
    let shown = format!(
        "{report} {report:?} {}",
        serde_json::to_string(&report).unwrap_or_default()
    );
    assert!(!shown.contains("not-shown"), "{shown}");
}

#[tokio::test]
async fn a_pod_without_the_webhooks_variables_is_told_the_label_and_annotation() {
    let config: Config =
        "Server=tcp:127.0.0.1,1;Database=db;Authentication=Active Directory Default"
            .parse()
            .expect("config");
    // In a pod (Kubernetes sets KUBERNETES_SERVICE_HOST), nothing from the webhook.
    let env = Environment::from_pairs([("KUBERNETES_SERVICE_HOST", "10.0.0.1")]);
    let report = diagnose_with(&config, &DiagnoseOptions::default().environment(env)).await;
    let failed = report.failed().expect("a step fails");
    assert_eq!(failed.name, "workload_identity_env", "{report}");
    let fix = failed.fix.as_deref().unwrap_or("");
    assert!(fix.contains("azure.workload.identity/use"), "{fix}");
    assert!(fix.contains("does not look labelled"), "{fix}");

    // Labelled, but the service account has no client id annotation.
    let env = Environment::from_pairs([
        ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
        ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/"),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            "/var/run/secrets/azure/tokens/azure-identity-token",
        ),
    ]);
    let report = diagnose_with(&config, &DiagnoseOptions::default().environment(env)).await;
    let failed = report.failed().expect("a step fails");
    assert_eq!(failed.name, "workload_identity_env", "{report}");
    let fix = failed.fix.as_deref().unwrap_or("");
    assert!(fix.contains("azure.workload.identity/client-id"), "{fix}");
    assert!(fix.contains("the pod is labelled"), "{fix}");
}
