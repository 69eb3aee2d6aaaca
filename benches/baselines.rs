//! The baselines moat is measured against, on the same machine in the same
//! run as `benches/load.rs`:
//!
//! - `runsc --network=none do /bin/true`: gVisor's own floor for a sandbox;
//! - a bare containerd task with runsc and no moat (create, start, the
//!   process exits at once, delete), one at a time and two at a time for a
//!   while: the **churn floor**, the most sandboxes a second this machine
//!   can make and destroy;
//! - the seed article's architecture: a fresh runsc sandbox per run whose
//!   process is node running the script in vm2 (`benches/seed`, rootfs by
//!   `scripts/seed-rootfs.sh`);
//! - the memory one idle pooled sandbox holds (its cgroup, and the host
//!   processes that serve it: shim, gofer).
//!
//! Needs root and a containerd with runsc: `just bench` runs it against the
//! one its `moat up` started. Settings: `MOAT_BENCH_DIR` (that `moat up`'s
//! state directory, default `.run/bench`), `MOAT_BENCH_RUNS` (20),
//! `MOAT_BENCH_SECONDS` (10, for the churn floor), `MOAT_BENCH_OUT` (also
//! write the report, markdown, here).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use moat_launcher::sandbox::{SandboxConfig, Sandboxes};
use moat_launcher::spec::Limits;
use tokio::io::AsyncReadExt;

