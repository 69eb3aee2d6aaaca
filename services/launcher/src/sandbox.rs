//! One gVisor sandbox through containerd: create, start, hand over the job,
//! collect, destroy.
//!
//! The steps are separate on purpose: a warm pool will create and start
//! sandboxes ahead of demand (the runner then waits for its job on stdin) and
//! hand them out later, with no change here. runsc is chosen per container
//! through the runc v2 shim's options (`binary_name` names a wrapper that adds
//! `--network=none`), so containerd needs no runtime configuration. Every
//! container carries its launcher instance's label, and [`Sandboxes::sweep`]
//! removes that instance's containers at start-up (shims outlive a killed
//! launcher) without touching other launchers' on the same node.
//!
//! Standard I/O are FIFOs in a per-sandbox directory. Our ends are opened
//! before the task exists (stdout, stderr) or once the shim is reading
//! (stdin), so no write is ever lost to a pipe nobody holds.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteTaskRequest, KillRequest, ListContainersRequest, StartRequest, WaitRequest,
};
use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{Code, Request};
use containerd_client::types::Mount;
use containerd_client::with_namespace;
use prost_types::Any;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;

use crate::spec::{self, Limits, Profile};

/// The runc v2 shim's per-container options (`containerd.runc.v1.Options`),
/// declared here with just the fields moat sets.
#[derive(Clone, PartialEq, prost::Message)]
struct RuncOptions {
    /// The OCI runtime binary the shim runs instead of `runc`.
    #[prost(string, tag = "6")]
    binary_name: String,
    /// The runtime's state directory.
    #[prost(string, tag = "7")]
    root: String,
}

/// Where sandboxes come from.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// containerd's socket.
    pub socket: PathBuf,
    /// The containerd namespace all of moat's containers live in.
    pub namespace: String,
    /// The runsc wrapper (adds `--network=none`), run by the runc v2 shim.
    pub runtime_binary: PathBuf,
    /// runsc's state directory.
    pub runtime_root: PathBuf,
    /// The read-only root filesystem: the static runner and the whitelist.
    pub rootfs: PathBuf,
    /// Where per-sandbox FIFOs are made (under a directory per instance).
    pub io_dir: PathBuf,
    /// This launcher's name on the node: its containers are labelled with it
    /// and a restarted launcher of the same name sweeps them.
    pub instance: String,
    /// The runner's command line inside the sandbox.
    pub runner_args: Vec<String>,
    /// The browser profile's rootfs (the runner and Chromium), if this
    /// launcher has one; without it a browser run gets a plain sandbox and
    /// its `launch()` says that no browser is installed.
    pub browser_rootfs: Option<PathBuf>,
}

/// Where Chromium is in the browser rootfs (scripts/rootfs.sh puts it there).
pub const BROWSER_EXECUTABLE: &str = "/usr/lib/chromium/chromium";

impl SandboxConfig {
    /// The rootfs and the runner's command line for a sandbox of `profile`.
    fn layout(&self, profile: Profile) -> (&Path, Vec<String>) {
        match (profile, &self.browser_rootfs) {
            (Profile::Browser, Some(rootfs)) => {
                let mut args = self.runner_args.clone();
                args.extend(["--browser".to_owned(), BROWSER_EXECUTABLE.to_owned()]);
                (rootfs, args)
            }
            _ => (&self.rootfs, self.runner_args.clone()),
        }
    }
}

/// What can go wrong with a sandbox; every variant is infrastructure, never
/// the script's doing.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// containerd cannot be reached.
    #[error("cannot connect to containerd at {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: containerd_client::tonic::transport::Error,
    },
    /// A containerd call failed.
    #[error("containerd {op} failed: {status}")]
    Rpc {
        /// The operation.
        op: &'static str,
        /// containerd's answer.
        status: Box<containerd_client::tonic::Status>,
    },
    /// Making or opening the FIFOs failed.
    #[error("sandbox i/o: {0}")]
    Io(#[from] std::io::Error),
}

fn rpc(op: &'static str) -> impl FnOnce(containerd_client::tonic::Status) -> SandboxError {
    move |status| SandboxError::Rpc {
        op,
        status: Box::new(status),
    }
}

/// The container label naming the launcher instance that owns a sandbox.
pub const INSTANCE_LABEL: &str = "moat.launcher";

