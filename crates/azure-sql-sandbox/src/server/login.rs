//! LOGIN7: checking the credentials (a FEDAUTH access token — in LOGIN7 or, for the ADAL/MSAL
//! workflow, after FEDAUTHINFO — or a SQL login), the failures Azure SQL gives, and the answer a
//! successful login gets, in SQL Server's order (with the gateway's routing ENVCHANGE).

use super::connection::{Conn, Prelogin, SessionError};
use super::messages;
use super::shared::Shared;
use super::wire_types::message_token;
use crate::identity::RejectionKind;
use crate::sql::{Session, SqlError};
use crate::tds::collation::SQL_LATIN1_GENERAL_CP1_CI_AS;
use crate::tds::fedauth_message::FedAuthMessage;
use crate::tds::login7::{self, FedAuthLibrary, Login7};
use crate::tds::packet::{MessageType, DEFAULT_PACKET_SIZE};
use crate::tds::response::{
    done_status, Done, DoneKind, EnvChange, FeatureAck, FeatureExtAck, FedAuthInfo, LoginAck,
    Message as MessageToken, MessageKind,
};
use std::io;
use std::time::SystemTime;

/// How a login was authenticated.
pub(super) enum Authenticated {
    /// An Entra access token (FEDAUTH): acknowledge FEDAUTH, revalidate at `expires_at`.
    Token {
        /// When the token expires.
        expires_at: SystemTime,
    },
    /// SQL login.
    Sql,
}

/// The SPN of Azure SQL Database in FEDAUTHINFO: clients ask Entra for `{spn}.default`.
pub const AZURE_SQL_SPN: &str = "https://database.windows.net/";

pub(super) async fn send_login_failure(
    conn: &mut Conn,
    shared: &Shared,
    error: &SqlError,
) -> io::Result<()> {
    let mut out = Vec::new();
    let mut token = message_token(error, &shared.host_name);
    token.kind = MessageKind::Error;
    token.encode(&mut out);
    Done::new(DoneKind::Done, done_status::ERROR).encode(&mut out);
    conn.send(&out).await
}

/// Checks a LOGIN7's credentials and logs the session in. The outer error ends the connection
/// (transport trouble); the inner one is the SQL error the client gets.
pub(super) async fn authenticate(
    shared: &Shared,
    conn: &mut Conn,
    prelogin: &Prelogin,
    login: &Login7,
    database: &str,
    deadline: tokio::time::Instant,
) -> Result<Result<(Session, Authenticated), SqlError>, SessionError> {
    let peer = conn.peer;
    if let Some(number) = shared.faults.take_failed_login() {
        tracing::info!(%peer, number, "fault: failing the login");
        let trace = uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase();
        return Ok(Err(messages::login_error(
            number,
            database,
            &shared.host_name,
            &trace,
        )));
    }
    let Some(fed) = login.fed_auth() else {
        if login.integrated_security() {
            tracing::warn!(%peer, "integrated (Windows) authentication is not offered");
            return Ok(Err(messages::integrated_auth_not_supported()));
        }
        // Logging in reads only the committed principals in memory: it runs here, not on the
        // blocking pool, where requests waiting for SQLite's write lock could hold it up.
        let session =
            shared
                .engine
                .login_sql(Some(database), &login.user_name, login.password.expose());
        if let Err(e) = &session {
            tracing::warn!(%peer, database, user = %login.user_name, number = e.number, "SQL login refused");
        }
        return Ok(session.map(|s| (s, Authenticated::Sql)));
    };

    // MS-TDS 3.3.5.2: fFedAuthEcho must match the server's FEDAUTHREQUIRED answer.
    if fed.echo != prelogin.request.fed_auth_required {
        tracing::warn!(%peer, echo = fed.echo, "FEDAUTH echo does not match the PRELOGIN answer");
        return Ok(Err(messages::protocol_error(
            "The FEDAUTH fFedAuthEcho bit does not match the server's FEDAUTHREQUIRED answer.",
        )));
    }
    let token = match &fed.library {
        FedAuthLibrary::SecurityToken { token, nonce } => {
            if let Err(e) = check_nonce_echo(prelogin, *nonce) {
                tracing::warn!(%peer, "the FEDAUTH nonce does not echo the PRELOGIN answer");
                return Ok(Err(e));
            }
            token.clone()
        }
        FedAuthLibrary::Msal { workflow } => {
            // Tell the client where to get a token and for what, then wait for it.
            let Some(sts_url) = shared.validator.sts_url() else {
                tracing::warn!(%peer, workflow, "the validator gives no STS URL: the ADAL/MSAL workflow is refused");
                return Ok(Err(messages::login_failed_token()));
            };
            let mut out = Vec::new();
            FedAuthInfo {
                sts_url,
                spn: AZURE_SQL_SPN.into(),
            }
            .encode(&mut out);
            conn.send(&out).await?;
            // The token comes within the login's time limit, or the connection is closed.
            let next = tokio::time::timeout_at(deadline, conn.next())
                .await
                .map_err(|_| {
                    SessionError::Protocol(
                        "the client did not send its FEDAUTH token within the login time limit"
                            .into(),
                    )
                })?;
            let Some(message) = next? else {
                return Err(SessionError::Protocol(
                    "the client left before sending its token".into(),
                ));
            };
            if message.ty != MessageType::FEDAUTH_TOKEN {
                return Ok(Err(messages::protocol_error(&format!(
                    "A {} message arrived where the FEDAUTH token was expected.",
                    message.ty.name()
                ))));
            }
            match FedAuthMessage::parse(&message.payload) {
                Ok(parsed) => {
                    if let Err(e) = check_nonce_echo(prelogin, parsed.nonce) {
                        tracing::warn!(%peer, "the FEDAUTH token's nonce does not echo the PRELOGIN answer");
                        return Ok(Err(e));
                    }
                    parsed.token
                }
                Err(e) => return Ok(Err(messages::protocol_error(&e.to_string()))),
            }
        }
        FedAuthLibrary::Other(library) => {
            tracing::warn!(%peer, library, "unknown FEDAUTH library");
            return Ok(Err(messages::login_failed_token()));
        }
    };
    let identity = match shared.validator.validate(token.expose()).await {
        Ok(identity) => identity,
        Err(rejection) => {
            tracing::warn!(%peer, database, reason = %rejection.reason, "login refused: access token rejected");
            return Ok(Err(match rejection.kind {
                RejectionKind::Expired => messages::login_failed_token_expired(),
                RejectionKind::NotAccepted => messages::login_failed_token_not_accepted(),
            }));
        }
    };
    // In memory, as for SQL logins above.
    let session = shared.engine.login_external(database, &identity);
    if let Err(e) = &session {
        tracing::warn!(%peer, database, number = e.number, object_id = %identity.object_id, "login refused by the database");
    }
    Ok(session.map(|s| {
        (
            s,
            Authenticated::Token {
                expires_at: identity.expires_at,
            },
        )
    }))
}

