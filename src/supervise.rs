//! Keeping child processes alive for `moat up`: each service runs in its
//! own process group (so Ctrl-C reaches only `moat up`, which stops them in
//! order) and, through `setpriv --pdeathsig`, gets SIGTERM if `moat up`
//! itself dies; its output is prefixed with its name; a service that exits
//! on its own is started again after a backoff that doubles up to 30 s and
//! resets once it has stayed up for a while. Whatever a service leaves in
//! its process group is killed once it has exited.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// First wait before a restart.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Up this long, a service counts as healthy again: the backoff resets.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Longest output line passed through (longer ones are cut).
const MAX_LINE_BYTES: usize = 16 * 1024;

/// One service to keep running.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its name, the prefix of its log lines.
    pub name: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment added to ours.
    pub env: Vec<(String, String)>,
    /// How long it may take to stop after SIGTERM before it is killed.
    pub grace: Duration,
    /// Starts with none of our environment but `PATH`, `MOAT_LOG`,
    /// `NO_COLOR` and its own `MOAT_EGRESS_*` settings, plus `env`: for a
    /// service that must hold no credentials.
    pub isolated: bool,
}

/// Lines waiting for the terminal; past this, lines are dropped (counted)
/// rather than blocking the supervisor behind a paused terminal.
const LOG_BACKLOG: usize = 4096;

/// What the log's writer thread is sent.
enum Entry {
    /// A line to write.
    Line(String),
    /// Say when everything before has been written.
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// The shared, prefixed log on stdout, written by its own thread.
#[derive(Clone)]
pub struct Log {
    lines: std::sync::mpsc::SyncSender<Entry>,
    dropped: Arc<AtomicU64>,
    color: bool,
    width: usize,
}

impl Log {
    /// A log whose prefixes are `width` wide; coloured on a terminal.
    pub fn new(width: usize) -> Self {
        let (lines, queue) = std::sync::mpsc::sync_channel::<Entry>(LOG_BACKLOG);
        let dropped = Arc::new(AtomicU64::new(0));
        let lost = dropped.clone();
        std::thread::spawn(move || {
            let mut out = std::io::stdout();
            for entry in queue {
                let missed = lost.swap(0, Ordering::Relaxed);
                if missed > 0 {
                    let _ = writeln!(
                        out,
                        "({missed} log lines dropped: the terminal was not keeping up)"
                    );
                }
                match entry {
                    Entry::Line(line) => {
                        let _ = writeln!(out, "{line}");
                        let _ = out.flush();
                    }
                    Entry::Flush(ack) => {
                        let _ = ack.send(());
                    }
                }
            }
        });
        Self {
            lines,
            dropped,
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            width,
        }
    }

    /// One line from (or about) `name`.
    pub fn line(&self, name: &str, text: &str) {
        let prefix = format!("{name:<width$} │", width = self.width);
        let prefix = if self.color {
            format!("\x1b[{}m{prefix}\x1b[0m", color_of(name))
        } else {
            prefix
        };
        if let Err(std::sync::mpsc::TrySendError::Full(_)) =
            self.lines.try_send(Entry::Line(format!("{prefix} {text}")))
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits (at most a second) until the lines so far are written.
    pub fn flush(&self) {
        let (ack, done) = std::sync::mpsc::sync_channel(1);
        if self.lines.send(Entry::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(Duration::from_secs(1));
        }
    }

    /// A line of `moat up`'s own.
    pub fn say(&self, text: &str) {
        self.line("moat up", text);
    }
}

/// A stable colour per service name.
fn color_of(name: &str) -> u8 {
    const COLORS: [u8; 6] = [36, 35, 34, 32, 33, 96];
    let hash = name
        .bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31) + b as usize);
    COLORS[hash % COLORS.len()]
}

