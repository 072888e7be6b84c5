//! Whole connection strings: syntax, pasted portal strings, the cross-keyword rules, secrets,
//! and garbage.

use super::*;

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
