//! Scripts reach the network through `moat-egress`, end to end: under
//! `moat up` (the runner in gVisor with no network, its calls relayed by the
//! launcher over NATS to the egress service, each request a `net` event)
//! and under `moat exec` (the same
//! session and policy in process). The target is a small HTTP server on
//! 127.0.0.1, allowed through `MOAT_EGRESS_ALLOW_NETS`; every refusal is of a
//! loopback address outside that allowance, or a name a test resolver
//! (`MOAT_EGRESS_DNS`) points at one. Needs root and the rootfs
//! (`just rootfs`) for `moat up`.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use moat_testkit::dns::Answer;
use moat_testkit::{is_root, root};
use support::{key_for, moat_keys, moat_run, text, Up};

/// The servers (by port) whose `/slow` has been asked for: tests run in
/// parallel, each with its own server.
static SLOW_ASKED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

fn slow_asked(server: SocketAddr) -> bool {
    SLOW_ASKED.lock().unwrap().contains(&server.port())
}

/// An HTTP/1.1 server on 127.0.0.1 with a few fixed routes, one thread per
/// connection, for as long as the test runs.
fn api_server() -> SocketAddr {
    api_server_on([127, 0, 0, 1])
}

/// [`api_server`] on another loopback address.
fn api_server_on(ip: [u8; 4]) -> SocketAddr {
    let listener = TcpListener::bind((std::net::Ipv4Addr::from(ip), 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    addr
}

fn answer(mut stream: std::net::TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let ua = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("user-agent: ")
                .or(l.strip_prefix("User-Agent: "))
        })
        .unwrap_or("")
        .to_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let (status, body) = match path.split('?').next().unwrap_or("") {
        // The length and byte sum of what was posted.
        "/upload" => {
            let mut posted = vec![0u8; length.min(16 << 20)];
            if stream.read_exact(&mut posted).is_err() {
                return;
            }
            let sum: u64 = posted.iter().map(|&b| u64::from(b)).sum();
            (
                "200 OK",
                format!(r#"{{"bytes":{},"sum":{sum}}}"#, posted.len()),
            )
        }
        "/health" => ("200 OK", format!(r#"{{"status":"up","ua":"{ua}"}}"#)),
        "/slow" => {
            if let Ok(local) = stream.local_addr() {
                SLOW_ASKED.lock().unwrap().push(local.port());
            }
            std::thread::sleep(Duration::from_secs(8));
            ("200 OK", "late".to_owned())
        }
        "/big" => ("200 OK", "x".repeat(3 * 1024 * 1024)),
        // The shape of httpbin.org/json, which examples/monitor.js checks.
        "/json" => (
            "200 OK",
            r#"{"slideshow":{"title":"Sample Slide Show","slides":[]}}"#.to_owned(),
        ),
        _ => ("404 Not Found", "{}".to_owned()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// `moat up` with 127.0.0.1 exempted from the egress block (where the test
/// API listens) and `extra` settings, once it is up.
fn up_allowing_loopback(extra: &[(&str, &str)]) -> Up {
    let mut env = vec![("MOAT_EGRESS_ALLOW_NETS", "127.0.0.1/32")];
    env.extend_from_slice(extra);
    let mut up = Up::start_with(&env);
    up.wait_for("\"moat is up\"", 1, |l| l.contains("moat is up."));
    up
}

/// The size of the body [`script`] posts: over one inline message, under
/// the 4 MiB cap.
const UPLOAD: usize = 3 * 1024 * 1024 + 7;

/// The script every test runs: a monitor's check, then each kind of refusal.
fn script(api: SocketAddr) -> String {
    let port = api.port();
    format!(
        r#"
const UPLOAD = {UPLOAD};
const t0 = Date.now();
const r = await fetch('http://{api}/health?key=secret');
const health = await r.json();
const refused = async (url, init) => {{
  try {{ await fetch(url, init); return 'fetched'; }}
  catch (e) {{ return e.name + ' ' + (e.cause ? e.cause.code : '') + ': ' + e.message; }}
}};
export default {{
  status: r.status,
  up: health.status,
  userAgent: health.ua.startsWith('moat/'),
  fast: Date.now() - t0 < 5000,
  otherLoopback: await refused('http://127.0.0.2:{port}/health'),
  decimalForm: await refused('http://2130706434:{port}/health'),
  mappedForm: await refused('http://[::ffff:127.0.0.2]:{port}/health'),
  mailPort: await refused('http://127.0.0.1:25/'),
  fileScheme: await refused('file:///etc/passwd'),
  closedPort: await refused('http://127.0.0.1:1/'),
  timedOut: await refused('http://{api}/slow', {{ signal: AbortSignal.timeout(300) }}),
  tooBig: await refused('http://{api}/big'),
  // Larger than one NATS message carries inline: uploaded in parts.
  upload: await (await fetch('http://{api}/upload', {{
    method: 'POST',
    body: new Uint8Array(UPLOAD).map((_, i) => i % 251),
  }})).json(),
}};
"#
    )
}

/// What both ways of running must report for [`script`].
fn check(value: &serde_json::Value, output: &str) {
    assert_eq!(value["status"], 200, "{output}");
    assert_eq!(value["up"], "up", "{output}");
    assert_eq!(value["userAgent"], true, "{output}");
    assert_eq!(value["fast"], true, "{output}");
    let says = |key: &str, want: &str| {
        let got = value[key].as_str().unwrap_or_default();
        assert!(
            got.contains(want),
            "{key}: {got:?} should say {want:?}\n{output}"
        );
    };
    says(
        "otherLoopback",
        "TypeError EGRESS_DENIED: 127.0.0.2 is a loopback address",
    );
    says("decimalForm", "127.0.0.2 is a loopback address");
    says("mappedForm", "127.0.0.2, a loopback address");
    says("mailPort", "EGRESS_DENIED: port 25");
    says("fileScheme", "EGRESS_DENIED");
    says("closedPort", "ECONNREFUSED");
    says("timedOut", "TimeoutError");
    says("tooBig", "EGRESS_LIMIT");
    let sum: u64 = (0..UPLOAD).map(|i| (i % 251) as u64).sum();
    assert_eq!(
        value["upload"],
        serde_json::json!({ "bytes": UPLOAD, "sum": sum }),
        "{output}"
    );
}

/// The value `moat run` / `moat exec` print after `value: ` (JSON, perhaps
/// over several lines), parsed.
fn value_of(out: &str) -> serde_json::Value {
    let (_, rest) = out
        .split_once("value: ")
        .unwrap_or_else(|| panic!("no value in:\n{out}"));
    serde_json::Deserializer::from_str(rest)
        .into_iter::<serde_json::Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("the value is not JSON:\n{rest}"))
}

#[test]
fn a_sandboxed_script_reaches_an_allowed_api_and_nothing_else() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    let api = api_server();
    let up = up_allowing_loopback(&[
        // Anonymous runs may receive 2 MiB here, so /big is over the cap.
        ("MOAT_EGRESS_ANON_BYTES", "2097152"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("monitor.js");
    std::fs::write(&file, script(api)).unwrap();
    let out = moat_run(&up, &[file.to_str().unwrap(), "--timeout-ms", "10000"]);
    let shown = format!("{}{}\n{}", text(&out.stdout), text(&out.stderr), up.log());
    assert!(out.status.success(), "{shown}");
    check(&value_of(&text(&out.stdout)), &shown);
    // Every request is a `net` event on the run's stream, its query cut.
    let stderr = text(&out.stderr);
    for line in [
        format!("GET http://{api}/health?… → 200"),
        format!(
            "GET http://127.0.0.2:{}/health → EGRESS_DENIED: 127.0.0.2 is a loopback address",
            api.port()
        ),
        format!("GET http://{api}/slow → ABORT_ERR"),
        "GET http://127.0.0.1:1/ → ECONNREFUSED".to_owned(),
    ] {
        assert!(stderr.contains(&line), "{line:?} not in:\n{stderr}");
    }
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[test]
fn a_run_past_its_request_budget_gets_egress_limit() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    let api = api_server();
    let up = up_allowing_loopback(&[("MOAT_EGRESS_ANON_REQUESTS", "3")]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.js");
    std::fs::write(
        &file,
        format!(
            r#"
const results = [];
for (let i = 0; i < 5; i++) {{
  try {{ results.push((await fetch('http://{api}/health')).status); }}
  catch (e) {{ results.push(e.cause.code); }}
}}
export default results;
"#
        ),
    )
    .unwrap();
    let out = moat_run(&up, &[file.to_str().unwrap()]);
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(
        value_of(&text(&out.stdout)),
        serde_json::json!([200, 200, 200, "EGRESS_LIMIT", "EGRESS_LIMIT"]),
        "{shown}"
    );
}

#[test]
fn moat_exec_makes_the_same_requests_under_the_same_policy() {
    let api = api_server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("monitor.js");
    std::fs::write(&file, script(api)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .current_dir(root())
        .args(["exec", "--timeout-ms", "20000"])
        .arg(&file)
        .env("NO_COLOR", "1")
        .env("MOAT_EGRESS_ALLOW_NETS", "127.0.0.1/32")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let shown = format!("{stdout}{stderr}");
    assert!(out.status.success(), "{shown}");
    // The 64 MiB tenant budget of a local run lets /big (3 MiB) through.
    let mut value = value_of(&stdout);
    assert!(
        value["tooBig"].as_str().unwrap_or_default() == "fetched",
        "{shown}"
    );
    value["tooBig"] = "EGRESS_LIMIT".into();
    check(&value, &shown);
    // Each request is shown, its query cut.
    assert!(
        stderr.contains(&format!("GET http://{api}/health?… → 200")),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[test]
fn the_monitor_example_reports_up_and_down() {
    // examples/monitor.js (in the playground's menu), pointed at the
    // loopback API instead of httpbin.org, then at a refused address.
    let api = api_server();
    let example = std::fs::read_to_string(root().join("examples/monitor.js")).unwrap();
    assert!(example.contains("'https://httpbin.org/json'"));
    let dir = tempfile::tempdir().unwrap();
    let run = |target: &str| {
        let file = dir.path().join("monitor.js");
        std::fs::write(
            &file,
            example.replace("'https://httpbin.org/json'", &format!("'{target}'")),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_moat"))
            .current_dir(root())
            .arg("exec")
            .arg(&file)
            .env("NO_COLOR", "1")
            .env("MOAT_EGRESS_ALLOW_NETS", "127.0.0.1/32")
            .output()
            .unwrap();
        let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{shown}");
        (value_of(&text(&out.stdout)), shown)
    };
    let (up, shown) = run(&format!("http://{api}/json"));
    assert_eq!(up["up"], true, "{shown}");
    assert_eq!(up["title"], "Sample Slide Show", "{shown}");
    assert!(shown.contains("up: 200 \"Sample Slide Show\""), "{shown}");
    let (down, shown) = run(&format!("http://127.0.0.2:{}/json", api.port()));
    assert_eq!(down["up"], false, "{shown}");
    assert_eq!(down["error"], "EGRESS_DENIED", "{shown}");
}

#[test]
fn a_killed_egress_service_fails_the_request_not_the_launcher() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    let api = api_server();
    let up = up_allowing_loopback(&[("MOAT_EGRESS_TIMEOUT_MS", "3000")]);
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow.js");
    std::fs::write(
        &slow,
        format!(
            "let r;\n\
             try {{ await fetch('http://{api}/slow'); r = 'fetched'; }}\n\
             catch (e) {{ r = e.cause ? e.cause.code : e.name; }}\n\
             export default r;\n"
        ),
    )
    .unwrap();
    let run = {
        let url = up.url.clone();
        let slow = slow.clone();
        std::thread::spawn(move || {
            Command::new(env!("CARGO_BIN_EXE_moat"))
                .current_dir(root())
                .args(["run", "--server", &url, "--timeout-ms", "10000"])
                .arg(&slow)
                .env("NO_COLOR", "1")
                .output()
                .unwrap()
        })
    };
    // Once the request is in the egress service's hands, kill it.
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while !slow_asked(api) {
        assert!(
            std::time::Instant::now() < until,
            "the request never arrived:\n{}",
            up.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let egress = *up.pids("egress").last().expect("egress started");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(egress),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = run.join().unwrap();
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{shown}\n{}", up.log());
    let code = value_of(&text(&out.stdout));
    assert!(
        code == "ETIMEDOUT" || code == "EGRESS_UNAVAILABLE",
        "the script saw {code}: {shown}"
    );
    // moat up starts the egress service again; the launcher never stopped.
    let file = dir.path().join("health.js");
    std::fs::write(
        &file,
        format!("export default (await fetch('http://{api}/health')).status;"),
    )
    .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = moat_run(&up, &[file.to_str().unwrap()]);
        let stdout = text(&out.stdout);
        if out.status.success() && value_of(&stdout) == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "no fetch worked after the restart:\n{stdout}{}",
            text(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        up.pids("launcher-0").len(),
        1,
        "the launcher restarted:\n{}",
        up.log()
    );
}

#[test]
fn a_tenants_own_rules_narrow_the_operators_policy() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    let (one, three) = (api_server(), api_server_on([127, 0, 0, 3]));
    let up = up_allowing_loopback(&[("MOAT_EGRESS_ALLOW_NETS", "127.0.0.1/32,127.0.0.3/32")]);
    let key = key_for(&up, "careful");
    // The tenant allows its scripts 127.0.0.3 only.
    let set = moat_keys(
        &up,
        &["egress", "--tenant", "careful", "--only-nets", "127.0.0.3"],
    );
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert!(
        text(&set.stdout).contains("only-nets     127.0.0.3/32"),
        "{}",
        text(&set.stdout)
    );
    let bad = moat_keys(
        &up,
        &["egress", "--tenant", "careful", "--deny-nets", "10.0.0/8"],
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("--deny-nets"),
        "{}",
        text(&bad.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("both.js");
    std::fs::write(
        &file,
        format!(
            r#"
const get = async (url) => {{
  try {{ return (await fetch(url)).status; }}
  catch (e) {{ return e.cause.code + ': ' + e.message; }}
}};
export default [await get('http://{one}/health'), await get('http://{three}/health')];
"#
        ),
    )
    .unwrap();
    let tenant = moat_run(&up, &["--key", &key, file.to_str().unwrap()]);
    let shown = format!("{}{}", text(&tenant.stdout), text(&tenant.stderr));
    let value = value_of(&text(&tenant.stdout));
    assert!(
        value[0]
            .as_str()
            .unwrap_or_default()
            .starts_with("EGRESS_DENIED"),
        "{shown}"
    );
    assert_eq!(value[1], 200, "{shown}");
    // Anonymous runs are not the tenant's: the operator's policy alone.
    let anon = moat_run(&up, &[file.to_str().unwrap()]);
    assert_eq!(
        value_of(&text(&anon.stdout)),
        serde_json::json!([200, 200]),
        "{}{}",
        text(&anon.stdout),
        text(&anon.stderr)
    );
}

#[test]
fn names_resolve_under_the_policy_and_plans_and_hosts_have_their_own_limits() {
    assert!(is_root(), "moat up needs root (containerd and runsc do)");
    let api = api_server();
    let (one, two) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());
    // The egress service's resolver: every name points at loopback, one of
    // them outside the allow list.
    let dns = moat_testkit::dns::Dns::start(std::collections::HashMap::from([
        ("api.moat.test", Answer::A(vec![one])),
        ("plain.moat.test", Answer::A(vec![one])),
        ("inside.moat.test", Answer::A(vec![two])),
    ]));
    let resolver = dns.addr.to_string();
    let up = up_allowing_loopback(&[
        ("MOAT_EGRESS_DNS", resolver.as_str()),
        // Anonymous runs may not reach plain.moat.test; tenants may.
        ("MOAT_EGRESS_ANON_RULES", "deny-domains=plain.moat.test"),
        // Four requests to one host, then one every 100 s, fleet-wide.
        ("MOAT_EGRESS_HOST_RATE", "0.01"),
        ("MOAT_EGRESS_HOST_BURST", "4"),
    ]);
    let key = key_for(&up, "steady");
    let port = api.port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("names.js");
    std::fs::write(
        &file,
        format!(
            r#"
const get = async (host) => {{
  try {{ return (await fetch(`http://${{host}}:{port}/health`)).status; }}
  catch (e) {{ return e.cause.code + ': ' + e.message; }}
}};
const names = [await get('inside.moat.test'), await get('plain.moat.test'), await get('nosuch.moat.test')];
const api = [];
for (let i = 0; i < 3; i++) api.push(await get('api.moat.test'));
export default {{ names, api }};
"#
        ),
    )
    .unwrap();
    let anon = moat_run(&up, &[file.to_str().unwrap()]);
    let shown = format!("{}{}", text(&anon.stdout), text(&anon.stderr));
    let value = value_of(&text(&anon.stdout));
    assert_eq!(
        value["names"],
        serde_json::json!([
            "EGRESS_DENIED: inside.moat.test resolves to 127.0.0.2, a loopback address",
            "EGRESS_DENIED: plain.moat.test is on the deny list",
            "ENOTFOUND: getaddrinfo ENOTFOUND nosuch.moat.test"
        ]),
        "{shown}"
    );
    assert_eq!(value["api"], serde_json::json!([200, 200, 200]), "{shown}");

    // The tenant plan has no such rule; the fourth request to api.moat.test
    // is the last the fleet may make for now, whoever asks.
    let tenant = moat_run(&up, &["--key", &key, file.to_str().unwrap()]);
    let shown = format!(
        "{}{}\n{}",
        text(&tenant.stdout),
        text(&tenant.stderr),
        up.log()
    );
    let value = value_of(&text(&tenant.stdout));
    assert_eq!(value["names"][1], 200, "{shown}");
    assert_eq!(value["api"][0], 200, "{shown}");
    for busy in [&value["api"][1], &value["api"][2]] {
        assert!(
            busy.as_str().unwrap_or_default().starts_with(
                "EGRESS_LIMIT: moat is making too many requests to api.moat.test across all runs"
            ),
            "{shown}"
        );
    }
}
