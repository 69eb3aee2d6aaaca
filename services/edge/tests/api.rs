//! The edge's API through warp's test client, against a real nats-server
//! (started here through the project's script, on a free loopback port) and
//! SQLite: submit, errors, rate limits and the allow list, address
//! prefixes, queue caps, records, files and usage.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use moat_edge::allow::AllowList;
use moat_edge::rate_limit::Rate;
use moat_queue::{subjects, Plan};
use moat_wire::{Event, EventBody, LogFrame, LogLevel, Outcome, ResultFrame, RunRequest};

use common::{open_policy, queue_limits, PROXY};
use moat_testkit::Nats;

async fn setup(
    nats: &Nats,
    anon: &str,
    anon_queued: i64,
) -> (moat_edge::routes::Deps, async_nats::Client) {
    common::setup(nats, open_policy(anon), queue_limits(anon_queued)).await
}

fn from(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 40000)
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
    let js = common::observer_js(&nats).await;
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
    // The run is on its client's queue (the anonymous plan's stream, the
    // client's address as its subject), as the launchers will read it.
    let mut runs = js.get_stream(subjects::RUNS_ANON).await.unwrap();
    let msg = runs
        .get_last_raw_message_by_subject(&subjects::submit(Plan::Anonymous, "4-192-0-2-1"))
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
async fn browser_runs_follow_the_plan() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats, "100/100/1000", 10).await;
    let js = common::observer_js(&nats).await;
    let routes = moat_edge::routes(deps.clone(), client.clone());
    // A static import asks for the browser; an anonymous browser run gets
    // the browser default (30 s) within its plan's own cap (20 s here).
    let code = r#"{"code": "import puppeteer from 'puppeteer'; export default 1"}"#;
    let (s, json, _) = post(&routes, "192.0.2.7", None, code).await;
    assert_eq!(s, 202, "{json}");
    let runs = js.get_stream(subjects::RUNS_ANON).await.unwrap();
    let msg = runs
        .get_last_raw_message_by_subject(&subjects::submit(Plan::Anonymous, "4-192-0-2-7"))
        .await
        .unwrap();
    let req: RunRequest = serde_json::from_slice(&msg.payload).unwrap();
    assert!(req.job.browser);
    assert_eq!(req.job.timeout_ms, 20_000);
    // Past the anonymous browser cap: refused, as a script past its cap is.
    let over = r#"{"code": "1", "browser": true, "timeout_ms": 25000}"#;
    let (s, json, _) = post(&routes, "192.0.2.8", None, over).await;
    assert_eq!(
        (s, json["error"]["code"].as_str()),
        (400, Some("limit_exceeded")),
        "{json}"
    );
    // A server that keeps browsers for tenants refuses anonymous ones, by
    // flag or by import, with a code a client can act on.
    let mut closed = deps;
    closed.anon_browser = false;
    let routes = moat_edge::routes(closed, client);
    for body in [r#"{"code": "1", "browser": true}"#, code] {
        let (s, json, _) = post(&routes, "192.0.2.9", None, body).await;
        assert_eq!(
            (s, json["error"]["code"].as_str()),
            (400, Some("browser_not_allowed")),
            "{json}"
        );
    }
    let (s, _, _) = post(&routes, "192.0.2.9", None, r#"{"code": "1"}"#).await;
    assert_eq!(s, 202);
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
    let (js, database) = (common::observer_js(&nats).await, deps.db.clone());
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
    // Another client's queue is its own.
    assert_eq!(post(&routes, "192.0.2.2", None, body).await.0, 202);
    let mut runs = js.get_stream(subjects::RUNS_ANON).await.unwrap();
    assert_eq!(
        runs.info().await.unwrap().state.messages,
        3,
        "the refused run was not queued"
    );

    nats.stop();
    let (s, json, h) = post(&routes, "192.0.2.3", None, body).await;
    assert_eq!(
        (s, json["error"]["code"].as_str().unwrap()),
        (503, "unavailable"),
        "{json}"
    );
    // A fixed sentence: nothing of the cause reaches the client.
    assert_eq!(
        json["error"]["message"],
        "the service is temporarily unavailable; retry shortly"
    );
    assert_eq!(h["retry-after"], "5");
    // Only the queued runs have records: no phantom for the refused ones.
    use sea_orm::{EntityTrait, PaginatorTrait};
    let rows = moat_db::entity::runs::Entity::find()
        .count(&database)
        .await
        .unwrap();
    assert_eq!(rows, 3);
    let resp = warp::test::request().path("/readyz").reply(&routes).await;
    assert_eq!(resp.status(), 503);
}

#[tokio::test]
async fn the_websocket_replays_every_event_then_closes() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats, "100/100/1000", 10).await;
    let (tokens, js) = (deps.tokens.clone(), common::launcher_js(&nats).await);
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
            v: moat_wire::PROTOCOL_VERSION,
            run: id.into(),
            attempt: 1,
            seq: i as u64 + 1,
            body,
            stages: None,
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
    let (database, js, store) = (
        deps.db.clone(),
        common::observer_js(&nats).await,
        deps.store.clone(),
    );
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
        .get_last_raw_message_by_subject(&subjects::submit(Plan::Tenant, "acme"))
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
        v: moat_wire::PROTOCOL_VERSION,
        run: id.clone(),
        attempt: 1,
        seq: 1,
        body: EventBody::Log(LogFrame {
            level: LogLevel::Info,
            msg: "hello".into(),
            ts_ms: 3,
        }),
        stages: None,
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
        net: Default::default(),
        stages: Default::default(),
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

