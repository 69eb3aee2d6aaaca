//! moat on a 3-node NATS cluster on loopback (`moat up --nats-nodes 3`:
//! JetStream, every stream kept on 3 servers). Under a steady stream of
//! submissions one node is killed and held down for a while, then started
//! again; then the node leading the runs stream. Every accepted run
//! completes and is recorded once, and the edge answers every submission at
//! once: 202, or a JSON 503 only around a node's loss, never a hang. Needs
//! root and the rootfs (`just rootfs`).

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moat_testkit::is_root;
use support::{free_ports, key_for, text, Up};

/// How long the edge may take to answer a submission: far more than it
/// does, far less than a hang.
const ANSWER: Duration = Duration::from_secs(20);
/// After a node is lost (and after it is back), how long the cluster may
/// take to elect leaders and catch up before every submission succeeds.
const SETTLE: Duration = Duration::from_secs(10);

/// One HTTP/1.1 exchange with `Connection: close`: the status and body, or
/// `None` if nothing answered within [`ANSWER`].
fn http(url: &str, key: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(ANSWER)).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// One submission and what the edge said.
struct Answer {
    n: usize,
    at: Instant,
    took: Duration,
    reply: Option<(u16, String)>,
}

fn script(n: usize) -> String {
    format!("console.log('run {n}'); export default {n};")
}

/// Submits a run every 150 ms until `stop`.
fn submitter(url: &str, key: &str, stop: &AtomicBool, answers: &Mutex<Vec<Answer>>) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let body = serde_json::json!({ "code": script(n), "timeout_ms": 10_000 }).to_string();
        let at = Instant::now();
        let reply = http(url, key, "POST", "/v1/runs", &body);
        answers.lock().unwrap().push(Answer {
            n,
            at,
            took: at.elapsed(),
            reply,
        });
        n += 1;
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// The admin's password, from the run directory `moat up` made.
fn admin_password(up: &Up) -> String {
    let text = std::fs::read_to_string(up.dir.path().join("nats/users.env")).unwrap();
    moat_queue::connection::parse_passwords(&text)["admin"].clone()
}

