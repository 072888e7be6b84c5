//! The doctor's SQL steps, from one login attempt watched hop by hop
//! (`Connector::attempt_observed`): the gateway (DNS, TCP, TLS and its certificate's name:
//! `sql_gateway`), the redirect target (`sql_redirect`), the login's answer (`login`), then
//! `SELECT` on the application's table (`permission`).

use super::dns::{self, Lookup};
use super::identity::{Context, Source};
use super::report::{Outcome, Walk, LOGIN, PERMISSION, SQL_GATEWAY, SQL_REDIRECT};
use super::table::TableName;
use crate::connect::{Connector, Hop};
use crate::connection::Connection;
use crate::error::{Error, LoginFailureReason, TimeoutKind, TRANSIENT_SQL_ERRORS};
use crate::token::TokenSource;
use azure_core::credentials::AccessToken;
use std::sync::Mutex;

/// What to do when the redirect target does not answer.
const REDIRECT_PORTS: &str = "allow outbound TCP 11000-11999 to Azure SQL (the Redirect connection policy sends logins there), or switch the server to the Proxy policy (az sql server conn-policy update -g <group> -s <server> --connection-type Proxy)";

/// `sql_gateway`, `sql_redirect` and `login`: one login attempt. Returns the connection for the
/// permission step.
pub(crate) async fn connect(
    walk: &mut Walk,
    context: &Context<'_>,
    token: Option<AccessToken>,
) -> Option<Connection> {
    if !walk.gate(SQL_GATEWAY, None) {
        return rest_skipped(walk);
    }
    let config = context.config;
    let (host, port) = (config.get_host(), config.get_port());
    let connector = match (context.source, token) {
        (Source::None, _) => Connector::new(config.clone()),
        (_, Some(token)) => {
            // The token of the exchange step, handed out again: the run's one token request.
            let provider = crate::credential::from_callback(move |_scope| {
                let token = token.clone();
                async move { Ok::<_, std::convert::Infallible>(token) }
            });
            Connector::with_token_source(
                config.clone(),
                TokenSource::new(provider, config.get_token_scope()),
            )
        }
        (_, None) => {
            // Only reached if a token step was not applicable yet a token was needed.
            walk.record(
                SQL_GATEWAY,
                Outcome::failed(
                    Vec::new(),
                    "No access token to log in with: see the token steps",
                ),
            );
            return rest_skipped(walk);
        }
    };
    let connector = match connector {
        Ok(c) => c,
        Err(e) => {
            walk.record(SQL_GATEWAY, Outcome::failed(Vec::new(), e.to_string()));
            return rest_skipped(walk);
        }
    };

    let bound = config.get_connect_timeout();
    let (lookup, line) = dns::resolve(host, port, bound).await;
    let mut gateway = vec![line];
    match lookup {
        Lookup::Found(_) => {}
        Lookup::NoSuchName => {
            let fix = format!("Server={host} does not resolve here: check the server name (<server>.database.windows.net); with a private endpoint, link the privatelink.database.windows.net DNS zone to this network");
            walk.record(SQL_GATEWAY, Outcome::failed(gateway, fix));
            return rest_skipped(walk);
        }
        Lookup::NoAnswer => {
            walk.record(
                SQL_GATEWAY,
                Outcome::failed(
                    gateway,
                    "The DNS resolver did not answer: check this host's DNS and its egress",
                ),
            );
            return rest_skipped(walk);
        }
    }

    let hops = Mutex::new(Vec::new());
    let observe = |hop: Hop| {
        if let Ok(mut hops) = hops.lock() {
            hops.push(hop);
        }
    };
    let result = connector.attempt_observed(&observe).await;
    let hops = hops.into_inner().unwrap_or_default();
    let path = Path::of(&hops);
    let cert_host = |h: &str| {
        config
            .get_host_name_in_certificate()
            .unwrap_or(h)
            .to_owned()
    };

    // The gateway.
    if let Some(peer) = &path.gateway {
        gateway.push(format!("TCP: connected to {peer}"));
    }
    let transport = is_transport(&result);
    if let (None, Some(e)) = (&path.redirect, transport) {
        gateway.push(what_failed(e));
        let fix = transport_fix(
            e,
            path.gateway.is_some(),
            host,
            port,
            &cert_host(host),
            false,
        );
        walk.record(SQL_GATEWAY, Outcome::failed(gateway, fix));
        return rest_skipped(walk);
    }
    gateway.push(format!(
        "TLS: certificate valid for {} (Encrypt={:?})",
        cert_host(host),
        config.get_encrypt()
    ));
    walk.record(SQL_GATEWAY, Outcome::Passed(gateway));

    // The redirect.
    match &path.redirect {
        None => walk.record(
            SQL_REDIRECT,
            Outcome::NotApplicable(format!(
                "the login was answered at {host}:{port} without a redirect (Proxy connection policy, or refused before routing)"
            )),
        ),
        Some((to_host, to_port)) => {
            let mut seen = vec![format!("the gateway redirected the login to {to_host}:{to_port}")];
            if let Some(peer) = &path.target {
                seen.push(format!("TCP: connected to {peer}"));
            }
            if let Some(e) = transport {
                seen.push(what_failed(e));
                let fix = transport_fix(e, path.target.is_some(), to_host, *to_port, &cert_host(to_host), true);
                walk.record(SQL_REDIRECT, Outcome::failed(seen, fix));
                walk.gate(LOGIN, None);
                return None;
            }
            if let Err(e @ (Error::RedirectLoop { .. } | Error::TooManyRedirects { .. })) = &result {
                seen.push(e.to_string());
                walk.record(SQL_REDIRECT, Outcome::failed(seen, "The gateway's redirects do not end: a server-side routing problem; try again later or use the Proxy connection policy (az sql server conn-policy update --connection-type Proxy)"));
                walk.gate(LOGIN, None);
                return None;
            }
            seen.push(format!("TLS: certificate valid for {}", cert_host(to_host)));
            walk.record(SQL_REDIRECT, Outcome::Passed(seen));
        }
    }

    // The login.
    match result {
        Ok(conn) => {
            walk.record(
                LOGIN,
                Outcome::Passed(vec![format!(
                    "logged in at {} to database {}",
                    conn.server(),
                    config.get_database().unwrap_or("<default>")
                )]),
            );
            Some(conn)
        }
        Err(e) => {
            let (seen, fix) = login_fix(context, &e);
            walk.record(LOGIN, Outcome::failed(seen, fix));
            None
        }
    }
}

