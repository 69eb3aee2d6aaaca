//! The run's browser: a headless Chromium the runner starts itself (user code
//! never spawns a process) and speaks the DevTools protocol to over
//! `--remote-debugging-pipe`: NUL-separated JSON, commands on the child's
//! fd 3, replies and events on its fd 4. No debugging port is opened.
//!
//! Messages from the browser are read by a thread of their own and handed to
//! the event loop through the host channel's queue ([`BrowserSink`]), so the
//! loop waits on one queue for host replies and browser messages alike. What
//! goes to the browser passes [`guard`] first: the protocol methods the
//! `moat:browser` module needs, and no URL outside http(s), `about:` and
//! `data:`. The browser has no network (the sandbox's is `none`); every
//! request it makes is paused (the DevTools `Fetch` domain) and answered by
//! the module with a response fetched through the host under the run's
//! egress policy.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};

/// Largest message the browser may send (a full-page screenshot's base64).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Largest command the module may send (a `setContent` or a fulfilled body).
pub const MAX_COMMAND_BYTES: usize = 48 * 1024 * 1024;
/// Most command bytes waiting for the browser to read them; past it the
/// browser is taken to have stopped reading.
const MAX_UNREAD_BYTES: usize = 64 * 1024 * 1024;
/// Where the browser keeps its profile, on the sandbox's tmpfs, fresh per run.
const PROFILE_DIR: &str = "/tmp/moat-browser";

/// What the browser's reading thread hands the event loop.
#[derive(Debug)]
pub enum BrowserMessage {
    /// One protocol message, as text.
    Message(String),
    /// The browser's output ended (it exited, or broke the framing).
    Gone(String),
}

/// A message stamped with the browser it came from: after a `close()` and a
/// second `launch()`, what the first browser said last (its exit, above
/// all) is still queued, and must not reach, or end, the second.
#[derive(Debug)]
pub struct FromBrowser {
    /// The sending browser's [`Browser::generation`].
    pub generation: u64,
    /// What it said.
    pub message: BrowserMessage,
}

/// Where the reading thread sends what it reads.
pub type BrowserSink = Box<dyn Fn(FromBrowser) -> bool + Send>;

/// The next browser's generation: unique within this runner.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// Why a browser could not be started or spoken to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrowserError {
    /// This run was not given a browser.
    #[error("this run has no browser: submit it with \"browser\": true (moat run --browser), or import moat:browser or puppeteer statically")]
    NotAllowed,
    /// The sandbox has no browser installed.
    #[error("no browser is installed where this run runs")]
    NotInstalled,
    /// A browser is already running in this run.
    #[error("a browser is already running in this run; close it first")]
    AlreadyRunning,
    /// The process could not be started.
    #[error("the browser did not start: {0}")]
    Spawn(String),
    /// The browser is not running (never started, closed, or it died).
    #[error("the browser is not running: {0}")]
    Closed(String),
    /// A command the guard refuses.
    #[error("refused: {0}")]
    Refused(String),
}

/// Where this runner finds Chromium, if anywhere, and whether the job may
/// use it.
#[derive(Debug, Clone, Default)]
pub struct BrowserConfig {
    /// The Chromium executable (the runner's `--browser`).
    pub executable: Option<PathBuf>,
    /// The job asked for a browser.
    pub allowed: bool,
}

/// A running browser.
pub struct Browser {
    generation: u64,
    child: Option<Child>,
    /// Commands for the writing thread: the engine never blocks on a pipe
    /// that a stuck browser has stopped reading.
    to_browser: Mutex<mpsc::Sender<Vec<u8>>>,
    unread: Arc<AtomicUsize>,
    gone: Arc<Mutex<Option<String>>>,
}

