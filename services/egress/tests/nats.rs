//! The NATS contract between launchers and the egress service, with a real
//! nats-server (`scripts/nats.sh`) and a real HTTP server on 127.0.0.1: a
//! large request body travels as an upload in parts, never inline, and
//! instances count each other for their share of the per-host rate.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;
use moat_egress::client::NatsEgress;
use moat_egress::fetch::{Fetcher, FetcherConfig, Resolver};
use moat_egress::metrics::Metrics;
use moat_egress::policy::{PlanPolicies, Policy};
use moat_egress::session::Egress;
use moat_queue::Role;
use moat_testkit::Nats;
use moat_wire::egress::{EgressRequest, EGRESS_SUBJECT, INLINE_BODY_BYTES};
use moat_wire::hostcall::{FetchCall, Reply};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A server on 127.0.0.1 answering each POST with the length and byte sum
/// of its body.
fn counting_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                if stream.read_exact(&mut body).is_err() {
                    return;
                }
                let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
                let answer = format!(r#"{{"bytes":{length},"sum":{sum}}}"#);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    addr
}

/// An egress instance on `nats` allowing 127.0.0.1, with a per-host limit.
async fn instance(nats: &Nats, shutdown: &CancellationToken) -> Arc<Fetcher> {
    let policy = Policy {
        allow_nets: vec!["127.0.0.1/32".parse().unwrap()],
        ..Policy::default()
    };
    let fetcher = Arc::new(
        Fetcher::new(FetcherConfig {
            policy: policy.clone(),
            resolver: Resolver::System,
            extra_roots: Vec::new(),
            user_agent: "moat-test/1".into(),
            connect_timeout: Duration::from_secs(2),
            host_rate: Some(moat_egress::host_rate::HostRateLimit {
                per_second: 100.0,
                burst: 100.0,
            }),
        })
        .unwrap(),
    );
    let client = nats.connect(Role::Egress).await;
    let instances = fetcher.host_rate().unwrap().instances();
    tokio::spawn(moat_egress::peers::track(
        client.clone(),
        format!("test-{}", Arc::as_ptr(&fetcher) as usize),
        instances,
        shutdown.clone(),
    ));
    tokio::spawn(moat_egress::serve::serve(
        client,
        fetcher.clone(),
        Arc::new(PlanPolicies::same(&policy)),
        Metrics::new(),
        8,
        Duration::from_secs(1),
        shutdown.clone(),
    ));
    fetcher
}

/// What `moat_wire::egress` promises: a body too big for one message is
/// uploaded in parts, and arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_is_uploaded_in_parts_and_arrives_whole() {
    let nats = Nats::start();
    let shutdown = CancellationToken::new();
    let (a, b) = (
        instance(&nats, &shutdown).await,
        instance(&nats, &shutdown).await,
    );
    let launcher = nats.connect(Role::Launcher).await;
    // An observer of every request message, as NATS carries it.
    let observer = nats.admin().await;
    let mut seen = observer.subscribe(EGRESS_SUBJECT).await.unwrap();
    let largest = Arc::new(AtomicUsize::new(0));
    let biggest = largest.clone();
    tokio::spawn(async move {
        while let Some(m) = seen.next().await {
            biggest.fetch_max(m.payload.len(), Ordering::SeqCst);
        }
    });
    observer.flush().await.unwrap();

    let server = counting_server();
    let body: Vec<u8> = (0..3 * 1024 * 1024 + 5).map(|i| (i % 251) as u8).collect();
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    let mut call = FetchCall::get(format!("http://{server}/"));
    call.method = "POST".into();
    call.body = Some(base64::engine::general_purpose::STANDARD.encode(&body));
    let request = EgressRequest::new("r1", "anon", call, 1 << 20, 10_000);
    let (tx, mut rx) = mpsc::channel(8);
    NatsEgress::new(launcher.clone()).fetch(request, tx).await;
    let mut text = Vec::new();
    let mut status = None;
    while let Some(reply) = rx.recv().await {
        match reply {
            Reply::Chunk { data } => text.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .unwrap(),
            ),
            Reply::Fetched(head) => status = Some(head.status),
            Reply::Failed(e) => panic!("the upload failed: {e:?}"),
        }
    }
    assert_eq!(status, Some(200));
    let answer: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({ "bytes": body.len(), "sum": sum })
    );
    let largest = largest.load(Ordering::SeqCst);
    assert!(
        largest > 0 && largest < INLINE_BODY_BYTES,
        "the request message was {largest} bytes"
    );

    // The two instances have heard each other: each takes half the rate.
    let counted = |f: &Fetcher| f.host_rate().unwrap().instances().load(Ordering::Relaxed);
    for _ in 0..50 {
        if counted(&a) == 2 && counted(&b) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((counted(&a), counted(&b)), (2, 2));
    shutdown.cancel();
}
