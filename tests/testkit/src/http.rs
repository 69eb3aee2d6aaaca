//! A minimal HTTP/1.1 client for end-to-end tests and benchmarks that must
//! choose their loopback *source* address (127.0.0.2, 127.0.0.3, ...): the
//! edge keys anonymous clients by address, so one machine can play many
//! clients. One request per connection, bounded in time; loopback only.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to `server` from `from` (port chosen by the system).
pub async fn connect_from(server: SocketAddr, from: IpAddr) -> std::io::Result<TcpStream> {
    let socket = match from {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(server).await
}

/// One request with `Connection: close`, answered within 30 s: the status
/// and the body, or `None` if nothing (complete) came back.
pub async fn request_from(
    server: SocketAddr,
    from: IpAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> Option<(u16, String)> {
    let mut s = connect_from(server, from).await.ok()?;
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: moat\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.ok()?;
    s.write_all(body.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&out);
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// `POST /v1/runs` of `code` from `from`: the accepted run's JSON (`id`,
/// `token`, `events_url`), or the refusal's status (0: no answer).
pub async fn submit_from(
    server: SocketAddr,
    from: IpAddr,
    key: Option<&str>,
    code: &str,
    timeout_ms: u64,
) -> Result<serde_json::Value, u16> {
    let body = serde_json::json!({ "code": code, "timeout_ms": timeout_ms }).to_string();
    match request_from(server, from, "POST", "/v1/runs", key, &body).await {
        Some((202, text)) => serde_json::from_str(&text).map_err(|_| 0),
        Some((status, _)) => Err(status),
        None => Err(0),
    }
}
