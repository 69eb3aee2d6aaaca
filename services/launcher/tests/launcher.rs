//! The launcher end to end, as a separate process: a real nats-server,
//! containerd and runsc, runs submitted on `runs.submit.<tenant>`, events read
//! back from RUN_EVENTS and final records from RUN_RESULTS. Needs root.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use moat_queue::subjects;
use moat_queue::{ClientKey, Role};
use moat_testkit::{free_port, root, Containerd, Nats};
use moat_wire::{Event, EventBody, Job, Outcome, RunRecord, RunRequest};

/// One `moat-launcher` process, killed on drop.
struct Launcher {
    child: Child,
    metrics: String,
}

impl Launcher {
    fn start(
        nats: &Nats,
        ctr: &Containerd,
        files: &std::path::Path,
        slots: usize,
        ack_wait_ms: u64,
    ) -> Self {
        Self::start_with(nats, ctr, files, slots, ack_wait_ms, &[])
    }

    fn start_with(
        nats: &Nats,
        ctr: &Containerd,
        files: &std::path::Path,
        slots: usize,
        ack_wait_ms: u64,
        extra: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_moat-launcher"))
            .env_clear()
            .envs(nats.env(Role::Launcher))
            .env("MOAT_CONTAINERD_SOCKET", &ctr.socket)
            .env("MOAT_NAMESPACE", "moat-e2e")
            .env("MOAT_RUNTIME_BINARY", ctr.runtime_binary())
            .env("MOAT_RUNTIME_ROOT", ctr.runtime_root())
            .env("MOAT_ROOTFS", root().join(".run/rootfs"))
            .env("MOAT_IO_DIR", ctr.io_dir())
            .env("MOAT_FILES_DIR", files)
            .env("MOAT_SLOTS", slots.to_string())
            .env("MOAT_ACK_WAIT_MS", ack_wait_ms.to_string())
            .env("MOAT_METRICS_ADDR", format!("127.0.0.1:{port}"))
            .env("MOAT_LOG", "moat_launcher=info")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .spawn()
            .expect("start moat-launcher");
        let launcher = Self {
            child,
            metrics: format!("127.0.0.1:{port}"),
        };
        launcher.wait_ready();
        launcher
    }

    /// Polls /healthz until it answers 200 (bounded).
    fn wait_ready(&self) {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if http_get(&self.metrics, "/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the launcher did not become ready");
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A bare HTTP/1.1 GET (the tests need no HTTP client crate).
fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The test's side: it submits as the edge does, and reads the streams
/// with every right.
struct Client {
    /// As the edge's user.
    js: jetstream::Context,
    /// As the admin user.
    observer: jetstream::Context,
}

impl Client {
    async fn connect(nats: &Nats) -> Self {
        Self {
            js: jetstream::new(nats.connect(Role::Edge).await),
            observer: jetstream::new(nats.admin().await),
        }
    }

    async fn submit(&self, tenant: &str, code: &str, timeout_ms: u64) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut job = Job::new(code);
        job.timeout_ms = timeout_ms;
        let req = RunRequest::new(&id, tenant, job);
        moat_queue::submit(&self.js, &ClientKey::Tenant(tenant.into()), &req)
            .await
            .unwrap();
        id
    }

    /// Reads `stream` from its start, filtered to `subject`, until `done`
    /// says so after a message or `within` has passed.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        stream: &str,
        subject: String,
        within: Duration,
        mut done: impl FnMut(&[T]) -> bool,
    ) -> Vec<T> {
        let stream = self.observer.get_stream(stream).await.unwrap();
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: subject,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut out = Vec::new();
        let until = Instant::now() + within;
        while Instant::now() < until {
            let next = tokio::time::timeout(until - Instant::now(), messages.next()).await;
            let Ok(Some(Ok(msg))) = next else { break };
            out.push(serde_json::from_slice(&msg.payload).unwrap());
            if done(&out) {
                break;
            }
        }
        out
    }

    /// Every event of the run until (and including) the result of the
    /// attempt that produced one, in stream order.
    async fn events(&self, run: &str, within: Duration) -> Vec<Event> {
        let is_result =
            |e: &[Event]| matches!(e.last().map(|e| &e.body), Some(EventBody::Result(_)));
        self.read(
            subjects::RUN_EVENTS,
            subjects::events(run),
            within,
            is_result,
        )
        .await
    }

