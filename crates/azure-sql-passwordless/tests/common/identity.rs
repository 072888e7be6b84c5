//! For the `credential_*` integration tests: the sandbox's identity services (its PKI, the
//! Kubernetes issuer writing a projected token file, Entra with a workload identity federated to
//! that issuer), the library configured for them, the environment the AKS webhook would set, and
//! a look inside refusals. Only the identity half of the sandbox runs: these tests never reach SQL.
#![allow(dead_code)]

use azure_sql_passwordless::Config;
use azure_sql_passwordless::{provider_for, Environment};
use azure_sql_sandbox::entra::directory::{EntraDirectory, FederatedCredential, Tenant};
use azure_sql_sandbox::entra::{Entra, EntraOptions};
use azure_sql_sandbox::issuer::{Issuer, IssuerOptions, TOKEN_EXCHANGE_AUDIENCE};
use azure_sql_sandbox::pki::Pki;
use azure_sql_sandbox::{Faults, Stats, StatsSnapshot};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The scope every test asks for.
pub const SCOPE: &str = "https://database.windows.net/.default";

/// The identity services, with a workload identity whose access tokens live 30 s.
pub struct Identity {
    pub pki: Pki,
    pub issuer: Issuer,
    pub entra: Entra,
    pub directory: Arc<EntraDirectory>,
    pub tenant: Tenant,
    /// The workload identity's client id.
    pub client_id: String,
    pub stats: Stats,
    dir: PathBuf,
}

impl Drop for Identity {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Identity {
    pub async fn start() -> Identity {
        let pki = Pki::generate().expect("PKI");
        let dir = std::env::temp_dir().join(format!(
            "asp-credential-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let issuer = Issuer::start(&pki, IssuerOptions::new(dir.join("azure-identity-token")))
            .await
            .expect("issuer");
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
            .expect("federated credential");
        let stats = Stats::default();
        let options = EntraOptions {
            token_lifetime: Duration::from_secs(30),
            ..Default::default()
        };
        let entra = Entra::start(
            &pki,
            directory.clone(),
            options,
            Faults::default(),
            stats.clone(),
        )
        .await
        .expect("Entra");
        Identity {
            pki,
            issuer,
            entra,
            directory,
            tenant,
            client_id: app.client_id,
            stats,
            dir,
        }
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    pub fn tenant_id(&self) -> String {
        self.tenant.id.clone()
    }

    pub fn authority_host(&self) -> String {
        self.entra.authority_host().to_owned()
    }

    /// A configuration for a server in the public cloud, trusting the sandbox's CA.
    pub fn config(&self, connection_string: &str) -> Config {
        let mut config: Config = connection_string
            .parse()
            .expect("the connection string parses");
        config.trust_root_certificate_pem(self.pki.ca_pem());
        config
    }

    /// What the workload identity webhook would put in the pod's environment.
    pub fn workload_env(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_CLIENT_ID".into(), self.client_id.clone()),
            ("AZURE_TENANT_ID".into(), self.tenant_id()),
            ("AZURE_AUTHORITY_HOST".into(), self.authority_host()),
            (
                "AZURE_FEDERATED_TOKEN_FILE".into(),
                self.issuer.token_file().display().to_string(),
            ),
        ]
    }
}

/// A connection string for a workload identity.
pub const WORKLOAD: &str = "Server=tcp:myserver.database.windows.net,1433;Database=customers;\
                            Authentication=Active Directory Workload Identity";

/// An [`Environment`] with exactly these variables.
pub fn environment(vars: Vec<(String, String)>) -> Environment {
    Environment::from_pairs(vars)
}

/// The Entra error code (`AADSTS` number) an error carries, found by walking its sources as the
/// token cache does.
pub fn entra_error_code(error: &azure_core::Error) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(azure) = e.downcast_ref::<azure_core::Error>() {
            if let azure_core::error::ErrorKind::HttpResponse {
                error_code: Some(code),
                ..
            } = azure.kind()
            {
                return Some(code.clone());
            }
        }
        current = e.source();
    }
    None
}

/// The claims of a JWT (no signature check: the sandbox's SQL side does that).
pub fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64url");
    serde_json::from_slice(&json).expect("JSON claims")
}

/// Builds the provider `config` names, fetches a token for [`SCOPE`], and returns the `appid`
/// claim (whose identity the token is for), or the provider's error.
pub async fn fetched_appid(config: &Config) -> azure_core::Result<String> {
    let provider = provider_for(config).expect("builds").expect("a provider");
    let token = provider.fetch(SCOPE).await?;
    Ok(claims(token.token.secret())["appid"]
        .as_str()
        .expect("an appid claim")
        .to_owned())
}

/// Asks for a managed identity that is not assigned to this host and checks the refusal says
/// so (IMDS and App Service answer alike).
pub async fn assert_not_assigned(config: &mut Config) {
    config.user_id("00000000-0000-0000-0000-0000000000bb");
    let error = fetched_appid(config).await.expect_err("not assigned");
    assert!(
        error.to_string().contains("has not been assigned"),
        "{error}"
    );
}
