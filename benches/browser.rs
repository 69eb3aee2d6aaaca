//! A Puppeteer run's whole round trip through a running system, as a user
//! sees it: submit → `puppeteer.launch()` → `newPage` → `goto` a loopback
//! page → `screenshot` → result, followed over the WebSocket.
//!
//! Two series. **Warm**: before each run the benchmark waits
//! `MOAT_BENCH_GAP_MS` so the launcher's pool holds a browser sandbox whose
//! Chromium has started. **Cold**: the same run with a heap above the warm
//! browser class (`memory_mb` 128), which the pool never holds, so each
//! makes its sandbox and starts its Chromium. Per series: p50 and p90 of
//! submit→result, the launcher's stages, and the script's own steps timed
//! inside it.
//!
//! Run against `just up` started with `MOAT_EGRESS_ALLOW_NETS=127.0.0.1/32`
//! (loopback only):
//!   cargo bench -p moat-benches --bench browser
//! Settings: `MOAT_SERVER` (http://127.0.0.1:8080), `MOAT_BENCH_KEY` (a
//! tenant's key; without one the runs are anonymous, 10 s at most each),
//! `MOAT_BENCH_RUNS` (10 a series), `MOAT_BENCH_GAP_MS` (15000).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use moat_testkit::http::request_from;

mod follow;

/// The page every run visits: a little text, a style, a script.
const PAGE: &str = r#"<!doctype html><html><head><title>Status</title>
<style>body { font: 16px sans-serif; margin: 2em } h1 { color: #0a6 }</style></head>
<body><h1>All systems normal</h1><p id="t"></p>
<script>document.getElementById('t').textContent = new Date(0).toISOString();</script>
</body></html>"#;

/// The steps the script times, in its order.
const STEPS: [&str; 4] = ["launch", "newPage", "goto", "screenshot"];

/// One run: submit→result, the result event's stages, the script's steps.
struct Sample {
    total: Duration,
    warm: bool,
    stages: serde_json::Value,
    steps: serde_json::Value,
}

async fn one(server: SocketAddr, key: Option<&str>, code: &str, memory_mb: u64) -> Option<Sample> {
    let me = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let timeout = if key.is_some() { 60_000 } else { 10_000 };
    let body = serde_json::json!({
        "code": code, "timeout_ms": timeout, "memory_mb": memory_mb, "browser": true
    })
    .to_string();
    let t = Instant::now();
    let run = match request_from(server, me, "POST", "/v1/runs", key, &body).await {
        Some((202, text)) => serde_json::from_str::<serde_json::Value>(&text).ok()?,
        other => {
            eprintln!("submit refused: {other:?}");
            return None;
        }
    };
    let (_, event) = follow::result_event(server, key, run["events_url"].as_str()?, t).await?;
    let total = t.elapsed();
    if event["outcome"] != "ok" {
        eprintln!("a run did not end ok (is MOAT_EGRESS_ALLOW_NETS=127.0.0.1/32 set?): {event}");
        return None;
    }
    Some(Sample {
        total,
        warm: event["stages"]["warm"].as_bool().unwrap_or(false),
        stages: event["stages"].clone(),
        steps: event["value"].clone(),
    })
}

/// p-th percentile (nearest rank) of `values`.
fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize;
    values[rank.min(values.len()) - 1]
}

fn report(label: &str, samples: &[Sample]) {
    let warm = samples.iter().filter(|s| s.warm).count();
    let mut total: Vec<f64> = samples
        .iter()
        .map(|s| s.total.as_secs_f64() * 1000.0)
        .collect();
    println!(
        "\n{label}: {} runs ({warm} warm), submit→result p50 {:.0} ms, p90 {:.0} ms",
        samples.len(),
        percentile(&mut total, 50.0),
        percentile(&mut total, 90.0),
    );
    let stage = |name: &str| -> Vec<f64> {
        samples
            .iter()
            .filter_map(|s| s.stages[format!("{name}_us")].as_f64())
            .map(|us| us / 1000.0)
            .collect()
    };
    let mut line = String::from("  stages p50:");
    for name in ["queue", "acquire", "start", "execution", "result"] {
        line.push_str(&format!(
            " {name} {:.0} ms",
            percentile(&mut stage(name), 50.0)
        ));
    }
    println!("{line}");
    let mut line = String::from("  in the script p50:");
    for step in STEPS {
        let mut ms: Vec<f64> = samples
            .iter()
            .filter_map(|s| s.steps[step].as_f64())
            .collect();
        line.push_str(&format!(" {step} {:.0} ms", percentile(&mut ms, 50.0)));
    }
    println!("{line}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = moat_benches::server();
    if !moat_benches::edge_is_up(server) {
        eprintln!("no moat edge at {server}: start one with `just up`");
        std::process::exit(1);
    }
    let key = std::env::var("MOAT_BENCH_KEY").ok();
    let runs = moat_benches::count_from_env("MOAT_BENCH_RUNS", 10);
    let gap =
        Duration::from_millis(moat_benches::count_from_env("MOAT_BENCH_GAP_MS", 15000) as u64);
    let site = moat_benches::serve_loopback("text/html; charset=utf-8", PAGE);
    let code = format!(
        r#"import puppeteer from 'puppeteer';
const ms = {{}};
let t = performance.now();
const lap = (step) => {{ const now = performance.now(); ms[step] = now - t; t = now; }};
const browser = await puppeteer.launch();
lap('launch');
const page = await browser.newPage();
lap('newPage');
await page.goto('http://{site}/', {{ waitUntil: 'load' }});
lap('goto');
const shot = await page.screenshot();
lap('screenshot');
await browser.close();
export default {{ ...ms, bytes: shot.length }};
"#
    );
    for (label, memory_mb) in [("warm", 64), ("cold", 128)] {
        let mut samples = Vec::new();
        for _ in 0..runs {
            if label == "warm" {
                tokio::time::sleep(gap).await;
            }
            if let Some(s) = one(server, key.as_deref(), &code, memory_mb).await {
                samples.push(s);
            }
        }
        report(label, &samples);
    }
}