/// The name of the node leading `stream` (`nats-<i>`).
fn stream_leader(url: &str, password: &str, stream: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client =
            async_nats::ConnectOptions::with_user_and_password("admin".into(), password.into())
                .connect(moat_queue::connection::servers(url).unwrap())
                .await
                .unwrap();
        let js = async_nats::jetstream::new(client);
        let until = Instant::now() + SETTLE * 3;
        loop {
            if let Ok(mut s) = js.get_stream(stream).await {
                if let Ok(info) = s.info().await {
                    let cluster = info.cluster.clone().unwrap_or_default();
                    if let Some(leader) = cluster.leader.filter(|_| cluster.replicas.len() == 2) {
                        return leader;
                    }
                }
            }
            assert!(
                Instant::now() < until,
                "{stream} has no leader and two replicas"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// Kills node `name` (listening on `port`) and keeps it down for `down`:
/// its port is taken, so `moat up`'s restarts fail until it is let go.
/// When it was killed and when it is serving again.
fn kill_and_hold_down(up: &mut Up, name: &str, port: u16, down: Duration) -> (Instant, Instant) {
    let pids = up.pids(name);
    let pid = *pids
        .last()
        .unwrap_or_else(|| panic!("no {name}:\n{}", up.log()));
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    let killed = Instant::now();
    let mut squatter = None;
    while squatter.is_none() && killed.elapsed() < Duration::from_secs(5) {
        squatter = TcpListener::bind(("127.0.0.1", port)).ok();
    }
    assert!(squatter.is_some(), "{name}'s port {port} was not freed");
    std::thread::sleep(down);
    drop(squatter);
    let prefix = format!("{name} ");
    up.wait_for(&format!("{name} started again"), pids.len() + 1, |l| {
        l.starts_with(&prefix) && l.contains("started (pid")
    });
    let until = Instant::now() + SETTLE * 3;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{name} did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
    (killed, Instant::now())
}

#[test]
fn runs_survive_losing_a_nats_node_and_the_stream_leader() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    let nats_port = free_ports(6);
    let mut up = Up::start_args(
        &["--nats-nodes", "3", "--nats-port", &nats_port.to_string()],
        // Runs back up while a leader is elected (and retries back off):
        // room for every submission, so a 429 would be a fault too.
        &[("MOAT_ACK_WAIT_MS", "3000"), ("MOAT_TENANT_QUEUE", "1000")],
    );
    up.wait_for("\"moat is up\"", 1, |l| l.contains("moat is up."));
    let key = key_for(&up, "t1");
    let url: String = (0..3)
        .map(|i| format!("nats://127.0.0.1:{}", nats_port + i))
        .collect::<Vec<_>>()
        .join(",");
    let password = admin_password(&up);
    let port_of = |name: &str| nats_port + name.trim_start_matches("nats-").parse::<u16>().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let submitting = {
        let (edge, key, stop, answers) =
            (up.url.clone(), key.clone(), stop.clone(), answers.clone());
        std::thread::spawn(move || submitter(&edge, &key, &stop, &answers))
    };
    std::thread::sleep(Duration::from_secs(3));
    // First a node that does not lead the runs stream, then the one that
    // does (a new leader is elected), each down for 5 s.
    let mut faults = Vec::new();
    let leader = stream_leader(&url, &password, "RUNS");
    let follower = (0..3)
        .map(|i| format!("nats-{i}"))
        .find(|n| *n != leader)
        .unwrap();
    faults.push(kill_and_hold_down(
        &mut up,
        &follower,
        port_of(&follower),
        Duration::from_secs(5),
    ));
    std::thread::sleep(SETTLE);
    let leader = stream_leader(&url, &password, "RUNS");
    faults.push(kill_and_hold_down(
        &mut up,
        &leader,
        port_of(&leader),
        Duration::from_secs(5),
    ));
    std::thread::sleep(SETTLE);
    stop.store(true, Ordering::SeqCst);
    submitting.join().unwrap();

    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let near_a_fault = |at: Instant| {
        faults
            .iter()
            .any(|(killed, back)| at + ANSWER >= *killed && at <= *back + 2 * SETTLE)
    };
    let mut accepted = Vec::new();
    for a in &answers {
        assert!(a.took < ANSWER, "submission {} hung for {:?}", a.n, a.took);
        let (status, body) = a
            .reply
            .clone()
            .unwrap_or_else(|| panic!("submission {} got no answer\n{}", a.n, up.log()));
        match status {
            202 => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                accepted.push((a.n, v["id"].as_str().unwrap().to_owned()));
            }
            503 => {
                let v: serde_json::Value = serde_json::from_str(&body).expect("a JSON 503");
                assert_eq!(v["error"]["code"], "unavailable", "{body}");
                assert!(near_a_fault(a.at), "a 503 far from any fault: {body}");
            }
            other => panic!("submission {}: {other} {body}", a.n),
        }
    }
    // The cluster kept working with a node down: runs were accepted while
    // each node was out, not only before and after.
    for (killed, back) in &faults {
        let during = answers
            .iter()
            .filter(|a| a.at > *killed + Duration::from_secs(2) && a.at < *back)
            .filter(|a| matches!(a.reply, Some((202, _))))
            .count();
        assert!(during > 0, "nothing accepted while a node was down");
    }
    let refused = answers.len() - accepted.len();
    eprintln!(
        "{} submissions: {} accepted, {refused} answered 503; slowest answer {:?}",
        answers.len(),
        accepted.len(),
        answers.iter().map(|a| a.took).max().unwrap_or_default()
    );
    assert!(
        accepted.len() >= 40,
        "only {} runs accepted",
        accepted.len()
    );

    // Every accepted run ran to `ok` and has one record, holding one
    // attempt's log line (a run retried after a lost server has its last
    // attempt's, not a replay's lines added).
    let until = Instant::now() + Duration::from_secs(180);
    for (n, id) in &accepted {
        // Records and log lines come from two streams, each recorded as it
        // arrives: a record may be in before its lines, never for good.
        let mut last = None;
        let record = loop {
            if let Some((200, body)) = http(&up.url, &key, "GET", &format!("/v1/runs/{id}"), "") {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let logged = v["logs"].as_array().is_some_and(|l| !l.is_empty());
                if v["status"] == "done" && (logged || v["log_bytes"] == 0) {
                    break v;
                }
                last = Some(v);
            }
            assert!(
                Instant::now() < until,
                "run {n} ({id}) not done with its log: {last:?}\n{}",
                text(up.log().as_bytes())
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(record["outcome"], "ok", "run {n}: {record}");
        assert_eq!(record["value"], serde_json::json!(n), "run {n}: {record}");
        let logs: Vec<&str> = record["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["msg"].as_str().unwrap())
            .collect();
        assert_eq!(logs, vec![format!("run {n}")], "run {n}: {record}");
    }
}
