//! Tests of the connection-string parser, the builder, the environment reader and the scope
//! table: every keyword and synonym, every error, quoting, pasted portal strings, garbage.
use super::cloud::CLOUDS;
use super::keywords::{KEYWORDS, UNSUPPORTED};
use super::settings::AUTHENTICATION_NAMES;
use super::*;
use rand::{Rng, SeedableRng};

const SERVER: &str = "Server=tcp:myserver.database.windows.net,1433";
const CLIENT_ID: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
const SECRET: &str = "S3cr3t-P@ss;w0rd";

/// A self-signed CA certificate, only for PEM parsing (no key anywhere).
const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBqTCCAU+gAwIBAgIUcZJjwFYdKDdxkWUjDckZRwDgtg8wCgYIKoZIzj0EAwIw
KTEnMCUGA1UEAwweYXp1cmUtc3FsLXBhc3N3b3JkbGVzcyB0ZXN0IENBMCAXDTI2
MTEyMzE2MjcyOVoYDzIxMjYxMDMwMTYyNzI5WjApMScwJQYDVQQDDB5henVyZS1z
cWwtcGFzc3dvcmRsZXNzIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AASXqvLR+r219iQzM0WbJBdZY/dUMcySI9E/9zKtoMpkxuzTJVK2ej386eo0Txn8
1xIAdGQXYGbov+DIZV2CkISco1MwUTAdBgNVHQ4EFgQUWyt5lNZ8pgKV33veTeDR
Oe/+INgwHwYDVR0jBBgwFoAUWyt5lNZ8pgKV33veTeDROe/+INgwDwYDVR0TAQH/
BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAgCU4JZmaIat8TTM9G6XStRkReOvv
3fYz4DdOH39/YDgCIEfSPeV2mtv9S89+gnvvrmY5hvxnSY8jl+Yij0gvJTbJ
-----END CERTIFICATE-----
";

fn parse(s: &str) -> Config {
    match s.parse::<Config>() {
        Ok(c) => c,
        Err(e) => panic!("`{s}` should parse, got: {e}"),
    }
}

fn parse_err(s: &str) -> ConfigError {
    match s.parse::<Config>() {
        Ok(c) => panic!("`{s}` should fail, parsed as {c:?}"),
        Err(e) => e,
    }
}

fn with(extra: &str) -> Config {
    parse(&format!("{SERVER};{extra}"))
}

fn with_err(extra: &str) -> ConfigError {
    parse_err(&format!("{SERVER};{extra}"))
}

// ----- keywords and synonyms ----------------------------------------------------------

#[test]
fn server_synonyms() {
    for name in [
        "Server",
        "Data Source",
        "Address",
        "Addr",
        "Network Address",
        "DATASOURCE",
        " data  source ",
    ] {
        let c = parse(&format!("{name}=tcp:a.database.windows.net,1444"));
        assert_eq!(
            (c.get_host(), c.get_port()),
            ("a.database.windows.net", 1444),
            "{name}"
        );
    }
}

#[test]
fn server_forms() {
    let cases = [
        ("tcp:host.example,1433", "host.example", 1433),
        ("TCP:host.example,2000", "host.example", 2000),
        ("host.example,2001", "host.example", 2001),
        ("host.example", "host.example", 1433),
        ("tcp:host.example", "host.example", 1433),
        (" tcp: host.example , 2002 ", "host.example", 2002),
        ("127.0.0.1,1500", "127.0.0.1", 1500),
        ("tcp:[::1],1501", "::1", 1501),
        ("::1,1502", "::1", 1502),
        ("[::1]", "::1", 1433),
        (".", "localhost", 1433),
        ("(local),1503", "localhost", 1503),
        ("localhost,1504", "localhost", 1504),
    ];
    for (value, host, port) in cases {
        let c = parse(&format!("Server={value}"));
        assert_eq!((c.get_host(), c.get_port()), (host, port), "{value}");
    }
}

#[test]
fn server_refusals_name_the_form_and_the_fix() {
    for value in [
        "np:\\\\host\\pipe\\sql\\query",
        "lpc:myhost",
        "admin:myhost",
        "myhost\\SQLEXPRESS",
        "tcp:myhost\\inst,1433",
        "(localdb)",
    ] {
        let e = parse_err(&format!("Server={value}"));
        assert!(
            matches!(e, ConfigError::UnsupportedServer { .. }),
            "{value}: {e}"
        );
        assert!(
            e.to_string().contains("tcp:"),
            "{value}: the error shows the TCP form: {e}"
        );
    }
    for value in [
        "host:1433",
        "tcp:host:1433",
        "host,",
        "host,abc",
        "host,0",
        "host,70000",
        ",1433",
        "tcp:",
        "[::1,1433",
        "a:b:c,1",
        "my host,1433",
        "a/b",
    ] {
        let e = parse_err(&format!("Server={value}"));
        assert!(
            matches!(e, ConfigError::InvalidServer { .. }),
            "{value}: {e}"
        );
    }
    let e = parse_err("Server=host:1433");
    assert!(e.to_string().contains("comma"), "{e}");
}

#[test]
fn database_synonyms() {
    for name in ["Database", "Initial Catalog", "initialcatalog", "DATABASE"] {
        assert_eq!(
            with(&format!("{name}=mydb")).get_database(),
            Some("mydb"),
            "{name}"
        );
    }
    assert_eq!(
        with("Database=").get_database(),
        None,
        "empty means the default"
    );
    assert!(matches!(
        with_err(&format!("Database={}", "d".repeat(129))),
        ConfigError::InvalidValue {
            keyword: "Database",
            ..
        }
    ));
}

#[test]
fn authentication_values() {
    let cases = [
        (
            "Active Directory Workload Identity",
            Authentication::WorkloadIdentity,
        ),
        (
            "ActiveDirectoryWorkloadIdentity",
            Authentication::WorkloadIdentity,
        ),
        (
            "active directory managed identity",
            Authentication::ManagedIdentity,
        ),
        ("Active Directory MSI", Authentication::ManagedIdentity),
        ("ActiveDirectoryMSI", Authentication::ManagedIdentity),
        ("Active Directory Azure CLI", Authentication::AzureCli),
        ("ActiveDirectoryAzureCli", Authentication::AzureCli),
        ("Active Directory Default", Authentication::Default),
        ("ACTIVEDIRECTORYDEFAULT", Authentication::Default),
        ("'Active Directory Default'", Authentication::Default),
        ("\"Active Directory Default\"", Authentication::Default),
    ];
    for (value, mode) in cases {
        assert_eq!(
            with(&format!("Authentication={value}")).get_authentication(),
            mode,
            "{value}"
        );
    }
    let sp = with(&format!(
        "Authentication=Active Directory Service Principal;User Id={CLIENT_ID};Password=x"
    ));
    assert_eq!(sp.get_authentication(), Authentication::ServicePrincipal);
    let sql = with("Authentication=SqlPassword;User Id=sa;Password=x");
    assert_eq!(sql.get_authentication(), Authentication::SqlPassword);
    for mode in Authentication::ALL {
        assert_eq!(
            mode.as_str().parse::<Authentication>().ok(),
            Some(mode),
            "{mode} round-trips"
        );
    }
}

