//! A polite client's submit→result latency on a running system, without and
//! under a flood: anonymous addresses (127.0.0.2 on, thirty by default) each
//! keeping their queue full of 10-second loops within their rate limits,
//! plus (with `MOAT_BENCH_FLOOD_KEY`) one tenant holding 100 queued loops.
//!
//! Run against `just up` (loopback only):
//!   cargo bench -p moat-benches --bench fairness
//! Settings: `MOAT_SERVER` (http://127.0.0.1:8080), `MOAT_BENCH_RUNS` (20),
//! `MOAT_BENCH_FLOOD_KEY` (a tenant's key from `moat keys create`),
//! `MOAT_BENCH_ADDRESSES` (30 flooding addresses from 127.0.0.2 on).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures::StreamExt;
use moat_testkit::http::{connect_from, submit_from};

/// Submits `code` from `from`; the accepted run's events URL, or the
/// refusal's status.
async fn submit(
    server: SocketAddr,
    from: Ipv4Addr,
    key: Option<&str>,
    code: &str,
    timeout_ms: u64,
) -> Result<String, u16> {
    let run = submit_from(server, IpAddr::V4(from), key, code, timeout_ms).await?;
    Ok(run["events_url"].as_str().unwrap_or_default().to_owned())
}

/// Submits a hello run and waits for its result event: the round trip.
async fn polite_run(server: SocketAddr, from: Ipv4Addr) -> Option<Duration> {
    let t = Instant::now();
    let events = loop {
        match submit(
            server,
            from,
            None,
            "console.log('hi'); export default 1;",
            5_000,
        )
        .await
        {
            Ok(url) => break url,
            // Within its own limits: wait as told, the wait counts.
            Err(429) => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(_) => return None,
        }
    };
    let stream = connect_from(server, IpAddr::V4(from)).await.ok()?;
    let url = format!("ws://{server}{events}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.ok()?;
    let deadline = Duration::from_secs(120);
    let result = tokio::time::timeout(deadline, async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Ok(text) = msg.to_text() {
                if text.contains("\"t\":\"result\"") {
                    return true;
                }
            }
        }
        false
    })
    .await;
    matches!(result, Ok(true)).then(|| t.elapsed())
}

/// p-th percentile (nearest rank) of sorted samples, in ms.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
}

async fn measure(server: SocketAddr, runs: usize, label: &str) {
    let polite = Ipv4Addr::new(127, 0, 0, 200);
    let mut samples = Vec::new();
    for _ in 0..runs {
        match polite_run(server, polite).await {
            Some(d) => samples.push(d),
            None => eprintln!("{label}: a polite run failed"),
        }
    }
    samples.sort();
    if samples.is_empty() {
        println!("{label:<14} no samples");
        return;
    }
    println!(
        "{label:<14} n={:<3} p50 {:>8.1} ms   p99 {:>8.1} ms   max {:>8.1} ms",
        samples.len(),
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        samples.last().unwrap().as_secs_f64() * 1000.0
    );
}

/// Keeps one address's queue full of 10-second loops, honouring refusals.
async fn flood_address(
    server: SocketAddr,
    from: Ipv4Addr,
    stop: tokio_util::sync::CancellationToken,
) {
    while !stop.is_cancelled() {
        match submit(server, from, None, "for (;;) {}", 10_000).await {
            Ok(_) => {}
            // Queue full or rate-limited: within the limits means waiting.
            Err(_) => tokio::time::sleep(Duration::from_millis(1000)).await,
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = moat_benches::server();
    let runs = moat_benches::count_from_env("MOAT_BENCH_RUNS", 20);
    if !moat_benches::edge_is_up(server) {
        eprintln!("no moat edge at {server}: start one with `just up`");
        std::process::exit(1);
    }
    println!("polite client 127.0.0.200, {runs} sequential hello runs, submit → result event");
    measure(server, runs, "quiet").await;

    let stop = tokio_util::sync::CancellationToken::new();
    let mut tasks = Vec::new();
    let addresses: u8 = std::env::var("MOAT_BENCH_ADDRESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 200);
    for n in 2..2 + addresses {
        tasks.push(tokio::spawn(flood_address(
            server,
            Ipv4Addr::new(127, 0, 0, n),
            stop.clone(),
        )));
    }
    if let Ok(key) = std::env::var("MOAT_BENCH_FLOOD_KEY") {
        let mut queued = 0;
        let until = Instant::now() + Duration::from_secs(60);
        while queued < 100 && Instant::now() < until {
            match submit(
                server,
                Ipv4Addr::new(127, 0, 0, 40),
                Some(&key),
                "for (;;) {}",
                10_000,
            )
            .await
            {
                Ok(_) => queued += 1,
                // Within its rate limit: wait, then go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        println!("tenant flood: {queued} runs of 10 s queued");
    }
    // Measure the flood in its steady state: every flooding address has had
    // its first turn (one 10 s run each on the anonymous share of the slots),
    // so newcomers are measured against a flood, not its first round.
    let round = Duration::from_secs(11 * u64::from(addresses));
    println!(
        "flood: {addresses} addresses; waiting {} s for its first round",
        round.as_secs()
    );
    tokio::time::sleep(round).await;
    measure(server, runs, "under flood").await;
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
}
