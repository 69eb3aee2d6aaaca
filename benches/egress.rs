//! The latency moat adds to one `fetch`: a loopback HTTP server answered
//! directly from this process (a new connection per request, as the egress
//! service makes), then through a running system, timed inside the script
//! around each `fetch` (the runner in gVisor, the launcher's session, NATS,
//! `moat-egress`, and back).
//!
//! Run against `just up` started with `MOAT_EGRESS_ALLOW_NETS=127.0.0.1/32`
//! (loopback only):
//!   cargo bench -p moat-benches --bench egress
//! Settings: `MOAT_SERVER` (http://127.0.0.1:8080), `MOAT_BENCH_FETCHES`
//! (200; anonymous runs may make 20, so more needs `MOAT_BENCH_KEY`, a
//! tenant's key from `moat keys create`).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use moat_testkit::http::{request_from, submit_from};

/// One request on a new connection, read to the end.
fn direct(addr: SocketAddr) -> Duration {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).expect("the server answers");
    write!(
        s,
        "GET /health HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(out.starts_with(b"HTTP/1.1 200"), "the server answered");
    t.elapsed()
}

/// p-th percentile (nearest rank) of sorted samples, in ms.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn report(label: &str, mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&ms, 50.0), percentile(&ms, 99.0));
    println!(
        "{label:<22} n={:<4} p50 {p50:>7.2} ms   p99 {p99:>7.2} ms   max {:>7.2} ms",
        ms.len(),
        ms.last().copied().unwrap_or_default()
    );
    (p50, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = moat_benches::server();
    let key = std::env::var("MOAT_BENCH_KEY").ok();
    let fetches =
        moat_benches::count_from_env("MOAT_BENCH_FETCHES", if key.is_some() { 200 } else { 19 });
    let api = moat_benches::serve_loopback("application/json", r#"{"status":"up"}"#);
    let me = IpAddr::V4(Ipv4Addr::LOCALHOST);

    // Warm up, then the direct baseline.
    for _ in 0..20 {
        direct(api);
    }
    let direct_ms: Vec<f64> = (0..fetches)
        .map(|_| direct(api).as_secs_f64() * 1000.0)
        .collect();

    let code = format!(
        "const ms = [];\n\
         for (let i = 0; i < {n}; i++) {{\n\
           const t = performance.now();\n\
           const r = await fetch('http://{api}/health');\n\
           await r.text();\n\
           ms.push(performance.now() - t);\n\
         }}\n\
         export default ms;\n",
        n = fetches + 1
    );
    let run = submit_from(server, me, key.as_deref(), &code, 60_000)
        .await
        .unwrap_or_else(|status| {
            eprintln!("no moat edge at {server} took the run ({status}): start one with `just up`");
            std::process::exit(1)
        });
    let path = run["status_url"].as_str().unwrap_or_default().to_owned();
    let until = Instant::now() + Duration::from_secs(120);
    let value = loop {
        if let Some((200, body)) = request_from(server, me, "GET", &path, key.as_deref(), "").await
        {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if v["status"] == "done" {
                if v["outcome"] != "ok" {
                    eprintln!(
                        "the run did not end ok (is MOAT_EGRESS_ALLOW_NETS=127.0.0.1/32 set?): {v}"
                    );
                    std::process::exit(1);
                }
                break v["value"].clone();
            }
        }
        assert!(Instant::now() < until, "the run did not finish in 120 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The first fetch pays for connecting to things once; it is left out.
    let through: Vec<f64> = value
        .as_array()
        .map(|a| a.iter().skip(1).filter_map(|v| v.as_f64()).collect())
        .unwrap_or_default();
    println!("one fetch of a loopback JSON endpoint, sequential, new connection each");
    let (d50, d99) = report("direct", direct_ms);
    let (t50, t99) = report("through moat", through);
    println!(
        "{:<22} p50 {:>7.2} ms   p99 {:>7.2} ms",
        "added by moat",
        t50 - d50,
        t99 - d99
    );
}
