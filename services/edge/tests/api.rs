//! The edge's API through warp's test client, against a real nats-server
//! (started here through the project's script, on a free loopback port).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moat_edge::rate_limit::{Policy, Rate, RateLimits};
use moat_edge::runs::Deps;
use moat_edge::token::Tokens;
use moat_queue::subjects;
use moat_wire::{Event, EventBody, LogFrame, LogLevel, Outcome, ResultFrame, RunRequest};

use moat_testkit::Nats;

const PROXY: &str = "10.9.9.9";

async fn setup(nats: &Nats, anon: &str, max_queued: i64) -> (Deps, async_nats::Client) {
    let client = async_nats::connect(&nats.url).await.unwrap();
    let db_dir = tempfile::tempdir().unwrap().keep();
    let db = moat_db::connect(&format!("sqlite://{}/moat.db?mode=rwc", db_dir.display()))
        .await
        .unwrap();
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(2));
    moat_launcher::nats::ensure_streams(&js, max_queued)
        .await
        .unwrap();
    let policy = Policy {
        tenant: Rate::parse("100/100/1000").unwrap(),
        anonymous: Rate::parse(anon).unwrap(),
        path: Rate::parse("1000/1000/1000").unwrap(),
        client_path: Rate::parse("1000/1000/1000").unwrap(),
        allow: HashSet::new(),
        max_buckets: 1000,
    };
    let deps = Deps {
        js,
        db,
        metrics: moat_edge::metrics::Metrics::new(),
        store: moat_store::open_store(&moat_store::StoreConfig::Local {
            dir: db_dir.join("files"),
        })
        .await
        .unwrap(),
        limits: Arc::new(RateLimits::new(policy)),
        tokens: Tokens::new(b"a test secret of enough length"),
        trusted_proxies: Arc::new(vec![PROXY.parse().unwrap()]),
        max_body_bytes: 64 * 1024,
        anon_max_timeout_ms: 10_000,
        anon_max_memory_mb: 128,
        tenant_max_timeout_ms: 60_000,
        tenant_max_memory_mb: 512,
        playground: Default::default(),
        sessions: moat_edge::sessions::SessionLimits::new(8),
    };
    (deps, client)
}

fn from(ip: &str) -> SocketAddr {
    format!("{ip}:40000").parse().unwrap()
}

async fn post(
    routes: &(impl warp::Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible>
          + Clone
          + 'static),
    peer: &str,
    xff: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value, warp::http::HeaderMap) {
    let mut req = warp::test::request()
        .method("POST")
        .path("/v1/runs")
        .remote_addr(from(peer))
        .body(body);
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    let resp = req.reply(routes).await;
    let json = serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null);
    (resp.status().as_u16(), json, resp.headers().clone())
}

