//! The enumerated settings of a [`Config`](super::Config): how tokens are obtained
//! ([`Authentication`]), how the connection is encrypted ([`Encrypt`]), where the login is
//! routed ([`ApplicationIntent`]), and the [`Secret`] wrapper that keeps passwords out of
//! `Debug` and `Display`.

use std::fmt;

/// Where the login asks to be routed (the `Application Intent` keyword).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ApplicationIntent {
    /// `ReadWrite`: the primary.
    #[default]
    ReadWrite,
    /// `ReadOnly`: a read-only replica (Azure SQL read scale-out); writes fail there.
    ReadOnly,
}

impl ApplicationIntent {
    /// The keyword's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationIntent::ReadWrite => "ReadWrite",
            ApplicationIntent::ReadOnly => "ReadOnly",
        }
    }
}

/// How the library obtains an access token (the `Authentication` keyword).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Authentication {
    /// `Active Directory Workload Identity`: trade the Kubernetes projected service-account token
    /// (`AZURE_FEDERATED_TOKEN_FILE`) for an Entra token.
    WorkloadIdentity,
    /// `Active Directory Managed Identity` (alias `Active Directory MSI`): IMDS or App Service;
    /// `User Id` picks a user-assigned identity by client id.
    ManagedIdentity,
    /// `Active Directory Service Principal`: `User Id` is the client id, `Password` the secret.
    ServicePrincipal,
    /// `Active Directory Azure CLI`: the developer's `az login`.
    AzureCli,
    /// `Active Directory Default`: a chain that finds the right source for where it runs.
    Default,
    /// `Sql Password`: a SQL login (local containers only).
    SqlPassword,
}

impl Authentication {
    /// Every mode, in the order the documentation lists them.
    pub const ALL: [Authentication; 6] = [
        Authentication::WorkloadIdentity,
        Authentication::ManagedIdentity,
        Authentication::ServicePrincipal,
        Authentication::AzureCli,
        Authentication::Default,
        Authentication::SqlPassword,
    ];

    /// The connection-string spelling (`Active Directory Workload Identity`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Authentication::WorkloadIdentity => "Active Directory Workload Identity",
            Authentication::ManagedIdentity => "Active Directory Managed Identity",
            Authentication::ServicePrincipal => "Active Directory Service Principal",
            Authentication::AzureCli => "Active Directory Azure CLI",
            Authentication::Default => "Active Directory Default",
            Authentication::SqlPassword => "Sql Password",
        }
    }

    /// Whether this mode proves identity without a secret in the configuration.
    pub fn is_passwordless(self) -> bool {
        matches!(
            self,
            Authentication::WorkloadIdentity
                | Authentication::ManagedIdentity
                | Authentication::AzureCli
                | Authentication::Default
        )
    }
}

impl fmt::Display for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `Encrypt` keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Encrypt {
    /// `True`/`Mandatory`/`Yes`: TLS negotiated in PRELOGIN (TDS 7.4), certificate validated.
    #[default]
    Mandatory,
    /// `Strict`: TDS 8.0, TLS before any TDS byte, certificate always validated.
    Strict,
    /// `False`/`Optional`/`No`: accepted from pasted connection strings, and encrypted all the
    /// same (TLS in PRELOGIN, certificate validated, as `True`). SqlClient's `False` encrypts
    /// only the login on a server that allows it; Azure SQL requires encryption anyway, and this
    /// library never sends data in the clear.
    Optional,
}

impl Encrypt {
    /// The connection-string spelling (`True`, `Strict`, `False`).
    pub fn as_str(self) -> &'static str {
        match self {
            Encrypt::Mandatory => "True",
            Encrypt::Strict => "Strict",
            Encrypt::Optional => "False",
        }
    }
}

impl fmt::Display for Encrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which addresses of a server name are tried first (the `IP Address Preference` keyword), as
/// SqlClient orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IpAddressPreference {
    /// `IPv4First` (SqlClient's default): IPv4 addresses first, then IPv6.
    #[default]
    Ipv4First,
    /// `IPv6First`: IPv6 addresses first, then IPv4.
    Ipv6First,
    /// `UsePlatformDefault`: in the order the resolver returns them.
    UsePlatformDefault,
}

impl IpAddressPreference {
    /// The keyword's value.
    pub fn as_str(self) -> &'static str {
        match self {
            IpAddressPreference::Ipv4First => "IPv4First",
            IpAddressPreference::Ipv6First => "IPv6First",
            IpAddressPreference::UsePlatformDefault => "UsePlatformDefault",
        }
    }
}

/// A secret string (`Password`): never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}
