//! Servers that do not play by the rules: none may panic or hang a fetch.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// A server that reads the request head, then writes `bytes` and closes.
async fn answering(bytes: &'static [u8]) -> Server {
    Server::raw(move |mut tcp| async move {
        read_head(&mut tcp).await;
        let _ = tcp.write_all(bytes).await;
    })
    .await
}

/// Reads until the end of a request head.
async fn read_head(tcp: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn garbage_is_eproto() {
    for garbage in [
        &b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..],
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
    ] {
        let server = answering(garbage).await;
        let error = fetch(&fetcher(), get(&server.url("/"))).await.unwrap_err();
        assert_eq!(error.code(), "EPROTO", "{garbage:?}: {error}");
        assert!(error
            .to_string()
            .starts_with("the server sent an invalid HTTP response"));
    }
}

#[tokio::test]
async fn a_close_before_or_during_the_response_is_econnreset() {
    for bytes in [
        &b""[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nContent-",
    ] {
        let server = answering(bytes).await;
        let result = fetch(&fetcher(), get(&server.url("/"))).await;
        assert_error(
            result,
            "ECONNRESET",
            "the server closed the connection before the response was complete",
        );
    }
}

#[tokio::test]
async fn a_slow_drip_times_out_within_the_timeout() {
    let server = Server::raw(|mut tcp| async move {
        read_head(&mut tcp).await;
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let _ = tcp.write_all(head).await;
        while tcp.write_all(b"1\r\nx\r\n").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let mut request = get(&server.url("/"));
    request.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let result = fetch(&fetcher(), request).await;
    let elapsed = started.elapsed();
    assert_error(result, "ETIMEDOUT", "the request timed out after 1s");
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let server = Server::raw(|mut tcp| async move {
        read_head(&mut tcp).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let mut request = get(&server.url("/"));
    request.timeout = Duration::from_millis(300);
    assert_error(
        fetch(&fetcher(), request).await,
        "ETIMEDOUT",
        "the request timed out after 300ms",
    );
}

#[tokio::test]
async fn huge_headers_are_a_limit() {
    let server = Server::raw(|mut tcp| async move {
        read_head(&mut tcp).await;
        let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\nX-Huge: ").await;
        let block = vec![b'a'; 16 * 1024];
        // An endless header line: only the header limit ends it.
        while tcp.write_all(&block).await.is_ok() {}
    })
    .await;
    let result = fetch(&fetcher(), get(&server.url("/"))).await;
    assert_error(
        result,
        "EGRESS_LIMIT",
        "the response headers are over 65536 bytes",
    );
}

#[tokio::test]
async fn endless_header_lines_are_a_limit() {
    let server = Server::raw(|mut tcp| async move {
        read_head(&mut tcp).await;
        let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\n").await;
        while tcp.write_all(b"X-A: 1\r\n").await.is_ok() {}
    })
    .await;
    let result = fetch(&fetcher(), get(&server.url("/"))).await;
    assert_eq!(result.unwrap_err().code(), "EGRESS_LIMIT");
}

#[tokio::test]
async fn an_endless_chunked_body_stops_at_the_cap() {
    let server = Server::raw(|mut tcp| async move {
        read_head(&mut tcp).await;
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let _ = tcp.write_all(head).await;
        let chunk = [b"4000\r\n".as_slice(), &[b'z'; 0x4000], b"\r\n"].concat();
        while tcp.write_all(&chunk).await.is_ok() {}
    })
    .await;
    let result = fetch(&fetcher(), get(&server.url("/"))).await;
    assert_error(result, "EGRESS_LIMIT", "the response is over 8388608 bytes");
}
