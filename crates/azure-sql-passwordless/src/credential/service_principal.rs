//! A service principal with a client secret (`client_credentials` grant): `User Id` is the
//! application (client) id, `Password` the secret, the tenant comes from [`Config::tenant_id`]
//! or `AZURE_TENANT_ID`. For local testing as the Python samples do; in production prefer a
//! managed or workload identity, which have no secret to leak or rotate.
//!
//! The default chain also builds one from `AZURE_CLIENT_ID` + `AZURE_TENANT_ID` +
//! `AZURE_CLIENT_SECRET` (the Azure SDKs' `EnvironmentCredential`).

use super::{authority_host, http, tenant_id, Environment, TokenProvider};
use super::{AZURE_CLIENT_ID, AZURE_CLIENT_SECRET};
use crate::config::{Authentication, Config, ConfigError, Secret};
use azure_core::credentials::{AccessToken, TokenCredential};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use std::fmt;

/// The service principal provider.
pub(crate) struct ServicePrincipal {
    client_id: String,
    tenant_id: String,
    secret: Secret,
    authority: String,
    http: reqwest::Client,
}

impl fmt::Debug for ServicePrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServicePrincipal")
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field("secret", &self.secret)
            .field("authority", &self.authority)
            .finish()
    }
}

impl ServicePrincipal {
    /// From `User Id` + `Password` (validated by the config) and the tenant.
    pub(crate) fn from_config(config: &Config, env: &Environment) -> Result<Self, ConfigError> {
        let missing = |keyword, hint| ConfigError::MissingForAuthentication {
            authentication: Authentication::ServicePrincipal,
            keyword,
            hint,
        };
        let client_id = config.user_id.clone().ok_or_else(|| {
            missing(
                "User Id",
                "the application (client) id of the app registration",
            )
        })?;
        let secret = config
            .password
            .clone()
            .ok_or_else(|| missing("Password", "a client secret of the app registration"))?;
        let tenant_id = tenant_id(config, env)?.ok_or(ConfigError::MissingCredentialSetting {
            authentication: Authentication::ServicePrincipal,
            setting: "tenant id",
            how: "set AZURE_TENANT_ID or `Config::tenant_id` to the app registration's directory (tenant) id",
        })?;
        Self::build(config, env, client_id.trim().to_owned(), tenant_id, secret)
    }

    /// From `AZURE_CLIENT_ID` + `AZURE_TENANT_ID` + `AZURE_CLIENT_SECRET`, or why not.
    pub(crate) fn from_environment(
        config: &Config,
        env: &Environment,
    ) -> Result<Result<Self, String>, ConfigError> {
        let client_id = env.var(AZURE_CLIENT_ID);
        let secret = env.var(AZURE_CLIENT_SECRET);
        let tenant = tenant_id(config, env)?;
        match (client_id, tenant, secret) {
            (Some(client_id), Some(tenant), Some(secret)) => Ok(Ok(Self::build(
                config,
                env,
                client_id.trim().to_owned(),
                tenant,
                Secret::new(secret),
            )?)),
            (client_id, tenant, secret) => {
                let missing: Vec<&str> = [
                    (client_id.is_none(), AZURE_CLIENT_ID),
                    (tenant.is_none(), super::AZURE_TENANT_ID),
                    (secret.is_none(), AZURE_CLIENT_SECRET),
                ]
                .into_iter()
                .filter_map(|(absent, name)| absent.then_some(name))
                .collect();
                Ok(Err(format!("{} not set", missing.join(", "))))
            }
        }
    }

    fn build(
        config: &Config,
        env: &Environment,
        client_id: String,
        tenant_id: String,
        secret: Secret,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            client_id,
            tenant_id,
            secret,
            authority: authority_host(config, env)?,
            http: http::client(config)?,
        })
    }
}

#[async_trait::async_trait]
impl TokenProvider for ServicePrincipal {
    async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken> {
        let options = ClientSecretCredentialOptions {
            client_options: http::client_options(&self.http, Some(&self.authority)),
        };
        let credential = ClientSecretCredential::new(
            &self.tenant_id,
            self.client_id.clone(),
            azure_core::credentials::Secret::new(self.secret.expose().to_owned()),
            Some(options),
        )?;
        credential
            .get_token(&[scope], None)
            .await
            .map_err(http::with_causes)
    }

    fn kind(&self) -> &'static str {
        "service principal"
    }
}
