//! Test harnesses shared by the launcher's end-to-end tests: real servers,
//! started through the project's own scripts in temporary directories, on
//! loopback, and stopped on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use moat_launcher::sandbox::SandboxConfig;

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

/// containerd for one test, stopped (and its state removed) on drop.
/// containerd for one test.
pub struct Containerd {
    /// Its run directory (config, state, the runsc wrapper).
    pub dir: tempfile::TempDir,
    /// Its socket.
    pub socket: PathBuf,
}

impl Containerd {
    /// Starts one (needs root).
    pub fn start() -> Self {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the sandbox tests need root (containerd and runsc do)"
        );
        let dir = tempfile::Builder::new()
            .prefix("moat-ctr")
            .tempdir()
            .unwrap();
        let out = Command::new(root().join("scripts/containerd.sh"))
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("scripts/containerd.sh");
        assert!(
            out.status.success(),
            "containerd did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let socket = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        Self { dir, socket }
    }

    /// Sandboxes from this containerd and the project's rootfs.
    pub fn config(&self) -> SandboxConfig {
        let rootfs = root().join(".run/rootfs");
        assert!(
            rootfs.join("moat-runner").is_file(),
            "build the sandbox rootfs first: scripts/rootfs.sh (just test does)"
        );
        SandboxConfig {
            socket: self.socket.clone(),
            namespace: "moat-test".into(),
            runtime_binary: self.dir.path().join("runsc-moat"),
            runtime_root: self.dir.path().join("runsc"),
            rootfs,
            io_dir: self.dir.path().join("io"),
            instance: "test".into(),
            runner_args: vec!["/moat-runner".into(), "--modules".into(), "/modules".into()],
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/containerd.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
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
