//! Test harnesses shared by moat's end-to-end tests: real servers started
//! through the project's own scripts (`scripts/nats.sh`, `containerd.sh`,
//! `postgres.sh`), each in its own temporary directory, on loopback and a
//! free port, and stopped (with what they started) on drop. Tests only: the
//! services never depend on this crate.

pub mod dns;
pub mod http;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use moat_queue::{NatsAuth, Role};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binding a loopback port")
        .local_addr()
        .expect("a bound address")
        .port()
}

/// Whether this process runs as root (containerd, runsc and initdb-as-postgres need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// A server run by one of the project's `start|stop RUN_DIR [ARGS]` scripts.
pub struct ScriptServer {
    script: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
    /// What `start` printed (a URL or a socket path).
    pub output: String,
}

impl ScriptServer {
    /// Runs `script start DIR ARGS...` in a new temporary directory.
    pub fn start(script: &'static str, prefix: &str, args: &[String]) -> Self {
        Self::start_env(script, prefix, args, &[])
    }

    /// [`ScriptServer::start`] with `env` added to the script's environment.
    pub fn start_env(
        script: &'static str,
        prefix: &str,
        args: &[String],
        env: &[(String, String)],
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("a temp dir");
        let output = run_start(script, dir.path(), args, env);
        Self {
            script,
            args: args.to_vec(),
            env: env.to_vec(),
            dir,
            output,
        }
    }

    /// Starts it again after [`ScriptServer::stop`], on the same directory
    /// (its data kept) and arguments.
    pub fn restart(&self) {
        run_start(self.script, self.dir.path(), &self.args, &self.env);
    }

    /// Its run directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops it now (dropping it does too).
    pub fn stop(&self) {
        let _ = Command::new(root().join(self.script))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// Runs `script start DIR ARGS...`; what it printed.
fn run_start(script: &str, dir: &Path, args: &[String], env: &[(String, String)]) -> String {
    let out = Command::new(root().join(script))
        .arg("start")
        .arg(dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// nats-server with JetStream and moat's users (`nats/users.conf`).
pub struct Nats {
    server: ScriptServer,
    /// The client URL.
    pub url: String,
    /// Each user's password, by user name (`scripts/nats.sh` made them).
    passwords: HashMap<String, String>,
}

impl Nats {
    /// Starts one on a free port.
    pub fn start() -> Self {
        Self::start_with_config(None)
    }

    /// Starts one with a config fragment added (`MOAT_NATS_EXTRA`: a `tls`
    /// block, say).
    pub fn start_with_config(extra: Option<&Path>) -> Self {
        let env: Vec<(String, String)> = extra
            .map(|p| ("MOAT_NATS_EXTRA".to_owned(), p.display().to_string()))
            .into_iter()
            .collect();
        let server = ScriptServer::start_env(
            "scripts/nats.sh",
            "moat-nats",
            &[free_port().to_string()],
            &env,
        );
        let url = server.output.clone();
        let passwords = read_passwords(&server.dir().join("users.env"));
        Self {
            server,
            url,
            passwords,
        }
    }

    /// Stops it now (to test what happens when NATS is down).
    pub fn stop(&self) {
        self.server.stop();
    }

    /// The password of `user`.
    pub fn password(&self, user: &str) -> String {
        self.passwords
            .get(user)
            .unwrap_or_else(|| panic!("nats/users.conf has no user {user:?}"))
            .clone()
    }

    /// `role`'s credentials, as its service's config takes them.
    pub fn auth(&self, role: Role) -> NatsAuth {
        NatsAuth::password(role.user(), &self.password(role.user()))
    }

    /// `role`'s NATS settings as a service's command-line flags.
    pub fn args(&self, role: Role) -> Vec<String> {
        vec![
            format!("--nats-url={}", self.url),
            format!("--nats-user={}", role.user()),
            format!("--nats-password={}", self.password(role.user())),
        ]
    }

    /// `role`'s NATS settings as a service's environment.
    pub fn env(&self, role: Role) -> Vec<(String, String)> {
        vec![
            ("MOAT_NATS_URL".into(), self.url.clone()),
            ("MOAT_NATS_USER".into(), role.user().into()),
            ("MOAT_NATS_PASSWORD".into(), self.password(role.user())),
        ]
    }

    /// A connection as `role`, with exactly its service's rights (a test
    /// playing that service).
    pub async fn connect(&self, role: Role) -> async_nats::Client {
        moat_queue::connect(&self.url, &self.auth(role), role)
            .await
            .unwrap_or_else(|e| panic!("connecting as {}: {e}", role.user()))
    }

    /// A connection with every right, to watch and arrange what no
    /// service may (stream contents, other services' subjects).
    pub async fn admin(&self) -> async_nats::Client {
        async_nats::ConnectOptions::with_user_and_password("admin".into(), self.password("admin"))
            .connect(&self.url)
            .await
            .expect("connecting as admin")
    }
}

/// The passwords `scripts/nats.sh` wrote, by user.
fn read_passwords(path: &Path) -> HashMap<String, String> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    moat_queue::connection::parse_passwords(&text)
}

/// containerd with the runsc wrapper; needs root.
pub struct Containerd {
    server: ScriptServer,
    /// Its socket.
    pub socket: PathBuf,
}

impl Containerd {
    /// Starts one.
    pub fn start() -> Self {
        assert!(is_root(), "these tests need root (containerd and runsc do)");
        let server = ScriptServer::start("scripts/containerd.sh", "moat-ctr", &[]);
        let socket = PathBuf::from(&server.output);
        Self { server, socket }
    }

    /// Its run directory.
    pub fn dir(&self) -> &Path {
        self.server.dir()
    }

    /// The runsc wrapper the script wrote (`--network=none`).
    pub fn runtime_binary(&self) -> PathBuf {
        self.dir().join("runsc-moat")
    }

    /// A state directory for runsc.
    pub fn runtime_root(&self) -> PathBuf {
        self.dir().join("runsc")
    }

    /// A directory for sandbox FIFOs.
    pub fn io_dir(&self) -> PathBuf {
        self.dir().join("io")
    }
}

/// A PostgreSQL cluster (as root, run as the `postgres` user).
pub struct Postgres {
    server: ScriptServer,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// For the shared cluster: the process that stops it when the tests exit.
    watcher: Option<Child>,
}

impl Postgres {
    /// Starts one on a free port.
    pub fn start() -> Self {
        let port = free_port();
        let server = ScriptServer::start("scripts/postgres.sh", "moat-pg", &[port.to_string()]);
        let url = server.output.clone();
        Self {
            server,
            url,
            port,
            watcher: None,
        }
    }

    /// Stops the cluster (its data kept), to test what happens while the
    /// database is down.
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Starts it again on the same port and data.
    pub fn restart(&self) {
        self.server.restart();
    }

    /// The URL of database `name` on this cluster.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// One cluster for the whole test binary, started on first use. A static
    /// is never dropped, so a watcher process stops the cluster and removes
    /// its directory when this test process exits, however it exits.
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<Postgres> = OnceLock::new();
        SHARED.get_or_init(|| {
            let mut pg = Postgres::start();
            let script = format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} stop {dir}; rm -rf {dir}",
                pid = std::process::id(),
                stop = root().join("scripts/postgres.sh").display(),
                dir = pg.server.dir().display(),
            );
            pg.watcher = Some(
                Command::new("sh")
                    .arg("-c")
                    .arg(script)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawning the postgres watcher"),
            );
            pg
        })
    }
}