    /// The run's first event (it is running).
    async fn first_event(&self, run: &str, within: Duration) -> Event {
        let mut first = self
            .read(
                subjects::RUN_EVENTS,
                subjects::events(run),
                within,
                |_: &[Event]| true,
            )
            .await;
        first.pop().expect("an event in time")
    }

    /// Final records for `tenant`, by run id, until `count` have arrived.
    async fn records(
        &self,
        tenant: &str,
        count: usize,
        within: Duration,
    ) -> HashMap<String, RunRecord> {
        let records = self
            .read(
                subjects::RUN_RESULTS,
                subjects::done(tenant),
                within,
                |r: &[RunRecord]| r.len() >= count,
            )
            .await;
        records.into_iter().map(|r| (r.run.clone(), r)).collect()
    }
}

fn files_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("moat-files")
        .tempdir()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_streams_ordered_events_then_its_record() {
    let (nats, ctr, files) = (Nats::start(), Containerd::start(), files_dir());
    let launcher = Launcher::start(&nats, &ctr, files.path(), 2, 30_000);
    let client = Client::connect(&nats).await;

    let code = r#"
        import { save } from 'moat:files';
        console.log('one');
        await new Promise(r => setTimeout(r, 10));
        console.error('two');
        save('report.json', JSON.stringify({ ok: true }));
        export default () => ({ answer: 42 });
    "#;
    let id = client.submit("acme", code, 5000).await;
    let events = client.events(&id, Duration::from_secs(30)).await;
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "{events:?}");
    assert!(events.iter().all(|e| e.run == id && e.attempt == 1));
    assert!(matches!(&events[0].body, EventBody::Log(l) if l.msg == "one"));
    assert!(matches!(&events[1].body, EventBody::Log(l) if l.msg == "two"));
    assert!(
        matches!(&events[2].body, EventBody::File(f) if f.name == "report.json" && f.media_type == "application/json" && f.size == 11)
    );
    let EventBody::Result(result) = &events[3].body else {
        panic!("last event is the result")
    };
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.value, Some(serde_json::json!({"answer": 42})));
    // The result says where the time went, up to the result; the record
    // adds the teardown that followed it.
    let stages = events[3].stages.expect("the result carries its stages");
    assert!(stages.execution_us >= 10_000, "{stages:?}");
    assert_eq!(stages.teardown_us, None);
    assert!(events[..3].iter().all(|e| e.stages.is_none()));

    let records = client.records("acme", 1, Duration::from_secs(10)).await;
    let record = &records[&id];
    assert_eq!(record.stages.execution_us, stages.execution_us);
    assert!(
        record.stages.teardown_us.is_some_and(|t| t > 0),
        "{record:?}"
    );
    assert_eq!(record.outcome, Outcome::Ok);
    assert_eq!(record.attempt, 1);
    assert_eq!(record.events, 4);
    assert_eq!(record.files.len(), 1);
    assert_eq!(record.log_bytes, 6);

    use moat_launcher::store::ObjectStore;
    let store = moat_launcher::store::LocalStore::open(files.path()).unwrap();
    let stored = store
        .get(&format!("{id}/1/report.json"))
        .await
        .unwrap()
        .expect("the file is stored");
    assert_eq!(&stored.data[..], b"{\"ok\":true}");
    assert_eq!(stored.content_type, "application/json");

    let metrics = http_get(&launcher.metrics, "/metrics").unwrap();
    assert!(
        metrics.contains("moat_launcher_runs_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("moat_launcher_stage_seconds_count{stage=\"execution\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("moat_launcher_sandbox_seconds_count{step=\"teardown\"} 1"));
}

/// Polls the launcher's /metrics until `line` appears (bounded).
fn until_metric(launcher: &Launcher, line: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = http_get(&launcher.metrics, "/metrics").unwrap_or_default();
        if metrics.lines().any(|l| l == line) {
            return;
        }
        assert!(Instant::now() < until, "no {line:?} in {metrics}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_take_warm_sandboxes_and_a_stopped_launcher_leaves_none() {
    let (nats, ctr, files) = (Nats::start(), Containerd::start(), files_dir());
    let pool = [("MOAT_POOL_MIN", "2"), ("MOAT_POOL_MAX", "2")];
    let mut launcher = Launcher::start_with(&nats, &ctr, files.path(), 2, 30_000, &pool);
    let client = Client::connect(&nats).await;
    let full = "moat_launcher_pool_ready{class=\"64\"} 2";
    until_metric(&launcher, full);
    let id = client.submit("warm", "export default 'warm'", 5000).await;
    let records = client.records("warm", 1, Duration::from_secs(30)).await;
    let record = &records[&id];
    assert_eq!(record.value, Some(serde_json::json!("warm")), "{record:?}");
    assert!(record.stages.warm, "{record:?}");
    assert_eq!(record.stages.start_us, 0, "{record:?}");
    until_metric(
        &launcher,
        "moat_launcher_pool_acquired_total{source=\"warm\"} 1",
    );
    // Refilled, then stopped with a full pool: nothing is left behind.
    until_metric(&launcher, full);
    assert!(launcher.terminate().success());
    let mut config = common::sandbox_config(&ctr);
    config.namespace = "moat-e2e".into();
    config.instance = "launcher-0".into();
    let sandboxes = moat_launcher::sandbox::Sandboxes::connect(config)
        .await
        .unwrap();
    assert_eq!(sandboxes.list().await.unwrap(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_runs_all_complete() {
    let (nats, ctr, files) = (Nats::start(), Containerd::start(), files_dir());
    let _launcher = Launcher::start(&nats, &ctr, files.path(), 2, 30_000);
    let client = Client::connect(&nats).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let code = format!("export default () => {i} * 2;");
        ids.push((client.submit("many", &code, 5000).await, i));
    }
    let records = client.records("many", 20, Duration::from_secs(120)).await;
    assert_eq!(records.len(), 20);
    for (id, i) in ids {
        let r = &records[&id];
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(r.value, Some(serde_json::json!(i * 2)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_launchers_run_completes_on_another_as_attempt_two() {
    let (nats, ctr, files) = (Nats::start(), Containerd::start(), files_dir());
    let mut first = Launcher::start(&nats, &ctr, files.path(), 1, 2_000);
    let client = Client::connect(&nats).await;
    let code = "console.log('started'); await new Promise(r => setTimeout(r, 1500)); export default 'finished';";
    let id = client.submit("crash", code, 10_000).await;

    // Wait until the run is visibly running, then kill its launcher outright.
    let early = client.first_event(&id, Duration::from_secs(20)).await;
    assert!(
        matches!(&early.body, EventBody::Log(l) if l.msg == "started"),
        "{early:?}"
    );
    first.kill9();

    // The new launcher sweeps the orphaned sandbox and, once the ack wait has
    // passed, gets the run again.
    let _second = Launcher::start(&nats, &ctr, files.path(), 1, 2_000);
    let records = client.records("crash", 1, Duration::from_secs(60)).await;
    let record = &records[&id];
    assert_eq!(record.outcome, Outcome::Ok, "{record:?}");
    assert_eq!(record.attempt, 2);
    assert_eq!(record.value, Some(serde_json::json!("finished")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_running_job_before_exiting() {
    let (nats, ctr, files) = (Nats::start(), Containerd::start(), files_dir());
    let mut launcher = Launcher::start(&nats, &ctr, files.path(), 1, 30_000);
    let client = Client::connect(&nats).await;
    let code = "console.log('started'); await new Promise(r => setTimeout(r, 800)); export default 'drained';";
    let id = client.submit("drain", code, 10_000).await;
    client.first_event(&id, Duration::from_secs(20)).await;
    let status = launcher.terminate();
    assert!(status.success(), "{status:?}");
    let records = client.records("drain", 1, Duration::from_secs(5)).await;
    assert_eq!(records[&id].value, Some(serde_json::json!("drained")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_still_running_after_the_drain_period_goes_back_to_the_queue() {
    let (nats, ctr, files) = (Nats::start(), Containerd::start(), files_dir());
    let mut first = Launcher::start_with(
        &nats,
        &ctr,
        files.path(),
        1,
        30_000,
        &[("MOAT_DRAIN_MS", "300")],
    );
    let client = Client::connect(&nats).await;
    let code = "console.log('started'); await new Promise(r => setTimeout(r, 2000)); export default 'done';";
    let id = client.submit("requeue", code, 10_000).await;
    client.first_event(&id, Duration::from_secs(20)).await;
    assert!(first.terminate().success());
    // Nak'ed, not lost: the next launcher runs it again at once.
    let _second = Launcher::start(&nats, &ctr, files.path(), 1, 30_000);
    let records = client.records("requeue", 1, Duration::from_secs(30)).await;
    let record = &records[&id];
    assert_eq!(record.attempt, 2, "{record:?}");
    assert_eq!(record.value, Some(serde_json::json!("done")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_last_attempt_dies_is_recorded_as_failed() {
    let (nats, ctr, files) = (Nats::start(), Containerd::start(), files_dir());
    let one_try = |instance| [("MOAT_MAX_DELIVER", "1"), ("MOAT_INSTANCE", instance)];
    let mut first = Launcher::start_with(&nats, &ctr, files.path(), 1, 1_000, &one_try("a"));
    let client = Client::connect(&nats).await;
    let code = "console.log('started'); await new Promise(r => setTimeout(r, 5000));";
    let id = client.submit("doomed", code, 10_000).await;
    client.first_event(&id, Duration::from_secs(20)).await;
    // A second launcher on the node (its own instance: it leaves the first's
    // sandbox alone) is listening when the first dies.
    let _second = Launcher::start_with(&nats, &ctr, files.path(), 1, 1_000, &one_try("b"));
    first.kill9();
    // The server gives up on the message after its one delivery, and the
    // surviving launcher's dead-letter task reports it.
    let records = client.records("doomed", 1, Duration::from_secs(30)).await;
    let record = &records[&id];
    assert_eq!(record.outcome, Outcome::Failed, "{record:?}");
    assert!(record
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("could not be completed"));
    // The message is gone from the queue: removed once its record is out
    // (in that order, so a crash between loses no record), so shortly after.
    let mut runs = client.observer.get_stream(subjects::RUNS).await.unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let left = runs.info().await.unwrap().state.messages;
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "{left} message(s) left in the queue"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_flood_is_paced_but_nothing_is_lost() {
    let (nats, ctr, files) = (Nats::start(), Containerd::start(), files_dir());
    let _launcher = Launcher::start(&nats, &ctr, files.path(), 1, 30_000);
    let client = Client::connect(&nats).await;
    let id = client
        .submit(
            "flood",
            "for (let i = 0; i < 1e6; i++) console.log(i);",
            5000,
        )
        .await;
    let t = Instant::now();
    let events = client.events(&id, Duration::from_secs(60)).await;
    // The runner stops the flood at its frame cap; every frame before the cap
    // arrives, in order, and then the result.
    assert_eq!(events.len(), 10_001);
    assert!(events
        .iter()
        .enumerate()
        .all(|(i, e)| e.seq == i as u64 + 1));
    assert!(matches!(&events[9_999].body, EventBody::Log(l) if l.msg == "9999"));
    let EventBody::Result(result) = &events[10_000].body else {
        panic!("ends with the result")
    };
    assert_eq!(result.outcome, Outcome::OutputLimit);
    // 1,000 pass at once, the rest at 2,000 a second.
    assert!(
        t.elapsed() >= Duration::from_secs(4),
        "published in {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_launcher_cannot_read_is_recorded_failed_not_dropped() {
    let (nats, ctr, files) = (Nats::start(), Containerd::start(), files_dir());
    let _launcher = Launcher::start(&nats, &ctr, files.path(), 1, 30_000);
    let client = Client::connect(&nats).await;
    // What a broken (or much newer) edge might publish: not a run request.
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id.as_str());
    client
        .js
        .publish_with_headers(
            subjects::submit(moat_queue::Plan::Tenant, "garbled"),
            headers,
            r#"{"v":1,"id":7}"#.into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    client
        .js
        .client()
        .publish(
            subjects::wake(moat_queue::Plan::Tenant, "garbled"),
            "".into(),
        )
        .await
        .unwrap();
    let records = client.records("garbled", 1, Duration::from_secs(30)).await;
    let record = &records[&id];
    assert_eq!(record.outcome, Outcome::Failed, "{record:?}");
    let message = &record.error.as_ref().unwrap().message;
    assert!(message.contains("cannot be read"), "{message}");
    // Its subscribers see the same ending, and the queue no longer holds it.
    let events = client.events(&id, Duration::from_secs(5)).await;
    assert!(
        matches!(&events.last().unwrap().body, EventBody::Result(r) if r.outcome == Outcome::Failed)
    );
    let mut runs = client.observer.get_stream(subjects::RUNS).await.unwrap();
    assert_eq!(runs.info().await.unwrap().state.messages, 0);
    let metrics = http_get(&_launcher.metrics, "/metrics").unwrap();
    assert!(
        metrics.contains("moat_launcher_unusable_runs_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlogs_do_not_hold_back_a_polite_tenant_or_a_fresh_anonymous_client() {
    let (nats, ctr, files) = (Nats::start(), Containerd::start(), files_dir());
    let _launcher = Launcher::start(&nats, &ctr, files.path(), 2, 30_000);
    let client = Client::connect(&nats).await;
    let slow = "await new Promise(r => setTimeout(r, 1000)); export default 'slow';";
    let submit = |key: ClientKey, code: &'static str| {
        let js = client.js.clone();
        async move {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let tenant = match &key {
                ClientKey::Tenant(t) => t.clone(),
                ClientKey::Anonymous(_) => "anon".to_owned(),
            };
            let req = RunRequest::new(&id, tenant, Job::new(code));
            moat_queue::submit(&js, &key, &req).await.unwrap();
            id
        }
    };
    // Four anonymous addresses with three runs each, and one tenant with
    // 20: 32 runs of a second each, on two slots.
    for n in 0..4u8 {
        let ip = std::net::IpAddr::from([127, 0, 1, n]);
        for _ in 0..3 {
            submit(ClientKey::Anonymous(ip), slow).await;
        }
    }
    for _ in 0..20 {
        submit(ClientKey::Tenant("flood".into()), slow).await;
    }
    // The flood in its steady state: every flooding address has had a turn.
    client
        .read(
            subjects::RUN_RESULTS,
            subjects::done("anon"),
            Duration::from_secs(60),
            |r: &[RunRecord]| r.len() >= 4,
        )
        .await;
    let polite = submit(
        ClientKey::Tenant("polite".into()),
        "export default 'polite';",
    )
    .await;
    let fresh = submit(
        ClientKey::Anonymous(std::net::IpAddr::from([127, 0, 2, 1])),
        "export default 'fresh';",
    )
    .await;
    let t = Instant::now();
    let polite_record = client.records("polite", 1, Duration::from_secs(60)).await;
    let polite_took = t.elapsed();
    let anon = client
        .read(
            subjects::RUN_RESULTS,
            subjects::done("anon"),
            Duration::from_secs(60),
            |r: &[RunRecord]| r.iter().any(|r| r.run == fresh),
        )
        .await;
    let fresh_took = t.elapsed();
    assert_eq!(
        polite_record[&polite].value,
        Some(serde_json::json!("polite"))
    );
    assert!(anon
        .iter()
        .any(|r| r.run == fresh && r.outcome == Outcome::Ok));
    // Each newcomer waits for about one run per slot (a run here is ~1.3 s
    // with its sandbox), not for the backlog (about 20 s of work left on two
    // slots). Loose bounds.
    assert!(
        polite_took < Duration::from_secs(8),
        "the polite tenant waited {polite_took:?}"
    );
    assert!(
        fresh_took < Duration::from_secs(8),
        "the fresh anonymous client waited {fresh_took:?}"
    );
    // Anonymous work never held both slots (its share is one of two): no
    // two anonymous runs overlapped, while the tenant flood ran beside them.
    let spans: Vec<(u64, u64)> = anon
        .iter()
        .filter(|r| r.value == Some(serde_json::json!("slow")))
        .map(|r| (r.finished_ms - r.wall_ms, r.finished_ms))
        .collect();
    assert!(spans.len() >= 2, "{anon:?}");
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            let overlap = a.1.min(b.1).saturating_sub(a.0.max(b.0));
            assert!(
                overlap < 300,
                "two anonymous runs overlapped by {overlap} ms: {spans:?}"
            );
        }
    }
    let flood = client.records("flood", 1, Duration::from_secs(10)).await;
    assert!(
        !flood.is_empty(),
        "tenants found capacity during the anonymous flood"
    );
}
