//! The edge's HTTP server: its own accept loop on the listener, each
//! connection served by hyper's HTTP/1 server with the routes as its service
//! (warp's `Server` has no header timeout and no per-connection hook).
//!
//! What a connection may cost is bounded before and while it is read:
//!
//! - at accept, a client (the peer's address prefix) holds at most
//!   `MOAT_CONN_PER_CLIENT` connections ([`crate::connections`]); past that
//!   the connection gets a canned 429 if it fits the socket buffer, and is
//!   closed at once;
//! - a request's headers must arrive within `MOAT_HEADER_TIMEOUT_MS` of the
//!   connection waiting for them, however they trickle in, and the same
//!   bound is the idle keep-alive time (hyper starts the timer as soon as a
//!   connection is idle between requests);
//! - headers are bounded by hyper's read buffer ([`MAX_BUF`]); bodies by
//!   [`crate::body`] (size and `MOAT_BODY_TIMEOUT_MS`);
//! - a client that stops reading what it asked for (a large file or page
//!   behind a zero receive window) is dropped once a write has made no
//!   progress for `MOAT_WRITE_STALL_MS`, so it cannot hold the connection
//!   forever (event streams close slow readers sooner, [`crate::events`]);
//! - a closed connection lingers: its write side is shut and what the client
//!   still sends is read and dropped for at most [`LINGER_TIME`] /
//!   [`LINGER_BYTES`], so an early answer (a 413 in the middle of a body)
//!   reaches the client instead of being destroyed by the reset that closing
//!   a socket with unread data sends. Nothing of it is kept.
//!
//! WebSocket upgrades are served (`with_upgrades`). On shutdown the listener
//! is closed, idle connections are closed, in-flight requests finish, and
//! after `MOAT_DRAIN_MS` whatever is left is abandoned. Open event streams
//! are closed by their own handler ([`crate::events`]), told by the same
//! token. Routing and limits per request are not this module's business.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warp::reply::Response;
use warp::Filter;

use crate::connections::{ConnLimits, ConnSlot};
use crate::metrics::Metrics;

/// hyper's read buffer per connection, and so the largest request head.
pub const MAX_BUF: usize = 64 * 1024;
/// Longest a closed connection is read and drained.
pub const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most bytes drained from a closed connection.
pub const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// The TCP peer of a connection, put on each of its requests (warp's own
/// remote address is private to warp's server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// How connections are served.
#[derive(Clone)]
pub struct ServerSettings {
    /// Longest wait for a request's headers, idle keep-alive included.
    pub header_timeout: Duration,
    /// Longest a write to the client may make no progress.
    pub write_stall: Duration,
    /// Connections per client (address prefix); trusted proxies exempt.
    pub conns: Arc<ConnLimits>,
    /// Longest in-flight requests get to finish on shutdown.
    pub drain: Duration,
    /// Metrics (open connections, refused ones).
    pub metrics: Arc<Metrics>,
}

/// The JSON answer to a connection over its client's share.
fn too_many_connections() -> Vec<u8> {
    let body = r#"{"error":{"code":"too_many_connections","message":"too many connections open at once; close one first"}}"#;
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
         retry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `routes` on `listener` until `shutdown`, then drains.
pub async fn serve<F>(
    listener: TcpListener,
    routes: F,
    settings: ServerSettings,
    shutdown: CancellationToken,
) where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(MAX_BUF);
    let refusal = too_many_connections();
    let tracker = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
        };
        let Some(slot) = settings.conns.open(peer.ip()) else {
            settings
                .metrics
                .refusals
                .with(&["too_many_connections"])
                .increment(1);
            // A fresh socket's send buffer takes this whole; never wait.
            let _ = stream.try_write(&refusal);
            continue;
        };
        let _ = stream.set_nodelay(true);
        settings.metrics.connections.increment(1.0);
        let io = TokioIo::new(ClientStream {
            stream: Some(stream),
            slot: Some(slot),
            tracker: tracker.clone(),
            metrics: settings.metrics.clone(),
            write_stall: settings.write_stall,
            stalled: None,
        });
        let service = hyper_util::service::TowerToHyperService::new(warp::service(routes.clone()));
        let service = hyper::service::service_fn(move |mut req| {
            req.extensions_mut().insert(Peer(peer));
            hyper::service::Service::call(&service, req)
        });
        let conn = http.serve_connection(io, service).with_upgrades();
        let stop = shutdown.clone();
        tracker.spawn(async move {
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, timeout = e.is_timeout(), "connection closed");
            }
        });
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(settings.drain, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = tracker.len(),
            drain_ms = settings.drain.as_millis() as u64,
            "connections still open after the drain; leaving them"
        );
    }
}

