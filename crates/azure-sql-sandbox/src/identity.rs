//! Who is who in the sandbox: the identities its Entra stand-in knows (the directory), and what a
//! validated access token says about its bearer.
//!
//! This is the contract between the three services: `entra` issues tokens for directory entries
//! and validates them (implementing [`Directory`] and [`AccessTokenValidator`]); `sql` maps an
//! identity to a database user made with `CREATE USER [name] FROM EXTERNAL PROVIDER`; `tds` logs
//! the bearer in. Like Azure SQL, the SQL side keys an application's or managed identity's user
//! by its application (client) id, and a human user by its object id.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

/// What kind of principal a directory entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The service principal of an app registration (workload identity, client secret).
    Application,
    /// A user-assigned or system-assigned managed identity.
    ManagedIdentity,
    /// A human user.
    User,
}

/// One identity in the Entra stand-in's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The name `CREATE USER [...] FROM EXTERNAL PROVIDER` refers to.
    pub display_name: String,
    /// The object id (`oid` claim).
    pub object_id: String,
    /// The application (client) id (`appid` claim); for users, equal to the object id.
    pub app_id: String,
    /// The tenant the identity lives in (`tid` claim).
    pub tenant_id: String,
    /// What the identity is.
    pub kind: PrincipalKind,
}

impl DirectoryEntry {
    /// What a validated access token for this identity says, valid until `expires_at`: its
    /// tenant and object id, and its application id unless it is a user (as Azure SQL reads
    /// `appid`/`azp`).
    pub fn token_identity(&self, expires_at: SystemTime) -> TokenIdentity {
        TokenIdentity {
            tenant_id: self.tenant_id.clone(),
            object_id: self.object_id.clone(),
            app_id: match self.kind {
                PrincipalKind::User => None,
                PrincipalKind::Application | PrincipalKind::ManagedIdentity => {
                    Some(self.app_id.clone())
                }
            },
            expires_at,
        }
    }
}

/// Looks identities up, as Azure SQL asks Entra when it runs `CREATE USER ... FROM EXTERNAL PROVIDER`.
pub trait Directory: Send + Sync + 'static {
    /// Finds an identity by display name (case-insensitive), or by application id.
    fn find(&self, name: &str) -> Option<DirectoryEntry>;
}

/// A [`Directory`] over a fixed list of identities, for an engine driven without the Entra
/// stand-in (the engine's tests and benchmarks, or a caller's own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FixedDirectory(pub Vec<DirectoryEntry>);

impl Directory for FixedDirectory {
    fn find(&self, name: &str) -> Option<DirectoryEntry> {
        self.0
            .iter()
            .find(|e| {
                e.display_name.eq_ignore_ascii_case(name) || e.app_id.eq_ignore_ascii_case(name)
            })
            .cloned()
    }
}

/// What a validated access token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenIdentity {
    /// `tid`.
    pub tenant_id: String,
    /// `oid`.
    pub object_id: String,
    /// `appid` (v1 tokens) or `azp` (v2); `None` for a user token.
    pub app_id: Option<String>,
    /// `exp`: after this instant a revalidating server refuses the session (error 37396).
    pub expires_at: SystemTime,
}

/// Why an access token was refused. SQL answers every refusal with error 18456, whose text says
/// which [`RejectionKind`] it was (as Azure SQL's does); the reason goes to the sandbox's log only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRejection {
    /// What the client is told.
    pub kind: RejectionKind,
    /// One line naming the failed check (expired, audience, issuer, signature, ...).
    pub reason: String,
}

/// The two refusals of a token Azure SQL tells apart in its 18456 text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionKind {
    /// The token is genuine and for this server, but its `exp` has passed: "Token is expired."
    Expired,
    /// Anything else: another tenant, audience or cloud, a bad signature, not a JWT: "The server
    /// is not currently configured to accept this token."
    NotAccepted,
}

/// The boxed future [`AccessTokenValidator::validate`] returns.
pub type ValidateFuture<'a> =
    Pin<Box<dyn Future<Output = Result<TokenIdentity, TokenRejection>> + Send + 'a>>;

/// Checks an access token presented in a LOGIN7 FEDAUTH extension: signature against the
/// issuer's published keys, audience, issuer/tenant, and time window.
pub trait AccessTokenValidator: Send + Sync + 'static {
    /// Validates `token` (the JWT as sent, already decoded from UTF-16LE).
    fn validate<'a>(&'a self, token: &'a str) -> ValidateFuture<'a>;

    /// Where clients of the ADAL/MSAL FEDAUTH workflow (SqlClient's `Active Directory Default`,
    /// tedious' `token-credential`, ...) get their token: the STS URL of the server's FEDAUTHINFO
    /// answer, `{authority}{tenant}` as Azure SQL sends it (the SPN is always
    /// `https://database.windows.net/`). `None`, the default, refuses that workflow with 18456;
    /// clients that send a ready token in LOGIN7 are unaffected.
    fn sts_url(&self) -> Option<String> {
        None
    }
}
