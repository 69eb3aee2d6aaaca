//! The launcher's configuration: flags with `MOAT_*` environment variables,
//! defaults for one machine (the layout `just up` creates under `.run/`), and
//! validation at start, so a bad value is a clear start-up error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::pool::{PoolConfig, Sizing};
use crate::sandbox::SandboxConfig;

/// Most warm sandboxes one class may keep (each holds memory while idle).
const MAX_POOL: usize = 64;

/// Runs each queued job in its own gVisor sandbox.
#[derive(Debug, Clone, Parser)]
#[command(name = "moat-launcher", version)]
pub struct Config {
    /// NATS server URL.
    #[arg(long, env = "MOAT_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// NATS credentials and TLS (this service's own user).
    #[command(flatten)]
    pub nats: moat_queue::NatsAuth,
    /// containerd's socket.
    #[arg(
        long,
        env = "MOAT_CONTAINERD_SOCKET",
        default_value = ".run/containerd/containerd.sock"
    )]
    pub containerd_socket: PathBuf,
    /// containerd namespace for moat's sandboxes.
    #[arg(long, env = "MOAT_NAMESPACE", default_value = "moat")]
    pub namespace: String,
    /// This launcher's name on its node (unique per node, stable across
    /// restarts): a restarted launcher sweeps the sandboxes of its name.
    #[arg(long, env = "MOAT_INSTANCE", default_value = "launcher-0")]
    pub instance: String,
    /// The runsc wrapper the runc v2 shim runs (scripts/containerd.sh writes it).
    #[arg(
        long,
        env = "MOAT_RUNTIME_BINARY",
        default_value = ".run/containerd/runsc-moat"
    )]
    pub runtime_binary: PathBuf,
    /// runsc's state directory.
    #[arg(
        long,
        env = "MOAT_RUNTIME_ROOT",
        default_value = ".run/containerd/runsc"
    )]
    pub runtime_root: PathBuf,
    /// The sandbox rootfs (scripts/rootfs.sh builds it).
    #[arg(long, env = "MOAT_ROOTFS", default_value = ".run/rootfs")]
    pub rootfs: PathBuf,
    /// The browser profile's rootfs (`scripts/rootfs.sh DIR --with-browser`);
    /// when it holds no Chromium, browser runs are told none is installed.
    #[arg(
        long,
        env = "MOAT_BROWSER_ROOTFS",
        default_value = ".run/rootfs-browser"
    )]
    pub browser_rootfs: PathBuf,
    /// Directory for per-sandbox FIFOs.
    #[arg(long, env = "MOAT_IO_DIR", default_value = ".run/launcher/io")]
    pub io_dir: PathBuf,
    /// Sandboxes at once (default: the number of cores).
    #[arg(long, env = "MOAT_SLOTS")]
    pub slots: Option<usize>,
    /// Browser runs at once (each also holds one of the slots): a browser
    /// run weighs a Chromium's memory and CPU, many times a script's.
    #[arg(long, env = "MOAT_BROWSER_SLOTS", default_value_t = 1)]
    pub browser_slots: usize,
    /// CPU quota per sandbox in microseconds per 100 ms (100000 = one core).
    #[arg(long, env = "MOAT_CPU_QUOTA_US", default_value_t = 100_000)]
    pub cpu_quota_us: i64,
    /// Time past a job's deadline before its sandbox is killed, in ms.
    #[arg(long, env = "MOAT_KILL_GRACE_MS", default_value_t = 2_000)]
    pub kill_grace_ms: u64,
    /// On SIGTERM, how long running jobs may take to finish, in ms.
    #[arg(long, env = "MOAT_DRAIN_MS", default_value_t = 15_000)]
    pub drain_ms: u64,
    /// Deliveries of one run before it is given up as `failed`.
    #[arg(long, env = "MOAT_MAX_DELIVER", default_value_t = 3)]
    pub max_deliver: i64,
    /// How long a delivered run may go unacknowledged before redelivery, in ms
    /// (running jobs send progress acks well inside it).
    #[arg(long, env = "MOAT_ACK_WAIT_MS", default_value_t = 30_000)]
    pub ack_wait_ms: u64,
    /// Runs one tenant may have queued, running ones included (fleet-wide).
    #[arg(long, env = "MOAT_TENANT_QUEUE", default_value_t = 100)]
    pub tenant_queue: i64,
    /// Runs one tenant may have running at once (fleet-wide).
    #[arg(long, env = "MOAT_TENANT_CONCURRENCY", default_value_t = 4)]
    pub tenant_concurrency: i64,
    /// Runs one anonymous client (an IPv4 address or IPv6 /64, as the edge
    /// groups them) may have queued, running ones included (fleet-wide).
    #[arg(long, env = "MOAT_ANON_QUEUE", default_value_t = 3)]
    pub anon_queue: i64,
    /// Runs all anonymous clients together may have queued (fleet-wide).
    #[arg(long, env = "MOAT_ANON_QUEUE_TOTAL", default_value_t = 1_000)]
    pub anon_queue_total: i64,
    /// Copies JetStream keeps of each stream (3 on a 3-node NATS cluster, so
    /// losing a node loses no run); unset, a new stream gets 1 and an
    /// existing one keeps its count, so a launcher started without it
    /// never shrinks the fleet's streams.
    #[arg(long, env = "MOAT_STREAM_REPLICAS")]
    pub stream_replicas: Option<usize>,
    /// Runs one anonymous client may have running at once (fleet-wide).
    #[arg(long, env = "MOAT_ANON_CONCURRENCY", default_value_t = 1)]
    pub anon_concurrency: i64,
    /// The share of this launcher's slots anonymous runs may hold at once
    /// (0 < share <= 1; at least one slot), so tenants always find capacity.
    #[arg(long, env = "MOAT_ANON_SHARE", default_value_t = 0.5)]
    pub anon_share: f64,
    /// How often the queue is listed for clients with work, in ms (repairs a
    /// lost wake-up).
    #[arg(long, env = "MOAT_RESYNC_MS", default_value_t = 2_000)]
    pub resync_ms: u64,
    /// Where scripts' fetches go: `nats` (the `moat-egress` service) or
    /// `none` (every fetch fails, saying so).
    #[arg(long, env = "MOAT_EGRESS", default_value = "nats")]
    pub egress: EgressMode,
    /// Requests one anonymous run may make.
    #[arg(long, env = "MOAT_EGRESS_ANON_REQUESTS", default_value_t = 20)]
    pub egress_anon_requests: u64,
    /// Requests one tenant's run may make.
    #[arg(long, env = "MOAT_EGRESS_TENANT_REQUESTS", default_value_t = 500)]
    pub egress_tenant_requests: u64,
    /// Response bytes (decoded) one anonymous run may receive.
    #[arg(long, env = "MOAT_EGRESS_ANON_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub egress_anon_bytes: u64,
    /// Response bytes (decoded) one tenant's run may receive.
    #[arg(long, env = "MOAT_EGRESS_TENANT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub egress_tenant_bytes: u64,
    /// Requests one run may have open at once (more wait their turn).
    #[arg(long, env = "MOAT_EGRESS_CONCURRENCY", default_value_t = 6)]
    pub egress_concurrency: usize,
    /// Longest one request may take, in ms (never past the run's deadline).
    #[arg(long, env = "MOAT_EGRESS_TIMEOUT_MS", default_value_t = 30_000)]
    pub egress_timeout_ms: u64,
    /// Warm sandboxes each pool class keeps when idle.
    #[arg(long, env = "MOAT_POOL_MIN", default_value_t = 1)]
    pub pool_min: usize,
    /// Most warm sandboxes each pool class keeps (default: the slots; 0
    /// turns the pool off, every sandbox then made when its run arrives).
    #[arg(long, env = "MOAT_POOL_MAX")]
    pub pool_max: Option<usize>,
    /// Warm browser sandboxes (Chromium started, waiting) kept when idle,
    /// when the browser rootfs is there.
    #[arg(long, env = "MOAT_POOL_BROWSER_MIN", default_value_t = 1)]
    pub pool_browser_min: usize,
    /// Most warm browser sandboxes kept (0: every browser run starts cold).
    #[arg(long, env = "MOAT_POOL_BROWSER_MAX", default_value_t = 1)]
    pub pool_browser_max: usize,
    /// Oldest a warm sandbox may be before it is replaced, in seconds.
    #[arg(long, env = "MOAT_POOL_MAX_AGE_S", default_value_t = 300)]
    pub pool_max_age_s: u64,
    /// The pool's size classes: JS heap sizes in MiB, comma-separated. A run
    /// gets a warm sandbox of the smallest class at least its heap; a run
    /// above every class gets a cold one with its exact limits.
    #[arg(
        long,
        env = "MOAT_POOL_CLASSES",
        default_value = "64",
        value_delimiter = ','
    )]
    pub pool_classes: Vec<u64>,
    /// Address for /metrics and /healthz.
    #[arg(long, env = "MOAT_METRICS_ADDR", default_value = "127.0.0.1:9101")]
    pub metrics_addr: SocketAddr,
    /// Where saved files go.
    #[command(flatten)]
    pub store: moat_store::StoreArgs,
}