impl Browser {
    /// Starts Chromium at `executable`; what it says goes to `sink`.
    pub fn launch(executable: &Path, sink: BrowserSink) -> Result<Self, BrowserError> {
        let spawn = |e: std::io::Error| BrowserError::Spawn(e.to_string());
        let (commands_rx, commands_tx) = std::io::pipe().map_err(spawn)?;
        let (replies_rx, replies_tx) = std::io::pipe().map_err(spawn)?;
        let _ = std::fs::remove_dir_all(PROFILE_DIR);
        let mut cmd = Command::new(executable);
        cmd.args(FLAGS)
            .arg(format!("--user-data-dir={PROFILE_DIR}"))
            .arg("about:blank")
            .env_clear()
            .env("HOME", PROFILE_DIR)
            .env("XDG_CONFIG_HOME", PROFILE_DIR)
            .env("XDG_CACHE_HOME", PROFILE_DIR)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so one signal ends every process it made.
            .process_group(0);
        let (from_us, to_us) = (fd(&commands_rx), fd(&replies_tx));
        // SAFETY: between fork and exec the closure calls only `fcntl` and
        // `dup2`, which are async-signal-safe, and allocates nothing.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                // Copied above fd 10 first, so that dup2 onto 3 and 4 never
                // meets its own source (which would keep close-on-exec set).
                let a = libc::fcntl(from_us, libc::F_DUPFD_CLOEXEC, 10);
                let b = libc::fcntl(to_us, libc::F_DUPFD_CLOEXEC, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(spawn)?;
        // Our copies of the child's ends close, so its exit ends our reads.
        drop(commands_rx);
        drop(replies_tx);
        let gone = Arc::new(Mutex::new(None));
        let g = gone.clone();
        let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
        let stamped = move |message| {
            sink(FromBrowser {
                generation,
                message,
            })
        };
        std::thread::Builder::new()
            .name("browser-replies".into())
            .spawn(move || read_messages(replies_rx, stamped, &g))
            .map_err(spawn)?;
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let unread = Arc::new(AtomicUsize::new(0));
        let (u, g) = (unread.clone(), gone.clone());
        std::thread::Builder::new()
            .name("browser-commands".into())
            .spawn(move || write_commands(commands_tx, &rx, &u, &g))
            .map_err(spawn)?;
        Ok(Self {
            generation,
            child: Some(child),
            to_browser: Mutex::new(tx),
            unread,
            gone,
        })
    }

    /// Sends one command (JSON text with an `id`), once [`guard`] allows it.
    pub fn send(&self, command: &str) -> Result<(), BrowserError> {
        if let Some(why) = self.gone.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(BrowserError::Closed(why));
        }
        guard(command)?;
        if self.unread.load(Ordering::Relaxed) + command.len() > MAX_UNREAD_BYTES {
            return Err(BrowserError::Closed(
                "the browser has stopped reading its commands".into(),
            ));
        }
        let mut bytes = Vec::with_capacity(command.len() + 1);
        bytes.extend_from_slice(command.as_bytes());
        bytes.push(0);
        self.unread.fetch_add(bytes.len(), Ordering::Relaxed);
        self.to_browser
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(bytes)
            .map_err(|_| BrowserError::Closed("its command pipe has closed".into()))
    }

