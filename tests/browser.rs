//! Puppeteer scripts end to end: `moat run` a script written the way
//! Puppeteer's documentation writes them, under `moat up`, with the real
//! Chromium inside a gVisor sandbox of the browser profile (no network of
//! its own: every request it makes is answered through `moat-egress`). The
//! pages come from a small HTTP server on 127.0.0.1, allowed through
//! `MOAT_EGRESS_ALLOW_NETS`; what must be refused is on 127.0.0.2, outside
//! that allowance. Needs root and the rootfs (`just rootfs rootfs-browser`).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use moat_testkit::{is_root, root};
use support::{key_for, moat_run, text, Up};

/// The test site: a form page that loads a stylesheet and a script from its
/// own origin and an image from a refused address; a page that sets a
/// cookie; a page whose script never ends; a page that opens a WebSocket;
/// a page with a frame and a worker that fetches; a page that installs a
/// service worker that fetches; a page that allocates without end; a
/// request never answered.
fn site() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, addr));
        }
    });
    addr
}

fn serve(mut stream: std::net::TcpStream, me: SocketAddr) {
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
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").to_owned();
    let port = me.port();
    let html = "text/html; charset=utf-8";
    if path == "/stall" {
        // Never answers within any run's deadline.
        std::thread::sleep(Duration::from_secs(90));
        return;
    }
    let (status, kind, extra, body) = match path.as_str() {
        "/" => (
            "200 OK",
            html,
            "",
            format!(
                r#"<!doctype html><html><head><title>Sign up</title>
<link rel="stylesheet" href="/style.css"></head><body>
<h1>Welcome</h1>
<form><input id="name"><button id="go" type="button">Go</button></form>
<p id="out"></p>
<img id="pic" src="http://127.0.0.2:{port}/pixel.png">
<script src="/app.js"></script></body></html>"#
            ),
        ),
        "/style.css" => ("200 OK", "text/css", "", "h1 { color: rgb(200, 0, 0) }".into()),
        "/app.js" => (
            "200 OK",
            "text/javascript",
            "",
            "document.getElementById('go').onclick = () => { \
             document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value; };"
                .into(),
        ),
        "/cookie" => (
            "200 OK",
            html,
            "set-cookie: visited=yes; Path=/\r\n",
            "<title>cookie</title>".into(),
        ),
        "/plain" => ("200 OK", html, "", "<title>plain</title>".into()),
        "/whoami" => {
            let cookie = head
                .lines()
                .find_map(|l| l.strip_prefix("cookie: ").or_else(|| l.strip_prefix("Cookie: ")))
                .unwrap_or("none")
                .to_owned();
            ("200 OK", html, "", format!("<title>{cookie}</title>"))
        }
        "/framed" => (
            "200 OK",
            html,
            "",
            "<title>framed</title><iframe src=\"/plain\"></iframe><script>\
             const w = new Worker('/worker.js'); w.onmessage = (e) => { window.workerSaid = e.data; };</script>"
                .into(),
        ),
        "/worker.js" => (
            "200 OK",
            "text/javascript",
            "",
            "fetch('/data').then((r) => r.text()).then((t) => postMessage(t), (e) => postMessage('failed: ' + e));".into(),
        ),
        "/data" => ("200 OK", "text/plain", "", "from the worker".into()),
        "/sw" => (
            "200 OK",
            html,
            "",
            "<title>sw</title><script>navigator.serviceWorker.register('/sw.js')\
             .then(() => navigator.serviceWorker.ready)\
             .then(() => { window.swReady = 'ready'; }, (e) => { window.swReady = 'failed: ' + e; });</script>"
                .into(),
        ),
        "/sw.js" => (
            "200 OK",
            "text/javascript",
            "",
            "self.addEventListener('install', (e) => e.waitUntil(fetch('/data?from=sw')));".into(),
        ),
        "/hog" => (
            "200 OK",
            html,
            "",
            "<title>hog</title><script>const kept = []; \
             setInterval(() => { for (let i = 0; i < 64; i++) kept.push(new Float64Array(1 << 17).fill(Math.random())); }, 0);</script>"
                .into(),
        ),
        "/spin" => (
            "200 OK",
            html,
            "",
            "<title>spin</title><script>setTimeout(() => { for (;;) {} }, 0)</script>".into(),
        ),
        "/socket" => (
            "200 OK",
            html,
            "",
            format!(
                r#"<title>socket</title><script>
window.verdict = new Promise((resolve) => {{
  try {{
    const ws = new WebSocket('ws://127.0.0.1:{port}/ws');
    ws.onopen = () => resolve('open');
    ws.onerror = () => resolve('refused');
  }} catch (e) {{ resolve('refused: ' + e.message); }}
}});
</script>"#
            ),
        ),
        _ => ("404 Not Found", "text/plain", "", "no such page".into()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// `moat up` with the site's address allowed and one warm browser sandbox
/// kept, once it is up.
fn up() -> Up {
    let mut up = Up::start_with(&[
        ("MOAT_EGRESS_ALLOW_NETS", "127.0.0.1/32"),
        ("MOAT_POOL_BROWSER_MIN", "1"),
    ]);
    up.wait_for("\"moat is up\"", 1, |l| l.contains("moat is up."));
    up
}

fn ready() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root (containerd, runsc)");
        return false;
    }
    assert!(
        root()
            .join(".run/rootfs-browser/usr/lib/chromium/chromium")
            .is_file(),
        "build the browser rootfs first: just rootfs-browser (just test does)"
    );
    true
}

/// Writes `code` to a script file in `dir` and runs it with `moat run`.
fn run(up: &Up, dir: &std::path::Path, name: &str, code: &str, args: &[&str]) -> String {
    let file = dir.join(name);
    std::fs::write(&file, code).unwrap();
    let mut all = vec![file.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = moat_run(up, &all);
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// The value `moat run` prints after `value: `, parsed.
fn value_of(out: &str) -> serde_json::Value {
    let (_, rest) = out
        .split_once("value: ")
        .unwrap_or_else(|| panic!("no value in:\n{out}"));
    serde_json::Deserializer::from_str(rest)
        .into_iter::<serde_json::Value>()
        .next()
        .unwrap()
        .unwrap()
}

#[test]
fn a_puppeteer_script_fills_a_form_and_takes_a_screenshot() {
    if !ready() {
        return;
    }
    let site = site();
    let up = up();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    // Written as Puppeteer's own examples are: nothing moat-specific.
    let code = format!(
        r#"
import puppeteer from 'puppeteer';

const browser = await puppeteer.launch();
const page = await browser.newPage();
await page.setViewport({{ width: 640, height: 480 }});
const failed = [];
page.on('requestfailed', (request) => failed.push(request.url() + ' ' + request.failure().errorText));
const response = await page.goto('http://{site}/', {{ waitUntil: 'load' }});
const title = await page.title();
await page.type('#name', 'moat');
await page.click('#go');
await page.waitForSelector('#out');
const greeting = await page.$eval('#out', (el) => el.textContent);
const color = await page.$eval('h1', (el) => getComputedStyle(el).color);
const shot = await page.screenshot({{ path: 'form.png', fullPage: true }});
let file;
try {{ await page.goto('file:///etc/passwd'); file = 'opened'; }} catch (e) {{ file = e.message; }}
await page.goto('http://{site}/socket');
const socket = await page.evaluate(() => window.verdict);
await page.goto('http://{site}/framed');
await page.waitForFunction(() => window.workerSaid);
const worker = await page.evaluate(() => window.workerSaid);
await page.goto('http://{site}/sw');
await page.waitForFunction(() => window.swReady);
const sw = await page.evaluate(() => window.swReady);
await browser.close();
export default {{
  status: response.status(),
  title, greeting, color, failed, file, socket, worker, sw,
  png: [...shot.slice(1, 4)].map((c) => String.fromCharCode(c)).join(''),
}};
"#
    );
    // A tenant's run, for a deadline with room for a cold browser on a
    // busy machine (an anonymous run may ask for 10 s at most).
    let key = key_for(&up, "browsing");
    let out = run(
        &up,
        dir.path(),
        "form.js",
        &code,
        &[
            "--key",
            &key,
            "--timeout-ms",
            "60000",
            "--out",
            files.to_str().unwrap(),
        ],
    );
    let value = value_of(&out);
    assert_eq!(value["status"], 200, "{out}");
    assert_eq!(value["title"], "Sign up", "{out}");
    assert_eq!(value["greeting"], "Hello, moat", "{out}");
    // The stylesheet came through egress and applied.
    assert_eq!(value["color"], "rgb(200, 0, 0)", "{out}");
    assert_eq!(value["png"], "PNG", "{out}");
    // The refused subresource: failed in the page, reported as a net event,
    // and the page loaded all the same.
    let failed = value["failed"].to_string();
    assert!(
        failed.contains("127.0.0.2") && failed.contains("net::ERR_BLOCKED_BY_CLIENT"),
        "{out}"
    );
    assert!(
        out.contains("127.0.0.2") && out.contains("EGRESS_DENIED"),
        "the refusal is a net event: {out}"
    );
    assert!(
        out.contains(&format!("GET http://{site}/style.css → 200")),
        "{out}"
    );
    assert!(
        value["file"]
            .as_str()
            .unwrap()
            .contains("ERR_ACCESS_DENIED"),
        "{out}"
    );
    assert_ne!(value["socket"], "open", "{out}");
    // A frame's document and a worker's script and fetch are the page's
    // requests too: each answered through egress, each a net event.
    // A service worker's script and what it fetches as it installs too.
    assert_eq!(value["worker"], "from the worker", "{out}");
    assert_eq!(value["sw"], "ready", "{out}");
    for path in ["/plain", "/worker.js", "/data", "/sw.js", "/data?…"] {
        assert!(
            out.contains(&format!("GET http://{site}{path} → 200")),
            "{path}: {out}"
        );
    }
    // The screenshot is a run file, downloaded by `moat run --out`.
    let png = std::fs::read(files.join("form.png")).expect("form.png downloaded");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{out}");
    assert!(png.len() > 1000, "{out}");
}

/// The cookie header the site saw, as the script reported it.
fn first_value_sent(out: &str) -> String {
    value_of(out)["sent"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn runs_share_no_browser_state_and_a_page_that_spins_times_out() {
    if !ready() {
        return;
    }
    let site = site();
    let up = up();
    let dir = tempfile::tempdir().unwrap();
    let visit = |name: &str, path: &str| {
        let code = format!(
            r#"
import puppeteer from 'puppeteer-core';
const browser = await puppeteer.launch();
const page = await browser.newPage();
const before = (await page.cookies('http://{site}/')).map((c) => c.name);
await page.goto('http://{site}{path}');
const after = (await page.cookies()).map((c) => c.name);
const title = await page.title();
// What the browser sends back to the site: its own jar's cookie.
await page.goto('http://{site}/whoami');
const sent = await page.title();
await browser.close();
export default {{ before, after, title, sent }};
"#
        );
        run(&up, dir.path(), name, &code, &["--timings"])
    };
    // Both runs take a warm browser sandbox (Chromium started in it ahead
    // of the run): the pool keeps one, and makes the next after each run.
    let warm = "moat_launcher_pool_ready{class=\"browser\"} 1";
    up.wait_for_metric(2, warm);
    let first = visit("first.js", "/cookie");
    assert!(first.contains("(warm)"), "{first}");
    assert_eq!(first_value_sent(&first), "visited=yes", "{first}");
    let first_value = value_of(&first);
    assert_eq!(
        first_value["after"],
        serde_json::json!(["visited"]),
        "{first}"
    );
    up.wait_for_metric(2, warm);
    let second = visit("second.js", "/plain");
    assert!(second.contains("(warm)"), "{second}");
    assert_eq!(first_value_sent(&second), "none", "{second}");
    let second_value = value_of(&second);
    assert_eq!(second_value["title"], "plain", "{second}");
    assert_eq!(second_value["before"], serde_json::json!([]), "{second}");
    assert_eq!(second_value["after"], serde_json::json!([]), "{second}");

    // A page whose script never yields: the run's deadline ends it.
    let code = format!(
        r#"
import puppeteer from 'moat:browser';
const browser = await puppeteer.launch();
const page = await browser.newPage();
await page.goto('http://{site}/spin', {{ waitUntil: 'domcontentloaded' }});
await page.evaluate(() => document.title);
export default 'finished';
"#
    );
    let out = run(&up, dir.path(), "spin.js", &code, &["--timeout-ms", "8000"]);
    assert!(out.contains("timeout"), "{out}");
    assert!(!out.contains("finished"), "{out}");

    // A navigation that never gets its answer times out in the script,
    // which goes on and forgets `browser.close()`: the run still ends as
    // soon as its value is settled (the browser closes with it, the page's
    // request still in flight is given up), not at its deadline.
    let code = format!(
        r#"
import puppeteer from 'puppeteer';
const browser = await puppeteer.launch();
const page = await browser.newPage();
let said;
try {{ await page.goto('http://{site}/stall', {{ timeout: 2000 }}); }} catch (e) {{ said = e.name + ': ' + e.message; }}
export default said;
"#
    );
    let out = run(&up, dir.path(), "stall.js", &code, &[]);
    let said = value_of(&out);
    assert!(
        said.as_str()
            .unwrap()
            .starts_with("TimeoutError: Navigation timeout"),
        "{out}"
    );

    // A script that closes its browser and launches another: the first
    // one's last words (its exit) reach neither the second nor its pages.
    // The second is launched with a `protocolTimeout`: a command its page
    // does not answer in time (here, busy for 10 s) fails, named.
    let code = format!(
        r#"
import puppeteer from 'puppeteer';
const first = await puppeteer.launch();
await (await first.newPage()).goto('http://{site}/cookie');
await first.close();
const second = await puppeteer.launch({{ protocolTimeout: 3000 }});
const page = await second.newPage();
await page.goto('http://{site}/plain');
const title = await page.title();
const cookies = (await page.cookies('http://{site}/')).length;
const stuck = await page.evaluate(() => {{ const t = Date.now(); while (Date.now() - t < 10000); }})
  .then(() => 'answered', (e) => e.name + ': ' + e.message);
await second.close();
export default {{ title, cookies, first: first.isConnected(), stuck }};
"#
    );
    let key = key_for(&up, "relaunching");
    let args = ["--key", key.as_str(), "--timeout-ms", "60000"];
    let out = run(&up, dir.path(), "relaunch.js", &code, &args);
    assert_eq!(
        value_of(&out),
        serde_json::json!({
            "title": "plain",
            "cookies": 0,
            "first": false,
            "stuck": "ProtocolError: Runtime.callFunctionOn timed out. Increase the 'protocolTimeout' \
                      setting in launch/connect calls for a higher timeout if needed."
        }),
        "{out}"
    );
}

#[test]
fn a_page_that_allocates_without_end_ends_oom_and_the_example_runs_after() {
    if !ready() {
        return;
    }
    let site = site();
    let up = up();
    let dir = tempfile::tempdir().unwrap();
    // The page's own heap grows 64 MiB a tick in the renderer, outside the
    // runner's heap meter: the sandbox's cgroup is what stops it.
    let code = format!(
        r#"
import puppeteer from 'puppeteer';
const browser = await puppeteer.launch();
const page = await browser.newPage();
await page.goto('http://{site}/hog', {{ waitUntil: 'domcontentloaded' }});
await new Promise((resolve) => setTimeout(resolve, 50000));
export default 'survived';
"#
    );
    let key = key_for(&up, "hogging");
    let args = ["--key", key.as_str(), "--timeout-ms", "60000"];
    let out = run(&up, dir.path(), "hog.js", &code, &args);
    assert!(out.contains("oom"), "{out}");
    assert!(!out.contains("survived"), "{out}");
    // The launcher carries on: the next browser run works, here the
    // README's example (the playground's too), its screenshot downloaded.
    let files = dir.path().join("files");
    let example = root().join("examples/screenshot.js");
    let out = moat_run(
        &up,
        &[
            example.to_str().unwrap(),
            "--key",
            &key,
            "--timeout-ms",
            "60000",
            "--out",
            files.to_str().unwrap(),
        ],
    );
    let out = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(value_of(&out)["title"], "Hello from moat", "{out}");
    let png = std::fs::read(files.join("page.png")).expect("page.png downloaded");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{out}");
}
