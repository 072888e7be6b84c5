//! The rest of a configuration: the scope table, the environment, the builder, and `Display`.

use super::*;

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
