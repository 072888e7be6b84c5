//! The whole sandbox, as a client sees it: a workload reads its projected token, trades it at
//! Entra with `azure_identity`, logs in to the Azure SQL stand-in through the gateway with
//! tiberius and reads the Customer rows; what Azure SQL refuses is refused; and
//! `azure-sql-sandbox serve` writes a usable env file and stops cleanly on SIGTERM.

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    ClientAssertionCredentialOptions, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_sql_sandbox::entra::access_token::{self, ClientAuth, Grantee};
use azure_sql_sandbox::pki::http_client_trusting;
use azure_sql_sandbox::{Sandbox, SandboxEnv, SandboxOptions};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

const SCOPE: &str = "https://database.windows.net/.default";

type SqlClient = Client<Compat<TcpStream>>;

/// Connects as Azure SQL clients do: TLS validated against the sandbox CA for `localhost`, and
/// the gateway's redirect followed (at most a few hops).
async fn connect(env: &SandboxEnv, auth: AuthMethod) -> Result<SqlClient, tiberius::error::Error> {
    Ok(connect_to(env, auth, false).await?.0)
}

/// [`connect`], `ApplicationIntent=ReadOnly` if `read_only`; also returns the port it landed on.
async fn connect_to(
    env: &SandboxEnv,
    auth: AuthMethod,
    read_only: bool,
) -> Result<(SqlClient, u16), tiberius::error::Error> {
    let mut config = Config::new();
    config.readonly(read_only);
    config.host(&env.host);
    config.port(env.port);
    config.database(&env.database);
    config.authentication(auth);
    config.encryption(EncryptionLevel::Required);
    config.trust_cert_ca(env.ca_pem_path.display().to_string());
    let mut hops = 0;
    loop {
        let tcp = TcpStream::connect(config.get_addr()).await?;
        tcp.set_nodelay(true)?;
        match Client::connect(config.clone(), tcp.compat_write()).await {
            Err(tiberius::error::Error::Routing { host, port }) if hops < 3 => {
                hops += 1;
                config.host(&host);
                config.port(port);
            }
            other => {
                let port = config
                    .get_addr()
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_default();
                return other.map(|client| (client, port));
            }
        }
    }
}

/// What a pod's code does: `WorkloadIdentityCredential` from the env, HTTPS trusting the CA.
async fn workload_token(env: &SandboxEnv) -> String {
    let ca = std::fs::read_to_string(&env.ca_pem_path).unwrap();
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = env.authority_host.clone();
    let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(http_client_trusting(&ca).unwrap()))),
                cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
                ..Default::default()
            },
        },
        client_id: Some(env.client_id.clone()),
        tenant_id: Some(env.tenant_id.clone()),
        token_file_path: Some(env.federated_token_file.clone()),
    }))
    .unwrap();
    credential
        .get_token(&[SCOPE], None)
        .await
        .unwrap()
        .token
        .secret()
        .to_string()
}

async fn customer_ids(client: &mut SqlClient) -> Result<Vec<i32>, tiberius::error::Error> {
    let rows = client
        .simple_query("SELECT customer_id FROM dbo.Customer ORDER BY customer_id")
        .await?
        .into_first_result()
        .await?;
    Ok(rows.iter().filter_map(|r| r.get::<i32, _>(0)).collect())
}

fn server_error_number(e: &tiberius::error::Error) -> Option<u32> {
    match e {
        tiberius::error::Error::Server(token) => Some(token.code()),
        _ => None,
    }
}

