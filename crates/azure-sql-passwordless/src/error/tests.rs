//! Tests of reading Entra's and SQL Server's answers into [`Error`]s, their advice, what is
//! transient, and redaction.

use super::*;
use azure_core::error::ErrorKind;
use azure_core::http::StatusCode;

fn entra_error(code: &str, description: &str) -> azure_core::Error {
    // The shape azure_identity produces: an HttpResponse error carrying Entra's
    // description, wrapped in a Credential error whose message repeats it.
    let inner = azure_core::Error::with_message(
        ErrorKind::HttpResponse {
            status: StatusCode::BadRequest,
            error_code: Some(code.to_owned()),
            raw_response: None,
        },
        description.to_owned(),
    );
    let message = format!(
        "WorkloadIdentityCredential authentication failed. {description}\nTo troubleshoot, visit https://aka.ms/azsdk/rust/identity/troubleshoot#workload"
    );
    azure_core::Error::with_error(ErrorKind::Credential, inner, message)
}

#[test]
fn local_credential_failures_are_not_transient_and_unreachable_providers_are() {
    let acquisition = |failure| Error::TokenAcquisition {
        provider: "workload identity",
        failure,
    };
    // No token file: a wrapped std::io error, no HTTP answer. Only a fix helps.
    let no_file = azure_core::Error::with_error(
        ErrorKind::Credential,
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        "AZURE_FEDERATED_TOKEN_FILE /var/run/secrets/token cannot be read",
    );
    let f = TokenFailure::from_azure(&no_file);
    assert!(!f.transient, "{f:?}");
    assert!(!acquisition(f).is_transient());
    // The default chain found nothing, `az` is not logged in: Credential, no HTTP.
    let nothing = azure_core::Error::with_message(
        ErrorKind::Credential,
        "no credential in the chain could authenticate",
    );
    assert!(!acquisition(TokenFailure::from_azure(&nothing)).is_transient());
    // Entra or IMDS unreachable: connection trouble under the credential's error.
    let unreachable = azure_core::Error::with_error(
        ErrorKind::Credential,
        azure_core::Error::with_message(ErrorKind::Connection, "connection refused"),
        "ManagedIdentityCredential authentication failed",
    );
    assert!(acquisition(TokenFailure::from_azure(&unreachable)).is_transient());
    // A refusal is not transient, Entra's own trouble is.
    assert!(!acquisition(TokenFailure::from_azure(&entra_error(
        "700213",
        "AADSTS700213: x"
    )))
    .is_transient());
    assert!(acquisition(TokenFailure::timed_out(Duration::from_secs(30))).is_transient());
    assert!(!acquisition(TokenFailure::other("the provider panicked")).is_transient());
}