/// The redirect and login steps after the gateway's failed: skipped.
fn rest_skipped(walk: &mut Walk) -> Option<Connection> {
    walk.gate(SQL_REDIRECT, None);
    walk.gate(LOGIN, None);
    None
}

/// Where the attempt got to.
struct Path {
    /// The gateway's address, when TCP opened.
    gateway: Option<String>,
    /// Where the gateway redirected the login.
    redirect: Option<(String, u16)>,
    /// The redirect target's address, when TCP opened.
    target: Option<String>,
}

impl Path {
    fn of(hops: &[Hop]) -> Self {
        let mut path = Path {
            gateway: None,
            redirect: None,
            target: None,
        };
        for hop in hops {
            match hop {
                Hop::Connected { host, port, peer } => {
                    let at = peer.map_or_else(|| format!("{host}:{port}"), |p| p.to_string());
                    if path.redirect.is_none() {
                        path.gateway = Some(at);
                    } else {
                        path.target = Some(at);
                    }
                }
                Hop::Redirected { host, port } if path.redirect.is_none() => {
                    path.redirect = Some((host.clone(), *port));
                }
                Hop::Redirected { .. } => {}
            }
        }
        path
    }
}

/// The error, when it is the network's or TLS's rather than the server's answer.
fn is_transport(result: &Result<Connection, Error>) -> Option<&Error> {
    match result {
        Err(
            e @ (Error::Connect { .. }
            | Error::ConnectionBroken { .. }
            | Error::Tls { .. }
            | Error::Timeout { .. }),
        ) => Some(e),
        _ => None,
    }
}

/// A transport failure in a few words (the library's message adds advice the fix replaces).
fn what_failed(e: &Error) -> String {
    match e {
        Error::Connect {
            server, message, ..
        } => format!("TCP to {server}: {message}"),
        Error::Tls { host, message } => format!("TLS with {host}: {message}"),
        Error::ConnectionBroken { message } => format!("the connection broke: {message}"),
        other => other.to_string(),
    }
}

/// The fix for a transport failure at `host:port`.
fn transport_fix(
    e: &Error,
    tcp_open: bool,
    host: &str,
    port: u16,
    cert_host: &str,
    redirected: bool,
) -> String {
    match e {
        Error::Tls { .. } => format!("The certificate at {host}:{port} does not validate for {cert_host}: keep the server's own name in Server= (<server>.database.windows.net, also behind a private endpoint) or set HostNameInCertificate; a TLS-inspecting proxy's CA must be trusted"),
        _ if redirected => format!("The gateway answered but its redirect target {host}:{port} did not ({}): {REDIRECT_PORTS}", if tcp_open { "it closed the connection" } else { "no TCP" }),
        Error::Timeout { what: TimeoutKind::Login, .. } => "TCP opened but TLS and the login did not finish within Connect Timeout: check Encrypt (Strict needs a TDS 8.0 server) or raise Connect Timeout".to_owned(),
        _ if tcp_open => format!("{host}:{port} accepted TCP but closed the connection during TLS or the login: check that the port in Server= is SQL Server's (1433 on Azure) and Encrypt"),
        _ => format!("Nothing accepts TCP at {host}:{port}: check the port in Server= (Azure SQL: tcp:<server>.database.windows.net,1433) and that firewalls allow outbound TCP {port}"),
    }
}

