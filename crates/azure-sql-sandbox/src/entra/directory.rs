//! The Entra stand-in's directory: tenants, app registrations (with their client secrets and
//! federated identity credentials) and managed identities (system- and user-assigned).
//!
//! It is what the token endpoint checks requests against, and what the SQL side asks when it runs
//! `CREATE USER [name] FROM EXTERNAL PROVIDER` (through [`crate::identity::Directory`]).
//! Object ids are those of the service principals (the `oid` claim of their tokens).

use crate::identity::{Directory, DirectoryEntry, PrincipalKind};
use rand::Rng;
use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

/// How long a client secret lives when no lifetime is given: Microsoft Graph's `addPassword`
/// default, "startDateTime + 2 years" (learn.microsoft.com/graph/api/application-addpassword).
pub const DEFAULT_SECRET_LIFETIME: Duration = Duration::from_secs(2 * 365 * 24 * 3600);

/// A client secret and when it stops being accepted.
#[derive(Clone, PartialEq, Eq)]
struct ClientSecret {
    value: String,
    expires_at: SystemTime,
}

/// What a presented client secret is to an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretCheck {
    /// One of its secrets, not expired.
    Valid,
    /// One of its secrets, expired (AADSTS7000222).
    Expired,
    /// None of its secrets (AADSTS7000215).
    Unknown,
}

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant id (a GUID).
    pub id: String,
    /// The display name (what AADSTS700016 and 500011 name).
    pub display_name: String,
    /// The initial domain, e.g. `sandbox.onmicrosoft.com`; also accepted in token URLs.
    pub domain: String,
}

/// A federated identity credential of an app registration: Entra trusts tokens whose `iss` and
/// `sub` equal these (case-sensitively) and whose `aud` includes one of `audiences`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederatedCredential {
    /// A name for the credential.
    pub name: String,
    /// The external issuer URL, exactly as its tokens' `iss`.
    pub issuer: String,
    /// The subject, e.g. `system:serviceaccount:<ns>:<sa>`.
    pub subject: String,
    /// Accepted audiences; `["api://AzureADTokenExchange"]` normally.
    pub audiences: Vec<String>,
}

/// An app registration with its service principal.
#[derive(Clone, PartialEq, Eq)]
pub struct AppRegistration {
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// The application (client) id (`appid` claim).
    pub client_id: String,
    /// The service principal's object id (`oid` claim).
    pub object_id: String,
    /// The display name (`CREATE USER [display name] FROM EXTERNAL PROVIDER`).
    pub display_name: String,
    /// Its federated identity credentials.
    pub federated_credentials: Vec<FederatedCredential>,
    secrets: Vec<ClientSecret>,
}

impl fmt::Debug for AppRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRegistration")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("object_id", &self.object_id)
            .field("display_name", &self.display_name)
            .field("federated_credentials", &self.federated_credentials)
            .field(
                "secrets",
                &format_args!("<{} redacted>", self.secrets.len()),
            )
            .finish()
    }
}

impl AppRegistration {
    /// What `secret` is to the application at `now`: one of its client secrets (compared in
    /// constant time), still valid or expired, or none of them.
    pub fn check_secret(&self, secret: &str, now: SystemTime) -> SecretCheck {
        let found = self.secrets.iter().find(|s| {
            aws_lc_rs::constant_time::verify_slices_are_equal(s.value.as_bytes(), secret.as_bytes())
                .is_ok()
        });
        match found {
            Some(s) if now < s.expires_at => SecretCheck::Valid,
            Some(_) => SecretCheck::Expired,
            None => SecretCheck::Unknown,
        }
    }

    /// Whether `secret` is one of the application's client secrets, valid now.
    pub fn has_secret(&self, secret: &str) -> bool {
        self.check_secret(secret, SystemTime::now()) == SecretCheck::Valid
    }
}

/// A service principal with a client secret, as a test or a developer uses it
/// (`Authentication=Active Directory Service Principal`). `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    /// The application (client) id: `User Id` in a connection string.
    pub client_id: String,
    /// The tenant id.
    pub tenant_id: String,
    /// The object id (`oid`).
    pub object_id: String,
    /// The display name.
    pub display_name: String,
    /// The client secret value: `Password` in a connection string.
    pub secret: String,
}

