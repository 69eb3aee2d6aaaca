//! `moat up`: the whole system on one machine, for `just up`. Starts
//! nats-server and containerd (through the project's scripts, in the
//! foreground), the recorder, one or more launchers and the edge, with the
//! embedded defaults (SQLite, local file store); supervises them; and on
//! Ctrl-C stops them in the reverse order, so launchers drain their runs
//! while NATS and containerd are still there.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::UpArgs;
use crate::supervise::{which, Log, Spec, Supervised};

/// How long a stage may take to become ready before `moat up` says so.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Why `moat up` will not start.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// Prerequisites are missing; each line says what and how to fix it.
    #[error("moat up cannot start:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Missing(Vec<String>),
    /// The run directory cannot be used.
    #[error("cannot use {path}: {source}")]
    Dir {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where everything lives and listens, resolved from the flags.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The run directory (absolute).
    pub dir: PathBuf,
    /// The repository's scripts.
    pub scripts: PathBuf,
    /// Where the service binaries are.
    pub bin_dir: PathBuf,
    /// The edge's public address.
    pub listen: SocketAddr,
    /// nats-server's port on 127.0.0.1.
    pub nats_port: u16,
    /// The edge's metrics port; the recorder's is the next, the launchers' after.
    pub metrics_port: u16,
    /// How many launchers.
    pub launchers: u16,
    /// The sandbox rootfs.
    pub rootfs: PathBuf,
    /// The web playground's bundle.
    pub web_dir: PathBuf,
}

