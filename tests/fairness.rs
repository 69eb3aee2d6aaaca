//! Fairness through the whole system (`moat up`, one launcher with two
//! slots, the edge's default anonymous rate limits): ten anonymous
//! addresses (127.0.0.2 … 127.0.0.11) keep their queues full within their
//! limits and a tenant holds 100 queued runs, while a second tenant's run
//! and a fresh address's run (and its prompt resubmissions) each finish
//! within a bound. Needs root and the rootfs (`just rootfs`).

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use moat_testkit::http::{request_from, submit_from};
use moat_testkit::is_root;
use support::{key_for, Up};

/// Polls the run's record (as its own client would) until it is done; the
/// time from `since`.
async fn done_after(
    server: SocketAddr,
    from: IpAddr,
    key: Option<&str>,
    run: &serde_json::Value,
    since: Instant,
) -> Duration {
    let path = run["status_url"].as_str().unwrap().to_owned();
    let until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < until {
        if let Some((200, body)) = request_from(server, from, "GET", &path, key, "").await {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if v["status"] == "done" {
                assert_eq!(v["outcome"], "ok", "{v}");
                return since.elapsed();
            }
        }
        // Slow enough to stay within an anonymous client's own limits.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    panic!("run {} not done within 120 s", run["id"]);
}

const SLOW: &str = "await new Promise(r => setTimeout(r, 1000)); export default 'slow';";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_addresses_and_a_tenants_backlog_do_not_hold_back_newcomers() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    // The edge's default anonymous limits: the flood stays within them.
    let mut up = Up::start_with(&[
        ("MOAT_RATE_ANON", "10/2/1000"),
        ("MOAT_RATE_CLIENT_PATH", "30/10/1000"),
    ]);
    up.wait_for("\"moat is up\"", 1, |l| l.contains("moat is up."));
    let server: SocketAddr = up.url.trim_start_matches("http://").parse().unwrap();
    let flood_key = key_for(&up, "flood");
    let polite_key = key_for(&up, "polite");

    // Ten addresses, three runs each (their queue cap); more is refused.
    let mut anon_runs = Vec::new();
    for n in 2..12u8 {
        let from = IpAddr::from([127, 0, 0, n]);
        for _ in 0..3 {
            anon_runs.push((
                from,
                submit_from(server, from, None, SLOW, 5_000).await.unwrap(),
            ));
        }
        let refused = submit_from(server, from, None, SLOW, 5_000).await;
        assert_eq!(refused.unwrap_err(), 429, "a fourth queued run is refused");
    }
    // The tenant holds 100 queued runs.
    let flooder = IpAddr::from([127, 0, 0, 50]);
    let mut queued = 0;
    while queued < 100 {
        match submit_from(server, flooder, Some(&flood_key), SLOW, 5_000).await {
            Ok(_) => queued += 1,
            // Within its rate limit: wait as told.
            Err(429) => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(status) => panic!("the tenant's submit got {status}"),
        }
    }
    // In its steady state every flooding address has had its first turn.
    let started = Instant::now();
    for (from, run) in anon_runs.iter().step_by(3) {
        done_after(server, *from, None, run, started).await;
    }
    // From now on each address keeps its queue full, as a flood would:
    // it submits again about once a second, refused while its queue is full.
    let flooding = tokio_util::sync::CancellationToken::new();
    let mut flooders = Vec::new();
    for n in 2..12u8 {
        let stop = flooding.clone();
        flooders.push(tokio::spawn(async move {
            let from = IpAddr::from([127, 0, 0, n]);
            while !stop.is_cancelled() {
                let _ = submit_from(server, from, None, SLOW, 5_000).await;
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(Duration::from_millis(1000)) => {}
                }
            }
        }));
    }

    // The newcomers: a second tenant, and a fresh address.
    let fresh = IpAddr::from([127, 0, 0, 100]);
    let t = Instant::now();
    let polite_run = submit_from(server, fresh, Some(&polite_key), "export default 1;", 5_000)
        .await
        .unwrap();
    let fresh_run = submit_from(server, fresh, None, "export default 2;", 5_000)
        .await
        .unwrap();
    let (polite, anon) = tokio::join!(
        done_after(server, fresh, Some(&polite_key), &polite_run, t),
        done_after(server, fresh, None, &fresh_run, t),
    );
    eprintln!("second tenant: {polite:?}, fresh address: {anon:?}");
    // About one run per slot (~1.3 s each with its sandbox) plus polling,
    // not the backlog (20 anonymous runs and 100 of the tenant's left).
    assert!(
        polite < Duration::from_secs(10),
        "the second tenant waited {polite:?}"
    );
    assert!(
        anon < Duration::from_secs(10),
        "the fresh address waited {anon:?}"
    );
    // It resubmits the moment each result is in: still new each time, not
    // filed behind the ten flooding addresses (a round of ten runs, ~13 s).
    for round in 1..=2 {
        let t = Instant::now();
        let run = submit_from(server, fresh, None, "export default 3;", 5_000)
            .await
            .unwrap();
        let again = done_after(server, fresh, None, &run, t).await;
        eprintln!("resubmission {round}: {again:?}");
        assert!(
            again < Duration::from_secs(10),
            "the fresh address's resubmission {round} waited {again:?}"
        );
    }
    flooding.cancel();
    for f in flooders {
        f.await.unwrap();
    }
    // The backlog is still there: the newcomers did not wait for it.
    let (status, body) = request_from(server, flooder, "GET", "/v1/usage", Some(&flood_key), "")
        .await
        .unwrap_or_default();
    assert_eq!(status, 200, "{body}");
    let usage: serde_json::Value = serde_json::from_str(&body).unwrap();
    let done: i64 = usage["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["runs"].as_i64().unwrap())
        .sum();
    assert!(done < 50, "{done} of the tenant's 100 runs finished first");
}