#[test]
fn authentication_default_follows_sqlclient() {
    assert_eq!(
        with("Database=db").get_authentication(),
        Authentication::Default
    );
    assert_eq!(
        with("User Id=sa;Password=x").get_authentication(),
        Authentication::SqlPassword
    );
    assert_eq!(
        with(&format!("User Id={CLIENT_ID}")).get_authentication(),
        Authentication::Default
    );
    // An empty Authentication value resets to the default rule.
    assert_eq!(
        with("Authentication=Active Directory MSI;Authentication=;User Id=sa;Password=x")
            .get_authentication(),
        Authentication::SqlPassword
    );
}

#[test]
fn unsupported_authentication_modes_say_what_to_use() {
    for (value, hint) in [
        ("Active Directory Password", "Service Principal"),
        ("ActiveDirectoryInteractive", "az login"),
        ("Active Directory Device Code Flow", "--use-device-code"),
        ("Active Directory Integrated", "Managed"),
        ("Active Directory Developer Tools", "Azure CLI"),
    ] {
        let e = with_err(&format!("Authentication={value}"));
        assert!(
            matches!(e, ConfigError::UnsupportedAuthentication { .. }),
            "{value}: {e}"
        );
        assert!(e.to_string().contains(hint), "{value}: {e}");
    }
}