impl Layout {
    /// Resolves the flags against the current directory and this program's.
    pub fn from_args(args: &UpArgs) -> Result<Self, UpError> {
        std::fs::create_dir_all(&args.dir).map_err(|source| UpError::Dir {
            path: args.dir.clone(),
            source,
        })?;
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let bin_dir = match &args.bin_dir {
            Some(d) => absolute(d),
            None => std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        Ok(Self {
            dir: absolute(&args.dir),
            scripts: absolute(&args.scripts),
            bin_dir,
            listen: args.listen,
            nats_port: args.nats_port,
            metrics_port: args.metrics_port,
            launchers: args.launchers,
            rootfs: absolute(&args.rootfs),
            web_dir: absolute(&args.web_dir),
        })
    }

    fn nats_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.nats_port)
    }

    fn containerd_dir(&self) -> PathBuf {
        self.dir.join("containerd")
    }

    fn containerd_socket(&self) -> PathBuf {
        self.containerd_dir().join("containerd.sock")
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.dir.join("moat.db").display())
    }

    /// The ports `moat up` will listen on, with what for.
    fn ports(&self) -> Vec<(SocketAddr, String)> {
        let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let mut ports = vec![
            (self.listen, "the edge".to_owned()),
            (local(self.nats_port), "nats-server".to_owned()),
            (local(self.metrics_port), "the edge's metrics".to_owned()),
            (
                local(self.metrics_port + 1),
                "the recorder's metrics".to_owned(),
            ),
        ];
        for i in 0..self.launchers {
            ports.push((
                local(self.metrics_port + 2 + i),
                format!("launcher-{i}'s metrics"),
            ));
        }
        ports
    }

    /// Everything missing, each as a sentence with its fix.
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if !nix::unistd::geteuid().is_root() {
            missing
                .push("root: containerd and gVisor need it; run as root (sudo just up)".to_owned());
        }
        for (program, package) in [("containerd", "containerd"), ("runsc", "runsc (gVisor)")] {
            if which(program).is_none() {
                missing.push(format!(
                    "{package} is not installed: `just deps` installs it (apt-get install {program})"
                ));
            }
        }
        for binary in ["moat-edge", "moat-launcher", "moat-recorder"] {
            if !self.bin_dir.join(binary).is_file() {
                missing.push(format!(
                    "{binary} is not built in {}: `just build` builds it",
                    self.bin_dir.display()
                ));
            }
        }
        if !self.rootfs.join("moat-runner").is_file() {
            missing.push(format!(
                "the sandbox rootfs is not built in {}: `just rootfs` builds it",
                self.rootfs.display()
            ));
        }
        for script in ["nats.sh", "containerd.sh"] {
            if !self.scripts.join(script).is_file() {
                missing.push(format!(
                    "{} is missing: run moat up from the repository (or pass --scripts)",
                    self.scripts.join(script).display()
                ));
            }
        }
        if self.launchers == 0 {
            missing.push("--launchers must be at least 1".to_owned());
        }
        if u32::from(self.metrics_port) + 2 + u32::from(self.launchers) > u32::from(u16::MAX) {
            missing.push(format!(
                "--metrics-port {} leaves no room for {} launchers' ports",
                self.metrics_port, self.launchers
            ));
            return missing;
        }
        let ports = self.ports();
        for (i, (addr, what)) in ports.iter().enumerate() {
            if let Some((_, other)) = ports[..i].iter().find(|(a, _)| a.port() == addr.port()) {
                missing.push(format!(
                    "port {} is given to both {other} and {what}",
                    addr.port()
                ));
            }
        }
        for (addr, what) in ports {
            if TcpListener::bind(addr).is_err() {
                missing.push(format!(
                    "{addr} (for {what}) is in use: is moat already running? (`just down` stops `just infra`)"
                ));
            }
        }
        missing
    }

    /// The services, in start order by stage; `secret` is the edge's.
    pub fn stages(&self, secret: &str) -> Vec<Vec<Spec>> {
        let bash = PathBuf::from("bash");
        let script = |name: &str| self.scripts.join(name).display().to_string();
        let local = |port: u16| format!("127.0.0.1:{port}");
        let common = vec![
            ("MOAT_NATS_URL".to_owned(), self.nats_url()),
            ("MOAT_DATABASE_URL".to_owned(), self.database_url()),
            ("MOAT_STORE".to_owned(), "local".to_owned()),
            (
                "MOAT_FILES_DIR".to_owned(),
                self.dir.join("files").display().to_string(),
            ),
        ];
        let with = |extra: Vec<(&str, String)>| {
            let mut env = common.clone();
            env.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
            env
        };
        let infra = vec![
            Spec {
                name: "nats".into(),
                program: bash.clone(),
                args: vec![
                    script("nats.sh"),
                    "run".into(),
                    self.dir.join("nats").display().to_string(),
                    self.nats_port.to_string(),
                ],
                env: vec![],
                grace: Duration::from_secs(10),
            },
            Spec {
                name: "containerd".into(),
                program: bash,
                args: vec![
                    script("containerd.sh"),
                    "run".into(),
                    self.containerd_dir().display().to_string(),
                ],
                env: vec![],
                grace: Duration::from_secs(10),
            },
        ];
        let mut workers = vec![Spec {
            name: "recorder".into(),
            program: self.bin_dir.join("moat-recorder"),
            args: vec![],
            env: with(vec![("MOAT_METRICS_ADDR", local(self.metrics_port + 1))]),
            grace: Duration::from_secs(10),
        }];
        let drain = std::env::var("MOAT_DRAIN_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(15));
        for i in 0..self.launchers {
            let name = format!("launcher-{i}");
            let ctr = self.containerd_dir();
            workers.push(Spec {
                program: self.bin_dir.join("moat-launcher"),
                args: vec![],
                env: with(vec![
                    ("MOAT_INSTANCE", name.clone()),
                    ("MOAT_METRICS_ADDR", local(self.metrics_port + 2 + i)),
                    (
                        "MOAT_CONTAINERD_SOCKET",
                        self.containerd_socket().display().to_string(),
                    ),
                    (
                        "MOAT_RUNTIME_BINARY",
                        ctr.join("runsc-moat").display().to_string(),
                    ),
                    ("MOAT_RUNTIME_ROOT", ctr.join("runsc").display().to_string()),
                    ("MOAT_ROOTFS", self.rootfs.display().to_string()),
                    (
                        "MOAT_IO_DIR",
                        self.dir.join(&name).join("io").display().to_string(),
                    ),
                ]),
                // The launcher drains its runs first (MOAT_DRAIN_MS, passed
                // through from our environment; 15 s by default).
                grace: drain + Duration::from_secs(10),
                name,
            });
        }
        let edge = vec![Spec {
            name: "edge".into(),
            program: self.bin_dir.join("moat-edge"),
            args: vec![],
            env: with(vec![
                ("MOAT_LISTEN", self.listen.to_string()),
                ("MOAT_METRICS_ADDR", local(self.metrics_port)),
                ("MOAT_WEB_DIR", self.web_dir.display().to_string()),
                ("MOAT_EDGE_SECRET", secret.to_owned()),
            ]),
            grace: Duration::from_secs(10),
        }];
        vec![infra, workers, edge]
    }

    /// The edge's token secret, made once per run directory so that tokens
    /// outlive an edge restart.
    pub fn secret(&self) -> Result<String, UpError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.join("edge.secret");
        if let Ok(s) = std::fs::read_to_string(&path) {
            if s.trim().len() >= 32 {
                return Ok(s.trim().to_owned());
            }
        }
        let failed = |source| UpError::Dir {
            path: path.clone(),
            source,
        };
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
            .map_err(failed)?;
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // Only root (who runs moat up) may read it.
        let _ = std::fs::remove_file(&path);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, secret.as_bytes()))
            .map_err(failed)?;
        Ok(secret)
    }
}