/// A connection to containerd that makes sandboxes.
#[derive(Clone)]
pub struct Sandboxes {
    channel: Channel,
    config: SandboxConfig,
}

impl Sandboxes {
    /// Connects to containerd.
    pub async fn connect(config: SandboxConfig) -> Result<Self, SandboxError> {
        let channel = containerd_client::connect(&config.socket)
            .await
            .map_err(|source| SandboxError::Connect {
                path: config.socket.clone(),
                source,
            })?;
        let mut config = config;
        config.io_dir = config.io_dir.join(&config.instance);
        std::fs::create_dir_all(&config.io_dir)?;
        Ok(Self { channel, config })
    }

    /// The configuration sandboxes are made with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    fn containers(&self) -> ContainersClient<Channel> {
        ContainersClient::new(self.channel.clone())
    }

    fn tasks(&self) -> TasksClient<Channel> {
        TasksClient::new(self.channel.clone())
    }

    /// The ids of this launcher instance's containers, whatever their state.
    pub async fn list(&self) -> Result<Vec<String>, SandboxError> {
        let ns = self.config.namespace.as_str();
        let filter = format!("labels.\"{INSTANCE_LABEL}\"=={}", self.config.instance);
        let req = with_namespace!(
            ListContainersRequest {
                filters: vec![filter]
            },
            ns
        );
        let listed = self
            .containers()
            .list(req)
            .await
            .map_err(rpc("list containers"))?;
        Ok(listed
            .into_inner()
            .containers
            .into_iter()
            .map(|c| c.id)
            .collect())
    }

    /// Kills and deletes every task and container of this launcher instance,
    /// and removes its FIFO directories: what a previous life of the launcher
    /// (or a crash) left. Returns how many containers were removed.
    pub async fn sweep(&self) -> Result<usize, SandboxError> {
        let ids = self.list().await?;
        for id in &ids {
            destroy_by_id(self, id, true).await?;
        }
        if let Ok(entries) = std::fs::read_dir(&self.config.io_dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(ids.len())
    }

    /// Creates a container and its task (not started), with FIFOs attached.
    pub async fn create(&self, limits: &Limits) -> Result<Sandbox, SandboxError> {
        let started = Instant::now();
        // Fixed-length ids: runsc resolves ids by prefix, so one id must never
        // be a prefix of another.
        let id = uuid::Uuid::new_v4().simple().to_string();
        let ns = self.config.namespace.as_str();
        let (rootfs, args) = self.config.layout(limits.profile);
        let rootfs = rootfs.to_path_buf();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let spec = spec::runner_spec(&id, &args, limits);
        let options = RuncOptions {
            binary_name: self.config.runtime_binary.to_string_lossy().into_owned(),
            root: self.config.runtime_root.to_string_lossy().into_owned(),
        };
        let container = Container {
            id: id.clone(),
            labels: [(INSTANCE_LABEL.to_owned(), self.config.instance.clone())].into(),
            runtime: Some(Runtime {
                name: "io.containerd.runc.v2".into(),
                options: Some(Any {
                    type_url: "containerd.runc.v1.Options".into(),
                    value: prost::Message::encode_to_vec(&options),
                }),
            }),
            spec: Some(Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
                value: serde_json::to_vec(&spec).expect("specs serialise"),
            }),
            ..Default::default()
        };
        let req = with_namespace!(
            CreateContainerRequest {
                container: Some(container)
            },
            ns
        );
        self.containers()
            .create(req)
            .await
            .map_err(rpc("create container"))?;

        let mut sandbox = Sandbox {
            io: Fifos::new(&self.config.io_dir, &id),
            id,
            sandboxes: self.clone(),
            stdin: None,
            stdout: None,
            stderr: None,
            created: started.elapsed(),
            exited: AtomicBool::new(false),
            destroyed: false,
        };
        match sandbox.create_task(&rootfs).await {
            Ok(()) => Ok(sandbox),
            Err(e) => {
                let _ = sandbox.destroy().await;
                Err(e)
            }
        }
    }
}

/// The three FIFO paths of one sandbox.
#[derive(Debug, Clone)]
struct Fifos {
    dir: PathBuf,
}

