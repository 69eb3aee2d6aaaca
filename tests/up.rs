//! `just up` end to end, as a newcomer meets it: `moat up` starts the real
//! system (nats-server, containerd + runsc, a launcher, the recorder, the
//! edge) on free loopback ports; `moat run` runs scripts through it and
//! downloads their files; headless Chromium drives the web playground; a
//! killed service comes back; Ctrl-C stops everything. Needs root, the
//! rootfs (`just rootfs`) and the playground bundle (`just web`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moat_testkit::{free_port, is_root, root};

/// `moat up`, with its output collected.
struct Up {
    child: Child,
    log: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    url: String,
    dir: tempfile::TempDir,
}

impl Up {
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("moat-up")
            .tempdir()
            .unwrap();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let root = root();
        let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
            .current_dir(&root)
            .args(["up", "--dir"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--nats-port", &free_port().to_string()])
            .args(["--metrics-port", &free_ports(3).to_string()])
            .arg("--rootfs")
            .arg(root.join(".run/rootfs"))
            .arg("--web-dir")
            .arg(root.join("web/dist"))
            .env("NO_COLOR", "1")
            // Every call here comes from one address; the default anonymous
            // limit is for strangers, not for a test making dozens of calls.
            .env("MOAT_RATE_ANON", "1000/1000/1000")
            .env("MOAT_RATE_CLIENT_PATH", "1000/1000/1000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moat up starts");
        let log = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            }));
        }
        Self {
            child,
            log,
            readers,
            url,
            dir,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `count` lines matching `pred`.
    fn wait_for(&mut self, what: &str, count: usize, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if self.log().lines().filter(|l| pred(l)).count() >= count {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("moat up exited ({status}) before {what}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no {what} within 120 s:\n{}", self.log());
    }

    /// The pids of a service's starts, in order.
    fn pids(&self, service: &str) -> Vec<i32> {
        self.log()
            .lines()
            .filter(|l| l.starts_with(&format!("{service} ")))
            .filter_map(|l| l.split("started (pid ").nth(1))
            .filter_map(|rest| rest.trim_end_matches(')').parse().ok())
            .collect()
    }

    fn interrupt(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Everything it printed, read to the end.
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moat up did not stop within 90 s:\n{}", self.log());
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.interrupt();
        }
    }
}