fn config(dir: &Path, rootfs: PathBuf, args: &[&str], instance: &str) -> SandboxConfig {
    let ctr = dir.join("containerd");
    SandboxConfig {
        socket: ctr.join("containerd.sock"),
        namespace: "moat-bench".into(),
        runtime_binary: ctr.join("runsc-moat"),
        runtime_root: ctr.join("runsc"),
        rootfs,
        io_dir: dir.join("bench-io"),
        instance: instance.into(),
        runner_args: args.iter().map(|a| (*a).to_owned()).collect(),
        browser_rootfs: None,
    }
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

/// One bare task: create, start, wait for the exit, delete.
async fn cycle(sandboxes: &Sandboxes, limits: &Limits) -> Duration {
    let t = Instant::now();
    let sandbox = sandboxes.create(limits).await.expect("create");
    sandbox.start().await.expect("start");
    sandbox.wait().await.expect("wait");
    sandbox.destroy().await.expect("destroy");
    t.elapsed()
}

/// One seed run: a fresh sandbox, the job line in, its result line out;
/// the time to the result, and to the sandbox destroyed.
async fn seed_run(sandboxes: &Sandboxes, limits: &Limits, code: &str) -> (Duration, Duration) {
    let t = Instant::now();
    let mut sandbox = sandboxes.create(limits).await.expect("create");
    let mut stdout = sandbox.take_stdout().expect("stdout");
    sandbox.start().await.expect("start");
    let job = serde_json::json!({ "code": code }).to_string();
    let _stdin = sandbox.send_job(job.as_bytes()).await.expect("job");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.contains(&b'\n') {
        let n = tokio::time::timeout(Duration::from_secs(30), stdout.read(&mut buf))
            .await
            .expect("a result in time")
            .expect("read");
        assert!(n > 0, "the seed runner ended without a result");
        out.extend_from_slice(&buf[..n]);
    }
    let result = t.elapsed();
    let line = String::from_utf8_lossy(&out);
    assert!(line.contains("\"outcome\":\"ok\""), "{line}");
    drop(_stdin);
    sandbox.destroy().await.expect("destroy");
    (result, t.elapsed())
}

/// Bytes a started, idle sandbox holds: its memory cgroup (v1 or v2), and
/// the resident memory of host processes naming it (shim, gofer).
async fn idle_memory(sandboxes: &Sandboxes, limits: &Limits) -> (u64, u64) {
    let mut sandbox = sandboxes.create(limits).await.expect("create");
    sandbox.start().await.expect("start");
    sandbox.open_stdin().await.expect("stdin");
    // Let the runner ready its engine and settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let id = sandbox.id().to_owned();
    let cgroup = [
        format!("/sys/fs/cgroup/memory/moat/{id}/memory.usage_in_bytes"),
        format!("/sys/fs/cgroup/moat/{id}/memory.current"),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .and_then(|s| s.trim().parse().ok())
    .unwrap_or(0);
    let mut host = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(&id) {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        host += kib * 1024;
    }
    sandbox.destroy().await.expect("destroy");
    (cgroup, host)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let root = moat_benches::root();
    let dir =
        std::env::var("MOAT_BENCH_DIR").map_or_else(|_| root.join(".run/bench"), PathBuf::from);
    let runs = moat_benches::count_from_env("MOAT_BENCH_RUNS", 20);
    let seconds = moat_benches::count_from_env("MOAT_BENCH_SECONDS", 10) as u64;
    let mut report = vec![
        "| baseline | median | rate |".to_owned(),
        "| --- | --- | --- |".to_owned(),
    ];

    // gVisor alone.
    let state = tempfile::tempdir().expect("a runsc state directory");
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let status = std::process::Command::new("runsc")
            .args(["--network=none", "--platform=ptrace", "--root"])
            .arg(state.path())
            .args(["do", "/bin/true"])
            .status()
            .expect("runsc");
        assert!(status.success(), "runsc do: {status}");
        times.push(t.elapsed());
    }
    report.push(format!(
        "| `runsc --network=none do /bin/true` | {:.1} ms | |",
        median(times)
    ));
    eprintln!("{}", report.last().unwrap());

    // A bare containerd task, no moat.
    let rootfs = root.join(".run/rootfs");
    let bare = Sandboxes::connect(config(
        &dir,
        rootfs.clone(),
        &["/moat-runner", "--version"],
        "bench-bare",
    ))
    .await
    .expect("containerd (start `moat up --dir .run/bench` first; `just bench` does)");
    bare.sweep().await.expect("sweep");
    let limits = Limits::for_job(64, 100_000);
    let mut times = Vec::new();
    for _ in 0..runs {
        times.push(cycle(&bare, &limits).await);
    }
    let sequential = median(times);
    let until = Instant::now() + Duration::from_secs(seconds);
    let began = Instant::now();
    let mut loops = Vec::new();
    for _ in 0..2 {
        let bare = bare.clone();
        loops.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                cycle(&bare, &limits).await;
                n += 1;
            }
            n
        }));
    }
    let mut cycles = 0;
    for l in loops {
        cycles += l.await.expect("a churn loop");
    }
    let churn = cycles as f64 / began.elapsed().as_secs_f64();
    report.push(format!(
        "| containerd task with runsc, no moat: create → start → exit → delete | {sequential:.1} ms | {churn:.1} sandboxes/s, two at a time (the churn floor) |"
    ));
    eprintln!("{}", report.last().unwrap());

    // The seed article: node + vm2 in a fresh sandbox per run.
    let seed = Sandboxes::connect(config(
        &dir,
        root.join(".run/seed-rootfs"),
        &["/bin/node", "/seed/run.js"],
        "bench-seed",
    ))
    .await
    .expect("containerd");
    seed.sweep().await.expect("sweep");
    let code = "console.log('hello from the seed', { answer: 42 }); ({ greeting: 'hello' })";
    let (mut to_result, mut to_gone) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (r, g) = seed_run(&seed, &limits, code).await;
        to_result.push(r);
        to_gone.push(g);
    }
    report.push(format!(
        "| the seed's architecture: a fresh runsc sandbox running node + vm2, hello | {:.1} ms to the result ({:.1} ms with teardown) | |",
        median(to_result),
        median(to_gone)
    ));
    eprintln!("{}", report.last().unwrap());

    // What one warm sandbox holds while it waits.
    let pooled = Sandboxes::connect(config(
        &dir,
        rootfs,
        &["/moat-runner", "--modules", "/modules"],
        "bench-idle",
    ))
    .await
    .expect("containerd");
    pooled.sweep().await.expect("sweep");
    let (cgroup, host) = idle_memory(&pooled, &limits).await;
    report.push(format!(
        "| one idle pooled sandbox, runner readied | {:.1} MiB in its cgroup, {:.1} MiB resident in its host processes (shim, gofer) | |",
        cgroup as f64 / 1048576.0,
        host as f64 / 1048576.0
    ));
    eprintln!("{}", report.last().unwrap());

    let text = report.join("\n") + "\n";
    print!("{text}");
    if let Ok(path) = std::env::var("MOAT_BENCH_OUT") {
        std::fs::write(&path, &text).expect("writing MOAT_BENCH_OUT");
    }
}