/// A token cancelled by the first SIGINT, SIGTERM or SIGHUP (a closed
/// terminal); a second one ends `moat up` at once (its services then get
/// SIGTERM through their parent-death signal). Registered before it returns,
/// so no signal is missed.
pub fn stop_on_signals() -> Result<CancellationToken, UpError> {
    use tokio::signal::unix::{signal, SignalKind};
    let register = |kind| {
        signal(kind).map_err(|source| UpError::Dir {
            path: PathBuf::from("(signal handler)"),
            source,
        })
    };
    let mut int = register(SignalKind::interrupt())?;
    let mut term = register(SignalKind::terminate())?;
    let mut hup = register(SignalKind::hangup())?;
    let shutdown = CancellationToken::new();
    let signalled = shutdown.clone();
    tokio::spawn(async move {
        for round in 0..2 {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            if round == 0 {
                signalled.cancel();
            }
        }
        eprintln!("moat up: a second signal: stopping now, without draining");
        std::process::exit(130);
    });
    Ok(shutdown)
}

/// Runs everything until `shutdown`, then stops it all in reverse order.
pub async fn up(layout: Layout, shutdown: CancellationToken) -> Result<(), UpError> {
    let missing = layout.missing();
    if !missing.is_empty() {
        return Err(UpError::Missing(missing));
    }
    let stages = layout.stages(&layout.secret()?);
    let width = stages
        .iter()
        .flatten()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(8)
        .max("moat up".len());
    let log = Log::new(width);
    log.say(&format!("starting in {}", layout.dir.display()));
    let mut running: Vec<Vec<Supervised>> = Vec::new();
    for (i, stage) in stages.into_iter().enumerate() {
        if shutdown.is_cancelled() {
            break;
        }
        running.push(
            stage
                .into_iter()
                .map(|s| Supervised::start(s, log.clone()))
                .collect(),
        );
        let ready = match i {
            0 => {
                let nats = SocketAddr::from(([127, 0, 0, 1], layout.nats_port));
                let sock = layout.containerd_socket();
                wait_for("nats-server", &log, &shutdown, || tcp_open(nats)).await
                    && wait_for("containerd", &log, &shutdown, || unix_open(&sock)).await
            }
            // The recorder migrates the database before it is healthy;
            // the edge, started after, then finds it ready.
            1 => {
                let recorder = SocketAddr::from(([127, 0, 0, 1], layout.metrics_port + 1));
                wait_for("the recorder", &log, &shutdown, || {
                    http_ok(recorder, "/healthz")
                })
                .await
            }
            _ => {
                let edge = layout.listen;
                wait_for("the edge", &log, &shutdown, || http_ok(edge, "/readyz")).await
            }
        };
        if !ready && shutdown.is_cancelled() {
            break;
        }
    }
    if !shutdown.is_cancelled() {
        banner(&layout, &log);
        shutdown.cancelled().await;
    }
    log.say("stopping (the launchers drain their runs first)");
    while let Some(stage) = running.pop() {
        let names: Vec<String> = stage.iter().map(|s| s.name().to_owned()).collect();
        futures::future::join_all(stage.into_iter().map(Supervised::stop)).await;
        log.say(&format!("{} stopped", names.join(", ")));
    }
    // Sandboxes and shims outlive containerd: end this directory's.
    let _ = tokio::process::Command::new("bash")
        .arg(layout.scripts.join("containerd.sh"))
        .arg("stop")
        .arg(layout.containerd_dir())
        .status()
        .await;
    log.say("stopped");
    log.flush();
    Ok(())
}

/// Polls `check` until it holds; says so if it takes long. False if stopped.
async fn wait_for<F>(
    what: &str,
    log: &Log,
    shutdown: &CancellationToken,
    mut check: impl FnMut() -> F,
) -> bool
where
    F: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    let mut warned = false;
    loop {
        if check().await {
            return true;
        }
        if shutdown.is_cancelled() {
            return false;
        }
        if !warned && started.elapsed() > READY_TIMEOUT {
            log.say(&format!(
                "{what} is not ready after {} s; still waiting (its lines above say why)",
                READY_TIMEOUT.as_secs()
            ));
            warned = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.cancelled() => return false,
        }
    }
}

