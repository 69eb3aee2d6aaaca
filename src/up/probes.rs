//! Readiness probes for `moat up`'s stages: a TCP port open, a Unix socket
//! accepting, an HTTP path answering 200, each bounded by a short timeout,
//! polled by [`wait_for`] until it holds or `moat up` is stopped. They decide
//! nothing about what a stage is; [`super::stages`] picks the probes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::supervise::Log;

/// How long a stage may take to become ready before `moat up` says so.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Polls `check` until it holds; says so if it takes long. False if stopped.
pub(super) async fn wait_for<F>(
    what: &str,
    log: &Log,
    shutdown: &CancellationToken,
    mut check: impl FnMut() -> F,
) -> bool
where
    F: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    let mut warned = false;
    loop {
        if check().await {
            return true;
        }
        if shutdown.is_cancelled() {
            return false;
        }
        if !warned && started.elapsed() > READY_TIMEOUT {
            log.say(&format!(
                "{what} is not ready after {} s; still waiting (its lines above say why)",
                READY_TIMEOUT.as_secs()
            ));
            warned = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.cancelled() => return false,
        }
    }
}

/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Whether something accepts TCP connections on `addr`.
pub(super) async fn tcp_open(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// Whether `GET path` answers 200 (through `moat run`'s own client): a
/// listening port is not yet a serving one.
pub(super) async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(server) = crate::http::Server::new(&format!("http://{addr}"), None) else {
        return false;
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, server.request("GET", path, None)).await,
        Ok(Ok(answer)) if answer.status == 200
    )
}

/// Whether something accepts connections on the Unix socket `path`.
pub(super) async fn unix_open(path: &Path) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::UnixStream::connect(path)).await,
        Ok(Ok(_))
    )
}
