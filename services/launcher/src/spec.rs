//! The OCI runtime spec for one sandbox: what the runner's process may see
//! and use. Every field here is a decision about the boundary, so it is built
//! in one place, from [`Limits`], and unit-tested as data.
//!
//! Inside: a read-only rootfs (the static runner and the module whitelist),
//! a size-capped tmpfs `/tmp`, no environment, no capabilities,
//! `no_new_privileges`, a non-root uid/gid, its own namespaces (network
//! included: runsc runs with `--network=none`), and cgroup limits on memory,
//! pids and CPU. The runner's own limits sit inside these.

use serde_json::{json, Value};

/// The uid and gid the runner runs as inside the sandbox (`nobody`).
pub const SANDBOX_UID: u32 = 65534;

/// cgroup memory over the job's heap: the sandbox needs about 11 MiB idle,
/// and the runner its code, stacks and output buffers besides.
pub const MEMORY_MARGIN: u64 = 48 * 1024 * 1024;

/// cgroup memory a browser sandbox has over the job's heap: Chromium's
/// browser, renderer and helper processes, and its profile on `/tmp`.
pub const BROWSER_MEMORY_MARGIN: u64 = 1024 * 1024 * 1024;

/// What kind of sandbox a run gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// The runner alone: few processes, few files, a small `/tmp`.
    Script,
    /// The runner and the Chromium it starts: its own rootfs, room for the
    /// browser's processes, threads and files, a larger `/tmp` for its
    /// profile (fresh in every sandbox, so nothing of one run's browser,
    /// cookies, cache or storage, reaches the next). Still no network.
    Browser,
}

impl Profile {
    /// RLIMIT_NPROC (threads count too): the runner's few, or Chromium's many.
    fn nproc(self) -> u64 {
        match self {
            Profile::Script => 64,
            Profile::Browser => 768,
        }
    }
    /// RLIMIT_NOFILE.
    fn nofile(self) -> u64 {
        match self {
            Profile::Script => 64,
            Profile::Browser => 4096,
        }
    }
}

/// Resource limits for one sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// cgroup memory limit in bytes (the job's heap plus the sandbox's own overhead).
    pub memory_bytes: u64,
    /// cgroup pids limit. Generous: gVisor panics when it is reached, so the
    /// graceful guard is RLIMIT_NPROC, below.
    pub pids: i64,
    /// CPU quota in microseconds per 100 ms period (100_000 = one core).
    pub cpu_quota_us: i64,
    /// Size of the `/tmp` tmpfs in bytes.
    pub tmp_bytes: u64,
    /// The kind of sandbox.
    pub profile: Profile,
}

impl Limits {
    /// Limits for a job with a heap of `memory_mb` plus [`MEMORY_MARGIN`].
    pub fn for_job(memory_mb: u64, cpu_quota_us: i64) -> Self {
        Self::with_margin(memory_mb, MEMORY_MARGIN, cpu_quota_us)
    }

    /// Limits with an explicit memory margin over the heap.
    pub fn with_margin(memory_mb: u64, margin_bytes: u64, cpu_quota_us: i64) -> Self {
        Self {
            memory_bytes: memory_mb * 1024 * 1024 + margin_bytes,
            pids: 512,
            cpu_quota_us,
            tmp_bytes: 16 * 1024 * 1024,
            profile: Profile::Script,
        }
    }

    /// Limits for a browser run with a heap of `memory_mb`.
    pub fn for_browser(memory_mb: u64, cpu_quota_us: i64) -> Self {
        Self {
            memory_bytes: memory_mb * 1024 * 1024 + BROWSER_MEMORY_MARGIN,
            pids: 2048,
            cpu_quota_us,
            tmp_bytes: 256 * 1024 * 1024,
            profile: Profile::Browser,
        }
    }
}

/// The spec for the runner's process, as the JSON containerd passes to runsc.
pub fn runner_spec(id: &str, args: &[&str], limits: &Limits) -> Value {
    let caps: Vec<&str> = Vec::new();
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": SANDBOX_UID, "gid": SANDBOX_UID },
            "args": args,
            "env": [],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "inheritable": caps,
                "permitted": caps, "ambient": caps
            },
            "rlimits": [
                // Enforced inside gVisor for a non-root uid: the runner has
                // no reason to start processes or hold many files.
                { "type": "RLIMIT_NPROC", "hard": limits.profile.nproc(), "soft": limits.profile.nproc() },
                { "type": "RLIMIT_NOFILE", "hard": limits.profile.nofile(), "soft": limits.profile.nofile() },
                { "type": "RLIMIT_CORE", "hard": 0, "soft": 0 }
            ],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "sandbox",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=64k"] },
            { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "nodev", "noexec", "mode=1777",
                          format!("size={}", limits.tmp_bytes)] }
        ],
        "linux": {
            "cgroupsPath": format!("/moat/{id}"),
            "resources": {
                "memory": { "limit": limits.memory_bytes, "swap": limits.memory_bytes },
                "pids": { "limit": limits.pids },
                "cpu": { "quota": limits.cpu_quota_us, "period": 100_000 }
            },
            "namespaces": [
                { "type": "pid" }, { "type": "ipc" }, { "type": "uts" },
                { "type": "mount" }, { "type": "network" }
            ],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_is_as_documented() {
        let limits = Limits::for_job(64, 50_000);
        let spec = runner_spec("abc", &["/moat-runner", "--modules", "/modules"], &limits);
        let p = &spec["process"];
        assert_eq!(p["user"]["uid"], SANDBOX_UID);
        assert_eq!(p["env"], json!([]));
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(p["capabilities"]["bounding"], json!([]));
        assert_eq!(spec["root"]["readonly"], true);
        let r = &spec["linux"]["resources"];
        assert_eq!(r["memory"]["limit"], 64 * 1024 * 1024 + 48 * 1024 * 1024);
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(spec["linux"]["cgroupsPath"], "/moat/abc");
        let namespaces: Vec<&str> = spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert!(namespaces.contains(&"network"));
        let tmp = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/tmp")
            .unwrap();
        assert!(tmp["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=16777216")));
    }

    #[test]
    fn a_browser_sandbox_is_larger_and_still_closed() {
        let limits = Limits::for_browser(64, 100_000);
        let spec = runner_spec("abc", &["/moat-runner"], &limits);
        let rlimit = |name: &str| {
            spec["process"]["rlimits"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["type"] == name)
                .unwrap()["hard"]
                .as_u64()
                .unwrap()
        };
        assert_eq!(rlimit("RLIMIT_NPROC"), 768);
        assert!(
            rlimit("RLIMIT_NPROC")
                < spec["linux"]["resources"]["pids"]["limit"]
                    .as_u64()
                    .unwrap()
        );
        assert_eq!(
            spec["linux"]["resources"]["memory"]["limit"],
            64 * 1024 * 1024 + BROWSER_MEMORY_MARGIN
        );
        assert_eq!(spec["root"]["readonly"], true);
        assert_eq!(spec["process"]["env"], json!([]));
        assert_eq!(spec["process"]["user"]["uid"], SANDBOX_UID);
    }
}
