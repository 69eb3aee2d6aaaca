//! End-to-end: the recorder (in process through `run`, and as its binary)
//! against a real nats-server and real databases. The tests create the
//! streams as the launcher would, publish events and records as the launcher
//! does, and read the results back through the `db` functions the edge uses.

mod common;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use moat_db::{self as db, entity::run_logs};
use moat_queue::{subjects, Role};
use moat_wire::{
    Event, EventBody, FileRef, LogFrame, LogLevel, Outcome, ResultFrame, RunRecord,
    PROTOCOL_VERSION,
};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use tokio_util::sync::CancellationToken;

const FINISHED: u64 = 1_780_000_000_000;

fn run_id(i: usize) -> String {
    format!("{i:032x}")
}

/// Publishes one run as the launcher does: `logs` log events, a file event,
/// the result event, then the final record with message id `<run>-<attempt>`.
async fn publish_run(js: &jetstream::Context, i: usize, tenant: &str, logs: u64) -> RunRecord {
    let run = run_id(i);
    let mut seq = 0;
    let mut bodies: Vec<EventBody> = (0..logs)
        .map(|n| {
            EventBody::Log(LogFrame {
                level: LogLevel::Info,
                msg: format!("line {n}"),
                ts_ms: n,
            })
        })
        .collect();
    let file = FileRef {
        name: "out.png".into(),
        media_type: "image/png".into(),
        size: 100,
    };
    bodies.push(EventBody::File(file.clone()));
    let result = ResultFrame {
        outcome: Outcome::Ok,
        value: Some(serde_json::json!(i)),
        error: None,
        cpu_ms: i as u64 + 1,
        wall_ms: 2 * (i as u64 + 1),
        heap_peak_bytes: 1 << 20,
    };
    bodies.push(EventBody::Result(result.clone()));
    let log_bytes: u64 = (0..logs).map(|n| format!("line {n}").len() as u64).sum();
    for body in bodies {
        seq += 1;
        let event = Event {
            v: PROTOCOL_VERSION,
            run: run.clone(),
            attempt: 1,
            seq,
            body,
            stages: None,
        };
        js.publish(
            subjects::events(&run),
            serde_json::to_vec(&event).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let record = RunRecord {
        v: PROTOCOL_VERSION,
        run: run.clone(),
        tenant: tenant.into(),
        attempt: 1,
        outcome: result.outcome,
        value: result.value,
        error: None,
        cpu_ms: result.cpu_ms,
        wall_ms: result.wall_ms,
        heap_peak_bytes: result.heap_peak_bytes,
        queued_ms: 1,
        events: seq,
        log_bytes,
        files: vec![file],
        net: Default::default(),
        stages: Default::default(),
        submitted_ms: FINISHED - 500,
        finished_ms: FINISHED,
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("{run}-1").as_str());
    js.publish_with_headers(
        subjects::done(tenant),
        headers,
        serde_json::to_vec(&record).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    record
}

/// `GET path` on `addr`; (status, body).
fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((status, body))
}

async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Both consumers have every message acknowledged.
async fn drained(js: &jetstream::Context) -> bool {
    for (stream, consumer) in [
        (subjects::RUN_EVENTS, "recorder-events"),
        (subjects::RUN_RESULTS, "recorder-results"),
    ] {
        let Ok(stream) = js.get_stream(stream).await else {
            return false;
        };
        match stream.consumer_info(consumer).await {
            Ok(info) if info.num_pending == 0 && info.num_ack_pending == 0 => {}
            _ => return false,
        }
    }
    true
}

#[tokio::test]
async fn records_runs_from_nats_and_terminates_malformed_messages() {
    let nats = moat_testkit::Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    let db = db::connect(&url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = listener.local_addr().unwrap();
    let config = <moat_recorder::config::Config as clap::Parser>::try_parse_from(
        [
            "moat-recorder",
            "--database-url",
            &url,
            "--ack-wait-ms",
            "1000",
        ]
        .map(String::from)
        .into_iter()
        .chain(nats.args(Role::Recorder)),
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let recorder = tokio::spawn(moat_recorder::run(config, listener, shutdown.clone()));

    // No streams yet: the recorder waits, not ready.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = tokio::task::spawn_blocking(move || http_get(metrics_addr, "/healthz"));
    assert_eq!(health.await.unwrap().unwrap().0, 503);
    // The test publishes as a launcher and looks at the consumers as admin.
    let js = jetstream::new(nats.connect(Role::Launcher).await);
    let observer = jetstream::new(nats.admin().await);
    common::create_streams(&js).await;
    eventually("ready", Duration::from_secs(60), || async move {
        tokio::task::spawn_blocking(move || http_get(metrics_addr, "/healthz"))
            .await
            .unwrap()
            .is_some_and(|(status, _)| status == 200)
    })
    .await;

    // Garbage on both streams, then a real run: the garbage is terminated and
    // the run still recorded.
    js.publish(subjects::events(&run_id(9)), "not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    js.publish(subjects::done("t1"), r#"{"v":1}"#.into())
        .await
        .unwrap()
        .await
        .unwrap();
    let record = publish_run(&js, 1, "t1", 3).await;
    let id = run_id(1);
    eventually("the record", Duration::from_secs(60), || {
        let (db, id) = (&db, &id);
        async move {
            db::get_run(db, id)
                .await
                .unwrap()
                .is_some_and(|v| v.run.status == "done" && v.logs.len() == 3 && v.files.len() == 1)
        }
    })
    .await;
    let view = db::get_run(&db, &id).await.unwrap().unwrap();
    assert_eq!(view.run.tenant, "t1");
    assert_eq!(view.run.outcome.as_deref(), Some("ok"));
    assert_eq!(view.run.value.as_deref(), Some("1"));
    assert_eq!(view.run.events, Some(5));
    assert_eq!(view.run.cpu_ms, Some(2));
    let msgs: Vec<_> = view.logs.iter().map(|l| l.msg.as_str()).collect();
    assert_eq!(msgs, ["line 0", "line 1", "line 2"]);
    assert_eq!(view.files[0].key, format!("{id}/1/out.png"));
    let day = db::day_of_ms(FINISHED);
    let usage = db::usage(&db, "t1", &day, &day).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (
            usage[0].runs,
            usage[0].cpu_ms,
            usage[0].wall_ms,
            usage[0].bytes_out
        ),
        (1, 2, 4, record.log_bytes as i64 + 100)
    );
    eventually(
        "every message acknowledged",
        Duration::from_secs(60),
        || drained(&observer),
    )
    .await;
    let (status, text) = tokio::task::spawn_blocking(move || http_get(metrics_addr, "/metrics"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    for line in [
        r#"moat_recorder_messages_total{result="malformed",stream="events"} 1"#,
        r#"moat_recorder_messages_total{result="malformed",stream="results"} 1"#,
        r#"moat_recorder_messages_total{result="applied",stream="results"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    // The file event counts as a duplicate when the record (which lists the
    // file too) was written first.
    let events: u64 = text
        .lines()
        .filter(|l| {
            l.starts_with("moat_recorder_messages_total{") && l.contains(r#"stream="events""#)
        })
        .filter(|l| !l.contains("malformed"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(events, 5, "{text}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), recorder)
        .await
        .expect("the recorder stops on shutdown")
        .unwrap()
        .unwrap();
}

/// The recorder's binary, with its log in `dir`.
fn spawn_recorder(
    nats: &moat_testkit::Nats,
    database: &str,
    metrics_port: u16,
    dir: &std::path::Path,
    n: usize,
) -> Child {
    let log = std::fs::File::create(dir.join(format!("recorder-{n}.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_moat-recorder"))
        .env_clear()
        .envs(nats.env(Role::Recorder))
        .env("MOAT_DATABASE_URL", database)
        .env("MOAT_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("MOAT_RECORDER_ACK_WAIT_MS", "1000")
        // Small transactions, so a kill lands between them.
        .env("MOAT_RECORDER_BATCH", "8")
        .env("MOAT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the recorder binary")
}

fn terminate(child: &mut Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the recorder exited with {status}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the database holds: log lines, (status, excerpt lines, files) per
/// run, and the tenant's usage for the day.
type Totals = (u64, Vec<(String, i64, i64)>, (i64, i64, i64, i64));

const RUNS: usize = 20;
const LOGS: u64 = 40;

async fn totals(db: &DatabaseConnection) -> Totals {
    let lines = run_logs::Entity::find().count(db).await.unwrap();
    let mut runs = Vec::new();
    for i in 0..RUNS {
        if let Some(v) = db::get_run(db, &run_id(i)).await.unwrap() {
            runs.push((v.run.status, v.run.excerpt_lines, v.files.len() as i64));
        }
    }
    let day = db::day_of_ms(FINISHED);
    let usage = db::usage(db, "t1", &day, &day)
        .await
        .unwrap()
        .first()
        .map(|u| (u.runs, u.cpu_ms, u.wall_ms, u.bytes_out))
        .unwrap_or_default();
    (lines, runs, usage)
}

/// The usage `records` add up to: runs, CPU, wall time, bytes out.
fn expected_usage(records: &[RunRecord]) -> (i64, i64, i64, i64) {
    (
        records.len() as i64,
        records.iter().map(|r| r.cpu_ms as i64).sum::<i64>(),
        records.iter().map(|r| r.wall_ms as i64).sum::<i64>(),
        records
            .iter()
            .map(|r| (r.log_bytes + 100) as i64)
            .sum::<i64>(),
    )
}

/// Whether all `RUNS` runs are recorded, each exactly once.
fn complete(t: &Totals, usage: (i64, i64, i64, i64)) -> bool {
    t.0 == RUNS as u64 * LOGS
        && t.1.len() == RUNS
        && t.1
            .iter()
            .all(|r| *r == ("done".to_owned(), LOGS as i64, 1))
        && t.2 == usage
}

async fn restart_mid_stream(url: &str) {
    let nats = moat_testkit::Nats::start();
    let dir = tempfile::tempdir().unwrap();
    // Migrate before any recorder starts, so the test can read at once.
    let db = db::connect(url).await.unwrap();
    // The test publishes as a launcher and looks at the consumers as admin.
    let js = jetstream::new(nats.connect(Role::Launcher).await);
    let observer = jetstream::new(nats.admin().await);
    common::create_streams(&js).await;
    let mut records = Vec::new();
    for i in 0..RUNS {
        records.push(publish_run(&js, i, "t1", LOGS).await);
    }
    let expected_usage = expected_usage(&records);
    let complete = |t: &Totals| complete(t, expected_usage);

    // First recorder: SIGKILL as soon as anything is written.
    let port = moat_testkit::free_port();
    let mut first = spawn_recorder(&nats, url, port, dir.path(), 1);
    eventually("the first writes", Duration::from_secs(60), || {
        let db = &db;
        async move { run_logs::Entity::find().count(db).await.unwrap() > 0 }
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let at_kill = totals(&db).await;
    eprintln!(
        "killed with {} of {} log lines and usage {:?} written",
        at_kill.0,
        RUNS as u64 * LOGS,
        at_kill.2
    );

    // Second: finishes, counting nothing twice.
    let mut second = spawn_recorder(&nats, url, port, dir.path(), 2);
    eventually("all runs recorded", Duration::from_secs(60), || {
        let db = &db;
        async move { complete(&totals(db).await) }
    })
    .await;
    eventually(
        "every message acknowledged",
        Duration::from_secs(60),
        || drained(&observer),
    )
    .await;
    terminate(&mut second);
    let after = totals(&db).await;
    assert!(complete(&after), "{after:?}");

    // Third: with its consumers deleted, it replays both streams from the
    // start; every write is a duplicate.
    for (stream, consumer) in [
        (subjects::RUN_EVENTS, "recorder-events"),
        (subjects::RUN_RESULTS, "recorder-results"),
    ] {
        observer
            .get_stream(stream)
            .await
            .unwrap()
            .delete_consumer(consumer)
            .await
            .unwrap();
    }
    let mut third = spawn_recorder(&nats, url, port, dir.path(), 3);
    eventually("the replay", Duration::from_secs(60), || drained(&observer)).await;
    let metrics = http_get(([127, 0, 0, 1], port).into(), "/metrics")
        .unwrap()
        .1;
    let duplicates =
        format!(r#"moat_recorder_messages_total{{result="duplicate",stream="results"}} {RUNS}"#);
    assert!(metrics.contains(&duplicates), "{metrics}");
    // Every log and file event is a duplicate; result events write nothing
    // and count as applied.
    let duplicates = format!(
        r#"moat_recorder_messages_total{{result="duplicate",stream="events"}} {}"#,
        RUNS as u64 * (LOGS + 1)
    );
    assert!(metrics.contains(&duplicates), "{metrics}");
    terminate(&mut third);
    assert_eq!(totals(&db).await, after);
    db.close().await.unwrap();
}

#[tokio::test]
async fn restart_mid_stream_loses_and_duplicates_nothing_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    restart_mid_stream(&common::sqlite_url(dir.path())).await;
}

#[tokio::test]
async fn restart_mid_stream_loses_and_duplicates_nothing_postgres() {
    let pg = moat_testkit::Postgres::start();
    let url = common::fresh_database(&pg).await;
    restart_mid_stream(&url).await;
}

#[tokio::test]
async fn a_database_down_for_30_s_loses_nothing_and_the_recorder_still_stops() {
    let pg = moat_testkit::Postgres::start();
    let url = common::fresh_database(&pg).await;
    let nats = moat_testkit::Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let db = db::connect(&url).await.unwrap();
    // The test publishes as a launcher and looks at the consumers as admin.
    let js = jetstream::new(nats.connect(Role::Launcher).await);
    let observer = jetstream::new(nats.admin().await);
    common::create_streams(&js).await;
    let port = moat_testkit::free_port();
    let mut recorder = spawn_recorder(&nats, &url, port, dir.path(), 1);
    let mut records = Vec::new();
    for i in 0..RUNS / 2 {
        records.push(publish_run(&js, i, "t1", LOGS).await);
    }
    eventually("the first half recorded", Duration::from_secs(60), || {
        let db = &db;
        async move { totals(db).await.1.len() == RUNS / 2 }
    })
    .await;
    db.close().await.unwrap();

    // The database goes away for 30 s while the other half of the runs
    // happens; the recorder keeps them unacknowledged and does not die.
    pg.stop();
    let down = Instant::now();
    for i in RUNS / 2..RUNS {
        records.push(publish_run(&js, i, "t1", LOGS).await);
    }
    while down.elapsed() < Duration::from_secs(30) {
        assert!(
            recorder.try_wait().unwrap().is_none(),
            "the recorder died while the database was down"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    pg.restart();

    // Everything is recorded once, by the same recorder, without a restart.
    let db = db::connect(&url).await.unwrap();
    let usage = expected_usage(&records);
    eventually("every run recorded", Duration::from_secs(90), || {
        let db = &db;
        async move { complete(&totals(db).await, usage) }
    })
    .await;
    eventually(
        "every message acknowledged",
        Duration::from_secs(60),
        || drained(&observer),
    )
    .await;
    terminate(&mut recorder);
    db.close().await.unwrap();
}
