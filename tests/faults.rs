//! Faults survived, on the real system (`moat up`: nats-server, containerd +
//! runsc, a launcher, the recorder, the edge): services killed outright in
//! the middle of runs, nats-server and containerd killed and restarted. No accepted run
//! is lost or recorded twice, and everything comes back by itself. And
//! `moat up` itself killed outright leaves nothing behind. Needs root and
//! the rootfs (`just rootfs`).

mod support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use moat_testkit::is_root;
use support::{processes_naming, Up};

/// One HTTP/1.1 exchange with `Connection: close`, bounded in time: the
/// status and body, or `None` if nothing answered.
fn http(url: &str, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Submits `code`, retrying while the edge is restarting or answers 503;
/// the run's id and token once accepted.
fn submit(up: &Up, code: &str) -> (String, String) {
    let body = serde_json::json!({ "code": code, "timeout_ms": 10_000 }).to_string();
    let until = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < until {
        match http(&up.url, "POST", "/v1/runs", Some(&body)) {
            Some((202, text)) => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                return (
                    v["id"].as_str().unwrap().into(),
                    v["token"].as_str().unwrap().into(),
                );
            }
            // While a part is down the edge says so, in JSON, at once.
            Some((503, text)) => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("a JSON 503");
                assert_eq!(v["error"]["code"], "unavailable", "{text}");
                last = Some(text);
            }
            other => last = other.map(|(s, t)| format!("{s} {t}")),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "no run accepted within 60 s; last answer: {last:?}\n{}",
        up.log()
    );
}

/// The run's record once it is done.
fn wait_done(up: &Up, id: &str, token: &str, within: Duration) -> serde_json::Value {
    let until = Instant::now() + within;
    let mut last = None;
    while Instant::now() < until {
        if let Some((200, text)) = http(
            &up.url,
            "GET",
            &format!("/v1/runs/{id}?token={token}"),
            None,
        ) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if v["status"] == "done" {
                return v;
            }
            last = Some(v);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("run {id} not done in {within:?}: {last:?}\n{}", up.log());
}

fn kill9(pid: i32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

/// SIGKILLs the newest process of `service` and waits for its restart.
fn kill_and_wait_restart(up: &mut Up, service: &str) {
    let pids = up.pids(service);
    let last = *pids
        .last()
        .unwrap_or_else(|| panic!("no {service} in:\n{}", up.log()));
    kill9(last);
    let prefix = format!("{service} ");
    up.wait_for(&format!("a restarted {service}"), pids.len() + 1, |l| {
        l.starts_with(&prefix) && l.contains("started (pid")
    });
}

fn script(n: usize) -> String {
    format!(
        "console.log('run {n}'); await new Promise(r => setTimeout(r, 1500)); export default {n};"
    )
}

#[test]
fn runs_survive_killed_services_and_a_nats_restart() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    // A short ack wait, so a run whose launcher was killed comes back soon.
    let mut up = Up::start_with(&[("MOAT_ACK_WAIT_MS", "3000")]);
    up.wait_for("\"moat is up\"", 1, |l| l.contains("moat is up."));

    let mut runs: Vec<(usize, String, String)> = Vec::new();
    for n in 0..6 {
        let (id, token) = submit(&up, &script(n));
        runs.push((n, id, token));
    }
    // Mid-stream: the launcher (its runs are redelivered), the recorder
    // (it replays what it had not acknowledged), the edge, and nats-server
    // (JetStream keeps everything on disk), each killed outright.
    std::thread::sleep(Duration::from_millis(800));
    for service in ["launcher-0", "recorder", "edge", "nats", "containerd"] {
        kill_and_wait_restart(&mut up, service);
        let n = runs.len();
        let (id, token) = submit(&up, &script(n));
        runs.push((n, id, token));
    }

    for (n, id, token) in &runs {
        let record = wait_done(&up, id, token, Duration::from_secs(180));
        assert_eq!(record["outcome"], "ok", "run {n}: {record}");
        assert_eq!(record["value"], serde_json::json!(n), "run {n}: {record}");
        // Recorded once: the record holds one attempt's log, not a replay's.
        let logs: Vec<&str> = record["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["msg"].as_str().unwrap())
            .collect();
        assert_eq!(logs, vec![format!("run {n}")], "run {n}: {record}");
    }
}

#[test]
fn killing_moat_up_outright_leaves_nothing_behind() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    let mut up = Up::start();
    up.wait_for("\"moat is up\"", 1, |l| l.contains("moat is up."));
    // A sandbox is running when `moat up` dies.
    let (id, token) = submit(
        &up,
        "console.log('started'); await new Promise(r => setTimeout(r, 20000));",
    );
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let view = http(
            &up.url,
            "GET",
            &format!("/v1/runs/{id}?token={token}"),
            None,
        );
        if view.is_some_and(|(s, b)| s == 200 && b.contains("\"running\"")) {
            break;
        }
        assert!(
            Instant::now() < until,
            "the run never started:\n{}",
            up.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!processes_naming(up.dir.path()).is_empty());
    up.child.kill().unwrap();
    up.child.wait().unwrap();

    // Its services got the parent-death signal and stop by themselves,
    // containerd's wrapper ending the sandboxes it leaves.
    let until = Instant::now() + Duration::from_secs(60);
    let mut left = processes_naming(up.dir.path());
    while !left.is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(250));
        left = processes_naming(up.dir.path());
    }
    assert!(
        left.is_empty(),
        "still running 60 s after moat up was killed:\n{}",
        left.join("\n")
    );
}