#[tokio::test]
async fn one_ipv6_64_is_one_anonymous_client() {
    let nats = Nats::start();
    let (deps, client) = setup(&nats, "2/1/60000", 10).await;
    let js = common::observer_js(&nats).await;
    let routes = moat_edge::routes(deps, client);
    let body = r#"{"code":"1"}"#;
    // Two addresses of one /64 share its bucket (and its queue) ...
    assert_eq!(post(&routes, "2001:db8:1:2::1", None, body).await.0, 202);
    assert_eq!(
        post(&routes, "2001:db8:1:2:ffff::2", None, body).await.0,
        202
    );
    let (s, json, _) = post(&routes, "2001:db8:1:2::3", None, body).await;
    assert_eq!(
        (s, json["error"]["code"].as_str().unwrap()),
        (429, "rate_limited")
    );
    // ... and the next /64 is another client.
    assert_eq!(post(&routes, "2001:db8:1:3::1", None, body).await.0, 202);
    let runs = js.get_stream(subjects::RUNS_ANON).await.unwrap();
    let per_subject = runs.info_with_subjects("runs.submit.anon.>").await.unwrap();
    let counts: std::collections::HashMap<String, usize> =
        futures::TryStreamExt::try_collect(per_subject)
            .await
            .unwrap();
    assert_eq!(
        counts,
        std::collections::HashMap::from([
            ("runs.submit.anon.6-2001-db8-1-2-0-0-0-0".to_owned(), 2),
            ("runs.submit.anon.6-2001-db8-1-3-0-0-0-0".to_owned(), 1),
        ])
    );
}

#[tokio::test]
async fn allow_listed_tenants_and_addresses_skip_the_limits_and_nobody_else_does() {
    use moat_db as db;
    let nats = Nats::start();
    let mut policy = open_policy("2/1/60000");
    policy.tenant = Rate::parse("2/1/60000").unwrap();
    policy.allow = AllowList::parse(["acme", "198.51.100.0/24"]).unwrap();
    let (deps, client) = common::setup(&nats, policy, queue_limits(10)).await;
    let (database, limits) = (deps.db.clone(), deps.limits.clone());
    let (_, acme) = db::create_api_key(&database, "acme", "standard", None)
        .await
        .unwrap();
    let (_, rival) = db::create_api_key(&database, "rival", "standard", None)
        .await
        .unwrap();
    // As the edge does at start and every 30 s: acme's live keys, by hash.
    assert_eq!(
        moat_edge::allow::refresh(&database, &limits).await.unwrap(),
        1
    );
    let routes = moat_edge::routes(deps, client);
    for _ in 0..10 {
        let resp = warp::test::request()
            .path("/v1/usage")
            .remote_addr(from("192.0.2.7"))
            .header("authorization", format!("Bearer {acme}"))
            .reply(&routes)
            .await;
        assert_eq!(resp.status(), 200);
        assert!(!resp.headers().contains_key("ratelimit-remaining"));
    }
    // Another tenant, from the same address, is limited.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            request(&routes, "GET", "/v1/usage", Some(&rival), "")
                .await
                .0,
        );
    }
    assert_eq!(statuses, vec![200, 200, 429]);
    // Anonymous callers: by address prefix.
    let anon = |ip: &'static str| {
        let routes = routes.clone();
        async move {
            warp::test::request()
                .path("/v1/usage")
                .remote_addr(from(ip))
                .reply(&routes)
                .await
                .status()
                .as_u16()
        }
    };
    for _ in 0..10 {
        assert_eq!(
            anon("198.51.100.77").await,
            401,
            "not limited, just anonymous"
        );
    }
    assert_eq!(
        [
            anon("192.0.2.9").await,
            anon("192.0.2.9").await,
            anon("192.0.2.9").await
        ],
        [401, 401, 429]
    );
}

#[tokio::test]
async fn a_database_that_is_down_gets_a_clear_503_not_a_hang_and_comes_back() {
    let nats = Nats::start();
    let pg = moat_testkit::Postgres::start();
    let (mut deps, client) = setup(&nats, "100/100/1000", 10).await;
    deps.db = moat_db::connect(&pg.url).await.unwrap();
    let routes = moat_edge::routes(deps, client);
    let (status, json, _) = post(&routes, "192.0.2.1", None, r#"{"code":"1"}"#).await;
    assert_eq!(status, 202, "{json}");
    let path = json["status_url"].as_str().unwrap().to_owned();
    let get = |path: String| {
        let routes = routes.clone();
        async move {
            let resp = warp::test::request()
                .path(&path)
                .remote_addr(from("192.0.2.1"))
                .reply(&routes)
                .await;
            let json: serde_json::Value =
                serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null);
            (resp.status().as_u16(), json)
        }
    };
    assert_eq!(get(path.clone()).await.0, 200);

    pg.stop();
    let asked = std::time::Instant::now();
    let (status, json) = get(path.clone()).await;
    assert_eq!(status, 503, "{json}");
    assert_eq!(json["error"]["code"], "unavailable");
    assert_eq!(
        json["error"]["message"],
        "the service is temporarily unavailable; retry shortly"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the answer took {:?}",
        asked.elapsed()
    );
    let (status, ready) = get("/readyz".into()).await;
    assert_eq!((status, ready["database"].clone()), (503, false.into()));

    // Back by itself once the database is.
    pg.restart();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if get(path.clone()).await.0 == 200 {
            break;
        }
        assert!(std::time::Instant::now() < until, "no recovery in 30 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(get("/readyz".into()).await.0, 200);
}
