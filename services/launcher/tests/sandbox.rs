//! The sandbox end to end: a real containerd (started here, in a temporary
//! directory, through the project's own script), runsc, and the static runner
//! in a read-only rootfs (`scripts/rootfs.sh`, which `just test` runs first).
//! Needs root, as containerd does.

mod common;

use std::time::{Duration, Instant};

use moat_testkit::Containerd;

use moat_egress::session::HostSide;
use moat_launcher::frames::Accepted;
use moat_launcher::pool::{Pool, Sizing};
use moat_launcher::run::{run_job, RunSettings};
use moat_launcher::sandbox::Sandboxes;
use moat_wire::{Job, LogLevel, Outcome};
use tokio::sync::mpsc;

fn job(code: &str, timeout_ms: u64) -> Job {
    let mut job = Job::new(code);
    job.timeout_ms = timeout_ms;
    job
}

async fn run(sandboxes: &Sandboxes, job: &Job) -> (moat_launcher::run::RunReport, Vec<Accepted>) {
    run_hosted(sandboxes, job, HostSide::offline("test")).await
}

/// [`run`] with the run's host calls answered through `host`, for tests that
/// need an egress other than the offline one.
async fn run_hosted(
    sandboxes: &Sandboxes,
    job: &Job,
    host: HostSide,
) -> (moat_launcher::run::RunReport, Vec<Accepted>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let collector = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(f) = rx.recv().await {
            frames.push(f);
        }
        frames
    });
    let pool = Pool::cold(sandboxes.clone(), Sizing::default());
    let report = run_job(
        &pool,
        job,
        &RunSettings::default(),
        tx,
        host,
        &Default::default(),
    )
    .await
    .expect("run");
    (report, collector.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_in_gvisor_and_streams_frames() {
    let ctr = Containerd::start();
    let sandboxes = Sandboxes::connect(common::sandbox_config(&ctr))
        .await
        .unwrap();
    assert_eq!(sandboxes.sweep().await.unwrap(), 0);

    let code = r#"
        import { save } from 'moat:files';
        console.log('hello from the sandbox');
        console.warn('a warning');
        save('data.json', JSON.stringify({ a: 1 }));
        save('fake.png', '<script>not a png</script>', { type: 'image/png' });
        export default async () => { await new Promise(r => setTimeout(r, 20)); return { answer: 42 }; };
    "#;
    let t = Instant::now();
    let (report, frames) = run(&sandboxes, &job(code, 5000)).await;
    eprintln!(
        "hello in gvisor: {:?} total (create {:?}, start {:?}, teardown {:?})",
        t.elapsed(),
        report.acquire,
        report.start,
        report.teardown
    );
    assert_eq!(report.result.outcome, Outcome::Ok, "{report:?}");
    assert_eq!(report.result.value, Some(serde_json::json!({"answer": 42})));
    assert_eq!(report.exit.map(|e| e.status), Some(0));
    assert!(
        matches!(&frames[0], Accepted::Log(l) if l.msg == "hello from the sandbox" && l.level == LogLevel::Info)
    );
    assert!(matches!(&frames[1], Accepted::Log(l) if l.level == LogLevel::Warn));
    assert!(
        matches!(&frames[2], Accepted::File { name, media_type, data } if name == "data.json" && media_type == "application/json" && data == b"{\"a\":1}")
    );
    // The claimed type does not survive content sniffing.
    assert!(matches!(&frames[3], Accepted::File { media_type, .. } if media_type == "text/plain"));
    assert_eq!(report.frames, 4);

    // Nothing is left behind.
    assert_eq!(sandboxes.sweep().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_inside_the_sandbox() {
    let ctr = Containerd::start();
    let sandboxes = Sandboxes::connect(common::sandbox_config(&ctr))
        .await
        .unwrap();

    let t = Instant::now();
    let (report, _) = run(&sandboxes, &job("for (;;) {}", 1000)).await;
    assert_eq!(report.result.outcome, Outcome::Timeout, "{report:?}");
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "took {:?}",
        t.elapsed()
    );

    let (report, _) = run(
        &sandboxes,
        &job(
            "const a = []; for (;;) a.push('x'.repeat(1 << 16) + a.length);",
            5000,
        ),
    )
    .await;
    assert_eq!(report.result.outcome, Outcome::Oom, "{report:?}");

    let (report, _) = run(&sandboxes, &job("import 'fs';", 5000)).await;
    assert_eq!(report.result.outcome, Outcome::ModuleNotAllowed);
    let (report, frames) = run(
        &sandboxes,
        &job("for (let i = 0; i < 1e6; i++) console.log(i);", 5000),
    )
    .await;
    assert_eq!(report.result.outcome, Outcome::OutputLimit);
    assert_eq!(frames.len(), 10_000, "what came before the cap is kept");
    let (report, _) = run(
        &sandboxes,
        &job("function f() { return f() + 1; } f();", 5000),
    )
    .await;
    assert_eq!(report.result.outcome, Outcome::StackOverflow);
    let (report, _) = run(&sandboxes, &job("let x = ;", 5000)).await;
    assert_eq!(report.result.outcome, Outcome::SyntaxError);
    let (report, _) = run(&sandboxes, &job("throw new TypeError('boom')", 5000)).await;
    assert_eq!(report.result.outcome, Outcome::Error);
    assert_eq!(report.result.error.as_ref().unwrap().message, "boom");

    // The whitelist inside the rootfs works like on the host.
    let (report, frames) = run(
        &sandboxes,
        &job(
            "import { chunk } from 'lodash-es'; console.log(chunk([1,2,3], 2));",
            5000,
        ),
    )
    .await;
    assert_eq!(report.result.outcome, Outcome::Ok, "{report:?}");
    assert!(matches!(&frames[0], Accepted::Log(l) if l.msg == "[ [ 1, 2 ], [ 3 ] ]"));
    assert_eq!(sandboxes.sweep().await.unwrap(), 0);
}

/// The cgroup is the backstop under the runner's own heap limit: with no
/// margin over a large heap, the sandbox itself reaches its memory limit
/// first and is killed (exit 137), which the launcher reports as `oom`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cgroup_kills_a_sandbox_over_its_memory_limit() {
    let ctr = Containerd::start();
    let sandboxes = Sandboxes::connect(common::sandbox_config(&ctr))
        .await
        .unwrap();
    let pool = Pool::cold(
        sandboxes.clone(),
        Sizing {
            memory_margin: 0,
            ..Sizing::default()
        },
    );
    let mut job = job(
        "const a = []; for (;;) a.push(new Uint8Array(1 << 20).fill(1));",
        10_000,
    );
    job.memory_mb = 96;
    let (tx, _rx) = mpsc::unbounded_channel();
    let report = run_job(
        &pool,
        &job,
        &RunSettings::default(),
        tx,
        HostSide::offline("test"),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.result.outcome, Outcome::Oom, "{report:?}");
    assert_eq!(report.exit.map(|e| e.status), Some(137), "{report:?}");
    assert_eq!(sandboxes.sweep().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_are_swept_by_their_own_instance_only() {
    let ctr = Containerd::start();
    let sandboxes = Sandboxes::connect(common::sandbox_config(&ctr))
        .await
        .unwrap();
    let mut other = common::sandbox_config(&ctr);
    other.instance = "other".into();
    let neighbour = Sandboxes::connect(other).await.unwrap();
    let limits = moat_launcher::spec::Limits::for_job(64, 100_000);
    // Started sandboxes nobody destroys, as a killed launcher would leave them.
    for s in [&sandboxes, &neighbour] {
        let sandbox = s.create(&limits).await.unwrap();
        sandbox.start().await.unwrap();
        std::mem::forget(sandbox);
    }
    assert_eq!(sandboxes.sweep().await.unwrap(), 1);
    assert_eq!(sandboxes.sweep().await.unwrap(), 0);
    // The neighbouring launcher's sandbox was left alone, for it to sweep.
    assert_eq!(neighbour.sweep().await.unwrap(), 1);
}

/// A subverted runner's view: `moat-probe` runs in the runner's place, with
/// the same spec, and reports what it can see and reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subverted_runner_sees_nothing_of_the_host() {
    use tokio::io::AsyncReadExt;

    // A canary in this process's environment, which containerd and its shims
    // inherit: it must not reach the sandbox.
    std::env::set_var("MOAT_CANARY_SECRET", "do-not-leak");
    let ctr = Containerd::start();
    let mut config = common::sandbox_config(&ctr);
    config.rootfs = moat_testkit::root().join(".run/rootfs-probe");
    assert!(
        config.rootfs.join("moat-probe").is_file(),
        "build the probe rootfs first: scripts/rootfs.sh .run/rootfs-probe --with-probe (just test does)"
    );
    // A port that is listening on the host's loopback: the sandbox must not reach it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    config.runner_args = vec!["/moat-probe".into(), port.to_string()];
    let sandboxes = Sandboxes::connect(config).await.unwrap();
    let mut sandbox = sandboxes
        .create(&moat_launcher::spec::Limits::for_job(64, 100_000))
        .await
        .unwrap();
    let mut stdout = sandbox.take_stdout().unwrap();
    sandbox.start().await.unwrap();
    sandbox.send_job(b"{}").await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), sandbox.wait())
        .await
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stdout.read_to_end(&mut out)).await;
    sandbox.destroy().await.unwrap();
    assert_eq!(exit.status, 0);
    let report: serde_json::Value = serde_json::from_slice(&out).expect("the probe's report");
    eprintln!("probe: {report:#}");

    // Nothing of ours; runsc itself supplies HOME when the spec has none.
    assert_eq!(
        report["env"],
        serde_json::json!(["HOME=/"]),
        "the sandbox's whole environment"
    );
    assert!(
        report["uid"].as_str().unwrap().contains("65534"),
        "runs as nobody: {}",
        report["uid"]
    );
    assert_eq!(report["shadow_readable"], false);
    assert_eq!(report["passwd_readable"], false);
    let entries: Vec<&str> = report["root_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for host_dir in ["etc", "root", "home", "usr", "var", "work"] {
        assert!(
            !entries.contains(&host_dir),
            "host directory /{host_dir} visible: {entries:?}"
        );
    }
    // Only the sandbox's own processes are visible, none of the host's.
    let cmdlines = report["cmdlines"].as_array().unwrap();
    assert!(report["pids"].as_u64().unwrap() <= 2, "{cmdlines:?}");
    assert!(
        cmdlines
            .iter()
            .all(|c| c.as_str().unwrap().contains("moat-probe")),
        "{cmdlines:?}"
    );
    // No network but loopback, and the host's loopback is out of reach.
    let interfaces: Vec<&str> = report["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(interfaces, vec!["lo"], "interfaces: {interfaces:?}");
    assert_eq!(report["host_tcp_connected"], false);
    assert_eq!(report["root_writable"], false, "the rootfs is read-only");
    assert_eq!(report["tmp_writable"], true, "/tmp is a tmpfs");
    // gVisor's own kernel, not the host's.
    assert!(
        report["kernel"].as_str().unwrap().contains("4.4.0"),
        "{}",
        report["kernel"]
    );
    drop(listener);
}

