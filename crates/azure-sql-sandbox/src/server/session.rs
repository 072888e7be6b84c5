//! One connection's state machine: the handshake ([`super::connection`]), then LOGIN7 (see
//! [`super::login`]), then requests until the client leaves, with the fault switches and
//! ATTENTION handled here.

use super::connection::{handshake, read_message, Conn, SessionError};
use super::login::{authenticate, login_response, send_login_failure, Authenticated};
use super::messages;
use super::outcomes::error_response;
use super::requests::{reset_session, run_work, SessionState, Work};
use super::shared::{Role, Shared};
use super::wire_types::message_token;
use crate::faults::{Revalidation, StallWatch};
use crate::sql::{Session, MASTER};
use crate::tds::batch::SqlBatch;
use crate::tds::login7::Login7;
use crate::tds::packet::{FrameError, MessageType, DEFAULT_PACKET_SIZE, PACKET_SIZE_RANGE};
use crate::tds::response::{done_status, Done, DoneKind, EnvChange, MessageKind};
use crate::tds::rpc;
use crate::tds::tm_request::TmRequest;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

/// How long a connection past the limit may take to send its LOGIN7 before it is closed.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn run_session(
    shared: &Shared,
    role: Role,
    tcp: TcpStream,
    peer: SocketAddr,
    spid: u16,
) -> Result<(), SessionError> {
    let _ = tcp.set_nodelay(true);
    let handshake_and_login = async {
        let Some((mut conn, prelogin)) = handshake(shared, tcp, peer, spid).await? else {
            return Ok(None);
        };
        let Some(login) =
            read_message(&mut conn.reader, &mut conn.stream, MessageType::LOGIN7).await?
        else {
            return Ok(None);
        };
        Ok::<_, SessionError>(Some((conn, prelogin, login)))
    };
    let login_timeout = shared.limits.login_timeout;
    let deadline = tokio::time::Instant::now() + login_timeout;
    let Some((mut conn, prelogin, login)) = tokio::time::timeout_at(deadline, handshake_and_login)
        .await
        .map_err(|_| {
            SessionError::Protocol(format!(
                "the client did not log in within {login_timeout:?}"
            ))
        })??
    else {
        return Ok(());
    };

    if shared.faults.take_drop_after_login_request() {
        tracing::info!(%peer, "fault: dropping the connection after LOGIN7");
        return Ok(());
    }
    if let Some(delay) = shared.faults.login_delay() {
        tokio::time::sleep(delay).await;
    }

    let login = match Login7::parse(&login.payload) {
        Ok(login) => login,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "malformed LOGIN7");
            shared.stats.logins_failed();
            send_login_failure(&mut conn, shared, &messages::protocol_error(&e.to_string()))
                .await?;
            return Ok(());
        }
    };
    let requested = if login.packet_size == 0 {
        DEFAULT_PACKET_SIZE as u32
    } else {
        login.packet_size
    };
    let packet_size = requested.clamp(*PACKET_SIZE_RANGE.start(), *PACKET_SIZE_RANGE.end());
    // A LOGIN7 naming no database logs in to the login's default database, which in Azure SQL
    // is `master` (Learn, USE (Transact-SQL): "If no default database is assigned to the login,
    // its default database is set to master"); a contained user of an application database has
    // no user there, so a client that forgets Database= gets 18456 (Azure/sql-action#213).
    let database = if login.database.is_empty() {
        MASTER.to_string()
    } else {
        login.database.clone()
    };

    let (mut session, auth) =
        match authenticate(shared, &mut conn, &prelogin, &login, &database, deadline).await? {
            Ok(ok) => ok,
            Err(error) => {
                shared.stats.logins_failed();
                send_login_failure(&mut conn, shared, &error).await?;
                return Ok(());
            }
        };

    // MS-TDS 2.2.7.11: the FEDAUTH acknowledgement carries the nonce the client sent in its
    // PRELOGIN, and nothing when it sent none, which is what SqlClient (which sends none)
    // requires: it refuses an acknowledgement with data (SqlConnectionInternal.OnFeatureExtAck,
    // FedAuthFeatureAckContainsExtraData).
    let fedauth_ack = match &auth {
        Authenticated::Token { .. } => Some(
            prelogin
                .request
                .nonce
                .map(|n| n.to_vec())
                .unwrap_or_default(),
        ),
        Authenticated::Sql => None,
    };
    // Read scale-out: the gateway routes a read-only login to the replica ("If the
    // ApplicationIntent value is ReadOnly, the connection is routed to a read-only replica",
    // Microsoft Learn, read scale-out); without the gateway, as for a database without read
    // scale-out, the intent changes nothing.
    let routing = match role {
        Role::Gateway { replica_port } => Some(if login.read_only_intent() {
            replica_port
        } else {
            shared.node_port.load(Ordering::Acquire)
        }),
        Role::Direct | Role::Node | Role::ReadOnlyReplica => None,
    };
    let mut response = Vec::new();
    login_response(
        &mut response,
        shared,
        &session.database,
        packet_size,
        fedauth_ack,
        routing,
        login.tds_version,
    );
    conn.send(&response).await?;

    if let Some(port) = routing {
        shared.stats.redirects();
        let read_only = login.read_only_intent();
        tracing::info!(%peer, port, read_only, database = %session.database, "gateway: routed the login");
        conn.close().await;
        return Ok(());
    }
    shared.stats.logins_ok();
    if role == Role::ReadOnlyReplica {
        session.read_only = true;
        shared.stats.read_only_logins();
    }
    tracing::info!(%peer, spid, database = %session.database, user = %session.user, "login succeeded");
    conn.packet_size = packet_size as usize;
    conn.reader.set_max_message(shared.limits.max_request_bytes);
    let token_expires = match auth {
        Authenticated::Token { expires_at } => Some(expires_at),
        Authenticated::Sql => None,
    };
    serve_requests(shared, conn, session, token_expires).await
}

