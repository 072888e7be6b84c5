//! [`provider_for`]: the `Authentication` keyword mapped to its token provider, with the
//! `AZURE_*` variables read from the process or from an [`Environment`].

use super::environment::Environment;
use super::provider::TokenProvider;
use super::{azure_cli, default_chain, managed_identity, service_principal, workload_identity};
use crate::config::{Authentication, Config, ConfigError};
use std::sync::Arc;

/// The provider for `config`'s `Authentication` mode, reading the `AZURE_*` variables from the
/// process environment; `None` for `Sql Password`, which needs no token.
///
/// Validates the configuration first, so a bad one fails here (at pool creation), not at the
/// first connect.
pub fn provider_for(config: &Config) -> Result<Option<Arc<dyn TokenProvider>>, ConfigError> {
    provider_for_with(config, &Environment::process())
}

/// [`provider_for`] with the environment taken from `env` (tests pass a map, so they never
/// mutate the process environment).
pub fn provider_for_with(
    config: &Config,
    env: &Environment,
) -> Result<Option<Arc<dyn TokenProvider>>, ConfigError> {
    if !config.validated {
        config.validate()?;
    }
    let provider: Arc<dyn TokenProvider> = match config.authentication {
        Authentication::WorkloadIdentity => {
            Arc::new(workload_identity::WorkloadIdentity::new(config, env)?)
        }
        Authentication::ManagedIdentity => {
            Arc::new(managed_identity::ManagedIdentity::new(config)?)
        }
        Authentication::ServicePrincipal => Arc::new(
            service_principal::ServicePrincipal::from_config(config, env)?,
        ),
        Authentication::AzureCli => Arc::new(azure_cli::AzureCli::new(config)),
        Authentication::Default => Arc::new(default_chain::DefaultChain::new(config, env)?),
        Authentication::SqlPassword => return Ok(None),
    };
    tracing::debug!(kind = provider.kind(), "token provider ready");
    Ok(Some(provider))
}