/// An egress that takes every request and never answers, so that a runner's
/// calls stay waiting and only the relay's in-flight cap can refuse a flood.
struct Silent;

impl moat_egress::session::Egress for Silent {
    fn fetch(
        &self,
        _: moat_wire::egress::EgressRequest,
        replies: mpsc::Sender<moat_wire::hostcall::Reply>,
    ) -> futures::future::BoxFuture<'static, ()> {
        // Holding the sender: dropping it would answer "ended without an answer".
        Box::pin(async move {
            let _replies = replies;
            std::future::pending::<()>().await;
        })
    }
}

/// A subverted runner that abuses the host-call channel (`moat-probe calls
/// MODE`, one rule broken per mode, then lingering far past the deadline)
/// has its run ended by the launcher as `protocol_error`, and the launcher
/// goes on serving normal runs, leaving nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_that_abuses_host_calls_is_a_protocol_error() {
    use moat_launcher::frames::Violation;

    let ctr = Containerd::start();
    let normal = Sandboxes::connect(common::sandbox_config(&ctr))
        .await
        .unwrap();
    let mut probe = common::sandbox_config(&ctr);
    probe.rootfs = moat_testkit::root().join(".run/rootfs-probe");
    assert!(
        probe.rootfs.join("moat-probe").is_file(),
        "build the probe rootfs first: scripts/rootfs.sh .run/rootfs-probe --with-probe (just test does)"
    );
    let offline = HostSide::offline("test");
    let silent = HostSide {
        egress: std::sync::Arc::new(Silent),
        ..HostSide::offline("test")
    };
    // Each mode, the host its calls meet, and the violation it must cause.
    type Expected = fn(&Violation) -> bool;
    let modes: [(&str, &HostSide, Expected); 6] = [
        // The relay's in-flight cap: calls nobody answers pile up.
        ("flood", &silent, |v| matches!(v, Violation::Calls(_))),
        // The decoder's per-run count, with every call answered in turn.
        ("many", &offline, |v| {
            *v == Violation::Calls("too many calls in one run")
        }),
        ("malformed", &offline, |v| {
            matches!(v, Violation::Malformed(_))
        }),
        ("ids", &offline, |v| {
            *v == Violation::Calls("call ids must increase")
        }),
        ("body", &offline, |v| {
            *v == Violation::Calls("a request body is over the cap")
        }),
        ("huge", &offline, |v| {
            matches!(v, Violation::FrameTooLarge(_))
        }),
    ];
    for (mode, host, expected) in modes {
        let mut config = probe.clone();
        config.runner_args = vec!["/moat-probe".into(), "calls".into(), mode.into()];
        let sandboxes = Sandboxes::connect(config).await.unwrap();
        let t = Instant::now();
        // The probe lingers past the job's deadline: only the launcher ends
        // this run.
        let (report, _) = run_hosted(&sandboxes, &job("", 50_000), host.clone()).await;
        eprintln!(
            "calls {mode}: {:?} in {:?} (exit {:?})",
            report.violation,
            t.elapsed(),
            report.exit
        );
        assert_eq!(
            report.result.outcome,
            Outcome::ProtocolError,
            "{mode}: {report:?}"
        );
        assert!(
            report.violation.as_ref().is_some_and(expected),
            "{mode}: {:?}",
            report.violation
        );
        // Killed by the launcher, not the probe's own exit after lingering,
        // and at the violation, not at the deadline.
        assert_ne!(report.exit.map(|e| e.status), Some(0), "{mode}: {report:?}");
        assert!(report.result.wall_ms < 50_000, "{mode}: {report:?}");
    }

    // The launcher is none the worse: a normal run still works, and no
    // sandbox of any of these runs is left.
    let (report, frames) = run(&normal, &job("console.log('still here')", 5000)).await;
    assert_eq!(report.result.outcome, Outcome::Ok, "{report:?}");
    assert!(matches!(&frames[..], [Accepted::Log(l)] if l.msg == "still here"));
    assert_eq!(normal.sweep().await.unwrap(), 0);
}
