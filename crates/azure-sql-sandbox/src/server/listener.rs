//! The running server: listeners on loopback (127.0.0.1 and ::1, one port each; three in gateway
//! mode: gateway, node and read-only replica), the accept loops, the connection limit, and one
//! session task per connection ([`super::session`]).

use super::options::{prelogin_tls_config, strict_tls_config, TdsServerOptions, REFUSALS_AT_ONCE};
use super::session;
use super::shared::{Role, Shared};
use crate::stats::{catch_task_panic, Stats};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A running TDS server. Dropping it without [`TdsServer::shutdown`] leaves it running until the
/// runtime stops.
pub struct TdsServer {
    port: u16,
    node_port: Option<u16>,
    read_only_port: Option<u16>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    stats: Stats,
}

impl std::fmt::Debug for TdsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdsServer")
            .field("port", &self.port)
            .field("node_port", &self.node_port)
            .field("read_only_port", &self.read_only_port)
            .finish()
    }
}

impl Drop for TdsServer {
    fn drop(&mut self) {
        self.stats.check_no_task_panics("the TDS server");
    }
}

impl TdsServer {
    /// Starts listening on loopback, port 0 (127.0.0.1, and ::1 on the same port when IPv6 is
    /// available). In gateway mode a second port serves the node and a third the read-only
    /// replica.
    pub async fn start(options: TdsServerOptions) -> io::Result<TdsServer> {
        let shared = Arc::new(Shared {
            prelogin_tls: TlsAcceptor::from(prelogin_tls_config(&options.tls)?),
            strict_tls: TlsAcceptor::from(strict_tls_config(&options.tls)),
            engine: options.engine,
            validator: options.validator,
            faults: options.faults,
            stats: options.stats,
            host_name: options.host_name,
            connections: Arc::new(Semaphore::new(options.limits.max_connections)),
            refusals: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
            limits: options.limits,
            next_spid: AtomicU16::new(51),
        });
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();

        let (port, node_port, read_only_port) = if options.gateway {
            let (node_port, node) = bind_loopback().await?;
            let (replica_port, replica) = bind_loopback().await?;
            let (gateway_port, gateway) = bind_loopback().await?;
            for l in node {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::Node);
            }
            for l in replica {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::ReadOnlyReplica);
            }
            let role = Role::Gateway {
                node_port,
                replica_port,
            };
            for l in gateway {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, role);
            }
            (gateway_port, Some(node_port), Some(replica_port))
        } else {
            let (port, listeners) = bind_loopback().await?;
            for l in listeners {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::Direct);
            }
            (port, None, None)
        };
        tracing::info!(
            port,
            node_port,
            read_only_port,
            gateway = options.gateway,
            "TDS server listening"
        );
        Ok(TdsServer {
            port,
            node_port,
            read_only_port,
            shutdown,
            tracker,
            stats: shared.stats.clone(),
        })
    }

    /// Where clients connect (the gateway in gateway mode).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The node's port in gateway mode.
    pub fn node_port(&self) -> Option<u16> {
        self.node_port
    }

    /// The read-only replica's port in gateway mode, where the gateway routes logins with
    /// `ApplicationIntent=ReadOnly`.
    pub fn read_only_port(&self) -> Option<u16> {
        self.read_only_port
    }

    /// Stops accepting, closes every session and waits for their tasks to end; panics if one of
    /// them panicked ([`Stats::check_no_task_panics`]).
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        tracing::info!(port = self.port, "TDS server stopped");
    }
}

/// Binds 127.0.0.1 on port 0, then ::1 on the same port (logged and skipped if unavailable).
async fn bind_loopback() -> io::Result<(u16, Vec<TcpListener>)> {
    let v4 = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await?;
    let port = v4.local_addr()?.port();
    let mut listeners = vec![v4];
    match TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)).await {
        Ok(v6) => listeners.push(v6),
        Err(error) => {
            tracing::warn!(port, %error, "cannot listen on [::1]; serving 127.0.0.1 only")
        }
    }
    Ok((port, listeners))
}

fn spawn_accept_loop(
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
    shared: &Arc<Shared>,
    listener: TcpListener,
    role: Role,
) {
    let tracker_inner = tracker.clone();
    let shutdown = shutdown.clone();
    let shared = shared.clone();
    tracker.spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((tcp, peer)) => {
                    shared.stats.tcp_connections();
                    let redirect_target = matches!(role, Role::Node | Role::ReadOnlyReplica);
                    if shared.faults.take_refuse_connection()
                        || (redirect_target && shared.faults.take_refuse_redirected_connection())
                    {
                        tracing::info!(%peer, "fault: refusing the connection");
                        let _ = tcp.set_zero_linger();
                        drop(tcp);
                        continue;
                    }
                    let admitted = shared.connections.clone().try_acquire_owned().ok();
                    let refusal = match admitted {
                        Some(_) => None,
                        None => match shared.refusals.clone().try_acquire_owned() {
                            Ok(permit) => Some(permit),
                            Err(_) => {
                                tracing::warn!(%peer, "connection limit reached and refusals busy: closing the connection");
                                let _ = tcp.set_zero_linger();
                                drop(tcp);
                                continue;
                            }
                        },
                    };
                    let shared = shared.clone();
                    let shutdown = shutdown.clone();
                    let stats = shared.stats.clone();
                    tracker_inner.spawn(catch_task_panic(stats, "tds session", async move {
                        let _open = shared.stats.session_opened();
                        let spid = shared.next_spid.fetch_add(1, Ordering::Relaxed);
                        let result = if let Some(_refusal) = refusal {
                            tokio::select! {
                                _ = shutdown.cancelled() => Ok(()),
                                r = session::refuse_over_limit(&shared, tcp, peer, spid) => r,
                            }
                        } else {
                            let _admitted = admitted;
                            tokio::select! {
                                _ = shutdown.cancelled() => Ok(()),
                                r = session::run_session(&shared, role, tcp, peer, spid) => r,
                            }
                        };
                        if let Err(error) = result {
                            tracing::debug!(%peer, spid, %error, "session ended with an error");
                        }
                    }));
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off briefly rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
}
