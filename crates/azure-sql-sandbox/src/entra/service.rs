//! The running Entra service: its options, its two listeners (HTTPS for the token endpoint,
//! discovery and JWKS; plain HTTP for IMDS and App Service), their routes, and the signing key's
//! rotation.

use super::assertion::IssuerKeys;
use super::directory::EntraDirectory;
use super::keys::SigningKeys;
use super::state::EntraState;
use super::validator::{EntraValidator, ValidatorError, ValidatorOptions};
use super::{access_token, discovery, imds, token_endpoint};
use crate::faults::Faults;
use crate::http_server::{bind_loopback_pair, HttpServer};
use crate::pki::{Pki, PkiError};
use crate::signing_key::{SigningKey, SigningKeyError};
use crate::stats::Stats;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How Entra behaves.
#[derive(Clone, Debug)]
pub struct EntraOptions {
    /// Lifetime of issued access tokens (whole seconds, at least 1). Default one hour.
    pub token_lifetime: Duration,
    /// Rotate the signing key this often. Default: never.
    pub key_rotation: Option<Duration>,
    /// Tolerance on a client assertion's `nbf`/`exp`. Default 0 (exact, for second-long tokens).
    pub assertion_clock_skew: Duration,
    /// The least time between two fetches of a federated issuer's keys. Default 1 s.
    pub issuer_keys_min_refresh: Duration,
}

impl Default for EntraOptions {
    fn default() -> Self {
        EntraOptions {
            token_lifetime: Duration::from_secs(3600),
            key_rotation: None,
            assertion_clock_skew: Duration::ZERO,
            issuer_keys_min_refresh: Duration::from_secs(1),
        }
    }
}

/// Why Entra could not start.
#[derive(Debug, thiserror::Error)]
pub enum EntraError {
    /// An option is unusable.
    #[error("invalid Entra option: {0}")]
    InvalidOptions(String),
    /// A signing key could not be made.
    #[error(transparent)]
    Key(#[from] SigningKeyError),
    /// TLS or the HTTPS client could not be set up.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A listener could not be bound.
    #[error("could not listen on a loopback port for Entra: {0}")]
    Bind(#[source] std::io::Error),
}

/// The running Entra stand-in. Dropping it stops it.
pub struct Entra {
    state: Arc<EntraState>,
    https: HttpServer,
    http: HttpServer,
    rotation: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Entra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entra")
            .field("authority", &self.state.authority)
            .field("imds", &self.http.local_addr())
            .finish_non_exhaustive()
    }
}

async fn generate_key() -> Result<SigningKey, EntraError> {
    tokio::task::spawn_blocking(SigningKey::generate)
        .await
        .map_err(|e| EntraError::InvalidOptions(format!("key generation task failed: {e}")))?
        .map_err(EntraError::from)
}

async fn rotate_forever(state: Arc<EntraState>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        match generate_key().await {
            Ok(key) => state.keys.rotate(key),
            Err(e) => tracing::error!(error = %e, "could not rotate the Entra signing key"),
        }
    }
}