/// A supervised service: stop it with [`Supervised::stop`].
pub struct Supervised {
    name: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Supervised {
    /// Starts `spec` and keeps it running until stopped.
    pub fn start(spec: Spec, log: Log) -> Self {
        let stop = CancellationToken::new();
        let name = spec.name.clone();
        let task = tokio::spawn(supervise(spec, log, stop.clone()));
        Self { name, stop, task }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops the service (SIGTERM, then SIGKILL after its grace) and waits.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn supervise(spec: Spec, log: Log, stop: CancellationToken) {
    let mut backoff = MIN_BACKOFF;
    while !stop.is_cancelled() {
        let started = Instant::now();
        let mut child = match spawn(&spec) {
            Ok(child) => child,
            Err(e) => {
                log.line(
                    &spec.name,
                    &format!("cannot start {}: {e}", spec.program.display()),
                );
                if wait_or_stop(backoff, &stop).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let pid = child.id();
        log.line(
            &spec.name,
            &format!("started (pid {})", pid.unwrap_or_default()),
        );
        let pipes = [
            child.stdout.take().map(|o| pipe(o, &spec.name, &log)),
            child.stderr.take().map(|e| pipe(e, &spec.name, &log)),
        ];
        let exited = tokio::select! {
            status = child.wait() => Some(status),
            _ = stop.cancelled() => None,
        };
        match exited {
            Some(status) => {
                kill_group(pid);
                finish(pipes).await;
                if started.elapsed() > STABLE_AFTER {
                    backoff = MIN_BACKOFF;
                }
                log.line(
                    &spec.name,
                    &format!(
                        "exited ({}); restarting in {:.1} s",
                        describe(status),
                        backoff.as_secs_f64()
                    ),
                );
                if wait_or_stop(backoff, &stop).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            None => {
                let status = terminate(&mut child, pid, spec.grace).await;
                kill_group(pid);
                finish(pipes).await;
                log.line(&spec.name, &format!("stopped ({})", describe(status)));
                return;
            }
        }
    }
}

fn spawn(spec: &Spec) -> std::io::Result<Child> {
    // setpriv (util-linux) sets the parent-death signal, then execs: if
    // `moat up` is killed outright, its services still get SIGTERM and
    // drain, instead of running on as orphans.
    let mut command = match which("setpriv") {
        Some(setpriv) => {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "TERM", "--"]).arg(&spec.program);
            c
        }
        None => Command::new(&spec.program),
    };
    if spec.isolated {
        command.env_clear().envs(std::env::vars().filter(|(k, _)| {
            k == "PATH" || k == "MOAT_LOG" || k == "NO_COLOR" || k.starts_with("MOAT_EGRESS_")
        }));
    }
    command
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: the terminal's Ctrl-C is ours to order.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
}

/// A program on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Kills whatever is left in the process group `pid` led (its leader has
/// exited); a group already empty is fine.
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// SIGTERM, then SIGKILL once `grace` has passed.
async fn terminate(
    child: &mut Child,
    pid: Option<u32>,
    grace: Duration,
) -> std::io::Result<ExitStatus> {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            // The whole group: whatever it started goes with it.
            kill_group(pid);
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

/// Whether `stop` came before `wait` passed.
async fn wait_or_stop(wait: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = stop.cancelled() => true,
    }
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("unknown: {e}"),
    }
}

/// Passes a child's output through the log, line by line.
fn pipe(stream: impl AsyncRead + Unpin + Send + 'static, name: &str, log: &Log) -> JoinHandle<()> {
    let (name, log) = (name.to_owned(), log.clone());
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            // At most MAX_LINE_BYTES held: a longer line is cut there and
            // the rest of it skipped.
            let mut limited = (&mut reader).take(MAX_LINE_BYTES as u64);
            match limited.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    log.line(&name, text.trim_end());
                }
            }
            if line.len() >= MAX_LINE_BYTES && line.last() != Some(&b'\n') {
                let mut rest = Vec::new();
                loop {
                    rest.clear();
                    let mut limited = (&mut reader).take(MAX_LINE_BYTES as u64);
                    match limited.read_until(b'\n', &mut rest).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if rest.last() == Some(&b'\n') => break,
                        Ok(_) => {}
                    }
                }
            }
        }
    })
}

/// Waits (briefly) for the output pipes to drain; a grandchild holding them
/// open must not hold up a restart.
async fn finish(pipes: [Option<JoinHandle<()>>; 2]) {
    for pipe in pipes.into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(2), pipe).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(name: &str, script: &str) -> Spec {
        Spec {
            name: name.into(),
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![],
            grace: Duration::from_secs(2),
            isolated: false,
        }
    }

    #[tokio::test]
    async fn a_crashed_service_is_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("starts");
        let script = format!("echo x >> {}; exit 3", counter.display());
        let service = Supervised::start(sh("crashy", &script), Log::new(8));
        // 500 ms, then 1 s: three starts within a few seconds.
        for _ in 0..100 {
            let starts = std::fs::read_to_string(&counter).unwrap_or_default();
            if starts.lines().count() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        service.stop().await;
        let starts = std::fs::read_to_string(&counter).unwrap();
        assert!(starts.lines().count() >= 3, "{starts:?}");
    }

    #[tokio::test]
    async fn stopping_terminates_then_kills_after_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("term");
        // Ignores SIGTERM, so only SIGKILL ends it.
        let script = format!(
            "trap 'echo term > {}' TERM; while true; do sleep 0.05; done",
            marker.display()
        );
        let mut spec = sh("stubborn", &script);
        spec.grace = Duration::from_millis(300);
        let service = Supervised::start(spec, Log::new(8));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let began = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), service.stop())
            .await
            .expect("stopped in time");
        assert!(began.elapsed() >= Duration::from_millis(300));
        assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "term");
    }
}
