//! The Kubernetes side of Workload Identity: a service-account token issuer and the kubelet's
//! projection of its tokens into a file.
//!
//! - An OIDC issuer at `https://localhost:<port>/<id>/` (shaped like AKS's
//!   `https://<region>.oic.prod-aks.azure.com/<tenant>/<id>/`), serving its discovery document at
//!   `{issuer}.well-known/openid-configuration` and its JWKS at `{issuer}openid/v1/jwks` over HTTPS,
//!   so Entra can fetch its keys the way it fetches a real cluster's.
//! - Service-account JWTs (RS256 with `kid`) carrying `iss`, `sub=system:serviceaccount:<ns>:<sa>`,
//!   `aud=["api://AzureADTokenExchange"]`, `iat`, `nbf`, `exp`, `jti` and the `kubernetes.io`
//!   claim, written to the projected token file (`AZURE_FEDERATED_TOKEN_FILE`).
//! - The kubelet's rotation: the file is rewritten once 80% of the token's lifetime has passed,
//!   atomically (write to a temporary file in the same directory, then rename), so a reader sees
//!   either the old token or the new one, never half of one.
//! - Deliberately bad tokens for tests ([`BadToken`], [`TokenSpec`]): expired, not yet valid,
//!   wrong audience, wrong subject, signed by a foreign key, a forged signature, another issuer.

use crate::http_server::{bind_loopback_pair, HttpServer};
use crate::pki::{Pki, PkiError};
use crate::signing_key::{SigningKey, SigningKeyError};
use crate::stats::Stats;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The audience Entra requires of a federated assertion (`aud` of every projected token).
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// When the kubelet rewrites a projected token, as a fraction of its lifetime.
const ROTATE_AT_FRACTION: f64 = 0.8;

/// How the issuer and its projected token file are set up.
#[derive(Clone, Debug)]
pub struct IssuerOptions {
    /// Where the projected token is written (`AZURE_FEDERATED_TOKEN_FILE`). Its directory is
    /// created if missing.
    pub token_file: PathBuf,
    /// The pod's namespace. Default `customers`.
    pub namespace: String,
    /// The pod's service account. Default `customers`.
    pub service_account: String,
    /// Lifetime of each projected token (`expirationSeconds`). Default one hour; at least 1 s.
    pub token_lifetime: Duration,
    /// Where its HTTP server counts panicked connection tasks. Default: counters of its own.
    pub stats: Stats,
}

impl IssuerOptions {
    /// Options with the defaults and the given token file.
    pub fn new(token_file: impl Into<PathBuf>) -> Self {
        IssuerOptions {
            token_file: token_file.into(),
            namespace: "customers".into(),
            service_account: "customers".into(),
            token_lifetime: Duration::from_secs(3600),
            stats: Stats::default(),
        }
    }
}

/// Why the issuer could not start or write its token.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// An option is unusable.
    #[error("invalid issuer option: {0}")]
    InvalidOptions(String),
    /// The signing key could not be made.
    #[error(transparent)]
    Key(#[from] SigningKeyError),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] PkiError),
    /// No loopback port could be bound.
    #[error("could not listen on a loopback port for the Kubernetes issuer: {0}")]
    Bind(#[source] std::io::Error),
    /// The token file could not be written.
    #[error("could not write the projected service-account token to {path}: {source}; check that its directory is writable")]
    WriteToken {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The `kubernetes.io` claim of a service-account token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    /// The pod's namespace.
    pub namespace: String,
    /// The node the pod runs on.
    pub node: ObjectRef,
    /// The pod the token was projected into.
    pub pod: ObjectRef,
    /// The service account.
    pub serviceaccount: ObjectRef,
}

/// A Kubernetes object reference inside the `kubernetes.io` claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The object's name.
    pub name: String,
    /// The object's uid.
    pub uid: String,
}

/// The claims of a projected service-account token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountClaims {
    /// Audiences; `["api://AzureADTokenExchange"]` for Workload Identity.
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// The issuer URL.
    pub iss: String,
    /// A unique token id.
    pub jti: String,
    /// Pod, node and service-account references.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    /// Not before.
    pub nbf: u64,
    /// `system:serviceaccount:<namespace>:<service account>`.
    pub sub: String,
}

