//! The Entra and Kubernetes stand-ins, driven over HTTPS/HTTP as real clients drive them: the
//! projected token exchanged for an Azure SQL token (by hand and with `azure_identity`'s own
//! credentials), every refusal Entra gives, IMDS, the SQL side's validator, key rotation, the
//! token file's rotation, injected faults, and secrets kept out of logs.

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use azure_sql_sandbox::entra::access_token::{self, AccessTokenClaims, ClientAuth, Grantee};
use azure_sql_sandbox::entra::directory::{
    AppRegistration, EntraDirectory, FederatedCredential, Tenant,
};
use azure_sql_sandbox::entra::validator::{EntraValidator, ValidatorOptions};
use azure_sql_sandbox::entra::{Entra, EntraOptions};
use azure_sql_sandbox::identity::{AccessTokenValidator, RejectionKind};
use azure_sql_sandbox::issuer::{BadToken, Issuer, IssuerOptions, TOKEN_EXCHANGE_AUDIENCE};
use azure_sql_sandbox::pki::Pki;
use azure_sql_sandbox::{Faults, Stats, TokenEndpointFault};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SCOPE: &str = "https://database.windows.net/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// ---- log capture: every test's logs go to one buffer that the secrecy test inspects --------

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

// ---- the world: a PKI, a Kubernetes issuer, Entra with a workload identity -------------------

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct World {
    pki: Pki,
    issuer: Issuer,
    entra: Entra,
    directory: Arc<EntraDirectory>,
    tenant: Tenant,
    app: AppRegistration,
    faults: Faults,
    stats: Stats,
    http: reqwest::Client,
    _dir: TempDir,
}

async fn world_with(options: EntraOptions, service_account_token_lifetime: Duration) -> World {
    logs();
    let pki = Pki::generate().unwrap();
    let dir = TempDir(std::env::temp_dir().join(format!("entra-test-{}", uuid::Uuid::new_v4())));
    let mut issuer_options = IssuerOptions::new(dir.0.join("azure-identity-token"));
    issuer_options.token_lifetime = service_account_token_lifetime;
    let issuer = Issuer::start(&pki, issuer_options).await.unwrap();
    let directory = Arc::new(EntraDirectory::new());
    let tenant = directory.add_tenant("Sandbox", "sandbox");
    let app = directory.register_app(&tenant, "customers-identity");
    directory
        .add_federated_credential(
            &app.client_id,
            FederatedCredential {
                name: "aks".into(),
                issuer: issuer.url().into(),
                subject: issuer.subject(),
                audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
            },
        )
        .unwrap();
    let app = directory.app(&tenant.id, &app.client_id).unwrap();
    let faults = Faults::default();
    let stats = Stats::default();
    let entra = Entra::start(
        &pki,
        directory.clone(),
        options,
        faults.clone(),
        stats.clone(),
    )
    .await
    .unwrap();
    let http = pki.http_client().unwrap();
    World {
        pki,
        issuer,
        entra,
        directory,
        tenant,
        app,
        faults,
        stats,
        http,
        _dir: dir,
    }
}

async fn world() -> World {
    world_with(EntraOptions::default(), Duration::from_secs(3600)).await
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl World {
    fn projected_token(&self) -> String {
        std::fs::read_to_string(self.issuer.token_file()).unwrap()
    }

    fn exchange_form<'a>(&'a self, assertion: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", &self.app.client_id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("scope", SCOPE),
        ]
    }

    /// An assertion claiming `issuer` (signed with the Kubernetes issuer's key), and a federated
    /// credential that trusts `issuer` with the pod's subject and audience.
    fn trusted_assertion_from(&self, issuer: &str) -> String {
        self.directory
            .add_federated_credential(
                &self.app.client_id,
                FederatedCredential {
                    name: format!("trust-{}", uuid::Uuid::new_v4().simple()),
                    issuer: issuer.into(),
                    subject: self.issuer.subject(),
                    audiences: vec![TOKEN_EXCHANGE_AUDIENCE.into()],
                },
            )
            .unwrap();
        let mut spec = self.issuer.token_spec();
        spec.issuer = issuer.into();
        self.issuer.mint_with(&spec).unwrap()
    }

    async fn post(&self, tenant: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(self.entra.token_endpoint(tenant))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn exchange(&self, assertion: &str) -> (u16, Value) {
        self.post(&self.tenant.id, &self.exchange_form(assertion))
            .await
    }

    fn validator(&self) -> EntraValidator {
        self.entra
            .validator(&self.tenant.id, self.pki.ca_pem())
            .unwrap()
    }

    /// azure_core client options pointing at this Entra, over a transport trusting the CA.
    fn client_options(&self) -> ClientOptions {
        let mut cloud = CustomConfiguration::default();
        cloud.authority_host = self.entra.authority_host().to_string();
        ClientOptions {
            transport: Some(Transport::new(Arc::new(self.http.clone()))),
            cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
            ..Default::default()
        }
    }

    fn grantee(&self) -> Grantee {
        Grantee {
            tenant_id: self.tenant.id.clone(),
            object_id: self.app.object_id.clone(),
            client_id: self.app.client_id.clone(),
            auth: ClientAuth::Assertion,
            resource_id: None,
        }
    }
}

fn claims_of(token: &str) -> AccessTokenClaims {
    jsonwebtoken::dangerous::insecure_decode::<AccessTokenClaims>(token)
        .unwrap()
        .claims
}

/// Asserts the body is an Entra refusal with `code`, and returns its description.
fn assert_refusal(status: u16, body: &Value, expected_status: u16, code: u32) -> String {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
    let description = body["error_description"].as_str().unwrap().to_string();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    // One line, as Entra has written them since 2024.
    assert!(!description.contains(['\r', '\n']), "{description}");
    assert!(description.contains(" Trace ID: "), "{description}");
    assert!(description.contains(" Correlation ID: "), "{description}");
    assert!(description.contains(" Timestamp: "), "{description}");
    for field in [
        "error",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
    ] {
        assert!(body[field].is_string(), "missing {field}: {body}");
    }
    description
}

// ---- acceptance --------------------------------------------------------------------------

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

// ---- refusals ----------------------------------------------------------------------------

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

// ---- discovery, validator, key rotation ------------------------------------------------------

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

// ---- managed identity ------------------------------------------------------------------------

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

// ---- faults, load, secrecy -----------------------------------------------------------------

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
