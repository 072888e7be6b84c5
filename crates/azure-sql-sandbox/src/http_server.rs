//! Serves an axum router over HTTPS (tokio-rustls) or plain HTTP on loopback listeners, one task
//! per connection so a slow TLS handshake or a stalled request never holds up the others.
//!
//! The sandbox's HTTP services (Entra's HTTPS endpoint, the Kubernetes issuer, IMDS) are all one
//! of these. Dropping the handle, or calling [`HttpServer::shutdown`], stops accepting and closes
//! every open connection.

use crate::stats::{catch_task_panic, Stats};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long a client may take to finish its TLS handshake or send its request headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running HTTP(S) server. Dropping it stops it, and panics if a connection task (a
/// handler) panicked ([`Stats::check_no_task_panics`]).
#[derive(Debug)]
pub struct HttpServer {
    name: &'static str,
    addr: SocketAddr,
    cancel: CancellationToken,
    tracker: TaskTracker,
    stats: Stats,
}

/// Binds `127.0.0.1:0` and then `[::1]` on the same port, so a client resolving `localhost` to
/// either address reaches the server. IPv6 is best effort: where `::1` is unavailable the server
/// listens on IPv4 only.
pub async fn bind_loopback_pair() -> std::io::Result<Vec<TcpListener>> {
    let mut last_error = None;
    for _ in 0..8 {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = v4.local_addr()?.port();
        match TcpListener::bind((Ipv6Addr::LOCALHOST, port)).await {
            Ok(v6) => return Ok(vec![v4, v6]),
            // The port is free on IPv4 but taken on IPv6: pick another pair.
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_error = Some(e),
            // No IPv6 loopback on this machine.
            Err(e) => {
                tracing::debug!(error = %e, "no IPv6 loopback; listening on 127.0.0.1 only");
                return Ok(vec![v4]);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no free loopback port pair")))
}

impl HttpServer {
    /// Serves `router` on `listeners` (which must share one port), over TLS when `tls` is given,
    /// counting panicked connection tasks in `stats`.
    pub fn serve(
        name: &'static str,
        listeners: Vec<TcpListener>,
        router: Router,
        tls: Option<Arc<ServerConfig>>,
        stats: Stats,
    ) -> std::io::Result<HttpServer> {
        let addr = listeners
            .first()
            .ok_or_else(|| std::io::Error::other("no listener to serve on"))?
            .local_addr()?;
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        for listener in listeners {
            tracker.spawn(accept_loop(
                name,
                listener,
                router.clone(),
                acceptor.clone(),
                cancel.clone(),
                tracker.clone(),
                stats.clone(),
            ));
        }
        tracing::debug!(service = name, %addr, tls = acceptor.is_some(), "listening");
        Ok(HttpServer {
            name,
            addr,
            cancel,
            tracker,
            stats,
        })
    }

    /// The IPv4 address it listens on (`127.0.0.1:port`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops accepting, closes open connections and waits for their tasks to end.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        tracing::debug!(service = self.name, "stopped");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.stats.check_no_task_panics(self.name);
    }
}

async fn accept_loop(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    stats: Stats,
) {
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly instead of spinning.
                tracing::warn!(service = name, error = %e, "accept failed");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let cancel = cancel.clone();
        // A handler's panic unwinds through hyper's connection future into this task.
        tracker.spawn(catch_task_panic(stats.clone(), name, async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = serve_connection(name, tcp, peer, router, acceptor) => {}
            }
        }));
    }
}

async fn serve_connection(
    name: &'static str,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let router = router.clone();
        async move {
            let response = router
                .oneshot(request.map(axum::body::Body::new))
                .await
                .unwrap_or_else(|never: Infallible| match never {});
            Ok::<_, Infallible>(response)
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    let result = match acceptor {
        Some(acceptor) => {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(service = name, %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(service = name, %peer, "TLS handshake timed out");
                    return;
                }
            };
            http.serve_connection(TokioIo::new(tls), service).await
        }
        None => http.serve_connection(TokioIo::new(tcp), service).await,
    };
    if let Err(e) = result {
        tracing::debug!(service = name, %peer, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::Pki;
    use axum::routing::get;

    #[tokio::test]
    async fn serves_https_to_a_client_trusting_the_ca_and_stops_on_shutdown() {
        let pki = Pki::generate().unwrap();
        let router = Router::new().route("/hello", get(|| async { "hi" }));
        let server = HttpServer::serve(
            "test",
            bind_loopback_pair().await.unwrap(),
            router,
            Some(pki.server_config(&[b"http/1.1"]).unwrap()),
            Stats::default(),
        )
        .unwrap();
        let client = pki.http_client().unwrap();
        let url = format!("https://localhost:{}/hello", server.port());
        let body = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "hi");

        // Many at once: each connection has its own task.
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let client = pki.http_client().unwrap();
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                client.get(&url).send().await.map(|r| r.status().as_u16())
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 200);
        }

        server.shutdown().await;
        let fresh = pki.http_client().unwrap();
        assert!(fresh.get(&url).send().await.is_err());
    }

    #[tokio::test]
    async fn serves_plain_http() {
        let router = Router::new().route("/hello", get(|| async { "plain" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server =
            HttpServer::serve("test", vec![listener], router, None, Stats::default()).unwrap();
        let url = format!("http://{}/hello", server.local_addr());
        let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
        assert_eq!(body, "plain");
    }

    #[tokio::test]
    async fn a_panicking_handler_is_counted_and_fails_the_server_when_dropped() {
        let router = Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stats = Stats::default();
        let server =
            HttpServer::serve("test", vec![listener], router, None, stats.clone()).unwrap();
        let url = format!("http://{}/boom", server.local_addr());
        // The connection closes without an answer.
        assert!(reqwest::get(&url).await.is_err());
        server.tracker.close();
        server.cancel.cancel();
        server.tracker.wait().await;
        assert_eq!(stats.snapshot().task_panics, 1);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(server)));
        assert!(
            dropped.is_err(),
            "dropping a server whose handler panicked panics"
        );
    }
}
