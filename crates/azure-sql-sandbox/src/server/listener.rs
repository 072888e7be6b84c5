//! The running server: listeners on loopback (127.0.0.1 and ::1, one port each; three in gateway
//! mode: gateway, node and read-only replica), the accept loops, the connection limit, one
//! session task per connection ([`super::session`]), and the node's move to another address
//! ([`TdsServer::move_node`]).

use super::options::{prelogin_tls_config, strict_tls_config, TdsServerOptions, REFUSALS_AT_ONCE};
use super::session;
use super::shared::{Role, Shared};
use crate::stats::{catch_task_panic, Stats};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
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
    read_only_port: Option<u16>,
    /// The node's listeners, which [`TdsServer::move_node`] replaces (gateway mode).
    node: Mutex<Option<Node>>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    stats: Stats,
}

/// The node's address, and what stops its accept loops and its sessions.
struct Node {
    port: u16,
    stop: CancellationToken,
}

impl std::fmt::Debug for TdsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdsServer")
            .field("port", &self.port)
            .field("node_port", &self.node_port())
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
            node_port: AtomicU16::new(0),
        });
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();

        let (port, node, read_only_port) = if options.gateway {
            let node = start_node(&tracker, &shutdown, &shared).await?;
            let (replica_port, replica) = bind_loopback().await?;
            let (gateway_port, gateway) = bind_loopback().await?;
            for l in replica {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::ReadOnlyReplica);
            }
            let role = Role::Gateway { replica_port };
            for l in gateway {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, role);
            }
            (gateway_port, Some(node), Some(replica_port))
        } else {
            let (port, listeners) = bind_loopback().await?;
            for l in listeners {
                spawn_accept_loop(&tracker, &shutdown, &shared, l, Role::Direct);
            }
            (port, None, None)
        };
        let node_port = node.as_ref().map(|n| n.port);
        tracing::info!(
            port,
            node_port,
            read_only_port,
            gateway = options.gateway,
            "TDS server listening"
        );
        Ok(TdsServer {
            port,
            read_only_port,
            node: Mutex::new(node),
            stats: shared.stats.clone(),
            shared,
            shutdown,
            tracker,
        })
    }

    /// Where clients connect (the gateway in gateway mode).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The node's port in gateway mode (where the gateway routes logins now: it changes when
    /// the node moves).
    pub fn node_port(&self) -> Option<u16> {
        let node = self.node.lock().unwrap_or_else(|e| e.into_inner());
        node.as_ref().map(|n| n.port)
    }

    /// Moves the database to another node, as Azure SQL does at a reconfiguration (a
    /// failover, planned maintenance, load balancing; `Invoke-AzSqlDatabaseFailover` asks for
    /// one): the node listens on a new port from now on and the gateway routes logins there;
    /// the old address refuses connections (nothing listens on it any more), and every session
    /// on the old node is cut with a TCP reset, open transactions rolled back. Under the Redirect
    /// policy clients reach the node directly ("Clients establish connections directly to the
    /// node hosting the database", Microsoft Learn, Azure SQL Database connectivity
    /// architecture), so a client that kept the node's address instead of asking the gateway
    /// again keeps failing (tedious#262: "all subsequent connections ... fail"; the fix,
    /// tedious#269: a redirect lasts one connect, "rather than constantly trying to reach the
    /// dead node"). Returns the new port; an error in direct mode, which has no node.
    pub async fn move_node(&self) -> io::Result<u16> {
        if self.node_port().is_none() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "only a server in gateway mode has a node to move",
            ));
        }
        let new = start_node(&self.tracker, &self.shutdown, &self.shared).await?;
        let port = new.port;
        let old = self
            .node
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(new);
        if let Some(old) = old {
            old.stop.cancel();
            tracing::info!(from = old.port, to = port, "the node moved");
        }
        Ok(port)
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

/// Binds a node's listeners and starts their accept loops (stopped, with their sessions, by
/// the node's own token); the gateway routes there from now on.
async fn start_node(
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
    shared: &Arc<Shared>,
) -> io::Result<Node> {
    let (port, listeners) = bind_loopback().await?;
    let stop = shutdown.child_token();
    for l in listeners {
        spawn_accept_loop(tracker, &stop, shared, l, Role::Node);
    }
    shared.node_port.store(port, Ordering::Release);
    Ok(Node { port, stop })
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
                    // A node's sessions end with a reset when it moves (a handle on the same
                    // socket, to set SO_LINGER to zero once the session lets go of it).
                    let cut = (role == Role::Node)
                        .then(|| socket2::SockRef::from(&tcp).try_clone().ok())
                        .flatten();
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
                        if shutdown.is_cancelled() {
                            if let Some(socket) = cut {
                                let _ = socket.set_linger(Some(Duration::ZERO));
                            }
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