#[tokio::test]
async fn submit_queues_the_run_and_answers_with_its_token() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats, "100/100/1000", 10).await;
    let tokens = deps.tokens.clone();
    let js = deps.js.clone();
    let routes = moat_edge::routes(deps, client);
    let (status, json, headers) = post(
        &routes,
        "192.0.2.1",
        None,
        r#"{"code":"console.log(1)","timeout_ms":2000}"#,
    )
    .await;
    assert_eq!(status, 202, "{json}");
    let id = json["id"].as_str().unwrap();
    assert_eq!(json["status"], "queued");
    assert!(tokens.verify(id, json["token"].as_str().unwrap()));
    assert_eq!(
        json["events_url"],
        format!(
            "/v1/runs/{id}/events?token={}",
            json["token"].as_str().unwrap()
        )
    );
    assert!(headers.contains_key("ratelimit-remaining"));
    // The run is on the queue, as the launcher will read it.
    let mut runs = js.get_stream(subjects::RUNS).await.unwrap();
    let msg = runs
        .get_last_raw_message_by_subject(&subjects::submit("anon"))
        .await
        .unwrap();
    let req: RunRequest = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(
        (req.id.as_str(), req.tenant.as_str(), req.job.timeout_ms),
        (id, "anon", 2000)
    );
    assert_eq!(runs.info().await.unwrap().state.messages, 1);
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats, "100/100/1000", 10).await;
    let routes = moat_edge::routes(deps, client);
    for (body, status, code) in [
        ("not json", 400, "invalid_json"),
        (r#"{"code": 1}"#, 400, "invalid_json"),
        (r#"{"code": "1", "env": {}}"#, 400, "invalid_json"),
        (
            r#"{"code": "1", "timeout_ms": 60000}"#,
            400,
            "limit_exceeded",
        ),
        (r#"{"code": "1", "memory_mb": 4096}"#, 400, "limit_exceeded"),
        (r#"{"code": "1", "memory_mb": 1}"#, 400, "invalid_job"),
        (
            r#"{"code": "1", "filename": "../x.js"}"#,
            400,
            "invalid_job",
        ),
    ] {
        let (s, json, _) = post(&routes, "192.0.2.1", None, body).await;
        assert_eq!(
            (s, json["error"]["code"].as_str().unwrap()),
            (status, code),
            "{body}: {json}"
        );
        assert!(!json["error"]["message"].as_str().unwrap().is_empty());
    }
    let huge = format!(r#"{{"code": "{}"}}"#, "x".repeat(70 * 1024));
    let (s, json, _) = post(&routes, "192.0.2.1", None, &huge).await;
    assert_eq!(
        (s, json["error"]["code"].as_str().unwrap()),
        (413, "payload_too_large")
    );
    let resp = warp::test::request().path("/nope").reply(&routes).await;
    assert_eq!(resp.status(), 404);
    // Refusals after the rate limit still say where the caller stands.
    let (_, _, headers) = post(&routes, "192.0.2.1", None, "not json").await;
    assert!(headers.contains_key("ratelimit-remaining"), "{headers:?}");
    let resp = warp::test::request().path("/readyz").reply(&routes).await;
    assert_eq!(resp.status(), 200);
    let ready: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(ready, serde_json::json!({"nats": true, "database": true}));
}

#[tokio::test]
async fn rate_limits_refuse_with_retry_after_and_trust_only_our_proxy() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats, "2/1/1000", 100).await;
    let metrics = deps.metrics.clone();
    let routes = moat_edge::routes(deps, client);
    let body = r#"{"code":"1"}"#;
    let (s1, _, h1) = post(&routes, "192.0.2.1", None, body).await;
    let (s2, _, h2) = post(&routes, "192.0.2.1", None, body).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(
        (&h1["ratelimit-limit"], &h1["ratelimit-remaining"]),
        (&"2".parse().unwrap(), &"1".parse().unwrap())
    );
    assert_eq!(h2["ratelimit-remaining"], "0");
    let (s3, json, h3) = post(&routes, "192.0.2.1", None, body).await;
    assert_eq!(s3, 429);
    assert_eq!(json["error"]["code"], "rate_limited");
    assert_eq!(h3["retry-after"], "1");
    assert_eq!(h3["ratelimit-remaining"], "0");
    // A spoofed X-Forwarded-For from an untrusted peer changes nothing.
    let (s, _, _) = post(&routes, "192.0.2.1", Some("198.51.100.1"), body).await;
    assert_eq!(s, 429);
    // Through the trusted proxy, each forwarded client has its own bucket.
    for client in ["198.51.100.1", "198.51.100.2"] {
        let (s, json, _) = post(&routes, PROXY, Some(client), body).await;
        assert_eq!(s, 202, "{json}");
    }
    // After the refill interval the first client may go again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, _, _) = post(&routes, "192.0.2.1", None, body).await;
    assert_eq!(s, 202);
    // Every answer and refusal was counted, under fixed labels.
    let text = moat_ops::Health::render(&*metrics);
    assert!(
        text.contains("moat_edge_requests_total{route=\"submit\",status=\"202\"} 5"),
        "{text}"
    );
    assert!(
        text.contains("moat_edge_requests_total{route=\"submit\",status=\"429\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("moat_edge_refusals_total{code=\"rate_limited\"} 2"),
        "{text}"
    );
    assert!(text.contains("moat_edge_submit_seconds_count 5"), "{text}");
}

#[tokio::test]
async fn a_full_queue_is_429_and_nats_down_is_503() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats, "100/100/1000", 2).await;
    let (js, database) = (deps.js.clone(), deps.db.clone());
    let routes = moat_edge::routes(deps, client);
    let body = r#"{"code":"1"}"#;
    for _ in 0..2 {
        assert_eq!(post(&routes, "192.0.2.1", None, body).await.0, 202);
    }
    let (s, json, h) = post(&routes, "192.0.2.1", None, body).await;
    assert_eq!(
        (s, json["error"]["code"].as_str().unwrap()),
        (429, "queue_full"),
        "{json}"
    );
    assert!(h.contains_key("retry-after"));
    let mut runs = js.get_stream(subjects::RUNS).await.unwrap();
    assert_eq!(
        runs.info().await.unwrap().state.messages,
        2,
        "the refused run was not queued"
    );

    nats.stop();
    let (s, json, _) = post(&routes, "192.0.2.1", None, body).await;
    assert_eq!(
        (s, json["error"]["code"].as_str().unwrap()),
        (503, "unavailable"),
        "{json}"
    );
    // Only the two queued runs have records: no phantom for the refused ones.
    use sea_orm::{EntityTrait, PaginatorTrait};
    let rows = moat_db::entity::runs::Entity::find()
        .count(&database)
        .await
        .unwrap();
    assert_eq!(rows, 2);
    let resp = warp::test::request().path("/readyz").reply(&routes).await;
    assert_eq!(resp.status(), 503);
}

#[tokio::test]
async fn the_websocket_replays_every_event_then_closes() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats, "100/100/1000", 10).await;
    let (tokens, js) = (deps.tokens.clone(), deps.js.clone());
    let routes = moat_edge::routes(deps, client);
    let id = "0123456789abcdef0123456789abcdef";
    // The run has already finished when the client connects.
    let bodies = [
        EventBody::Log(LogFrame {
            level: LogLevel::Info,
            msg: "one".into(),
            ts_ms: 1,
        }),
        EventBody::Log(LogFrame {
            level: LogLevel::Warn,
            msg: "two".into(),
            ts_ms: 2,
        }),
        EventBody::Result(ResultFrame {
            outcome: Outcome::Ok,
            value: Some(serde_json::json!(42)),
            error: None,
            cpu_ms: 1,
            wall_ms: 2,
            heap_peak_bytes: 3,
        }),
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let event = Event {
            run: id.into(),
            attempt: 1,
            seq: i as u64 + 1,
            body,
        };
        js.publish(
            subjects::events(id),
            serde_json::to_vec(&event).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let token = tokens.issue(id);
    let mut ws = warp::test::ws()
        .path(&format!("/v1/runs/{id}/events?token={token}"))
        .handshake(routes.clone())
        .await
        .expect("handshake");
    let mut seqs = Vec::new();
    for _ in 0..3 {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.recv())
            .await
            .unwrap()
            .unwrap();
        let event: Event = serde_json::from_str(msg.to_str().unwrap()).unwrap();
        seqs.push(event.seq);
    }
    assert_eq!(seqs, vec![1, 2, 3]);
    // After the result, the server closes the socket.
    tokio::time::timeout(Duration::from_secs(5), ws.recv_closed())
        .await
        .unwrap()
        .unwrap();

    // Without the token, or with another run's, the run does not exist.
    for path in [
        format!("/v1/runs/{id}/events"),
        format!(
            "/v1/runs/{id}/events?token={}",
            tokens.issue("ffffffffffffffffffffffffffffffff")
        ),
    ] {
        let resp = warp::test::request()
            .path(&path)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .reply(&routes)
            .await;
        assert_eq!(resp.status(), 404, "{path}");
    }
}