/// MS-TDS 2.2.6.4 (FEDAUTH, security-token library) and 2.2.6.3 (the FEDAUTH message): "If the
/// server provided a nonce in the pre-login exchange, the client MUST echo the nonce back to the
/// server in this field. If the server did not provide a nonce ..., this field MUST NOT be
/// included." A login whose echo differs is refused like one whose fFedAuthEcho bit differs.
fn check_nonce_echo(prelogin: &Prelogin, echoed: Option<[u8; 32]>) -> Result<(), SqlError> {
    match (prelogin.server_nonce, echoed) {
        (Some(sent), Some(echo)) if sent == echo => Ok(()),
        (None, None) => Ok(()),
        (Some(_), Some(_)) => Err(messages::protocol_error(
            "The FEDAUTH nonce is not the nonce of the server's PRELOGIN answer.",
        )),
        (Some(_), None) => Err(messages::protocol_error(
            "The FEDAUTH data does not echo the nonce of the server's PRELOGIN answer.",
        )),
        (None, Some(_)) => Err(messages::protocol_error(
            "The FEDAUTH data carries a nonce, but the server's PRELOGIN answer sent none.",
        )),
    }
}

/// What SQL Server sends after a successful login, in its order; the gateway adds the routing
/// ENVCHANGE after LOGINACK and before FEATUREEXTACK, as Azure's gateway does.
pub(super) fn login_response(
    out: &mut Vec<u8>,
    shared: &Shared,
    database: &str,
    packet_size: u32,
    fedauth_ack: Option<Vec<u8>>,
    routing: Option<u16>,
    client_tds_version: u32,
) {
    let info = |number, state, text: String| MessageToken {
        kind: MessageKind::Info,
        number,
        state,
        class: 0,
        text,
        server: shared.host_name.clone(),
        procedure: String::new(),
        line: 1,
    };
    EnvChange::Database {
        new: database.into(),
        old: "master".into(),
    }
    .encode(out);
    info(
        5701,
        2,
        format!("Changed database context to '{database}'."),
    )
    .encode(out);
    EnvChange::SqlCollation {
        new: SQL_LATIN1_GENERAL_CP1_CI_AS,
    }
    .encode(out);
    EnvChange::Language {
        new: "us_english".into(),
        old: String::new(),
    }
    .encode(out);
    info(5703, 1, "Changed language setting to us_english.".into()).encode(out);
    LoginAck::azure_sql(client_tds_version).encode(out);
    EnvChange::PacketSize {
        new: packet_size,
        old: DEFAULT_PACKET_SIZE as u32,
    }
    .encode(out);
    if let Some(port) = routing {
        EnvChange::Routing {
            port,
            host: shared.host_name.clone(),
        }
        .encode(out);
    }
    if let Some(data) = fedauth_ack {
        FeatureExtAck(vec![FeatureAck {
            id: login7::FEATURE_FEDAUTH,
            data,
        }])
        .encode(out);
    }
    Done::new(DoneKind::Done, done_status::FINAL).encode(out);
}
