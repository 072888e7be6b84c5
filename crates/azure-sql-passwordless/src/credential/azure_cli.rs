//! The developer's Azure CLI login: runs `az account get-access-token --scope <scope>` through
//! `azure_identity::AzureCliCredential` (which keeps no cache of its own). `az` itself keeps a
//! token cache (under `~/.azure`) and hands back its cached token until shortly before expiry,
//! so a renewal may return the same token; the pool treats it like any other. The tenant is
//! [`Config::tenant_id`] when set, else the CLI's current account; `az login` / `az account set`
//! choose the account. Needs Azure CLI 2.54 or newer (for `expires_on`).

use super::TokenProvider;
use crate::config::Config;
use azure_core::credentials::{AccessToken, TokenCredential};
use azure_identity::{AzureCliCredential, AzureCliCredentialOptions, Executor};
use std::fmt;
use std::sync::Arc;

/// The Azure CLI provider.
pub(crate) struct AzureCli {
    tenant_id: Option<String>,
    /// How `az` is run; `None`: `azure_identity`'s default (a tokio child process).
    pub(crate) executor: Option<Arc<dyn Executor>>,
}

impl fmt::Debug for AzureCli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureCli")
            .field("tenant_id", &self.tenant_id)
            .finish()
    }
}

impl AzureCli {
    /// The CLI, in the configured tenant if any.
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            tenant_id: config.tenant_id.clone(),
            executor: None,
        }
    }
}

#[async_trait::async_trait]
impl TokenProvider for AzureCli {
    async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken> {
        let options = AzureCliCredentialOptions {
            tenant_id: self.tenant_id.clone(),
            executor: self.executor.clone(),
            ..Default::default()
        };
        AzureCliCredential::new(Some(options))?
            .get_token(&[scope], None)
            .await
    }

    fn kind(&self) -> &'static str {
        "Azure CLI"
    }
}
