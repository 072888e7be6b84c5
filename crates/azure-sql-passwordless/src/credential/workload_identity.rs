//! AKS Workload Identity: trade the projected Kubernetes service-account token for an Entra token
//! (`client_credentials` grant with the file's JWT as `client_assertion`).
//!
//! The file is read afresh, asynchronously, on every fetch: the kubelet rewrites it in place
//! before it expires, and an old assertion is refused by Entra (AADSTS700024). Each fetch uses a
//! fresh `azure_identity::ClientAssertionCredential`, whose internal cache would otherwise return
//! the previous token until 5 minutes before its expiry.

use super::http;
use super::{
    authority_host, client_id, federated_token_file, tenant_id, Environment, TokenProvider,
};
use crate::config::{Authentication, Config, ConfigError};
use azure_core::credentials::{AccessToken, TokenCredential};
use azure_core::error::ErrorKind;
use azure_core::http::ClientMethodOptions;
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
};
use std::fmt;
use std::path::PathBuf;

/// What to check when the token file is missing or empty.
const POD_HINT: &str = "check that the pod has the label `azure.workload.identity/use: \"true\"`, \
     that its service account is annotated `azure.workload.identity/client-id`, and that the \
     workload identity webhook is installed (it sets AZURE_FEDERATED_TOKEN_FILE and mounts the file)";

/// The workload identity provider.
pub(crate) struct WorkloadIdentity {
    client_id: String,
    tenant_id: String,
    token_file: PathBuf,
    authority: String,
    http: reqwest::Client,
}

impl fmt::Debug for WorkloadIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadIdentity")
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field("token_file", &self.token_file)
            .field("authority", &self.authority)
            .finish()
    }
}

impl WorkloadIdentity {
    /// Builds the provider, or says which setting is missing and where to set it.
    pub(crate) fn new(config: &Config, env: &Environment) -> Result<Self, ConfigError> {
        let missing = |setting, how| ConfigError::MissingCredentialSetting {
            authentication: Authentication::WorkloadIdentity,
            setting,
            how,
        };
        let client_id = client_id(config, env).ok_or_else(|| {
            missing(
                "client id",
                "set `User Id=<client id>` in the connection string or AZURE_CLIENT_ID (the \
                 webhook sets it from the service account's `azure.workload.identity/client-id` \
                 annotation)",
            )
        })?;
        let tenant_id = tenant_id(config, env)?.ok_or_else(|| {
            missing(
                "tenant id",
                "set AZURE_TENANT_ID (the webhook sets it) or `Config::tenant_id`",
            )
        })?;
        let token_file = federated_token_file(config, env).ok_or_else(|| {
            missing(
                "federated token file",
                "set AZURE_FEDERATED_TOKEN_FILE or `Config::federated_token_file`; in AKS the \
                 webhook sets it when the pod has the label `azure.workload.identity/use: \"true\"`",
            )
        })?;
        Ok(Self {
            client_id,
            tenant_id,
            token_file,
            authority: authority_host(config, env)?,
            http: http::client(config)?,
        })
    }

    /// Whether the environment names everything this provider needs (for the default chain),
    /// else why not.
    pub(crate) fn available(config: &Config, env: &Environment) -> Result<(), String> {
        let mut missing = Vec::new();
        if federated_token_file(config, env).is_none() {
            missing.push("AZURE_FEDERATED_TOKEN_FILE");
        }
        if client_id(config, env).is_none() {
            missing.push("AZURE_CLIENT_ID");
        }
        if config.tenant_id.is_none() && env.var(super::AZURE_TENANT_ID).is_none() {
            missing.push("AZURE_TENANT_ID");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("{} not set", missing.join(", ")))
        }
    }
}

#[async_trait::async_trait]
impl TokenProvider for WorkloadIdentity {
    async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken> {
        let options = ClientAssertionCredentialOptions {
            client_options: http::client_options(&self.http, Some(&self.authority)),
        };
        let credential = ClientAssertionCredential::new(
            self.tenant_id.clone(),
            self.client_id.clone(),
            TokenFile {
                path: self.token_file.clone(),
            },
            Some(options),
        )?;
        credential
            .get_token(&[scope], None)
            .await
            .map_err(http::with_causes)
    }

    fn kind(&self) -> &'static str {
        "workload identity"
    }
}

/// The projected service-account token, read from its file on every call.
#[derive(Debug)]
struct TokenFile {
    path: PathBuf,
}

#[async_trait::async_trait]
impl ClientAssertion for TokenFile {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let path = &self.path;
        let text = tokio::fs::read_to_string(path).await.map_err(|e| {
            let message = format!(
                "cannot read the federated token file {} ({e}); {POD_HINT}",
                path.display()
            );
            azure_core::Error::with_error(ErrorKind::Credential, e, message)
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(azure_core::Error::with_message(
                ErrorKind::Credential,
                format!(
                    "the federated token file {} is empty; {POD_HINT}",
                    path.display()
                ),
            ));
        }
        Ok(token.to_owned())
    }
}
