//! `moat-probe`: stands in for a subverted runner inside a sandbox. Usage:
//!
//! - `moat-probe HOST_PORT` (a TCP port listening on the host's loopback):
//!   reports, as one JSON object on stdout, what it can see and reach: the
//!   environment, the host's files and processes, the network, the
//!   filesystem. The launcher's isolation tests assert on the report.
//! - `moat-probe calls MODE`: reads its job line, abuses the host-call
//!   channel in one way (see [`abuse`]), then lingers far past any test
//!   job's deadline, draining stdin, so that only the launcher can end the
//!   run. The launcher's protocol tests assert the run ends `protocol_error`.
//! - `moat-probe mark`: waits for its job line like a pooled runner, then
//!   looks for the mark a previous run would have left in `/tmp`, leaves
//!   one, and reports what it found as its result value. The pool's tests
//!   assert no run ever finds one.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use moat_wire::hostcall::{
    CallFrame, FetchCall, HostCall, Reply, ReplyLine, MAX_CALLS_IN_FLIGHT, MAX_CALLS_PER_RUN,
    MAX_CALL_BODY_BYTES,
};
use moat_wire::Frame;

/// How long `calls` modes wait after their abuse: longer than any test job's
/// deadline, so a run that ends was ended by the launcher.
const LINGER: Duration = Duration::from_secs(60);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("calls") => calls(args.get(1).map_or("", String::as_str)),
        Some("mark") => mark(),
        port => report(port.and_then(|p| p.parse().ok()).unwrap_or(1)),
    }
}

/// The isolation report (the original and default mode): what a subverted
/// runner can see of the host, with `port` as the host port to try.
fn report(port: u16) {
    let pids: Vec<String> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .collect()
        })
        .unwrap_or_default();
    let cmdlines: Vec<String> = pids
        .iter()
        .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect();
    let interfaces: Vec<String> = std::fs::read_to_string("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|s| s.trim().to_owned()))
        .collect();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok();
    let report = serde_json::json!({
        "env": std::env::vars().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "uid": std::fs::read_to_string("/proc/self/status").unwrap_or_default()
            .lines().find(|l| l.starts_with("Uid:")).unwrap_or("").to_owned(),
        "shadow_readable": std::fs::read("/etc/shadow").is_ok(),
        "passwd_readable": std::fs::read("/etc/passwd").is_ok(),
        "root_entries": std::fs::read_dir("/").map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>()).unwrap_or_default(),
        "pids": pids.len(),
        "cmdlines": cmdlines,
        "interfaces": interfaces,
        "host_tcp_connected": tcp,
        "root_writable": std::fs::write("/probe", b"x").is_ok(),
        "tmp_writable": std::fs::write("/tmp/probe", b"x").is_ok(),
        "kernel": std::fs::read_to_string("/proc/version").unwrap_or_default(),
    });
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{report}");
}

/// Where `mark` leaves its mark: the sandbox's own writable `/tmp`.
const MARK: &str = "/tmp/moat-probe-mark";

/// The `mark` mode: job line in, then a result whose value says whether a
/// mark was already there (and whose it was), after leaving this run's.
fn mark() {
    let mut job = String::new();
    let _ = std::io::stdin().read_line(&mut job);
    let found = std::fs::read_to_string(MARK).ok();
    let mine = format!(
        "pid {} at {:?}",
        std::process::id(),
        std::time::SystemTime::now()
    );
    let left = std::fs::write(MARK, &mine).is_ok();
    let result = moat_wire::ResultFrame {
        outcome: moat_wire::Outcome::Ok,
        value: Some(serde_json::json!({ "found": found, "left": left })),
        error: None,
        cpu_ms: 0,
        wall_ms: 0,
        heap_peak_bytes: 0,
    };
    let _ = std::io::stdout().write_all(&Frame::Result(result).encode());
}

/// The `calls` modes: job line in, abuse out, then linger until killed (the
/// launcher must be what ends the run, not the probe's exit).
fn calls(mode: &str) {
    let mut stdin = BufReader::new(std::io::stdin());
    let mut job = String::new();
    let _ = stdin.read_line(&mut job);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if let Err(e) = abuse(mode, &mut stdin, &mut out).and_then(|()| out.flush()) {
        // The launcher may stop reading once it has seen enough: not ours to report.
        eprintln!("moat-probe calls {mode}: {e}");
    }
    drop(out);
    // Replies keep coming for a while; reading them keeps the host's writer
    // from blocking on a full pipe, so the host's own checks are what end it.
    std::thread::spawn(move || std::io::copy(&mut stdin, &mut std::io::sink()));
    std::thread::sleep(LINGER);
}

