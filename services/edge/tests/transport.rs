//! The edge's own server over real loopback TCP, with hostile clients: an
//! endless chunked body, a declared length over the cap, headers sent byte
//! by byte or not at all, a body that stalls, idle keep-alive connections,
//! too many connections from one client, and shutdown. Against a real
//! nats-server and SQLite, as the edge runs.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{open_policy, queue_limits, serve_with, settings};
use moat_testkit::Nats;

/// The edge process's resident memory now, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Reads one response: its status and body (by `Content-Length`), or
/// `None` if the connection ended (EOF or reset) before a status line.
async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                match stream.read(&mut chunk).await {
                    Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => break,
                }
            }
            let body = String::from_utf8_lossy(&buf[end + 4..]).to_string();
            return Some((status, body));
        }
        match stream.read(&mut chunk).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

/// Whether the server closed the connection within `within` (EOF or reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn edge(
    nats: &Nats,
    conns: usize,
    header_timeout: Duration,
    body_timeout: Duration,
) -> (SocketAddr, moat_edge::routes::Deps) {
    let (mut deps, client) =
        common::setup(nats, open_policy("1000/1000/1000"), queue_limits(10)).await;
    deps.body_timeout = body_timeout;
    let settings = settings(&deps, conns, header_timeout);
    let (addr, _) = serve_with(deps.clone(), client, settings).await;
    (addr, deps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_chunked_body_is_refused_at_the_cap_with_bounded_memory() {
    let nats = Nats::start();
    let (addr, deps) = edge(&nats, 64, Duration::from_secs(10), Duration::from_secs(15)).await;
    assert_eq!(deps.max_body_bytes, 64 * 1024);

    // Resident memory, sampled while the upload runs.
    let baseline = rss_bytes();
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };

    let started = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    // 300 MiB in 64 KiB chunks, made on the fly; stops when the edge hangs up.
    let writer = tokio::spawn(async move {
        let head = "POST /v1/runs HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        tx.write_all(head.as_bytes()).await.unwrap();
        let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
        chunk.extend(std::iter::repeat_n(b'x', 64 * 1024));
        chunk.extend_from_slice(b"\r\n");
        let mut sent: u64 = 0;
        while sent < 300 * 1024 * 1024 {
            if tx.write_all(&chunk).await.is_err() {
                break;
            }
            sent += 64 * 1024;
        }
        sent
    });
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), read_response(&mut rx))
        .await
        .expect("an answer in time")
        .expect("an answer, not a reset");
    assert_eq!(status, 413, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["code"], "payload_too_large");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The edge stopped reading: the client could not send much past the cap
    // (kernel buffers and the bounded linger) before the connection ended.
    let sent = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("the edge hangs up")
        .unwrap();
    assert!(sent < 64 * 1024 * 1024, "the client sent {sent} bytes");
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let growth = peak.saturating_sub(baseline);
    assert!(growth < 64 * 1024 * 1024, "RSS grew by {growth} bytes");
    assert_eq!(
        deps.metrics
            .ops
            .value("moat_edge_refusals_total", &[("code", "payload_too_large")]),
        1.0
    );
}

#[tokio::test]
async fn a_declared_length_over_the_cap_is_refused_before_the_body() {
    let nats = Nats::start();
    let (addr, _) = edge(&nats, 64, Duration::from_secs(10), Duration::from_secs(15)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /v1/runs HTTP/1.1\r\nhost: edge\r\ncontent-length: 314572800\r\n\r\n")
        .await
        .unwrap();
    // Not a byte of the body was sent: the answer cannot have waited for it.
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), read_response(&mut stream))
        .await
        .expect("an answer in time")
        .expect("an answer");
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("payload_too_large"), "{body}");
    assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn slow_or_missing_headers_and_idle_connections_are_dropped() {
    let nats = Nats::start();
    let timeout = Duration::from_millis(500);
    let (addr, _) = edge(&nats, 64, timeout, Duration::from_secs(15)).await;

    // Headers byte by byte: sending keeps nothing alive past the timeout.
    let started = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    let trickle = tokio::spawn(async move {
        let head = format!(
            "GET /healthz HTTP/1.1\r\nx-slow: {}\r\n\r\n",
            "a".repeat(1000)
        );
        for b in head.bytes() {
            if tx.write_all(&[b]).await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    });
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), rx.read_to_end(&mut seen)).await;
    assert!(ended.is_ok(), "the edge kept a trickling client");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(!String::from_utf8_lossy(&seen).contains(" 200 "));
    trickle.abort();

    // Nothing at all.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);

    // An idle keep-alive connection after one answered request.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: edge\r\n\r\n")
        .await
        .unwrap();
    let (status, _) = read_response(&mut idle).await.unwrap();
    assert_eq!(status, 200);
    let idle_since = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await);
    assert!(
        idle_since.elapsed() >= timeout / 2,
        "{:?}",
        idle_since.elapsed()
    );
}

#[tokio::test]
async fn a_body_that_stalls_gets_408() {
    let nats = Nats::start();
    let (addr, _) = edge(
        &nats,
        64,
        Duration::from_secs(10),
        Duration::from_millis(500),
    )
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /v1/runs HTTP/1.1\r\nhost: edge\r\ncontent-length: 100\r\n\r\n{\"code\":")
        .await
        .unwrap();
    let started = Instant::now();
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), read_response(&mut stream))
        .await
        .expect("an answer in time")
        .expect("an answer");
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("body_timeout"), "{body}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn one_client_holds_only_so_many_connections() {
    let nats = Nats::start();
    let (addr, deps) = edge(&nats, 3, Duration::from_secs(10), Duration::from_secs(15)).await;
    let healthz = |mut s: TcpStream| async move {
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: edge\r\n\r\n")
            .await
            .ok()?;
        let answer = read_response(&mut s).await;
        Some((s, answer?.0))
    };
    let mut open = Vec::new();
    for _ in 0..3 {
        let (s, status) = healthz(TcpStream::connect(addr).await.unwrap())
            .await
            .unwrap();
        assert_eq!(status, 200);
        open.push(s);
    }
    // The fourth is refused at accept: a canned 429, or just closed.
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(3), read_response(&mut fourth))
        .await
        .expect("refused at once");
    if let Some((status, body)) = answer {
        assert_eq!(status, 429, "{body}");
        assert!(body.contains("too_many_connections"), "{body}");
    }
    assert!(closed_within(&mut fourth, Duration::from_secs(3)).await);
    let refused = || {
        deps.metrics.ops.value(
            "moat_edge_refusals_total",
            &[("code", "too_many_connections")],
        )
    };
    assert_eq!(refused(), 1.0);
    // The held ones still work; closing one gives its slot back.
    let (s, status) = healthz(open.pop().unwrap()).await.unwrap();
    assert_eq!(status, 200);
    drop(s);
    let mut back = None;
    for _ in 0..100 {
        if let Some((s, 200)) = healthz(TcpStream::connect(addr).await.unwrap()).await {
            back = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back.is_some(), "the slot never came back");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_closes_idle_connections() {
    let nats = Nats::start();
    let (deps, client) =
        common::setup(&nats, open_policy("1000/1000/1000"), queue_limits(10)).await;
    let shutdown = deps.shutdown.clone();
    let settings = settings(&deps, 64, Duration::from_secs(10));
    let (addr, server) = serve_with(deps, client, settings).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: edge\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut idle).await.unwrap().0, 200);
    shutdown.cancel();
    // Well within the header timeout: the shutdown closed it.
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server drains in time")
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}