impl fmt::Debug for ServicePrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServicePrincipal")
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field("object_id", &self.object_id)
            .field("display_name", &self.display_name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A managed identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedIdentity {
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// Its client id (`client_id` in IMDS requests, `appid` claim).
    pub client_id: String,
    /// Its object (principal) id (`object_id` in IMDS requests, `oid` claim).
    pub object_id: String,
    /// Its display name (`CREATE USER [name] FROM EXTERNAL PROVIDER`).
    pub display_name: String,
    /// Its ARM resource id (`msi_res_id` in IMDS requests, `xms_mirid` claim).
    pub resource_id: String,
    /// Whether it is the host's system-assigned identity.
    pub system_assigned: bool,
}

/// How an IMDS / App Service request names the identity it wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentitySelector {
    /// No id: the system-assigned identity (or the only user-assigned one, when the host has no
    /// system-assigned identity and exactly one user-assigned).
    Default,
    /// `client_id=`
    ClientId(String),
    /// `object_id=` / `principal_id=`
    ObjectId(String),
    /// `msi_res_id=` / `mi_res_id=`
    ResourceId(String),
}

/// Why a directory operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// No application with that client id.
    #[error("no app registration with client id {client_id:?} in the sandbox directory; create it first (Sandbox::create_service_principal, or the workload identity's AZURE_CLIENT_ID)")]
    UnknownClient {
        /// The client id.
        client_id: String,
    },
}

#[derive(Default)]
struct Data {
    tenants: Vec<Tenant>,
    apps: Vec<AppRegistration>,
    identities: Vec<ManagedIdentity>,
}

impl Data {
    /// The application with `client_id` (any tenant), to change it.
    fn app_mut(&mut self, client_id: &str) -> Result<&mut AppRegistration, DirectoryError> {
        self.apps
            .iter_mut()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
            .ok_or_else(|| DirectoryError::UnknownClient {
                client_id: client_id.to_string(),
            })
    }
}

/// The directory. Shared (`Arc`) between the token endpoint, IMDS and the SQL engine.
#[derive(Default)]
pub struct EntraDirectory {
    data: RwLock<Data>,
}

impl fmt::Debug for EntraDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = self.read();
        f.debug_struct("EntraDirectory")
            .field("tenants", &data.tenants.len())
            .field("apps", &data.apps.len())
            .field("managed_identities", &data.identities.len())
            .finish()
    }
}

fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A client secret value shaped like Entra's (40 characters, `8Q~` after the first three).
fn secret_value() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-";
    let mut rng = rand::rng();
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect()
    };
    format!("{}8Q~{}", pick(3), pick(34))
}

