//! Load against a running system over its public API, as users drive it:
//! closed-loop clients at fixed concurrencies (1, 4, 16), each submitting a
//! run, following its events over the WebSocket and submitting the next the
//! moment the result arrives; for a hello script and a CPU-bound one. Per
//! cell: p50/p90/p99 of submit→first event and submit→result, and the
//! sustained runs per second. Then one paced client (a run every
//! `MOAT_BENCH_PACE_MS`, so the warm pool has refilled each time), and a
//! flood at the edge: how many over-limit requests per second it refuses.
//!
//! Run against `moat up` (loopback only) with a tenant's key, the tenant's
//! limits lifted (`MOAT_RATE_TENANT`, `MOAT_RATE_CLIENT_PATH`,
//! `MOAT_WS_PER_CLIENT` over 16: docs/performance.md):
//!   MOAT_BENCH_KEY=... cargo bench -p moat-benches --bench load
//! Settings: `MOAT_SERVER` (http://127.0.0.1:8080), `MOAT_BENCH_SECONDS`
//! (per cell, 15), `MOAT_BENCH_PACE_MS` (400), `MOAT_BENCH_OUT` (also write
//! the report, markdown, to this file). `just bench` starts a system, makes
//! the key and runs this.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moat_testkit::http::{connect_from, submit_from};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod follow;

/// One run's times, from its submit.
#[derive(Debug, Clone, Copy)]
struct Sample {
    first_event: Duration,
    result: Duration,
    warm: bool,
}

/// Submits `code` as the tenant of `key` and follows its events to the result.
async fn one_run(server: SocketAddr, key: &str, code: &str) -> Option<Sample> {
    let t = Instant::now();
    let run = loop {
        match submit_from(
            server,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(key),
            code,
            10_000,
        )
        .await
        {
            Ok(run) => break run,
            // The tenant's queue is full: wait as a client would.
            Err(429) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(status) => {
                eprintln!("submit refused: {status}");
                return None;
            }
        }
    };
    let events = run["events_url"].as_str()?;
    let (first_event, event) = follow::result_event(server, Some(key), events, t).await?;
    if t.elapsed() > Duration::from_millis(500) {
        eprintln!(
            "slow run, {:?} from submit; stages {}",
            t.elapsed(),
            event["stages"]
        );
    }
    Some(Sample {
        first_event,
        result: t.elapsed(),
        warm: event["stages"]["warm"].as_bool().unwrap_or(false),
    })
}

/// `clients` closed-loop clients for `span`: every sample, and the runs per
/// second over the span.
async fn closed_loop(
    server: SocketAddr,
    key: &str,
    code: &str,
    clients: usize,
    span: Duration,
) -> (Vec<Sample>, f64) {
    let until = Instant::now() + span;
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (key, code) = (key.to_owned(), code.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < until {
                match one_run(server, &key, &code).await {
                    Some(s) => samples.push(s),
                    None => eprintln!("a run failed"),
                }
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.unwrap_or_default());
    }
    let rate = samples.len() as f64 / began.elapsed().as_secs_f64();
    (samples, rate)
}

/// p-th percentile (nearest rank) of sorted durations, in ms.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// One table row: p50/p90/p99 of both measures, the rate, the warm share.
fn row(label: &str, samples: &[Sample], rate: f64) -> String {
    let mut first: Vec<Duration> = samples.iter().map(|s| s.first_event).collect();
    let mut result: Vec<Duration> = samples.iter().map(|s| s.result).collect();
    first.sort();
    result.sort();
    let warm = samples.iter().filter(|s| s.warm).count();
    format!(
        "| {label} | {} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} | {rate:.1} | {warm}/{} |",
        samples.len(),
        percentile(&first, 50.0),
        percentile(&first, 90.0),
        percentile(&first, 99.0),
        percentile(&result, 50.0),
        percentile(&result, 90.0),
        percentile(&result, 99.0),
        samples.len(),
    )
}