/// Where a launcher's runs reach the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EgressMode {
    /// Through `moat-egress`, over NATS.
    Nats,
    /// Nowhere: every fetch fails with `EGRESS_UNAVAILABLE`.
    None,
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Checks values that clap cannot: ranges, files, combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.nats.validate().map_err(ConfigError)?;
        let bad = |m: String| Err(ConfigError(m));
        if !moat_wire::valid_token(&self.instance) {
            return bad(format!(
                "--instance {:?} must be 1 to 64 of [A-Za-z0-9_-]",
                self.instance
            ));
        }
        if self.slots == Some(0) {
            return bad("--slots must be at least 1".into());
        }
        if self.browser_slots == 0 || self.browser_slots > self.slots() {
            return bad(format!(
                "--browser-slots {} must be 1 to the slots ({})",
                self.browser_slots,
                self.slots()
            ));
        }
        if !(1_000..=1_000_000).contains(&self.cpu_quota_us) {
            return bad(format!(
                "--cpu-quota-us {} is out of range (1000..=1000000)",
                self.cpu_quota_us
            ));
        }
        if self.max_deliver < 1 {
            return bad("--max-deliver must be at least 1".into());
        }
        if self.ack_wait_ms < 1_000 {
            return bad("--ack-wait-ms must be at least 1000".into());
        }
        if self.egress_concurrency < 1
            || self.egress_concurrency > moat_wire::hostcall::MAX_CALLS_IN_FLIGHT
        {
            return bad(format!(
                "--egress-concurrency must be 1 to {}",
                moat_wire::hostcall::MAX_CALLS_IN_FLIGHT
            ));
        }
        if self.egress_timeout_ms < 100 {
            return bad("--egress-timeout-ms must be at least 100".into());
        }
        if let Err(e) = self.queue_limits().validate() {
            return bad(e);
        }
        if self.stream_replicas.is_some_and(|r| !(1..=5).contains(&r)) {
            return bad("--stream-replicas must be in 1..=5 (JetStream's range)".into());
        }
        if self.tenant_concurrency < 1 || self.anon_concurrency < 1 {
            return bad("--tenant-concurrency and --anon-concurrency must be at least 1".into());
        }
        if !(self.anon_share > 0.0 && self.anon_share <= 1.0) {
            return bad(format!(
                "--anon-share {} must be above 0 and at most 1",
                self.anon_share
            ));
        }
        if !(100..=60_000).contains(&self.resync_ms) {
            return bad(format!(
                "--resync-ms {} is out of range (100..=60000)",
                self.resync_ms
            ));
        }
        if !self.rootfs.join("moat-runner").is_file() {
            return bad(format!(
                "{} has no moat-runner: build the rootfs with `just rootfs`",
                self.rootfs.display()
            ));
        }
        if !self.runtime_binary.is_file() {
            return bad(format!(
                "runtime binary {} is missing: start containerd with scripts/containerd.sh",
                self.runtime_binary.display()
            ));
        }
        if let Err(e) = self.store.config() {
            return bad(e);
        }
        // A maximum of 0 turns the pool off, whatever the minimum.
        let max = self.pool_max.unwrap_or_else(|| self.slots());
        if max > MAX_POOL || (max > 0 && self.pool_min > max) {
            return bad(format!(
                "--pool-min {} and --pool-max {max} must satisfy min <= max <= {MAX_POOL}",
                self.pool_min
            ));
        }
        let (bmin, bmax) = (self.pool_browser_min, self.pool_browser_max);
        if bmax > self.slots() || (bmax > 0 && bmin > bmax) {
            return bad(format!(
                "--pool-browser-min {bmin} and --pool-browser-max {bmax} must satisfy min <= max <= the slots ({})",
                self.slots()
            ));
        }
        if !(1..=86_400).contains(&self.pool_max_age_s) {
            return bad(format!(
                "--pool-max-age-s {} is out of range (1..=86400)",
                self.pool_max_age_s
            ));
        }
        let (lo, hi) = moat_wire::job::MEMORY_MB_RANGE;
        if self.pool_classes.is_empty() || self.pool_classes.iter().any(|c| !(lo..=hi).contains(c))
        {
            return bad(format!(
                "--pool-classes {:?} must be heap sizes in MiB, each {lo} to {hi}",
                self.pool_classes
            ));
        }
        Ok(())
    }

    /// How the warm pool is sized.
    pub fn pool(&self) -> PoolConfig {
        let mut classes = self.pool_classes.clone();
        classes.sort_unstable();
        classes.dedup();
        let max = self.pool_max.unwrap_or_else(|| self.slots());
        PoolConfig {
            min: self.pool_min.min(max),
            max,
            max_age: Duration::from_secs(self.pool_max_age_s),
            classes,
            sizing: Sizing {
                cpu_quota_us: self.cpu_quota_us,
                memory_margin: crate::spec::MEMORY_MARGIN,
            },
            browser_min: self.pool_browser_min.min(self.pool_browser_max),
            browser_max: self.pool_browser_max,
        }
    }

    /// What one run of `plan` may do through the network.
    pub fn budget(&self, plan: moat_queue::Plan) -> moat_egress::session::Budget {
        let (requests, bytes) = match plan {
            moat_queue::Plan::Anonymous => (self.egress_anon_requests, self.egress_anon_bytes),
            moat_queue::Plan::Tenant => (self.egress_tenant_requests, self.egress_tenant_bytes),
        };
        moat_egress::session::Budget {
            requests,
            bytes,
            concurrency: self.egress_concurrency,
            request_timeout: Duration::from_millis(self.egress_timeout_ms),
        }
    }

    /// The number of sandboxes at once.
    pub fn slots(&self) -> usize {
        self.slots.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    /// The browser rootfs, if it is complete (the runner and Chromium).
    pub fn browser_rootfs(&self) -> Option<PathBuf> {
        let has = |p: &str| self.browser_rootfs.join(p).is_file();
        (has("moat-runner") && has(crate::sandbox::BROWSER_EXECUTABLE.trim_start_matches('/')))
            .then(|| {
                std::path::absolute(&self.browser_rootfs)
                    .unwrap_or_else(|_| self.browser_rootfs.clone())
            })
    }

    /// Where sandboxes come from.
    pub fn sandbox(&self) -> SandboxConfig {
        let abs = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
        SandboxConfig {
            socket: abs(&self.containerd_socket),
            namespace: self.namespace.clone(),
            runtime_binary: abs(&self.runtime_binary),
            runtime_root: abs(&self.runtime_root),
            rootfs: abs(&self.rootfs),
            io_dir: abs(&self.io_dir),
            instance: self.instance.clone(),
            runner_args: vec!["/moat-runner".into(), "--modules".into(), "/modules".into()],
            browser_rootfs: self.browser_rootfs(),
        }
    }

    /// The queue caps the streams are created with.
    pub fn queue_limits(&self) -> moat_queue::QueueLimits {
        moat_queue::QueueLimits {
            anon_per_client: self.anon_queue,
            anon_total: self.anon_queue_total,
            tenant_per_client: self.tenant_queue,
        }
    }

    /// How this launcher dispatches: the per-client consumers' settings and
    /// its share of slots for anonymous work.
    pub fn dispatch(&self) -> moat_queue::DispatchSettings {
        let slots = self.slots();
        let anon_slots = ((slots as f64 * self.anon_share).floor() as usize).clamp(1, slots);
        moat_queue::DispatchSettings {
            consumers: moat_queue::consumers::ConsumerSettings {
                max_deliver: self.max_deliver,
                ack_wait: self.ack_wait(),
                anon_concurrency: self.anon_concurrency,
                tenant_concurrency: self.tenant_concurrency,
            },
            anon_slots,
            resync: Duration::from_millis(self.resync_ms),
        }
    }

    /// The ack wait as a duration.
    pub fn ack_wait(&self) -> Duration {
        Duration::from_millis(self.ack_wait_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        Config::try_parse_from(std::iter::once("moat-launcher").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn bad_values_are_start_up_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("moat-runner"), "").unwrap();
        std::fs::write(dir.path().join("runsc"), "").unwrap();
        let rootfs = dir.path().to_str().unwrap();
        let runsc = dir.path().join("runsc");
        let runsc = runsc.to_str().unwrap();
        let ok = parse(&["--rootfs", rootfs, "--runtime-binary", runsc]);
        ok.validate().unwrap();
        assert!(ok.slots() >= 1);
        // Half of two slots is one; a share never rounds down to none.
        let two = parse(&[
            "--rootfs",
            rootfs,
            "--runtime-binary",
            runsc,
            "--slots",
            "2",
        ]);
        assert_eq!(two.dispatch().anon_slots, 1);
        let one = parse(&[
            "--rootfs",
            rootfs,
            "--runtime-binary",
            runsc,
            "--slots",
            "1",
            "--anon-share",
            "0.1",
        ]);
        assert_eq!(one.dispatch().anon_slots, 1);
        // The pool follows the slots unless told; classes are sorted.
        let pool = parse(&[
            "--rootfs",
            rootfs,
            "--runtime-binary",
            runsc,
            "--slots",
            "3",
            "--pool-classes",
            "256,64,256",
        ]);
        pool.validate().unwrap();
        let p = pool.pool();
        assert_eq!((p.browser_min, p.browser_max), (1, 1));
        assert_eq!((p.min, p.max, p.classes), (1, 3, vec![64, 256]));
        // A pool turned off keeps nothing, whatever its minimum.
        let off = parse(&[
            "--rootfs",
            rootfs,
            "--runtime-binary",
            runsc,
            "--pool-max",
            "0",
        ]);
        off.validate().unwrap();
        assert_eq!((off.pool().min, off.pool().max), (0, 0));
        for args in [
            vec!["--slots", "0"],
            vec!["--cpu-quota-us", "10"],
            vec!["--store", "s3"],
            vec!["--max-deliver", "0"],
            vec!["--anon-share", "0"],
            vec!["--anon-share", "1.5"],
            vec!["--anon-queue", "0"],
            vec!["--tenant-concurrency", "0"],
            vec!["--pool-max", "65"],
            vec!["--pool-browser-min", "2", "--pool-browser-max", "1"],
            vec!["--browser-slots", "0"],
            vec!["--pool-min", "3", "--pool-max", "2"],
            vec!["--pool-max-age-s", "0"],
            vec!["--pool-classes", "4"],
        ] {
            let mut all = vec!["--rootfs", rootfs, "--runtime-binary", runsc];
            all.extend(args.iter().copied());
            assert!(parse(&all).validate().is_err(), "{args:?}");
        }
        let missing = parse(&["--rootfs", "/nonexistent"]);
        assert!(missing
            .validate()
            .unwrap_err()
            .to_string()
            .contains("just rootfs"));
    }
}
