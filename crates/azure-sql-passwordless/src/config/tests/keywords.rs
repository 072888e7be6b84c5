//! Every keyword and synonym of the table, and their values.

use super::*;

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