/// Which key signs a [`TokenSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// The issuer's published key (a genuine token).
    Issuer,
    /// A key the issuer never published, with its own `kid` (Entra: key not found).
    ForeignKey,
    /// A foreign key but the issuer's `kid` in the header (Entra: signature does not verify).
    ForgedSignature,
}

/// Every field of a token to mint; start from [`Issuer::token_spec`] (a valid token) and change
/// what a test needs wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSpec {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `aud`.
    pub audiences: Vec<String>,
    /// `iat`.
    pub issued_at: SystemTime,
    /// `nbf`.
    pub not_before: SystemTime,
    /// `exp`.
    pub expires_at: SystemTime,
    /// The signing key.
    pub signer: Signer,
}

/// Ready-made bad tokens, each refused by Entra for one reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadToken {
    /// Expired a minute ago (AADSTS700024).
    Expired,
    /// Valid only from an hour from now (AADSTS700024).
    NotYetValid,
    /// `aud` is not `api://AzureADTokenExchange` (AADSTS700212).
    WrongAudience,
    /// A different service account's subject (AADSTS700213).
    WrongSubject,
    /// Signed by a key the issuer does not publish (AADSTS700027, key not found).
    ForeignKey,
    /// The issuer's `kid` over someone else's signature (AADSTS700027).
    ForgedSignature,
    /// Claims another issuer, which no federated credential trusts (AADSTS700211).
    OtherIssuer,
}

struct IssuerState {
    url: String,
    key: SigningKey,
    foreign_key: OnceLock<Result<SigningKey, String>>,
    token_file: PathBuf,
    namespace: String,
    service_account: String,
    service_account_uid: String,
    token_lifetime: Duration,
    writes: watch::Sender<u64>,
}

/// A running Kubernetes issuer with its projected token file. Dropping it stops the server and
/// the rotation.
pub struct Issuer {
    state: Arc<IssuerState>,
    server: HttpServer,
    rotation: JoinHandle<()>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("url", &self.state.url)
            .field("token_file", &self.state.token_file)
            .finish_non_exhaustive()
    }
}