#[tokio::test]
async fn a_workload_logs_in_through_the_gateway_with_its_projected_token_and_reads_the_customers() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let env = sandbox.env().clone();
    let token = workload_token(&env).await;
    let mut client = connect(&env, AuthMethod::aad_token(&token)).await.unwrap();
    assert_eq!(
        customer_ids(&mut client).await.unwrap(),
        vec![1, 2, 3, 4, 5]
    );
    let stats = sandbox.stats();
    assert_eq!(stats.federated_grants, 1);
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.redirects, 1, "the login went through the gateway");
    assert!(stats.logins_ok >= 1);
    drop(client);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_read_only_workload_is_routed_to_the_read_only_replica() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let env = sandbox.env().clone();
    let token = workload_token(&env).await;
    let (mut client, port) = connect_to(&env, AuthMethod::aad_token(&token), true)
        .await
        .unwrap();
    assert_eq!(Some(port), sandbox.read_only_port());
    assert_ne!(sandbox.read_only_port(), sandbox.node_port());
    assert_eq!(
        customer_ids(&mut client).await.unwrap(),
        vec![1, 2, 3, 4, 5]
    );
    let row = client
        .simple_query("SELECT DATABASEPROPERTYEX(DB_NAME(), 'Updateability')")
        .await
        .unwrap()
        .into_row()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<&str, _>(0), Some("READ_ONLY"));
    assert_eq!(sandbox.stats().read_only_logins, 1);
    drop(client);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn azure_sql_refuses_bad_tokens_with_18456_and_a_dropped_role_with_229() {
    let sandbox = Sandbox::start(SandboxOptions {
        gateway: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let env = sandbox.env().clone();
    let workload = Grantee {
        tenant_id: env.tenant_id.clone(),
        object_id: sandbox
            .directory()
            .app(&env.tenant_id, &env.client_id)
            .unwrap()
            .object_id,
        client_id: env.client_id.clone(),
        auth: ClientAuth::Assertion,
        resource_id: None,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut expired = access_token::claims(&workload, Duration::from_secs(60));
    expired.iat = now - 120;
    expired.nbf = now - 120;
    expired.exp = now - 1;
    let mut wrong_audience = access_token::claims(&workload, Duration::from_secs(60));
    wrong_audience.aud = "https://management.azure.com/".into();
    for claims in [expired, wrong_audience] {
        let token = sandbox.entra().sign_access_token(&claims).unwrap();
        let err = connect(&env, AuthMethod::aad_token(&token))
            .await
            .err()
            .unwrap();
        assert_eq!(server_error_number(&err), Some(18456), "{err}");
    }
    // A genuine token for an identity that has no database user.
    let stranger = sandbox.create_service_principal("stranger");
    let mut stranger_claims = access_token::claims(&workload, Duration::from_secs(60));
    stranger_claims.appid = stranger.client_id.clone();
    stranger_claims.oid = stranger.object_id.clone();
    stranger_claims.sub = stranger.object_id.clone();
    let token = sandbox.entra().sign_access_token(&stranger_claims).unwrap();
    let err = connect(&env, AuthMethod::aad_token(&token))
        .await
        .err()
        .unwrap();
    assert_eq!(server_error_number(&err), Some(18456), "{err}");

    sandbox
        .execute_admin(
            &env.database,
            "ALTER ROLE db_datareader DROP MEMBER [customers-identity];",
        )
        .await
        .unwrap();
    let token = workload_token(&env).await;
    let mut client = connect(&env, AuthMethod::aad_token(&token)).await.unwrap();
    let err = customer_ids(&mut client).await.unwrap_err();
    assert_eq!(server_error_number(&err), Some(229), "{err}");
    assert!(sandbox.stats().logins_failed >= 3);
}

#[tokio::test]
async fn the_server_admin_logs_in_with_the_sql_password_from_the_env() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let env = sandbox.env().clone();
    let mut client = connect(
        &env,
        AuthMethod::sql_server(&env.admin_user, &env.admin_password),
    )
    .await
    .unwrap();
    assert_eq!(customer_ids(&mut client).await.unwrap().len(), 5);
    let err = connect(&env, AuthMethod::sql_server(&env.admin_user, "wrong"))
        .await
        .err()
        .unwrap();
    assert_eq!(server_error_number(&err), Some(18456), "{err}");
}

#[tokio::test]
async fn serve_writes_the_env_file_serves_it_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("serve-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let env_file = dir.join("sandbox.env");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_azure-sql-sandbox"))
        .args(["serve", "--token-lifetime", "90s", "--env-file"])
        .arg(&env_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The "env file" line is printed after the file is written.
    let lines: Vec<String> = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.starts_with("env file");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    })
    .await
    .unwrap();
    for service in ["sql ", "entra ", "imds ", "issuer ", "token file ", "ca "] {
        assert!(
            lines.iter().any(|l| l.starts_with(service)),
            "no {service:?} line in {lines:?}"
        );
    }

    let text = std::fs::read_to_string(&env_file).unwrap();
    let vars: HashMap<String, String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the env file holds a password: owner-only");
    }
    let (host, port) = vars["AZURE_SQL_SERVER"]
        .strip_prefix("tcp:")
        .unwrap()
        .split_once(',')
        .unwrap();
    let env = SandboxEnv {
        client_id: vars["AZURE_CLIENT_ID"].clone(),
        tenant_id: vars["AZURE_TENANT_ID"].clone(),
        authority_host: vars["AZURE_AUTHORITY_HOST"].clone(),
        federated_token_file: vars["AZURE_FEDERATED_TOKEN_FILE"].clone().into(),
        ca_pem_path: vars["AZURE_SQL_SANDBOX_CA"].clone().into(),
        server: vars["AZURE_SQL_SERVER"].clone(),
        host: host.to_string(),
        port: port.parse().unwrap(),
        database: vars["AZURE_SQL_DATABASE"].clone(),
        connection_string: vars["AZURE_SQL_CONNECTION_STRING"].clone(),
        imds_endpoint: vars["AZURE_SQL_SANDBOX_IMDS_ENDPOINT"].clone(),
        identity_endpoint: vars["AZURE_SQL_SANDBOX_IDENTITY_ENDPOINT"].clone(),
        identity_header: vars["AZURE_SQL_SANDBOX_IDENTITY_HEADER"].clone(),
        admin_user: vars["AZURE_SQL_SANDBOX_ADMIN_USER"].clone(),
        admin_password: vars["AZURE_SQL_SANDBOX_ADMIN_PASSWORD"].clone(),
        expired_token_file: vars["AZURE_SQL_SANDBOX_EXPIRED_TOKEN_FILE"].clone().into(),
    };
    assert_eq!(
        env.connection_string,
        format!(
            "Server={};Database=customers;Authentication=Active Directory Workload Identity;Encrypt=True",
            env.server
        )
    );
    let token = workload_token(&env).await;
    assert_eq!(
        jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
            .unwrap()
            .claims["exp"]
            .as_u64()
            .unwrap()
            - jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
                .unwrap()
                .claims["iat"]
                .as_u64()
                .unwrap(),
        90
    );
    let mut client = connect(&env, AuthMethod::aad_token(&token)).await.unwrap();
    assert_eq!(
        customer_ids(&mut client).await.unwrap(),
        vec![1, 2, 3, 4, 5]
    );
    drop(client);

    // The two refusals interop clients check: the env file's expired token, and a login
    // naming no database (master, where the workload identity has no user).
    let expired = std::fs::read_to_string(&env.expired_token_file).unwrap();
    let refused = |result: Result<SqlClient, tiberius::error::Error>| match result {
        Err(tiberius::error::Error::Server(e)) => (e.code(), e.message().to_string()),
        other => panic!(
            "expected a login failure, got {:?}",
            other.map(|_| "a session")
        ),
    };
    assert_eq!(
        refused(connect(&env, AuthMethod::aad_token(expired.trim())).await),
        (
            18456,
            "Login failed for user '<token-identified principal>'. Token is expired.".to_string()
        )
    );
    let no_database = SandboxEnv {
        database: String::new(),
        ..env.clone()
    };
    assert_eq!(
        refused(connect(&no_database, AuthMethod::aad_token(&token)).await),
        (
            18456,
            "Login failed for user '<token-identified principal>'.".to_string()
        )
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "serve exited with {exit}");
    assert!(!env_file.exists(), "the env file is removed on shutdown");
    assert!(
        !env.ca_pem_path.exists(),
        "the temporary state dir is removed on shutdown"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
