//! `Active Directory Default`: one setting that finds the right token source on a laptop, a VM
//! and a pod, like the Azure SDKs' `DefaultAzureCredential`. Sources, in order:
//!
//! 1. **environment service principal**: `AZURE_CLIENT_ID` + `AZURE_TENANT_ID` +
//!    `AZURE_CLIENT_SECRET` all set;
//! 2. **workload identity**: `AZURE_FEDERATED_TOKEN_FILE` + client id (`User Id` or
//!    `AZURE_CLIENT_ID`) + `AZURE_TENANT_ID`, as the AKS webhook sets them;
//! 3. **managed identity**: App Service's `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, or an IMDS
//!    that answers a probe within 1 s (`User Id` or `AZURE_CLIENT_ID` picks a user-assigned one);
//! 4. **Azure CLI**: `az login`.
//!
//! A source whose settings are absent (or whose IMDS does not answer, or that answers "identity
//! not found") is *skipped*; the first source that is present is *tried*, and the chain stops
//! there whether it works or fails: a misconfigured workload identity must surface its AADSTS
//! error, not silently fall through to the node's managed identity. Once a source has produced a
//! token the chain is **sticky**: every later fetch goes to that source alone. When nothing works,
//! the error lists each source and why it was skipped or how it failed.

use super::azure_cli::AzureCli;
use super::managed_identity::ManagedIdentity;
use super::service_principal::ServicePrincipal;
use super::workload_identity::WorkloadIdentity;
use super::{client_id, Environment, TokenProvider, IDENTITY_ENDPOINT, IDENTITY_HEADER};
use crate::config::{Config, ConfigError};
use azure_core::credentials::AccessToken;
use azure_core::error::ErrorKind;
use azure_core::http::StatusCode;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

/// Where IMDS listens on every Azure VM.
pub(crate) const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// How long the IMDS probe waits: IMDS answers in milliseconds where it exists.
const IMDS_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The default chain.
pub(crate) struct DefaultChain {
    stages: Vec<Stage>,
    chosen: OnceLock<usize>,
}

/// One source of the chain: its provider, or why it is skipped.
struct Stage {
    name: &'static str,
    /// `kind()` once this stage is chosen.
    kind: &'static str,
    source: Result<Box<dyn TokenProvider>, String>,
    /// Checked before trying the source (the IMDS probe).
    probe: Option<ImdsProbe>,
}

impl fmt::Debug for DefaultChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_struct("DefaultChain");
        for stage in &self.stages {
            match &stage.source {
                Ok(provider) => list.field(stage.name, provider),
                Err(reason) => list.field(stage.name, &format_args!("skipped: {reason}")),
            };
        }
        list.field("chosen", &self.chosen.get().map(|i| self.stages[*i].name))
            .finish()
    }
}

impl DefaultChain {
    /// Builds every stage from the configuration and the environment.
    pub(crate) fn new(config: &Config, env: &Environment) -> Result<Self, ConfigError> {
        let environment = ServicePrincipal::from_environment(config, env)?
            .map(|p| Box::new(p) as Box<dyn TokenProvider>);
        let workload = match WorkloadIdentity::available(config, env) {
            Ok(()) => Ok(Box::new(WorkloadIdentity::new(config, env)?) as Box<dyn TokenProvider>),
            Err(reason) => Err(reason),
        };
        let app_service =
            env.var(IDENTITY_ENDPOINT).is_some() && env.var(IDENTITY_HEADER).is_some();
        let managed = ManagedIdentity::with_client_id(config, client_id(config, env).as_deref())?;
        let probe = (!app_service).then(|| ImdsProbe::new(IMDS_ENDPOINT));
        Ok(Self {
            stages: vec![
                Stage {
                    name: "environment service principal",
                    kind: "default chain: environment service principal",
                    source: environment,
                    probe: None,
                },
                Stage {
                    name: "workload identity",
                    kind: "default chain: workload identity",
                    source: workload,
                    probe: None,
                },
                Stage {
                    name: "managed identity",
                    kind: "default chain: managed identity",
                    source: Ok(Box::new(managed)),
                    probe,
                },
                Stage {
                    name: "Azure CLI",
                    kind: "default chain: Azure CLI",
                    source: Ok(Box::new(AzureCli::new(config))),
                    probe: None,
                },
            ],
            chosen: OnceLock::new(),
        })
    }