impl Entra {
    /// Starts the HTTPS and HTTP listeners over `directory`.
    pub async fn start(
        pki: &Pki,
        directory: Arc<EntraDirectory>,
        options: EntraOptions,
        faults: Faults,
        stats: Stats,
    ) -> Result<Entra, EntraError> {
        if options.token_lifetime < Duration::from_secs(1) {
            return Err(EntraError::InvalidOptions(format!(
                "token lifetime must be at least 1 s, got {:?}",
                options.token_lifetime
            )));
        }
        if let Some(period) = options.key_rotation {
            if period < Duration::from_secs(1) {
                return Err(EntraError::InvalidOptions(format!(
                    "key rotation period must be at least 1 s, got {period:?}"
                )));
            }
        }
        let (first, next) = tokio::try_join!(generate_key(), generate_key())?;
        let https_listeners = bind_loopback_pair().await.map_err(EntraError::Bind)?;
        let port = https_listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
            .ok_or_else(|| EntraError::Bind(std::io::Error::other("no listener")))?;
        let http_listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(EntraError::Bind)?;
        let authority = format!("https://localhost:{port}/");
        let state = Arc::new(EntraState {
            directory,
            keys: SigningKeys::new(first, next, options.token_lifetime + Duration::from_secs(1)),
            issuer_keys: IssuerKeys::new(pki.http_client()?, options.issuer_keys_min_refresh),
            authority,
            token_lifetime: options.token_lifetime,
            assertion_clock_skew: options.assertion_clock_skew,
            identity_header: uuid::Uuid::new_v4().simple().to_string(),
            faults,
            stats: stats.clone(),
        });

        let https_router = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint::token))
            .route("/{tenant}/oauth2/token", post(token_endpoint::token_v1))
            .route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                get(discovery::openid_configuration_v2),
            )
            .route(
                "/{tenant}/.well-known/openid-configuration",
                get(discovery::openid_configuration_v1),
            )
            .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys))
            .route("/{tenant}/discovery/keys", get(discovery::keys))
            .route("/common/discovery/keys", get(discovery::common_keys))
            .route(
                "/common/discovery/instance",
                get(discovery::instance_discovery),
            )
            .with_state(state.clone());
        let http_router = Router::new()
            .route(imds::IMDS_PATH, get(imds::imds))
            .route(imds::APP_SERVICE_PATH, get(imds::app_service))
            .with_state(state.clone());

        let https = HttpServer::serve(
            "entra",
            https_listeners,
            https_router,
            Some(pki.server_config(&[b"http/1.1"])?),
            stats.clone(),
        )
        .map_err(EntraError::Bind)?;
        let http = HttpServer::serve("imds", vec![http_listener], http_router, None, stats)
            .map_err(EntraError::Bind)?;
        let rotation = options
            .key_rotation
            .map(|period| tokio::spawn(rotate_forever(state.clone(), period)));
        tracing::info!(authority = %state.authority, imds = %http.local_addr(), "Entra started");
        Ok(Entra {
            state,
            https,
            http,
            rotation,
        })
    }

    /// The authority host, `https://localhost:PORT/` (`AZURE_AUTHORITY_HOST`).
    pub fn authority_host(&self) -> &str {
        &self.state.authority
    }

    /// The token endpoint of a tenant.
    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}{tenant}/oauth2/v2.0/token", self.state.authority)
    }

    /// The directory.
    pub fn directory(&self) -> &Arc<EntraDirectory> {
        &self.state.directory
    }

    /// The IMDS token URL, `http://127.0.0.1:PORT/metadata/identity/oauth2/token`.
    pub fn imds_endpoint(&self) -> String {
        format!("http://{}{}", self.http.local_addr(), imds::IMDS_PATH)
    }

    /// The App Service identity endpoint (`IDENTITY_ENDPOINT`).
    pub fn identity_endpoint(&self) -> String {
        format!(
            "http://{}{}",
            self.http.local_addr(),
            imds::APP_SERVICE_PATH
        )
    }

    /// The App Service secret (`IDENTITY_HEADER`).
    pub fn identity_header(&self) -> &str {
        &self.state.identity_header
    }

    /// The `kid` of the key signing tokens now.
    pub fn current_key_id(&self) -> String {
        self.state.keys.current().kid().to_string()
    }

    /// Signs arbitrary access-token claims with the current signing key, for tests of the SQL
    /// side (a token for the wrong audience, tenant or time window, genuinely signed).
    pub fn sign_access_token(
        &self,
        claims: &access_token::AccessTokenClaims,
    ) -> Result<String, SigningKeyError> {
        self.state.keys.current().sign(claims)
    }

    /// Rotates the signing key now (as the periodic rotation does).
    pub async fn rotate_signing_key(&self) -> Result<(), EntraError> {
        let key = generate_key().await?;
        self.state.keys.rotate(key);
        Ok(())
    }

    /// Counts signing-key rotations; a test awaits a change.
    pub fn signing_key_rotations(&self) -> watch::Receiver<u64> {
        self.state.keys.rotations()
    }

    /// A validator for access tokens of `tenant_id`, trusting the CA in `ca_pem`.
    pub fn validator(
        &self,
        tenant_id: &str,
        ca_pem: &str,
    ) -> Result<EntraValidator, ValidatorError> {
        EntraValidator::new(ValidatorOptions::new(
            self.state.authority.clone(),
            tenant_id,
            ca_pem,
        ))
    }

    /// Stops both listeners and the rotation.
    pub async fn shutdown(self) {
        if let Some(rotation) = &self.rotation {
            rotation.abort();
        }
        self.https.shutdown().await;
        self.http.shutdown().await;
    }
}

impl Drop for Entra {
    fn drop(&mut self) {
        if let Some(rotation) = &self.rotation {
            rotation.abort();
        }
    }
}