impl Fifos {
    fn new(io_dir: &Path, id: &str) -> Self {
        Self {
            dir: io_dir.join(id),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn make(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        for name in ["stdin", "stdout", "stderr"] {
            nix::unistd::mkfifo(
                &self.path(name),
                nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
            )
            .map_err(std::io::Error::from)?;
        }
        Ok(())
    }
}

/// One sandbox: a container and its task, and our ends of its standard I/O.
pub struct Sandbox {
    id: String,
    sandboxes: Sandboxes,
    io: Fifos,
    stdin: Option<pipe::Sender>,
    stdout: Option<pipe::Receiver>,
    stderr: Option<pipe::Receiver>,
    created: Duration,
    /// Set once `wait` saw the process exit: destroy then skips the kill
    /// (runsc refuses to kill a sandbox that is no longer running).
    exited: AtomicBool,
    destroyed: bool,
}

/// How the sandbox's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit status (128 + signal for a signal; 137 for a SIGKILL, which
    /// is also how the cgroup's OOM killer ends a sandbox).
    pub status: u32,
}

impl Sandbox {
    /// The container id (32 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How long creating the container and task took.
    pub fn create_time(&self) -> Duration {
        self.created
    }

    async fn create_task(&mut self, rootfs: &Path) -> Result<(), SandboxError> {
        self.io.make()?;
        // Read ends first, so the shim's writes always have a reader.
        self.stdout = Some(pipe::OpenOptions::new().open_receiver(self.io.path("stdout"))?);
        self.stderr = Some(pipe::OpenOptions::new().open_receiver(self.io.path("stderr"))?);
        let path = |name: &str| self.io.path(name).to_string_lossy().into_owned();
        let req = CreateTaskRequest {
            container_id: self.id.clone(),
            rootfs: vec![Mount {
                r#type: "bind".into(),
                source: rootfs.to_string_lossy().into_owned(),
                options: vec!["rbind".into(), "ro".into()],
                ..Default::default()
            }],
            stdin: path("stdin"),
            stdout: path("stdout"),
            stderr: path("stderr"),
            terminal: false,
            ..Default::default()
        };
        let req = with_namespace!(req, self.sandboxes.config.namespace.as_str());
        self.sandboxes
            .tasks()
            .create(req)
            .await
            .map_err(rpc("create task"))?;
        Ok(())
    }

    /// Starts the runner; it then waits for its job on stdin.
    pub async fn start(&self) -> Result<(), SandboxError> {
        let req = StartRequest {
            container_id: self.id.clone(),
            ..Default::default()
        };
        let req = with_namespace!(req, self.sandboxes.config.namespace.as_str());
        self.sandboxes
            .tasks()
            .start(req)
            .await
            .map_err(rpc("start task"))?;
        Ok(())
    }

