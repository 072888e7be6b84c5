//! Tests of provider selection, settings resolution, the default chain's order and report, the
//! caller's own sources, and redaction. Exchanges with the sandbox's Entra live in
//! `tests/credential_*.rs`.

use super::azure_cli::AzureCli;
use super::default_chain::DefaultChain;
use super::workload_identity::WorkloadIdentity;
use super::*;
use crate::config::ConfigError;
use crate::config::{Authentication, Config};
use crate::test_support::{closed_port, env, write_az, PathExecutor, Scratch};
use azure_core::credentials::AccessToken;
use azure_core::credentials::TokenRequestOptions;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const CLIENT_ID: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SECRET: &str = "sp-S3cr3t~value";

fn config(s: &str) -> Config {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn workload_env(file: &str) -> Environment {
    env(&[
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_TENANT_ID", TENANT_ID),
        ("AZURE_FEDERATED_TOKEN_FILE", file),
    ])
}

#[test]
fn each_mode_gets_its_provider() {
    let base = "Server=tcp:s.database.windows.net,1433;Database=db";
    let cases = [
        ("Active Directory Workload Identity", "workload identity"),
        ("Active Directory Managed Identity", "managed identity"),
        ("Active Directory Azure CLI", "Azure CLI"),
        ("Active Directory Default", "default chain"),
    ];
    for (mode, kind) in cases {
        let c = config(&format!("{base};Authentication={mode}"));
        let provider = provider_for_with(&c, &workload_env("/var/run/token"))
            .expect("builds")
            .expect("has a provider");
        assert_eq!(provider.kind(), kind, "{mode}");
    }
    let c = config(&format!(
        "{base};Authentication=Active Directory Service Principal;User Id={CLIENT_ID};Password={SECRET}"
    ));
    let provider = provider_for_with(&c, &env(&[("AZURE_TENANT_ID", TENANT_ID)]))
        .expect("builds")
        .expect("has a provider");
    assert_eq!(provider.kind(), "service principal");
    let c = config(&format!("{base};User Id=sa;Password=x"));
    assert!(
        provider_for_with(&c, &env(&[])).expect("builds").is_none(),
        "Sql Password has no provider"
    );
}

#[test]
fn provider_for_validates_the_config_first() {
    let mut c = Config::new("s.database.windows.net");
    c.authentication(Authentication::WorkloadIdentity)
        .password("oops");
    let e = provider_for_with(&c, &workload_env("/f")).expect_err("invalid");
    assert!(
        matches!(e, ConfigError::PasswordWithPasswordless { .. }),
        "{e}"
    );
}

#[test]
fn workload_identity_names_each_missing_setting() {
    let c = config("Server=s;Authentication=Active Directory Workload Identity");
    let cases = [
        (
            env(&[
                ("AZURE_TENANT_ID", TENANT_ID),
                ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
            ]),
            "client id",
            "AZURE_CLIENT_ID",
        ),
        (
            env(&[
                ("AZURE_CLIENT_ID", CLIENT_ID),
                ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
            ]),
            "tenant id",
            "AZURE_TENANT_ID",
        ),
        (
            env(&[
                ("AZURE_CLIENT_ID", CLIENT_ID),
                ("AZURE_TENANT_ID", TENANT_ID),
            ]),
            "federated token file",
            "azure.workload.identity/use",
        ),
    ];
    for (environment, setting, hint) in cases {
        let e = provider_for_with(&c, &environment).expect_err(setting);
        assert!(
            matches!(e, ConfigError::MissingCredentialSetting { setting: s, .. } if s == setting),
            "{e}"
        );
        assert!(e.to_string().contains(hint), "{e}");
    }
    // Settings from the config replace the environment.
    let mut c = config(&format!(
        "Server=s;Authentication=Active Directory Workload Identity;User Id={CLIENT_ID}"
    ));
    c.tenant_id(TENANT_ID).federated_token_file("/f");
    provider_for_with(&c, &env(&[])).expect("everything configured in code");
}

#[test]
fn service_principal_needs_a_tenant() {
    let c = config(&format!(
        "Server=s;Authentication=Active Directory Service Principal;User Id={CLIENT_ID};Password={SECRET}"
    ));
    let e = provider_for_with(&c, &env(&[])).expect_err("no tenant");
    assert!(
        matches!(
            e,
            ConfigError::MissingCredentialSetting {
                setting: "tenant id",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("AZURE_TENANT_ID"), "{e}");
    let e =
        provider_for_with(&c, &env(&[("AZURE_TENANT_ID", "bad/tenant")])).expect_err("bad tenant");
    assert!(
        matches!(
            e,
            ConfigError::InvalidEnvironment {
                variable: "AZURE_TENANT_ID",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn authority_comes_from_config_then_environment_then_the_servers_cloud() {
    let mut c = Config::new("s.database.chinacloudapi.cn");
    assert_eq!(
        authority_host(&c, &env(&[])).expect("ok"),
        "https://login.chinacloudapi.cn"
    );
    let e = env(&[("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/")]);
    assert_eq!(
        authority_host(&c, &e).expect("ok"),
        "https://login.microsoftonline.us/"
    );
    c.authority_host("https://localhost:8443/");
    assert_eq!(
        authority_host(&c, &e).expect("ok"),
        "https://localhost:8443/"
    );
    let bad = env(&[("AZURE_AUTHORITY_HOST", "http://login.example")]);
    let e = authority_host(&Config::new("s"), &bad).expect_err("http");
    assert!(
        matches!(
            e,
            ConfigError::InvalidEnvironment {
                variable: "AZURE_AUTHORITY_HOST",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn client_id_prefers_user_id() {
    let e = env(&[("AZURE_CLIENT_ID", "from-env")]);
    assert_eq!(
        client_id(&Config::new("s"), &e).as_deref(),
        Some("from-env")
    );
    let mut c = Config::new("s");
    c.user_id(CLIENT_ID);
    assert_eq!(client_id(&c, &e).as_deref(), Some(CLIENT_ID));
}

#[test]
fn environment_treats_empty_as_unset_and_shows_no_values() {
    let e = env(&[("A", ""), ("B", "  "), ("AZURE_CLIENT_SECRET", SECRET)]);
    assert_eq!(e.var("A"), None);
    assert_eq!(e.var("B"), None);
    assert_eq!(e.var("AZURE_CLIENT_SECRET").as_deref(), Some(SECRET));
    assert!(!format!("{e:?}").contains(SECRET));
    let from_fn = Environment::from_fn(|name| (name == "X").then(|| "1".to_owned()));
    assert_eq!(from_fn.var("X").as_deref(), Some("1"));
    assert_eq!(from_fn.var("Y"), None);
}

#[test]
fn debug_never_shows_a_secret() {
    let c = config(&format!(
        "Server=s;Authentication=Active Directory Service Principal;User Id={CLIENT_ID};Password=\"{SECRET}\""
    ));
    let sp = provider_for_with(&c, &env(&[("AZURE_TENANT_ID", TENANT_ID)]))
        .expect("builds")
        .expect("provider");
    let text = format!("{sp:?}");
    assert!(text.contains(CLIENT_ID) && !text.contains(SECRET), "{text}");

    let chain_env = env(&[
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_TENANT_ID", TENANT_ID),
        ("AZURE_CLIENT_SECRET", SECRET),
    ]);
    let chain = provider_for_with(&config("Server=s"), &chain_env)
        .expect("builds")
        .expect("provider");
    let text = format!("{chain:?}");
    assert!(
        text.contains("environment service principal") && !text.contains(SECRET),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_token_file_names_the_path_and_what_to_check() {
    let scratch = Scratch::new("wi-missing");
    let file = scratch.path("azure-identity-token");
    let mut c = config("Server=s;Authentication=Active Directory Workload Identity");
    // No request is made: the assertion is read first. The authority is a closed port anyway.
    c.authority_host(format!("https://127.0.0.1:{}/", closed_port()));
    let provider =
        WorkloadIdentity::new(&c, &workload_env(file.to_str().expect("utf-8"))).expect("builds");
    let e = provider
        .fetch("https://database.windows.net/.default")
        .await
        .expect_err("no file");
    let text = e.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("azure.workload.identity/use"), "{text}");

    std::fs::write(&file, "  \n").expect("write");
    let e = provider
        .fetch("https://database.windows.net/.default")
        .await
        .expect_err("empty file");
    assert!(e.to_string().contains("is empty"), "{e}");

    // With a token in the file the request is made; the error says why it failed.
    std::fs::write(&file, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln").expect("write");
    let e = provider
        .fetch("https://database.windows.net/.default")
        .await
        .expect_err("no Entra");
    let text = e.to_string();
    assert!(
        text.contains("/oauth2/v2.0/token") && text.contains("Connection refused"),
        "{text}"
    );
    assert!(
        !text.contains("eyJhbGciOiJSUzI1NiJ9"),
        "the assertion is never shown: {text}"
    );
}

// ----- default chain --------------------------------------------------------------------------

fn chain(config: &Config, environment: &Environment, az_path: &str) -> DefaultChain {
    let mut chain = DefaultChain::new(config, environment).expect("builds");
    chain.set_imds_probe(&format!(
        "http://127.0.0.1:{}/metadata/identity/oauth2/token",
        closed_port()
    ));
    let mut cli = AzureCli::new(config);
    cli.executor = Some(std::sync::Arc::new(PathExecutor {
        path: az_path.into(),
    }));
    chain.set_azure_cli(cli);
    chain
}

#[tokio::test]
async fn the_chain_reports_every_source_it_skipped_and_the_one_that_failed() {
    let scratch = Scratch::new("chain-empty");
    let chain = chain(
        &config("Server=s"),
        &env(&[]),
        scratch.0.to_str().expect("utf-8"),
    );
    assert_eq!(chain.kind(), "default chain");
    let e = chain
        .fetch("https://database.windows.net/.default")
        .await
        .expect_err("nothing works");
    let text = e.to_string();
    for expected in [
        "environment service principal: skipped (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET not set)",
        "workload identity: skipped (AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID not set)",
        "managed identity: skipped (no App Service identity variables, and IMDS",
        "Azure CLI: failed (",
        "az not found on PATH",
        "az login",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in: {text}");
    }
    let order: Vec<usize> = [
        "environment service principal",
        "workload identity",
        "managed identity",
        "Azure CLI",
    ]
    .iter()
    .map(|s| text.find(s).expect("listed"))
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "in chain order: {text}"
    );
    assert_eq!(chain.chosen(), None);
}

#[tokio::test]
async fn the_chain_stops_at_the_first_configured_source_that_fails() {
    // Workload identity is configured but its file is missing: the chain must not fall through to
    // the CLI (or, on AKS, to the node's managed identity).
    let scratch = Scratch::new("chain-wi");
    write_az(&scratch.0, "echo must-not-run >&2; exit 3");
    let missing = scratch.path("no-such-token");
    let path = format!("{}:/usr/bin:/bin", scratch.0.display());
    let chain = chain(
        &config("Server=s"),
        &workload_env(missing.to_str().expect("utf-8")),
        &path,
    );
    let e = chain
        .fetch("https://database.windows.net/.default")
        .await
        .expect_err("fails");
    let text = e.to_string();
    assert!(text.contains("workload identity: failed"), "{text}");
    assert!(text.contains(&missing.display().to_string()), "{text}");
    assert!(
        !text.contains("must-not-run") && !text.contains("Azure CLI"),
        "the CLI was not tried: {text}"
    );
}

#[tokio::test]
async fn the_chain_uses_the_cli_when_nothing_else_is_there_and_sticks_to_it() {
    let scratch = Scratch::new("chain-cli");
    let calls = scratch.path("calls");
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    write_az(
        &scratch.0,
        &format!(
            "echo \"$@\" >> '{}'\n\
             printf '{{\"accessToken\":\"cli-token\",\"expiresOn\":\"2099-01-01 00:00:00.000000\",\"expires_on\":{expires},\"subscription\":\"s\",\"tenant\":\"t\",\"tokenType\":\"Bearer\"}}'",
            calls.display()
        ),
    );
    let path = format!("{}:/usr/bin:/bin", scratch.0.display());
    let chain = chain(&config("Server=s"), &env(&[]), &path);
    for _ in 0..2 {
        let token = chain
            .fetch("https://database.windows.net/.default")
            .await
            .expect("cli token");
        assert_eq!(token.token.secret(), "cli-token");
        assert_eq!(token.expires_on.unix_timestamp(), expires);
    }
    assert_eq!(chain.chosen(), Some("Azure CLI"));
    assert_eq!(chain.kind(), "default chain: Azure CLI");
    let recorded = std::fs::read_to_string(&calls).expect("az was run");
    assert_eq!(
        recorded.lines().count(),
        2,
        "one `az` run per fetch: {recorded}"
    );
    assert!(
        recorded.contains(
            "account get-access-token -o json --scope https://database.windows.net/.default"
        ),
        "{recorded}"
    );
}

#[tokio::test]
async fn azure_cli_errors_surface_what_az_said() {
    let scratch = Scratch::new("cli-error");
    write_az(
        &scratch.0,
        "echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1",
    );
    let mut c = Config::new("s");
    c.authentication(Authentication::AzureCli)
        .tenant_id(TENANT_ID);
    let mut cli = AzureCli::new(&c);
    cli.executor = Some(std::sync::Arc::new(PathExecutor {
        path: format!("{}:/usr/bin:/bin", scratch.0.display()).into(),
    }));
    let e = cli
        .fetch("https://database.windows.net/.default")
        .await
        .expect_err("not logged in");
    assert!(e.to_string().contains("Please run 'az login'"), "{e}");
}

// ----- the caller's own sources ---------------------------------------------------------------

#[derive(Debug, Default)]
struct CountingCredential {
    calls: AtomicUsize,
    scopes: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for CountingCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.scopes
            .lock()
            .expect("lock")
            .extend(scopes.iter().map(|s| s.to_string()));
        Ok(AccessToken::new(
            format!("token-{n}"),
            time::OffsetDateTime::now_utc() + time::Duration::seconds(60),
        ))
    }
}

#[tokio::test]
async fn a_token_credential_is_asked_once_per_fetch_with_the_scope() {
    let credential = std::sync::Arc::new(CountingCredential::default());
    let provider = from_token_credential(credential.clone());
    assert_eq!(provider.kind(), "token credential");
    let a = provider
        .fetch("https://database.usgovcloudapi.net/.default")
        .await
        .expect("token");
    let b = provider
        .fetch("https://database.usgovcloudapi.net/.default")
        .await
        .expect("token");
    assert_eq!((a.token.secret(), b.token.secret()), ("token-0", "token-1"));
    assert_eq!(
        *credential.scopes.lock().expect("lock"),
        vec!["https://database.usgovcloudapi.net/.default"; 2]
    );
}

#[tokio::test]
async fn a_callback_gets_the_scope_and_its_errors_keep_their_text() {
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let provider = from_callback(move |scope: String| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 1 {
                return Err(std::io::Error::other("vault sealed"));
            }
            Ok(AccessToken::new(
                format!("{scope}#{n}"),
                time::OffsetDateTime::now_utc() + time::Duration::seconds(60),
            ))
        }
    });
    assert_eq!(provider.kind(), "callback");
    let token = provider.fetch("scope-a").await.expect("first");
    assert_eq!(token.token.secret(), "scope-a#0");
    let e = provider.fetch("scope-a").await.expect_err("second fails");
    assert!(e.to_string().contains("vault sealed"), "{e}");
    assert!(matches!(e.kind(), azure_core::error::ErrorKind::Credential));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(format!("{provider:?}"), "Callback");
}

// ----- the IMDS probe -------------------------------------------------------------------------

#[tokio::test]
async fn the_imds_probe_sees_an_imds_and_gives_up_on_silence_within_a_second() {
    use super::default_chain::ImdsProbe;
    use azure_sql_sandbox::entra::{directory::EntraDirectory, Entra, EntraOptions};
    use azure_sql_sandbox::pki::Pki;

    // The sandbox's IMDS answers a header-less probe with 400, as IMDS does: it exists.
    let pki = Pki::generate().expect("pki");
    let entra = Entra::start(
        &pki,
        std::sync::Arc::new(EntraDirectory::new()),
        EntraOptions::default(),
        azure_sql_sandbox::Faults::default(),
        azure_sql_sandbox::Stats::default(),
    )
    .await
    .expect("entra");
    ImdsProbe::new(&entra.imds_endpoint())
        .check()
        .await
        .expect("IMDS answers");

    // Nobody listening: skipped at once.
    let closed = format!(
        "http://127.0.0.1:{}/metadata/identity/oauth2/token",
        closed_port()
    );
    let reason = ImdsProbe::new(&closed).check().await.expect_err("closed");
    assert!(reason.contains("did not answer within 1 s"), "{reason}");

    // A listener that never answers (as an unroutable 169.254.169.254 behaves): given up on
    // after the probe's timeout, not the HTTP client's 30 s.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/metadata/identity/oauth2/token",
        silent.local_addr().expect("addr")
    );
    let started = std::time::Instant::now();
    ImdsProbe::new(&url).check().await.expect_err("silent");
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(20), "{waited:?}");
}