/// Writes one mode's abuse to `out`, reading replies from `stdin` where the
/// mode waits for them. Each mode breaks exactly one rule of the protocol:
///
/// - `flood`: 64 × [`MAX_CALLS_IN_FLIGHT`] calls without waiting for any
///   reply (the host's relay refuses more than that many waiting);
/// - `many`: [`MAX_CALLS_PER_RUN`] + 1 calls, in batches that each wait for
///   their replies, so none is ever over the in-flight cap (the host's
///   decoder refuses the one past the per-run count);
/// - `malformed`: a call line with an operation that does not exist;
/// - `ids`: call 2, then call 1 (ids must increase);
/// - `body`: a request body over [`MAX_CALL_BODY_BYTES`], in a line that
///   fits the line cap;
/// - `huge`: a call line twice the size of the largest file frame, far over
///   the host's line cap.
fn abuse(mode: &str, stdin: &mut impl BufRead, out: &mut impl Write) -> std::io::Result<()> {
    match mode {
        "flood" => {
            for id in 1..=(MAX_CALLS_IN_FLIGHT as u32 * 64) {
                out.write_all(&call(id, None))?;
            }
        }
        "many" => {
            let last = u32::try_from(MAX_CALLS_PER_RUN + 1).expect("the cap fits a u32");
            for id in 1..=last {
                out.write_all(&call(id, None))?;
                if id % MAX_CALLS_IN_FLIGHT as u32 == 0 && id < last {
                    out.flush()?;
                    await_replies(stdin, MAX_CALLS_IN_FLIGHT)?;
                }
            }
        }
        "malformed" => {
            out.write_all(
                b"{\"v\":1,\"t\":\"call\",\"id\":1,\"op\":\"exec\",\"cmd\":\"/bin/sh\"}\n",
            )?;
        }
        "ids" => {
            out.write_all(&call(2, None))?;
            out.write_all(&call(1, None))?;
        }
        "body" => {
            let body = "A".repeat(MAX_CALL_BODY_BYTES.div_ceil(3) * 4 + 4);
            out.write_all(&call(1, Some(body)))?;
        }
        "huge" => {
            // Written in pieces, not built: the line is larger than the
            // sandbox should have to hold.
            let chars = moat_wire::OutputLimits::default().max_file_bytes * 8 / 3;
            out.write_all(b"{\"v\":1,\"t\":\"call\",\"id\":1,\"op\":\"fetch\",\"method\":\"POST\",\"url\":\"http://127.0.0.1:1/\",\"body\":\"")?;
            let piece = [b'A'; 64 * 1024];
            for _ in 0..chars.div_ceil(piece.len() as u64) {
                out.write_all(&piece)?;
            }
            out.write_all(b"\"}\n")?;
        }
        other => {
            eprintln!("moat-probe: unknown calls mode {other:?}");
            std::process::exit(2);
        }
    }
    Ok(())
}

/// A well-formed fetch call frame, line and newline, as the runner writes it.
fn call(id: u32, body: Option<String>) -> Vec<u8> {
    let mut fetch = FetchCall::get("http://127.0.0.1:1/");
    if body.is_some() {
        fetch.method = "POST".into();
        fetch.body = body;
    }
    Frame::Call(CallFrame {
        id,
        call: HostCall::Fetch(fetch),
    })
    .encode()
}

/// Reads reply lines until `n` calls have had their final reply, so the next
/// batch never finds a call still waiting; stops early at end of input.
fn await_replies(stdin: &mut impl BufRead, n: usize) -> std::io::Result<()> {
    let mut done = 0;
    let mut line = Vec::new();
    while done < n {
        line.clear();
        if stdin.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let reply = ReplyLine::decode(line.strip_suffix(b"\n").unwrap_or(&line))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if !matches!(reply.reply, Reply::Chunk { .. }) {
            done += 1;
        }
    }
    Ok(())
}
