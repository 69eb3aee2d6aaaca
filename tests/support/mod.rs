//! What the `moat up` end-to-end tests share: `moat up` itself on free
//! loopback ports with its output collected, `moat run` against it, and a
//! look at which processes still name its run directory.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moat_testkit::{free_port, root};

/// `moat up`, with its output collected.
pub struct Up {
    pub child: Child,
    log: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The edge's metrics port; the recorder's, launcher-0's and the egress
    /// service's follow.
    pub metrics_port: u16,
}

impl Up {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// `moat up` with extra `MOAT_*` variables for its services.
    pub fn start_with(extra: &[(&str, &str)]) -> Self {
        Self::start_args(&["--nats-port", &free_port().to_string()], extra)
    }

    /// `moat up` with `args` (which name the NATS port) and extra `MOAT_*`
    /// variables for its services.
    pub fn start_args(args: &[&str], extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("moat-up")
            .tempdir()
            .unwrap();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let metrics_port = free_ports(4);
        let root = root();
        let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
            .current_dir(&root)
            .args(["up", "--dir"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            // Edge, recorder, one launcher, the egress service.
            .args(["--metrics-port", &metrics_port.to_string()])
            .arg("--rootfs")
            .arg(root.join(".run/rootfs"))
            .arg("--web-dir")
            .arg(root.join("web/dist"))
            .env("NO_COLOR", "1")
            // Every call here comes from one address; the default anonymous
            // limit is for strangers, not for a test making dozens of calls.
            .env("MOAT_RATE_ANON", "1000/1000/1000")
            .env("MOAT_RATE_CLIENT_PATH", "1000/1000/1000")
            // No warm Chromium unless a test asks for one (tests/browser.rs):
            // it would cost every other test seconds of CPU.
            .env("MOAT_POOL_BROWSER_MIN", "0")
            .envs(extra.iter().copied())
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
            metrics_port,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `count` lines matching `pred`.
    pub fn wait_for(&mut self, what: &str, count: usize, pred: impl Fn(&str) -> bool) {
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

    /// Waits (120 s at most) until the `/metrics` of the service on
    /// `metrics_port + offset` (0 edge, 1 recorder, 2 launcher-0, 3 egress)
    /// has a line that starts with `line`.
    pub fn wait_for_metric(&self, offset: u16, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let page = metrics_text(self.metrics_port + offset);
            if page.lines().any(|l| l.starts_with(line)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no `{line}` within 120 s:\n{page}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The pids of a service's starts, in order.
    pub fn pids(&self, service: &str) -> Vec<i32> {
        self.log()
            .lines()
            .filter(|l| l.starts_with(&format!("{service} ")))
            .filter_map(|l| l.split("started (pid ").nth(1))
            .filter_map(|rest| rest.trim_end_matches(')').parse().ok())
            .collect()
    }

    pub fn interrupt(&mut self) -> std::process::ExitStatus {
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
pub fn free_ports(n: u16) -> u16 {
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

pub fn moat_run(up: &Up, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .current_dir(root())
        .args(["run", "--server", &up.url])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("MOAT_API_KEY")
        .output()
        .expect("moat run starts")
}

pub fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Processes whose command line names `path` (services, shims, sandboxes).
pub fn processes_naming(path: &Path) -> Vec<String> {
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
        // Services get the directory through their environment (MOAT_*),
        // not always their arguments.
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let environ = String::from_utf8_lossy(&environ);
        if (cmdline.contains(&needle) || environ.contains(&needle)) && alive(pid.parse().unwrap()) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

pub fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Runs `moat keys ARGS` on `up`'s database.
pub fn moat_keys(up: &Up, args: &[&str]) -> Output {
    let db = format!(
        "sqlite://{}?mode=rwc",
        up.dir.path().join("moat.db").display()
    );
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .current_dir(root())
        .args(["keys", "--database-url", &db])
        .args(args)
        .output()
        .unwrap()
}

/// Creates a tenant's API key in `up`'s database.
pub fn key_for(up: &Up, tenant: &str) -> String {
    let out = moat_keys(up, &["create", "--tenant", tenant]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A service's `/metrics` page (the whole HTTP answer), from `port`.
pub fn metrics_text(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "port {port}: {out}");
    out
}