    /// Replaces the IMDS probe's address (tests point it at a closed port or the sandbox).
    #[cfg(test)]
    pub(crate) fn set_imds_probe(&mut self, endpoint: &str) {
        for stage in &mut self.stages {
            if stage.probe.is_some() {
                stage.probe = Some(ImdsProbe::new(endpoint));
            }
        }
    }

    /// Replaces the Azure CLI stage's runner (tests use an `az`-shaped executable).
    #[cfg(test)]
    pub(crate) fn set_azure_cli(&mut self, cli: AzureCli) {
        if let Some(stage) = self.stages.iter_mut().find(|s| s.name == "Azure CLI") {
            stage.source = Ok(Box::new(cli));
        }
    }

    /// The chosen source's name, once one has produced a token.
    #[cfg(test)]
    pub(crate) fn chosen(&self) -> Option<&'static str> {
        self.chosen.get().map(|i| self.stages[*i].name)
    }
}

#[async_trait::async_trait]
impl TokenProvider for DefaultChain {
    async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken> {
        if let Some(&i) = self.chosen.get() {
            if let Ok(provider) = &self.stages[i].source {
                return provider.fetch(scope).await;
            }
        }
        let mut report = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            let provider = match &stage.source {
                Ok(provider) => provider,
                Err(reason) => {
                    report.push(format!("{}: skipped ({reason})", stage.name));
                    continue;
                }
            };
            if let Some(probe) = &stage.probe {
                if let Err(reason) = probe.check().await {
                    report.push(format!("{}: skipped ({reason})", stage.name));
                    continue;
                }
            }
            match provider.fetch(scope).await {
                Ok(token) => {
                    let _ = self.chosen.set(i);
                    tracing::info!(
                        source = stage.name,
                        "default chain: using this token source from now on"
                    );
                    return Ok(token);
                }
                Err(error) if stage.probe.is_some() && identity_not_found(&error) => {
                    report.push(format!(
                        "{}: skipped (no identity assigned: {error})",
                        stage.name
                    ));
                }
                Err(error) => {
                    report.push(format!("{}: failed ({error})", stage.name));
                    let message = chain_message(&report);
                    return Err(azure_core::Error::with_error(
                        ErrorKind::Credential,
                        error,
                        message,
                    ));
                }
            }
        }
        Err(azure_core::Error::with_message(
            ErrorKind::Credential,
            chain_message(&report),
        ))
    }

    fn kind(&self) -> &'static str {
        match self.chosen.get() {
            Some(&i) => self.stages[i].kind,
            None => "default chain",
        }
    }
}

fn chain_message(report: &[String]) -> String {
    format!(
        "`Active Directory Default` found no working token source; tried in order: {}. Set the \
         variables of the source you mean (AKS: label the pod `azure.workload.identity/use: \
         \"true\"`; laptop: `az login`), or choose the mode explicitly with `Authentication=`",
        report.join("; ")
    )
}

/// IMDS (or the App Service endpoint) answered 400: no identity is assigned to this host (or
/// not the one asked for), as on a developer's VM; the next source may work.
fn identity_not_found(error: &azure_core::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(azure) = e.downcast_ref::<azure_core::Error>() {
            if azure.http_status() == Some(StatusCode::BadRequest) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// Whether an IMDS endpoint answers at all: any HTTP response (IMDS refuses a request without
/// the `Metadata` header with 400) means it exists; no answer within the timeout means it does
/// not. Never through a proxy.
pub(crate) struct ImdsProbe {
    endpoint: String,
}

impl ImdsProbe {
    pub(crate) fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
        }
    }

    pub(crate) async fn check(&self) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(IMDS_PROBE_TIMEOUT)
            .timeout(IMDS_PROBE_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the IMDS probe client: {e}"))?;
        match client.get(&self.endpoint).send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(format!(
                "no App Service identity variables, and IMDS at {} did not answer within {} s ({})",
                self.endpoint,
                IMDS_PROBE_TIMEOUT.as_secs(),
                super::http::error_chain(&e)
            )),
        }
    }
}