    /// Which browser of the run this is: its messages carry the same stamp.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether it has exited (or broken the protocol) already: a warm
    /// sandbox's browser may have died while it waited for its job.
    pub fn is_gone(&self) -> bool {
        self.gone
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The whole process group: the browser and every helper it started.
        if let Ok(pid) = i32::try_from(child.id()) {
            #[allow(unsafe_code)]
            // SAFETY: kill(2) with a negative pid signals that process group;
            // it touches no memory of ours.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = child.kill();
        // Reaped off the engine's thread: the run's result never waits on a
        // dying browser. Its profile goes with the sandbox (and is cleared
        // by the next launch, which a reaper must not race).
        let _ = std::thread::Builder::new()
            .name("browser-reaper".into())
            .spawn(move || {
                let _ = child.wait();
            });
    }
}

/// The writing thread: each command in order, until the pipe or the
/// channel closes.
fn write_commands(
    mut to: std::io::PipeWriter,
    commands: &mpsc::Receiver<Vec<u8>>,
    unread: &AtomicUsize,
    gone: &Mutex<Option<String>>,
) {
    while let Ok(bytes) = commands.recv() {
        let written = to.write_all(&bytes);
        unread.fetch_sub(bytes.len(), Ordering::Relaxed);
        if let Err(e) = written {
            gone.lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(|| format!("writing to the browser: {e}"));
            return;
        }
    }
}

fn fd(f: &impl std::os::fd::AsRawFd) -> i32 {
    f.as_raw_fd()
}

/// Chromium's switches: headless, no GPU, nothing of its own reaching out
/// (no sync, updates, crash reports, background fetches), `/tmp` for what
/// `/dev/shm` would hold. Its own sandbox is off: inside gVisor it cannot
/// build its namespaces, and gVisor (one kernel per run, no network, a
/// read-only root) is the boundary that holds whatever the renderer does.
const FLAGS: &[&str] = &[
    "--headless=new",
    "--remote-debugging-pipe",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider",
    "--metrics-recording-only",
    "--mute-audio",
    "--hide-scrollbars",
    "--password-store=basic",
    "--use-mock-keychain",
];

/// The protocol domains the module uses; a command outside them is refused.
const DOMAINS: &[&str] = &[
    "Browser",
    "Target",
    "Page",
    "Runtime",
    "DOM",
    "Input",
    "Emulation",
    "Fetch",
    "Network",
    "Log",
];

/// Methods of those domains that would hand the page something the run's
/// policy does not: downloads to disk, requests that skip the host, local
/// files.
const REFUSED: &[&str] = &[
    "Browser.setDownloadBehavior",
    "Page.setDownloadBehavior",
    "Fetch.continueRequest",
    "Fetch.continueWithAuth",
    "Network.setRequestInterception",
    "Network.loadNetworkResource",
    "Target.exposeDevToolsProtocol",
    "Page.addCompilationCache",
    // Files from the sandbox's own disk handed to a page (which could send
    // them out through the host): nothing the script could read itself.
    "DOM.setFileInputFiles",
    "Input.dispatchDragEvent",
    // A command inside a string, which this guard would never read.
    "Target.sendMessageToTarget",
    "Target.openDevTools",
    "Target.setRemoteLocations",
    // Turning interception off would let a target's requests skip the host.
    "Fetch.disable",
];

/// Checks the parameters of the commands that could weaken the set-up the
/// module makes: interception of every request, every target attached
/// paused and flattened (so every command to it passes this guard), no
/// proxy, no world with access to everything.
fn weakens(method: &str, params: &serde_json::Value) -> bool {
    let flag = |name: &str| params.get(name).and_then(serde_json::Value::as_bool);
    match method {
        "Fetch.enable" => {
            let patterns = params.get("patterns").and_then(|p| p.as_array());
            !patterns.is_some_and(|p| {
                p.len() == 1
                    && p[0].get("urlPattern").and_then(|u| u.as_str()) == Some("*")
                    && p[0].get("requestStage").and_then(|u| u.as_str()) == Some("Request")
                    && p[0].get("resourceType").is_none()
            })
        }
        "Target.setAutoAttach" => {
            flag("autoAttach") == Some(true)
                && (flag("waitForDebuggerOnStart") != Some(true) || flag("flatten") != Some(true))
        }
        "Target.attachToTarget" => flag("flatten") != Some(true),
        "Target.createBrowserContext" => params.get("proxyServer").is_some(),
        "Page.createIsolatedWorld" => flag("grantUniveralAccess") == Some(true),
        _ => false,
    }
}

/// Checks one outgoing command; its id when it may go. A navigation (or a
/// new target) may only name http(s), `about:` or `data:` URLs: `file:`,
/// `chrome:` and the rest are refused here, and again by the browser's
/// policy file in the rootfs.
pub fn guard(command: &str) -> Result<u64, BrowserError> {
    #[derive(serde::Deserialize)]
    struct Command {
        id: u64,
        method: String,
        #[serde(default)]
        params: serde_json::Value,
    }
    if command.len() > MAX_COMMAND_BYTES || command.contains('\0') {
        return Err(BrowserError::Refused("a command over the size cap".into()));
    }
    let c: Command = serde_json::from_str(command)
        .map_err(|e| BrowserError::Refused(format!("a malformed command: {e}")))?;
    let domain = c.method.split('.').next().unwrap_or_default();
    if !DOMAINS.contains(&domain)
        || REFUSED.contains(&c.method.as_str())
        || weakens(&c.method, &c.params)
    {
        return Err(BrowserError::Refused(format!("the method {}", c.method)));
    }
    if matches!(c.method.as_str(), "Page.navigate" | "Target.createTarget") {
        let url = c.params.get("url").and_then(|u| u.as_str()).unwrap_or("");
        if !allowed_url(url) {
            return Err(BrowserError::Refused(format!(
                "only http(s), about: and data: pages may be opened, not {url:?}"
            )));
        }
    }
    Ok(c.id)
}

/// Whether the browser may be sent to `url`.
pub fn allowed_url(url: &str) -> bool {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "http" | "https" | "data" => true,
        "about" => url.eq_ignore_ascii_case("about:blank"),
        _ => false,
    }
}

