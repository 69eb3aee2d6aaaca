//! The sandbox end to end: a real containerd (started here, in a temporary
//! directory, through the project's own script), runsc, and the static runner
//! in a read-only rootfs (`scripts/rootfs.sh`, which `just test` runs first).
//! Needs root, as containerd does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use moat_launcher::frames::Accepted;
use moat_launcher::run::{run_job, RunSettings};
use moat_launcher::sandbox::{SandboxConfig, Sandboxes};
use moat_wire::{Job, LogLevel, Outcome};
use tokio::sync::mpsc;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// containerd for one test, stopped (and its state removed) on drop.
struct Containerd {
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Containerd {
    fn start() -> Self {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the sandbox tests need root (containerd and runsc do)"
        );
        let dir = tempfile::Builder::new()
            .prefix("moat-ctr")
            .tempdir()
            .unwrap();
        let out = Command::new(root().join("scripts/containerd.sh"))
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("scripts/containerd.sh");
        assert!(
            out.status.success(),
            "containerd did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let socket = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        Self { dir, socket }
    }

    fn config(&self) -> SandboxConfig {
        let rootfs = root().join(".run/rootfs");
        assert!(
            rootfs.join("moat-runner").is_file(),
            "build the sandbox rootfs first: scripts/rootfs.sh (just test does)"
        );
        SandboxConfig {
            socket: self.socket.clone(),
            namespace: "moat-test".into(),
            runtime_binary: self.dir.path().join("runsc-moat"),
            runtime_root: self.dir.path().join("runsc"),
            rootfs,
            io_dir: self.dir.path().join("io"),
            runner_args: vec!["/moat-runner".into(), "--modules".into(), "/modules".into()],
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/containerd.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn job(code: &str, timeout_ms: u64) -> Job {
    let mut job = Job::new(code);
    job.timeout_ms = timeout_ms;
    job
}

async fn run(sandboxes: &Sandboxes, job: &Job) -> (moat_launcher::run::RunReport, Vec<Accepted>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let report = run_job(sandboxes, job, &RunSettings::default(), tx)
        .await
        .expect("run");
    let mut frames = Vec::new();
    while let Ok(f) = rx.try_recv() {
        frames.push(f);
    }
    (report, frames)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_in_gvisor_and_streams_frames() {
    let ctr = Containerd::start();
    let sandboxes = Sandboxes::connect(ctr.config()).await.unwrap();
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
        report.create,
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
    let sandboxes = Sandboxes::connect(ctr.config()).await.unwrap();

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_are_swept() {
    let ctr = Containerd::start();
    let sandboxes = Sandboxes::connect(ctr.config()).await.unwrap();
    // A started sandbox nobody destroys, as a killed launcher would leave it.
    let sandbox = sandboxes
        .create(&moat_launcher::spec::Limits::for_job(64, 100_000))
        .await
        .unwrap();
    sandbox.start().await.unwrap();
    std::mem::forget(sandbox);
    assert_eq!(sandboxes.sweep().await.unwrap(), 1);
    assert_eq!(sandboxes.sweep().await.unwrap(), 0);
}