impl EntraDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        // A panic while holding the lock cannot leave `Data` half-updated (every write is one
        // push), so a poisoned lock's data is still sound.
        self.data.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a tenant named `display_name` with domain `<domain_prefix>.onmicrosoft.com`.
    pub fn add_tenant(&self, display_name: &str, domain_prefix: &str) -> Tenant {
        let tenant = Tenant {
            id: guid(),
            display_name: display_name.to_string(),
            domain: format!("{domain_prefix}.onmicrosoft.com"),
        };
        self.write().tenants.push(tenant.clone());
        tenant
    }

    /// Finds a tenant by id or domain (case-insensitive), as the token URL names it.
    pub fn tenant(&self, id_or_domain: &str) -> Option<Tenant> {
        self.read()
            .tenants
            .iter()
            .find(|t| {
                t.id.eq_ignore_ascii_case(id_or_domain)
                    || t.domain.eq_ignore_ascii_case(id_or_domain)
            })
            .cloned()
    }

    /// Registers an application (and its service principal) in `tenant`.
    pub fn register_app(&self, tenant: &Tenant, display_name: &str) -> AppRegistration {
        let app = AppRegistration {
            tenant_id: tenant.id.clone(),
            client_id: guid(),
            object_id: guid(),
            display_name: display_name.to_string(),
            federated_credentials: Vec::new(),
            secrets: Vec::new(),
        };
        self.write().apps.push(app.clone());
        app
    }

    /// Registers an application with a fresh client secret.
    pub fn create_service_principal(
        &self,
        tenant: &Tenant,
        display_name: &str,
    ) -> ServicePrincipal {
        let app = self.register_app(tenant, display_name);
        let secret = secret_value();
        let mut data = self.write();
        if let Some(stored) = data.apps.iter_mut().find(|a| a.client_id == app.client_id) {
            stored.secrets.push(ClientSecret {
                value: secret.clone(),
                expires_at: SystemTime::now() + DEFAULT_SECRET_LIFETIME,
            });
        }
        ServicePrincipal {
            client_id: app.client_id,
            tenant_id: app.tenant_id,
            object_id: app.object_id,
            display_name: app.display_name,
            secret,
        }
    }

    /// Adds a client secret to an application and returns its value; it lives
    /// [`DEFAULT_SECRET_LIFETIME`].
    pub fn add_client_secret(&self, client_id: &str) -> Result<String, DirectoryError> {
        self.add_client_secret_valid_for(client_id, DEFAULT_SECRET_LIFETIME)
    }

    /// Adds a client secret that Entra accepts for `lifetime` from now, then refuses with
    /// AADSTS7000222 (`Duration::ZERO`: already expired).
    pub fn add_client_secret_valid_for(
        &self,
        client_id: &str,
        lifetime: Duration,
    ) -> Result<String, DirectoryError> {
        let secret = secret_value();
        let mut data = self.write();
        let app = data.app_mut(client_id)?;
        app.secrets.push(ClientSecret {
            value: secret.clone(),
            expires_at: SystemTime::now() + lifetime,
        });
        Ok(secret)
    }

    /// Adds a federated identity credential to an application.
    pub fn add_federated_credential(
        &self,
        client_id: &str,
        credential: FederatedCredential,
    ) -> Result<(), DirectoryError> {
        let mut data = self.write();
        let app = data.app_mut(client_id)?;
        app.federated_credentials.push(credential);
        Ok(())
    }

    /// Removes every federated identity credential of an application (access stops at the next
    /// token exchange).
    pub fn remove_federated_credentials(&self, client_id: &str) -> Result<(), DirectoryError> {
        let mut data = self.write();
        let app = data.app_mut(client_id)?;
        app.federated_credentials.clear();
        Ok(())
    }

    /// The application with `client_id` in tenant `tenant_id`.
    pub fn app(&self, tenant_id: &str, client_id: &str) -> Option<AppRegistration> {
        self.read()
            .apps
            .iter()
            .find(|a| a.tenant_id == tenant_id && a.client_id.eq_ignore_ascii_case(client_id))
            .cloned()
    }

    /// Creates a managed identity in `tenant`: the host's system-assigned one when
    /// `system_assigned`, else a user-assigned identity.
    pub fn create_managed_identity(
        &self,
        tenant: &Tenant,
        display_name: &str,
        system_assigned: bool,
    ) -> ManagedIdentity {
        let resource_id = if system_assigned {
            format!("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sandbox/providers/Microsoft.Compute/virtualMachines/{display_name}")
        } else {
            format!("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sandbox/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{display_name}")
        };
        let identity = ManagedIdentity {
            tenant_id: tenant.id.clone(),
            client_id: guid(),
            object_id: guid(),
            display_name: display_name.to_string(),
            resource_id,
            system_assigned,
        };
        self.write().identities.push(identity.clone());
        identity
    }

    /// Resolves the identity an IMDS request asks for, as IMDS does on a host with the
    /// directory's managed identities assigned. `Err` carries IMDS's `error_description`.
    pub fn managed_identity(
        &self,
        selector: &IdentitySelector,
    ) -> Result<ManagedIdentity, &'static str> {
        let data = self.read();
        let found = match selector {
            IdentitySelector::Default => {
                if let Some(system) = data.identities.iter().find(|i| i.system_assigned) {
                    return Ok(system.clone());
                }
                let mut user = data.identities.iter().filter(|i| !i.system_assigned);
                match (user.next(), user.next()) {
                    (Some(only), None) => Some(only),
                    (Some(_), Some(_)) => {
                        return Err("Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request")
                    }
                    _ => None,
                }
            }
            IdentitySelector::ClientId(id) => data
                .identities
                .iter()
                .find(|i| i.client_id.eq_ignore_ascii_case(id)),
            IdentitySelector::ObjectId(id) => data
                .identities
                .iter()
                .find(|i| i.object_id.eq_ignore_ascii_case(id)),
            IdentitySelector::ResourceId(id) => data
                .identities
                .iter()
                .find(|i| i.resource_id.eq_ignore_ascii_case(id)),
        };
        found.cloned().ok_or("Identity not found")
    }
}