/// The first of `n` consecutive free loopback ports.
fn free_ports(n: u16) -> u16 {
    for _ in 0..50 {
        let base = free_port();
        if base < u16::MAX - n
            && (1..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
        {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

fn moat_run(up: &Up, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .current_dir(root())
        .args(["run", "--server", &up.url])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_API_KEY")
        .output()
        .expect("moat run starts")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Processes whose command line names `path` (services, shims, sandboxes).
fn processes_naming(path: &Path) -> Vec<String> {
    let needle = path.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.chars().all(|c| c.is_ascii_digit()))
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) && alive(pid.parse().unwrap()) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn up_runs_scripts_serves_the_playground_restarts_and_stops() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    let web = root().join("web/dist/index.html");
    assert!(
        web.is_file(),
        "{} is missing: run `just web`",
        web.display()
    );
    let mut up = Up::start();
    up.wait_for("\"moat is up\"", 1, |l| l.contains("moat is up."));
    assert!(up.log().contains(&format!("playground  {}/", up.url)));

    // A script that saves an image: live output, the file downloaded.
    let out_dir = tempfile::tempdir().unwrap();
    let image = moat_run(
        &up,
        &[
            "--out",
            out_dir.path().to_str().unwrap(),
            "examples/image.js",
        ],
    );
    let stdout = text(&image.stdout);
    assert_eq!(
        image.status.code(),
        Some(0),
        "{stdout}{}",
        text(&image.stderr)
    );
    assert!(stdout.contains("saved mandelbrot.png"), "{stdout}");
    assert!(
        stdout.contains("file mandelbrot.png (image/png"),
        "{stdout}"
    );
    assert!(stdout.contains("✓ ok"), "{stdout}");
    let png = std::fs::read(out_dir.path().join("mandelbrot.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // An endless loop ends at its deadline, with the outcome's exit code.
    let spin = moat_run(&up, &["--timeout-ms", "1000", "examples/loop.js"]);
    assert_eq!(spin.status.code(), Some(13), "{}", text(&spin.stdout));
    assert!(text(&spin.stdout).contains("✗ timeout"));

    // The edge's refusal reads as a sentence.
    let greedy = moat_run(&up, &["--timeout-ms", "600000", "examples/hello.js"]);
    assert_eq!(greedy.status.code(), Some(1));
    let said = text(&greedy.stderr);
    assert!(said.contains("The server refused the script:"), "{said}");
    let stranger = moat_run(&up, &["--key", "moat_not_a_real_key", "examples/hello.js"]);
    assert_eq!(stranger.status.code(), Some(1));
    let said = text(&stranger.stderr);
    assert!(said.contains("The API key was not accepted"), "{said}");

    // The playground, in headless Chromium: type, run, see output and image.
    let shot = out_dir.path().join("playground.png");
    let page = Command::new("node")
        .current_dir(root())
        .arg(PathBuf::from("web/e2e/playground.mjs"))
        .arg(&up.url)
        .arg(&shot)
        .output()
        .expect("node runs");
    assert!(
        page.status.success(),
        "playground e2e failed:\n{}{}",
        text(&page.stdout),
        text(&page.stderr)
    );
    assert!(text(&page.stdout).contains("e2e ok"));
    assert!(std::fs::metadata(&shot).unwrap().len() > 0);

    // A service that dies is started again, and runs go on.
    let recorder = up.pids("recorder");
    assert_eq!(recorder.len(), 1, "{}", up.log());
    let _ = Command::new("kill")
        .args(["-KILL", &recorder[0].to_string()])
        .status();
    up.wait_for("a restarted recorder", 2, |l| {
        l.starts_with("recorder ") && l.contains("started (pid")
    });
    // The new recorder records: a file downloads only once its run is recorded.
    let again_dir = tempfile::tempdir().unwrap();
    let again = moat_run(
        &up,
        &[
            "--out",
            again_dir.path().to_str().unwrap(),
            "examples/image.js",
        ],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(again_dir.path().join("mandelbrot.png").is_file());
    assert!(
        !processes_naming(up.dir.path()).is_empty(),
        "the services name their run directory"
    );

    // Ctrl-C stops everything, launchers and infrastructure included.
    let pids: Vec<i32> = ["nats", "containerd", "recorder", "launcher-0", "edge"]
        .iter()
        .flat_map(|s| up.pids(s))
        .collect();
    assert!(pids.len() >= 6, "{}", up.log());
    let status = up.interrupt();
    assert!(status.success(), "{status}\n{}", up.log());
    let log = up.log();
    assert!(log.contains("exited (signal: 9"), "{log}");
    assert!(log.trim_end().ends_with("stopped"), "{log}");
    for pid in pids {
        assert!(!alive(pid), "pid {pid} still runs after moat up stopped");
    }
    // Nothing of it is left: no service, shim or sandbox names its directory.
    let left = processes_naming(up.dir.path());
    assert!(
        left.is_empty(),
        "still running after moat up stopped:\n{}",
        left.join("\n")
    );
}

#[test]
fn up_refuses_what_it_cannot_run_and_says_how_to_fix_it() {
    assert!(is_root(), "this test switches to the nobody user");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let _ = Command::new("chmod").arg("777").arg(dir.path()).status();
    let _ = Command::new("chmod").arg("777").arg(&state).status();
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(env!("CARGO_BIN_EXE_moat"))
        .args(["up", "--dir"])
        .arg(&state)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--nats-port", &free_port().to_string()])
        .args(["--metrics-port", &free_ports(3).to_string()])
        .arg("--rootfs")
        .arg(dir.path().join("no-rootfs"))
        .arg("--bin-dir")
        .arg(dir.path().join("no-bin"))
        .current_dir(root())
        .output()
        .expect("runuser runs");
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    for expected in [
        "moat up cannot start:",
        "root: containerd and gVisor need it",
        "moat-edge is not built",
        "the sandbox rootfs is not built",
        "`just rootfs`",
    ] {
        assert!(said.contains(expected), "{expected:?} not in:\n{said}");
    }
    // It started nothing.
    assert!(!state.join("nats").exists() && !state.join("containerd").exists());
}