/// A connection past [`super::Limits::max_connections`]: PRELOGIN, TLS and LOGIN7 as usual
/// (within a short time), then Azure SQL's session-limit error instead of a login, and close.
pub(super) async fn refuse_over_limit(
    shared: &Shared,
    tcp: TcpStream,
    peer: SocketAddr,
    spid: u16,
) -> Result<(), SessionError> {
    let _ = tcp.set_nodelay(true);
    let limit = shared.limits.max_connections;
    let reach_login7 = async {
        let Some((mut conn, _)) = handshake(shared, tcp, peer, spid).await? else {
            return Ok(None);
        };
        let login = read_message(&mut conn.reader, &mut conn.stream, MessageType::LOGIN7).await?;
        Ok::<_, SessionError>(login.map(|_| conn))
    };
    let wait = REFUSAL_TIMEOUT.min(shared.limits.login_timeout);
    let conn = tokio::time::timeout(wait, reach_login7)
        .await
        .map_err(|_| SessionError::Protocol(format!("no LOGIN7 within {wait:?}")))??;
    if let Some(mut conn) = conn {
        tracing::warn!(%peer, limit, "session limit reached: refusing the login with 10928");
        shared.stats.logins_failed();
        send_login_failure(&mut conn, shared, &messages::session_limit(limit)).await?;
        conn.close().await;
    }
    Ok(())
}

/// Serves a logged-in session until the client leaves; a session stalled by
/// [`crate::Faults::stall_sessions`] keeps its connection, silent, until the server stops (its
/// engine session, dropped with [`answer_requests`], has rolled back by then).
pub(super) async fn serve_requests(
    shared: &Shared,
    mut conn: Conn,
    session: Session,
    token_expires: Option<SystemTime>,
) -> Result<(), SessionError> {
    let mut stall = shared.faults.stall_watch();
    match answer_requests(shared, &mut conn, &mut stall, session, token_expires).await {
        Err(SessionError::Stalled) => {
            shared.stats.stalled();
            tracing::info!(peer = %conn.peer, "fault: the session stalls, its connection left open");
            std::future::pending::<()>().await;
            Ok(())
        }
        other => other,
    }
}

/// Sends a response, unless the session has been stalled meanwhile.
async fn reply(conn: &mut Conn, stall: &StallWatch, out: &[u8]) -> Result<(), SessionError> {
    if stall.is_stalled() {
        return Err(SessionError::Stalled);
    }
    Ok(conn.send(out).await?)
}