#[test]
fn unknown_authentication_suggests_the_nearest() {
    let e = with_err("Authentication=Active Directory Workload Identiy");
    assert!(
        matches!(
            e,
            ConfigError::UnknownAuthentication {
                suggestion: Some("Active Directory Workload Identity"),
                ..
            }
        ),
        "{e}"
    );
    let e = with_err("Authentication=Kerberos");
    assert!(
        matches!(
            e,
            ConfigError::UnknownAuthentication {
                suggestion: None,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("Active Directory Default"),
        "the error lists what is accepted: {e}"
    );
}

#[test]
fn user_id_synonyms() {
    for name in ["User Id", "UID", "User", "userid"] {
        let c = with(&format!(
            "Authentication=Active Directory Managed Identity;{name}={CLIENT_ID}"
        ));
        assert_eq!(c.get_user_id(), Some(CLIENT_ID), "{name}");
    }
}

#[test]
fn password_synonyms_and_quoting() {
    for name in ["Password", "PWD", "pwd"] {
        let c = with(&format!("User Id=sa;{name}=plain"));
        assert_eq!(
            c.get_password().map(Secret::expose),
            Some("plain"),
            "{name}"
        );
    }
    let cases = [
        ("Password=\"a;b\"", "a;b"),
        ("Password='a;b'", "a;b"),
        ("Password=\"say \"\"hi\"\"\"", "say \"hi\""),
        ("Password='it''s'", "it's"),
        ("Password=' padded '", " padded "),
        ("Password=  trimmed  ", "trimmed"),
        ("Password=a\"b'c", "a\"b'c"),
        ("Password=\"\"\"\"", "\""),
        ("Password='a=b'", "a=b"),
        ("Password=a=b", "a=b"),
    ];
    for (pair, expected) in cases {
        let c = with(&format!("User Id=sa;{pair};Database=db"));
        assert_eq!(
            c.get_password().map(Secret::expose),
            Some(expected),
            "{pair}"
        );
        assert_eq!(
            c.get_database(),
            Some("db"),
            "{pair}: the next pair still parses"
        );
    }
}

#[test]
fn encrypt_values() {
    for (v, e) in [
        ("True", Encrypt::Mandatory),
        ("yes", Encrypt::Mandatory),
        ("Mandatory", Encrypt::Mandatory),
        ("false", Encrypt::Optional),
        ("No", Encrypt::Optional),
        ("optional", Encrypt::Optional),
        ("Strict", Encrypt::Strict),
        ("STRICT", Encrypt::Strict),
        ("", Encrypt::Mandatory),
    ] {
        assert_eq!(with(&format!("Encrypt={v}")).get_encrypt(), e, "{v}");
    }
    assert_eq!(
        parse("Server=h").get_encrypt(),
        Encrypt::Mandatory,
        "default"
    );
    let e = with_err("Encrypt=maybe");
    assert!(
        matches!(
            e,
            ConfigError::InvalidValue {
                keyword: "Encrypt",
                ..
            }
        ),
        "{e}"
    );
    for mode in [Encrypt::Mandatory, Encrypt::Strict, Encrypt::Optional] {
        assert_eq!(mode.as_str().parse::<Encrypt>().ok(), Some(mode));
    }
}

#[test]
fn trust_server_certificate() {
    for name in ["TrustServerCertificate", "Trust Server Certificate"] {
        assert!(
            with(&format!("{name}=True")).get_trust_server_certificate(),
            "{name}"
        );
        assert!(
            with(&format!("{name}=yes")).get_trust_server_certificate(),
            "{name}"
        );
        assert!(
            !with(&format!("{name}=False")).get_trust_server_certificate(),
            "{name}"
        );
    }
    assert!(matches!(
        with_err("TrustServerCertificate=sure"),
        ConfigError::InvalidValue {
            keyword: "TrustServerCertificate",
            ..
        }
    ));
    assert!(matches!(
        with_err("Encrypt=Strict;TrustServerCertificate=True"),
        ConfigError::TrustServerCertificateWithStrict
    ));
    assert!(matches!(
        with_err("TrustServerCertificate=True;Encrypt=Strict"),
        ConfigError::TrustServerCertificateWithStrict
    ));
    assert!(!with("Encrypt=Strict;TrustServerCertificate=False").get_trust_server_certificate());
}

#[test]
fn host_name_in_certificate() {
    for name in ["HostNameInCertificate", "Host Name In Certificate"] {
        assert_eq!(
            with(&format!("{name}=*.database.windows.net")).get_host_name_in_certificate(),
            Some("*.database.windows.net")
        );
    }
    let mut c = Config::new("h");
    c.host_name_in_certificate("two words");
    assert!(matches!(
        c.validate(),
        Err(ConfigError::InvalidValue {
            keyword: "HostNameInCertificate",
            ..
        })
    ));
}

#[test]
fn timeouts() {
    for name in [
        "Connect Timeout",
        "Connection Timeout",
        "Timeout",
        "ConnectTimeout",
    ] {
        assert_eq!(
            with(&format!("{name}=7")).get_connect_timeout(),
            Duration::from_secs(7),
            "{name}"
        );
    }
    assert_eq!(
        parse("Server=h").get_connect_timeout(),
        Duration::from_secs(15)
    );
    for bad in ["0", "-1", "1.5", "ten", "99999999999"] {
        assert!(
            matches!(
                with_err(&format!("Connect Timeout={bad}")),
                ConfigError::InvalidValue {
                    keyword: "Connect Timeout",
                    ..
                }
            ),
            "{bad}"
        );
    }
    assert_eq!(
        with("Command Timeout=45").get_command_timeout(),
        Some(Duration::from_secs(45))
    );
    assert_eq!(
        with("Command Timeout=0").get_command_timeout(),
        None,
        "0 = no limit"
    );
    assert_eq!(
        parse("Server=h").get_command_timeout(),
        Some(Duration::from_secs(30))
    );
    assert!(matches!(
        with_err("Command Timeout=x"),
        ConfigError::InvalidValue {
            keyword: "Command Timeout",
            ..
        }
    ));
}

#[test]
fn connect_retry() {
    for name in ["Connect Retry Count", "ConnectRetryCount"] {
        assert_eq!(with(&format!("{name}=0")).get_connect_retry_count(), 0);
        assert_eq!(with(&format!("{name}=255")).get_connect_retry_count(), 255);
        assert!(matches!(
            with_err(&format!("{name}=256")),
            ConfigError::InvalidValue {
                keyword: "Connect Retry Count",
                ..
            }
        ));
    }
    for name in ["Connect Retry Interval", "ConnectRetryInterval"] {
        assert_eq!(
            with(&format!("{name}=1")).get_connect_retry_interval(),
            Duration::from_secs(1)
        );
        assert_eq!(
            with(&format!("{name}=60")).get_connect_retry_interval(),
            Duration::from_secs(60)
        );
        for bad in ["0", "61"] {
            assert!(matches!(
                with_err(&format!("{name}={bad}")),
                ConfigError::InvalidValue {
                    keyword: "Connect Retry Interval",
                    ..
                }
            ));
        }
    }
}

#[test]
fn application_name() {
    for name in ["Application Name", "App", "applicationname"] {
        assert_eq!(
            with(&format!("{name}=customers")).get_application_name(),
            "customers"
        );
    }
    assert_eq!(
        with("App=").get_application_name(),
        "azure-sql-passwordless"
    );
    assert!(matches!(
        with_err(&format!("App={}", "a".repeat(129))),
        ConfigError::InvalidValue {
            keyword: "Application Name",
            ..
        }
    ));
}

#[test]
fn pool_sizes_and_lifetime() {
    let c = with("Max Pool Size=20;Min Pool Size=5");
    assert_eq!((c.get_max_pool_size(), c.get_min_pool_size()), (20, 5));
    assert!(matches!(
        with_err("Max Pool Size=2;Min Pool Size=3"),
        ConfigError::MinPoolSizeAboveMax { min: 3, max: 2 }
    ));
    assert!(matches!(
        with_err("Max Pool Size=0"),
        ConfigError::InvalidValue {
            keyword: "Max Pool Size",
            ..
        }
    ));
    assert!(matches!(
        with_err("Min Pool Size=-1"),
        ConfigError::InvalidValue {
            keyword: "Min Pool Size",
            ..
        }
    ));
    for name in ["Connection Lifetime", "Load Balance Timeout"] {
        assert_eq!(
            with(&format!("{name}=120")).get_connection_lifetime(),
            Duration::from_secs(120)
        );
        assert_eq!(
            with(&format!("{name}=0")).get_connection_lifetime(),
            DEFAULT_CONNECTION_LIFETIME,
            "0 is the bounded default"
        );
    }
    assert!(matches!(
        with_err("Connection Lifetime=forever"),
        ConfigError::InvalidValue {
            keyword: "Connection Lifetime",
            ..
        }
    ));
}

#[test]
fn portal_keywords() {
    with("Pooling=True;Persist Security Info=False;PersistSecurityInfo=True;MultipleActiveResultSets=False;Multiple Active Result Sets=no;Integrated Security=False;Trusted_Connection=no;Enlist=True");
    assert!(matches!(
        with_err("Pooling=False"),
        ConfigError::PoolingDisabled
    ));
    assert!(with_err("Pooling=False").to_string().contains("connect()"));
    assert!(matches!(
        with_err("Pooling=maybe"),
        ConfigError::InvalidValue {
            keyword: "Pooling",
            ..
        }
    ));
    assert!(matches!(
        with_err("MultipleActiveResultSets=True"),
        ConfigError::UnsupportedKeyword {
            keyword: "MultipleActiveResultSets",
            ..
        }
    ));
    for v in [
        "Integrated Security=True",
        "Integrated Security=SSPI",
        "Trusted_Connection=yes",
    ] {
        let e = with_err(v);
        assert!(
            matches!(
                e,
                ConfigError::UnsupportedKeyword {
                    keyword: "Integrated Security",
                    ..
                }
            ),
            "{v}: {e}"
        );
        assert!(e.to_string().contains("Managed Identity"), "{e}");
    }
    assert!(matches!(
        with_err("Enlist=perhaps"),
        ConfigError::InvalidValue {
            keyword: "Enlist",
            ..
        }
    ));
}

#[test]
fn known_but_unsupported_keywords() {
    // Harmless values pass.
    with("MultiSubnetFailover=False;Column Encryption Setting=Disabled;Pool Blocking Period=Auto;Network Library=DBMSSOCN;User Instance=false;Type System Version=Latest;Connection Reset=true;Async=false");
    for pair in [
        "MultiSubnetFailover=True",
        "Column Encryption Setting=Enabled",
        "Connection Reset=false",
        "Current Language=french",
        "Failover Partner=x",
        "Server SPN=MSSQLSvc/x",
        "AttachDBFilename=x.mdf",
        "Server Certificate=/tmp/c.cer",
        "Network Library=dbnmpntw",
        "Transaction Binding=Explicit Unbind",
        "Enclave Attestation Url=https://x",
    ] {
        let e = with_err(pair);
        assert!(
            matches!(e, ConfigError::UnsupportedKeyword { .. }),
            "{pair}: {e}"
        );
    }
}

#[test]
fn application_intent_workstation_id_and_packet_size() {
    let c = with("ApplicationIntent=ReadOnly;WSID=pod-7;Packet Size=8000");
    assert_eq!(c.get_application_intent(), ApplicationIntent::ReadOnly);
    assert_eq!(c.get_workstation_id(), Some("pod-7"));
    assert_eq!(c.get_packet_size(), Some(8000));
    // What Display writes parses back to the same settings.
    let again = parse(&c.to_string());
    assert_eq!(again.get_application_intent(), ApplicationIntent::ReadOnly);
    assert_eq!(again.get_workstation_id(), Some("pod-7"));
    assert_eq!(again.get_packet_size(), Some(8000));
    for (pair, intent) in [
        ("Application Intent=readonly", ApplicationIntent::ReadOnly),
        (
            "ApplicationIntent= Read Write ",
            ApplicationIntent::ReadWrite,
        ),
        ("ApplicationIntent=", ApplicationIntent::ReadWrite),
    ] {
        assert_eq!(with(pair).get_application_intent(), intent, "{pair}");
    }
    let defaults = with("Workstation ID=;Packet Size=");
    assert_eq!(
        (defaults.get_workstation_id(), defaults.get_packet_size()),
        (None, None)
    );
    assert_eq!(with("Packet Size=512").get_packet_size(), Some(512));
    assert_eq!(with("Packet Size=32767").get_packet_size(), Some(32767));
    for pair in [
        "ApplicationIntent=ReadMostly",
        "Packet Size=511",
        "Packet Size=32768",
        "Packet Size=lots",
    ] {
        let e = with_err(pair);
        assert!(matches!(e, ConfigError::InvalidValue { .. }), "{pair}: {e}");
    }
    let e = with_err(&format!("WSID={}", "w".repeat(129)));
    assert!(e.to_string().contains("Workstation ID"), "{e}");
    let mut built = Config::new("s.database.windows.net");
    built.packet_size(100);
    assert!(built.validate().is_err());
}

#[test]
fn a_configuration_is_validated_once_until_a_setter_changes_it() {
    let mut c = with("Database=db");
    assert!(c.validated, "parsing validated it");
    c.validate_once().expect("still valid, not checked again");
    c.max_pool_size(0);
    assert!(!c.validated, "a setter asks for a new check");
    assert!(c.validate_once().is_err(), "and the new check runs");
    c.max_pool_size(5);
    c.validate_once().expect("valid again");
    assert!(c.validated);
    // A clone keeps the verdict; setters on either clear only their own.
    let mut other = c.clone();
    other.database("other");
    assert!(c.validated && !other.validated);
}

#[test]
fn ip_address_preference() {
    assert_eq!(
        with("").get_ip_address_preference(),
        IpAddressPreference::Ipv4First,
        "SqlClient's default"
    );
    for (pair, preference) in [
        (
            "IPAddressPreference=IPv6First",
            IpAddressPreference::Ipv6First,
        ),
        (
            "IP Address Preference=ipv4first",
            IpAddressPreference::Ipv4First,
        ),
        (
            "IP Address Preference=UsePlatformDefault",
            IpAddressPreference::UsePlatformDefault,
        ),
    ] {
        let c = with(pair);
        assert_eq!(c.get_ip_address_preference(), preference, "{pair}");
        assert_eq!(
            parse(&c.to_string()).get_ip_address_preference(),
            preference
        );
    }
    let e = with_err("IP Address Preference=IPv5First");
    assert!(e.to_string().contains("UsePlatformDefault"), "{e}");
}

#[test]
fn a_client_id_in_braces_is_taken_without_them() {
    let c = with(&format!(
        "Authentication=Active Directory Managed Identity;User Id={{{CLIENT_ID}}}"
    ));
    assert_eq!(c.get_user_id(), Some(CLIENT_ID));
    let mut built = Config::new("s.database.windows.net");
    built.user_id(format!("{{{}}}", CLIENT_ID.to_uppercase()));
    assert_eq!(built.get_user_id(), Some(CLIENT_ID.to_uppercase().as_str()));
    // Not a GUID inside: a SQL login name is kept as written.
    let c = with("User Id={reader};Password=x");
    assert_eq!(c.get_user_id(), Some("{reader}"));
}

#[test]
fn unknown_keywords_suggest_the_nearest() {
    let e = with_err("Initial Catalogue=db");
    assert!(
        matches!(
            e,
            ConfigError::UnknownKeyword {
                suggestion: Some("Initial Catalog"),
                ..
            }
        ),
        "{e}"
    );
    let e = with_err("Authentification=Active Directory Default");
    assert!(
        matches!(
            e,
            ConfigError::UnknownKeyword {
                suggestion: Some("Authentication"),
                ..
            }
        ),
        "{e}"
    );
    let e = with_err("Encript=true");
    assert!(e.to_string().contains("did you mean `Encrypt`"), "{e}");
    let e = with_err("Flux Capacitor=1.21");
    assert!(
        matches!(
            e,
            ConfigError::UnknownKeyword {
                suggestion: None,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("Flux Capacitor"),
        "the keyword is named: {e}"
    );
}

// ----- syntax ---------------------------------------------------------------------------

#[test]
fn separators_empty_pairs_and_repeats() {
    let c = parse(";; Server = h ; ; Database=a;Initial Catalog=b;;");
    assert_eq!(c.get_database(), Some("b"), "last synonym wins");
    let c = parse("Server=first;Data Source=second,1500");
    assert_eq!((c.get_host(), c.get_port()), ("second", 1500));
    let c = parse("Server=h,1500;Server=h");
    assert_eq!(
        c.get_port(),
        1433,
        "a repeated Server replaces the port too"
    );
    let c = parse("Server=h\n;\tDatabase = db\r\n;");
    assert_eq!(c.get_database(), Some("db"));
}

#[test]
fn syntax_errors() {
    assert!(matches!(
        parse_err("Server=h;Database"),
        ConfigError::MissingEquals {
            pair: 2,
            starts_with: Some("Database")
        }
    ));
    assert!(matches!(
        parse_err("Server=h;nonsense;Database=x"),
        ConfigError::MissingEquals {
            pair: 2,
            starts_with: None
        }
    ));
    assert!(matches!(
        parse_err("Server=h;=value"),
        ConfigError::EmptyKeyword { pair: 2 }
    ));
    assert!(matches!(
        parse_err("Server=h;Database='db"),
        ConfigError::UnterminatedQuote { .. }
    ));
    assert!(matches!(
        parse_err("Server=h;Database=\"db\"\"x"),
        ConfigError::UnterminatedQuote { .. }
    ));
    assert!(matches!(
        parse_err("Server=h;Database='db'x;App=a"),
        ConfigError::TextAfterQuotedValue { .. }
    ));
    // Spaces after a closing quote are fine.
    assert_eq!(
        parse("Server=h;Database='db'  ;App=a").get_database(),
        Some("db")
    );
}

#[test]
fn an_unquoted_password_with_a_semicolon_is_diagnosed_without_showing_it() {
    for s in [
        "Server=h;User Id=sa;Password=abc;def;Database=x",
        "Server=h;User Id=sa;Password=abc;def=ghi;Database=x",
        "Server=h;User Id=sa;Password=abc;def",
    ] {
        let e = parse_err(s);
        assert!(matches!(e, ConfigError::PasswordNeedsQuoting), "{s}: {e:?}");
        assert!(!e.to_string().contains("def"), "{e}");
        assert!(!format!("{e:?}").contains("def"), "{e:?}");
    }
}

#[test]
fn placeholders_from_the_portal_are_reported() {
    let e = parse_err("Server=tcp:s.database.windows.net,1433;Initial Catalog=db;User ID={your_username};Password={your_password};");
    assert!(
        matches!(e, ConfigError::Placeholder { keyword: "User Id" }),
        "{e}"
    );
    let e = parse_err("Server=tcp:s.database.windows.net,1433;Password={your_password};User ID=sa");
    assert!(
        matches!(
            e,
            ConfigError::Placeholder {
                keyword: "Password"
            }
        ),
        "{e}"
    );
}

// ----- pasted strings -------------------------------------------------------------------

#[test]
fn pasted_azure_portal_strings() {
    // Portal, "ADO.NET (Microsoft Entra passwordless authentication)".
    let c = parse("Server=tcp:myserver.database.windows.net,1433;Initial Catalog=mydb;Encrypt=True;TrustServerCertificate=False;Connection Timeout=30;Authentication=\"Active Directory Default\";");
    assert_eq!(c.get_authentication(), Authentication::Default);
    assert_eq!(c.get_database(), Some("mydb"));
    assert_eq!(c.get_connect_timeout(), Duration::from_secs(30));
    // Portal, "ADO.NET (SQL authentication)", filled in.
    let c = parse("Server=tcp:myserver.database.windows.net,1433;Initial Catalog=mydb;Persist Security Info=False;User ID=appuser;Password=Pa55;w0rd';MultipleActiveResultSets=False;Encrypt=True;TrustServerCertificate=False;Connection Timeout=30;".replace("Pa55;w0rd'", "'Pa55;w0rd'").as_str());
    assert_eq!(c.get_authentication(), Authentication::SqlPassword);
    assert_eq!(c.get_password().map(Secret::expose), Some("Pa55;w0rd"));
    // The example.
    let c = parse("Server=tcp:myserver.database.windows.net,1433;Database=mydb;Authentication=Active Directory Workload Identity;Encrypt=True");
    assert_eq!(c.get_authentication(), Authentication::WorkloadIdentity);
    // Managed identity sample from the SqlClient docs.
    let c = parse(&format!("Server=demo.database.windows.net; Authentication=Active Directory Managed Identity; Encrypt=True; User Id={CLIENT_ID}; Database=testdb"));
    assert_eq!(c.get_user_id(), Some(CLIENT_ID));
    // A local container.
    let c = parse("Server=localhost,1433;Database=customers;User Id=sa;Password=Str0ng!Passw0rd;TrustServerCertificate=True;Encrypt=True");
    assert!(c.get_trust_server_certificate());
}

// ----- cross-keyword rules --------------------------------------------------------------

#[test]
fn missing_server() {
    for s in ["", ";;", "Database=db", "Server=;Database=db", "Server= "] {
        assert!(matches!(parse_err(s), ConfigError::MissingServer), "{s:?}");
    }
}

#[test]
fn a_password_with_a_passwordless_mode_is_refused() {
    for mode in [
        "Active Directory Workload Identity",
        "Active Directory Managed Identity",
        "Active Directory Azure CLI",
        "Active Directory Default",
    ] {
        let e = with_err(&format!("Authentication={mode};Password={SECRET:?}"));
        assert!(
            matches!(e, ConfigError::PasswordWithPasswordless { .. }),
            "{mode}: {e}"
        );
        let text = e.to_string();
        assert!(text.contains(mode) && text.contains("Password"), "{text}");
    }
}

#[test]
fn modes_require_their_keywords() {
    let sp = "Authentication=Active Directory Service Principal";
    assert!(matches!(
        with_err(&format!("{sp};Password=x")),
        ConfigError::MissingForAuthentication {
            keyword: "User Id",
            ..
        }
    ));
    assert!(matches!(
        with_err(&format!("{sp};User Id={CLIENT_ID}")),
        ConfigError::MissingForAuthentication {
            keyword: "Password",
            ..
        }
    ));
    assert!(matches!(
        with_err(&format!("{sp};User Id=app@contoso.com;Password=x")),
        ConfigError::InvalidClientId { .. }
    ));
    let sql = "Authentication=Sql Password";
    assert!(matches!(
        with_err(&format!("{sql};Password=x")),
        ConfigError::MissingForAuthentication {
            keyword: "User Id",
            ..
        }
    ));
    assert!(matches!(
        with_err(&format!("{sql};User Id=sa")),
        ConfigError::MissingForAuthentication {
            keyword: "Password",
            ..
        }
    ));
    assert!(matches!(
        with_err(&format!("{sql};User Id=sa;Password='{}'", "p".repeat(129))),
        ConfigError::InvalidValue {
            keyword: "Password",
            ..
        }
    ));
    assert!(matches!(
        with_err("Authentication=Active Directory Azure CLI;User Id=me@contoso.com"),
        ConfigError::UserIdNotAllowed { .. }
    ));
    for mode in [
        "Active Directory Workload Identity",
        "Active Directory Managed Identity",
        "Active Directory Default",
    ] {
        let e = with_err(&format!("Authentication={mode};User Id=my-identity"));
        assert!(
            matches!(e, ConfigError::InvalidClientId { .. }),
            "{mode}: {e}"
        );
        with(&format!("Authentication={mode};User Id={{{CLIENT_ID}}}"));
        with(&format!(
            "Authentication={mode};User Id={}",
            CLIENT_ID.to_uppercase()
        ));
    }
}

// ----- secrets --------------------------------------------------------------------------

#[test]
fn debug_and_errors_never_show_the_password() {
    let c = with(&format!("Authentication=Active Directory Service Principal;User Id={CLIENT_ID};Password=\"{SECRET}\""));
    assert_eq!(c.get_password().map(Secret::expose), Some(SECRET));
    let debug = format!(
        "{c:?} {:?} {}",
        c.get_password(),
        c.get_password()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(
        !debug.contains(SECRET) && !debug.contains("S3cr3t"),
        "{debug}"
    );
    assert!(debug.contains("<redacted>"), "{debug}");

    let failing = [
        format!("Authentication=Active Directory Default;Password=\"{SECRET}\""),
        format!("Authentication=Sql Password;Password=\"{SECRET}\""),
        format!("Authentication=Active Directory Service Principal;Password=\"{SECRET}\""),
        format!("User Id=sa;Password=\"{SECRET}\";Encrypt=perhaps"),
        format!("User Id=sa;Password={SECRET};Database=x"),
        format!("User Id=sa;Password=\"{SECRET}"),
        format!("User Id=sa;Password=\"{SECRET}\"x"),
        format!("User Id=sa;Password={SECRET}"),
        format!("Password {SECRET};Server=h"),
        format!("PWD:{SECRET};Server=h"),
    ];
    for s in failing {
        let e = parse_err(&format!("{SERVER};{s}"));
        let shown = format!("{e} {e:?}");
        assert!(
            !shown.contains("S3cr3t") && !shown.contains("w0rd"),
            "{s} -> {shown}"
        );
    }
}

// ----- garbage ----------------------------------------------------------------------------

#[test]
fn garbage_never_panics() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let atoms: &[&str] = &[
        ";",
        "=",
        "'",
        "\"",
        " ",
        "\t",
        "\n",
        ",",
        ":",
        "\\",
        "[",
        "]",
        "{",
        "}",
        "tcp:",
        "np:",
        "Server",
        "Password",
        "Authentication",
        "Active Directory Default",
        "User Id",
        "Encrypt",
        "Strict",
        "True",
        "0",
        "1433",
        "65536",
        "-1",
        "é",
        "🦀",
        "\u{0}",
        "localhost",
        "::1",
        "Timeout",
        "Min Pool Size",
        "Max Pool Size",
        "99999999999999999999",
    ];
    for _ in 0..10_000 {
        let len = rng.random_range(0..24);
        let s: String = (0..len)
            .map(|_| atoms[rng.random_range(0..atoms.len())])
            .collect();
        let _ = s.parse::<Config>();
    }
    for _ in 0..2_000 {
        let len = rng.random_range(0..200);
        let s: String = (0..len).map(|_| rng.random::<char>()).collect();
        let _ = s.parse::<Config>();
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = String::from_utf8_lossy(&bytes).parse::<Config>();
    }
    // A long hostile value stays cheap and its echo bounded.
    let long = format!("{}=1", "x".repeat(100_000));
    let e = parse_err(&long);
    assert!(e.to_string().len() < 400, "{}", e.to_string().len());
}

// ----- scope table --------------------------------------------------------------------------

#[test]
fn token_scope_follows_the_dns_suffix() {
    let cases = [
        (
            "myserver.database.windows.net",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "MYSERVER.DATABASE.WINDOWS.NET.",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "myserver.privatelink.database.windows.net",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "mi.abc123.database.windows.net",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "myserver.database.chinacloudapi.cn",
            "https://database.chinacloudapi.cn/.default",
            "https://login.chinacloudapi.cn",
        ),
        (
            "myserver.database.usgovcloudapi.net",
            "https://database.usgovcloudapi.net/.default",
            "https://login.microsoftonline.us",
        ),
        // Azure Germany closed in October 2021: its suffix is nobody's cloud any more.
        (
            "myserver.database.cloudapi.de",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "ws.sql.azuresynapse.net",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "ws-ondemand.sql.azuresynapse.net",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "abc.datawarehouse.fabric.microsoft.com",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "abc.database.fabric.microsoft.com",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "localhost",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "10.0.0.4",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        (
            "sql.internal.contoso.com",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
        // A suffix must match at a label boundary.
        (
            "evildatabase.chinacloudapi.cn",
            "https://database.windows.net/.default",
            "https://login.microsoftonline.com",
        ),
    ];
    for (host, scope, authority) in cases {
        let c = Config::new(host);
        assert_eq!(c.get_token_scope(), scope, "{host}");
        assert_eq!(c.cloud_authority_host(), authority, "{host}");
    }
    let mut c = Config::new("ws.sql.azuresynapse.azure.cn");
    c.token_scope("https://database.chinacloudapi.cn/.default");
    assert_eq!(
        c.get_token_scope(),
        "https://database.chinacloudapi.cn/.default",
        "explicit wins"
    );
    c.token_scope("https://database.windows.net/.default scope2");
    assert!(matches!(
        c.validate(),
        Err(ConfigError::InvalidTokenScope { .. })
    ));
}

// ----- environment ----------------------------------------------------------------------

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn from_env_prefers_the_connection_string() {
    let vars = [
        ("AZURE_SQL_CONNECTION_STRING", "Server=tcp:localhost,1500;Database=customers;Authentication=Active Directory Workload Identity"),
        ("AZURE_SQL_SERVER", "tcp:elsewhere,1"),
        ("AZURE_SQL_DATABASE", "other"),
    ];
    let c = Config::from_env_with(env(&vars)).expect("parses");
    assert_eq!(
        (c.get_host(), c.get_port(), c.get_database()),
        ("localhost", 1500, Some("customers"))
    );
    assert_eq!(c.get_authentication(), Authentication::WorkloadIdentity);
}

#[test]
fn from_env_with_separate_variables() {
    let vars = [
        ("AZURE_SQL_SERVER", "tcp:s.database.windows.net,1433"),
        ("AZURE_SQL_DATABASE", "db"),
    ];
    let c = Config::from_env_with(env(&vars)).expect("parses");
    assert_eq!(
        (c.get_host(), c.get_port(), c.get_database()),
        ("s.database.windows.net", 1433, Some("db"))
    );
    assert_eq!(c.get_authentication(), Authentication::Default);

    let vars = [
        ("AZURE_SQL_SERVER", "s"),
        ("AZURE_SQL_DATABASE", "db"),
        ("AZURE_SQL_PORT", "1444"),
        ("AZURE_SQL_AUTHENTICATION", "ActiveDirectoryAzureCli"),
    ];
    let c = Config::from_env_with(env(&vars)).expect("parses");
    assert_eq!(
        (c.get_port(), c.get_authentication()),
        (1444, Authentication::AzureCli)
    );

    let vars = [
        ("AZURE_SQL_SERVER", "s,1433"),
        ("AZURE_SQL_DATABASE", "db"),
        ("AZURE_SQL_PORT", "1433"),
    ];
    assert!(
        Config::from_env_with(env(&vars)).is_ok(),
        "a matching port is fine"
    );
}

#[test]
fn from_env_errors_name_the_variable() {
    let e = Config::from_env_with(|_| None).expect_err("nothing set");
    let text = e.to_string();
    assert!(
        matches!(&e, ConfigError::MissingEnvironment { missing } if missing == &["AZURE_SQL_SERVER", "AZURE_SQL_DATABASE"]),
        "{text}"
    );
    assert!(text.contains("AZURE_SQL_CONNECTION_STRING"), "{text}");
    let e = Config::from_env_with(env(&[
        ("AZURE_SQL_SERVER", "s"),
        ("AZURE_SQL_CONNECTION_STRING", "  "),
    ]))
    .expect_err("db missing");
    assert!(
        matches!(&e, ConfigError::MissingEnvironment { missing } if missing == &["AZURE_SQL_DATABASE"]),
        "{e}"
    );

    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("AZURE_SQL_CONNECTION_STRING", "Server=h;Bogus=1")],
            "AZURE_SQL_CONNECTION_STRING",
        ),
        (
            &[("AZURE_SQL_SERVER", "np:x"), ("AZURE_SQL_DATABASE", "d")],
            "AZURE_SQL_SERVER",
        ),
        (
            &[
                ("AZURE_SQL_SERVER", "s"),
                ("AZURE_SQL_DATABASE", "d"),
                ("AZURE_SQL_PORT", "x"),
            ],
            "AZURE_SQL_PORT",
        ),
        (
            &[
                ("AZURE_SQL_SERVER", "s,1500"),
                ("AZURE_SQL_DATABASE", "d"),
                ("AZURE_SQL_PORT", "1433"),
            ],
            "AZURE_SQL_PORT",
        ),
        (
            &[
                ("AZURE_SQL_SERVER", "s"),
                ("AZURE_SQL_DATABASE", "d"),
                ("AZURE_SQL_AUTHENTICATION", "Active Directory Password"),
            ],
            "AZURE_SQL_AUTHENTICATION",
        ),
    ];
    for (vars, variable) in cases {
        let e = Config::from_env_with(env(vars)).expect_err(variable);
        assert!(
            matches!(&e, ConfigError::InvalidEnvironment { variable: v, .. } if *v == variable),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with(&format!("environment variable {variable}")),
            "{e}"
        );
    }
}

// ----- builder ----------------------------------------------------------------------------

#[test]
fn setters_and_getters_round_trip() {
    let mut c = Config::new("myserver.database.windows.net");
    c.port(1500)
        .database("db")
        .authentication(Authentication::ServicePrincipal)
        .user_id(CLIENT_ID)
        .password("secret")
        .encrypt(Encrypt::Strict)
        .trust_server_certificate(false)
        .host_name_in_certificate("*.database.windows.net")
        .connect_timeout(Duration::from_secs(5))
        .command_timeout(None)
        .connect_retry_count(7)
        .connect_retry_interval(Duration::from_secs(2))
        .application_name("app")
        .max_pool_size(9)
        .min_pool_size(1)
        .connection_lifetime(Duration::from_secs(90))
        .token_scope("https://database.windows.net/.default")
        .tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47")
        .authority_host("https://login.microsoftonline.com/")
        .federated_token_file("/var/run/secrets/azure/tokens/azure-identity-token")
        .trust_root_certificate_pem(TEST_CA_PEM);
    c.validate().expect("valid");
    assert_eq!(c.get_host(), "myserver.database.windows.net");
    assert_eq!(c.get_port(), 1500);
    assert_eq!(c.get_database(), Some("db"));
    assert_eq!(c.get_authentication(), Authentication::ServicePrincipal);
    assert_eq!(c.get_user_id(), Some(CLIENT_ID));
    assert_eq!(c.get_password().map(Secret::expose), Some("secret"));
    assert_eq!(c.get_encrypt(), Encrypt::Strict);
    assert!(!c.get_trust_server_certificate());
    assert_eq!(
        c.get_host_name_in_certificate(),
        Some("*.database.windows.net")
    );
    assert_eq!(c.get_connect_timeout(), Duration::from_secs(5));
    assert_eq!(c.get_command_timeout(), None);
    assert_eq!(c.get_connect_retry_count(), 7);
    assert_eq!(c.get_connect_retry_interval(), Duration::from_secs(2));
    assert_eq!(c.get_application_name(), "app");
    assert_eq!((c.get_max_pool_size(), c.get_min_pool_size()), (9, 1));
    assert_eq!(c.get_connection_lifetime(), Duration::from_secs(90));
    assert_eq!(
        c.get_tenant_id(),
        Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
    );
    assert_eq!(
        c.get_authority_host(),
        Some("https://login.microsoftonline.com/")
    );
    assert_eq!(
        c.get_federated_token_file(),
        Some(Path::new(
            "/var/run/secrets/azure/tokens/azure-identity-token"
        ))
    );
    assert_eq!(c.get_trusted_root_certificates().len(), 1);
    assert!(format!("{c:?}").contains("trusted_root_certificates: 1"));
    c.connection_lifetime(Duration::ZERO);
    assert_eq!(c.get_connection_lifetime(), DEFAULT_CONNECTION_LIFETIME);
}

#[test]
fn builder_validation() {
    let bad = |f: &dyn Fn(&mut Config)| {
        let mut c = Config::new("h");
        f(&mut c);
        c.validate().expect_err("invalid")
    };
    assert!(matches!(
        bad(&|c| {
            c.host("");
        }),
        ConfigError::MissingServer
    ));
    assert!(matches!(
        bad(&|c| {
            c.host("tcp:h,1433");
        }),
        ConfigError::InvalidServer { .. }
    ));
    assert!(matches!(
        bad(&|c| {
            c.port(0);
        }),
        ConfigError::InvalidServer { .. }
    ));
    assert!(matches!(
        bad(&|c| {
            c.connect_timeout(Duration::from_millis(10));
        }),
        ConfigError::InvalidValue {
            keyword: "Connect Timeout",
            ..
        }
    ));
    assert!(matches!(
        bad(&|c| {
            c.command_timeout(Some(Duration::ZERO));
        }),
        ConfigError::InvalidValue {
            keyword: "Command Timeout",
            ..
        }
    ));
    assert!(matches!(
        bad(&|c| {
            c.connect_retry_interval(Duration::from_secs(61));
        }),
        ConfigError::InvalidValue {
            keyword: "Connect Retry Interval",
            ..
        }
    ));
    assert!(matches!(
        bad(&|c| {
            c.max_pool_size(0);
        }),
        ConfigError::InvalidValue {
            keyword: "Max Pool Size",
            ..
        }
    ));
    assert!(matches!(
        bad(&|c| {
            c.min_pool_size(101);
        }),
        ConfigError::MinPoolSizeAboveMax { .. }
    ));
    assert!(matches!(
        bad(&|c| {
            c.password("x");
        }),
        ConfigError::PasswordWithPasswordless {
            authentication: Authentication::Default
        }
    ));
    assert!(matches!(
        bad(&|c| {
            c.encrypt(Encrypt::Strict).trust_server_certificate(true);
        }),
        ConfigError::TrustServerCertificateWithStrict
    ));
    for authority in [
        "http://login.microsoftonline.com",
        "login.microsoftonline.com",
        "https://",
        "https://user@login.example/",
        "https://login.example/?x=1",
    ] {
        let e = bad(&|c| {
            c.authority_host(authority);
        });
        assert!(
            matches!(e, ConfigError::InvalidAuthorityHost { .. }),
            "{authority}: {e}"
        );
    }
    for ok in [
        "https://login.microsoftonline.com",
        "https://localhost:8443/",
        "https://127.0.0.1:1/",
    ] {
        let mut c = Config::new("h");
        c.authority_host(ok);
        c.validate().unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for tenant in ["", "contoso/evil", "a b"] {
        assert!(
            matches!(
                bad(&|c| {
                    c.tenant_id(tenant);
                }),
                ConfigError::InvalidTenantId { .. }
            ),
            "{tenant:?}"
        );
    }
    let mut c = Config::new("h");
    c.tenant_id("contoso.onmicrosoft.com");
    c.validate().expect("a domain is a tenant id");
    assert!(matches!(
        bad(&|c| {
            c.trust_root_certificate_pem("not a certificate");
        }),
        ConfigError::InvalidRootCertificate { .. }
    ));
    assert!(matches!(
        bad(&|c| {
            c.trust_root_certificate_pem(
                "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            );
        }),
        ConfigError::InvalidRootCertificate { .. }
    ));
}

#[test]
fn trust_root_certificate_file() {
    let dir = std::env::temp_dir().join(format!("asp-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("ca.pem");
    std::fs::write(&good, TEST_CA_PEM).expect("write");
    let mut c = Config::new("h");
    c.trust_root_certificate_file(&good).expect("reads");
    assert_eq!(
        c.get_trusted_root_certificates(),
        &[TEST_CA_PEM.as_bytes().to_vec()]
    );

    let missing = dir.join("missing.pem");
    let e = c
        .trust_root_certificate_file(&missing)
        .expect_err("missing");
    assert!(matches!(e, ConfigError::ReadRootCertificate { .. }));
    assert!(e.to_string().contains("missing.pem"), "{e}");

    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "hello").expect("write");
    let e = c.trust_root_certificate_file(&junk).expect_err("junk");
    assert!(matches!(e, ConfigError::InvalidRootCertificate { .. }));
    assert!(e.to_string().contains("junk.pem"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

// ----- display ---------------------------------------------------------------------------

#[test]
fn display_round_trips_and_redacts() {
    let strings = [
        "Server=h".to_owned(),
        format!("Server=tcp:[::1],1500;Database=a;b;Authentication=Active Directory Managed Identity;User Id={CLIENT_ID}")
            .replace("a;b", "'a;b'"),
        "Server=h,1;Initial Catalog=\" quoted \"\"db\"\" \";App=my app;Encrypt=Strict;HostNameInCertificate=*.x.net;Timeout=3;Command Timeout=0;ConnectRetryCount=0;Connect Retry Interval=2;Max Pool Size=5;Min Pool Size=5;Load Balance Timeout=60".to_owned(),
        "Server=h;Encrypt=False;TrustServerCertificate=True;Authentication=ActiveDirectoryAzureCLI".to_owned(),
    ];
    for s in strings {
        let c = parse(&s);
        let shown = c.to_string();
        let again = parse(&shown);
        assert_eq!(format!("{c:?}"), format!("{again:?}"), "{s} -> {shown}");
    }
    let c = with(&format!("User Id=sa;Password=\"{SECRET}\""));
    let shown = c.to_string();
    assert!(
        shown.contains("Password=<redacted>") && !shown.contains("S3cr3t"),
        "{shown}"
    );
}

// ----- the docs stay in sync with the table ---------------------------------------------

#[test]
fn every_keyword_is_in_the_documented_table() {
    let docs: String = include_str!("../config.rs")
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .strip_prefix("//!")
                .or(l.trim_start().strip_prefix("///"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    for name in KEYWORDS
        .iter()
        .flat_map(|k| k.names.iter())
        .chain(UNSUPPORTED.iter().flat_map(|k| k.names.iter().take(1)))
    {
        assert!(
            docs.contains(&format!("`{name}`")),
            "keyword `{name}` is missing from the module docs"
        );
    }
    for cloud in CLOUDS {
        assert!(
            docs.contains(&format!("`{}`", cloud.suffix)),
            "suffix {} is missing from the docs",
            cloud.suffix
        );
    }
    for name in AUTHENTICATION_NAMES {
        assert!(
            docs.contains(&format!("`{name}`")),
            "`{name}` is missing from the docs"
        );
    }
}