/// The reading thread: NUL-separated messages, each under the cap, until
/// EOF or the first that breaks the framing.
fn read_messages(
    from: std::io::PipeReader,
    sink: impl Fn(BrowserMessage) -> bool,
    gone: &Mutex<Option<String>>,
) {
    let mut input = BufReader::with_capacity(1 << 20, from);
    let mut buf = Vec::new();
    let why = loop {
        buf.clear();
        let n = match (&mut input)
            .take(MAX_MESSAGE_BYTES as u64 + 1)
            .read_until(0, &mut buf)
        {
            Ok(n) => n,
            Err(e) => break format!("reading from the browser: {e}"),
        };
        if n == 0 {
            break "the browser exited".to_owned();
        }
        if buf.last() != Some(&0) {
            break if n > MAX_MESSAGE_BYTES {
                "the browser sent a message over the size cap".to_owned()
            } else {
                "the browser exited mid-message".to_owned()
            };
        }
        buf.pop();
        let Ok(text) = String::from_utf8(std::mem::take(&mut buf)) else {
            break "the browser sent a message that is not UTF-8".to_owned();
        };
        if !sink(BrowserMessage::Message(text)) {
            return;
        }
    };
    *gone.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
    let _ = sink(BrowserMessage::Gone(why));
}

/// A sink that forwards into a bounded queue (the host channel's).
pub fn sink_into<T: Send + 'static>(tx: SyncSender<T>, wrap: fn(FromBrowser) -> T) -> BrowserSink {
    Box::new(move |m| tx.send(wrap(m)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_lets_through_only_what_the_module_needs() {
        let ok = r#"{"id":7,"method":"Page.navigate","params":{"url":"https://example.test/"}}"#;
        assert_eq!(guard(ok), Ok(7));
        assert_eq!(
            guard(r#"{"id":8,"method":"Runtime.evaluate","params":{}}"#),
            Ok(8)
        );
        // The module's own set-up passes.
        let setup = r#"{"id":9,"method":"Fetch.enable","params":{"patterns":[{"urlPattern":"*","requestStage":"Request"}]}}"#;
        assert_eq!(guard(setup), Ok(9));
        let attach = r#"{"id":10,"method":"Target.setAutoAttach","params":{"autoAttach":true,"waitForDebuggerOnStart":true,"flatten":true}}"#;
        assert_eq!(guard(attach), Ok(10));
        for bad in [
            r#"{"id":1,"method":"Page.navigate","params":{"url":"file:///etc/passwd"}}"#,
            r#"{"id":1,"method":"Page.navigate","params":{"url":"chrome://version"}}"#,
            r#"{"id":1,"method":"Target.createTarget","params":{"url":"view-source:http://a/"}}"#,
            r#"{"id":1,"method":"Target.createTarget","params":{"url":"about:settings"}}"#,
            r#"{"id":1,"method":"Fetch.continueRequest","params":{}}"#,
            r#"{"id":1,"method":"Browser.setDownloadBehavior","params":{}}"#,
            r#"{"id":1,"method":"DOM.setFileInputFiles","params":{"files":["/etc/hostname"]}}"#,
            r#"{"id":1,"method":"Target.sendMessageToTarget","params":{"message":"{}"}}"#,
            r#"{"id":1,"method":"Fetch.disable","params":{}}"#,
            r#"{"id":1,"method":"Fetch.enable","params":{"patterns":[{"urlPattern":"*.png"}]}}"#,
            r#"{"id":1,"method":"Target.setAutoAttach","params":{"autoAttach":true,"waitForDebuggerOnStart":false,"flatten":true}}"#,
            r#"{"id":1,"method":"Target.attachToTarget","params":{"targetId":"x"}}"#,
            r#"{"id":1,"method":"Target.createBrowserContext","params":{"proxyServer":"http://127.0.0.1:1"}}"#,
            r#"{"id":1,"method":"SystemInfo.getProcessInfo"}"#,
            r#"{"method":"Page.enable"}"#,
            "not json",
        ] {
            assert!(matches!(guard(bad), Err(BrowserError::Refused(_))), "{bad}");
        }
    }

    #[test]
    fn urls_are_classified_by_scheme() {
        assert!(allowed_url("http://127.0.0.1:8080/"));
        assert!(allowed_url("HTTPS://a.test/"));
        assert!(allowed_url("data:text/html,<p>hi"));
        assert!(allowed_url("about:blank"));
        assert!(!allowed_url("file:///"));
        assert!(!allowed_url("javascript:alert(1)"));
        assert!(!allowed_url("blob:http://a/1"));
        assert!(!allowed_url(""));
    }
}