#[test]
fn reads_aadsts_code_and_text_from_azure_identity_errors() {
    // Entra's body as quoted in Azure/azure-workload-identity#1200 (2025).
    let description = "AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:xxx:yyy'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation Trace ID: 1f2e Correlation ID: 3a4b Timestamp: 2025-04-22 01:01:11Z";
    let e = entra_error("700213", description);
    let f = TokenFailure::from_azure(&e);
    assert_eq!(f.aadsts, Some(700213));
    assert_eq!(f.http_status, Some(400));
    assert_eq!(f.message, description, "all of it, ids included");
    let shown = Error::TokenAcquisition {
        provider: "workload identity",
        failure: f,
    }
    .to_string();
    assert!(
        shown.starts_with(
            "could not get an access token from workload identity: AADSTS700213: No matching"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("system:serviceaccount:<namespace>:<service account>"),
        "{shown}"
    );
}

#[test]
fn each_federated_mismatch_code_has_its_own_advice() {
    for (code, needle) in [
        (700211, "oidcIssuerProfile.issuerUrl"),
        (700212, "api://AzureADTokenExchange"),
        (
            700213,
            "system:serviceaccount:<namespace>:<service account>",
        ),
        (7002138, "case-sensitively"),
        (7000222, "has expired"),
        (50166, ".well-known/openid-configuration"),
    ] {
        let hint = aadsts_hint(code).unwrap_or_else(|| panic!("no hint for {code}"));
        assert!(hint.contains(needle), "{code}: {hint}");
    }
    assert_eq!(aadsts_hint(70021), None, "Entra no longer sends it");
}

#[test]
fn an_18456_is_explained_by_its_text_and_the_database_asked_for() {
    let failed = |database: &str, message: &str| Error::LoginFailed {
        server: "s:1433".into(),
        database: database.into(),
        message: message.into(),
    };
    let principal = "Login failed for user '<token-identified principal>'.";
    let cases = [
        (
            failed("customers", &format!("{principal} Token is expired.")),
            LoginFailureReason::TokenExpired,
            "clock",
        ),
        (
            failed(
                "customers",
                &format!(
                    "{principal} The server is not currently configured to accept this token."
                ),
            ),
            LoginFailureReason::TokenNotAccepted,
            "AZURE_TENANT_ID",
        ),
        (
            failed(NO_DATABASE, principal),
            LoginFailureReason::NoDatabase,
            "set Database=",
        ),
        (
            failed("master", principal),
            LoginFailureReason::NoDatabase,
            "set Database=",
        ),
        (
            failed("customers", principal),
            LoginFailureReason::NoUser,
            "database customers has no user for this identity",
        ),
        (
            failed("customers", "Login failed for user 'app'."),
            LoginFailureReason::SqlLogin,
            "User Id and Password",
        ),
    ];
    for (error, reason, advice) in cases {
        assert_eq!(error.login_failure_reason(), Some(reason), "{error}");
        let text = error.to_string();
        assert!(text.contains(advice), "{reason:?}: {text}");
        assert!(text.starts_with("login refused by s:1433 (error 18456): Login failed for user"));
        assert!(!text.contains(".."), "{text}");
    }
    // An expired token is never blamed on a missing user.
    let expired = failed("customers", &format!("{principal} Token is expired."));
    assert!(!expired.to_string().contains("CREATE USER"), "{expired}");
}

#[test]
fn an_expired_session_token_says_which_number_the_server_sent() {
    // (tiberius builds its server errors itself; the end-to-end tests send both numbers
    // through a real session.)
    for code in [SESSION_TOKEN_EXPIRED, LOGIN_FAILED] {
        let error = Error::SessionTokenExpired {
            number: code,
            message: "m".into(),
        };
        assert!(error.breaks_connection());
        assert!(error.is_transient());
        assert_eq!(error.sql_error_number(), Some(code));
        assert!(
            error.to_string().contains(&format!("(error {code})")),
            "{error}"
        );
    }
}

#[test]
fn falls_back_to_the_error_code_when_the_text_has_no_aadsts() {
    let e = entra_error("50027", "the token is not valid");
    let f = TokenFailure::from_azure(&e);
    assert_eq!(f.aadsts, Some(50027));
    assert!(
        f.to_string().starts_with(
            "AADSTS50027: WorkloadIdentityCredential authentication failed. the token is not valid"
        ),
        "{f}"
    );
}

#[test]
fn a_plain_io_error_has_no_code() {
    let e = azure_core::Error::with_message(ErrorKind::Io, "connection refused");
    let f = TokenFailure::from_azure(&e);
    assert_eq!(f.aadsts, None);
    assert_eq!(f.http_status, None);
    assert_eq!(f.message, "connection refused");
    let err = Error::TokenAcquisition {
        provider: "managed identity",
        failure: f,
    };
    assert!(err.is_transient());
}

#[test]
fn entra_refusals_are_not_transient_but_its_outages_are() {
    let refusal = Error::TokenAcquisition {
        provider: "workload identity",
        failure: TokenFailure::from_azure(&entra_error("70021", "AADSTS70021: no match")),
    };
    assert!(!refusal.is_transient());
    let outage = azure_core::Error::with_message(
        ErrorKind::HttpResponse {
            status: StatusCode::ServiceUnavailable,
            error_code: Some("90033".into()),
            raw_response: None,
        },
        "AADSTS90033: A transient error has occurred.",
    );
    let outage = Error::TokenAcquisition {
        provider: "workload identity",
        failure: TokenFailure::from_azure(&outage),
    };
    assert!(outage.is_transient());
}

#[test]
fn jwts_never_survive_into_messages() {
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl";
    let text = format!("AADSTS50027: invalid assertion {jwt} for client");
    assert_eq!(
        redact_jwts(&text),
        "AADSTS50027: invalid assertion <redacted JWT> for client"
    );
    let e = entra_error("50027", &text);
    let err = Error::TokenAcquisition {
        provider: "workload identity",
        failure: TokenFailure::from_azure(&e),
    };
    assert!(!err.to_string().contains("eyJ"), "{err}");
    assert!(!format!("{err:?}").contains("eyJ"), "{err:?}");
    // Not a JWT: left alone.
    assert_eq!(redact_jwts("eyJ alone"), "eyJ alone");
}

#[test]
fn long_texts_are_cut_at_a_char_boundary() {
    let long = "é".repeat(1000);
    let f = TokenFailure::other(&long);
    assert!(f.message.len() <= 1000 + 3);
    assert!(f.message.ends_with("..."));
}

#[test]
fn an_os_timeout_is_a_command_timeout_only_when_one_is_set() {
    let timed_out = || tiberius::error::Error::Io {
        kind: std::io::ErrorKind::TimedOut,
        message: "connection timed out".into(),
    };
    let e = Error::from_statement(timed_out(), Some(Duration::from_secs(5)));
    assert!(
        matches!(e, Error::Timeout { what: TimeoutKind::Command, after, .. } if after == Duration::from_secs(5)),
        "{e:?}"
    );
    let e = Error::from_statement(timed_out(), None);
    assert!(matches!(e, Error::ConnectionBroken { .. }), "{e:?}");
    assert!(e.to_string().contains("connection timed out"), "{e}");
}

#[test]
fn expiry_and_timeouts_say_what_happened() {
    let e = Error::TokenExpired {
        provider: "workload identity",
        expired_ago: Duration::from_secs(3),
        failures: 4,
        failure: TokenFailure::timed_out(Duration::from_secs(30)),
    };
    let s = e.to_string();
    assert!(s.contains("expired 3.0s ago"), "{s}");
    assert!(s.contains("failed 4 time(s)"), "{s}");
    let t = Error::Timeout {
        what: TimeoutKind::TcpConnect,
        target: Some("db.example:1433".into()),
        after: Duration::from_secs(15),
    };
    assert_eq!(
        t.to_string(),
        "opening the TCP connection to db.example:1433 did not finish within 15s; check the server name, port and firewall, or raise Connect Timeout"
    );
    assert!(t.is_transient());
}

#[test]
fn the_transient_list_excludes_login_failure() {
    assert!(!TRANSIENT_SQL_ERRORS.contains(&LOGIN_FAILED));
    assert_eq!(TRANSIENT_SQL_ERRORS.len(), 15);
}