async fn answer_requests(
    shared: &Shared,
    conn: &mut Conn,
    stall: &mut StallWatch,
    session: Session,
    token_expires: Option<SystemTime>,
) -> Result<(), SessionError> {
    let mut state = SessionState::new(session);
    loop {
        // A stall wins over a request that arrives at the same moment: nothing more is read.
        let next = tokio::select! {
            biased;
            _ = stall.stalled() => return Err(SessionError::Stalled),
            next = conn.next() => next,
        };
        let message = match next {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(FrameError::Codec(e)) => {
                // The framing is lost: tell the client why, then close as SQL Server does.
                tracing::warn!(peer = %conn.peer, error = %e, "malformed packet; closing");
                let mut out = Vec::new();
                error_response(
                    &mut out,
                    &shared.host_name,
                    &messages::protocol_error(&e.to_string()),
                    DoneKind::Done,
                    false,
                );
                reply(conn, stall, &out).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let kind = match message.ty {
            MessageType::RPC => DoneKind::Proc,
            _ => DoneKind::Done,
        };
        let mut out = Vec::new();
        // MS-TDS 2.2.3.1.2: the reset bits are "only set for event types Batch, RPC, or
        // Transaction Manager request"; on anything else they mean nothing.
        let resettable = matches!(
            message.ty,
            MessageType::SQL_BATCH | MessageType::RPC | MessageType::TRANSACTION_MANAGER
        );
        match message.reset() {
            Ok(Some(reset)) if resettable => {
                if shared.faults.take_ignore_reset() {
                    tracing::info!(peer = %conn.peer, ?reset, "fault: ignoring the session reset");
                } else {
                    match reset_session(shared, state.clone(), reset).await {
                        Ok((reset_state, head)) => {
                            shared.stats.resets();
                            state = reset_state;
                            out = head;
                        }
                        Err(error) => {
                            let open = state.session.transaction_count() > 0;
                            error_response(&mut out, &shared.host_name, &error, kind, open);
                            reply(conn, stall, &out).await?;
                            if error.severity >= 20 {
                                // Fatal (18059): SQL Server drops the connection.
                                tracing::info!(peer = %conn.peer, number = error.number, "the reset failed; closing");
                                return Ok(());
                            }
                            continue;
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) if resettable => {
                // Both reset bits: refuse the request (it does not run, nothing is reset) and
                // keep the session, as for any request whose framing held.
                tracing::warn!(peer = %conn.peer, error = %e, "conflicting reset bits");
                error_response(
                    &mut out,
                    &shared.host_name,
                    &messages::protocol_error(&e.to_string()),
                    kind,
                    state.session.transaction_count() > 0,
                );
                reply(conn, stall, &out).await?;
                continue;
            }
            Err(_) => {}
        }
        // Where the request's own tokens start: after the reset's acknowledgement, which comes
        // first in the response.
        let body_start = out.len();
        let work = match message.ty {
            MessageType::ATTENTION => {
                // Nothing is running: acknowledge at once.
                Done::new(DoneKind::Done, done_status::ATTN).encode(&mut out);
                reply(conn, stall, &out).await?;
                continue;
            }
            MessageType::SQL_BATCH => {
                shared.stats.requests();
                SqlBatch::parse(&message.payload)
                    .map(|b| Work::Batch(b.text))
                    .map_err(|e| messages::protocol_error(&e.to_string()))
            }
            MessageType::RPC => {
                shared.stats.requests();
                rpc::parse(&message.payload)
                    .map(Work::Rpc)
                    .map_err(|e| messages::rpc_protocol_error(&e.to_string()))
            }
            MessageType::TRANSACTION_MANAGER => TmRequest::parse(&message.payload)
                .map(Work::Transaction)
                .map_err(|e| messages::protocol_error(&e.to_string())),
            MessageType::BULK_LOAD => Err(messages::unsupported_request("INSERT BULK")),
            other => {
                tracing::warn!(peer = %conn.peer, ty = other.0, "unexpected message on a logged-in session; closing");
                let e = messages::protocol_error(&format!(
                    "A {} message (0x{:02X}) is not valid after login.",
                    other.name(),
                    other.0
                ));
                error_response(&mut out, &shared.host_name, &e, DoneKind::Done, false);
                reply(conn, stall, &out).await?;
                return Ok(());
            }
        };
        let work = match work {
            Ok(work) => work,
            Err(error) => {
                let open = state.session.transaction_count() > 0;
                error_response(&mut out, &shared.host_name, &error, kind, open);
                reply(conn, stall, &out).await?;
                continue;
            }
        };

        let revalidation = shared.faults.revalidation();
        if revalidation != Revalidation::Off
            && token_expires.is_some_and(|t| t <= SystemTime::now())
        {
            tracing::info!(peer = %conn.peer, ?revalidation, "revalidation: the session's access token has expired");
            if revalidation == Revalidation::LoginExpired {
                let mut token =
                    message_token(&messages::login_failed_token_expired(), &shared.host_name);
                token.kind = MessageKind::Error;
                token.encode(&mut out);
                Done::new(kind, done_status::ERROR | done_status::SRVERROR).encode(&mut out);
                reply(conn, stall, &out).await?;
                // The session ends: the connection closes when serve_requests drops it.
                return Ok(());
            }
            error_response(
                &mut out,
                &shared.host_name,
                &messages::session_token_expired(),
                kind,
                state.session.transaction_count() > 0,
            );
            reply(conn, stall, &out).await?;
            continue;
        }

        if let Some(delay) = shared.faults.query_delay() {
            tokio::select! {
                biased;
                _ = stall.stalled() => return Err(SessionError::Stalled),
                _ = tokio::time::sleep(delay) => {}
                next = conn.next() => match next? {
                    Some(m) if m.ty == MessageType::ATTENTION => {
                        tracing::debug!(peer = %conn.peer, "attention: request cancelled");
                        let mut ack = Vec::new();
                        Done::new(DoneKind::Done, done_status::ATTN).encode(&mut ack);
                        reply(conn, stall, &ack).await?;
                        continue;
                    }
                    Some(m) => {
                        return Err(SessionError::Protocol(format!(
                            "the client sent a {} message while a request was running",
                            m.ty.name()
                        )))
                    }
                    None => return Ok(()),
                },
            }
        }

        let (back, outcomes) = run_work(shared, state.clone(), work).await;
        if let Some(changed) = back {
            if changed.session.database != state.session.database {
                let change = EnvChange::Database {
                    new: changed.session.database.clone(),
                    old: state.session.database.clone(),
                };
                let mut head = Vec::new();
                change.encode(&mut head);
                out.splice(body_start..body_start, head);
            }
            state = changed;
        }
        out.extend_from_slice(&outcomes);

        if stall.is_stalled() {
            return Err(SessionError::Stalled);
        }
        if shared.faults.take_reset_query() {
            conn.send_then_reset(&out).await?;
            return Ok(());
        }
        reply(conn, stall, &out).await?;
    }
}