impl Directory for EntraDirectory {
    fn find(&self, name: &str) -> Option<DirectoryEntry> {
        let data = self.read();
        let app = data.apps.iter().find(|a| {
            a.display_name.eq_ignore_ascii_case(name) || a.client_id.eq_ignore_ascii_case(name)
        });
        if let Some(a) = app {
            return Some(DirectoryEntry {
                display_name: a.display_name.clone(),
                object_id: a.object_id.clone(),
                app_id: a.client_id.clone(),
                tenant_id: a.tenant_id.clone(),
                kind: PrincipalKind::Application,
            });
        }
        data.identities
            .iter()
            .find(|i| {
                i.display_name.eq_ignore_ascii_case(name) || i.client_id.eq_ignore_ascii_case(name)
            })
            .map(|i| DirectoryEntry {
                display_name: i.display_name.clone(),
                object_id: i.object_id.clone(),
                app_id: i.client_id.clone(),
                tenant_id: i.tenant_id.clone(),
                kind: PrincipalKind::ManagedIdentity,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_apps_and_identities_by_name_or_client_id_case_insensitively() {
        let dir = EntraDirectory::new();
        let tenant = dir.add_tenant("Sandbox", "sandbox");
        let app = dir.register_app(&tenant, "customers-identity");
        let mi = dir.create_managed_identity(&tenant, "batch-job", false);

        let entry = dir.find("Customers-Identity").unwrap();
        assert_eq!(entry.app_id, app.client_id);
        assert_eq!(entry.object_id, app.object_id);
        assert_eq!(entry.kind, PrincipalKind::Application);
        assert_eq!(
            dir.find(&app.client_id.to_uppercase())
                .unwrap()
                .display_name,
            "customers-identity"
        );
        let entry = dir.find("batch-job").unwrap();
        assert_eq!(entry.kind, PrincipalKind::ManagedIdentity);
        assert_eq!(entry.app_id, mi.client_id);
        assert!(dir.find("nobody").is_none());
        assert_eq!(dir.tenant("SANDBOX.onmicrosoft.com").unwrap().id, tenant.id);
        assert_eq!(dir.tenant(&tenant.id).unwrap().display_name, "Sandbox");
    }

    #[test]
    fn secrets_match_exactly_and_stay_out_of_debug() {
        let dir = EntraDirectory::new();
        let tenant = dir.add_tenant("Sandbox", "sandbox");
        let sp = dir.create_service_principal(&tenant, "reporting");
        assert_eq!(sp.secret.len(), 40);
        assert_eq!(&sp.secret[3..6], "8Q~");
        let app = dir.app(&tenant.id, &sp.client_id).unwrap();
        assert!(app.has_secret(&sp.secret));
        assert!(!app.has_secret(&sp.secret[..39]));
        assert!(!app.has_secret(""));
        assert!(!format!("{sp:?}").contains(&sp.secret));
        assert!(!format!("{app:?}").contains(&sp.secret));
        let second = dir.add_client_secret(&sp.client_id).unwrap();
        assert!(dir
            .app(&tenant.id, &sp.client_id)
            .unwrap()
            .has_secret(&second));
        assert!(dir.add_client_secret("missing").is_err());
    }

    #[test]
    fn secrets_expire() {
        let dir = EntraDirectory::new();
        let tenant = dir.add_tenant("Sandbox", "sandbox");
        let sp = dir.create_service_principal(&tenant, "reporting");
        let short = dir
            .add_client_secret_valid_for(&sp.client_id, Duration::from_secs(60))
            .unwrap();
        let app = dir.app(&tenant.id, &sp.client_id).unwrap();
        let now = SystemTime::now();
        assert_eq!(app.check_secret(&short, now), SecretCheck::Valid);
        assert_eq!(
            app.check_secret(&short, now + Duration::from_secs(61)),
            SecretCheck::Expired
        );
        assert_eq!(app.check_secret("other", now), SecretCheck::Unknown);
        // The default lifetime is Graph's two years.
        let two_years = now + DEFAULT_SECRET_LIFETIME;
        assert_eq!(
            app.check_secret(&sp.secret, two_years - Duration::from_secs(60)),
            SecretCheck::Valid
        );
        assert_eq!(
            app.check_secret(&sp.secret, two_years),
            SecretCheck::Expired
        );
    }

    #[test]
    fn imds_selection_follows_the_host_rules() {
        let dir = EntraDirectory::new();
        let tenant = dir.add_tenant("Sandbox", "sandbox");
        assert_eq!(
            dir.managed_identity(&IdentitySelector::Default),
            Err("Identity not found")
        );
        let first = dir.create_managed_identity(&tenant, "one", false);
        assert_eq!(
            dir.managed_identity(&IdentitySelector::Default).unwrap(),
            first
        );
        let second = dir.create_managed_identity(&tenant, "two", false);
        assert!(dir
            .managed_identity(&IdentitySelector::Default)
            .unwrap_err()
            .starts_with("Multiple user assigned"));
        assert_eq!(
            dir.managed_identity(&IdentitySelector::ClientId(second.client_id.clone()))
                .unwrap(),
            second
        );
        assert_eq!(
            dir.managed_identity(&IdentitySelector::ObjectId(first.object_id.clone()))
                .unwrap(),
            first
        );
        assert_eq!(
            dir.managed_identity(&IdentitySelector::ResourceId(second.resource_id.clone()))
                .unwrap(),
            second
        );
        assert_eq!(
            dir.managed_identity(&IdentitySelector::ClientId("x".into())),
            Err("Identity not found")
        );
        let system = dir.create_managed_identity(&tenant, "vm", true);
        assert_eq!(
            dir.managed_identity(&IdentitySelector::Default).unwrap(),
            system
        );
    }
}
