//! The warm pool against a real containerd and runsc: runs take started
//! sandboxes, each used once; the pool refills after a burst, replaces what
//! grew old, and leaves nothing when closed. Needs root, as containerd does.

mod common;

use std::time::{Duration, Instant};

use moat_egress::session::HostSide;
use moat_launcher::metrics::Metrics;
use moat_launcher::pool::{Pool, PoolConfig, Sizing};
use moat_launcher::run::{run_job, RunReport, RunSettings};
use moat_launcher::sandbox::{SandboxConfig, Sandboxes};
use moat_testkit::Containerd;
use moat_wire::{Job, Outcome};
use tokio::sync::mpsc;

fn config(min: usize, max: usize, max_age: Duration) -> PoolConfig {
    PoolConfig {
        min,
        max,
        max_age,
        classes: vec![64],
        sizing: Sizing::default(),
        browser_min: 0,
        browser_max: 0,
    }
}

async fn run(pool: &Pool, job: &Job) -> RunReport {
    let (tx, _rx) = mpsc::unbounded_channel();
    run_job(
        pool,
        job,
        &RunSettings::default(),
        tx,
        HostSide::offline("test"),
        &Default::default(),
    )
    .await
    .expect("run")
}

/// Waits (bounded) until the pool holds `n` ready sandboxes.
async fn until_ready(pool: &Pool, n: usize) {
    let until = Instant::now() + Duration::from_secs(30);
    while pool.ready() != n {
        assert!(
            Instant::now() < until,
            "the pool holds {} ready, not {n}",
            pool.ready()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sandboxes(config: SandboxConfig) -> Sandboxes {
    let sandboxes = Sandboxes::connect(config).await.unwrap();
    assert_eq!(sandboxes.sweep().await.unwrap(), 0);
    sandboxes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_warm_sandbox_serves_one_run_and_the_pool_refills_after_a_burst() {
    let ctr = Containerd::start();
    let sandboxes = sandboxes(common::sandbox_config(&ctr)).await;
    let pool = Pool::start(
        sandboxes.clone(),
        config(1, 3, Duration::from_secs(300)),
        Metrics::new(),
    );
    until_ready(&pool, 1).await;
    // A pooled runner may wait long for its job: its clock starts at the job.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut job = Job::new(
        "globalThis.leak = 'run one'; await new Promise(r => setTimeout(r, 200)); export default typeof leak;",
    );
    job.timeout_ms = 1000;
    let first = run(&pool, &job).await;
    assert_eq!(first.result.outcome, Outcome::Ok, "{first:?}");
    assert!(first.warm, "{first:?}");
    assert_eq!(first.start, Duration::ZERO);
    // Used once: its sandbox is gone, not back in the pool.
    let ids = sandboxes.list().await.unwrap();
    assert!(!ids.contains(&first.sandbox), "{ids:?}");

    // A burst: three at once. Each gets its own sandbox, warm or cold.
    until_ready(&pool, 1).await;
    let probe = Job::new("export default typeof leak;");
    let (a, b, c) = tokio::join!(run(&pool, &probe), run(&pool, &probe), run(&pool, &probe));
    let mut seen = vec![first.sandbox.clone()];
    for r in [&a, &b, &c] {
        assert_eq!(r.result.outcome, Outcome::Ok, "{r:?}");
        // Nothing of the first run's globals reached a later one.
        assert_eq!(r.result.value, Some(serde_json::json!("undefined")));
        assert!(!seen.contains(&r.sandbox), "{} reused", r.sandbox);
        seen.push(r.sandbox.clone());
    }
    assert!([&a, &b, &c].iter().any(|r| r.warm));
    // Four runs in the demand window: the pool grows to its maximum.
    until_ready(&pool, 3).await;
    let ids = sandboxes.list().await.unwrap();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(seen.iter().all(|s| !ids.contains(s)), "{ids:?}");

    // A job above every class is never given a smaller sandbox: it is made
    // cold, with its own limits.
    let mut big = Job::new("export default new Uint8Array(96 << 20).length;");
    big.memory_mb = 128;
    let report = run(&pool, &big).await;
    assert!(!report.warm, "{report:?}");
    assert_eq!(report.result.outcome, Outcome::Ok, "{report:?}");
    assert!(report.acquire > Duration::ZERO && report.start > Duration::ZERO);

    // Closing destroys every pooled sandbox.
    assert_eq!(pool.close().await, 3);
    assert_eq!(sandboxes.list().await.unwrap(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_finds_nothing_a_previous_run_left_in_its_sandbox() {
    let ctr = Containerd::start();
    let mut probe = common::sandbox_config(&ctr);
    probe.rootfs = moat_testkit::root().join(".run/rootfs-probe");
    assert!(
        probe.rootfs.join("moat-probe").is_file(),
        "build the probe rootfs first: scripts/rootfs.sh .run/rootfs-probe --with-probe (just test does)"
    );
    probe.runner_args = vec!["/moat-probe".into(), "mark".into()];
    let sandboxes = sandboxes(probe).await;
    let pool = Pool::start(
        sandboxes.clone(),
        config(2, 2, Duration::from_secs(300)),
        Metrics::new(),
    );
    for _ in 0..4 {
        until_ready(&pool, 2).await;
        let report = run(&pool, &Job::new("")).await;
        assert!(report.warm, "{report:?}");
        // Each run leaves a mark in /tmp; none finds one.
        assert_eq!(
            report.result.value,
            Some(serde_json::json!({ "found": null, "left": true })),
            "{report:?}"
        );
    }
    assert_eq!(pool.close().await, 2);
    assert_eq!(sandboxes.sweep().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_sandboxes_past_their_age_are_replaced() {
    let ctr = Containerd::start();
    let sandboxes = sandboxes(common::sandbox_config(&ctr)).await;
    let metrics = Metrics::new();
    let pool = Pool::start(
        sandboxes.clone(),
        config(1, 1, Duration::from_secs(1)),
        metrics.clone(),
    );
    until_ready(&pool, 1).await;
    let old = sandboxes.list().await.unwrap();
    assert_eq!(old.len(), 1);
    // Bounded: well past the age, the old one has been replaced.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let now = sandboxes.list().await.unwrap();
        if pool.ready() == 1 && now.len() == 1 && now != old {
            break;
        }
        assert!(Instant::now() < until, "never replaced: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let discarded = metrics
        .ops
        .value("moat_launcher_pool_discarded_total", &[("reason", "age")]);
    assert!(discarded >= 1.0, "{discarded}");
    // What is handed out is never older than the age.
    let report = run(&pool, &Job::new("export default 1")).await;
    assert_eq!(report.result.outcome, Outcome::Ok, "{report:?}");
    assert!(!old.contains(&report.sandbox));
    pool.close().await;
    assert_eq!(sandboxes.sweep().await.unwrap(), 0);
}
