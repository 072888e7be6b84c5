//! The Entra and Kubernetes stand-ins, driven over HTTPS/HTTP as real clients drive them: the
//! projected token exchanged for an Azure SQL token (by hand and with `azure_identity`'s own
//! credentials), every refusal Entra gives, IMDS, the SQL side's validator, key rotation, the
//! token file's rotation, injected faults, and secrets kept out of logs.

mod acceptance;
mod faults;
mod managed_identity;
mod refusals;
mod validation;

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
