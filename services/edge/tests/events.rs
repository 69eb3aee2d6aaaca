//! Event streams over real loopback TCP, through the edge's own server:
//! backlogs read to the end, slow readers closed, every session complete,
//! sessions per client capped, open streams closed on shutdown. Against a
//! real nats-server and SQLite.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use moat_queue::subjects;
use moat_wire::{Event, EventBody, LogFrame, LogLevel, Outcome, ResultFrame};

use common::{open_policy, queue_limits, serve};
use moat_testkit::Nats;

async fn setup(nats: &Nats) -> (moat_edge::routes::Deps, async_nats::Client) {
    common::setup(nats, open_policy("100/100/1000"), queue_limits(10)).await
}

/// Publishes a run's events as the launcher would: `logs` log lines of
/// `line`, then the result if `finished`.
async fn publish_run(
    js: &async_nats::jetstream::Context,
    id: &str,
    logs: u64,
    line: &str,
    finished: bool,
) {
    let mut acks = Vec::new();
    for seq in 1..=logs + u64::from(finished) {
        let body = if seq <= logs {
            EventBody::Log(LogFrame {
                level: LogLevel::Info,
                msg: line.to_owned(),
                ts_ms: seq,
            })
        } else {
            EventBody::Result(ResultFrame {
                outcome: Outcome::Ok,
                value: None,
                error: None,
                cpu_ms: 1,
                wall_ms: 2,
                heap_peak_bytes: 3,
            })
        };
        let event = Event {
            v: moat_wire::PROTOCOL_VERSION,
            run: id.into(),
            attempt: 1,
            seq,
            body,
            stages: None,
        };
        let payload = serde_json::to_vec(&event).unwrap();
        acks.push(
            js.publish(subjects::events(id), payload.into())
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

/// Reads a whole session over TCP: the events' seqs, then the close frame.
async fn read_session(addr: SocketAddr, url: &str) -> (Vec<u64>, Option<(u16, String)>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    read_to_close(&mut ws).await
}

/// The events' seqs until the close frame, and the close frame.
async fn read_to_close<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
) -> (Vec<u64>, Option<(u16, String)>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::Message;
    let mut seqs = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), futures::StreamExt::next(ws))
            .await
            .expect("the edge ends the session");
        match next {
            Some(Ok(Message::Text(text))) => {
                seqs.push(serde_json::from_str::<Event>(&text).unwrap().seq);
            }
            Some(Ok(Message::Close(frame))) => {
                return (
                    seqs,
                    frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                )
            }
            other => panic!("expected events then a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_too_slow() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats).await;
    let (tokens, js, metrics) = (
        deps.tokens.clone(),
        common::launcher_js(&nats).await,
        deps.metrics.clone(),
    );
    let addr = serve(deps, client).await;
    // A chatty run, already finished: 3,000 events of 4 KiB, far more than
    // the kernel's socket buffers and the edge's 256-event buffer hold.
    let id = "fedcba9876543210fedcba9876543210";
    publish_run(&js, id, 3000, &"x".repeat(4096), true).await;
    let url = format!("ws://{addr}/v1/runs/{id}/events?token={}", tokens.issue(id));

    // A fast client takes the whole backlog, however far ahead NATS is.
    let (seqs, close) = read_session(addr, &url).await;
    assert_eq!(seqs, (1..=3001).collect::<Vec<u64>>());
    assert_eq!(close, Some((1000, "run finished".to_owned())));

    // A real client over TCP with a small receive window that reads nothing.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let too_slow = || {
        metrics
            .ops
            .value("moat_edge_ws_closed_total", &[("reason", "too_slow")])
    };
    for _ in 0..600 {
        if too_slow() > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(too_slow(), 1.0, "the edge never gave up on the client");

    // Reading now: a gapless prefix of the events, then the reason.
    let (seqs, close) = read_to_close(&mut ws).await;
    assert_eq!(close, Some((1008, "client too slow".to_owned())));
    assert!(
        !seqs.is_empty() && seqs.len() < 3001,
        "{} events",
        seqs.len()
    );
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        metrics
            .ops
            .value("moat_edge_ws_closed_total", &[("reason", "finished")]),
        1.0
    );
}

#[tokio::test]
async fn every_session_delivers_the_whole_run_then_a_normal_close() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats).await;
    let (tokens, js, metrics) = (
        deps.tokens.clone(),
        common::launcher_js(&nats).await,
        deps.metrics.clone(),
    );
    let addr = serve(deps, client).await;
    let id = "00112233445566778899aabbccddeeff";
    publish_run(&js, id, 2, "a line", true).await;
    // Many sessions, because the last event racing the end of the stream
    // is exactly where an event could be dropped.
    let url = format!("ws://{addr}/v1/runs/{id}/events?token={}", tokens.issue(id));
    for session in 0..60 {
        let (seqs, close) = read_session(addr, &url).await;
        assert_eq!(seqs, vec![1, 2, 3], "session {session}");
        assert_eq!(close.map(|c| c.0), Some(1000), "session {session}");
    }
    assert_eq!(
        metrics
            .ops
            .value("moat_edge_ws_closed_total", &[("reason", "finished")]),
        60.0
    );
}

#[tokio::test]
async fn a_client_may_hold_only_so_many_event_streams() {
    let nats = Nats::start();
    let (mut deps, client) = setup(&nats).await;
    deps.sessions = moat_edge::sessions::SessionLimits::new(3);
    let (tokens, js) = (deps.tokens.clone(), common::launcher_js(&nats).await);
    let addr = serve(deps, client).await;
    // A run still going: its sessions stay open.
    let id = "abcdefabcdefabcdefabcdefabcdef01";
    publish_run(&js, id, 1, "working", false).await;
    let url = format!("ws://{addr}/v1/runs/{id}/events?token={}", tokens.issue(id));
    let connect = || async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio_tungstenite::client_async(url.as_str(), stream).await
    };
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(connect().await.expect("within the share").0);
    }
    match connect().await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 429);
            let body: serde_json::Value =
                serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["error"]["code"], "too_many_sessions");
        }
        other => panic!(
            "a fourth stream must be refused, got {:?}",
            other.map(|_| ())
        ),
    }
    // Closing one gives its slot back.
    drop(open.pop());
    let mut reopened = None;
    for _ in 0..100 {
        if let Ok((ws, _)) = connect().await {
            reopened = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened.is_some(), "the slot never came back");
}

#[tokio::test]
async fn shutdown_closes_open_event_streams_with_1001() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats).await;
    let (tokens, js, shutdown, metrics) = (
        deps.tokens.clone(),
        common::launcher_js(&nats).await,
        deps.shutdown.clone(),
        deps.metrics.clone(),
    );
    let settings = common::settings(&deps, 64, Duration::from_secs(10));
    let (addr, server) = common::serve_with(deps, client, settings).await;
    // A run still going.
    let id = "abcdefabcdefabcdefabcdefabcdef02";
    publish_run(&js, id, 1, "working", false).await;
    let url = format!("ws://{addr}/v1/runs/{id}/events?token={}", tokens.issue(id));
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let first = futures::StreamExt::next(&mut ws).await.unwrap().unwrap();
    assert!(first.is_text());
    shutdown.cancel();
    let (seqs, close) = read_to_close(&mut ws).await;
    assert!(seqs.is_empty(), "{seqs:?}");
    assert_eq!(close, Some((1001, "server shutting down".to_owned())));
    assert_eq!(
        metrics
            .ops
            .value("moat_edge_ws_closed_total", &[("reason", "shutdown")]),
        1.0
    );
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server drains in time")
        .unwrap();
}