/// Keep-alive connections from one anonymous address sending submits as
/// fast as answers come back, [`PIPELINE`] requests a write (HTTP/1.1
/// pipelining, so the client's own syscalls do not cap the rate), for
/// `span`: refusals (429) per second, and how many were accepted.
async fn flood(server: SocketAddr, connections: usize, span: Duration) -> (f64, u64) {
    let refused = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 77));
    let body = r#"{"code":"export default 1"}"#;
    let request = format!(
        "POST /v1/runs HTTP/1.1\r\nHost: moat\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .repeat(PIPELINE);
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (refused, accepted, stop) = (refused.clone(), accepted.clone(), stop.clone());
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = connect_from(server, from).await else {
                    return;
                };
                let mut buf = Vec::with_capacity(16 * 1024);
                'connection: loop {
                    if stop.load(Ordering::Relaxed)
                        || s.write_all(request.as_bytes()).await.is_err()
                    {
                        break;
                    }
                    for _ in 0..PIPELINE {
                        match read_response(&mut s, &mut buf).await {
                            Some(429) => refused.fetch_add(1, Ordering::Relaxed),
                            Some(202) => accepted.fetch_add(1, Ordering::Relaxed),
                            _ => break 'connection,
                        };
                    }
                }
            }
        }));
    }
    tokio::time::sleep(span).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let rate = refused.load(Ordering::Relaxed) as f64 / began.elapsed().as_secs_f64();
    (rate, accepted.load(Ordering::Relaxed))
}

/// Requests the flood writes at once on each connection.
const PIPELINE: usize = 16;

/// Reads one HTTP/1.1 response (head, then a Content-Length body) off a
/// keep-alive connection; its status. `buf` keeps what was read past it
/// (the next pipelined response's start).
async fn read_response(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<u16> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..head_end + length);
    Some(status)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = moat_benches::server();
    let Ok(key) = std::env::var("MOAT_BENCH_KEY") else {
        eprintln!("set MOAT_BENCH_KEY to a tenant's key (`moat keys create --tenant bench`)");
        std::process::exit(2);
    };
    let seconds = moat_benches::count_from_env("MOAT_BENCH_SECONDS", 15) as u64;
    let pace =
        Duration::from_millis(moat_benches::count_from_env("MOAT_BENCH_PACE_MS", 400) as u64);
    if !moat_benches::edge_is_up(server) {
        eprintln!("no moat edge at {server}: start one with `moat up`");
        std::process::exit(1);
    }
    let span = Duration::from_secs(seconds);
    let mut report = vec![
        format!("Closed-loop clients for {seconds} s per row, one tenant; times in ms from submit (p50 / p90 / p99)."),
        String::new(),
        "| script, clients | runs | submit → first event | submit → result | runs/s | warm |".into(),
        "| --- | --- | --- | --- | --- | --- |".into(),
    ];
    // Warm-up: a few runs so every service has connected and compiled.
    let hello = moat_benches::script("hello.js");
    let cpu = moat_benches::script("cpu.js");
    for _ in 0..3 {
        let _ = one_run(server, &key, &hello).await;
    }
    // The warm-up emptied the pool: let it refill, so the paced rows measure
    // what they say (a warm pool).
    tokio::time::sleep(Duration::from_secs(3)).await;

    let lodash = std::fs::read_to_string(moat_benches::root().join("examples/lodash.js"))
        .expect("examples/lodash.js");
    let paced_runs = (seconds * 1000 / pace.as_millis().max(1) as u64).max(10);
    for (name, code, n) in [("hello", &hello, paced_runs), ("lodash.js", &lodash, 10)] {
        let mut paced = Vec::new();
        let began = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            if let Some(s) = one_run(server, &key, code).await {
                paced.push(s);
            }
            tokio::time::sleep(pace.saturating_sub(t.elapsed())).await;
        }
        let rate = paced.len() as f64 / began.elapsed().as_secs_f64();
        report.push(row(
            &format!("{name}, 1 paced (a run every {} ms)", pace.as_millis()),
            &paced,
            rate,
        ));
        eprintln!("{}", report.last().unwrap());
    }
    for (name, code) in [("hello", &hello), ("cpu", &cpu)] {
        for clients in [1, 4, 16] {
            let (samples, rate) = closed_loop(server, &key, code, clients, span).await;
            report.push(row(&format!("{name}, {clients}"), &samples, rate));
            eprintln!("{}", report.last().unwrap());
            // Let the pool refill and the queue empty between rows.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let (refusals, accepted) = flood(server, 32, Duration::from_secs(5)).await;
    report.push(String::new());
    report.push(format!(
        "Edge flood: one anonymous address, 32 keep-alive connections pipelining submits for 5 s: {refusals:.0} over-limit requests refused per second ({accepted} accepted within its limits)."
    ));
    eprintln!("{}", report.last().unwrap());
    let text = report.join("\n") + "\n";
    print!("{text}");
    if let Ok(path) = std::env::var("MOAT_BENCH_OUT") {
        std::fs::write(&path, &text).expect("writing MOAT_BENCH_OUT");
    }
}
