//! Shared pieces of moat's benchmarks: where the binaries are, the scripts,
//! running a script as a process (moat-runner, or node for comparison), and
//! the settings of the benchmarks that drive a running system.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use moat_wire::Job;

/// The running system a benchmark drives: `MOAT_SERVER`, by default
/// `http://127.0.0.1:8080` (`just up`).
pub fn server() -> std::net::SocketAddr {
    std::env::var("MOAT_SERVER")
        .unwrap_or_else(|_| "http://127.0.0.1:8080".into())
        .trim_start_matches("http://")
        .parse()
        .expect("MOAT_SERVER is http://IP:PORT")
}

/// Whether an edge answers `GET /healthz` at `server` with 200 (bounded):
/// the benchmarks that drive a running system check before they start.
pub fn edge_is_up(server: std::net::SocketAddr) -> bool {
    use std::io::Read;
    let Ok(mut s) =
        std::net::TcpStream::connect_timeout(&server, std::time::Duration::from_secs(2))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: moat\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}

/// A loopback HTTP server (a thread per connection) answering every
/// request with `body` as `content_type` and closing, as a page or API for
/// a benchmark's runs to reach (through `MOAT_EGRESS_ALLOW_NETS`).
pub fn serve_loopback(content_type: &'static str, body: &'static str) -> std::net::SocketAddr {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

/// A count from the environment variable `name`, or `default`.
pub fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A benchmark script's source, from `benches/scripts/`.
pub fn script(name: &str) -> String {
    std::fs::read_to_string(root().join("benches/scripts").join(name)).expect("benchmark script")
}

/// The release `moat-runner` (`just bench` builds it first).
pub fn runner() -> PathBuf {
    let path = root().join("target/release/moat-runner");
    assert!(
        path.is_file(),
        "build it first: cargo build --release -p moat-runner"
    );
    path
}

/// `node` on PATH, if there is one.
pub fn node() -> Option<PathBuf> {
    let out = Command::new("sh")
        .args(["-c", "command -v node"])
        .output()
        .ok()?;
    let path = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Runs `code` through a fresh `moat-runner` process; returns its stdout.
pub fn run_runner(code: &str) -> Vec<u8> {
    let mut child = Command::new(runner())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn moat-runner");
    let job = serde_json::to_vec(&Job::new(code)).expect("job");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&job)
        .expect("write job");
    let out = child.wait_with_output().expect("runner output");
    assert!(out.status.success(), "runner failed: {out:?}");
    out.stdout
}

/// Runs a script file under node as an ES module; returns its stdout.
pub fn run_node(node: &PathBuf, name: &str) -> Vec<u8> {
    let out = Command::new(node)
        .arg("--input-type=module")
        .arg("-e")
        .arg(script(name))
        .output()
        .expect("spawn node");
    assert!(out.status.success(), "node failed: {out:?}");
    out.stdout
}