async fn request(
    routes: &(impl warp::Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible>
          + Clone
          + 'static),
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut req = warp::test::request()
        .method(method)
        .path(path)
        .remote_addr(from("192.0.2.7"))
        .body(body);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let resp = req.reply(routes).await;
    (
        resp.status().as_u16(),
        serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn tenants_see_their_runs_records_and_usage_and_nobody_else_does() {
    use moat_db as db;
    use moat_wire::{FileRef, RunRecord};
    let nats = Nats::start();
    let (deps, client) = setup(&nats, "100/100/1000", 10).await;
    let (database, js, store) = (deps.db.clone(), deps.js.clone(), deps.store.clone());
    let routes = moat_edge::routes(deps, client);
    let (_, acme) = db::create_api_key(&database, "acme", "standard", None)
        .await
        .unwrap();
    let (_, rival) = db::create_api_key(&database, "rival", "standard", None)
        .await
        .unwrap();

    // A tenant's run is queued under its name, with the tenant's larger limits.
    let (s, json) = request(
        &routes,
        "POST",
        "/v1/runs",
        Some(&acme),
        r#"{"code":"1","timeout_ms":30000}"#,
    )
    .await;
    assert_eq!(s, 202, "{json}");
    let id = json["id"].as_str().unwrap().to_owned();
    let token = json["token"].as_str().unwrap().to_owned();
    let runs = js.get_stream(subjects::RUNS).await.unwrap();
    let msg = runs
        .get_last_raw_message_by_subject(&subjects::submit("acme"))
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<RunRequest>(&msg.payload)
            .unwrap()
            .tenant,
        "acme"
    );

    // Queued, then (as the recorder writes it) done.
    let (s, json) = request(&routes, "GET", &format!("/v1/runs/{id}"), Some(&acme), "").await;
    assert_eq!(
        (s, json["status"].as_str().unwrap()),
        (200, "queued"),
        "{json}"
    );
    let log = Event {
        run: id.clone(),
        attempt: 1,
        seq: 1,
        body: EventBody::Log(LogFrame {
            level: LogLevel::Info,
            msg: "hello".into(),
            ts_ms: 3,
        }),
    };
    db::apply_event(&database, &log).await.unwrap();
    let record = RunRecord {
        v: 1,
        run: id.clone(),
        tenant: "acme".into(),
        attempt: 1,
        outcome: Outcome::Ok,
        value: Some(serde_json::json!({"answer": 42})),
        error: None,
        cpu_ms: 4,
        wall_ms: 9,
        heap_peak_bytes: 1000,
        queued_ms: 2,
        events: 3,
        log_bytes: 5,
        files: vec![FileRef {
            name: "a.png".into(),
            media_type: "image/png".into(),
            size: 10,
        }],
        submitted_ms: moat_wire::run::now_ms(),
        finished_ms: moat_wire::run::now_ms(),
    };
    db::apply_record(&database, &record).await.unwrap();
    let (s, json) = request(&routes, "GET", &format!("/v1/runs/{id}"), Some(&acme), "").await;
    assert_eq!(s, 200);
    assert_eq!(json["status"], "done");
    assert_eq!(json["outcome"], "ok");
    assert_eq!(json["value"], serde_json::json!({"answer": 42}));
    assert_eq!(json["logs"][0]["msg"], "hello");
    assert_eq!(
        json["files"][0]["url"],
        format!("/v1/runs/{id}/files/a.png")
    );

    // The file itself, as the launcher stored it, with its sniffed type.
    let png = b"\x89PNG\r\n\x1a\n0123456789";
    store
        .put(
            &format!("{id}/1/a.png"),
            bytes::Bytes::from_static(png),
            "image/png",
        )
        .await
        .unwrap();
    let path = format!("/v1/runs/{id}/files/a.png");
    let resp = warp::test::request()
        .path(&path)
        .header("authorization", format!("Bearer {acme}"))
        .reply(&routes)
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body().as_ref(), png);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.headers()["content-disposition"], "inline");
    for (key, path) in [
        (Some(rival.as_str()), path.clone()),
        (None, path.clone()),
        (
            Some(acme.as_str()),
            format!("/v1/runs/{id}/files/missing.png"),
        ),
        (
            Some(acme.as_str()),
            format!("/v1/runs/{id}/files/..%2F..%2Fetc%2Fpasswd"),
        ),
    ] {
        assert_eq!(
            request(&routes, "GET", &path, key, "").await.0,
            404,
            "{path}"
        );
    }

    // Another tenant, or nobody, sees no such run; the token opens it.
    let (s, json) = request(&routes, "GET", &format!("/v1/runs/{id}"), Some(&rival), "").await;
    assert_eq!(
        (s, json["error"]["code"].as_str().unwrap()),
        (404, "not_found")
    );
    assert_eq!(
        request(&routes, "GET", &format!("/v1/runs/{id}"), None, "")
            .await
            .0,
        404
    );
    assert_eq!(
        request(
            &routes,
            "GET",
            &format!("/v1/runs/{id}?token={token}"),
            None,
            ""
        )
        .await
        .0,
        200
    );

    // Usage is the tenant's own; anonymous callers have none; bad keys are 401.
    let (s, json) = request(&routes, "GET", "/v1/usage", Some(&acme), "").await;
    assert_eq!(s, 200, "{json}");
    assert_eq!(json["tenant"], "acme");
    assert_eq!(json["days"][0]["runs"], 1);
    assert_eq!(json["days"][0]["cpu_ms"], 4);
    let (s, json) = request(&routes, "GET", "/v1/usage", Some(&rival), "").await;
    assert_eq!((s, json["days"].as_array().unwrap().len()), (200, 0));
    assert_eq!(request(&routes, "GET", "/v1/usage", None, "").await.0, 401);
    let (s, json) = request(
        &routes,
        "POST",
        "/v1/runs",
        Some("moat_not_a_key"),
        r#"{"code":"1"}"#,
    )
    .await;
    assert_eq!(
        (s, json["error"]["code"].as_str().unwrap()),
        (401, "invalid_key")
    );
    let resp = warp::test::request()
        .method("POST")
        .path("/v1/runs")
        .remote_addr(from("192.0.2.7"))
        .header("authorization", "Bearer moat_not_a_key")
        .body(r#"{"code":"1"}"#)
        .reply(&routes)
        .await;
    assert!(resp.headers().contains_key("ratelimit-remaining"));
    let (s, _) = request(&routes, "GET", "/v1/usage?from=yesterday", Some(&acme), "").await;
    assert_eq!(s, 400);
}

/// Serves the routes on a loopback port, as the edge does, for real clients.
async fn serve(deps: Deps, client: async_nats::Client) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        warp::serve(moat_edge::routes(deps, client))
            .incoming(listener)
            .run(),
    );
    addr
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
            run: id.into(),
            attempt: 1,
            seq,
            body,
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
    let (deps, client) = setup(&nats, "100/100/1000", 10).await;
    let (tokens, js, metrics) = (deps.tokens.clone(), deps.js.clone(), deps.metrics.clone());
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
    let too_slow = || metrics.ws_closed.with_label_values(&["too_slow"]).get();
    for _ in 0..600 {
        if too_slow() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(too_slow(), 1, "the edge never gave up on the client");

    // Reading now: a gapless prefix of the events, then the reason.
    let (seqs, close) = read_to_close(&mut ws).await;
    assert_eq!(close, Some((1008, "client too slow".to_owned())));
    assert!(
        !seqs.is_empty() && seqs.len() < 3001,
        "{} events",
        seqs.len()
    );
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(metrics.ws_closed.with_label_values(&["finished"]).get(), 1);
}

#[tokio::test]
async fn every_session_delivers_the_whole_run_then_a_normal_close() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats, "100/100/1000", 10).await;
    let (tokens, js, metrics) = (deps.tokens.clone(), deps.js.clone(), deps.metrics.clone());
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
    assert_eq!(metrics.ws_closed.with_label_values(&["finished"]).get(), 60);
}

#[tokio::test]
async fn a_client_may_hold_only_so_many_event_streams() {
    let nats = Nats::start();
    let (mut deps, client) = setup(&nats, "100/100/1000", 10).await;
    deps.sessions = moat_edge::sessions::SessionLimits::new(3);
    let (tokens, js) = (deps.tokens.clone(), deps.js.clone());
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
