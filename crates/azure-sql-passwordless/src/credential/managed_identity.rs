//! Managed identity: the Azure host hands out tokens for the identity assigned to it.
//!
//! `azure_identity::ManagedIdentityCredential` picks the protocol from the **process**
//! environment: App Service / Functions / Container Apps when `IDENTITY_ENDPOINT` and
//! `IDENTITY_HEADER` are set, else IMDS at `169.254.169.254` (VMs, VM scale sets, AKS nodes;
//! AAD Pod Identity used to intercept that same address). `User Id` picks a user-assigned
//! identity by client id; without it the system-assigned identity answers. A fresh credential per
//! fetch keeps its internal cache from hiding a renewal. On IMDS, `azure_identity` applies
//! Microsoft's IMDS retry guidance itself (up to 6 retries within 72 s on 404/410/429/5xx); the
//! token cache bounds each fetch by its own request timeout (30 s by default, see
//! [`crate::RenewalPolicy::fetch_timeout`]) and retries with its backoff after that.

use super::{http, TokenProvider};
use crate::config::{Config, ConfigError};
use azure_core::credentials::{AccessToken, TokenCredential};
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use std::fmt;

/// The managed identity provider.
pub(crate) struct ManagedIdentity {
    client_id: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for ManagedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentity")
            .field("user_assigned_client_id", &self.client_id)
            .finish()
    }
}

impl ManagedIdentity {
    /// `User Id` (if any) names a user-assigned identity.
    pub(crate) fn new(config: &Config) -> Result<Self, ConfigError> {
        Self::with_client_id(config, config.user_id.as_deref())
    }

    /// With an explicit user-assigned client id (the default chain passes `User Id` or
    /// `AZURE_CLIENT_ID`).
    pub(crate) fn with_client_id(
        config: &Config,
        client_id: Option<&str>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            client_id: client_id
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            http: http::client(config)?,
        })
    }
}

#[async_trait::async_trait]
impl TokenProvider for ManagedIdentity {
    async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken> {
        let options = ManagedIdentityCredentialOptions {
            user_assigned_id: self.client_id.clone().map(UserAssignedId::ClientId),
            client_options: http::client_options(&self.http, None),
        };
        ManagedIdentityCredential::new(Some(options))?
            .get_token(&[scope], None)
            .await
            .map_err(http::with_causes)
    }

    fn kind(&self) -> &'static str {
        "managed identity"
    }
}