/// What was seen, and the fix, for a login the server refused.
fn login_fix(context: &Context<'_>, e: &Error) -> (Vec<String>, String) {
    let database = context.config.get_database().unwrap_or("<default>");
    let seen = vec![match e {
        Error::LoginFailed {
            server, message, ..
        } => format!("error 18456 from {server}: {message}"),
        other => other.to_string(),
    }];
    let fix = match (e.sql_error_number(), e.login_failure_reason()) {
        (_, Some(LoginFailureReason::NoDatabase)) => "No database was named (or master), so the login went to master, where the application's user does not exist: set Database= (AZURE_SQL_DATABASE) to the application database".to_owned(),
        (_, Some(LoginFailureReason::NoUser)) => format!("Database {database} has no user for this identity: as the server's Microsoft Entra admin, run CREATE USER [<identity name>] FROM EXTERNAL PROVIDER; in {database} (not in master)"),
        (_, Some(LoginFailureReason::TokenExpired)) => "The server found the access token expired: check this host's clock (NTP), and that no cache hands out old tokens".to_owned(),
        (_, Some(LoginFailureReason::TokenNotAccepted)) => "The server does not accept this token: the server's Microsoft Entra admin must be in the token's tenant (AZURE_TENANT_ID), and the token scope must be the server's cloud".to_owned(),
        (_, Some(LoginFailureReason::SqlLogin)) => format!("Check User Id and Password, and that the login has a user in database {database}"),
        (Some(40615), _) => {
            let ip = client_address(&e.to_string()).unwrap_or_else(|| "<this client's address>".to_owned());
            format!("The server's firewall does not let {ip} in: az sql server firewall-rule create -g <group> -s <server> -n <name> --start-ip-address {ip} --end-ip-address {ip}, or reach the server through a private endpoint")
        }
        (Some(4060), _) => format!("Database {database} cannot be opened: check that Database= names a database on this server"),
        (Some(n), _) if TRANSIENT_SQL_ERRORS.contains(&n) => format!("Error {n} is transient (the database is busy, failing over or not yet available): applications retry it (Connect Retry Count={}); the doctor logs in once, so run it again in a minute, and check the database's Resource health if it persists", context.config.get_connect_retry_count()),
        _ => format!("The login failed: {e}"),
    };
    (seen, fix)
}

/// The client address in a 40615 message: "Client with IP address '203.0.113.5' is not allowed".
pub(crate) fn client_address(message: &str) -> Option<String> {
    let rest = &message[message.find("IP address '")? + "IP address '".len()..];
    let ip = &rest[..rest.find('\'')?];
    ip.parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

/// `permission`: the database user, and `SELECT TOP (1)` on the table.
pub(crate) async fn permission(walk: &mut Walk, connection: Option<Connection>, table: &TableName) {
    if !walk.gate(PERMISSION, None) {
        return;
    }
    let Some(mut conn) = connection else {
        walk.record(
            PERMISSION,
            Outcome::NotApplicable("no connection to ask".into()),
        );
        return;
    };
    let mut seen = Vec::new();
    let user = match conn.simple_query("SELECT USER_NAME()").await {
        Ok(stream) => match stream.into_row().await {
            Ok(Some(row)) => row.try_get::<&str, _>(0).ok().flatten().map(str::to_owned),
            _ => None,
        },
        Err(_) => None,
    };
    let who = user.clone().unwrap_or_else(|| "<identity name>".to_owned());
    if let Some(user) = &user {
        seen.push(format!("database user {user}"));
    }
    let quoted = table.quoted();
    let outcome = match conn
        .simple_query(format!("SELECT TOP (1) 1 FROM {quoted}"))
        .await
    {
        Ok(stream) => match stream.into_first_result().await {
            Ok(_) => {
                seen.push(format!("SELECT on {table}: allowed"));
                Outcome::Passed(seen)
            }
            Err(e) => select_failed(seen, &e, table, &quoted, &who),
        },
        Err(e) => select_failed(seen, &e, table, &quoted, &who),
    };
    walk.record(PERMISSION, outcome);
    if let Err(error) = conn.close().await {
        tracing::debug!(%error, "doctor: closing the connection failed");
    }
}

fn select_failed(
    mut seen: Vec<String>,
    e: &Error,
    table: &TableName,
    quoted: &str,
    who: &str,
) -> Outcome {
    seen.push(match e {
        Error::PermissionDenied { message } => format!("SELECT on {table}: error 229: {message}"),
        other => format!("SELECT on {table}: {other}"),
    });
    let fix = match e.sql_error_number() {
        Some(229) => format!("User [{who}] may not read {table}: ALTER ROLE db_datareader ADD MEMBER [{who}]; (or GRANT SELECT ON {quoted} TO [{who}];), run by the database's owner or Entra admin"),
        Some(208) => format!("There is no table {table} in this database: check Database= and the table's name (the doctor's --table)"),
        _ => format!("SELECT on {table} failed: {e}"),
    };
    Outcome::failed(seen, fix)
}
