//! The keyword table of the module docs as data: every keyword this library understands with
//! its synonyms ([`KEYWORDS`]), and the SqlClient keywords it refuses with a reason
//! ([`UNSUPPORTED`]).

use super::spelling::normalize;

/// The keywords this library understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Key {
    Server,
    Database,
    Authentication,
    UserId,
    Password,
    Encrypt,
    TrustServerCertificate,
    HostNameInCertificate,
    ConnectTimeout,
    CommandTimeout,
    ConnectRetryCount,
    ConnectRetryInterval,
    ApplicationName,
    MaxPoolSize,
    MinPoolSize,
    ConnectionLifetime,
    Pooling,
    PersistSecurityInfo,
    MultipleActiveResultSets,
    IntegratedSecurity,
    Enlist,
    ApplicationIntent,
    WorkstationId,
    PacketSize,
    IpAddressPreference,
}

/// One row of the keyword table: canonical name first, then synonyms. Names compare with case
/// and whitespace ignored ([`normalize`]), so a row lists one spelling of each: `Trust Server
/// Certificate` and `TrustServerCertificate` are the same name.
pub(super) struct Keyword {
    pub(super) key: Key,
    pub(super) names: &'static [&'static str],
}

#[rustfmt::skip]
pub(super) const KEYWORDS: &[Keyword] = &[
    Keyword { key: Key::Server, names: &["Server", "Data Source", "Address", "Addr", "Network Address"] },
    Keyword { key: Key::Database, names: &["Database", "Initial Catalog"] },
    Keyword { key: Key::Authentication, names: &["Authentication"] },
    Keyword { key: Key::UserId, names: &["User Id", "UID", "User"] },
    Keyword { key: Key::Password, names: &["Password", "PWD"] },
    Keyword { key: Key::Encrypt, names: &["Encrypt"] },
    Keyword { key: Key::TrustServerCertificate, names: &["TrustServerCertificate"] },
    Keyword { key: Key::HostNameInCertificate, names: &["HostNameInCertificate"] },
    Keyword { key: Key::ConnectTimeout, names: &["Connect Timeout", "Connection Timeout", "Timeout"] },
    Keyword { key: Key::CommandTimeout, names: &["Command Timeout"] },
    Keyword { key: Key::ConnectRetryCount, names: &["Connect Retry Count"] },
    Keyword { key: Key::ConnectRetryInterval, names: &["Connect Retry Interval"] },
    Keyword { key: Key::ApplicationName, names: &["Application Name", "App"] },
    Keyword { key: Key::MaxPoolSize, names: &["Max Pool Size"] },
    Keyword { key: Key::MinPoolSize, names: &["Min Pool Size"] },
    Keyword { key: Key::ConnectionLifetime, names: &["Connection Lifetime", "Load Balance Timeout"] },
    Keyword { key: Key::Pooling, names: &["Pooling"] },
    Keyword { key: Key::PersistSecurityInfo, names: &["Persist Security Info"] },
    Keyword { key: Key::MultipleActiveResultSets, names: &["MultipleActiveResultSets"] },
    Keyword { key: Key::IntegratedSecurity, names: &["Integrated Security", "Trusted_Connection"] },
    Keyword { key: Key::Enlist, names: &["Enlist"] },
    Keyword { key: Key::ApplicationIntent, names: &["Application Intent"] },
    Keyword { key: Key::WorkstationId, names: &["Workstation ID", "WSID"] },
    Keyword { key: Key::PacketSize, names: &["Packet Size"] },
    Keyword { key: Key::IpAddressPreference, names: &["IP Address Preference"] },
];

/// SqlClient keywords this library does not implement: the values that are harmless (equal to
/// the behaviour we have) are accepted; anything else is refused with the reason.
pub(super) struct Unsupported {
    pub(super) names: &'static [&'static str],
    pub(super) accepts: &'static [&'static str],
    pub(super) reason: &'static str,
}

#[rustfmt::skip]
pub(super) const UNSUPPORTED: &[Unsupported] = &[
    Unsupported { names: &["MultiSubnetFailover"], accepts: &["false", "no"], reason: "parallel connects to availability-group listeners are not implemented (Azure SQL Database does not need them)" },
    Unsupported { names: &["Column Encryption Setting"], accepts: &["disabled"], reason: "Always Encrypted is not supported: encrypted columns would come back as ciphertext" },
    Unsupported { names: &["Enclave Attestation Url", "Attestation Protocol"], accepts: &[], reason: "Always Encrypted with secure enclaves is not supported" },
    Unsupported { names: &["Pool Blocking Period"], accepts: &["auto"], reason: "the pool's own retry policy applies; remove it" },
    Unsupported { names: &["Network Library", "Network", "Net"], accepts: &["dbmssocn"], reason: "only TCP (`DBMSSOCN`) is supported" },
    Unsupported { names: &["Current Language", "Language"], accepts: &[], reason: "run `SET LANGUAGE` after connecting instead" },
    Unsupported { names: &["Failover Partner"], accepts: &[], reason: "database mirroring does not exist in Azure SQL; use a failover group's listener as `Server`" },
    Unsupported { names: &["Failover Partner SPN", "Server SPN"], accepts: &[], reason: "Kerberos is not used: authentication is by Entra token" },
    Unsupported { names: &["AttachDBFilename", "Extended Properties", "Initial File Name"], accepts: &[], reason: "attaching database files (LocalDB) is not available" },
    Unsupported { names: &["User Instance"], accepts: &["false", "no"], reason: "user instances (SQL Express) are not available" },
    Unsupported { names: &["Context Connection"], accepts: &["false", "no"], reason: "context connections exist only inside SQL CLR" },
    Unsupported { names: &["Replication"], accepts: &["false", "no"], reason: "replication connections are not supported" },
    Unsupported { names: &["Transaction Binding"], accepts: &[], reason: "there are no ambient transactions to bind to" },
    Unsupported { names: &["Type System Version"], accepts: &["latest"], reason: "the type system is fixed by the driver" },
    Unsupported { names: &["Server Certificate"], accepts: &[], reason: "certificate pinning by file is not supported; trust the server's CA with `Config::trust_root_certificate_file`" },
    Unsupported { names: &["Connection Reset"], accepts: &["true", "yes"], reason: "connections are always reset when reused" },
    Unsupported { names: &["Asynchronous Processing", "Async"], accepts: &["true", "false", "yes", "no"], reason: "it takes `True` or `False` and is ignored (every call is asynchronous)" },
];

pub(super) fn lookup_keyword(norm: &str) -> Option<&'static Keyword> {
    KEYWORDS
        .iter()
        .find(|k| k.names.iter().any(|n| normalize(n) == norm))
}

pub(super) fn lookup_unsupported(norm: &str) -> Option<&'static Unsupported> {
    UNSUPPORTED
        .iter()
        .find(|k| k.names.iter().any(|n| normalize(n) == norm))
}

pub(super) fn is_password_key(key: &str) -> bool {
    lookup_keyword(&normalize(key)).is_some_and(|k| k.key == Key::Password)
}

/// The known keyword a malformed pair starts with, if any (only the keyword is ever shown).
pub(super) fn known_prefix(text: &str) -> Option<&'static str> {
    let norm = normalize(text);
    KEYWORDS
        .iter()
        .flat_map(|k| k.names.iter())
        .filter(|n| norm.starts_with(&normalize(n)))
        .max_by_key(|n| normalize(n).len())
        .copied()
}
