//! Token sources the caller brings: any `azure_core` [`TokenCredential`] (for example an
//! `azure_identity` credential built with options this crate does not expose), or an async
//! callback (a secret store, a sidecar, a test).

use super::TokenProvider;
use azure_core::credentials::{AccessToken, TokenCredential};
use azure_core::error::ErrorKind;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// Wraps the caller's own credential.
///
/// Its own cache applies: every `azure_identity` credential returns its cached token until 5
/// minutes before expiry, so the pool's early renewal gets the same token back until then and
/// effectively renews in those last 5 minutes. Prefer [`provider_for`](super::provider_for) for the
/// modes it knows (they bypass that cache).
///
/// ```no_run
/// use azure_sql_passwordless::{azure_core, azure_identity, from_token_credential};
///
/// # fn example() -> azure_core::Result<()> {
/// let credential = azure_identity::DeveloperToolsCredential::new(None)?;
/// let provider = from_token_credential(credential);
/// assert_eq!(provider.kind(), "token credential");
/// # Ok(())
/// # }
/// ```
pub fn from_token_credential(credential: Arc<dyn TokenCredential>) -> Arc<dyn TokenProvider> {
    Arc::new(Credential { credential })
}

struct Credential {
    credential: Arc<dyn TokenCredential>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // azure_identity's credentials redact their secrets in `Debug`.
        f.debug_struct("TokenCredential")
            .field("credential", &self.credential)
            .finish()
    }
}

#[async_trait::async_trait]
impl TokenProvider for Credential {
    async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken> {
        self.credential.get_token(&[scope], None).await
    }

    fn kind(&self) -> &'static str {
        "token credential"
    }
}

/// Wraps an async callback that returns a token for the scope it is given. The callback gets
/// the scope as an owned `String`, so its future can hold it without borrowing. It is called
/// once per renewal: caching is the pool's job. Its error (anything convertible to a boxed
/// error, `anyhow::Error` included) becomes the fetch's error, with its text.
///
/// ```
/// use azure_sql_passwordless::azure_core::{self, credentials::AccessToken};
/// use azure_sql_passwordless::from_callback;
///
/// let provider = from_callback(|scope: String| async move {
///     // Fetch from a sidecar, a vault, ...
///     let token = format!("token-for-{scope}");
///     Ok::<_, std::io::Error>(AccessToken::new(
///         token,
///         azure_core::time::OffsetDateTime::now_utc() + std::time::Duration::from_secs(3600),
///     ))
/// });
/// assert_eq!(provider.kind(), "callback");
/// ```
pub fn from_callback<F, Fut, E>(callback: F) -> Arc<dyn TokenProvider>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AccessToken, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Arc::new(Callback {
        fetch: Box::new(move |scope| {
            let future = callback(scope);
            Box::pin(async move {
                future.await.map_err(|e| {
                    let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                    let message = format!("the token callback failed: {e}");
                    azure_core::Error::with_error(ErrorKind::Credential, e, message)
                })
            })
        }),
    })
}

type BoxedFetch = Box<
    dyn Fn(
            String,
        )
            -> std::pin::Pin<Box<dyn Future<Output = azure_core::Result<AccessToken>> + Send>>
        + Send
        + Sync,
>;

struct Callback {
    fetch: BoxedFetch,
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Callback")
    }
}

#[async_trait::async_trait]
impl TokenProvider for Callback {
    async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken> {
        (self.fetch)(scope.to_owned()).await
    }

    fn kind(&self) -> &'static str {
        "callback"
    }
}
