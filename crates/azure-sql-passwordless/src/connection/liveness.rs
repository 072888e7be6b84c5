//! Whether the server has let go of an idle connection, told without a round trip.
//!
//! When Azure SQL moves a database to another node (a failover, planned maintenance, load
//! balancing), or a gateway or node restarts, every session on the old node is closed while
//! the pool holds many of them idle. Nothing tells the pool: the next caller's request fails
//! on a dead connection, and its retry may land on another one just as dead (what ADO.NET's pool
//! does after an Azure SQL failover: "the pool hands out a stale one", Particular Software,
//! "Azure SQL failover and connection pooling"). The kernel knows, though: the server's FIN or
//! reset has arrived on the socket. A non-blocking `MSG_PEEK` read, the check
//! go-sql-driver/mysql runs before reusing a connection (`conncheck.go`), asks it:
//!
//! | the peek returns | meaning | the connection |
//! |---|---|---|
//! | would block | nothing has arrived: the usual case | alive |
//! | 0 bytes | the server closed it (FIN) | gone |
//! | an error (reset, ...) | the server or the network reset it | gone |
//! | data | the rest of an earlier answer a caller stopped reading (the driver drains it before the next request), or bytes before a close | alive: the next request tells |
//!
//! The probe is a second handle on the same socket (a duplicated descriptor), taken before the
//! TLS layer owns the stream; it reads nothing (a peek) and dies with the connection. It shares
//! the socket's non-blocking mode, which tokio set, so it never waits. Cost: one system call per
//! checkout, and one descriptor per connection.

use std::io;
use std::mem::MaybeUninit;
use tokio::net::TcpStream;

/// A peek handle on a connection's socket.
pub(crate) struct Liveness(Option<socket2::Socket>);

impl Liveness {
    /// A handle on `tcp`'s socket; without one (the descriptor could not be duplicated) every
    /// check says the connection is alive, as before any check existed.
    pub(crate) fn of(tcp: &TcpStream) -> Self {
        match socket2::SockRef::from(tcp).try_clone() {
            Ok(socket) => Liveness(Some(socket)),
            Err(error) => {
                tracing::debug!(%error, "connect: no liveness handle on the socket");
                Liveness(None)
            }
        }
    }

    /// Why the server has let go of this idle connection, if it has (see the module table).
    /// Only meaningful between requests: during one, the answer's bytes are data.
    pub(crate) fn gone(&self) -> Option<Gone> {
        let socket = self.0.as_ref()?;
        let mut byte = [MaybeUninit::<u8>::uninit()];
        match socket.peek(&mut byte) {
            Ok(0) => Some(Gone::Closed),
            // Unread bytes hide a FIN behind them: the request that reads them finds it.
            Ok(_) => None,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                None
            }
            Err(e) => Some(Gone::Error(e.kind())),
        }
    }
}

/// How the server let go of an idle connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gone {
    /// It closed the connection (FIN).
    Closed,
    /// The socket reports an error (most often a reset).
    Error(io::ErrorKind),
}

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gone::Closed => f.write_str("the server closed it"),
            Gone::Error(kind) => write!(f, "the socket reports {kind}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"));
        let (client, accepted) = tokio::join!(client, listener.accept());
        (client.expect("connect"), accepted.expect("accept").0)
    }

    /// Waits (bounded) until the kernel has seen what the server did.
    async fn settle(probe: &Liveness) -> Option<Gone> {
        for _ in 0..100 {
            if let Some(gone) = probe.gone() {
                return Some(gone);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        None
    }

    #[tokio::test]
    async fn an_open_idle_connection_is_alive_and_the_peek_reads_nothing() {
        let (client, mut server) = pair().await;
        let probe = Liveness::of(&client);
        assert_eq!(probe.gone(), None);
        assert_eq!(probe.gone(), None, "asking twice changes nothing");
        // Unread bytes (an answer's rest) leave it alive, and the probe consumes none of them.
        server.write_all(b"x").await.expect("write");
        client.readable().await.expect("readable");
        assert_eq!(probe.gone(), None);
        let mut buf = [0u8; 1];
        assert_eq!(client.try_read(&mut buf).expect("read"), 1);
        assert_eq!(&buf, b"x");
        // Once they are read, the close behind them shows.
        drop(server);
        assert_eq!(settle(&probe).await, Some(Gone::Closed));
    }

    #[tokio::test]
    async fn a_closed_connection_is_gone() {
        let (client, server) = pair().await;
        let probe = Liveness::of(&client);
        drop(server);
        assert_eq!(settle(&probe).await, Some(Gone::Closed));
    }

    #[tokio::test]
    async fn a_reset_connection_is_gone() {
        let (client, server) = pair().await;
        let probe = Liveness::of(&client);
        socket2::SockRef::from(&server)
            .set_linger(Some(std::time::Duration::ZERO))
            .expect("linger");
        drop(server);
        assert_eq!(
            settle(&probe).await,
            Some(Gone::Error(io::ErrorKind::ConnectionReset))
        );
    }
}