/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

async fn tcp_open(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// Whether `GET path` answers 200 (through `moat run`'s own client): a
/// listening port is not yet a serving one.
async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(server) = crate::http::Server::new(&format!("http://{addr}"), None) else {
        return false;
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, server.request("GET", path, None)).await,
        Ok(Ok(answer)) if answer.status == 200
    )
}

async fn unix_open(path: &Path) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::UnixStream::connect(path)).await,
        Ok(Ok(_))
    )
}

/// What to do now that it is up.
fn banner(layout: &Layout, log: &Log) {
    let url = format!("http://{}", layout.listen);
    let moat = std::env::current_exe()
        .ok()
        .map(|exe| {
            let cwd = std::env::current_dir().unwrap_or_default();
            exe.strip_prefix(&cwd)
                .map(Path::to_path_buf)
                .unwrap_or(exe)
                .display()
                .to_string()
        })
        .unwrap_or_else(|| "moat".into());
    let server = if layout.listen.to_string() == "127.0.0.1:8080" {
        String::new()
    } else {
        format!(" --server {url}")
    };
    log.say("moat is up.");
    log.say(&format!("  playground  {url}/"));
    log.say(&format!(
        "  try         {moat} run{server} examples/hello.js"
    ));
    log.say(&format!(
        "  metrics     http://127.0.0.1:{}/metrics (edge; recorder +1, launchers +2…)",
        layout.metrics_port
    ));
    log.say("  Ctrl-C stops everything.");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The layout `moat up --dir TMP FLAGS...` would use.
    fn layout_with(flags: &[&str]) -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let mut argv = vec!["moat", "up", "--dir", dir.path().to_str().unwrap()];
        argv.extend_from_slice(flags);
        let crate::cli::Command::Up(args) = crate::cli::Cli::parse_from(argv).command else {
            panic!("parsed as up")
        };
        let layout = Layout::from_args(&args).unwrap();
        (dir, layout)
    }

    #[test]
    fn every_service_gets_its_own_ports_and_directories() {
        let (dir, layout) = layout_with(&["--launchers", "2", "--metrics-port", "19100"]);
        let stages = layout.stages(&layout.secret().unwrap());
        let names: Vec<Vec<&str>> = stages
            .iter()
            .map(|s| s.iter().map(|s| s.name.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            vec![
                vec!["nats", "containerd"],
                vec!["recorder", "launcher-0", "launcher-1"],
                vec!["edge"]
            ]
        );
        let env = |name: &str, key: &str| {
            stages
                .iter()
                .flatten()
                .find(|s| s.name == name)
                .and_then(|s| s.env.iter().find(|(k, _)| k == key))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let metrics: Vec<String> = ["edge", "recorder", "launcher-0", "launcher-1"]
            .iter()
            .map(|n| env(n, "MOAT_METRICS_ADDR"))
            .collect();
        assert_eq!(
            metrics,
            [
                "127.0.0.1:19100",
                "127.0.0.1:19101",
                "127.0.0.1:19102",
                "127.0.0.1:19103"
            ]
        );
        assert_ne!(
            env("launcher-0", "MOAT_IO_DIR"),
            env("launcher-1", "MOAT_IO_DIR")
        );
        assert_eq!(
            env("edge", "MOAT_DATABASE_URL"),
            env("recorder", "MOAT_DATABASE_URL")
        );
        // The token secret is made once and kept.
        let secret = env("edge", "MOAT_EDGE_SECRET");
        assert_eq!(secret.len(), 64);
        assert_eq!(layout.secret().unwrap(), secret);
        let mode = std::fs::metadata(dir.path().join("edge.secret")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_port_in_use_is_named() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let (_dir, layout) = layout_with(&["--listen", &taken.local_addr().unwrap().to_string()]);
        let missing = layout.missing();
        assert!(
            missing
                .iter()
                .any(|m| m.contains("(for the edge) is in use")),
            "{missing:?}"
        );
        let (_dir, clash) = layout_with(&["--nats-port", "19300", "--metrics-port", "19299"]);
        let missing = clash.missing();
        assert!(
            missing.iter().any(|m| m
                .contains("port 19300 is given to both nats-server and the recorder's metrics")),
            "{missing:?}"
        );
        let (_dir, overflow) = layout_with(&["--metrics-port", "65534"]);
        assert!(overflow
            .missing()
            .iter()
            .any(|m| m.contains("leaves no room")));
    }
}
