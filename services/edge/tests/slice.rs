//! The vertical slice: HTTP submit at the edge → NATS → a launcher (in this
//! process) → a gVisor sandbox through a real containerd → events back over
//! the edge's WebSocket → the recorder (in this process) writes the record →
//! the edge serves the record and the saved file. Needs root.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use moat_edge::rate_limit::{Policy, Rate, RateLimits};
use moat_edge::routes::Deps;
use moat_edge::token::Tokens;
use moat_wire::{Event, EventBody, Outcome};
use tokio_util::sync::CancellationToken;

use moat_queue::Role;
use moat_testkit::{root, Containerd, Nats};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_submitted_over_http_runs_in_gvisor_and_streams_back() {
    let nats = Nats::start();
    let ctr = Containerd::start();
    let files = tempfile::tempdir().unwrap();
    let launcher_config = moat_launcher::config::Config::try_parse_from(
        ["moat-launcher".to_owned()]
            .into_iter()
            .chain(nats.args(Role::Launcher))
            .chain([
                format!("--containerd-socket={}", ctr.socket.display()),
                "--namespace=moat-slice".to_owned(),
                format!("--runtime-binary={}", ctr.runtime_binary().display()),
                format!("--runtime-root={}", ctr.runtime_root().display()),
                format!("--rootfs={}", root().join(".run/rootfs").display()),
                format!("--io-dir={}", ctr.io_dir().display()),
                format!("--files-dir={}", files.path().display()),
                "--slots=1".to_owned(),
            ]),
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let launcher = tokio::spawn(moat_launcher::run(
        launcher_config,
        metrics,
        shutdown.clone(),
    ));

    let client = nats.connect(Role::Edge).await;
    let js = async_nats::jetstream::new(client.clone());
    // The launcher creates the streams as it starts (the edge's user may
    // not look at the runs stream: the test does, as admin).
    let observer = async_nats::jetstream::new(nats.admin().await);
    for _ in 0..200 {
        if observer
            .get_stream(moat_queue::subjects::RUNS)
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open = Rate::parse("100/100/1000").unwrap();
    let db_file = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/moat.db?mode=rwc", db_file.path().display());
    let db = moat_db::connect(&db_url).await.unwrap();
    let recorder_config = moat_recorder::config::Config::try_parse_from(
        [
            "moat-recorder".to_owned(),
            format!("--database-url={db_url}"),
        ]
        .into_iter()
        .chain(nats.args(Role::Recorder)),
    )
    .unwrap();
    let recorder_metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recorder = tokio::spawn(moat_recorder::run(
        recorder_config,
        recorder_metrics,
        shutdown.clone(),
    ));
    let deps = Deps {
        js,
        db,
        metrics: moat_edge::metrics::Metrics::new(),
        store: moat_store::open_store(&moat_store::StoreConfig::Local {
            dir: files.path().to_owned(),
        })
        .await
        .unwrap(),
        limits: Arc::new(RateLimits::new(Policy {
            tenant: open,
            anonymous: open,
            path: open,
            client_path: open,
            allow: moat_edge::allow::AllowList::default(),
            max_buckets: 100,
        })),
        tokens: Tokens::new(b"slice test secret, long enough"),
        trusted_proxies: Arc::new(vec![]),
        max_body_bytes: 1 << 20,
        anon_max_timeout_ms: 10_000,
        anon_max_memory_mb: 128,
        anon_browser: true,
        anon_max_browser_timeout_ms: 20_000,
        tenant_max_timeout_ms: 60_000,
        tenant_max_memory_mb: 512,
        playground: Default::default(),
        sessions: moat_edge::sessions::SessionLimits::new(8),
        prefixes: moat_queue::Prefixes::default(),
        body_timeout: Duration::from_secs(15),
        shutdown: shutdown.clone(),
    };
    let routes = moat_edge::routes(deps, client);

    let code = r#"
        import { save } from 'moat:files';
        console.log('hello from gvisor');
        save('answer.txt', 'forty-two');
        export default async () => { await new Promise(r => setTimeout(r, 10)); return 6 * 7; };
    "#;
    let resp = warp::test::request()
        .method("POST")
        .path("/v1/runs")
        .remote_addr("127.0.0.1:5555".parse().unwrap())
        .json(&serde_json::json!({"code": code, "timeout_ms": 5000}))
        .reply(&routes)
        .await;
    assert_eq!(resp.status(), 202);
    let accepted: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    let mut ws = warp::test::ws()
        .path(accepted["events_url"].as_str().unwrap())
        .handshake(routes.clone())
        .await
        .expect("handshake");
    let mut events = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.recv())
            .await
            .expect("events in time");
        let Ok(msg) = msg else { break };
        let event: Event = serde_json::from_str(msg.to_str().unwrap()).unwrap();
        let done = matches!(event.body, EventBody::Result(_));
        events.push(event);
        if done {
            break;
        }
    }
    assert!(
        matches!(&events[0].body, EventBody::Log(l) if l.msg == "hello from gvisor"),
        "{events:?}"
    );
    assert!(matches!(&events[1].body, EventBody::File(f) if f.name == "answer.txt" && f.size == 9));
    let EventBody::Result(result) = &events[2].body else {
        panic!("{events:?}")
    };
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.value, Some(serde_json::json!(42)));
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    tokio::time::timeout(Duration::from_secs(5), ws.recv_closed())
        .await
        .unwrap()
        .unwrap();

    // The recorder writes the record; the edge serves it and the file.
    let id = accepted["id"].as_str().unwrap();
    let token = accepted["token"].as_str().unwrap();
    let mut record = serde_json::Value::Null;
    for _ in 0..300 {
        let resp = warp::test::request()
            .path(&format!("/v1/runs/{id}?token={token}"))
            .reply(&routes)
            .await;
        record = serde_json::from_slice(resp.body()).unwrap();
        if record["status"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(record["status"], "done", "{record}");
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["value"], 42);
    assert_eq!(record["logs"][0]["msg"], "hello from gvisor");
    // The link carries the run token, so it works as it is.
    let url = record["files"][0]["url"].as_str().unwrap();
    assert_eq!(url, format!("/v1/runs/{id}/files/answer.txt?token={token}"));
    let resp = warp::test::request().path(url).reply(&routes).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body().as_ref(), b"forty-two");
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.headers()["content-disposition"], "attachment");

    shutdown.cancel();
    launcher.await.unwrap().unwrap();
    recorder.await.unwrap().unwrap();
}