    /// Opens our end of the runner's stdin, once the shim holds its end (a
    /// started sandbox): a pooled sandbox does this ahead of its job, so the
    /// job's write never waits.
    pub async fn open_stdin(&mut self) -> Result<(), SandboxError> {
        if self.stdin.is_some() {
            return Ok(());
        }
        // The shim opens its end of stdin in the background; until it does,
        // a non-blocking open for writing fails with ENXIO. Opening only when
        // a reader exists means the job is never written into a pipe that
        // could be dropped before the shim reads it.
        let path = self.io.path("stdin");
        let mut waited = Duration::ZERO;
        let stdin = loop {
            match pipe::OpenOptions::new().open_sender(&path) {
                Ok(sender) => break sender,
                Err(e)
                    if e.raw_os_error() == Some(nix::libc::ENXIO)
                        && waited < Duration::from_secs(5) =>
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    waited += Duration::from_millis(1);
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.stdin = Some(stdin);
        Ok(())
    }

    /// Writes the job, one line, to the runner's stdin and hands back our
    /// end of it, still open: the host's replies to the run's calls follow
    /// the job on the same pipe (the runner never waits for EOF).
    pub async fn send_job(&mut self, job: &[u8]) -> Result<pipe::Sender, SandboxError> {
        self.open_stdin().await?;
        let mut stdin = self.stdin.take().expect("stdin was just opened");
        // One write of job and newline: the runner's clock starts when its
        // line is complete.
        let mut line = Vec::with_capacity(job.len() + 1);
        line.extend_from_slice(job);
        line.push(b'\n');
        stdin.write_all(&line).await?;
        stdin.flush().await?;
        Ok(stdin)
    }

    /// Takes the read end of the runner's stdout (once).
    pub fn take_stdout(&mut self) -> Option<pipe::Receiver> {
        self.stdout.take()
    }

    /// Takes the read end of the runner's stderr (once).
    pub fn take_stderr(&mut self) -> Option<pipe::Receiver> {
        self.stderr.take()
    }

    /// Waits for the runner's process to exit.
    pub async fn wait(&self) -> Result<Exit, SandboxError> {
        wait_by_id(&self.sandboxes, &self.id).await
    }

    /// A future that ends when the runner's process exits, independent of
    /// this handle (the pool watches idle sandboxes with it).
    pub fn exit_watch(
        &self,
    ) -> impl std::future::Future<Output = Result<Exit, SandboxError>> + Send + 'static {
        let sandboxes = self.sandboxes.clone();
        let id = self.id.clone();
        async move { wait_by_id(&sandboxes, &id).await }
    }

    /// Sends SIGKILL to everything in the sandbox.
    pub async fn kill(&self) -> Result<(), SandboxError> {
        kill_task(&self.sandboxes, &self.id).await
    }

    /// Kills what still runs, deletes the task and the container, and removes
    /// the FIFOs. Safe to call more than once.
    pub async fn destroy(mut self) -> Result<(), SandboxError> {
        self.destroyed = true;
        self.stdin = None;
        self.stdout = None;
        self.stderr = None;
        let running = !self.exited.load(Ordering::SeqCst);
        let result = destroy_by_id(&self.sandboxes, &self.id, running).await;
        let _ = std::fs::remove_dir_all(&self.io.dir);
        result
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if !self.destroyed {
            // Dropped without destroy (a panic, a cancelled task): the sweep
            // at the next start removes it; say so for operators.
            tracing::warn!(id = %self.id, "sandbox dropped without destroy");
        }
    }
}

async fn wait_by_id(sandboxes: &Sandboxes, id: &str) -> Result<Exit, SandboxError> {
    let req = WaitRequest {
        container_id: id.to_owned(),
        ..Default::default()
    };
    let req = with_namespace!(req, sandboxes.config.namespace.as_str());
    let resp = sandboxes
        .tasks()
        .wait(req)
        .await
        .map_err(rpc("wait task"))?;
    Ok(Exit {
        status: resp.into_inner().exit_status,
    })
}

async fn kill_task(sandboxes: &Sandboxes, id: &str) -> Result<(), SandboxError> {
    let req = KillRequest {
        container_id: id.to_owned(),
        signal: 9,
        all: true,
        ..Default::default()
    };
    let req = with_namespace!(req, sandboxes.config.namespace.as_str());
    sandboxes
        .tasks()
        .kill(req)
        .await
        .map_err(rpc("kill task"))?;
    Ok(())
}

/// Kill, delete task, delete container. Each step tolerates "already gone":
/// killing a task that has exited fails (runsc: "sandbox is not running"),
/// and deleting one that is still stopping fails until it has stopped, so
/// deletion is retried for a while.
async fn destroy_by_id(sandboxes: &Sandboxes, id: &str, running: bool) -> Result<(), SandboxError> {
    let ns = sandboxes.config.namespace.as_str();
    if running {
        if let Err(e) = kill_task(sandboxes, id).await {
            tracing::debug!(%id, error = %e, "kill before delete");
        }
    }
    const ATTEMPTS: u32 = 150;
    for attempt in 1..=ATTEMPTS {
        let req = with_namespace!(
            DeleteTaskRequest {
                container_id: id.to_owned()
            },
            ns
        );
        match sandboxes.tasks().delete(req).await {
            Ok(_) => break,
            Err(s) if s.code() == Code::NotFound => break,
            Err(s) if attempt < ATTEMPTS => {
                tracing::debug!(%id, status = %s, "task not deletable yet");
                if attempt % 25 == 0 {
                    let _ = kill_task(sandboxes, id).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(s) => return Err(rpc("delete task")(s)),
        }
    }
    let req = with_namespace!(DeleteContainerRequest { id: id.to_owned() }, ns);
    match sandboxes.containers().delete(req).await {
        Ok(_) => Ok(()),
        Err(s) if s.code() == Code::NotFound => Ok(()),
        Err(s) => Err(rpc("delete container")(s)),
    }
}
