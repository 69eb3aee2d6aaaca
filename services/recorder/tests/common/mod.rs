//! Test harnesses for the recorder: real servers (nats-server, PostgreSQL)
//! started through the project's own scripts in temporary directories, on
//! free loopback ports, and stopped on drop; plus the launcher's stream
//! definitions for RUN_EVENTS and RUN_RESULTS, which the tests create
//! themselves (the recorder never does).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use moat_wire::subjects;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nats-server with JetStream for one test, stopped on drop.
pub struct Nats {
    dir: tempfile::TempDir,
    /// The client URL.
    pub url: String,
}

impl Nats {
    /// Starts one on a free port.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("moat-nats")
            .tempdir()
            .unwrap();
        let port = free_port();
        let out = Command::new(root().join("scripts/nats.sh"))
            .arg("start")
            .arg(dir.path())
            .arg(port.to_string())
            .output()
            .expect("scripts/nats.sh");
        assert!(
            out.status.success(),
            "nats-server did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Self { dir, url }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/nats.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// RUN_EVENTS and RUN_RESULTS exactly as `moat_launcher::nats::ensure_streams`
/// defines them.
pub async fn create_streams(js: &jetstream::Context) {
    js.create_stream(stream::Config {
        name: subjects::RUN_EVENTS.into(),
        subjects: vec![subjects::EVENTS_ALL.into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(3600),
        ..Default::default()
    })
    .await
    .unwrap();
    js.create_stream(stream::Config {
        name: subjects::RUN_RESULTS.into(),
        subjects: vec![subjects::DONE_ALL.into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .unwrap();
}

/// A PostgreSQL cluster in a temporary directory, stopped on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// For the shared cluster: the process that stops it when the tests exit.
    watcher: Option<std::process::Child>,
}

impl Postgres {
    /// Starts one on a free port (as root, scripts/postgres.sh runs it as
    /// the `postgres` user).
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("moat-pg")
            .tempdir()
            .unwrap();
        let port = free_port();
        let out = Command::new(root().join("scripts/postgres.sh"))
            .arg("start")
            .arg(dir.path())
            .arg(port.to_string())
            .output()
            .expect("scripts/postgres.sh");
        assert!(
            out.status.success(),
            "postgres did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Self {
            dir,
            url,
            port,
            watcher: None,
        }
    }

    /// A fresh, empty database on this cluster; its URL.
    pub async fn fresh_database(&self) -> String {
        use sea_orm::ConnectionTrait;
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("t{}_{n}", std::process::id());
        let admin = sea_orm::Database::connect(&self.url).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.unwrap();
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
                dir = pg.dir.path().display(),
            );
            pg.watcher = Some(
                Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawning the postgres watcher"),
            );
            pg
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/postgres.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// A fresh SQLite database file in `dir`; its URL.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("moat.db").display())
}