fn epoch_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(Serialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    response_types_supported: [&'static str; 1],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 1],
}

async fn discovery(State(state): State<Arc<IssuerState>>) -> Json<Discovery> {
    Json(Discovery {
        issuer: state.url.clone(),
        jwks_uri: format!("{}openid/v1/jwks", state.url),
        response_types_supported: ["id_token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
    })
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> Json<jsonwebtoken::jwk::JwkSet> {
    Json(jsonwebtoken::jwk::JwkSet {
        keys: vec![state.key.jwk().clone()],
    })
}

impl IssuerState {
    fn subject(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }

    fn spec(&self) -> TokenSpec {
        let now = SystemTime::now();
        TokenSpec {
            issuer: self.url.clone(),
            subject: self.subject(),
            audiences: vec![TOKEN_EXCHANGE_AUDIENCE.to_string()],
            issued_at: now,
            not_before: now,
            expires_at: now + self.token_lifetime,
            signer: Signer::Issuer,
        }
    }

    fn foreign_key(&self) -> Result<&SigningKey, IssuerError> {
        self.foreign_key
            .get_or_init(|| SigningKey::generate().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| IssuerError::InvalidOptions(format!("foreign key unavailable: {e}")))
    }

    fn mint(&self, spec: &TokenSpec) -> Result<String, IssuerError> {
        let claims = ServiceAccountClaims {
            aud: spec.audiences.clone(),
            exp: epoch_seconds(spec.expires_at),
            iat: epoch_seconds(spec.issued_at),
            iss: spec.issuer.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: KubernetesClaim {
                namespace: self.namespace.clone(),
                node: ObjectRef {
                    name: "aks-nodepool1-sandbox-vmss000000".into(),
                    uid: uuid::Uuid::new_v4().to_string(),
                },
                pod: ObjectRef {
                    name: format!("{}-sandbox", self.service_account),
                    uid: uuid::Uuid::new_v4().to_string(),
                },
                serviceaccount: ObjectRef {
                    name: self.service_account.clone(),
                    uid: self.service_account_uid.clone(),
                },
            },
            nbf: epoch_seconds(spec.not_before),
            sub: spec.subject.clone(),
        };
        let token = match spec.signer {
            Signer::Issuer => self.key.sign(&claims)?,
            Signer::ForeignKey => self.foreign_key()?.sign(&claims)?,
            Signer::ForgedSignature => {
                self.foreign_key()?.sign_with_kid(&claims, self.key.kid())?
            }
        };
        Ok(token)
    }

    fn write_token_file(&self, token: &str) -> Result<(), IssuerError> {
        write_atomically(&self.token_file, token.as_bytes()).map_err(|source| {
            IssuerError::WriteToken {
                path: self.token_file.clone(),
                source,
            }
        })?;
        self.writes.send_modify(|n| *n += 1);
        Ok(())
    }

    fn project_fresh_token(&self) -> Result<(), IssuerError> {
        let token = self.mint(&self.spec())?;
        self.write_token_file(&token)?;
        tracing::debug!(file = %self.token_file.display(), lifetime_s = self.token_lifetime.as_secs_f64(), "projected a fresh service-account token");
        Ok(())
    }
}

/// Writes `contents` to `path` through a temporary file in the same directory and a rename.
fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "token".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

async fn rotate_forever(state: Arc<IssuerState>) {
    let period = state.token_lifetime.mul_f64(ROTATE_AT_FRACTION);
    loop {
        tokio::time::sleep(period).await;
        if let Err(e) = state.project_fresh_token() {
            // The old token stays in place (and keeps working until it expires); try again soon.
            tracing::error!(error = %e, "could not rotate the projected service-account token");
            tokio::time::sleep(Duration::from_secs(1).min(period)).await;
        }
    }
}

impl Issuer {
    /// Generates the issuer's key, starts its HTTPS endpoint on loopback (port 0), writes the
    /// first token to the token file and starts rotating it.
    pub async fn start(pki: &Pki, options: IssuerOptions) -> Result<Issuer, IssuerError> {
        if options.token_lifetime < Duration::from_secs(1) {
            return Err(IssuerError::InvalidOptions(format!(
                "service-account token lifetime must be at least 1 s, got {:?}",
                options.token_lifetime
            )));
        }
        for (what, value) in [
            ("namespace", &options.namespace),
            ("service account", &options.service_account),
        ] {
            if value.is_empty() || value.contains(':') || value.contains(char::is_whitespace) {
                return Err(IssuerError::InvalidOptions(format!(
                    "{what} must be a Kubernetes name (no ':' or spaces), got {value:?}"
                )));
            }
        }
        if let Some(dir) = options
            .token_file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|source| IssuerError::WriteToken {
                path: options.token_file.clone(),
                source,
            })?;
        }
        let key = tokio::task::spawn_blocking(SigningKey::generate)
            .await
            .map_err(|e| {
                IssuerError::InvalidOptions(format!("key generation task failed: {e}"))
            })??;
        let listeners = bind_loopback_pair().await.map_err(IssuerError::Bind)?;
        let port = listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
            .ok_or_else(|| IssuerError::Bind(std::io::Error::other("no listener")))?;
        let id = uuid::Uuid::new_v4();
        let url = format!("https://localhost:{port}/{id}/");
        let (writes, _) = watch::channel(0);
        let state = Arc::new(IssuerState {
            url,
            key,
            foreign_key: OnceLock::new(),
            token_file: options.token_file,
            namespace: options.namespace,
            service_account: options.service_account,
            service_account_uid: uuid::Uuid::new_v4().to_string(),
            token_lifetime: options.token_lifetime,
            writes,
        });
        let router = Router::new()
            .route(
                &format!("/{id}/.well-known/openid-configuration"),
                get(discovery),
            )
            .route(&format!("/{id}/openid/v1/jwks"), get(jwks))
            .with_state(state.clone());
        let server = HttpServer::serve(
            "kubernetes-issuer",
            listeners,
            router,
            Some(pki.server_config(&[b"http/1.1"])?),
            options.stats,
        )
        .map_err(IssuerError::Bind)?;
        state.project_fresh_token()?;
        let rotation = tokio::spawn(rotate_forever(state.clone()));
        tracing::info!(issuer = %state.url, token_file = %state.token_file.display(), "Kubernetes issuer started");
        Ok(Issuer {
            state,
            server,
            rotation,
        })
    }

    /// The issuer URL (`iss`), with its trailing slash as AKS writes it.
    pub fn url(&self) -> &str {
        &self.state.url
    }

    /// The subject of the configured service account, `system:serviceaccount:<ns>:<sa>`.
    pub fn subject(&self) -> String {
        self.state.subject()
    }

    /// The projected token file.
    pub fn token_file(&self) -> &Path {
        &self.state.token_file
    }

    /// The lifetime of each projected token.
    pub fn token_lifetime(&self) -> Duration {
        self.state.token_lifetime
    }

    /// The `kid` of the issuer's signing key.
    pub fn key_id(&self) -> &str {
        self.state.key.kid()
    }

    /// The port of its HTTPS endpoint.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The spec of a valid token for the configured service account, issued now.
    pub fn token_spec(&self) -> TokenSpec {
        self.state.spec()
    }

    /// A valid token for the configured service account, as the kubelet would project it.
    pub fn mint(&self) -> Result<String, IssuerError> {
        self.state.mint(&self.state.spec())
    }

    /// A token built from `spec` (any field may be wrong on purpose).
    pub fn mint_with(&self, spec: &TokenSpec) -> Result<String, IssuerError> {
        self.state.mint(spec)
    }

    /// A token that Entra must refuse for the given reason.
    pub fn mint_bad(&self, kind: BadToken) -> Result<String, IssuerError> {
        let mut spec = self.state.spec();
        let now = SystemTime::now();
        match kind {
            BadToken::Expired => {
                spec.issued_at = now - Duration::from_secs(2 * 3600);
                spec.not_before = spec.issued_at;
                spec.expires_at = now - Duration::from_secs(60);
            }
            BadToken::NotYetValid => {
                spec.not_before = now + Duration::from_secs(3600);
                spec.expires_at = now + Duration::from_secs(2 * 3600);
            }
            BadToken::WrongAudience => spec.audiences = vec!["api://SomethingElse".into()],
            BadToken::WrongSubject => {
                spec.subject = format!("system:serviceaccount:{}:intruder", self.state.namespace)
            }
            BadToken::ForeignKey => spec.signer = Signer::ForeignKey,
            BadToken::ForgedSignature => spec.signer = Signer::ForgedSignature,
            BadToken::OtherIssuer => {
                spec.issuer = format!(
                    "https://localhost:{}/{}/",
                    self.server.port(),
                    uuid::Uuid::new_v4()
                );
                spec.signer = Signer::ForeignKey;
            }
        }
        self.state.mint(&spec)
    }

    /// Replaces the token file's contents with `token` now (atomically). The next scheduled
    /// rotation overwrites it with a valid token again.
    pub fn write_token_file(&self, token: &str) -> Result<(), IssuerError> {
        self.state.write_token_file(token)
    }

    /// Writes a fresh valid token to the file now, as a rotation would.
    pub fn rotate_now(&self) -> Result<(), IssuerError> {
        self.state.project_fresh_token()
    }

    /// Counts writes of the token file (the first one included); a test awaits a change to see
    /// a rotation happen.
    pub fn token_file_writes(&self) -> watch::Receiver<u64> {
        self.state.writes.subscribe()
    }

    /// Stops the HTTPS endpoint and the rotation.
    pub async fn shutdown(self) {
        self.rotation.abort();
        self.server.shutdown().await;
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.rotation.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    fn temp_file() -> PathBuf {
        std::env::temp_dir()
            .join(format!("issuer-test-{}", uuid::Uuid::new_v4()))
            .join("azure-identity-token")
    }

    fn claims(token: &str) -> ServiceAccountClaims {
        jsonwebtoken::dangerous::insecure_decode::<ServiceAccountClaims>(token)
            .unwrap()
            .claims
    }

    #[tokio::test]
    async fn serves_discovery_and_jwks_that_verify_the_projected_token() {
        let pki = Pki::generate().unwrap();
        let issuer = Issuer::start(&pki, IssuerOptions::new(temp_file()))
            .await
            .unwrap();
        let http = pki.http_client().unwrap();

        let get = |url: String| {
            let http = http.clone();
            async move {
                let bytes = http.get(url).send().await.unwrap().bytes().await.unwrap();
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
            }
        };
        let discovery = get(format!("{}.well-known/openid-configuration", issuer.url())).await;
        assert_eq!(discovery["issuer"], issuer.url());
        let jwks_uri = discovery["jwks_uri"].as_str().unwrap().to_string();
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(get(jwks_uri).await).unwrap();

        let token = std::fs::read_to_string(issuer.token_file()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[TOKEN_EXCHANGE_AUDIENCE]);
        validation.set_issuer(&[issuer.url()]);
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<ServiceAccountClaims>(
            &token,
            &DecodingKey::from_jwk(jwk).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(data.claims.sub, "system:serviceaccount:customers:customers");
        assert_eq!(data.claims.kubernetes.namespace, "customers");
        assert_eq!(data.claims.kubernetes.serviceaccount.name, "customers");
        assert_eq!(data.claims.exp - data.claims.iat, 3600);
        assert_eq!(data.claims.nbf, data.claims.iat);

        let _ = std::fs::remove_dir_all(issuer.token_file().parent().unwrap());
        issuer.shutdown().await;
    }

    #[tokio::test]
    async fn rewrites_the_file_before_the_token_expires() {
        let pki = Pki::generate().unwrap();
        let mut options = IssuerOptions::new(temp_file());
        options.token_lifetime = Duration::from_secs(1);
        let issuer = Issuer::start(&pki, options).await.unwrap();
        let first = std::fs::read_to_string(issuer.token_file()).unwrap();
        let first_exp = claims(&first).exp;

        let mut writes = issuer.token_file_writes();
        let seen = *writes.borrow_and_update();
        writes.changed().await.unwrap();
        let at = SystemTime::now();
        assert!(*writes.borrow() > seen);

        let second = std::fs::read_to_string(issuer.token_file()).unwrap();
        assert_ne!(first, second);
        // Rewritten at 80% of the lifetime: the old token had not expired yet.
        assert!(epoch_seconds(at) <= first_exp);
        let dir = issuer.token_file().parent().unwrap().to_path_buf();
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "temporary files left behind: {leftovers:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn bad_tokens_are_bad_in_exactly_one_way() {
        let pki = Pki::generate().unwrap();
        let issuer = Issuer::start(&pki, IssuerOptions::new(temp_file()))
            .await
            .unwrap();
        let good = claims(&issuer.mint().unwrap());
        let now = epoch_seconds(SystemTime::now());

        let expired = claims(&issuer.mint_bad(BadToken::Expired).unwrap());
        assert!(expired.exp < now);
        let early = claims(&issuer.mint_bad(BadToken::NotYetValid).unwrap());
        assert!(early.nbf > now);
        let aud = claims(&issuer.mint_bad(BadToken::WrongAudience).unwrap());
        assert_ne!(aud.aud, good.aud);
        assert_eq!(aud.sub, good.sub);
        let sub = claims(&issuer.mint_bad(BadToken::WrongSubject).unwrap());
        assert_ne!(sub.sub, good.sub);
        let other = claims(&issuer.mint_bad(BadToken::OtherIssuer).unwrap());
        assert_ne!(other.iss, good.iss);

        let foreign = issuer.mint_bad(BadToken::ForeignKey).unwrap();
        let kid = jsonwebtoken::decode_header(&foreign).unwrap().kid.unwrap();
        assert_ne!(kid, issuer.key_id());
        let forged = issuer.mint_bad(BadToken::ForgedSignature).unwrap();
        let kid = jsonwebtoken::decode_header(&forged).unwrap().kid.unwrap();
        assert_eq!(kid, issuer.key_id());
        let _ = std::fs::remove_dir_all(issuer.token_file().parent().unwrap());
    }

    #[tokio::test]
    async fn refuses_unusable_options() {
        let pki = Pki::generate().unwrap();
        let mut options = IssuerOptions::new(temp_file());
        options.token_lifetime = Duration::from_millis(10);
        assert!(matches!(
            Issuer::start(&pki, options).await,
            Err(IssuerError::InvalidOptions(_))
        ));
        let mut options = IssuerOptions::new(temp_file());
        options.namespace = "a:b".into();
        let err = Issuer::start(&pki, options).await.unwrap_err();
        assert!(err.to_string().contains("namespace"), "{err}");
    }
}