/// Waits out an accept error: a connection that failed before it was
/// accepted is nothing; anything else (out of file descriptors) gets a
/// pause, so the loop does not spin.
async fn accept_error(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// A client's TCP stream, holding its connection slot; fails a write that
/// makes no progress for `write_stall`; closed by lingering (see the
/// module's notes) when hyper, or an upgraded WebSocket, drops it.
struct ClientStream {
    stream: Option<TcpStream>,
    slot: Option<ConnSlot>,
    tracker: TaskTracker,
    metrics: Arc<Metrics>,
    write_stall: Duration,
    /// Armed while a write waits; reset by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ClientStream {
    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        match self.stream.as_mut() {
            Some(s) => Ok(Pin::new(s)),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// `write`'s answer, unless it has waited longer than `write_stall`.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let polled = match self.stream() {
            Ok(s) => write(s, cx),
            Err(e) => return Poll::Ready(Err(e)),
        };
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.write_stall;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_ready() {
            self.stalled = None;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            )));
        }
        Poll::Pending
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(s) => s.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().watch(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .watch(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().watch(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(s) => s.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        let (Some(stream), slot) = (self.stream.take(), self.slot.take()) else {
            return;
        };
        let metrics = self.metrics.clone();
        let done = move || {
            drop(slot);
            metrics.connections.decrement(1.0);
        };
        // Outside a runtime (it is shutting down) the socket just closes.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                self.tracker.spawn_on(
                    async move {
                        linger(stream).await;
                        done();
                    },
                    &handle,
                );
            }
            Err(_) => done(),
        }
    }
}

/// Shuts the write side, then reads and drops what the client still sends
/// until it closes, for at most [`LINGER_TIME`] and [`LINGER_BYTES`].
async fn linger(mut stream: TcpStream) {
    // hyper may have shut it already: an error here changes nothing.
    let _ = stream.shutdown().await;
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    let mut buf = vec![0u8; 16 * 1024];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server-side stream wrapped as the server wraps it, and its client.
    async fn pair(write_stall: Duration) -> (ClientStream, TcpStream, Arc<Metrics>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let client = socket
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let conns = ConnLimits::new(1, moat_queue::Prefixes::default(), vec![]);
        let metrics = Metrics::new();
        metrics.connections.increment(1.0);
        let server = ClientStream {
            stream: Some(stream),
            slot: Some(conns.open(peer.ip()).unwrap()),
            tracker: TaskTracker::new(),
            metrics: metrics.clone(),
            write_stall,
            stalled: None,
        };
        (server, client, metrics)
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_fails_the_write() {
        let (mut server, _client, _) = pair(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let chunk = vec![b'x'; 64 * 1024];
        let e = loop {
            if let Err(e) = server.write_all(&chunk).await {
                break e;
            }
        };
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_dropped_stream_lingers_then_gives_its_slot_back() {
        let (mut server, mut client, metrics) = pair(Duration::from_secs(5)).await;
        server.write_all(b"answer").await.unwrap();
        let tracker = server.tracker.clone();
        drop(server);
        // The client still gets the answer, then the end of the stream,
        // though it kept sending after the server was done.
        client.write_all(&[b'y'; 100_000]).await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"answer");
        drop(client);
        tracker.close();
        tokio::time::timeout(LINGER_TIME * 2, tracker.wait())
            .await
            .unwrap();
        assert_eq!(metrics.ops.value("moat_edge_connections", &[]), 0.0);
    }
}
